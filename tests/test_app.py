"""The app through Streamlit's AppTest: widgets in, shapes, graph, summary and numbers out.

No AppTest module imports Keras: in the same process it makes every AppTest run about 4× slower (measured on the
app fuzz: 13 s against 47 s). Keras checks the engine in the other test modules."""

import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from netbuilder.studio import explain, share
from netbuilder.studio.models import built
from netbuilder.studio.spec import LayerSpec, ModelSpec, seed_spec
from netbuilder.views.graph import ERROR_FILL, SELECTED_FILL

PAGES = ["Build", "Forward pass", "Train", "Compare", "Explain", "Export"]
BUILD, FORWARD, TRAIN, COMPARE, EXPLAIN, EXPORT = range(len(PAGES))  # tab positions
SEED_EDGES = ["(None, 3, 2)", "(None, 3, 16)", "(None, 3, 16)", "(None, 48)", "(None, 4)"]
SEED_X = np.array([[[1, 2], [3, 4], [5, 6]]], dtype=np.float32)


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
    return re.findall(r"->[^\[]*\[label=<<b>(\([^)]*\))</b>>", dot_source)


def shown(markdown: str) -> str:
    """Markdown source as a reader sees it: escapes resolved, zero-width joiners gone."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u200d", "")


def texts(at: AppTest) -> str:
    return "\n".join(
        shown(str(e.value))
        for kind in ("markdown", "caption", "error", "warning", "info", "success")
        for e in getattr(at, kind)
    )


def select(at: AppTest, layer) -> AppTest:
    """Pick a layer (by position) or "input" in the layer list."""
    value = "input" if layer == "input" else model(at).layers[layer].id
    return run(layer_list(at).set_value(value))


def layer_list(at: AppTest):
    """The layer list: a radio, or past ui.build.RADIO_MOST entries a box to search by name."""
    return next(widget for widget in [*at.radio, *at.selectbox] if widget.key == "selected")


def layer_id(at: AppTest, index: int) -> int:
    return model(at).layers[index].id


def number_grids(root) -> list[np.ndarray]:
    """The numbers of each number table under `root` (ui.widgets.number_table) in order, flat, read exactly from
    each cell's title (where a person hovers to see every digit)."""
    return [
        np.array(re.findall(r' title="([^"]*)"', e.value), dtype=np.float32)
        for e in root.get("html")
        if 'class="nb-grid"' in e.value
    ]


def grid_texts(root) -> list[list[str]]:
    """Each number grid's numbers as a person reads them in its cells."""
    return [re.findall(r"<span>([^<]*)</span>", e.value) for e in root.get("html") if 'class="nb-grid"' in e.value]


def output_values(at: AppTest) -> np.ndarray:
    """The Build page's output numbers (its first number table), flat."""
    return number_grids(at)[0]


def test_first_open_shows_the_seed_model_its_shapes_params_and_output():
    at = open_app()
    assert model(at) == seed_spec()
    assert edge_labels(dot(at)) == SEED_EDGES
    assert "Total params: 244" in texts(at)
    assert "Output for your input** — shape `(1, 4)`" in texts(at)
    np.testing.assert_array_equal(output_values(at), built(seed_spec()).predict(SEED_X)[0])
    assert "New here?" in texts(at)  # what to try first
    select(at, "input")
    assert at.text_area(key="input_text").value == "[[[1, 2], [3, 4], [5, 6]]]"


def test_the_summary_shows_cost_like_torchinfo():
    at = open_app()
    assert "Forward pass: 288 mult-adds per sample · peak memory" in texts(at)
    assert list(at.table[-1].value["Mult-adds"]) == ["96", "0", "0", "192"]  # 3·2·16, 48·4


