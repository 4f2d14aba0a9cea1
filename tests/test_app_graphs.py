"""Graphs on the page through AppTest: a residual block, a branch and a merge built by widgets, what a layer takes
chosen from the tensors before it, a merge that does not fit and its fix, and every page on a graph (Forward's tensors
in the list's order, Compare, Train, Export, a share link). Numbers are checked against the engine's Functional, which
test_graph_spec checks against Keras."""

import numpy as np

from netbuilder.studio import share
from netbuilder.studio.models import built
from netbuilder.studio.spec import INPUT_ID, LayerSpec, ModelSpec, seed_spec
from netbuilder.ui.widgets import layer_key
from netbuilder.views.graph import ERROR_FILL
from test_app import (
    BUILD,
    COMPARE,
    EXPLAIN,
    EXPORT,
    FORWARD,
    TRAIN,
    dot,
    edge_labels,
    model,
    open_app,
    page,
    run,
    select,
    shown,
    texts,
)
from test_app_train import load, train_to_the_end


def test_a_residual_block_by_one_click_draws_its_shortcut_and_the_summary_says_what_each_layer_takes():
    at = select(open_app(), 0)  # dense (Dense(16)) on (3, 2)
    at = run(at.button(key="residual").click())
    spec = model(at)
    assert [layer.kind for layer in spec.layers][:5] == ["Dense", "Dense", "Dense", "Add", "Activation"]
    add = spec.layers[3]
    assert add.inputs == (spec.layers[2].id, spec.layers[0].id)
    source = dot(at)
    assert f"L{spec.layers[0].id} -> L{add.id}" in source and f"L{spec.layers[2].id} -> L{add.id}" in source
    assert edge_labels(source).count("(None, 3, 16)") >= 6
    (table,) = [t for t in at.table]
    frame = table.value
    assert "Connected to" in frame.columns
    assert frame.loc[frame["Layer (type)"] == "add (Add)", "Connected to"].item() == "dense_2, dense"
    assert frame.loc[frame["Layer (type)"] == "add (Add)", "Input Shape"].item() == "(None, 3, 16), (None, 3, 16)"
    assert at.session_state["selection"] == spec.layers[4].id  # the block's last layer, ready to go on from


def test_a_block_that_widens_and_halves_gets_a_projected_shortcut():
    at = open_app()
    conv = LayerSpec.make(0, "Conv2D", filters=4, kernel_size=3, padding="same")
    at.session_state["history"].push(ModelSpec((8, 8, 3), (conv,)).validate())
    at = select(run(at), 0)
    at.number_input(key="residual_width").set_value(8)
    at.checkbox(key="residual_stride").check()
    at = run(at.button(key="residual").click())
    spec = model(at)
    projection = next(layer for layer in spec.layers if layer.inputs == (0,))
    assert projection.kind == "Conv2D" and projection.label() == "8 1×1 stride 2×2 valid"
    assert spec.analysis.ok and spec.analysis.output_shape == (None, 4, 4, 8)


def test_branch_then_merge_by_widgets_makes_two_outputs_then_one():
    at = select(open_app(), 0)
    at.selectbox(key="add_kind").set_value("Dense")
    at = run(at.button(key="branch").click())  # a Dense(?) taking dense's output, at the end
    spec = model(at)
    assert spec.is_graph and len(spec.output_positions) == 2
    assert "Output 1" in dot(at) and "Output 2" in dot(at)
    branch_id = spec.layers[-1].id
    assert at.session_state["selection"] == branch_id
    at = select(at, 3)  # the last layer of the main path: Dense(4) → (None, 4)
    at.selectbox(key="merge_with").set_value(branch_id)
    at.selectbox(key="merge_kind").set_value("Concatenate")
    at = run(at.button(key="merge").click())
    spec = model(at)
    assert spec.output_positions == [len(spec.layers) - 1]
    issue = spec.analysis.issue  # (None, 4) and the branch's (None, 3, units): Keras cannot concatenate them
    assert issue is not None and issue.kind == "Concatenate"
    assert ERROR_FILL in dot(at)
    assert "Concatenate" in texts(at)


def test_what_a_layer_takes_is_chosen_from_the_tensors_before_it():
    at = select(open_app(), 3)  # Dense(4) after Flatten
    spec = model(at)
    key = f"takes_{spec.layers[3].id}"
    assert at.selectbox(key=key).options == [
        "Input (None, 3, 2)",
        "1. dense → (None, 3, 16)",
        "2. activation → (None, 3, 16)",
        "3. flatten → (None, 48)",
    ]
    at = run(at.selectbox(key=key).set_value(INPUT_ID))  # Dense(4) on the input itself: (None, 3, 4)
    spec = model(at)
    assert spec.layers[3].inputs == (INPUT_ID,)
    assert spec.analysis.layers[3].output_shape == (None, 3, 4)
    assert len(spec.output_positions) == 2  # flatten's output is now an open end too


