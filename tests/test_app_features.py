"""The app's features through Streamlit's AppTest: compare, explain, fix-it, presets, undo/redo,
share links (also hostile and old ones), Keras import, export and the seed controls.

Every run goes through `run`, which insists the page shows no exception.
"""

import base64
import json
import random
import re
import zlib

import numpy as np
import pytest

from netbuilder import format_shape
from netbuilder.studio import data, explain, presets, share
from netbuilder.studio.models import built, main_output
from netbuilder.studio.run import fed
from netbuilder.studio.spec import LayerSpec, ModelSpec, seed_spec
from netbuilder.views import export, graph, heatmap
from netbuilder.views.graph import ERROR_FILL, WINDOW_FROM
from conftest import ROOT
from test_app import (
    BUILD,
    COMPARE,
    EXPLAIN,
    EXPORT,
    FORWARD,
    SEED_EDGES,
    dot,
    edge_labels,
    layer_id,
    model,
    open_app,
    number_grids,
    page,
    run,
    select,
    shown,
    texts,
)

SEED_INPUT = "[[[1, 2], [3, 4], [5, 6]]]"


def analysis_edges(spec: ModelSpec) -> list[str]:
    """The shapes the graph's edges must carry: the input, then each layer's output up to a failing layer; of a graph,
    each tensor a layer takes (up to the failing layer), then what each output carries."""
    analysis = spec.analysis
    if not spec.is_graph:
        return [format_shape(analysis.input_shape)] + [
            format_shape(r.output_shape) for r in analysis.layers if r.output_shape
        ]
    fail = analysis.issue.layer_index if analysis.issue else len(spec.layers)
    shape = lambda k: (None, *spec.input_shapes[-1 - k]) if k < 0 else analysis.layers[k].output_shape  # noqa: E731
    # a tensor taken twice by one layer (attention on itself: mha(x, x)) is one edge
    taken = [format_shape(shape(k)) for source in spec.sources[: fail + 1] for k in dict.fromkeys(source)]
    return taken + (
        [format_shape(analysis.layers[k].output_shape) for k in spec.output_positions] if analysis.ok else []
    )


def edge_count(spec: ModelSpec) -> int:
    """The graph's edges, drawn whole: one into each layer per tensor it takes (once, if it takes it twice), one into
    each output."""
    if not spec.is_graph:
        return len(spec.layers) + 1
    return sum(len(set(source)) for source in spec.sources) + len(spec.output_positions)


def input_text(at) -> str:
    return at.session_state["input_data"]


def type_input(at, text: str):
    select(at, "input")
    return run(at.text_area(key="input_text").input(text))


def forward_output(at) -> np.ndarray:
    """The Forward pass tab's numbers table, which starts on the model output: sample 0."""
    return number_grids(page(at, FORWARD))[0]


def test_choosing_a_preset_loads_it_with_no_other_click():
    at = open_app()
    assert at.selectbox(key="preset_name").value is None  # the seed model is no preset
    at = load_preset(at, "flatten-first")
    assert model(at) == presets.PRESETS["flatten-first"].spec and "Loaded **Flatten first**" in texts(at)
    at = load_preset(at, "mnist-convnet")
    assert model(at) == presets.PRESETS["mnist-convnet"].spec
    run(at.button(key="undo").click())
    assert model(at) == presets.PRESETS["flatten-first"].spec


def load_preset(at, name: str):
    return run(at.selectbox(key="preset_name").set_value(name))  # choosing a preset loads it


def fix_buttons(at) -> list:
    return [b for b in at.button if b.key and b.key.startswith("fix_")]