def test_forward_pass_values_equal_the_engine():
    at = open_app()
    expected = built(seed_spec()).forward(SEED_X)
    tab = page(at, FORWARD)
    assert len(tab.get("image")) == 1 + len(expected) + 1 + 4  # the legend, a heatmap per tensor, saliency, weights
    for i, tensor in enumerate(expected):  # every tensor's numbers, picked one by one
        run(at.selectbox(key="tensor_numbers").set_value(i))
        np.testing.assert_array_equal(number_grids(page(at, FORWARD))[0], tensor[0].ravel())
    weights = [e.label for e in tab.expander]
    assert weights == ["dense (Dense): kernel (2, 16), bias (16,)", "dense_1 (Dense): kernel (48, 4), bias (4,)"]


def test_summary_rows_and_formulas():
    at = open_app()
    summary = at.table[-1].value
    assert list(summary["Layer (type)"]) == [
        "dense (Dense)",
        "activation (Activation)",
        "flatten (Flatten)",
        "dense_1 (Dense)",
    ]
    assert list(summary["Output Shape"]) == ["(None, 3, 16)", "(None, 3, 16)", "(None, 48)", "(None, 4)"]
    assert list(summary["Param #"]) == ["48", "0", "0", "196"]
    assert list(summary["Formula"]) == ["2×16 + 16 = 48", "", "", "48×4 + 4 = 196"]


def test_add_layers_after_the_selected_one_at_the_end_and_many_at_once():
    at = open_app()
    at.selectbox(key="add_kind").set_value("Activation")
    at.selectbox(key="add_where").set_value("at the end")
    run(at.button(key="add").click())
    assert [layer.kind for layer in model(at).layers] == ["Dense", "Activation", "Flatten", "Dense", "Activation"]
    assert at.radio(key="selected").value == layer_id(at, 4)  # the new layer is selected
    select(at, "input")
    at.selectbox(key="add_kind").set_value("Flatten")
    at.selectbox(key="add_where").set_value("after the selected layer")
    run(at.button(key="add").click())
    assert [layer.kind for layer in model(at).layers][:2] == ["Flatten", "Dense"]
    assert edge_labels(dot(at))[:3] == ["(None, 3, 2)", "(None, 6)", "(None, 16)"]
    at.selectbox(key="add_kind").set_value("Dense")
    at.number_input(key="add_count").set_value(30)
    run(at.button(key="add").click())  # 30 layers in one round trip
    assert len(model(at).layers) == 36 and at.radio(key="selected").value == layer_id(at, 30)
    assert at.number_input(key="add_count").value == 1  # the count was for that Add; the next adds one again
    run(at.toggle(key="graph_whole").set_value(True))  # the whole model, not the window around the selected layer
    assert len(edge_labels(dot(at))) == 37


def test_the_keras_mnist_convnet_is_built_by_widgets_in_15_clicks_and_3_typed_values():
    """Keras's MNIST example, Conv2D(32, 3, relu), MaxPooling2D(2), Conv2D(64, 3, relu), MaxPooling2D(2), Flatten,
    Dropout(0.5), Dense(10, softmax), one click per layer with the quick-add row, each setting where its layer is."""
    at = run(open_app().button(key="clear").click())  # 1
    at = run(select(at, "input").text_input(key="input_shape_text").set_value("28, 28, 1"))  # 2, typed 1
    clicks = 2

    def add(kind: str, **settings):
        nonlocal at, clicks
        at, clicks = run(at.button(key=f"quick_{kind}").click()), clicks + 1
        layer = model(at).layers[-1].id
        for name, value in settings.items():  # a number typed, or a choice: two clicks (open, pick)
            widget = (
                at.selectbox(key=f"{name}_{layer}")
                if isinstance(value, str)
                else at.number_input(key=f"{name}_{layer}")
            )
            at, clicks = run(widget.set_value(value)), clicks + (2 if isinstance(value, str) else 0)

    add("Conv2D", activation="relu")
    add("MaxPooling2D")
    add("Conv2D", filters=64, activation="relu")  # typed 2
    add("MaxPooling2D")
    add("Flatten")
    add("Dropout")
    add("Dense", units=10, activation="softmax")  # typed 3
    assert clicks == 15
    spec = model(at)  # Keras's figure for this model, by hand: 3·3·1·32+32; 3·3·32·64+64; 5·5·64·10+10
    assert spec.analysis.total_params == 320 + 18_496 + 16_010 and spec.analysis.output_shape == (None, 10)
    assert [layer.label() for layer in spec.layers] == [
        "32 3×3 valid relu",
        "2×2 valid",
        "64 3×3 valid relu",
        "2×2 valid",
        "channels_last",
        "rate 0.5",
        "10 units, softmax",
    ]


