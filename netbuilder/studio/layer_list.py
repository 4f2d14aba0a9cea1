"""A pasted Keras-style layer list as layer specs: `Dense(64, activation="relu")` per line, `model.add(...)`,
`keras.layers.Conv2D(32, (3, 3))`, a whole `Sequential([...])`. Read with `ast` and literals only — never eval.

Keyword arguments a kind has no setting for (initializers, names...) are left out and reported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..engine.errors import LayerConfigError, NetbuilderError
from ..engine.layer import KINDS
from ..engine.limits import MAX_LAYERS
from ..engine.shapes import check_input_shape
from .spec import LayerSpec

MAX_PASTE_CHARS = 20_000


@dataclass(frozen=True)
class PastedLayers:
    layers: tuple[LayerSpec, ...]
    input_shape: tuple[int, ...] | None  # from Input(shape=...) or input_shape= on the first layer
    ignored: tuple[str, ...]  # "Dense: kernel_initializer", ...


def _name(func: ast.expr) -> str | None:
    """`Dense` for `Dense`, `layers.Dense`, `keras.layers.Dense`, `tf.keras.layers.Dense`."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _literal(node: ast.expr, what: str):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise LayerConfigError(f"{what} must be a plain value (a number, text, True/False, a tuple or list of them)") from None


def parse_layers(text) -> PastedLayers:
    """The layers in `text`, in the order written; LayerConfigError saying what is wrong otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise LayerConfigError("paste layers such as Dense(64, activation=\"relu\"), one per line")
    if len(text) > MAX_PASTE_CHARS:
        raise LayerConfigError(f"a pasted layer list is at most {MAX_PASTE_CHARS:,} characters; this one has {len(text):,}")
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        where = f" (line {e.lineno})" if isinstance(e, SyntaxError) and e.lineno else ""
        raise LayerConfigError(f"this is not Python code that Keras layers are written in{where}") from None
    calls = sorted((node for node in ast.walk(tree) if isinstance(node, ast.Call) and _name(node.func) in (*KINDS, "Input")),
                   key=lambda node: (node.lineno, node.col_offset))
    layers, ignored, input_shape = [], [], None
    for call in calls:
        kind = _name(call.func)
        if kind == "Input":
            shape = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "shape"), None)
            if shape is not None:
                input_shape = check_input_shape(_literal(shape, "Input's shape"))
            continue
        if len(layers) >= MAX_LAYERS:
            raise LayerConfigError(f"a model holds at most {MAX_LAYERS} layers")
        declared = [s.name for s in KINDS[kind].settings]
        if len(call.args) > len(declared):
            raise LayerConfigError(f"{kind} takes at most {len(declared)} positional arguments (line {call.lineno})")
        settings = {name: _literal(arg, f"{kind}'s argument {name}") for name, arg in zip(declared, call.args)}
        for keyword in call.keywords:
            if keyword.arg in declared:
                settings[keyword.arg] = _literal(keyword.value, f"{kind}'s {keyword.arg}")
            elif keyword.arg == "input_shape" and not layers:
                input_shape = check_input_shape(_literal(keyword.value, "input_shape"))
            elif keyword.arg is not None and keyword.arg != "name":
                ignored.append(f"{kind}: {keyword.arg}")
        try:
            layers.append(LayerSpec.make(len(layers), kind, **settings))
        except NetbuilderError as e:
            raise type(e)(f"line {call.lineno}, {kind}: {e}") from None
    if not layers:
        raise LayerConfigError(f"no layers found; write them as Keras does, e.g. Dense(64, activation=\"relu\"). "
                               f"Kinds: {', '.join(KINDS)}")
    return PastedLayers(tuple(layers), input_shape, tuple(ignored))
