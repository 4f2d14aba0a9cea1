"""A pasted Keras-style layer list as layer specs: `Dense(64, activation="relu")` per line, `model.add(...)`,
`keras.layers.Conv2D(32, (3, 3))`, a whole `Sequential([...])`; or Keras functional code, a graph:
`x = layers.Conv2D(64, 3)(x)`, `x = layers.add([x, shortcut])`, `model = keras.Model(inputs, outputs)`. Read with
`ast` and literals only — never eval.

Keyword arguments a kind has no setting for (initializers, names...) are left out and reported. `*[...]` and
`**{...}` of literals are spread as Python spreads them; anything else after * or ** is refused, never guessed.
"""

from __future__ import annotations

import ast
import difflib
import textwrap
from dataclasses import dataclass, replace

from ..engine.errors import LayerConfigError, NetbuilderError
from ..engine.kinds.merging import FUNCTIONAL_FORMS
from ..engine.layer import KINDS, REFUSED_KINDS
from ..engine.limits import MAX_LAYERS
from ..engine.shapes import check_input_shape
from .spec import INPUT_ID, MAX_MODEL_INPUTS, LayerSpec, ModelSpec, input_id

MAX_PASTE_CHARS = 20_000


@dataclass(frozen=True)
class PastedLayers:
    layers: tuple[LayerSpec, ...]  # ids 0, 1, ...; a graph's layers name their inputs (input_id(k): input k)
    input_shape: tuple[int, ...] | None  # from Input(shape=...) or input_shape= on the first layer
    ignored: tuple[str, ...]  # "Dense: kernel_initializer", ...
    unread: tuple[str, ...] = ()  # functional code's statements and layers that are not part of the model
    more_inputs: tuple[tuple[int, ...], ...] = ()  # functional code's second Input and on

    def onto(self, spec: ModelSpec, mode: str) -> ModelSpec:
        """`spec` with these layers: "replace" its layers and inputs (with these inputs, or its first input's shape
        when no Input line gave one), or "append" them after its last layer."""
        if mode == "append":
            last = spec.layers[-1].id if spec.layers else None
            return spec.replace_layers((*spec.layers, *self.after(last, spec.next_id())))
        shape = spec.input_shape if self.input_shape is None else self.input_shape
        return ModelSpec(shape, (), spec.seed, more_inputs=self.more_inputs).replace_layers(self.layers)

    def after(self, last_id: int | None, first_id: int) -> tuple[LayerSpec, ...]:
        """The layers to append after the layer `last_id` (None: none, they take the input): ids from `first_id`."""
        if self.more_inputs:
            raise LayerConfigError("code with several Inputs is a model of its own: replace the layers with it")
        moved = {k: first_id + k for k in range(len(self.layers))}
        moved[INPUT_ID] = INPUT_ID if last_id is None else last_id
        return tuple(
            replace(
                layer,
                id=moved[layer.id],
                inputs=None if layer.inputs is None else tuple(moved[k] for k in layer.inputs),
            )
            for layer in self.layers
        )


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
    """A setting's value as written: a literal, or (an initializer, a regularizer) Keras's call such as
    keras.initializers.HeNormal(), read as the setting reads its text (literals only, never run)."""
    if setting.written_as_call and not isinstance(node, ast.Constant):
        try:
            text = ast.unparse(node)
        except (ValueError, MemoryError, RecursionError):
            raise LayerConfigError(f"{what} must be {setting.written_as_call}") from None
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


def _layer(call: ast.Call, index: int, ignored: list, first: bool, inputs=None) -> tuple[LayerSpec, tuple | None]:
    """The layer a constructor call makes (id `index`, taking `inputs`), and the input shape its input_shape= gives
    (the first layer's); arguments it has no setting for are added to `ignored`."""
    kind = _name(call.func)
    if kind in REFUSED_KINDS:
        raise LayerConfigError(f"line {call.lineno}: {REFUSED_KINDS[kind]}")
    if kind not in KINDS:
        raise LayerConfigError(
            f"line {call.lineno}: {kind} is not a layer kind netbuilder has; its kinds are {', '.join(KINDS)}"
        )
    if index >= MAX_LAYERS:
        raise LayerConfigError(f"a model holds at most {MAX_LAYERS} layers")
    declared = {s.name: s for s in KINDS[kind].settings}
    args, keywords = _arguments(call, kind)
    if len(args) > len(declared):
        raise LayerConfigError(f"{kind} takes at most {len(declared)} positional arguments (line {call.lineno})")
    settings = {
        name: _setting_value(arg, declared[name], f"{kind}'s argument {name}") for name, arg in zip(declared, args)
    }
    seen, input_shape = set(), None  # every keyword, setting or not: Python refuses any keyword given twice
    for name, value in keywords:
        if name in settings or name in seen:
            raise LayerConfigError(f"line {call.lineno}: {kind} is given {name} twice")
        seen.add(name)
        if name in declared:
            settings[name] = _setting_value(value, declared[name], f"{kind}'s {name}")
        elif name == "input_shape" and first:
            input_shape = check_input_shape(_literal(value, "input_shape"))
        elif name != "name":
            _refuse_misspelled(name, kind, declared, call.lineno)
            ignored.append(f"{kind}: {name[:40]}")  # a name as long as the paste is named, not repeated
    try:
        return LayerSpec.make(index, kind, inputs=inputs, **settings), input_shape
    except NetbuilderError as e:
        raise type(e)(f"line {call.lineno}, {kind}: {e}") from None