def test_past_12_layers_the_graph_is_a_window_around_the_selected_layer():
    at = open_app(
        {"model": share.encode(ModelSpec((8,), tuple(LayerSpec.make(i, "Dense", units=i + 1) for i in range(30)), 0))}
    )
    select(at, 28)
    source = dot(at)
    nodes = re.findall(r"^\t(\w+) \[label", source, re.M)
    assert nodes == ["input", "more0", "L26", "L27", "L28", "L29", "output"]  # 26 folded above, one after the selected
    assert "<b>26 layers above</b>" in source and 'color="#d97706"' in source.split("\tL28 [")[1].split("\n")[0]
    # every shape stays on the edges: into the fold, out of it, and between the layers drawn
    assert edge_labels(source) == ["(None, 8)", "(None, 26)", "(None, 27)", "(None, 28)", "(None, 29)", "(None, 30)"]
    select(at, "input")  # the input selected: the window starts at the top
    assert re.findall(r"^\t(\w+) \[label", dot(at), re.M) == ["input", "L0", "L1", "L2", "more3", "output"]
    run(at.toggle(key="graph_whole").set_value(True))
    assert len(edge_labels(dot(at))) == 31


def test_edit_the_selected_layers_generated_settings():
    at = open_app()
    first = layer_id(at, 0)
    run(at.number_input(key=f"units_{first}").set_value(8))
    assert model(at).layers[0].units == 8
    assert edge_labels(dot(at))[1] == "(None, 3, 8)"
    run(at.selectbox(key=f"activation_{first}").set_value("tanh"))
    run(at.checkbox(key=f"use_bias_{first}").uncheck())
    layer = model(at).layers[0]
    assert (layer.units, layer.activation, layer.use_bias) == (8, "tanh", False)
    assert at.table[-1].value["Param #"].tolist()[0] == str(2 * 8)
    flatten = layer_id(at, 2)
    select(at, 2)
    run(at.selectbox(key=f"data_format_{flatten}").set_value("channels_first"))
    assert model(at).layers[2].data_format == "channels_first"
    assert f"L{flatten} [" in dot(at) and SELECTED_FILL in re.search(rf"L{flatten} \[[^\n]*", dot(at)).group(0)


def test_the_settings_panel_heads_with_the_selected_layers_own_shapes():
    spec = ModelSpec(
        (28, 28, 1),
        (
            LayerSpec.make(0, "Conv2D", filters=8, kernel_size=(3, 3)),
            LayerSpec.make(1, "Dense", (48,), units=4),
            LayerSpec.make(2, "Flatten"),
        ),
    )
    at = open_app({"model": share.encode(spec)})
    header = next(m for m in at.markdown if m.value.startswith("**conv2d**"))
    assert header.value == "**conv2d** · Conv2D · `(None, 28, 28, 1)` → `(None, 26, 26, 8)`"
    assert "e.g. (None, 28, 28, 1) → (None, 26, 26, 32)" in header.help  # the kind's example (32 filters), apart
    select(at, 1)
    assert "**dense** · Dense · `(None, 26, 26, 8)` does not fit it (see under the graph)" in texts(at)
    select(at, 2)
    assert "**flatten** · Flatten · not reached (a layer before it does not fit)" in texts(at)