def expected_table(sample: np.ndarray) -> np.ndarray:
    """What number_table writes for one sample, flat: last axis as columns, everything else as rows, cut to 64 × 64
    and to the rows that fit in 512 numbers."""
    matrix = np.atleast_2d(sample.reshape(-1, sample.shape[-1]) if sample.ndim > 1 else sample)
    columns = min(matrix.shape[1], 64)
    return matrix[: max(1, min(64, 512 // columns)), :columns].ravel()


def check_compare_tab(at) -> list:
    """Rows, shapes, params and values of the Compare tab equal the engine's variants on the page's input."""
    tab = page(at, COMPARE)
    spec = model(at)
    variants = explain.variants(spec)
    x = data.parse_array(input_text(at), spec.input_shape).array
    rows = explain.compare(variants, x, 0, heatmap.CUT)
    titles = [m.value for m in tab.markdown if m.value.startswith("**")]
    assert titles == [f"**{name}**" for name in variants]
    metrics = [m.value for m in tab.metric]
    assert metrics[0::2] == [format_shape(r.output_shape) for r in rows]
    assert metrics[1::2] == [f"{r.total_params:,}" for r in rows]
    tables = number_grids(tab)
    assert len(tables) == len(rows)
    for table, variant in zip(tables, variants.values()):
        np.testing.assert_array_equal(table, expected_table(built(variant).predict(x)[0]))
    text = "\n".join(m.value for m in tab.markdown)
    for row in rows[1:]:
        assert row.difference and row.difference in text
    return rows


# --- Compare ----------------------------------------------------------------------------------
def test_compare_tab_for_the_seed_model():
    at = open_app()
    tab = page(at, COMPARE)
    assert [m.value for m in tab.metric] == ["(None, 4)", "244", "(None, 3, 4)", "116", "(None, 4)", "180"]
    rows = check_compare_tab(at)
    assert [r.name for r in rows] == ["current", "without Flatten", "Flatten first"]
    text = "\n".join(m.value for m in tab.markdown)
    assert (
        "Without Flatten, Dense(4) acts on each of the 3 rows separately: output (None, 3, 4) instead of (None, 4)"
        in text
    )
    assert "With Flatten first, Dense(16) sees all 6 values of each sample at once" in text
    assert [c.value for c in tab.caption][1] == "(None, 3, 2) → (None, 3, 16) → (None, 3, 16) → (None, 3, 4)"


def test_compare_follows_the_current_model_and_its_input():
    at = load_preset(open_app(), "dense-rank-3")
    rows = check_compare_tab(at)
    assert [r.name for r in rows] == ["current", "Flatten first"]  # without Flatten is the model itself
    assert [m.value for m in page(at, COMPARE).metric] == ["(None, 2, 3, 5)", "25", "(None, 5)", "125"]
    # a new input changes every row's values
    page(at, BUILD)
    select(at, "input")
    run(at.button(key="fill_random").click())
    check_compare_tab(at)


def test_compare_with_input_that_does_not_fit_shows_shapes_and_an_error():
    at = type_input(open_app(), "[1, 2, 3]")
    assert shown(at.error[0].value).startswith("Input data: expected shape (batch, 3, 2)")
    tab = page(at, COMPARE)
    assert [m.value for m in tab.metric] == ["(None, 4)", "244", "(None, 3, 4)", "116", "(None, 4)", "180"]
    assert not number_grids(tab)
    assert "showing shapes only" in tab.warning[0].value


# --- Explain ----------------------------------------------------------------------------------
def test_explain_tab_for_the_seed_model():
    at = open_app()
    tab = page(at, EXPLAIN)
    assert [c.value for c in tab.code] == ["(3, 2) @ (2, 16) + (16,) → (3, 16)"]
    text = "\n".join(shown(m.value) for m in tab.markdown)
    assert "#### 1. dense · Dense: (None, 3, 2) → (None, 3, 16)" in text
    assert "2×16 + 16 = 48 parameters, reused 3 times" in text
    assert "Contrast: Flatten → Dense(16): 6×16 + 16 = 112" in text
    assert "#### 3. flatten · Flatten: (None, 3, 16) → (None, 48)" in text
    assert "3×16 = 48 values per sample" in text  # each kind writes its own shape arithmetic


def test_explain_tab_says_so_when_every_dense_is_fully_connected():
    at = load_preset(open_app(), "flatten-first")
    assert not page(at, EXPLAIN).code
    assert "each Dense is fully connected" in texts(at)


# --- Fix-it -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n, p in presets.PRESETS.items() if p.broken])
def test_every_fix_of_every_broken_preset_repairs_it_and_undo_redo_follow(name):
    broken = presets.PRESETS[name].spec
    fixes = broken.analysis.issue.fixes
    for k, fix in enumerate(fixes):
        at = load_preset(open_app(), name)
        assert ERROR_FILL in dot(at)
        buttons = fix_buttons(at)
        assert [b.key for b in buttons] == [f"fix_{i}" for i in range(len(fixes))]
        assert buttons[k].label == f"Fix: {fix.description}"
        run(at.button(key=f"fix_{k}").click())
        fixed = model(at)
        assert fixed == broken.apply_fix(fix)
        assert fixed.analysis.ok and ERROR_FILL not in dot(at) and not fix_buttons(at)
        assert edge_labels(dot(at)) == analysis_edges(fixed)
        run(at.button(key="undo").click())
        assert model(at) == broken and ERROR_FILL in dot(at) and len(fix_buttons(at)) == len(fixes)
        run(at.button(key="redo").click())
        assert model(at) == fixed and ERROR_FILL not in dot(at)


def test_fix_for_the_built_for_48_preset_inserts_the_flatten():
    at = load_preset(open_app(), "broken-built-for-48")
    assert "expects an input whose last axis has size 48" in texts(at)
    assert "Keras 3 says" in texts(at)
    # the summary agrees with itself: its totals are its rows' sums, and it says the model stops at dense_1
    assert at.table[-1].value["Param #"].tolist() == ["48", "0", "196"]
    assert "Total params: 244" in texts(at) and "up to 'dense_1', where the model stops" in texts(at)
    run(at.button(key="fix_0").click())
    assert [layer.kind for layer in model(at).layers] == ["Dense", "Activation", "Flatten", "Dense"]
    assert model(at).layers[3].built_for == (48,)  # it kept its size: Flatten gives it the 48 it was built for
    assert edge_labels(dot(at)) == SEED_EDGES
    assert not at.error


def successes(at) -> list[str]:
    return [shown(s.value) for s in at.success]


def test_a_puzzle_repaired_by_hand_says_solved_once_and_loading_a_model_never_does():
    at = load_preset(open_app(), "broken-built-for-48")
    dense_1 = model(at).layers[2].id
    run(at.radio(key="selected").set_value(dense_1))
    run(at.button(key=f"delete_{dense_1}").click())  # by hand: without the Dense built for 48, the rest builds
    assert model(at).analysis.issue is None
    (solved,) = [s for s in successes(at) if s.startswith("Solved")]
    assert solved == "Solved: **Repair: a Dense built for 48 inputs** builds now: every shape fits, as Keras builds it."
    at.selectbox(key="add_kind").set_value("Activation")
    run(at.button(key="add").click())
    assert not any(s.startswith("Solved") for s in successes(at))  # once
    at = load_preset(at, "broken-built-for-48")
    load_preset(at, "flatten-first")  # a model that fits, loaded: nothing was solved
    assert not any(s.startswith("Solved") for s in successes(at))


# --- Presets ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_every_preset_loads_through_the_widgets(name):
    preset = presets.PRESETS[name]
    at = load_preset(open_app(), name)
    spec = model(at)
    assert spec == preset.spec
    assert input_text(at) == preset.input_text
    if len(spec.layers) <= WINDOW_FROM:  # drawn whole (a longer one is a window: test_graph checks those)
        assert edge_labels(dot(at)) == analysis_edges(spec)
    assert f"Loaded **{preset.title}**" in texts(at)
    issue = spec.analysis.issue
    assert (issue is not None) == preset.broken
    if preset.broken:
        assert issue.message in [shown(e.value) for e in at.error]
        assert ERROR_FILL in dot(at)
        assert len(fix_buttons(at)) == len(issue.fixes) and any(fix.action != "remove_layer" for fix in issue.fixes)
        assert "The model stops at" in page(at, FORWARD).warning[0].value
    else:
        assert not at.error and not fix_buttons(at) and ERROR_FILL not in dot(at)
        x = data.parse_array(preset.input_text, spec.input_shape).array
        shown_output = main_output(built(spec), fed(spec, x))  # of two outputs, the last layer's
        np.testing.assert_array_equal(forward_output(at), expected_table(shown_output[0]))


def test_add_positions_reach_past_a_failing_layer():
    """A broken model still offers a position before every layer, not only up to the failing one."""
    at = open_app()
    select(at, "input")
    run(at.text_input(key="input_shape_text").set_value(""))  # (None,): the first Dense fails
    assert model(at).analysis.issue.layer_index == 0
    select(at, 2)  # a layer past the failing one can be selected, edited, and added after
    at.selectbox(key="add_kind").set_value("Activation")
    run(at.button(key="add").click())
    assert [layer.kind for layer in model(at).layers] == ["Dense", "Activation", "Flatten", "Activation", "Dense"]


# --- Undo / redo ------------------------------------------------------------------------------
def test_sixty_edits_undo_fifty_redo_and_a_new_edit_clears_redo():
    small = ModelSpec(
        (2,), (LayerSpec.make(0, "Dense", units=3), LayerSpec.make(1, "Dense", units=2))
    )  # ~4× faster reruns
    at = open_app({"model": share.encode(small)})
    assert model(at) == small
    assert at.button(key="undo").disabled and at.button(key="redo").disabled
    names = [n for n in at.selectbox(key=f"activation_{layer_id(at, 0)}").options if n != "glu"]
    expected = [model(at)]
    for i in range(60):  # edits of the first layer (selected from the start) and the seed: no extra runs to select
        spec = expected[-1]
        step = i % 4
        first = spec.layers[0]
        if step == 0:
            run(at.number_input(key="seed").set_value(i + 1))
            spec = spec.with_seed(i + 1)
        elif step == 1:
            units = (i // 4) % 5 + 4  # 4..8: never the previous value (the layer starts at 3)
            run(at.number_input(key=f"units_{first.id}").set_value(units))
            spec = spec.update(first.id, units=units)
        elif step == 2:
            run(at.selectbox(key=f"activation_{first.id}").set_value(names[i % len(names)]))
            spec = spec.update(first.id, activation=names[i % len(names)])
        else:
            run(at.checkbox(key=f"use_bias_{first.id}").set_value(not first.use_bias))
            spec = spec.update(first.id, use_bias=not first.use_bias)
        assert model(at) == spec and spec != expected[-1]
        expected.append(spec)
    for back in range(1, 51):
        run(at.button(key="undo").click())
        assert model(at) == expected[-1 - back]
    assert model(at) == expected[10]
    assert edge_labels(dot(at)) == analysis_edges(expected[10])
    for forward in range(1, 6):
        run(at.button(key="redo").click())
        assert model(at) == expected[10 + forward]
    assert not at.button(key="redo").disabled
    run(at.button(key="clear").click())
    assert model(at).layers == ()
    assert at.button(key="redo").disabled and not at.session_state.history.can_redo
    run(at.button(key="undo").click())
    assert model(at) == expected[15]


def test_undo_and_redo_across_input_shapes_keep_the_input_runnable():
    at = load_preset(open_app(), "flatten-10x64")
    run(at.button(key="undo").click())
    assert model(at) == seed_spec()
    assert input_text(at) == data.format_array(data.fill("range", (3, 2)))
    assert "The input data was refilled with a range for the new shape (3, 2)." in texts(at)
    assert not at.error
    run(at.button(key="redo").click())
    assert input_text(at) == data.format_array(data.fill("range", (10, 64)))
    assert not at.error
    # a shape-keeping undo leaves the input as typed, even when it does not parse
    type_input(at, "not numbers")
    run(at.number_input(key="seed").set_value(3))
    run(at.button(key="undo").click())
    assert input_text(at) == "not numbers"


def test_undo_all_the_way_back_stops_at_the_first_model():
    at = open_app()
    run(at.button(key="clear").click())
    run(at.button(key="undo").click())
    assert model(at) == seed_spec() and at.button(key="undo").disabled


# --- Share links ------------------------------------------------------------------------------
def test_share_link_restores_model_input_and_output_in_a_fresh_session():
    at = open_app()
    first, flatten = layer_id(at, 0), layer_id(at, 2)
    run(at.number_input(key=f"units_{first}").set_value(7))
    run(at.selectbox(key=f"activation_{first}").set_value("tanh"))
    run(at.checkbox(key=f"use_bias_{first}").uncheck())
    select(at, 2)
    run(at.selectbox(key=f"data_format_{flatten}").set_value("channels_first"))
    at.selectbox(key="add_kind").set_value("Activation")
    run(at.button(key="add").click())
    run(at.number_input(key="seed").set_value(4242))
    type_input(at, "[[[0.5, -1], [2, 3.25], [1e-3, 7]], [[1, 1], [2, 2], [3, 3]]]")
    token = at.query_params["model"]
    assert token == share.encode(model(at), input_text(at))
    fresh = open_app({"model": token})
    assert model(fresh) == model(at)
    assert input_text(fresh) == input_text(at)
    np.testing.assert_array_equal(forward_output(fresh), forward_output(at))
    x = data.parse_array(input_text(at), model(at).input_shape).array
    np.testing.assert_array_equal(forward_output(fresh), expected_table(built(model(at)).predict(x)[0]))
    assert not fresh.warning and not fresh.error


def test_share_link_of_a_model_without_input_fills_a_range():
    spec = presets.PRESETS["dense-rank-3"].spec
    at = open_app({"model": share.encode(spec)})
    assert model(at) == spec
    assert input_text(at) == data.format_array(data.fill("range", spec.input_shape))


def _token(raw: bytes, version: str = "1") -> str:
    return version + "." + base64.urlsafe_b64encode(zlib.compress(raw, 9)).rstrip(b"=").decode()


def _layers_doc(layers) -> bytes:
    return json.dumps({"model": {"input_shape": [3, 2], "seed": 0, "layers": layers}}).encode()


GOOD = share.encode(seed_spec().with_seed(5), "[[1, 2], [3, 4], [5, 6]]")
HOSTILE = {
    "invalid base64": "1.@@not*base64@@",
    "bad base64 length": "1.abcde",
    "truncated": GOOD[: len(GOOD) // 2],
    "unknown version": "9" + GOOD[1:],
    "no version": GOOD[2:],
    "zlib bomb": _token(b'{"model": {"layers": [' + b" " * 20_000_000 + b"]}}"),
    "deeply nested": _token(b'{"model": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
    "units 10**12": _token(_layers_doc([{"id": 0, "kind": "Dense", "units": 10**12}])),
    "kind is a URL": _token(_layers_doc([{"id": 0, "kind": "https://evil.example/login"}])),
    "kind is an icon": _token(_layers_doc([{"id": 0, "kind": ":material/warning: [x](javascript:alert(1))"}])),
    "kind is an entity URL": _token(_layers_doc([{"id": 0, "kind": "https&colon;//evil.example/login"}])),
    "kind is an e-mail": _token(_layers_doc([{"id": 0, "kind": "admin@evil.example"}])),
    "5000 layers": _token(_layers_doc([{"id": i, "kind": "Flatten"} for i in range(5000)])),
    "1201 layers": _token(_layers_doc([{"id": i, "kind": "Activation"} for i in range(1201)])),
    "not JSON": _token(b"\xff\xfe not json"),
    "no model": _token(b'{"input": "[1]"}'),
    "input not text": _token(json.dumps({"model": seed_spec().to_dict(), "input": [1, 2]}).encode()),
    "huge input shape": _token(json.dumps({"model": {"input_shape": [10**9, 10**9], "layers": []}}).encode()),
    "100 KB value": "1." + "A" * 100_000,
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_link_opens_the_seed_model_with_a_short_warning(name):
    at = open_app({"model": HOSTILE[name]})  # (AppTest's own timeout bounds how long it may take)
    assert model(at) == seed_spec()
    assert input_text(at) == SEED_INPUT
    (warning,) = [w.value for w in at.warning if "shared link could not be opened" in w.value]
    assert len(warning) < 400, warning
    assert "https://evil" not in warning and ":material/" not in warning  # no auto-link, no icon shortcode
    assert not re.search(r"(?<!\\)\]\(", warning)  # no Markdown link: every ] is escaped
    assert edge_labels(dot(at)) == SEED_EDGES
    assert at.query_params["model"] == share.encode(seed_spec(), SEED_INPUT)  # the address bar is fixed


def test_a_3_mb_link_opens_the_seed_model():
    """Streamlit itself drops query strings over 512 KiB, so the app never sees this one."""
    at = open_app({"model": "1." + "A" * 3_000_000})
    assert model(at) == seed_spec() and input_text(at) == SEED_INPUT
    assert at.query_params["model"] == share.encode(seed_spec(), SEED_INPUT)


def test_an_empty_link_opens_the_seed_model_quietly():
    at = open_app({"model": ""})
    assert model(at) == seed_spec() and input_text(at) == SEED_INPUT
    assert not at.warning and not at.error


def test_the_share_expander_shows_the_current_link():
    at = open_app()
    run(at.button(key="clear").click())
    (url,) = [c.value for c in at.code]  # inside the Share popover
    assert url.endswith("?model=" + share.encode(model(at), SEED_INPUT))


def test_input_text_too_big_for_a_link_leaves_it_out_and_never_breaks_the_page():
    """Input that makes the token exceed the link limit (escaped non-ASCII) must not crash sync_link."""
    rng = random.Random(1)
    garbage = "".join(chr(rng.randint(0x10000, 0x10FFFF)) for _ in range(2000))  # 12 escaped bytes each
    at = open_app()
    with pytest.raises(share.ShareLinkError):
        share.encode(model(at), garbage)  # the premise: model and input together do not fit a link
    type_input(at, garbage)
    assert input_text(at) == garbage
    assert any("Input data:" in e.value for e in at.error)
    assert share.decode(at.query_params["model"])[:2] == (model(at), None)  # the model alone is shared
    assert "input data is not in this link" in texts(at)
    run(at.text_area(key="input_text").input(SEED_INPUT))
    assert share.decode(at.query_params["model"])[:2] == (model(at), SEED_INPUT)


# --- Import -----------------------------------------------------------------------------------
def _import(at, text: str):
    at.text_area(key="import_text").input(text)
    return run(at.button(key="import").click())


def test_import_a_real_keras_model_json():
    import keras

    km = keras.Sequential(
        [
            keras.Input(shape=(3, 2)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Flatten(data_format="channels_first"),
            keras.layers.Dense(5, activation="softmax", use_bias=False),
            keras.layers.Activation("tanh"),
            keras.layers.Dense(3, activation="swish"),
        ]
    )
    at = open_app()
    run(at.number_input(key="seed").set_value(11))
    at = _import(at, km.to_json())
    spec = model(at)
    assert spec.seed == 11
    assert spec.input_shape == (3, 2)
    settings = [
        (layer.kind, layer.units, layer.activation, layer.use_bias)
        if layer.kind == "Dense"
        else (layer.kind, layer.data_format)
        if layer.kind == "Flatten"
        else (layer.kind, layer.activation)
        for layer in spec.layers
    ]
    assert [layer.built_for for layer in spec.layers] == [
        (3, 2),
        None,
        (24,),
        None,
        (5,),
    ]  # build_configs of layers with weights
    assert settings == [
        ("Dense", 8, "relu", True),
        ("Flatten", "channels_first"),
        ("Dense", 5, "softmax", False),
        ("Activation", "tanh"),
        ("Dense", 3, "silu", True),
    ]
    keras_shapes = [format_shape(layer.output.shape) for layer in km.layers]
    assert [format_shape(r.output_shape) for r in spec.analysis.layers] == keras_shapes
    assert edge_labels(dot(at)) == ["(None, 3, 2)", *keras_shapes]
    assert at.table[-1].value["Param #"].tolist() == [f"{layer.count_params():,}" for layer in km.layers]
    assert "Imported a model with 5 layers" in texts(at)
    assert input_text(at) == data.format_array(data.fill("range", (3, 2)))
    # editable like any other model, and undo brings back the one before the import
    run(at.number_input(key=f"units_{layer_id(at, 0)}").set_value(4))
    assert model(at).layers[0].units == 4
    run(at.button(key="undo").click())
    run(at.button(key="undo").click())
    assert model(at) == seed_spec().with_seed(11)


def test_import_names_unsupported_layers_and_keeps_the_model():
    import keras

    km = keras.Sequential(
        [
            keras.Input(shape=(4, 4, 4, 1)),
            keras.layers.Conv3D(2, 3),
            keras.layers.GaussianNoise(0.5),
            keras.layers.Flatten(),
            keras.layers.Dense(4),
        ]
    )
    at = _import(open_app(), km.to_json())
    assert model(at) == seed_spec()
    (error,) = [shown(e.value) for e in at.error]
    assert f"{km.layers[0].name} (Conv3D)" in error and f"{km.layers[1].name} (GaussianNoise)" in error
    assert "The model was kept as it was" in error


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[]",
        '{"class_name": "Functional", "config": {}}',
        '{"class_name": "Sequential", "config": {"layers": "no"}}',
        '{"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {"units": 4}}]}}',
        '{"class_name": "Sequential", "config": {"layers": ['
        '{"class_name": "InputLayer", "config": {"batch_shape": [null, 3]}},'
        ' {"class_name": "Dense", "config": {"units": 1000000}}]}}',
        "[" * 100_000,
        "\x00\x01",  # (a lone surrogate cannot even reach the app: AppTest's protobuf refuses it)
    ],
)
def test_garbage_import_shows_an_error_and_keeps_the_model(text):
    at = _import(open_app(), text)
    assert model(at) == seed_spec()
    assert input_text(at) == SEED_INPUT
    assert len(at.error) == 1 and "Could not import the Keras JSON" in at.error[0].value


def test_empty_import_asks_for_json():
    # File upload cannot be driven through AppTest (it has no file_uploader element API);
    # the upload path only reads the file's text and then shares this code path.
    at = _import(open_app(), "   ")
    assert model(at) == seed_spec()
    assert "Paste a Keras model JSON" in at.error[0].value


# --- Export -----------------------------------------------------------------------------------
DOWNLOADS = ["dl_code", "dl_dot", "dl_svg", "dl_png"]


def shown_code(at) -> str:
    (code,) = page(at, EXPORT).code
    return code.value


def test_export_tab_shows_the_code_of_each_format_and_offers_every_download():
    at = open_app()
    keys = [b.key for b in page(at, EXPORT).get("download_button")]
    assert keys == (DOWNLOADS if graph.dot_available() else DOWNLOADS[:2])
    # (st.code drops a file's final newline)
    assert shown_code(at) == export.keras_code(built(model(at))).rstrip("\n")  # Keras code first, to read and copy
    run(at.segmented_control(key="export_format").set_value("PyTorch code"))
    assert shown_code(at) == export.pytorch_code(built(model(at))).rstrip("\n")
    run(at.segmented_control(key="export_format").set_value("Keras JSON"))
    assert shown_code(at) == export.keras_json(built(model(at)))
    page(at, BUILD)  # the layer editor lives on the Build tab
    select(at, 3)
    run(at.number_input(key=f"units_{layer_id(at, 3)}").set_value(9))
    page(at, EXPORT)
    run(at.segmented_control(key="export_format").set_value("Keras JSON"))
    assert json.loads(shown_code(at))["config"]["layers"][-1]["config"]["units"] == 9


def test_export_of_a_broken_model_offers_only_the_graph():
    at = load_preset(open_app(), "broken-odd-glu")
    assert [b.key for b in page(at, EXPORT).get("download_button")] == ["dl_dot"]
    assert "Fix the model first" in page(at, EXPORT).warning[0].value


# --- Seed -------------------------------------------------------------------------------------
def test_random_seed_button_changes_seed_and_weights():
    at = open_app()
    before = forward_output(at)
    run(at.button(key="random_seed").click())
    seed = model(at).seed
    assert seed != 0 and at.number_input(key="seed").value == seed
    after = forward_output(at)
    assert not np.array_equal(before, after)
    x = data.parse_array(SEED_INPUT, (3, 2)).array
    np.testing.assert_array_equal(after, built(seed_spec().with_seed(seed)).predict(x)[0])
    run(at.button(key="undo").click())
    assert model(at).seed == 0


@pytest.mark.parametrize("value", [-1, 1_000_000, 10**15])
def test_an_out_of_range_seed_is_refused(value):
    at = open_app()
    run(at.number_input(key="seed").set_value(value))
    assert model(at) == seed_spec() and at.number_input(key="seed").value == 0
    assert "Could not set the seed" in at.error[0].value


def test_input_shape_change_refills_the_input_and_says_so():
    at = open_app()
    select(at, "input")
    run(at.text_input(key="input_shape_text").set_value("4, 2"))
    assert model(at).input_shape == (4, 2)
    assert input_text(at) == data.format_array(data.fill("range", (4, 2)))
    assert "The input data was refilled with a range for the new shape (4, 2)." in texts(at)
    assert edge_labels(dot(at))[:2] == ["(None, 4, 2)", "(None, 4, 16)"]
    # the same shape again: the input still fits, so it is kept and nothing is said
    run(at.text_area(key="input_text").input("[[[1, 1], [2, 2], [3, 3], [4, 4]]]"))
    run(at.text_input(key="input_shape_text").set_value("(4, 2)"))
    assert input_text(at) == "[[[1, 1], [2, 2], [3, 3], [4, 4]]]"
    assert "refilled" not in texts(at)
    # a refused shape keeps both the model and the input
    run(at.text_input(key="input_shape_text").set_value("4, 0"))
    assert model(at).input_shape == (4, 2) and input_text(at) == "[[[1, 1], [2, 2], [3, 3], [4, 4]]]"
    assert at.text_input(key="input_shape_text").value == "4, 2"


def test_a_link_made_before_layer_kinds_declared_their_settings_opens_the_same_model():
    case = next(
        c
        for c in json.load(open(ROOT / "tests" / "data" / "links_v1.json"))["links"]
        if "output_for_random_1_batch_2" in c
    )
    at = open_app({"model": case["token"]})
    assert not at.warning
    assert edge_labels(dot(at))[-1] == format_shape(tuple(case["output_shape"]))
    assert at.query_params["model"].startswith("2.")  # the address bar now holds today's form of the link
