"""Carry a model elsewhere with its current weights: a Keras 3 script, a PyTorch script, Keras JSON (DOT: graph.py).

The scripts are generated text; every user-influenced string in them is a Python literal made by
repr() (names may only appear inside literals or after `#` as a repr), and every number is an
int or a float32-exact float literal. Nothing generated here is ever executed by netbuilder.
Each layer kind says how it is written (`keras_code`, `torch_code`); this module assembles them.
The size of a script is known from the parameter count before it is written (MAX_EXPORT_CHARS),
and writing calls `checkpoint` between weight arrays, so a caller can stop a long export.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from ..engine.cost import readable_bytes
from ..engine.errors import LayerConfigError, LimitError
from ..engine.limits import MAX_EXPORT_CHARS
from ..engine.shapes import format_batch_shape

CHARS_PER_WEIGHT = 16  # at most: a float32's shortest literal (≤ 15 characters, `-1.2345678e-05`) and ", "
_HEADER_CHARS = 20_000  # code besides the weights, generously
TOKEN_STEP = 1 << 15  # values converted to text per NumPy call (about 30 ms)


# --- numbers ----------------------------------------------------------------------------------
def _float_tokens(values: np.ndarray, checkpoint: Callable[[], None] | None = None) -> list[str]:
    """Python literals that give back each float32 of `values` exactly, via float64 then float32.

    In steps of TOKEN_STEP values: NumPy's text conversion holds the GIL, and other visitors' pages must not
    wait; `checkpoint` is called between steps."""
    flat = np.ascontiguousarray(values, dtype=np.float32).ravel()
    tokens: list[str] = []
    for start in range(0, flat.size, TOKEN_STEP):
        if checkpoint is not None:
            checkpoint()
        tokens += _tokens(flat[start : start + TOKEN_STEP])
    return tokens


def _tokens(flat: np.ndarray) -> list[str]:
    words = flat.astype(str)  # numpy's shortest float32 repr: 0.1, not 0.10000000149011612
    finite = np.isfinite(flat)
    with np.errstate(over="ignore"):
        back = np.where(finite, words, "0").astype(np.float64).astype(np.float32)
    tokens = words.tolist()
    # read as float64 first (as np.array and torch.tensor do), a shortest float32 repr can, rarely, round elsewhere
    for i in np.flatnonzero(~finite | (back.view(np.uint32) != np.where(finite, flat, 0).view(np.uint32))):
        tokens[i] = _exact_literal(float(flat[i]))
    return tokens


def _exact_literal(v: float) -> str:
    """A literal for one float, non-finite ones included."""
    if v != v:
        return 'float("nan")'
    if v in (float("inf"), float("-inf")):
        return 'float("inf")' if v > 0 else '-float("inf")'
    return repr(v)


def array_literal(values: np.ndarray, indent: str = "", checkpoint: Callable[[], None] | None = None) -> str:
    """A nested-list literal of a float32 array of any rank, one innermost row per line."""
    values = np.asarray(values, dtype=np.float32)
    tokens = _float_tokens(values, checkpoint)
    if values.ndim == 0:
        return tokens[0]
    if values.ndim == 1:
        return "[" + ", ".join(tokens) + "]"
    cols = values.shape[-1]
    rows = ["[" + ", ".join(tokens[r * cols : (r + 1) * cols]) + "]" for r in range(values.size // max(1, cols))]
    return _nest(rows, values.shape[:-1], indent + "    ")


def _nest(rows: list[str], shape: tuple, indent: str) -> str:
    if len(shape) == 1:
        return "[\n" + "".join(f"{indent}{row},\n" for row in rows) + f"{indent[:-4]}]"
    step = len(rows) // shape[0] if shape[0] else 0
    parts = [_nest(rows[k * step : (k + 1) * step], shape[1:], indent + "    ") for k in range(shape[0])]
    return "[\n" + "".join(f"{indent}{part},\n" for part in parts) + f"{indent[:-4]}]"


def check_export(model) -> None:
    """LimitError before writing when the script would exceed MAX_EXPORT_CHARS."""
    params = model.count_params()
    estimate = params * CHARS_PER_WEIGHT + _HEADER_CHARS
    if estimate > MAX_EXPORT_CHARS:
        limit = (MAX_EXPORT_CHARS - _HEADER_CHARS) // CHARS_PER_WEIGHT
        raise LimitError(
            f"code with this model's {params:,} weights would be about {readable_bytes(estimate)}; the export budget "
            f"is {readable_bytes(MAX_EXPORT_CHARS)} (about {limit:,} weights). Download the Keras JSON (the architecture "
            "without weights) instead, or use fewer units or layers"
        )


def _weight_lines(model, wrap: str, checkpoint) -> list[str]:
    """One `wrap.format(literal)` entry per weight array in get_weights order, each after a comment naming it."""
    lines = []
    for layer in model.layers:
        for spec, w in zip(layer.weight_specs(layer.built_shape) if layer.built_shape else (), layer.weights):
            lines.append(f"    # {layer.name!r} {spec.name} {tuple(w.shape)}\n")
            lines.append(f"    {wrap.format(array_literal(w, '    ', checkpoint))},\n")
    return lines


def _helpers(parts) -> str:
    seen: dict[str, str] = {}
    for part in parts:
        seen.update(part.helpers)
    return "".join(f"\n\n{code}" for code in seen.values())


# --- Keras ------------------------------------------------------------------------------------
def keras_code(model, checkpoint: Callable[[], None] | None = None) -> str:
    """A self-contained Keras 3 script that rebuilds a built Sequential with its current weights as `model`."""
    if not model.layers:
        raise LayerConfigError(
            "Keras cannot run a Sequential model without layers (it fails when called); add a layer before exporting to Keras"
        )
    check_export(model)
    input_shape = tuple(model.input_shape[1:])
    parts = [layer.keras_code() for layer in model.layers]
    out = [
        "# Generated by netbuilder: this model in Keras 3, with its current weights.\n",
        "# Works with any Keras 3 backend (e.g. KERAS_BACKEND=numpy); needs numpy and keras.\n",
        "import numpy as np\n",
        "import keras\n",
        _helpers(parts),
        "\n\nmodel = keras.Sequential(\n",
        "    [\n",
        f"        keras.Input(shape={input_shape!r}),\n",
        *(f"        {part.code},\n" for part in parts),
        "    ],\n",
        f"    name={model.name!r},\n",
        ")\n",
        "\n# In model.get_weights() order: each layer's weights as Keras keeps them.\n",
        "weights = [\n",
        *_weight_lines(model, 'np.array({}, dtype="float32")', checkpoint),
        "]\n",
        "model.set_weights(weights)\n",
        "\nif __name__ == \"__main__\":\n",
        f"    x = np.random.default_rng(0).normal(size=(2, *{input_shape!r})).astype(\"float32\")\n",
        "    print(model.predict(x, verbose=0))\n",
    ]
    return "".join(out)


# --- PyTorch ----------------------------------------------------------------------------------
def pytorch_code(model, checkpoint: Callable[[], None] | None = None) -> str:
    """A self-contained PyTorch script defining `model` (nn.Sequential) that computes what the Keras model computes."""
    check_export(model)
    lines, loads, parts = [], [], []
    for layer, report in zip(model.layers, model.analysis.layers):
        for j, part in enumerate(layer.torch_code(report.input_shape)):
            note = f"  # {layer.name!r} ({layer.kind})" if j == 0 else ""
            for param, array in part.weights.items():
                literal = array_literal(array, "    ", checkpoint)
                loads.append(f"    model[{len(lines)}].{param}.copy_(torch.tensor({literal}, dtype=torch.float32))\n")
            lines.append(f"    {part.code},{note}\n")
            parts.append(part)
    input_shape = tuple(model.input_shape[1:])
    out = [
        "# Generated by netbuilder: this model in PyTorch, with its current weights, computing what Keras computes.\n",
        f"# Input: a float32 tensor of shape {format_batch_shape(input_shape)}.\n",
        "import torch\n",
        "from torch import nn\n",
        _helpers(parts),
        "\n\nmodel = nn.Sequential(\n",
        *lines,
        ")\n",
        "\n# The weights, in torch's layouts (a Dense kernel transposed, conv kernels as (out, in, ...)).\n",
        "with torch.no_grad():\n",
        *(loads or ["    pass\n"]),
        "model.eval()\n",
        "\nif __name__ == \"__main__\":\n",
        f"    x = torch.randn(2, *{input_shape!r}, generator=torch.Generator().manual_seed(0))\n",
        "    print(model(x))\n",
    ]
    return "".join(out)


# --- other formats ----------------------------------------------------------------------------
def keras_json(model) -> str:
    """The architecture as Keras 3 JSON (keras.models.model_from_json reads it; weights are not part of it)."""
    return json.dumps(json.loads(model.to_json()), indent=2)