def test_the_forward_page_draws_an_images_channels_as_tiles_in_its_layout():
    spec = ModelSpec(
        (28, 28, 1),
        (
            LayerSpec.make(0, "Conv2D", filters=40, kernel_size=(3, 3)),
            LayerSpec.make(1, "Conv2D", filters=4, kernel_size=(3, 3), data_format="channels_first"),
            LayerSpec.make(2, "Flatten"),
            LayerSpec.make(3, "Reshape", target_shape=(4, 24, 38)),
        ),
    )
    at = open_app({"model": share.encode(spec, "random:1")})
    captions = [c.value for c in page(at, FORWARD).caption]
    assert "One 28×28 picture per channel (the last axis), channel 0 first, left to right." in captions
    assert (
        "One 26×26 picture per channel (the last axis), channel 0 first, left to right; 32 of 40 channels." in captions
    )
    # channels_first: (None, 4, 24, 38) is 4 channels of 24×38; after Flatten and Reshape the layout is channels_last
    # again
    assert "One 24×38 picture per channel (the first axis, channels_first), channel 0 first, left to right." in captions
    assert (
        "One 4×24 picture per channel (the last axis), channel 0 first, left to right; 32 of 38 channels." in captions
    )


def test_delete_move_duplicate_and_clear():
    at = open_app()
    select(at, 2)
    run(at.button(key=f"delete_{layer_id(at, 2)}").click())  # the Flatten
    assert edge_labels(dot(at))[-1] == "(None, 3, 4)"
    select(at, 1)
    run(at.button(key=f"up_{layer_id(at, 1)}").click())
    assert [layer.kind for layer in model(at).layers] == ["Activation", "Dense", "Dense"]
    run(at.button(key=f"down_{model(at).layers[0].id}").click())
    assert [layer.kind for layer in model(at).layers] == ["Dense", "Activation", "Dense"]
    select(at, 0)
    at.number_input(key="duplicate_count").set_value(3)
    run(at.button(key=f"duplicate_{layer_id(at, 0)}").click())
    assert [layer.kind for layer in model(at).layers] == ["Dense"] * 4 + ["Activation", "Dense"]
    assert len({layer.id for layer in model(at).layers}) == 6
    assert at.number_input(key="duplicate_count").value == 1
    run(at.button(key="clear").click())
    assert model(at).layers == ()
    assert edge_labels(dot(at)) == ["(None, 3, 2)"]


def test_deleting_layer_0_never_shifts_values_into_layer_1():
    """The stale-key regression: widget keys follow layer ids, not positions."""
    at = open_app()
    second = layer_id(at, 3)
    select(at, 3)
    run(at.number_input(key=f"units_{second}").set_value(7))
    select(at, 0)
    run(at.button(key=f"delete_{layer_id(at, 0)}").click())
    assert [layer.kind for layer in model(at).layers] == ["Activation", "Flatten", "Dense"]
    assert model(at).layers[2].units == 7
    select(at, 2)
    assert at.number_input(key=f"units_{second}").value == 7


def test_a_rejected_edit_explains_next_to_the_editor_and_keeps_the_last_good_model():
    at = open_app()
    first = layer_id(at, 0)
    run(at.number_input(key=f"units_{first}").set_value(10**6))
    assert model(at) == seed_spec()
    (error,) = at.tabs[BUILD].columns[1].error  # in the editor's column, beside the widget
    assert "65,536" in error.value and error.value.endswith("The model was kept as it was.")
    assert at.number_input(key=f"units_{first}").value == 16  # the widget snaps back to the model
    select(at, "input")
    run(at.text_input(key="input_shape_text").set_value("3, x"))
    assert model(at).input_shape == (3, 2)
    assert at.error


def test_a_model_that_does_not_fit_is_drawn_red_explained_and_fixable_then_undone():
    broken = ModelSpec(
        (3, 2), (LayerSpec.make(0, "Dense", units=16), LayerSpec.make(1, "Dense", (48,), units=4)), seed=0
    )
    at = open_app({"model": share.encode(broken)})
    failing = re.search(r"L1 \[([^\n]*)", dot(at)).group(1)
    assert f'fillcolor="{ERROR_FILL}"' in failing
    assert "expects an input whose last axis has size 48" in texts(at)
    fixes = [b for b in at.button if b.key and b.key.startswith("fix_")]
    assert any("it turns (None, 3, 16) into (None, 48)" in b.label for b in fixes)  # the whole promise, not cut
    run(next(b for b in fixes if "Flatten" in b.label).click())
    assert [layer.kind for layer in model(at).layers] == ["Dense", "Flatten", "Dense"]
    assert model(at).analysis.ok and ERROR_FILL not in dot(at)
    assert "Done: insert Flatten" in texts(at)
    run(at.button(key="undo").click())
    assert model(at) == broken
    run(at.button(key="redo").click())
    assert model(at).analysis.ok