def test_a_merge_that_does_not_fit_offers_a_projection_that_fixes_it_and_says_it_fits():
    at = select(open_app(), 0)  # dense: (None, 3, 16); merge it with the input (None, 3, 2)
    at.selectbox(key="merge_with").set_value(INPUT_ID)
    at.selectbox(key="merge_kind").set_value("Add")
    at = run(at.button(key="merge").click())
    issue = model(at).analysis.issue
    assert issue.kind == "Add" and "(None, 3, 16) and (None, 3, 2)" in issue.message
    assert "(None, 3, 16) and (None, 3, 2)" in texts(at)
    fixes = [b for b in at.button if b.key and b.key.startswith("fix_")]
    assert fixes and "Dense(units=" in fixes[0].label
    at = run(fixes[0].click())
    assert model(at).analysis.issue is None or model(at).analysis.issue.kind != "Add"
    assert "Done: put Dense" in texts(at)


def test_the_forward_page_shows_every_tensor_of_a_graph_in_the_lists_order_as_the_model_computes_them():
    at = open_app()
    spec = seed_spec().branch(INPUT_ID, "Dense", units=3).branch(4, "Dense", units=2)
    assert spec.analysis.run_order != tuple(range(len(spec.layers)))  # Keras runs it in another order than listed
    at.session_state["history"].push(spec)
    tab = page(run(at), FORWARD)
    titles = [shown(m.value) for m in tab.markdown if m.value.startswith("**") and "` · sample 0 from" in m.value]
    names = ["Input", *(f"{name} ({layer.kind})" for name, layer in zip(spec.analysis.names, spec.layers))]
    assert [t.split("**")[1] for t in titles] == names
    x = np.array([[[1, 2], [3, 4], [5, 6]]], dtype=np.float32)
    functional = built(spec)
    ran = [node.layer.name for node in functional.graph.nodes if not node.is_input]
    tensors = dict(zip(["input_layer", *ran], functional.forward(x)))
    for title, name in zip(titles[1:], spec.analysis.names):
        t = tensors[name]
        assert f"`{tuple(t.shape)}` · sample 0 from {t[0].min():.4g} to {t[0].max():.4g}" in title


def test_compare_export_and_a_share_link_work_on_a_graph():
    at = select(open_app(), 0)
    at = run(at.button(key="residual").click())
    spec = model(at)
    page(at, COMPARE)
    assert "made for chains of layers; this model is a graph" in texts(at)
    page(at, EXPORT)
    code = "\n".join(c.value for c in at.code)
    assert "keras.layers.Add(name='add')([x3, x1])" in code and "keras.Model(" in code
    token = at.session_state["share_token"]
    again = open_app({share.PARAM: token})
    assert model(again).layers == spec.layers and model(again).is_graph


def test_a_graph_trains_on_the_train_page_and_keeps_its_trained_weights_in_keras_order():
    at = load(open_app(), "train-xor")
    at = select(at, 0)
    at = run(at.button(key="residual").click())
    graph_spec = model(at)
    assert graph_spec.is_graph
    page(at, TRAIN)
    at = train_to_the_end(at)
    trained = model(at)
    assert trained.trained and trained.layers == graph_spec.layers
    assert [a.shape for a in trained.weights.arrays] == graph_spec.weight_shapes()
    history = at.session_state["training"].progress.history
    assert history["loss"][-1] < history["loss"][0]


def test_a_model_with_two_outputs_trains_each_on_the_targets_and_one_that_does_not_fit_them_is_named():
    at = load(open_app(), "train-xor")
    at = select(at, 1)
    at.selectbox(key="add_kind").set_value("Dense")
    at = run(at.button(key="branch").click())  # Dense(?) on dense_1: units as the kind's default
    head = model(at).layers[-1].id
    at = run(at.number_input(key=layer_key(head, "units")).set_value(1))
    at = run(at.selectbox(key=layer_key(head, "activation")).set_value("sigmoid"))
    page(at, TRAIN)
    assert "Every output (dense_2, dense_3) learns the same targets; the loss is the sum of theirs" in texts(at)
    at = train_to_the_end(at)
    history = at.session_state["training"].progress.history
    assert {"loss", "dense_2_loss", "dense_3_loss", "dense_2_accuracy", "dense_3_accuracy"} <= set(history)
    assert history["loss"][-1] < history["loss"][0] and model(at).trained
    page(at, BUILD)
    at = select(at, 2)
    at = run(at.number_input(key=layer_key(2, "units")).set_value(3))  # the first head: 3 values, one target each
    page(at, TRAIN)
    assert "output 'dense_2' does not fit them" in texts(at) and at.button(key="train_start").disabled


