"""The app through Streamlit's AppTest: widgets in, shapes, graph, summary and numbers out."""

import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from netbuilder import share
from netbuilder.graph import ERROR_FILL
from netbuilder.spec import LayerSpec, ModelSpec, seed_spec

PAGES = ["Build", "Forward pass", "Compare", "Explain", "Export"]
BUILD, FORWARD, COMPARE, EXPLAIN, EXPORT = range(len(PAGES))  # tab positions
SEED_EDGES = ["(None, 3, 2)", "(None, 3, 16)", "(None, 3, 16)", "(None, 48)", "(None, 4)"]


def open_app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return run(at)


def run(target) -> AppTest:
    """Run the app (an AppTest, or an element just acted on) and insist the page shows no exception."""
    at = target.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def page(at: AppTest, index: int):
    """Open a tab as a person would (only the open tab runs) and return it."""
    if at.session_state["page"] != PAGES[index]:
        at.session_state["page"] = PAGES[index]
        run(at)
    return at.tabs[index]


def model(at: AppTest) -> ModelSpec:
    return at.session_state.history.present


def dot(at: AppTest) -> str:
    (chart,) = at.get("graphviz_chart")
    return chart.proto.spec


def edge_labels(dot_source: str) -> list[str]:
    """Shapes on the edges, in the order the DOT lists them (input to output)."""
    return re.findall(r"->[^\[]*\[[^\]]*label=\"?<?\s*(\([^)]*\))", dot_source)


def texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "error", "warning", "info", "success")
                     for e in getattr(at, kind))


def layer_id(at: AppTest, index: int) -> int:
    return model(at).layers[index].id


def test_first_open_shows_the_seed_model_its_shapes_params_and_output():
    at = open_app()
    assert model(at) == seed_spec()
    assert edge_labels(dot(at)) == SEED_EDGES
    assert "Total params: 244" in texts(at)
    assert at.text_area(key="input_text").value == "[[[1, 2], [3, 4], [5, 6]]]"
    assert "Output for your input** — shape `(1, 4)`" in texts(at)


def test_forward_pass_values_equal_the_engine():
    at = open_app()
    expected = seed_spec().model().forward(np.array([[[1, 2], [3, 4], [5, 6]]], dtype=np.float32))
    np.testing.assert_array_equal(at.dataframe[1].value.to_numpy(), expected[-1][0][None, :])  # Build: the output
    tab = page(at, FORWARD)
    np.testing.assert_array_equal(tab.dataframe[0].value.to_numpy(), expected[-1][0][None, :])
    assert len(tab.get("image")) == len(expected) + 2  # a heatmap per tensor, and each Dense's kernel
    for i, tensor in enumerate(expected):  # every tensor's numbers, picked one by one
        run(at.selectbox(key="tensor_numbers").set_value(i))
        np.testing.assert_array_equal(at.dataframe[1].value.to_numpy(), tensor[0].reshape(-1, tensor.shape[-1]))


def test_summary_rows_and_formulas():
    at = open_app()
    summary = at.dataframe[0].value
    assert list(summary["Layer (type)"]) == ["dense (Dense)", "activation (Activation)", "flatten (Flatten)", "dense_1 (Dense)"]
    assert list(summary["Output Shape"]) == ["(None, 3, 16)", "(None, 3, 16)", "(None, 48)", "(None, 4)"]
    assert list(summary["Param #"]) == [48, 0, 0, 196]
    assert list(summary["Formula"]) == ["2×16 + 16 = 48", "", "", "48×4 + 4 = 196"]


def test_add_a_layer_at_the_end_and_at_a_position():
    at = open_app()
    at.selectbox(key="add_kind").set_value("Activation")
    run(at.button(key="add").click())
    assert [l.kind for l in model(at).layers] == ["Dense", "Activation", "Flatten", "Dense", "Activation"]
    at.selectbox(key="add_kind").set_value("Flatten")
    at.selectbox(key="add_position").set_value("1. before dense")
    run(at.button(key="add").click())
    assert [l.kind for l in model(at).layers][:2] == ["Flatten", "Dense"]
    assert edge_labels(dot(at))[:3] == ["(None, 3, 2)", "(None, 6)", "(None, 16)"]


def test_edit_units_activation_bias_and_data_format():
    at = open_app()
    first, flatten = layer_id(at, 0), layer_id(at, 2)
    run(at.number_input(key=f"units_{first}").set_value(8))
    assert model(at).layers[0].units == 8
    assert edge_labels(dot(at))[1] == "(None, 3, 8)"
    run(at.selectbox(key=f"activation_{first}").set_value("tanh"))
    run(at.checkbox(key=f"use_bias_{first}").uncheck())
    run(at.selectbox(key=f"data_format_{flatten}").set_value("channels_first"))
    layer = model(at).layers[0]
    assert (layer.units, layer.activation, layer.use_bias) == (8, "tanh", False)
    assert model(at).layers[2].data_format == "channels_first"
    assert at.dataframe[0].value["Param #"].tolist()[0] == 2 * 8