def test_a_broken_model_still_shows_the_output_of_the_layers_before_the_failing_one():
    broken = ModelSpec(
        (3, 2), (LayerSpec.make(0, "Dense", units=16), LayerSpec.make(1, "Dense", (48,), units=4)), seed=0
    )
    at = open_app({"model": share.encode(broken, "[[[1, 2], [3, 4], [5, 6]]]")})
    assert "Output of the layers before dense_1** — shape `(1, 3, 16)`" in texts(at)
    tab = page(at, FORWARD)
    assert "The model stops at dense_1" in " ".join(w.value for w in tab.warning)
    assert len(tab.get("image")) == 1 + 2 + 2  # the legend, the input and dense's output, dense's two weights
    tab = page(at, EXPLAIN)
    assert "does not fit" in texts(at) and "expects an input whose last axis has size 48" in texts(at)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[[[1, 2], [3, 4], [5, 6]", "a comma (or a closing ]) is missing at line 1, column 25"),
        (
            "[[[1, 2, 3], [3, 4, 5], [5, 6, 7]]]",
            "expected shape (batch, 3, 2) — e.g. (1, 3, 2) — or one sample (3, 2); received (1, 3, 3).",
        ),
        ("hello", "the input is not a nested list of numbers"),
        ("[[[1, 2], [3, 4]], [[1, 2]]]", "rows have different lengths"),
    ],
)
def test_bad_input_text_gets_a_message_in_words_right_below(text, needle):
    at = open_app()
    select(at, "input")
    run(at.text_area(key="input_text").input(text))
    errors = " ".join(shown(e.value) for e in at.tabs[BUILD].columns[1].error)
    assert needle in errors and "Expecting" not in errors
    assert model(at) == seed_spec()


def test_numpy_print_format_is_read_and_nan_is_named():
    at = open_app()
    select(at, "input")
    run(at.text_area(key="input_text").input("[[[1. 2.]\n  [3. 4.]\n  [5. 6.]]]"))
    np.testing.assert_array_equal(output_values(at), built(seed_spec()).predict(SEED_X)[0])
    run(at.text_area(key="input_text").input("[[[nan, 2], [3, 4], [5, 6]]]"))
    assert "holds 1 NaN or infinite value(s)" in texts(at)
    assert np.isnan(output_values(at)).all() and set(grid_texts(at)[0]) == {"nan"}  # nan spreads, and is shown as nan


def test_a_batch_shows_the_chosen_sample():
    at = open_app()
    select(at, "input")
    run(at.text_area(key="input_text").input("[[[1, 2], [3, 4], [5, 6]], [[0, 0], [0, 0], [1, 1]]]"))
    expected = built(seed_spec()).predict(np.array([[[1, 2], [3, 4], [5, 6]], [[0, 0], [0, 0], [1, 1]]], np.float32))
    np.testing.assert_array_equal(output_values(at), expected[0])
    run(at.number_input(key="output_sample").set_value(1))
    np.testing.assert_array_equal(output_values(at), expected[1])


def test_a_single_sample_gets_a_batch_axis_and_says_so():
    at = open_app()
    select(at, "input")
    run(at.text_area(key="input_text").input("[[1, 2], [3, 4], [5, 6]]"))
    assert "a batch axis was added: (1, 3, 2)" in texts(at)
    assert "shape `(1, 4)`" in texts(at)