def test_the_graph_actions_appear_from_the_input_only_when_there_is_a_layer_to_branch_beside():
    at = run(open_app().button(key="clear").click())
    at = select(at, "input")
    assert not [b for b in at.button if b.key == "branch"] and "could not be shown" not in texts(at)
    at = select(run(open_app()), "input")
    assert [b for b in at.button if b.key == "residual"]


FUNCTIONAL = """from keras import layers
inputs = keras.Input(shape=(8, 8, 3))
x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
shortcut = x
x = layers.Conv2D(16, 3, padding="same")(x)
x = layers.add([x, shortcut])
outputs = layers.Dense(10)(layers.GlobalAveragePooling2D()(x))
model = keras.Model(inputs, outputs)
model.summary()"""


def test_pasted_functional_code_replaces_the_model_with_its_graph_and_names_what_it_did_not_read():
    at = open_app()
    at.text_area(key="paste_text").input(FUNCTIONAL)
    at = run(at.button(key="paste_replace").click())
    spec = model(at)
    assert spec.is_graph and spec.input_shape == (8, 8, 3)
    assert [layer.kind for layer in spec.layers] == ["Conv2D", "Conv2D", "Add", "GlobalAveragePooling2D", "Dense"]
    assert spec.layers[2].inputs == (1, 0) and spec.analysis.output_shape == (None, 10)
    said = texts(at)
    assert "Replaced the layers with 5 layer(s) (a graph: see its arrows)." in said
    assert "Not part of the model, so not read: line 9 (model.summary())." in said


def test_pasted_functional_code_appends_after_the_last_layer():
    at = open_app()  # the seed model ends in Dense(4): (None, 4)
    code = "x = keras.Input((4,))\na = layers.Dense(4)(x)\nb = layers.Dense(4, activation='relu')(x)\n"
    code += "y = layers.add([a, b])"
    at.text_area(key="paste_text").input(code)
    at = run(at.button(key="paste_append").click())
    spec = model(at)
    last = spec.layers[3].id  # the seed's Dense(4)
    assert [layer.inputs for layer in spec.layers[4:]] == [None, (last,), (spec.layers[4].id, spec.layers[5].id)]
    assert spec.analysis.ok and spec.analysis.output_shape == (None, 4)


def test_the_explain_page_says_what_each_merge_needs_and_makes():
    at = load(open_app(), "inception-module")
    page(at, EXPLAIN)
    said = texts(at)
    assert "Concatenate lays its inputs side by side on axis -1: 8 + 8 + 4 + 4 = 24" in said
    at = load(at, "transformer-encoder")
    page(at, EXPLAIN)
    said = texts(at)
    assert "Add needs equal shapes, value by value: (None, 20, 64) and (None, 20, 64) → (None, 20, 64)." in said
    # attention head by head: 4 heads of 16 on 20 steps of 64
    assert "query, projected to 4 heads of 16: `(None, 20, 4, 16)`" in said
    assert "a softmax over the 20 key steps: `(None, 4, 20, 20)`" in said


def test_a_layer_is_renamed_in_its_name_field_and_a_name_another_layer_has_is_refused_beside_it():
    at = open_app()
    first, last = (layer.id for layer in (model(at).layers[0], model(at).layers[-1]))
    select(at, 0)
    run(at.text_input(key=layer_key(first, "name")).input("encoder_dense"))
    assert model(at).names == ("encoder_dense", "activation", "flatten", "dense")  # Keras counts the unnamed only
    assert "encoder_dense (Dense)" in list(at.table[-1].value["Layer (type)"])
    select(at, 3)
    assert at.text_input(key=layer_key(last, "name")).placeholder == "dense"  # its automatic name
    run(at.text_input(key=layer_key(last, "name")).input("encoder_dense"))
    assert model(at).names[3] == "dense" and at.text_input(key=layer_key(last, "name")).value == ""
    assert "layer 1 is already named 'encoder_dense'" in texts(at)


def test_an_unedited_preset_too_large_for_a_link_is_shared_by_its_name_and_an_edit_says_why_there_is_no_link():
    at = load(open_app(), "keras-nasnetlarge")
    token = at.query_params["model"]
    assert share.decode(token).preset == "keras-nasnetlarge" and len(token) < 100
    opened = open_app({"model": token})  # a second visitor opens the link
    assert model(opened) == model(at) and "could not be opened" not in texts(opened)
    select(at, len(model(at).layers) - 1)  # from the box to search by name: 1,040 layers
    run(at.button(key=f"delete_{model(at).layers[-1].id}").click())  # edited: no longer the preset
    assert "model" not in at.query_params and "too large for a link" in at.session_state["share_problem"]


