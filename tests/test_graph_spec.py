"""Graphs in the editor's ModelSpec (layers that name their inputs), against real Keras 3.15 (NumPy backend).

Graphs are made by the editor's own edits — branch, merge, residual block, a merge's fix — and the same graph is built
in Keras from the spec's structure (spec_oracle: each layer's kind, settings and inputs); Keras then gives the shapes,
parameters, weights' order and outputs (our weights copied in by name), and refuses the merges ours refuses."""

from __future__ import annotations

import random

import keras
import numpy as np
import pytest

from netbuilder.engine.errors import LayerConfigError
from netbuilder.studio import models
from netbuilder.studio.keras_import import spec_from_keras_json
from netbuilder.studio.share import decode, encode
from netbuilder.studio.spec import INPUT_ID, LayerSpec, ModelSpec, input_id, seed_spec
from spec_oracle import keras_model


def conv_spec() -> ModelSpec:
    return ModelSpec((8, 8, 3), (LayerSpec.make(0, "Conv2D", filters=4, kernel_size=3, padding="same"),)).validate()


def agrees_with_keras(spec: ModelSpec) -> None:
    """Shapes, parameters, weights' order and predict equal Keras's (our seed's weights copied into Keras)."""
    ours = models.fresh(spec)
    theirs = keras_model(spec)
    analysis = spec.analysis
    assert analysis.ok
    assert [tuple(r.output_shape) for r in analysis.layers] == [
        tuple(theirs.get_layer(name).output.shape) for name in analysis.names
    ]
    assert [r.params for r in analysis.layers] == [theirs.get_layer(n).count_params() for n in analysis.names]
    assert spec.weight_shapes() == [w.shape for w in theirs.get_weights()]  # Keras's layer order, not the list's
    assert [w.shape for w in ours.get_weights()] == spec.weight_shapes()
    for layer in theirs.layers:  # a Functional lists its InputLayers, a Sequential does not
        if not isinstance(layer, keras.layers.InputLayer):
            layer.set_weights(ours.get_layer(layer.name).get_weights())
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(3, *shape)).astype("float32") for shape in spec.input_shapes]
    x = x[0] if len(x) == 1 else x
    want = theirs.predict(x, verbose=0)
    got = ours.predict(x)
    for a, b in zip(want if isinstance(want, list) else [want], got if isinstance(got, list) else [got]):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def test_a_residual_block_on_images_projects_its_shortcut_when_it_downsamples_as_keras_computes_it():
    spec = conv_spec().residual(0, width=8, downsample=True)
    kinds = [(layer.kind, layer.label()) for layer in spec.layers]
    assert kinds[3] == ("Conv2D", "8 1×1 stride 2×2 valid")  # the projection
    assert spec.layers[4].inputs == (2, 3) and spec.is_graph
    agrees_with_keras(spec)


def test_a_residual_block_keeps_its_shortcut_plain_when_the_shape_does_not_change():
    spec = ModelSpec((6,), (LayerSpec.make(0, "Dense", units=5),)).validate().residual(0)
    assert [layer.kind for layer in spec.layers] == ["Dense", "Dense", "Dense", "Add", "Activation"]
    assert spec.layers[3].inputs == (2, 0)
    agrees_with_keras(spec)


def test_a_residual_block_wraps_what_comes_after_it():
    spec = seed_spec().residual(0)  # after Dense(16): what took dense's output takes the block's
    kinds = [layer.kind for layer in spec.layers]
    assert kinds == ["Dense", "Dense", "Dense", "Add", "Activation", "Activation", "Flatten", "Dense"]
    agrees_with_keras(spec)


def test_a_branch_left_open_is_a_second_output_as_in_keras():
    spec = seed_spec().branch(1, "Dense", units=3)
    assert spec.output_positions == [3, 4]
    agrees_with_keras(spec)
    assert len(models.fresh(spec).outputs) == 2