def test_fill_buttons_give_input_of_the_model_shape():
    at = open_app()
    select(at, "input")
    for kind in ("zeros", "range", "random"):
        run(at.button(key=f"fill_{kind}").click())
        assert np.asarray(json.loads(at.text_area(key="input_text").value)).shape[1:] == (3, 2)
        assert not at.error


def test_seed_changes_weights_reproducibly():
    at = open_app()
    before = output_values(at)
    run(at.number_input(key="seed").set_value(7))
    after = output_values(at)
    assert model(at).seed == 7 and not np.array_equal(before, after)
    np.testing.assert_array_equal(after, built(seed_spec().with_seed(7)).predict(SEED_X)[0])


def test_input_shape_of_every_rank():
    at = open_app()
    run(at.button(key="clear").click())
    for text, shape in [("", ()), ("5", (5,)), ("2, 3", (2, 3)), ("2, 3, 4", (2, 3, 4)), ("1, 2, 3, 4", (1, 2, 3, 4))]:
        run(at.text_input(key="input_shape_text").set_value(text))
        assert model(at).input_shape == shape
        assert edge_labels(dot(at)) == [str((None, *shape))]
        assert not at.error


def test_messages_quoting_what_a_visitor_typed_cannot_inject_markdown_links_or_icons():
    at = open_app()
    select(at, "input")
    run(
        at.text_input(key="input_shape_text").set_value("[click](http://x) <b>$x$ :material/home: https://evil.example")
    )
    (error,) = at.error
    assert "\\[click\\](http" in error.value and "\\<b\\>\\$x\\$" in error.value
    assert "https://evil" not in error.value and ":material/home:" not in error.value  # no auto-link, no icon
    assert model(at) == seed_spec()


def test_paste_a_keras_layer_list_replaces_the_model_in_one_round_trip():
    at = open_app()
    at.text_area(key="paste_text").input(
        "model.add(Dense(8, activation='relu', kernel_initializer='he_normal', "
        "kernel_constraint=MaxNorm(2)))\nmodel.add(Flatten())\nmodel.add(Dense(3, activation='softmax'))"
    )
    run(at.button(key="paste_replace").click())
    assert [(layer.kind, layer.values.get("units")) for layer in model(at).layers] == [
        ("Dense", 8),
        ("Flatten", None),
        ("Dense", 3),
    ]
    assert model(at).layers[0].values["kernel_initializer"].keras_name == "HeNormal"  # an initializer is a setting
    assert "Left out (netbuilder has no such setting): Dense: kernel_constraint." in texts(at)
    assert "No Input line: the input shape (3, 2) was kept (an Input(shape=...) line sets it)." in texts(at)
    at.text_area(key="paste_text").input("Input(shape=(4,))\nDense(2)")
    run(at.button(key="paste_replace").click())
    assert model(at).input_shape == (4,) and "No Input line" not in texts(at)
    at.text_area(key="paste_text").input("Dense(3)\nDense(3)\nDense(3)")
    run(at.button(key="paste_replace").click())
    at.text_area(key="paste_text").input("Dense(__import__('os').getpid())")
    run(at.button(key="paste_append").click())
    assert len(model(at).layers) == 3 and "must be a plain value" in texts(at)


def messages(at: AppTest) -> list[str]:
    """Every error, warning, info and success on the page, as a reader sees it."""
    return [shown(e.value) for kind in ("error", "warning", "info", "success") for e in getattr(at, kind)]