def test_delete_move_duplicate_and_clear():
    at = open_app()
    run(at.button(key=f"delete_{layer_id(at, 2)}").click())  # the Flatten
    assert edge_labels(dot(at))[-1] == "(None, 3, 4)"
    run(at.button(key=f"up_{layer_id(at, 1)}").click())
    assert [l.kind for l in model(at).layers] == ["Activation", "Dense", "Dense"]
    run(at.button(key=f"down_{layer_id(at, 0)}").click())
    assert [l.kind for l in model(at).layers] == ["Dense", "Activation", "Dense"]
    run(at.button(key=f"duplicate_{layer_id(at, 0)}").click())
    assert [l.kind for l in model(at).layers] == ["Dense", "Dense", "Activation", "Dense"]
    assert len({l.id for l in model(at).layers}) == 4
    run(at.button(key="clear").click())
    assert model(at).layers == ()
    assert edge_labels(dot(at)) == ["(None, 3, 2)"]


def test_deleting_layer_0_never_shifts_values_into_layer_1():
    """The stale-key regression: widget keys follow layer ids, not positions."""
    at = open_app()
    second = layer_id(at, 3)
    run(at.number_input(key=f"units_{second}").set_value(7))
    run(at.button(key=f"delete_{layer_id(at, 0)}").click())
    assert [l.kind for l in model(at).layers] == ["Activation", "Flatten", "Dense"]
    assert model(at).layers[2].units == 7
    assert at.number_input(key=f"units_{second}").value == 7
    assert at.number_input(key=f"units_{second}").value == model(at).layers[2].units


def test_a_rejected_edit_explains_and_keeps_the_last_good_model():
    at = open_app()
    first = layer_id(at, 0)
    run(at.number_input(key=f"units_{first}").set_value(10**6))
    assert model(at) == seed_spec()
    assert "65,536" in texts(at)
    assert at.number_input(key=f"units_{first}").value == 16  # the widget snaps back to the model
    run(at.text_input(key="input_shape_text").set_value("3, x"))
    assert model(at).input_shape == (3, 2)
    assert at.error


def test_a_model_that_does_not_fit_is_drawn_red_explained_and_fixable_then_undone():
    broken = ModelSpec((3, 2), (LayerSpec(0, "Dense", units=16), LayerSpec(1, "Dense", units=4, input_dim=48)), seed=0)
    at = open_app({"model": share.encode(broken)})
    failing = re.search(r"L1 \[([^\n]*)", dot(at)).group(1)
    assert f'fillcolor="{ERROR_FILL}"' in failing
    assert "expects an input whose last axis has size 48" in texts(at)
    fix = next(b for b in at.button if b.key and b.key.startswith("fix_") and "Flatten" in b.label)
    run(fix.click())
    assert [l.kind for l in model(at).layers] == ["Dense", "Flatten", "Dense"]
    assert model(at).analyze().ok and ERROR_FILL not in dot(at)
    run(at.button(key="undo").click())
    assert model(at) == broken
    run(at.button(key="redo").click())
    assert model(at).analyze().ok


@pytest.mark.parametrize("text, needle", [
    ("[[[1, 2], [3, 4], [5, 6]", "not a nested list of numbers: Expecting ',' delimiter at line 1, column 25"),
    ("[[[1, 2, 3], [3, 4, 5], [5, 6, 7]]]", "expected shape (batch, 3, 2) — e.g. (1, 3, 2) — or one sample (3, 2); received (1, 3, 3)"),
    ("hello", "not a nested list of numbers"),
    ("[[[1, 2], [3, 4]], [[1, 2]]]", "rows have different lengths"),
])
def test_bad_input_text_gets_a_precise_message(text, needle):
    at = open_app()
    run(at.text_area(key="input_text").input(text))
    errors = " ".join(e.value for e in at.error)
    assert needle in errors
    assert model(at) == seed_spec()


def test_a_single_sample_gets_a_batch_axis_and_says_so():
    at = open_app()
    run(at.text_area(key="input_text").input("[[1, 2], [3, 4], [5, 6]]"))
    assert "a batch axis was added: (1, 3, 2)" in texts(at)
    assert "shape `(1, 4)`" in texts(at)


def test_fill_buttons_give_input_of_the_model_shape():
    at = open_app()
    for kind in ("zeros", "range", "random"):
        run(at.button(key=f"fill_{kind}").click())
        assert np.asarray(json.loads(at.text_area(key="input_text").value)).shape[1:] == (3, 2)
        assert not at.error


def test_seed_changes_weights_reproducibly():
    at = open_app()
    before = at.dataframe[1].value.to_numpy()
    run(at.number_input(key="seed").set_value(7))
    after = at.dataframe[1].value.to_numpy()
    assert model(at).seed == 7 and not np.array_equal(before, after)
    x = np.array([[[1, 2], [3, 4], [5, 6]]], dtype=np.float32)
    np.testing.assert_array_equal(after, seed_spec().with_seed(7).model().predict(x))


def test_input_shape_of_every_rank():
    at = open_app()
    run(at.button(key="clear").click())
    for text, shape in [("", ()), ("5", (5,)), ("2, 3", (2, 3)), ("2, 3, 4", (2, 3, 4)), ("1, 2, 3, 4", (1, 2, 3, 4))]:
        run(at.text_input(key="input_shape_text").set_value(text))
        assert model(at).input_shape == shape
        assert edge_labels(dot(at)) == [str((None, *shape))]
        assert not at.error


def test_messages_quoting_what_a_visitor_typed_cannot_inject_markdown():
    at = open_app()
    run(at.text_input(key="input_shape_text").set_value("[click](http://x) <b>$x$"))
    (error,) = at.error
    assert "\\[click\\](http://x) \\<b\\>\\$x\\$" in error.value
    assert model(at) == seed_spec()