def test_a_merge_of_clashing_shapes_is_the_issue_keras_raises_and_each_fix_offered_works():
    spec = conv_spec().merge([0, INPUT_ID], "Add")
    issue = spec.analysis.issue
    assert issue.layer_index == 1 and "(None, 8, 8, 4) and (None, 8, 8, 3)" in issue.message
    with pytest.raises(ValueError, match="incompatible shapes"):
        keras_model(spec)
    assert issue.fixes
    for fix in issue.fixes:
        fixed = spec.apply_fix(fix)
        agrees_with_keras(fixed)


def test_concatenate_adds_its_inputs_sizes_on_its_axis():
    spec = conv_spec().merge([0, INPUT_ID], "Concatenate")
    assert spec.analysis.layers[1].output_shape == (None, 8, 8, 7)
    agrees_with_keras(spec)
    wrong = conv_spec().branch(0, "MaxPooling2D").merge([0, 1], "Concatenate")
    assert wrong.analysis.issue is not None
    with pytest.raises(ValueError):
        keras_model(wrong)


@pytest.mark.parametrize("most_inputs", [1, 4], ids=["one-input", "up-to-four-inputs"])
def test_random_graphs_made_by_the_editors_edits_agree_with_keras(most_inputs):
    r = random.Random(19 + most_inputs)
    for _ in range(12):
        spec = ModelSpec((6,), (LayerSpec.make(0, "Dense", units=4),)).validate()
        for _ in range(r.randint(0, most_inputs - 1)):
            spec = spec.add_input((r.choice([4, 6]),))
        for _ in range(r.randint(2, 6)):
            ids = spec.takeable(len(spec.layers))
            pick = r.random()
            try:
                if pick < 0.3:
                    spec = spec.branch(r.choice(ids), "Dense", units=r.choice([4, 6, 3]), activation="tanh")
                elif pick < 0.6:
                    spec = spec.merge(r.sample(ids, 2), r.choice(["Add", "Concatenate", "Multiply", "Maximum"]))
                elif pick < 0.8:
                    spec = spec.residual(r.choice([layer.id for layer in spec.layers]), width=r.choice([None, 5]))
                else:
                    spec = spec.add("Dense", units=4)
            except LayerConfigError:
                continue
            if not spec.analysis.ok:
                with pytest.raises(ValueError):
                    keras_model(spec)
                spec = spec.apply_fix(spec.analysis.issue.fixes[0]) if spec.analysis.issue.fixes else spec
        if spec.analysis.ok:
            agrees_with_keras(spec)


def test_removing_a_layer_rewires_what_took_it_to_what_it_took():
    spec = seed_spec().residual(0)
    block_add = next(layer for layer in spec.layers if layer.kind == "Add")
    out = spec.remove(block_add.id)
    relu = out.layers[out.index_of(block_add.id + 1)]
    assert relu.inputs is None and out.sources[out.index_of(relu.id)] == (out.index_of(block_add.inputs[0]),)
    back = spec
    for layer_id in (7, 8, 5, 4):  # the block, piece by piece: the chain it was
        back = back.remove(layer_id)
    assert not back.is_graph and [layer.kind for layer in back.layers] == [layer.kind for layer in seed_spec().layers]


def test_a_layer_can_only_take_what_comes_before_it_and_as_many_tensors_as_its_kind_takes():
    spec = seed_spec()
    with pytest.raises(LayerConfigError, match="before it in the list"):
        spec.set_inputs(1, [3])
    with pytest.raises(LayerConfigError, match="at most 1 tensor"):
        spec.set_inputs(3, [0, 1])
    with pytest.raises(LayerConfigError, match="inputs are 1 to"):
        spec.set_inputs(3, [])
    assert spec.set_inputs(3, [2]).is_graph is False  # the layer before it: still a chain


