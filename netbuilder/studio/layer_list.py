"""A pasted Keras-style layer list as layer specs: `Dense(64, activation="relu")` per line, `model.add(...)`,
`keras.layers.Conv2D(32, (3, 3))`, a whole `Sequential([...])`. Read with `ast` and literals only — never eval.

Keyword arguments a kind has no setting for (initializers, names...) are left out and reported.
"""

from __future__ import annotations

import ast
import textwrap
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


_NOT_LAYERS = {"Sequential", "Model"}  # calls that hold layers rather than being one


def _layer_calls(tree) -> list[ast.Call]:
    """Calls that make layers, in any nesting (model.add(...), Sequential([...])) — but not the calls inside a
    layer's own arguments (an initializer object), which are not layers."""
    found = []

    def visit(node):
        if isinstance(node, ast.Call):
            name = _name(node.func)
            if name in KINDS or name == "Input" or (name and name[:1].isupper() and name not in _NOT_LAYERS):
                found.append(node)
                return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _input_shape(call: ast.Call) -> tuple[int, ...] | None:
    """Input(shape=...), Input((28, 28, 1)) or Input(batch_shape=(None, 28, 28, 1))."""
    keywords = {k.arg: k.value for k in call.keywords}
    if call.args or "shape" in keywords:
        return check_input_shape(_literal(call.args[0] if call.args else keywords["shape"], "Input's shape"))
    if "batch_shape" in keywords:
        batch_shape = _literal(keywords["batch_shape"], "Input's batch_shape")
        if not isinstance(batch_shape, (tuple, list)) or not batch_shape:
            raise LayerConfigError("Input's batch_shape must be a tuple such as (None, 28, 28, 1)")
        return check_input_shape(tuple(batch_shape)[1:])
    return None


def parse_layers(text) -> PastedLayers:
    """The layers in `text`, in the order written; LayerConfigError saying what is wrong otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise LayerConfigError("paste layers such as Dense(64, activation=\"relu\"), one per line")
    if len(text) > MAX_PASTE_CHARS:
        raise LayerConfigError(f"a pasted layer list is at most {MAX_PASTE_CHARS:,} characters; this one has {len(text):,}")
    try:
        tree = ast.parse(textwrap.dedent(text))
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        where = f" (line {e.lineno})" if isinstance(e, SyntaxError) and e.lineno else ""
        raise LayerConfigError(f"this is not Python code that Keras layers are written in{where}") from None
    calls = sorted(_layer_calls(tree), key=lambda node: (node.lineno, node.col_offset))
    layers, ignored, input_shape = [], [], None
    for call in calls:
        kind = _name(call.func)
        if kind == "Input":
            input_shape = _input_shape(call) or input_shape
            continue
        if kind not in KINDS:
            raise LayerConfigError(f"line {call.lineno}: {kind} is not a layer kind netbuilder has; its kinds are "
                                   f"{', '.join(KINDS)}")
        if len(layers) >= MAX_LAYERS:
            raise LayerConfigError(f"a model holds at most {MAX_LAYERS} layers")
        declared = [s.name for s in KINDS[kind].settings]
        if len(call.args) > len(declared):
            raise LayerConfigError(f"{kind} takes at most {len(declared)} positional arguments (line {call.lineno})")
        settings = {name: _literal(arg, f"{kind}'s argument {name}") for name, arg in zip(declared, call.args)}
        for keyword in call.keywords:
            if keyword.arg in settings:
                raise LayerConfigError(f"line {call.lineno}: {kind} is given {keyword.arg} twice")
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
