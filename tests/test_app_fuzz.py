"""Random sequences of widget actions through AppTest, checked against a mirror of the model.

The test keeps its own History of ModelSpecs and the input text, applies each action to the spec as
the app's callback would, and keeps the old spec where the engine refuses ("never lose the last good
model"). After every action: no exception on the page, the app's model is valid and equals the
mirror, the input equals the mirror's, the undo/redo buttons match the mirror, and the graph has
one edge per layer plus one, labelled with the analysis' shapes. Settings are driven generically,
through whatever widget each kind's declarations generate, for every registered kind.

Reproduce a failing sequence with `pytest tests/test_app_fuzz.py -k "seq_7"`; scale the run with
NETBUILDER_APP_FUZZ_SEQUENCES / NETBUILDER_APP_FUZZ_STEPS.
"""

import os
import random

import pytest

from netbuilder import NetbuilderError
from netbuilder.engine.budget import public, using
from netbuilder.engine.layer import KINDS, kind_class
from netbuilder.studio import data, presets
from netbuilder.studio.history import History
from netbuilder.studio.keras_import import spec_from_keras_json
from netbuilder.studio.models import built
from netbuilder.studio.spec import ModelSpec, seed_spec
from netbuilder.views import export
from netbuilder.views.graph import WINDOW_FROM
from test_app import dot, edge_labels, model, open_app, run, select
from test_app_features import SEED_INPUT, analysis_edges, edge_count, fix_buttons, input_text

SEQUENCES = int(os.environ.get("NETBUILDER_APP_FUZZ_SEQUENCES", "16"))
STEPS = int(os.environ.get("NETBUILDER_APP_FUZZ_STEPS", "15"))
MAX_FUZZ_LAYERS = 8  # beyond this, no adds: every layer adds work to each rerun

NUMBERS = [0, -5, 10**6, 65_537, 10**15, -(10**15), 1, 2, 3, 5, 8, 16, 33, 65_536]
FLOATS = [-1.0, 0.0, 0.001, 0.5, 0.99, 1.0, 2.5, 1e30]
TEXTS = ["3", "3, 3", "2, 2", "(1, 2)", "-1", "-1, 8", "1; 1", "0", "x", "", "99999", "1,2,3,4,5,6", "💥", "[[3]]"]
SEEDS = [-1, 1_000_000, 10**15, 0, 1, 42, 999_999]
SHAPES = [
    "",
    "5",
    "3, 2",
    "(3, 2)",
    "2, 3, 4",
    "1, 2, 3, 4",
    "(6,)",
    "4x2",
    "48",
    "8, 8, 1",
    "10, 4",  # valid
    "3, x",
    "0",
    "-1",
    "1, 2, 3, 4, 5",
    "99999999",
    "1e3",
    "2,,3",
    "💥",
    "[[3]]",
    "1000, 1001",
    " " * 200,
]
INPUTS = [
    SEED_INPUT,
    "[1, 2, 3]",
    "[[1, 2], [3, 4], [5, 6]]",
    "[[NaN, inf], [-Infinity, 1e38], [0, -0]]",
    "[[1 2] [3 4]]",
    "",
    "   ",
    "hello",
    "[[[1, 2], [3, 4], [5, 6]",
    "[" * 5000,
    "[1e400]",
    "[true]",
    '["1"]',
    "{}",
    "日本語のテキスト",
    "\x00\x01\x02",
    "[[1, 2], [3]]",
    "1" * 10_000,
    "".join(chr(0x10000 + 7919 * i % 0xFFFFF) for i in range(2000)),  # too long for a share link when escaped
]
KERAS_JSONS = [export.keras_json(built(p.spec)) for p in presets.PRESETS.values() if p.spec.analysis.ok]
IMPORTS = [
    "",
    "{not json",
    "[]",
    "null",
    '{"class_name": "Sequential"}',
    '{"class_name": "Sequential", "config": {"layers": []}}',
    '{"class_name": "Sequential", "config": {"layers": [{"class_name": "Conv3D", "config": {"name": "c"}}]}}',
    "[" * 50_000,
    "💥" * 1000,
]


class Mirror:
    """What the app should hold: the model history and the input text, changed as the callbacks change them."""

    def __init__(self):
        self.history = History(seed_spec())
        self.text = SEED_INPUT

    @property
    def spec(self) -> ModelSpec:
        return self.history.present

    def commit(self, change) -> bool:
        try:
            with using(public()):  # as the app's callbacks edit: under the public budgets
                new = change(self.spec)
        except NetbuilderError:
            return False  # the app explains and keeps the last good model
        self.history.push(new)
        return True

    def refill(self):
        self.text = data.fill_text("range", self.spec.input_shape)

    def fit(self):
        """A range for the model's input shape, unless the text already fits it."""
        try:
            data.parse_array(self.text, self.spec.input_shape)
        except NetbuilderError:
            self.refill()