def test_a_graph_goes_through_a_share_link_and_a_link_without_inputs_is_the_chain_it_was():
    spec = conv_spec().residual(0, width=8, downsample=True)
    assert decode(encode(spec)).spec == spec
    assert ModelSpec.from_dict(seed_spec().to_dict()).is_graph is False


def test_equal_graphs_with_other_ids_share_one_built_model_and_swapped_inputs_do_not():
    spec = conv_spec().merge([0, INPUT_ID], "Concatenate")
    swapped = spec.set_inputs(spec.layers[1].id, [INPUT_ID, 0])
    assert models.content_key(spec) != models.content_key(swapped)
    renumbered = ModelSpec.from_dict(
        {
            **spec.to_dict(),
            "layers": [
                {"id": 7, "kind": "Conv2D", "filters": 4, "kernel_size": [3, 3], "padding": "same"},
                {"id": 2, "kind": "Concatenate", "inputs": [7, -1]},
            ],
        }
    )
    assert models.content_key(renumbered) == models.content_key(spec)


def inception_module():
    """GoogLeNet's module on a small image: four branches concatenated on the channels."""
    keras.utils.clear_session()
    x = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 1, activation="relu")(x)
    b = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(keras.layers.Conv2D(3, 1, activation="relu")(x))
    c = keras.layers.Conv2D(2, 5, padding="same", activation="relu")(keras.layers.Conv2D(2, 1, activation="relu")(x))
    d = keras.layers.Conv2D(2, 1, activation="relu")(keras.layers.MaxPooling2D(3, 1, padding="same")(x))
    y = keras.layers.Concatenate()([a, b, c, d])
    return keras.Model(x, keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(y)))


def test_a_keras_graph_read_from_its_json_is_the_editors_and_computes_what_keras_computes():
    theirs = inception_module()
    spec = spec_from_keras_json(theirs.to_json())
    assert spec.is_graph and spec.analysis.ok
    concat = spec.layers[spec.analysis.names.index("concatenate")]
    assert len(concat.inputs) == 4 and spec.analysis.layers[spec.layers.index(concat)].output_shape == (None, 8, 8, 14)
    assert spec.weight_shapes() == [w.shape for w in theirs.get_weights()]
    ours = models.fresh(spec)
    assert [type(layer).__name__ for layer in theirs.layers] == [layer.kind for layer in ours.layers]  # Keras's order
    for mine, layer in zip(ours.layers[1:], theirs.layers[1:]):
        layer.set_weights(mine.get_weights())
    x = np.random.default_rng(1).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_imported_names_are_keras_own_and_a_layer_added_beside_them_takes_a_free_name():
    spec = spec_from_keras_json(inception_module().to_json())
    assert "dense" in spec.analysis.names and "concatenate" in spec.analysis.names  # as model_from_json names them
    grown = spec.add("Dense", units=3).add("Concatenate")  # automatic names dense, concatenate are taken
    names = grown.analysis.names
    assert len(set(names)) == len(names) and names[-2:] == ("dense_1", "concatenate_1")


def test_a_residual_block_is_refused_in_words_where_there_is_no_shape_or_no_feature_axis():
    with pytest.raises(LayerConfigError, match="needs a feature axis"):
        ModelSpec((), (LayerSpec.make(0, "Flatten"),)).validate().residual(INPUT_ID)
    broken = ModelSpec((3, 2), (LayerSpec.make(0, "Dense", units=4, built_for=(48,)),))
    with pytest.raises(LayerConfigError, match="whose output shape is known"):
        broken.residual(0)


def test_breadth_counts_the_layers_side_by_side():
    assert seed_spec().breadth == 1 and ModelSpec((3,)).breadth == 0
    assert conv_spec().residual(0, width=8, downsample=True).breadth == 2  # the first convolution and the shortcut
    assert conv_spec().branch(0, "Flatten").branch(0, "Flatten").branch(0, "Flatten").breadth == 3  # 3 from conv2d


