"""A pasted Keras-style layer list as layer specs: `Dense(64, activation="relu")` per line, `model.add(...)`,
`keras.layers.Conv2D(32, (3, 3))`, a whole `Sequential([...])`. Read with `ast` and literals only — never eval.

Keyword arguments a kind has no setting for (initializers, names...) are left out and reported. `*[...]` and
`**{...}` of literals are spread as Python spreads them; anything else after * or ** is refused, never guessed.
"""

from __future__ import annotations

import ast
import difflib
import textwrap
from dataclasses import dataclass

from ..engine.errors import LayerConfigError, NetbuilderError
from ..engine.layer import KINDS, REFUSED_KINDS
from ..engine.limits import MAX_EDITOR_LAYERS
from ..engine.shapes import check_input_shape
from ..engine.settings import Init
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
        raise LayerConfigError(
            f"{what} must be a plain value (a number, text, True/False, a tuple or list of them)"
        ) from None


def _setting_value(node: ast.expr, setting, what: str):
    """A setting's value as written: a literal, or (an initializer) Keras's call such as keras.initializers.HeNormal(),
    read as the setting reads its text (literals only, never run)."""
    if isinstance(setting, Init) and not isinstance(node, ast.Constant):
        try:
            text = ast.unparse(node)
        except (ValueError, MemoryError, RecursionError):
            raise LayerConfigError(f"{what} must be a Keras initializer such as he_normal or HeNormal()") from None
        return setting.parse_text(text)
    return _literal(node, what)


_NOT_LAYERS = {"Sequential", "Model"}  # calls that hold layers rather than being one
# arguments every Keras layer takes beside its own (base Layer's), which netbuilder leaves out
_KERAS_LAYER_ARGUMENTS = ("trainable", "dtype", "autocast", "input_dim", "batch_size", "activity_regularizer")


def _layer_calls(tree) -> list[ast.Call]:
    """Calls that make layers, in any nesting (model.add(...), Sequential([...])) — but not the calls inside a
    layer's own arguments (an initializer object), which are not layers. Walked with a stack, not recursion:
    pasted code nests as deep as Python's parser allows (`a + a + ...`), far deeper than Python's recursion."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Call):
            name = _name(node.func)
            if name in KINDS or name == "Input" or (name and name[:1].isupper() and name not in _NOT_LAYERS):
                found.append(node)
                continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))  # reversed: children come off in their order
    return found


def _arguments(call: ast.Call, kind: str) -> tuple[list[ast.expr], list[tuple[str, ast.expr]]]:
    """The call's positional arguments and (name, value) keywords, with `*[...]` and `**{...}` of literals spread
    as Python spreads them; anything else after * or ** cannot be read without running it."""
    args = []
    for arg in call.args:
        if not isinstance(arg, ast.Starred):
            args.append(arg)
        elif isinstance(arg.value, (ast.List, ast.Tuple)):
            args.extend(arg.value.elts)
        else:
            raise LayerConfigError(
                f"line {call.lineno}: after * in {kind}(...) only a literal list or tuple can be read, "
                f'such as *[64, "relu"].'
            )
    keywords = []
    for keyword in call.keywords:
        if keyword.arg is not None:
            keywords.append((keyword.arg, keyword.value))
        elif isinstance(keyword.value, ast.Dict) and all(
            isinstance(key, ast.Constant) and isinstance(key.value, str) for key in keyword.value.keys
        ):
            keywords.extend((key.value, value) for key, value in zip(keyword.value.keys, keyword.value.values))
        else:
            raise LayerConfigError(
                f"line {call.lineno}: after ** in {kind}(...) only a literal dict with text keys can "
                f'be read, such as **{{"units": 64}}.'
            )
    return args, keywords


def _input_shape(call: ast.Call) -> tuple[int, ...] | None:
    """Input(shape=...), Input((28, 28, 1)) or Input(batch_shape=(None, 28, 28, 1))."""
    args, keywords = _arguments(call, "Input")
    keywords = dict(keywords)
    if args or "shape" in keywords:
        return check_input_shape(_literal(args[0] if args else keywords["shape"], "Input's shape"))
    if "batch_shape" in keywords:
        batch_shape = _literal(keywords["batch_shape"], "Input's batch_shape")
        if not isinstance(batch_shape, (tuple, list)) or not batch_shape:
            raise LayerConfigError("Input's batch_shape must be a tuple such as (None, 28, 28, 1)")
        return check_input_shape(tuple(batch_shape)[1:])
    return None


def _refuse_misspelled(name: str, kind: str, declared: dict, line: int) -> None:
    """A LayerConfigError when `name` is not one of Keras's arguments for `kind` but close to one of its settings
    (`activaton`): Keras refuses it, and leaving it out would quietly drop the setting meant."""
    known = [*declared, *KINDS[kind].keras_extra_config, *_KERAS_LAYER_ARGUMENTS]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
    if close and close[0] in declared:
        raise LayerConfigError(f"line {line}: {kind} has no argument {name[:40]!r}; did you mean {close[0]}?")


def _too_deep(error: Exception) -> str:
    """What to add when Python's parser gave up on depth, which its own error does not say in words ("" otherwise)."""
    deep = isinstance(error, (MemoryError, RecursionError)) or (
        isinstance(error, SyntaxError) and "too many nested parentheses" in str(error.msg)
    )
    return "; it nests brackets or operations deeper than Python can read." if deep else ""