def _is_functional(tree) -> bool:
    """Whether the code names its Input (`inputs = keras.Input(...)`) or calls layers on tensors (`Dense(3)(x)`,
    `dense(x)` after `dense = Dense(3)`, `add([x, y])`): Keras's functional API."""
    bound = {
        node.targets[0].id: _name(node.value.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Call)
    }
    if "Input" in bound.values():
        return True
    made = {name for name, called in bound.items() if called in KINDS}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Call) and _name(node.func.func) in KINDS:
                return True
            merge = (
                _name(node.func) in FUNCTIONAL_FORMS and node.args and isinstance(node.args[0], (ast.List, ast.Tuple))
            )
            if merge or (isinstance(node.func, ast.Name) and node.func.id in made):  # not model.add(Dense(3))
                return True
    return False


class _Graph:
    """Functional code read statement by statement: each name bound to a tensor (INPUT_ID or a layer's index) or to a
    layer not called yet; each layer call a layer taking the tensors it was called on."""

    def __init__(self):
        self.tensors: dict[str, int] = {}
        self.made: dict[str, ast.Call] = {}  # `dense = layers.Dense(3)`: called later, once
        self.called: set[str] = set()  # such layers once called (a second call would share its weights)
        self.layers: list[LayerSpec] = []
        self.lines: list[int] = []  # the line each layer was made on
        self.ignored: list[str] = []
        self.input_shapes: list[tuple[int, ...]] = []
        self.outputs: list[int] | None = None

    def tensor_list(self, node: ast.expr, line: int) -> list[int]:
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.tensor(item, line) for item in node.elts]
        return [self.tensor(node, line)]

    def tensor(self, node: ast.expr, line: int) -> int:
        """The tensor an expression is: a name bound to one, or a layer call made right there."""
        if isinstance(node, ast.Name):
            if node.id not in self.tensors:
                raise LayerConfigError(f"line {line}: {node.id[:40]} is not a tensor made above (by Input or a layer)")
            return self.tensors[node.id]
        if isinstance(node, ast.Call):
            return self.call(node)
        raise LayerConfigError(
            f"line {line}: a layer is called on tensors (names made above), not on {ast.unparse(node)[:40]}"
        )

    def call(self, node: ast.Call) -> int:
        """A layer called on tensors, or a merge function: the new layer's index."""
        line, name = node.lineno, _name(node.func)
        if isinstance(node.func, ast.Call) or (isinstance(node.func, ast.Name) and node.func.id in self.made):
            if isinstance(node.func, ast.Name):
                self.called.add(node.func.id)
            constructor = node.func if isinstance(node.func, ast.Call) else self.made.pop(node.func.id)
            if node.keywords or not node.args:
                raise LayerConfigError(f"line {line}: call a layer on its tensors alone, such as Dense(3)(x)")
            cls = KINDS.get(_name(constructor.func))
            if cls is not None and cls.takes_list and not cls.separate_arguments:
                if len(node.args) != 1:
                    raise LayerConfigError(
                        f"line {line}: {cls.kind} is called on one list of tensors, such as ([a, b])"
                    )
                inputs = self.tensor_list(node.args[0], line)
            else:
                inputs = [self.tensor(arg, line) for arg in node.args]
            return self.add(constructor, inputs)
        if isinstance(node.func, ast.Name) and node.func.id in self.called:
            raise LayerConfigError(
                f"line {line}: layer {name[:40]} is called a second time (a shared layer: one set of weights at two "
                "places); netbuilder's editor calls each layer once"
            )
        if name in FUNCTIONAL_FORMS:
            if len(node.args) != 1:
                raise LayerConfigError(f"line {line}: {name}(...) takes one list of tensors, such as {name}([a, b])")
            inputs = self.tensor_list(node.args[0], line)
            constructor = ast.Call(func=ast.Name(FUNCTIONAL_FORMS[name]), args=[], keywords=node.keywords)
            return self.add(ast.copy_location(constructor, node), inputs)
        raise LayerConfigError(
            f"line {line}: {ast.unparse(node.func)[:40]}(...) does not make a tensor netbuilder reads"
        )

    def add(self, constructor: ast.Call, inputs: list[int]) -> int:
        layer, _ = _layer(constructor, len(self.layers), self.ignored, first=False, inputs=tuple(inputs))
        self.layers.append(layer)
        self.lines.append(constructor.lineno)
        return len(self.layers) - 1

    def statement(self, statement: ast.stmt) -> bool:
        """Read one statement; False for one that is not part of the model (model.compile(...), print(...))."""
        if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
            return False
        target, value = statement.targets[0], statement.value
        if isinstance(target, ast.Name) and isinstance(value, ast.Name) and value.id in self.tensors:
            self.tensors[target.id] = self.tensors[value.id]  # shortcut = x: another name for one tensor
            return True
        if not isinstance(value, ast.Call):
            return False
        name = _name(value.func)
        if name in ("Model", "Functional"):
            args, keywords = list(value.args), dict((k.arg, k.value) for k in value.keywords if k.arg)
            outputs = keywords.get("outputs", args[1] if len(args) > 1 else None)
            if outputs is None:
                raise LayerConfigError(f"line {value.lineno}: keras.Model(inputs, outputs) needs its outputs")
            self.outputs = self.tensor_list(outputs, value.lineno)
            return True
        if not isinstance(target, ast.Name):
            return False
        if name == "Input" and not isinstance(value.func, ast.Call):
            if len(self.input_shapes) == MAX_MODEL_INPUTS:
                raise LayerConfigError(f"line {value.lineno}: netbuilder's editor holds {MAX_MODEL_INPUTS} inputs")
            shape = _input_shape(value)
            if shape is None:
                raise LayerConfigError(f"line {value.lineno}: Input needs its shape, such as Input(shape=(28, 28, 1))")
            self.tensors[target.id] = input_id(len(self.input_shapes))
            self.input_shapes.append(shape)
            return True
        if name in KINDS:
            self.made[target.id] = value  # a layer made now, called later
            return True
        self.tensors[target.id] = self.call(value)
        return True


