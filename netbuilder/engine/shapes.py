"""Shapes: checking a per-sample input shape, and writing shapes the ways Keras and Python print them."""

from __future__ import annotations

import math

import numpy as np

from .errors import LayerConfigError, LimitError
from .limits import MAX_SAMPLE_ELEMENTS, MAX_INPUT_RANK

Shape = tuple  # a full shape, batch axis first (None when unknown)


def format_shape(shape) -> str:
    """`(None, 3, 16)`, and `(None,)` for rank 1, as Python prints tuples."""
    return str(tuple(shape))


def format_batch_shape(shape: tuple[int, ...], batch="batch") -> str:
    """A per-sample shape with its batch axis named or counted in front: `(batch, 3, 2)`, `(1,)`."""
    return format_shape((batch, *shape)).replace("'", "")


def summary_shape(shape) -> str:
    """Keras's summary spelling: `(None, 3, 16)`, and `(None)` for rank 1."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


def counted(n: int, noun: str) -> str:
    """`1 unit`, `16 units`: a count and its noun, plural but for one."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def times(dims) -> str:
    """`3×3`, `28×28×1`: sizes joined by a multiplication sign."""
    return "×".join(f"{d:,}" for d in dims)


def check_input_shape(shape) -> tuple[int, ...]:
    """A per-sample shape (batch axis excluded): up to MAX_INPUT_RANK positive ints."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        raise LayerConfigError(f"input shape must be a tuple such as ({shape},), not the number {shape}")
    try:
        dims = tuple(shape)
    except TypeError:
        raise LayerConfigError(
            f"input shape must be a tuple of positive integers; received {str(shape)[:60]!r}"
        ) from None
    if len(dims) > MAX_INPUT_RANK:
        raise LimitError(f"input shape {str(dims)[:80]} has {len(dims)} axes; at most {MAX_INPUT_RANK} are allowed")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise LayerConfigError(
                f"input shape {str(dims)[:80]} must hold positive integers (the batch axis is left out); "
                f"received {str(d)[:20]}"
            )
    dims = tuple(int(d) for d in dims)
    if math.prod(dims) > MAX_SAMPLE_ELEMENTS:
        raise LimitError(
            f"input shape {dims} has {math.prod(dims):,} elements per sample; "
            f"at most {MAX_SAMPLE_ELEMENTS:,} are allowed"
        )
    return dims
