"""Keras arguments netbuilder does not honour: accepted at Keras's defaults, refused by name otherwise."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .errors import LayerConfigError


def refuse_unhonoured(
    owner: str, given: Mapping, defaults: Mapping, takes: str, instead: Mapping[str, str] | None = None
) -> None:
    """LayerConfigError for an argument `owner` does not have, or for one of Keras's it does not honour (`defaults`:
    name → Keras's default) given another value: ignoring it silently would compute something other than asked.
    `instead` says, per argument, what netbuilder does instead."""
    for name, value in given.items():
        if name not in defaults:
            raise LayerConfigError(
                f"{owner}({name}=...) is not an argument of {owner}; netbuilder's {owner} takes {takes}"
            )
        default = defaults[name]
        if value is default or (isinstance(value, (int, float, str, np.number)) and value == default):
            continue
        why = (instead or {}).get(name) or f"it computes what Keras's default {name}={default!r} does"
        raise LayerConfigError(
            f"{owner}({name}={str(value)[:20]}) is not supported by netbuilder ({why}); "
            f"netbuilder's {owner} takes {takes}"
        )