# --- actions: each drives the widgets and updates the mirror the same way ------------------------
def act_add(at, m, rng):
    kind = rng.choice(list(KINDS))
    count = rng.choice([1, 1, 1, 2])
    at.selectbox(key="add_kind").set_value(kind)
    at.number_input(key="add_count").set_value(count)
    where = rng.choice(["after the selected layer", "at the end"])
    at.selectbox(key="add_where").set_value(where)
    selection = at.session_state["selection"]
    ids = [layer.id for layer in m.spec.layers]
    index = (
        None
        if where == "at the end"
        else 0
        if selection == "input"
        else (ids.index(selection) + 1 if selection in ids else None)
    )
    m.commit(lambda s: s.add(kind, index, count=count))
    return at.button(key="add").click()


def act_quick_add(at, m, rng):
    """One click of the quick-add row: one layer after the selected one (the first, with the input selected)."""
    kind = rng.choice(["Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dropout", "Activation"])
    selection = at.session_state["selection"]
    ids = [layer.id for layer in m.spec.layers]
    index = 0 if selection == "input" else (ids.index(selection) + 1 if selection in ids else None)
    m.commit(lambda s: s.add(kind, index))
    return at.button(key=f"quick_{kind}").click()


def act_setting(at, m, rng):
    """Any setting of any layer, through the widget its declaration generates, with good and bad values."""
    if not m.spec.layers:
        return act_add(at, m, rng)
    i = rng.randrange(len(m.spec.layers))
    layer = m.spec.layers[i]
    if not kind_class(layer.kind).settings:  # a merge such as Add has none
        return act_layer_button(at, m, rng)
    at = select(at, i)
    setting = rng.choice(kind_class(layer.kind).settings)
    key = f"{setting.name}_{layer.id}"
    current = layer.values[setting.name]
    if setting.widget == "checkbox":
        value = widget_value = not current
        element = at.checkbox(key=key)
    elif setting.widget == "select":
        element = at.selectbox(key=key)
        value = widget_value = rng.choice(element.options)
    elif setting.widget in ("number", "float"):
        element = at.number_input(key=key)
        value = widget_value = rng.choice(NUMBERS if setting.widget == "number" else FLOATS)
    else:
        element = at.text_input(key=key)
        widget_value = rng.choice(TEXTS + [setting.format_text(current)])
        try:
            value = setting.parse_text(widget_value)
        except NetbuilderError:
            value = None
    if widget_value == element.value:
        return at  # an unchanged widget fires no callback
    if value is not None:
        m.commit(lambda s: s.update(layer.id, **{setting.name: value}))
    return element.set_value(widget_value)


NAMES = ["encoder_1", "encoder_2", "head", "", "  ", "a/b", "<b>x</b>", "💥", "x" * 64, "dense", "conv2_block1_1_conv"]


def act_rename(at, m, rng):
    """A layer's Name field: a fresh name, another layer's, blank, or one Keras refuses."""
    if not m.spec.layers:
        return act_add(at, m, rng)
    i = rng.randrange(len(m.spec.layers))
    layer = m.spec.layers[i]
    at = select(at, i)
    element = at.text_input(key=f"name_{layer.id}")
    name = rng.choice(NAMES + [rng.choice(m.spec.names)])
    if name == element.value:
        return at  # an unchanged widget fires no callback
    m.commit(lambda s: s.rename(layer.id, name))
    return element.input(name)


def act_layer_button(at, m, rng):
    layers = m.spec.layers
    if not layers:
        return act_add(at, m, rng)
    i = rng.randrange(len(layers))
    lid = layers[i].id
    at = select(at, i)
    choices = ["delete", "duplicate"] + ["up"] * (i > 0) + ["down"] * (i < len(layers) - 1)
    what = rng.choice(choices)
    count = rng.choice([1, 2])
    change = {
        "delete": lambda s: s.remove(lid),
        "duplicate": lambda s: s.duplicate(lid, count),
        "up": lambda s: s.move(lid, -1),
        "down": lambda s: s.move(lid, 1),
    }[what]
    if what == "duplicate":
        at.number_input(key="duplicate_count").set_value(count)
    m.commit(change)
    return at.button(key=f"{what}_{lid}").click()