def test_a_renamed_layer_keeps_its_name_and_the_others_are_named_as_keras_names_them():
    """Keras names only the layers given no name, counting those: a Dense renamed leaves `dense` to the next one."""
    spec = seed_spec().rename(0, " encoder_dense ").rename(2, "encoder_flat")
    assert (
        spec.names
        == tuple(layer.name for layer in keras_model(spec).layers)
        == (
            "encoder_dense",
            "activation",
            "encoder_flat",
            "dense",
        )
    )
    assert ModelSpec.from_dict(spec.to_dict()) == spec  # kept in links and undo
    assert spec.rename(0, "").names[0] == "dense" and spec.rename(0, None).layers[0].name is None
    with pytest.raises(LayerConfigError, match="layer 4 is already named 'dense'"):
        spec.rename(1, "dense")
    with pytest.raises(LayerConfigError, match="without '/'"):
        spec.rename(1, "a/b")  # Keras refuses a '/' in a name too
    with pytest.raises(ValueError, match="cannot contain character `/`"):
        keras.layers.Dense(2, name="a/b")


def two_input_spec() -> ModelSpec:
    """An image and three numbers about it, made by the editor's edits: add an input, branch from it, concatenate."""
    spec = ModelSpec((8, 8, 1)).add("Conv2D", filters=4, kernel_size=3).add("Flatten").add_input((8, 8, 1))
    spec = spec.with_input_shape((3,), 1).branch(input_id(1), "Dense", units=8, activation="relu")
    spec = spec.merge([1, 2], "Concatenate").add("Dense", units=5)
    return spec


def test_a_model_of_two_inputs_made_by_edits_is_keras_own():
    spec = two_input_spec()
    assert spec.input_shapes == ((8, 8, 1), (3,)) and spec.layers[2].inputs == (input_id(1),)
    assert spec.analysis.total_params == 40 + 32 + 765  # conv 3·3·4+4, dense 3·8+8, dense_1 (144+8)·5+5
    agrees_with_keras(spec)
    assert [layer.name for layer in keras_model(spec).layers][:3] == ["input_layer", "conv2d", "input_layer_1"]
    assert [layer.name for layer in models.fresh(spec).layers][:3] == ["input_layer", "conv2d", "input_layer_1"]


def test_an_input_no_layer_takes_is_kept_as_keras_keeps_it():
    spec = seed_spec().add_input((5,))
    assert spec.is_graph and spec.output_positions == [3]
    agrees_with_keras(spec)
    assert len(models.fresh(spec).inputs) == 2


def test_removing_an_input_gives_what_took_it_the_first_input_and_moves_the_later_ones_up():
    spec = two_input_spec().add_input((2,))
    spec = spec.branch(input_id(2), "Dense", units=1)
    out = spec.remove_input(1)
    assert out.input_shapes == ((8, 8, 1), (2,))
    assert out.layers[2].inputs == (INPUT_ID,) and out.layers[-1].inputs == (input_id(1),)
    with pytest.raises(LayerConfigError, match="no input 1 to remove"):
        spec.remove_input(0)


def test_a_layer_cannot_take_an_input_the_model_does_not_have():
    with pytest.raises(LayerConfigError, match="takes input_layer_1, but the model has 1 input"):
        seed_spec().set_inputs(0, [input_id(1)])
    with pytest.raises(LayerConfigError, match="for the model's inputs"):
        LayerSpec.make(0, "Dense", inputs=(input_id(16),))


def test_a_model_of_two_inputs_goes_through_a_share_link_and_keras_json():
    spec = two_input_spec()
    assert decode(encode(spec)).spec == spec
    assert "more_inputs" not in seed_spec().to_dict()  # a one-input model's link is as it always was
    theirs = keras_model(spec)
    back = spec_from_keras_json(theirs.to_json())
    assert back.input_shapes == spec.input_shapes and back.analysis.total_params == spec.analysis.total_params
    agrees_with_keras(back)