def test_every_message_after_refused_edits_ends_with_a_full_stop():
    at = open_app()
    seen = []
    dense = layer_id(at, 0)
    for act in (
        lambda: at.number_input(key=f"units_{dense}").set_value(100_000),
        lambda: at.number_input(key=f"units_{dense}").set_value(0),
        lambda: at.number_input(key="seed").set_value(-1),
        lambda: (at.text_area(key="paste_text").input("Dense(8\n"), at.button(key="paste_replace"))[1].click(),
        lambda: (at.text_area(key="paste_text").input("Frobnicate(3)"), at.button(key="paste_append"))[1].click(),
        lambda: (at.text_area(key="import_text").input("{not json"), at.button(key="import"))[1].click(),
        lambda: at.button(key="import").click(),
    ):
        run(act())
        seen += messages(at)
    select(at, "input")
    for key, text in (
        ("input_shape_text", "3, x"),
        ("input_shape_text", "0"),
        ("input_text", "[[1, 2], [3, 4]"),
        ("input_text", "[1, 2, 3]"),
    ):
        run(at.text_input(key=key).set_value(text) if key == "input_shape_text" else at.text_area(key=key).input(text))
        seen += messages(at)
    assert len(seen) >= 10 and model(at) == seed_spec()
    assert [m for m in seen if not m.rstrip().endswith((".", "?", "!"))] == []


def test_a_scalar_input_reads_none_comma_in_the_summary_and_on_the_graph():
    at = open_app(
        {"model": share.encode(ModelSpec((), (LayerSpec.make(0, "Activation", activation="relu"),), 0), "[1, 2, 3]")}
    )
    assert edge_labels(dot(at)) == ["(None,)", "(None,)"]
    summary = at.table[-1].value
    assert list(summary["Input Shape"]) == ["(None,)"] and list(summary["Output Shape"]) == ["(None,)"]
    assert "shape=()" in dot(at)  # the node: each sample is one number


def test_the_forward_page_writes_the_output_numbers_once_and_weights_under_their_keras_names():
    at = open_app()
    tab = page(at, FORWARD)
    weight_grids = [g for e in tab.expander for g in number_grids(e)]
    outside = number_grids(tab)[: len(number_grids(tab)) - len(weight_grids)]
    output = built(seed_spec()).predict(SEED_X)[0]
    assert len(outside) == 1 and np.array_equal(outside[0], output)  # one table: the chosen tensor, the output first
    kernel, bias = built(seed_spec()).layers[0].weights
    for expander, names in zip(tab.expander, (["kernel", "bias"], ["kernel", "bias"])):
        labels = [m.value.split("**")[1] for m in expander.markdown if m.value.startswith("**")]
        assert labels == names and len(number_grids(expander)) == len(names)  # each table under its Keras name
    first = tab.expander[0]
    np.testing.assert_array_equal(number_grids(first)[0], kernel.ravel())
    np.testing.assert_array_equal(number_grids(first)[1], bias)


def test_wide_numbers_wrap_in_a_grid_with_every_index_and_digit():
    spec = ModelSpec(
        (3, 2),
        (
            LayerSpec.make(0, "Dense", units=16, activation="tanh"),
            LayerSpec.make(1, "Flatten"),
            LayerSpec.make(2, "Dense", units=16),
        ),
        0,
    )
    at = open_app({"model": share.encode(spec, "[[[1, 2], [3, 4], [5, 6]]]")})
    expected = built(spec).predict(SEED_X)[0]
    np.testing.assert_array_equal(output_values(at), expected)
    assert grid_texts(at)[0] == [f"{v:.4g}" for v in expected]
    (grid,) = [e.value for e in at.html if 'class="nb-grid"' in e.value]
    assert re.findall(r"<small>(\d+)</small>", grid) == [str(j) for j in range(16)]  # each number with its index
    assert "auto-fill" in grid  # as many per line as the column holds: nothing to scroll sideways


def test_a_big_tensor_writes_a_bounded_number_of_numbers():
    at = open_app(
        {
            "model": share.encode(
                ModelSpec((1000, 100), (LayerSpec.make(0, "Activation", activation="relu"),), 0), "zeros"
            )
        }
    )
    (values,) = number_grids(at)
    assert values.size <= 512  # widgets.MAX_NUMBERS, whatever the tensor's size
    assert "Showing 8 × 64 of 1,000 × 100 numbers." in texts(at)