def test_a_second_input_is_added_shaped_taken_by_a_layer_and_removed_by_widgets():
    at = select(open_app(), "input")
    at = run(at.button(key="add_input").click())
    spec = model(at)
    assert spec.input_shapes == ((3, 2), (3, 2)) and spec.is_graph
    assert "Input 2 is taken by no layer yet" in texts(at) and "Input 2" in dot(at)
    at = run(at.text_input(key="input_shape_text_1").set_value("4"))
    assert model(at).input_shapes == ((3, 2), (4,))
    at = run(at.text_input(key="input_shape_text_1").set_value("4, x"))  # refused: the model is kept
    assert model(at).input_shapes == ((3, 2), (4,)) and at.text_input(key="input_shape_text_1").value == "4"
    at = run(at.selectbox(key="input_from").set_value(-2))  # the actions below now start from the second input
    at.selectbox(key="add_kind").set_value("Dense")
    at = run(at.button(key="branch").click())  # a Dense on the second input: a second open end
    spec = model(at)
    assert spec.layers[-1].inputs == (-2,) and "input_1 -> L4" in dot(at) and "(None, 4)" in edge_labels(dot(at))
    (table,) = at.table
    frame = table.value
    assert frame.loc[frame["Layer (type)"] == "dense_2 (Dense)", "Connected to"].item() == "input_layer_1"
    at = select(at, 0)
    at.selectbox(key=layer_key(0, "takes")).set_value(-2)  # the first Dense now reads the second input
    at = run(at)
    assert model(at).layers[0].inputs == (-2,) and model(at).analysis.layers[0].input_shape == (None, 4)
    at = select(at, "input")
    at = run(at.button(key="remove_input_1").click())
    spec = model(at)
    assert spec.input_shapes == ((3, 2),) and spec.layers[0].inputs is None and spec.layers[-1].inputs == (-1,)


def test_a_model_of_two_inputs_trains_on_the_train_page_with_each_samples_values_split_between_them():
    at = load(open_app(), "train-xor")  # samples of 2 values: one for each input
    layers = (
        LayerSpec.make(0, "Dense", units=8, activation="tanh"),
        LayerSpec.make(1, "Dense", units=8, activation="tanh", inputs=(-2,)),
        LayerSpec.make(2, "Concatenate", inputs=(0, 1)),
        LayerSpec.make(3, "Dense", units=8, activation="tanh"),
        LayerSpec.make(4, "Dense", units=1, activation="sigmoid"),
    )
    at.session_state["history"].push(ModelSpec((1,), layers, more_inputs=((1,),)).validate())
    page(run(at), TRAIN)
    assert "Each sample's values fill input 1 (1), then input 2 (1)." in texts(at)
    at = train_to_the_end(at)
    history = at.session_state["training"].progress.history
    assert history["loss"][-1] < history["loss"][0] and history["accuracy"][-1] > 0.8 and model(at).trained


def test_every_page_works_on_a_model_of_two_inputs():
    at = load(open_app(), "two-inputs")
    spec = model(at)
    tab = page(at, FORWARD)
    titles = [shown(m.value) for m in tab.markdown if "` · sample 0 from" in m.value]
    assert [t.split("**")[1] for t in titles[:3]] == ["input_layer (Input)", "input_layer_1 (Input)", "conv2d (Conv2D)"]
    second = np.round(np.random.default_rng(1).standard_normal(3), 2).astype(np.float32)  # as the page says: seed 1
    assert f"`(1, 3)` · sample 0 from {second.min():.4g} to {second.max():.4g}" in titles[1]
    assert "each other input k random normal values of its shape, drawn from seed k" in texts(tab)
    page(at, BUILD)
    at = select(at, "input")
    assert "the output and the forward pass give each other input k random normal values" in texts(at)
    assert "Inputs · (None, 8, 8, 1), (None, 3)" in [shown(o) for o in at.radio(key="selected").options]
    page(at, TRAIN)
    assert "the data's samples have 2 values each, but the model's 2 inputs take 64 + 3 = 67" in texts(at)
    assert at.button(key="train_start").disabled
    page(at, EXPORT)
    code = "\n".join(c.value for c in at.code)
    assert code.count("keras.Input(") == 2
    again = open_app({share.PARAM: at.session_state["share_token"]})
    assert model(again) == spec
