"""netbuilder.studio.spec: generic LayerSpecs, immutable ModelSpec edits, validation, fixes, plain-data round trip."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netbuilder as nb
from netbuilder.engine.initializers import GlorotUniform, Zeros
from netbuilder.engine.layer import KINDS, kind_class
from netbuilder.studio.models import built
from netbuilder.studio.spec import MAX_LAYER_ID, LayerSpec, ModelSpec, kinds_by_group, new_layer, seed_spec


def kinds(spec):
    return [layer.kind for layer in spec.layers]


def test_seed_spec_is_the_article_model():
    spec = seed_spec()
    assert built(spec).output_shape == (None, 4) and built(spec).count_params() == 244
    assert spec.analysis.ok and spec.names == ("dense", "activation", "flatten", "dense_1")


def test_analysis_is_cached_on_the_spec_and_builds_no_weights():
    spec = seed_spec()
    assert spec.analysis is spec.analysis
    layers = spec.layer_objects()
    assert nb.analyze(layers, spec.input_shape) == spec.analysis
    assert all(layer.weights == [] and layer.built_shape is None for layer in layers)  # shapes only: nothing is built
    assert [layer.name for layer in layers] == [None] * 4  # and nothing is renamed (names come from layer_names)


# --- LayerSpec ---------------------------------------------------------------------------------------
def test_layer_spec_make_fills_defaults_in_declared_order():
    layer = LayerSpec.make(3, "Dense", units=8)
    defaults = {
        "units": 8,
        "activation": "linear",
        "use_bias": True,
        "kernel_initializer": GlorotUniform(),
        "bias_initializer": Zeros(),
        "kernel_regularizer": None,
        "bias_regularizer": None,
    }  # Keras's order and defaults
    assert layer.settings == tuple(defaults.items())
    assert (layer.units, layer.activation, layer.use_bias, layer.built_for) == (8, "linear", True, None)
    assert layer.values == defaults
    assert LayerSpec.make(0, "Flatten").settings == (("data_format", "channels_last"),)
    assert LayerSpec.make(0, "Dense", built_for=[48]).built_for == (48,)
    with pytest.raises(AttributeError):
        layer.data_format  # a setting of another kind


@pytest.mark.parametrize(
    "kind, settings, error, match",
    [
        ("Dense", {"units": 0}, nb.LayerConfigError, "units must be an integer from 1 to 65,536; received 0"),
        ("Dense", {"units": 70_000}, nb.LimitError, "units must be an integer from 1 to 65,536; received 70000"),
        ("Dense", {"units": "8"}, nb.LayerConfigError, "units must be an integer"),
        ("Dense", {"units": True}, nb.LayerConfigError, "units must be an integer"),
        ("Dense", {"units": 2.5}, nb.LayerConfigError, "units must be an integer"),
        ("Dense", {"activation": "threshold"}, nb.LayerConfigError, "threshold"),
        ("Dense", {"activation": "nope"}, nb.LayerConfigError, "nope"),
        ("Dense", {"use_bias": 1}, nb.LayerConfigError, "use_bias must be true or false"),
        ("Dense", {"colour": "red"}, nb.LayerConfigError, "Dense has no setting"),
        ("Flatten", {"data_format": "nchw"}, nb.LayerConfigError, "data_format"),
        ("Flatten", {"units": 3}, nb.LayerConfigError, "Flatten has no setting"),
        ("Teleport", {}, nb.LayerConfigError, "unknown layer kind 'Teleport'"),
        (["Dense"], {}, nb.LayerConfigError, "unknown layer kind"),
    ],
)
def test_layer_spec_make_refuses_bad_settings(kind, settings, error, match):
    with pytest.raises(error, match=match):
        LayerSpec.make(0, kind, **settings)


@pytest.mark.parametrize("layer_id", [-1, 10**6, True, 1.0, "1", [1]])
def test_layer_ids_are_small_integers(layer_id):
    with pytest.raises(nb.LayerConfigError, match="layer id must be an integer from 0 to 999999"):
        LayerSpec.make(layer_id, "Flatten")


def test_layer_spec_label():
    assert LayerSpec.make(0, "Dense", units=1000, activation="relu", use_bias=False, built_for=(48,)).label() == (
        "1,000 units, relu, no bias, built for 48 inputs"
    )
    assert LayerSpec.make(0, "Dense", units=1, activation="sigmoid", built_for=(1,)).label() == (
        "1 unit, sigmoid, built for 1 input"
    )
    assert LayerSpec.make(0, "Flatten").label() == "channels_last"
    assert new_layer("Activation", 0).label() == "relu"
    with pytest.raises(nb.LayerConfigError, match="unknown layer kind 'Teleport'"):
        new_layer("Teleport", 0)


def test_new_layer_takes_every_registered_kinds_defaults():
    for kind, cls in KINDS.items():
        layer = new_layer(kind, 0)
        assert layer.values == {s.name: s.default for s in cls.settings}
        assert LayerSpec.from_dict(layer.to_dict()) == layer == LayerSpec.from_dict({"id": 0, "kind": kind})


def test_kinds_by_group_lists_every_kind_once_in_group_order():
    groups = kinds_by_group()
    listed = [kind for members in groups.values() for kind in members]
    assert sorted(listed) == sorted(KINDS) and len(listed) == len(set(listed))
    assert all(kind_class(kind).group == group for group, members in groups.items() for kind in members)
    assert {"Dense", "Flatten", "Activation"} <= set(listed)


# --- edits -------------------------------------------------------------------------------------------
def test_add_and_insert():
    spec = ModelSpec().add("Dense").add("Flatten", 0).add("Activation", 1)
    assert kinds(spec) == ["Flatten", "Activation", "Dense"]
    assert [layer.id for layer in spec.layers] == [1, 2, 0]
    assert spec.layers[1].activation == "relu" and spec.layers[2].units == 16
    assert kinds(spec.add("Dense", 99)) == kinds(spec) + ["Dense"]  # clamped to the end


def test_add_several_with_settings():
    spec = ModelSpec(input_shape=(4,)).add("Dense", count=3, units=5, activation="tanh")
    assert [layer.id for layer in spec.layers] == [0, 1, 2] and spec.names == ("dense", "dense_1", "dense_2")
    assert all(
        layer.values
        == {
            "units": 5,
            "activation": "tanh",
            "use_bias": True,
            "kernel_initializer": GlorotUniform(),
            "bias_initializer": Zeros(),
            "kernel_regularizer": None,
            "bias_regularizer": None,
        }
        for layer in spec.layers
    )
    assert kinds(spec.add("Flatten", 1, count=2)) == ["Dense", "Flatten", "Flatten", "Dense", "Dense"]
    for count in (0, -1, 1201, True, 2.0):
        with pytest.raises(nb.LayerConfigError, match="count must be an integer from 1 to 1200"):
            spec.add("Dense", count=count)
    with pytest.raises(nb.LayerConfigError, match="units must be an integer"):
        spec.add("Dense", units=0)


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


def test_duplicate_several_copies_right_after_the_layer():
    dup = seed_spec().update(0, units=8).duplicate(0, count=3)
    assert kinds(dup) == ["Dense"] * 4 + ["Activation", "Flatten", "Dense"]
    assert [layer.id for layer in dup.layers] == [0, 4, 5, 6, 1, 2, 3]
    assert all(layer.units == 8 for layer in dup.layers[:4])
    assert dup.names[:4] == ("dense", "dense_1", "dense_2", "dense_3")
    for count in (0, 1201, True):
        with pytest.raises(nb.LayerConfigError, match="count must be an integer from 1 to 1200"):
            seed_spec().duplicate(0, count=count)
    full = ModelSpec(layers=tuple(new_layer("Activation", i) for i in range(1150)))
    with pytest.raises(nb.LimitError, match="at most 1200 layers; this one would have 1210"):
        full.duplicate(0, count=60)


def test_replace_layers_gives_fresh_ids():
    spec = seed_spec().replace_layers([LayerSpec.make(9, "Flatten"), LayerSpec.make(4, "Dense", units=3)])
    assert [(layer.id, layer.kind) for layer in spec.layers] == [(0, "Flatten"), (1, "Dense")]
    assert spec.analysis.output_shape == (None, 3) and spec.input_shape == (3, 2)


def test_update():
    spec = seed_spec().update(0, units=8, activation="tanh", use_bias=False)
    assert spec.layers[0] == LayerSpec.make(0, "Dense", units=8, activation="tanh", use_bias=False)
    assert built(spec).count_params() == 2 * 8 + 24 * 4 + 4


@pytest.mark.parametrize(
    "changes, error",
    [
        ({"units": 0}, nb.LayerConfigError),
        ({"units": 70_000}, nb.LimitError),
        ({"units": "8"}, nb.LayerConfigError),
        ({"activation": "threshold"}, nb.LayerConfigError),
        ({"kind": "Flatten"}, nb.LayerConfigError),
        ({"built_for": (4,)}, nb.LayerConfigError),
        ({"layer_id": 3}, nb.LayerConfigError),
        ({"colour": "red"}, nb.LayerConfigError),
        ({"data_format": "channels_first"}, nb.LayerConfigError),  # a Flatten setting, not a Dense one
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
    assert (
        ModelSpec.from_dict({**spec.to_dict(), "layers": [{"id": 0, "kind": "Dense", "activation": "swish"}]})
        .layers[0]
        .activation
        == "silu"
    )
    assert LayerSpec.make(0, "Dense", activation=None).activation == "linear"  # Keras's Dense(activation=None)
    # a spec built by hand around LayerSpec.make holds what make would not: refused
    with pytest.raises(nb.LayerConfigError, match="not in its canonical form"):
        ModelSpec(
            layers=(LayerSpec(0, "Dense", (("units", 16), ("activation", "swish"), ("use_bias", True))),)
        ).validate()
    with pytest.raises(nb.LayerConfigError, match="not in its canonical form"):
        ModelSpec(layers=(LayerSpec(0, "Dense", (("units", 16),)),)).validate()  # settings missing


def test_update_flatten_data_format():
    assert seed_spec().update(2, data_format="channels_first").layers[2].data_format == "channels_first"
    assert seed_spec().update(2, data_format="CHANNELS_FIRST").layers[2].data_format == "channels_first"  # as Keras
    with pytest.raises(nb.LayerConfigError, match="data_format"):
        seed_spec().update(2, data_format="nchw")


def test_unknown_layer_id():
    with pytest.raises(nb.LayerConfigError, match="no layer with id 42"):
        seed_spec().move(42, 1)


def test_clear_input_shape_seed():
    spec = seed_spec()
    assert spec.clear().layers == ()
    assert spec.with_input_shape((6,)).input_shape == (6,)
    assert built(spec.with_seed(7)).get_weights()[0].tolist() != built(spec).get_weights()[0].tolist()
    with pytest.raises(nb.LayerConfigError):
        spec.with_seed(-1)
    with pytest.raises(nb.LimitError, match="at most 2,147,483,648"):
        spec.with_input_shape((65_536, 32_769))


def test_shape_mismatch_is_allowed_but_building_raises():
    spec = seed_spec().with_input_shape(())
    assert spec.analysis.issue.layer_name == "dense"
    with pytest.raises(nb.IncompatibleShapeError):
        built(spec)


@pytest.mark.usefixtures("public_budget")
def test_limits_are_errors_and_budgets_are_for_runs():
    spec = ModelSpec(input_shape=(1000,)).add("Dense").update(0, units=60_000)  # 60,060,000 parameters: shapes only
    assert spec.analysis.total_params == 60_060_000
    assert "the budget is 64.0 MB (16,777,216 parameters)" in spec.analysis.cost.budget_problem()
    with pytest.raises(nb.LimitError, match=r"the budget is 64\.0 MB \(16,777,216 parameters\)"):
        built(spec)
    with pytest.raises(nb.LimitError, match="at most 1200 layers"):
        ModelSpec(layers=tuple(new_layer("Activation", i) for i in range(1201))).validate()


# --- fixes -------------------------------------------------------------------------------------------
def test_apply_fix_dense_built_for_48_behind_a_dense():
    spec = ModelSpec(
        input_shape=(3, 2),
        layers=(LayerSpec.make(0, "Dense", units=16), LayerSpec.make(1, "Dense", units=4, built_for=(48,))),
    )
    issue = spec.analysis.issue
    assert [(f.action, f.layer_index, f.value) for f in issue.fixes] == [
        ("insert_layer", 1, ("Flatten", {})),
        ("set_setting", 0, ("units", 48)),
        ("unbuild", 1, None),
        ("remove_layer", 1, None),  # always offered, last
    ]
    flattened = spec.apply_fix(issue.fixes[0])
    assert kinds(flattened) == ["Dense", "Flatten", "Dense"] and built(flattened).output_shape == (None, 4)
    widened = spec.apply_fix(issue.fixes[1])
    assert widened.layers[0].units == 48 and built(widened).output_shape == (None, 3, 4)
    rebuilt = spec.apply_fix(issue.fixes[2])
    assert rebuilt.layers[1].built_for is None and built(rebuilt).output_shape == (None, 3, 4)
    assert built(rebuilt).count_params() == 48 + 68
    assert kinds(spec.apply_fix(issue.fixes[3])) == ["Dense"]


def test_apply_fix_set_input_shape_and_remove():
    spec = ModelSpec(input_shape=(), layers=(LayerSpec.make(0, "Dense", units=2),))
    fixes = {f.action: f for f in spec.analysis.issue.fixes}
    assert set(fixes) == {"insert_layer", "set_input_shape"}  # not "remove": it would leave no layer
    assert built(spec.apply_fix(fixes["set_input_shape"])).input_shape == (None, 1)
    assert built(spec.apply_fix(fixes["insert_layer"])).output_shape == (None, 2)
    two = spec.add("Dense", units=3)
    remove = two.analysis.issue.fixes[-1]
    assert remove.action == "remove_layer" and two.apply_fix(remove).layers == (two.layers[1],)
    with pytest.raises(nb.LayerConfigError, match="unknown fix"):
        spec.apply_fix(nb.Fix("teleport", ""))


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(
            (3, 2),
            (
                LayerSpec.make(0, "Dense", units=16),
                LayerSpec.make(1, "Activation"),
                LayerSpec.make(2, "Dense", units=4, built_for=(48,)),
            ),
        ),
        ModelSpec((), (LayerSpec.make(0, "Dense", units=4),)),
        ModelSpec((4,), (LayerSpec.make(0, "Dense", units=5, activation="glu"),)),
        ModelSpec((5,), (LayerSpec.make(0, "Activation", activation="glu"),)),
        ModelSpec((), (LayerSpec.make(0, "Activation", activation="glu"),)),
        ModelSpec((3,), (LayerSpec.make(0, "Dense", units=2, built_for=(5,)),)),
        ModelSpec(
            (2, 3),
            (
                LayerSpec.make(0, "Flatten"),
                LayerSpec.make(1, "Dense", units=3, built_for=(4,)),
                LayerSpec.make(2, "Flatten"),
            ),
        ),
    ],
    ids=["built-for-48", "scalar-dense", "odd-glu-dense", "odd-glu", "batch-only-glu", "built-for-5", "after-flatten"],
)
def test_every_offered_fix_makes_the_failing_layer_fit(spec):
    issue = spec.analysis.issue
    assert issue is not None and issue.fixes
    # "remove" comes last, and never for the only layer: Keras cannot build an empty model
    assert (issue.fixes[-1].action == "remove_layer") == (len(spec.layers) > 1)
    for fix in issue.fixes:
        fixed = spec.apply_fix(fix)
        after = fixed.analysis.issue
        target = issue.layer_index + (fix.action == "insert_layer" and fix.layer_index <= issue.layer_index)
        if fix.action == "remove_layer":
            assert len(fixed.layers) == len(spec.layers) - 1
        else:
            assert after is None or after.layer_index > target, (fix, after)


# --- plain data ----------------------------------------------------------------------------------------
def test_to_dict_from_dict_round_trip():
    spec = (
        seed_spec().update(0, activation="gelu", use_bias=False).update(2, data_format="channels_first").with_seed(12)
    )
    data = spec.to_dict()
    assert data["layers"][0] == {"id": 0, "kind": "Dense", "activation": "gelu", "use_bias": False}
    assert data["layers"][1] == {"id": 1, "kind": "Activation"}  # relu is the default
    assert ModelSpec.from_dict(data) == spec
    assert ModelSpec.from_dict(ModelSpec().to_dict()) == ModelSpec()
    built_for = ModelSpec((3,), (LayerSpec.make(5, "Dense", units=3, built_for=(3,)),))
    assert built_for.to_dict()["layers"] == [{"id": 5, "kind": "Dense", "units": 3, "built_for": [3]}]
    assert ModelSpec.from_dict(built_for.to_dict()) == built_for


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "spec",
        {"layers": "x"},
        {"layers": [1]},
        {"layers": [{"kind": "Dense"}]},
        {"layers": [{"id": 0}]},
        {"layers": [{"id": 0, "kind": "Dense", "evil": 1}]},
        {"layers": [{"id": 0, "kind": "Teleport"}]},
        {"layers": [{"id": 0, "kind": "Dense", "units": -3}]},
        {"layers": [{"id": 0, "kind": "Dense"}, {"id": 0, "kind": "Flatten"}]},
        {"layers": [{"id": -1, "kind": "Flatten"}]},
        {"layers": [{"id": [1], "kind": "Flatten"}]},
        {"layers": [{"id": {}, "kind": "Flatten"}]},
        {"layers": [{"id": 0, "kind": ["Dense"]}]},
        {"layers": [{"id": 0, "kind": "Dense", "units": 2.5}]},
        {"layers": [{"id": 0, "kind": "Dense", "activation": 3}]},
        {"layers": [{"id": 0, "kind": "Dense", "built_for": [0]}]},
        {"layers": [{"id": 0, "kind": "Dense", "built_for": 4}]},
        {"layers": [{"id": 0, "kind": "Dense", "built_for": [1, 1, 1, 1, 1]}]},
        {"layers": [{"id": 0, "kind": "Dense", "input_dim": 3}]},  # version 1's name: only share.decode reads it
        {"input_shape": "3,2"},
        {"input_shape": [0]},
        {"input_shape": [2, 2, 2, 2, 2]},
        {"seed": "x"},
        {"seed": 10**7},
        {"other": 1},
        {"layers": [{"id": i, "kind": "Flatten"} for i in range(1201)]},
    ],
)
def test_from_dict_rejects_garbage(data):
    with pytest.raises(nb.NetbuilderError):
        ModelSpec.from_dict(data)


def test_settings_of_another_kind_are_refused_not_kept():
    with pytest.raises(nb.LayerConfigError, match="Flatten has no setting.*activation, units"):
        ModelSpec.from_dict(
            {"input_shape": [3, 2], "layers": [{"id": 0, "kind": "Flatten", "units": 7, "activation": "tanh"}]}
        )
    with pytest.raises(nb.LayerConfigError, match="Dense has no setting.*data_format"):
        ModelSpec.from_dict(
            {"input_shape": [3, 2], "layers": [{"id": 1, "kind": "Dense", "data_format": "channels_first"}]}
        )
    spec = ModelSpec.from_dict(
        {"input_shape": [3, 2], "layers": [{"id": 0, "kind": "Flatten"}, {"id": 1, "kind": "Dense"}]}
    )
    assert spec.layers == (new_layer("Flatten", 0), new_layer("Dense", 1))
    with pytest.raises(nb.LayerConfigError, match="Flatten has no setting"):
        spec.update(0, units=9)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 70_000) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
RAW_LAYER = st.fixed_dictionaries(
    {"id": st.integers(0, 5) | JSONISH, "kind": st.sampled_from(["Dense", "Flatten", "Activation"]) | JSONISH},
    optional={
        "units": st.integers(-1, 70_000) | JSONISH,
        "activation": st.sampled_from(["relu", "glu", "nope"]) | JSONISH,
        "use_bias": JSONISH,
        "data_format": st.sampled_from(["channels_first", "x"]) | JSONISH,
        "built_for": st.lists(st.integers(-1, 70), max_size=5) | JSONISH,
    },
)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "input_shape": st.lists(st.integers(-1, 6), max_size=5) | JSONISH,
            "seed": st.integers(-1, 10**6 + 1) | JSONISH,
            "layers": st.lists(RAW_LAYER, max_size=4) | JSONISH,
        },
    )
)
def test_from_dict_accepts_or_raises_netbuilder_error_only(data):
    try:
        spec = ModelSpec.from_dict(data)
    except nb.NetbuilderError:
        return
    assert ModelSpec.from_dict(spec.to_dict()) == spec


def test_fixes_and_edits_work_when_a_link_holds_the_largest_layer_id():
    """A share link may number its layers up to MAX_LAYER_ID - 1; a fix that inserts a layer still applies."""
    spec = ModelSpec((), (LayerSpec.make(MAX_LAYER_ID - 1, "Dense", units=2),)).validate()
    insert = next(f for f in spec.analysis.issue.fixes if f.action == "insert_layer")
    fixed = spec.apply_fix(insert)
    assert [layer.kind for layer in fixed.layers] == ["Flatten", "Dense"] and fixed.analysis.ok
    assert [layer.id for layer in fixed.layers] == [0, MAX_LAYER_ID - 1]
    assert [layer.id for layer in spec.add("ReLU", count=3).layers] == [MAX_LAYER_ID - 1, 0, 1, 2]
    assert [layer.id for layer in spec.duplicate(MAX_LAYER_ID - 1, 2).layers] == [MAX_LAYER_ID - 1, 0, 1]
    assert spec.next_id() == 0 and seed_spec().next_id() == 4


def test_trained_weights_must_be_finite():
    spec = seed_spec()
    weights = built(spec).get_weights()
    assert spec.with_weights(weights).trained
    weights[0][0, :2], weights[1][5] = np.nan, -np.inf
    with pytest.raises(nb.LayerConfigError) as e:
        spec.with_weights(weights)
    assert str(e.value) == "trained weights must be finite numbers; 3 of 244 are NaN or infinite."
    overflow = [w.astype(np.float64) for w in built(spec).get_weights()]
    overflow[2][0, 0] = 1e39  # finite as float64, infinite once stored as float32
    with pytest.raises(nb.LayerConfigError, match="1 of 244 are NaN or infinite"):
        spec.with_weights(overflow)


def test_a_setting_nested_thousands_deep_is_an_error_not_a_crash():
    deep = 1
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(nb.LayerConfigError) as e:
        LayerSpec.make(0, "Dense", units=deep)
    assert str(e.value) == "units must be an integer from 1 to 65,536; received a value nested too deeply to show"