def parse_layers(text) -> PastedLayers:
    """The layers in `text`, in the order written; LayerConfigError saying what is wrong otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise LayerConfigError('paste layers such as Dense(64, activation="relu"), one per line')
    if len(text) > MAX_PASTE_CHARS:
        raise LayerConfigError(
            f"a pasted layer list is at most {MAX_PASTE_CHARS:,} characters; this one has {len(text):,}"
        )
    try:
        tree = ast.parse(textwrap.dedent(text))
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        where = ""
        if isinstance(e, SyntaxError) and e.lineno:  # Python's own words and place: "'(' was never closed"
            where = f" (line {e.lineno}" + (f", column {e.offset}" if e.offset else "") + f": {e.msg})"
        raise LayerConfigError(
            f"this is not Python code that Keras layers are written in{where}{_too_deep(e)}"
        ) from None
    calls = sorted(_layer_calls(tree), key=lambda node: (node.lineno, node.col_offset))
    layers, ignored, input_shape = [], [], None
    for call in calls:
        kind = _name(call.func)
        if kind == "Input":
            input_shape = _input_shape(call) or input_shape
            continue
        if kind in REFUSED_KINDS:
            raise LayerConfigError(f"line {call.lineno}: {REFUSED_KINDS[kind]}")
        if kind not in KINDS:
            raise LayerConfigError(
                f"line {call.lineno}: {kind} is not a layer kind netbuilder has; its kinds are {', '.join(KINDS)}"
            )
        if len(layers) >= MAX_EDITOR_LAYERS:
            raise LayerConfigError(f"a model holds at most {MAX_EDITOR_LAYERS} layers")
        declared = {s.name: s for s in KINDS[kind].settings}
        args, keywords = _arguments(call, kind)
        if len(args) > len(declared):
            raise LayerConfigError(f"{kind} takes at most {len(declared)} positional arguments (line {call.lineno})")
        settings = {
            name: _setting_value(arg, declared[name], f"{kind}'s argument {name}") for name, arg in zip(declared, args)
        }
        seen = set()  # every keyword, setting or not: Python refuses any keyword given twice
        for name, value in keywords:
            if name in settings or name in seen:
                raise LayerConfigError(f"line {call.lineno}: {kind} is given {name} twice")
            seen.add(name)
            if name in declared:
                settings[name] = _setting_value(value, declared[name], f"{kind}'s {name}")
            elif name == "input_shape" and not layers:
                input_shape = check_input_shape(_literal(value, "input_shape"))
            elif name != "name":
                _refuse_misspelled(name, kind, declared, call.lineno)
                ignored.append(f"{kind}: {name[:40]}")  # a name as long as the paste is named, not repeated
        try:
            layers.append(LayerSpec.make(len(layers), kind, **settings))
        except NetbuilderError as e:
            raise type(e)(f"line {call.lineno}, {kind}: {e}") from None
    if not layers:
        raise LayerConfigError(
            f'no layers found; write them as Keras does, e.g. Dense(64, activation="relu"). Kinds: {", ".join(KINDS)}'
        )
    return PastedLayers(tuple(layers), input_shape, tuple(ignored))