def _functional(tree) -> PastedLayers:
    """Functional code as a graph: the layers on the way to keras.Model's outputs (all of them without one)."""
    graph, unread = _Graph(), []
    for statement in tree.body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            continue  # `from keras import layers` is how the code begins, not a part of the model
        if not graph.statement(statement):
            unread.append(f"line {statement.lineno} ({ast.unparse(statement)[:40]})")
    if not graph.input_shapes:
        raise LayerConfigError("functional code needs its Input, such as inputs = keras.Input(shape=(28, 28, 1))")
    if not graph.layers:
        raise LayerConfigError("no layer is called on the input; write them as Keras does, e.g. x = Dense(64)(inputs)")
    layers = graph.layers
    taken = {k for layer in layers for k in layer.inputs}
    outputs = graph.outputs if graph.outputs is not None else [k for k in range(len(layers)) if k not in taken]
    needed, stack = set(), [k for k in outputs if k >= 0]
    while stack:
        k = stack.pop()
        if k not in needed:
            needed.add(k)
            stack.extend(i for i in layers[k].inputs if i >= 0)
    left_out = [f"{layers[k].kind} (line {graph.lines[k]})" for k in range(len(layers)) if k not in needed]
    kept = {k: n for n, k in enumerate(sorted(needed))}
    kept |= {input_id(k): input_id(k) for k in range(len(graph.input_shapes))}
    final = tuple(
        replace(layers[k], id=kept[k], inputs=tuple(kept[i] for i in layers[k].inputs)) for k in sorted(needed)
    )
    taken = {i for layer in final for i in layer.inputs}
    if any(kept.get(k, k) in taken for k in outputs):
        raise LayerConfigError(
            "an output of keras.Model is also taken by another layer; in netbuilder's editor the "
            "outputs are the layers no other layer takes"
        )
    notes = unread + ([f"not on the way to the outputs: {', '.join(left_out)}"] if left_out else [])
    first, *more = graph.input_shapes
    return PastedLayers(final, first, tuple(graph.ignored), tuple(notes), tuple(more))


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
    if _is_functional(tree):
        try:
            return _functional(tree)
        except (RecursionError, MemoryError):
            raise LayerConfigError("this code nests layer calls deeper than netbuilder reads") from None
    calls = sorted(_layer_calls(tree), key=lambda node: (node.lineno, node.col_offset))
    layers, ignored, input_shape = [], [], None
    for call in calls:
        if _name(call.func) == "Input":
            input_shape = _input_shape(call) or input_shape
            continue
        layer, given_shape = _layer(call, len(layers), ignored, first=not layers)
        input_shape = given_shape or input_shape
        layers.append(layer)
    if not layers:
        raise LayerConfigError(
            f'no layers found; write them as Keras does, e.g. Dense(64, activation="relu"). Kinds: {", ".join(KINDS)}'
        )
    return PastedLayers(tuple(layers), input_shape, tuple(ignored))