def act_graph(at, m, rng):
    """Branch, merge or a residual block from a random layer (or the input), or change what a layer takes."""
    layers = m.spec.layers
    if not layers or len(layers) > 6:  # a block adds 5 layers: the graph stays whole (no window) for the edge checks
        return act_clear(at, m, rng) if layers else act_add(at, m, rng)
    i = rng.randrange(len(layers))
    lid = layers[i].id
    at = select(at, i)
    what = rng.choice(["branch", "merge", "residual", "takes"])
    if what == "branch":
        kind = rng.choice(["Dense", "Flatten", "Activation", "Conv2D"])
        at.selectbox(key="add_kind").set_value(kind)
        m.commit(lambda s: s.branch(lid, kind))
        return at.button(key="branch").click()
    if what == "merge":
        other = rng.choice([k for k in m.spec.takeable(len(layers)) if k != lid])
        kind = rng.choice(["Add", "Concatenate", "Multiply", "Subtract", "Dot"])
        at.selectbox(key="merge_with").set_value(other)
        at.selectbox(key="merge_kind").set_value(kind)
        m.commit(lambda s: s.merge([lid, other], kind))
        return at.button(key="merge").click()
    if what == "residual":
        width, stride = rng.choice([None, 4, 16]), rng.random() < 0.3
        at.number_input(key="residual_width").set_value(width)
        at.checkbox(key="residual_stride").set_value(stride)
        m.commit(lambda s: s.residual(lid, width, stride))
        return at.button(key="residual").click()
    before = m.spec.takeable(i)
    if kind_class(layers[i].kind).takes_list:  # a merge: any tensors before it, possibly none (refused with a message)
        chosen = rng.sample(before, rng.randint(0, min(3, len(before))))
        if chosen:
            m.commit(lambda s: s.set_inputs(lid, chosen))
        return at.multiselect(key=f"takes_{lid}").set_value(chosen)
    chosen = rng.choice(before)
    m.commit(lambda s: s.set_inputs(lid, [chosen]))
    return at.selectbox(key=f"takes_{lid}").set_value(chosen)


def act_clear(at, m, rng):
    m.commit(lambda s: s.clear())
    return at.button(key="clear").click()


def act_undo_redo(at, m, rng):
    which = rng.choice(["undo", "redo"])
    if at.button(key=which).disabled:  # a browser cannot click it; AppTest refuses to
        which = "redo" if which == "undo" else "undo"
        if at.button(key=which).disabled:
            return act_add(at, m, rng)
    shape = m.spec.input_shape
    getattr(m.history, which)()
    if m.spec.input_shape != shape:  # the app refills input that no longer fits the restored shape
        m.fit()
    return at.button(key=which).click()


def act_input_shape(at, m, rng):
    at = select(at, "input")
    text = rng.choice(SHAPES)
    if text == at.text_input(key="input_shape_text").value:
        return at  # no change, no callback: just rerun
    if m.commit(lambda s: s.with_input_shape(data.parse_shape(text))):
        m.fit()
    return at.text_input(key="input_shape_text").set_value(text)


def act_inputs(at, m, rng):
    """Add an input, reshape a further one (sometimes with a bad shape), or remove one."""
    at = select(at, "input")
    more = len(m.spec.more_inputs)
    what = rng.choice(["add", "shape", "remove"] if more else ["add"])
    if what == "add":
        m.commit(lambda s: s.add_input(s.input_shape))
        return at.button(key="add_input").click()
    k = rng.randint(1, more)
    if what == "remove":
        m.commit(lambda s: s.remove_input(k))
        return at.button(key=f"remove_input_{k}").click()
    text = rng.choice(SHAPES)
    if text == at.text_input(key=f"input_shape_text_{k}").value:
        return at
    m.commit(lambda s: s.with_input_shape(data.parse_shape(text), k))
    return at.text_input(key=f"input_shape_text_{k}").set_value(text)


def act_seed(at, m, rng):
    value = rng.choice(SEEDS + [rng.randint(0, 999_999)])
    if value != m.spec.seed:
        m.commit(lambda s: s.with_seed(value))
    return at.number_input(key="seed").set_value(value)


def act_random_seed(at, m, rng):
    at = run(at.button(key="random_seed").click())
    drawn = model(at).seed  # drawn by the app; the rest of the model must stay as it was
    m.commit(lambda s: s.with_seed(drawn))
    return at


