"""netbuilder.spec.ModelSpec: immutable edits, validation, fixes, plain-data round trip."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netbuilder as nb
from netbuilder.spec import LayerSpec, ModelSpec, new_layer, seed_spec


def kinds(spec):
    return [layer.kind for layer in spec.layers]


def test_seed_spec_is_the_article_model():
    spec = seed_spec()
    assert spec.model().output_shape == (None, 4) and spec.model().count_params() == 244
    assert spec.analyze().ok


def test_add_and_insert():
    spec = ModelSpec().add("Dense").add("Flatten", 0).add("Activation", 1)
    assert kinds(spec) == ["Flatten", "Activation", "Dense"]
    assert [layer.id for layer in spec.layers] == [1, 2, 0]
    assert spec.layers[1].activation == "relu" and spec.layers[2].units == 16
    assert kinds(spec.add("Dense", 99)) == kinds(spec) + ["Dense"]  # clamped to the end


def test_edits_return_new_specs():
    spec = ModelSpec()
    edited = spec.add("Dense")
    assert spec.layers == () and len(edited.layers) == 1


def test_remove_move_duplicate():
    spec = seed_spec()
    assert kinds(spec.remove(2)) == ["Dense", "Activation", "Dense"]
    assert kinds(spec.move(2, -2)) == ["Flatten", "Dense", "Activation", "Dense"]
    assert kinds(spec.move(0, 10)) == ["Activation", "Flatten", "Dense", "Dense"]
    dup = spec.duplicate(1)
    assert kinds(dup) == ["Dense", "Activation", "Activation", "Flatten", "Dense"]
    assert dup.layers[2].id == 4 and dup.layers[2].activation == "relu"


def test_update():
    spec = seed_spec().update(0, units=8, activation="tanh", use_bias=False)
    assert spec.layers[0] == LayerSpec(0, "Dense", units=8, activation="tanh", use_bias=False)
    assert spec.model().count_params() == 2 * 8 + 24 * 4 + 4


@pytest.mark.parametrize(
    "changes, error",
    [
        ({"units": 0}, nb.LayerConfigError),
        ({"units": 70_000}, nb.LimitError),
        ({"units": "8"}, nb.LayerConfigError),
        ({"activation": "threshold"}, nb.LayerConfigError),
        ({"kind": "Conv2D"}, nb.LayerConfigError),
        ({"colour": "red"}, nb.LayerConfigError),
    ],
)
def test_update_rejects_bad_values(changes, error):
    spec = seed_spec()
    with pytest.raises(error):
        spec.update(0, **changes)
    assert spec == seed_spec()


def test_aliases_are_stored_by_the_name_keras_serializes():
    spec = seed_spec().update(0, activation="swish").update(1, activation="hard_swish")
    assert (spec.layers[0].activation, spec.layers[1].activation) == ("silu", "hard_silu")
    assert ModelSpec.from_dict({**spec.to_dict(), "layers": [{"id": 0, "kind": "Dense", "activation": "swish"}]}).layers[0].activation == "silu"
    with pytest.raises(nb.LayerConfigError, match="'silu'"):
        ModelSpec(layers=(LayerSpec(0, "Dense", activation="swish"),)).validate()


def test_update_flatten_data_format():
    assert seed_spec().update(2, data_format="channels_first").layers[2].data_format == "channels_first"
    with pytest.raises(nb.LayerConfigError, match="data_format"):
        seed_spec().update(2, data_format="nchw")


def test_unknown_layer_id():
    with pytest.raises(nb.LayerConfigError, match="no layer with id 42"):
        seed_spec().move(42, 1)


def test_clear_input_shape_seed():
    spec = seed_spec()
    assert spec.clear().layers == ()
    assert spec.with_input_shape((6,)).input_shape == (6,)
    assert spec.with_seed(7).model().get_weights()[0].tolist() != spec.model().get_weights()[0].tolist()
    with pytest.raises(nb.LayerConfigError):
        spec.with_seed(-1)
    with pytest.raises(nb.LimitError):
        spec.with_input_shape((1001, 1000))


def test_shape_mismatch_is_allowed_but_model_raises():
    spec = seed_spec().with_input_shape(())
    assert spec.analyze().issue.layer_name == "dense"
    with pytest.raises(nb.IncompatibleShapeError):
        spec.model()


def test_limits_are_errors():
    spec = ModelSpec(input_shape=(1000,))
    with pytest.raises(nb.LimitError, match="50,000,000"):
        spec.add("Dense").update(0, units=60_000)
    with pytest.raises(nb.LimitError, match="at most 200 layers"):
        ModelSpec(layers=tuple(new_layer("Activation", i) for i in range(201))).validate()


def test_apply_fix_insert_flatten_and_set_units():
    spec = ModelSpec(input_shape=(3, 2), layers=(LayerSpec(0, "Dense", units=16), LayerSpec(1, "Dense", units=4, input_dim=48)))
    issue = spec.analyze().issue
    assert [f.action for f in issue.fixes] == ["insert_flatten", "set_units"]
    flattened = spec.apply_fix(issue.fixes[0])
    assert kinds(flattened) == ["Dense", "Flatten", "Dense"] and flattened.model().output_shape == (None, 4)
    widened = spec.apply_fix(issue.fixes[1])
    assert widened.layers[0].units == 48 and widened.model().output_shape == (None, 3, 4)


def test_apply_fix_set_input_shape_and_remove():
    spec = ModelSpec(input_shape=(), layers=(LayerSpec(0, "Dense", units=2),))
    fixes = {f.action: f for f in spec.analyze().issue.fixes}
    assert spec.apply_fix(fixes["set_input_shape"]).model().input_shape == (None, 1)
    limit = ModelSpec(input_shape=(1000,), layers=(LayerSpec(0, "Dense", units=60_000),))
    removed = limit.apply_fix(limit.analyze().issue.fixes[0])
    assert removed.layers == ()
    with pytest.raises(nb.LayerConfigError, match="unknown fix"):
        spec.apply_fix(nb.Fix("teleport", ""))


def test_to_dict_from_dict_round_trip():
    spec = seed_spec().update(0, activation="gelu", use_bias=False).update(2, data_format="channels_first").with_seed(12)
    data = spec.to_dict()
    assert data["layers"][0] == {"id": 0, "kind": "Dense", "activation": "gelu", "use_bias": False}
    assert data["layers"][1] == {"id": 1, "kind": "Activation"}  # relu is the default
    assert ModelSpec.from_dict(data) == spec
    assert ModelSpec.from_dict(ModelSpec().to_dict()) == ModelSpec()


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "spec",
        {"layers": "x"},
        {"layers": [1]},
        {"layers": [{"kind": "Dense"}]},
        {"layers": [{"id": 0, "kind": "Dense", "evil": 1}]},
        {"layers": [{"id": 0, "kind": "Conv2D"}]},
        {"layers": [{"id": 0, "kind": "Dense", "units": -3}]},
        {"layers": [{"id": 0, "kind": "Dense"}, {"id": 0, "kind": "Flatten"}]},
        {"layers": [{"id": -1, "kind": "Flatten"}]},
        {"layers": [{"id": [1], "kind": "Flatten"}]},
        {"layers": [{"id": {}, "kind": "Flatten"}]},
        {"layers": [{"id": 0, "kind": ["Dense"]}]},
        {"layers": [{"id": 0, "kind": "Dense", "units": 2.5}]},
        {"layers": [{"id": 0, "kind": "Dense", "activation": None}]},
        {"layers": [{"id": 0, "kind": "Dense", "input_dim": 0}]},
        {"input_shape": "3,2"},
        {"input_shape": [0]},
        {"input_shape": [2, 2, 2, 2, 2]},
        {"seed": "x"},
        {"seed": 10**7},
        {"layers": [{"id": i, "kind": "Flatten"} for i in range(201)]},
    ],
)
def test_from_dict_rejects_garbage(data):
    with pytest.raises(nb.NetbuilderError):
        ModelSpec.from_dict(data)


def test_layer_spec_describe():
    assert LayerSpec(0, "Dense", units=1000, activation="relu", use_bias=False, input_dim=48).describe() == "1,000 units, relu, no bias, built for 48 inputs"
    assert LayerSpec(0, "Flatten").describe() == "channels_last"
    assert new_layer("Activation", 0).describe() == "relu"
    with pytest.raises(nb.LayerConfigError):
        new_layer("Dropout", 0)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 70_000) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
RAW_LAYER = st.fixed_dictionaries(
    {"id": st.integers(0, 5) | JSONISH, "kind": st.sampled_from(["Dense", "Flatten", "Activation"]) | JSONISH},
    optional={"units": st.integers(-1, 70_000) | JSONISH, "activation": st.sampled_from(["relu", "glu", "nope"]) | JSONISH,
              "use_bias": JSONISH, "data_format": st.sampled_from(["channels_first", "x"]) | JSONISH, "input_dim": JSONISH},
)


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({}, optional={"input_shape": st.lists(st.integers(-1, 6), max_size=5) | JSONISH,
                                           "seed": st.integers(-1, 10**6 + 1) | JSONISH,
                                           "layers": st.lists(RAW_LAYER, max_size=4) | JSONISH}))
def test_from_dict_accepts_or_raises_netbuilder_error_only(data):
    try:
        spec = ModelSpec.from_dict(data)
    except nb.NetbuilderError:
        return
    assert ModelSpec.from_dict(spec.to_dict()) == spec


def test_settings_of_another_kind_are_not_kept():
    spec = ModelSpec.from_dict({"input_shape": [3, 2], "layers": [
        {"id": 0, "kind": "Flatten", "units": 7, "activation": "tanh"},
        {"id": 1, "kind": "Dense", "data_format": "channels_first"},
    ]})
    assert spec.layers == (new_layer("Flatten", 0), new_layer("Dense", 1))
    assert spec.update(0, units=9) == spec