def test_pasted_layers_are_confirmed_beside_the_paste_box():
    at = open_app()
    at.text_area(key="paste_text").input("\n".join(["Input((3, 2))", *["Dense(16)"] * 30]))
    run(at.button(key="paste_replace").click())
    paste_box = lambda: next(e for e in at.expander if e.label == "Paste layers written as Keras code")  # noqa: E731
    assert [shown(s.value) for s in paste_box().success] == ["Replaced the layers with 30 layer(s)."]
    assert len(at.success) == 1  # not also beside the selected layer
    assert [shown(t.value) for t in at.toast] == ["Replaced the layers with 30 layer(s)."]  # in view if the page moved
    at.text_area(key="paste_text").input("Dense(")
    run(at.button(key="paste_append").click())
    assert len(paste_box().error) == len(at.error) == 1 and not at.toast


def test_quoted_text_keeps_its_colons_and_breaks_only_what_could_become_a_link_or_an_icon():
    from netbuilder.ui.state import plain

    assert (
        plain("expected (None, 3): got 5; ratio 1:2 at 10: 30")
        == "expected (None, 3): got 5; ratio 1:\u200d2 at 10: 30"
    )
    assert plain("a & b") == "a \\& b" and plain("x@y.z") == "x@\u200dy.z"
    for hostile in (":material/home:", ":smile:", ":+1:", "javascript:alert(1)", "https://x.y", "mailto:a", "www.x.y"):
        assert ":" + "\u200d" in plain(hostile) or "\u200d." in plain(hostile), hostile


def test_the_compare_page_shows_the_sample_the_visitor_picks():
    batch = "[[[1, 2], [3, 4], [5, 6]], [[-6, 5], [-4, 3], [-2, 1]]]"
    at = open_app({"model": share.encode(seed_spec(), batch)})
    x = np.array(json.loads(batch), np.float32)
    tab = page(at, COMPARE)
    variants = list(explain.variants(seed_spec()).values())
    for grid, variant in zip(number_grids(tab), variants):
        np.testing.assert_array_equal(grid, built(variant).predict(x)[0].ravel()[:64])
    run(tab.number_input(key="compare_sample").set_value(1))
    tab = page(at, COMPARE)
    assert len(number_grids(tab)) == len(variants) == 3
    for grid, variant in zip(number_grids(tab), variants):
        np.testing.assert_array_equal(grid, built(variant).predict(x)[1].ravel()[:64])


DISPLAY_ALLOWANCE = 16 * 2**20  # bytes the Forward page may add to its run for drawing, whatever the tensors' size


@pytest.mark.parametrize(
    "layers",
    [
        (LayerSpec.make(0, "RepeatVector", n=23),),
        tuple(LayerSpec.make(i, "Activation", activation="relu") for i in range(40)),
    ],
    ids=["one 92 MB tensor", "40 tensors of 4 MB"],
)
def test_the_forward_page_draws_big_tensors_within_the_run_budget_and_a_small_display_allowance(layers):
    import tracemalloc

    from netbuilder.engine.budget import PUBLIC_DEFAULTS

    spec = ModelSpec((1_000_000,), layers, 0)
    at = open_app({"model": share.encode(spec, "random:1")})
    at.session_state["page"] = PAGES[FORWARD]
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        run(at)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    budget = min(spec.analysis.cost.forward_bytes(1), PUBLIC_DEFAULTS.run_bytes)  # what the run itself may hold
    assert peak <= budget + DISPLAY_ALLOWANCE, (peak / 2**20, budget / 2**20)
    tab = at.tabs[FORWARD]
    assert len(tab.get("image")) >= 3 and number_grids(tab)[0].size <= 512  # pictures and numbers, bounded


def test_an_empty_pooling_stride_says_what_empty_means():
    at = open_app()
    at.text_area(key="paste_text").input("Input((8, 8, 1))\nMaxPooling2D(2)")
    run(at.button(key="paste_replace").click())
    select(at, 0)
    strides = at.text_input(key=f"strides_{layer_id(at, 0)}")
    assert strides.value == "" and strides.placeholder == "= pool_size"
    assert at.text_input(key=f"pool_size_{layer_id(at, 0)}").placeholder == ""