def act_input_text(at, m, rng):
    at = select(at, "input")
    kind = rng.random()
    if kind < 0.25:
        fill = rng.choice(["zeros", "range"])
        m.text = data.fill_text(fill, m.spec.input_shape)
        return at.button(key=f"fill_{fill}").click()
    if kind < 0.4 and sum(m.spec.input_shape) < 500:  # valid data of the current shape, batch of 2
        m.text = data.format_array(data.fill("random", m.spec.input_shape, batch=2, seed=rng.randrange(1000)))
    else:
        m.text = rng.choice(INPUTS)
    return at.text_area(key="input_text").input(m.text)


def act_paste(at, m, rng):
    text = rng.choice(
        [
            "Dense(8, activation='relu')\nFlatten()",
            "Conv1D(4, 3)\nGlobalMaxPooling1D()",
            "Dropout(0.5)",
            "LSTM(4)",
            "Dense(os.system('x'))",
            "not python(",
            "Reshape((-1,))",
            "x = keras.Input((6,))\na = layers.Dense(6)(x)\ny = layers.add([a, x])",
            "x = keras.Input((6,))\ny = layers.concatenate([layers.Dense(2)(x), x])\nkeras.Model(x, y)",
            "x = keras.Input((6,))\ny = layers.add(x)",
            "a = keras.Input((6,))\nb = keras.Input((2,))\ny = layers.concatenate([a, layers.Dense(6)(b)])",
        ]
    )
    mode = rng.choice(["replace", "append"])
    from netbuilder.studio.layer_list import parse_layers

    try:
        pasted = parse_layers(text)
    except NetbuilderError:
        pasted = None
    if pasted is not None and m.commit(lambda s: pasted.onto(s, mode)):
        m.fit()
    at.text_area(key="paste_text").input(text)
    return at.button(key=f"paste_{mode}").click()


def act_import(at, m, rng):
    text = rng.choice(IMPORTS + KERAS_JSONS)
    if text.strip() and m.commit(lambda s: spec_from_keras_json(text, seed=s.seed)):
        m.refill()
    at.text_area(key="import_text").input(text)
    return at.button(key="import").click()


def act_preset(at, m, rng):
    name = rng.choice(list(presets.PRESETS))
    preset = presets.PRESETS[name]
    if at.selectbox(key="preset_name").value == name:  # loaded and unedited: choosing it again changes nothing
        return at
    if m.commit(lambda s: preset.spec):
        m.text = preset.input_text
    return at.selectbox(key="preset_name").set_value(name)  # choosing a preset loads it


def act_fix(at, m, rng):
    buttons = fix_buttons(at)
    if not buttons:
        return act_preset(at, m, rng)
    k = rng.randrange(len(buttons))
    fix = m.spec.analysis.issue.fixes[k]
    if m.commit(lambda s: s.apply_fix(fix)) and fix.action == "set_input_shape":
        m.fit()
    return buttons[k].click()


ACTIONS = [
    act_add,
    act_quick_add,
    act_setting,
    act_setting,
    act_setting,
    act_layer_button,
    act_clear,
    act_undo_redo,
    act_undo_redo,
    act_input_shape,
    act_inputs,
    act_seed,
    act_random_seed,
    act_input_text,
    act_paste,
    act_import,
    act_preset,
    act_fix,
    act_graph,
    act_graph,
    act_rename,
]


def check(at, m: Mirror, where: str):
    spec = model(at)
    assert isinstance(spec, ModelSpec), where
    spec.validate()
    assert spec == m.spec, where
    assert input_text(at) == m.text, where
    assert at.button(key="undo").disabled == (not m.history.can_undo), where
    assert at.button(key="redo").disabled == (not m.history.can_redo), where
    source = dot(at)
    if len(spec.layers) <= WINDOW_FROM:  # drawn whole (a loaded application is a window: test_graph checks those)
        assert source.count("->") == edge_count(spec), where
        assert edge_labels(source) == analysis_edges(spec), where
    assert at.number_input(key="seed").value == spec.seed, where


@pytest.mark.parametrize("sequence", range(SEQUENCES), ids=lambda i: f"seq_{i}")
def test_random_widget_actions_never_break_the_page_or_lose_the_model(sequence):
    rng = random.Random(sequence)
    at, m = open_app(), Mirror()
    check(at, m, "start")
    done = []
    for step in range(STEPS):
        action = rng.choice(ACTIONS)
        if action in (act_add, act_quick_add, act_layer_button, act_paste) and len(m.spec.layers) >= MAX_FUZZ_LAYERS:
            action = act_clear if rng.random() < 0.3 else act_undo_redo
        done.append(action.__name__)
        at = run(action(at, m, rng))
        check(at, m, f"sequence {sequence}, after {done}")
