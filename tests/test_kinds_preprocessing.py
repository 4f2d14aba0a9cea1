"""Rescaling and Normalization through the kind harness (tests/kind_harness.py) against real Keras 3.15, and the entries
keras.applications writes for them (EfficientNetB0, ConvNeXtTiny)."""

import json
import warnings

import keras
import numpy as np
import pytest

import netbuilder as nb
from kind_harness import (
    Case,
    check_case,
    check_cost,
    check_exports,
    check_gradients,
    json_roundtrip_equal,
    keras_model,
    ours_model,
    run_keras_code,
    run_torch_code,
    sample,
    spec_of,
)
from netbuilder.engine.kinds.preprocessing import MAX_VALUES
from netbuilder.engine.layer import kind_class
from netbuilder.studio.spec import LayerSpec, ModelSpec
from test_cost import FLOAT32, backprop_peak

R, N = "Rescaling", "Normalization"
IMAGENET_MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]  # ConvNeXt's PreStem, as keras.applications.convnext writes it
IMAGENET_VARIANCE = [(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2]
WHY_SPREAD = (
    "a list on a last axis of size 1: Keras spreads it into an output larger than the shape it reports; "
    "refused up front"
)
WHY_TWO_AXES = (
    "scale and offset are a number or one per position of the last axis (what Keras's JSON holds for Rescaling)"
)
WHY_TWICE = (
    "the same axis named twice (after counting from the end); Keras accepts it only with given mean and variance"
)

CASES = [
    # Rescaling: numbers (EfficientNet's 1/255), lists on the last axis, a list of one, Keras's refusals
    Case(R, {"scale": 0.5}, (3,)),
    Case(R, {"scale": 1 / 255}, (4, 4, 3)),
    Case(R, {"scale": 1 / 127.5, "offset": -1.0}, (2, 3)),
    Case(R, {"scale": 2}, (3,)),
    Case(R, {"scale": -1.5, "offset": 0.25}, ()),
    Case(R, {"scale": 0.0}, (2,)),
    Case(R, {"scale": [0.5, 1.0, 2.0]}, (2, 3)),
    Case(R, {"scale": [0.5, 1.0, 2.0], "offset": [1.0, 2.0, -3.0]}, (4, 3)),
    Case(R, {"scale": (0.25, 4.0)}, (2, 2, 2)),
    Case(R, {"scale": 2.0, "offset": [1.0, -1.0]}, (3, 2)),
    Case(R, {"scale": [3.0]}, (2, 2)),
    Case(R, {"scale": [3.0], "offset": [0.5]}, ()),
    Case(R, {"scale": [1.0, 2.0]}, (3,)),  # two factors for three features: Keras fails at predict
    Case(R, {"scale": 1.0, "offset": [1.0, 2.0, 3.0]}, (2, 4)),
    Case(R, {"scale": [1.0, 2.0, 3.0]}, ()),  # only the batch axis
    Case(R, {"scale": []}, (2,)),
    Case(R, {"scale": "a"}, (2,)),
    Case(R, {"scale": None}, (2,), keras_accepts_we_reject="None as scale: Keras casts it to NaN"),
    Case(R, {"offset": 1.0}, (2,)),  # scale is required
    Case(R, {"scale": [1.0, 2.0, 3.0]}, (2, 1), keras_accepts_we_reject=WHY_SPREAD),
    Case(R, {"scale": [[1.0, 2.0]]}, (2,), keras_accepts_we_reject=WHY_TWO_AXES),
    Case(R, {"scale": float("inf")}, (2,), keras_accepts_we_reject="inf as a setting"),
    Case(R, {"scale": True}, (2,), keras_accepts_we_reject="a boolean where Keras takes a number"),
    # Normalization with its statistics as weights (what keras.applications' EfficientNet writes): axes of every kind
    Case(N, {}, (3,)),
    Case(N, {}, (4, 4, 3)),
    Case(N, {"axis": 3}, (2, 2, 3)),
    Case(N, {"axis": 1}, (3, 2)),
    Case(N, {"axis": -2}, (3, 2)),
    Case(N, {"axis": [1, 2]}, (3, 2)),
    Case(N, {"axis": [2, 1]}, (3, 2)),
    Case(N, {"axis": [-1, 1]}, (3, 2)),
    Case(N, {"axis": [1, 3]}, (2, 3, 2)),
    Case(N, {"axis": [-1]}, (2,)),
    Case(N, {"axis": None}, (3, 2)),
    Case(N, {"axis": None}, ()),
    Case(N, {"axis": []}, (3,)),
    Case(N, {"invert": True}, (3,)),
    Case(N, {"axis": -2, "invert": True}, (2, 3)),
    Case(N, {}, ()),  # the only axis is the batch
    Case(N, {"axis": 0}, (3,)),
    Case(N, {"axis": 3}, (3, 2)),
    Case(N, {"axis": -4}, (3, 2)),
    Case(N, {"axis": [1, -2]}, (3, 2)),  # the same axis twice once counted from the end
    Case(N, {"axis": [1, 1]}, (3,)),
    Case(N, {"axis": "x"}, (3,)),
    # Normalization with mean and variance given (what ConvNeXt's PreStem writes), Keras's broadcasting rules
    Case(N, {"mean": 2.0, "variance": 4.0}, (3,)),
    Case(N, {"mean": 1, "variance": 2}, (3, 2)),
    Case(N, {"mean": [1.0, 2.0], "variance": [1.0, 4.0]}, (3, 2)),
    Case(N, {"mean": [1.0], "variance": [2.0]}, (3, 2)),
    Case(N, {"mean": IMAGENET_MEAN, "variance": IMAGENET_VARIANCE}, (4, 4, 3)),
    Case(N, {"axis": [1, 2], "mean": [1.0, 2.0], "variance": [1.0, 2.0]}, (3, 2)),
    Case(N, {"axis": [2, 1], "mean": [[1.0], [2.0], [3.0]], "variance": [[1.0], [2.0], [3.0]]}, (3, 2)),
    Case(
        N,
        {
            "axis": [1, 2],
            "mean": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
            "variance": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
        },
        (3, 2),
    ),
    Case(N, {"axis": None, "mean": 2.0, "variance": 0.0}, (3,)),  # √0 < ε: divided by 1e-7
    Case(N, {"axis": 1, "mean": [0.5, 1.5, 2.5], "variance": [1.0, 0.25, 9.0], "invert": True}, (3, 2)),
    Case(N, {"mean": [1.0, 2.0], "variance": [1.0, 2.0], "invert": True}, (2,)),
    Case(N, {"mean": 1.0}, (3,)),  # mean without variance
    Case(N, {"mean": [1.0, 2.0], "variance": 3.0}, (3, 2)),  # different shapes
    Case(N, {"mean": [[1.0, 2.0]], "variance": [[1.0, 2.0]]}, (3, 2)),  # more axes than kept
    Case(N, {"axis": None, "mean": [1.0], "variance": [1.0]}, (3,)),
    Case(N, {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 2.0, 3.0]}, (3, 2)),  # three means for two features
    Case(N, {"mean": [1.0, 2.0], "variance": [1.0, 2.0]}, (3, 1)),
    Case(N, {"axis": [1, 2], "mean": [1.0, 2.0, 3.0], "variance": [1.0, 2.0, 3.0]}, (3, 2)),  # lined up from the right
    Case(N, {"axis": 0, "mean": 1.0, "variance": 1.0}, (3,)),
    Case(N, {"axis": [1, -2], "mean": 1.0, "variance": 2.0}, (3, 2), keras_accepts_we_reject=WHY_TWICE),
    Case(
        N, {"mean": 1.0, "variance": -2.0}, (3,), keras_accepts_we_reject="a negative variance: Keras's output is NaN"
    ),
    Case(N, {"mean": float("nan"), "variance": 1.0}, (3,), keras_accepts_we_reject="NaN as a setting"),
]
ACCEPTED = []


@pytest.fixture
def keras_normalization_reads_weights(monkeypatch):
    """Keras 3.15's Normalization computes with the mean and variance it read when it was built, adapted or loaded from
    a weights file: `set_weights` alone leaves the old ones in use (test_keras_set_weights_leaves_normalization_stale).
    The harness copies our weights into Keras with set_weights, so here Keras reads them at each call, as it does after
    load_weights. Netbuilder computes with its weights as they are (a deliberate difference)."""
    original = keras.layers.Normalization.call

    def call(self, inputs):
        self.finalize_state()
        return original(self, inputs)

    monkeypatch.setattr(keras.layers.Normalization, "call", call)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_matches_keras(case, keras_normalization_reads_weights):
    check_case(case)


def _accepted(case) -> bool:
    try:
        ours_model(case)
    except nb.NetbuilderError:
        return False
    return True


BIT_CASES = [c for c in CASES if _accepted(c)]  # test_matches_keras proves Keras accepts exactly these


def _perturbed(model, rng, tiny=False):
    """Weights moved off Keras's zeros and ones so each matters (variances positive; `tiny`: some below ε², where
    Keras divides by ε)."""
    out = []
    for layer in model.layers:
        specs = layer.weight_specs(layer.built_shape) if layer.built_shape else []
        for spec, w in zip(specs, layer.get_weights()):
            w = (w + rng.normal(size=w.shape) * 2).astype(np.float32)
            if spec.name == "variance":
                w = np.abs(w) + 0.1
                if tiny and w.size > 1:
                    w.flat[0] = 1e-16
            elif spec.name == "count":
                w = np.zeros_like(w)
            out.append(w)
    return out


@pytest.mark.parametrize("case", BIT_CASES, ids=[c.id for c in BIT_CASES])
def test_inference_is_bit_for_bit_keras(case, keras_normalization_reads_weights):
    """Keras's order of operations (scale and offset rounded to float32, then x·scale + offset;
    (x − mean) / max(√var, ε)), so equal bits, a standard deviation below ε included."""
    ours, theirs = ours_model(case), keras_model(case)
    weights = _perturbed(ours, np.random.default_rng(1), tiny=True)
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = (np.random.default_rng(2).normal(size=(6, *case.input_shape)) * 3 + 1).astype(np.float32)
    x.flat[0] = -0.0
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x, verbose=0))


def test_formulas_by_hand():
    x = np.array([[0.0, 127.5, 255.0], [-0.0, 1.0, 2.0]], np.float32)
    model = nb.Sequential([nb.Input((3,)), nb.Rescaling(1 / 127.5, offset=-1.0)])
    expected = x * np.float32(1 / 127.5) + np.float32(-1.0)
    np.testing.assert_array_equal(model.predict(x), expected)
    assert model.predict(x)[0, 2] == 1.0 and model.predict(x)[0, 0] == -1.0
    model = nb.Sequential([nb.Input((3,)), nb.Rescaling([1.0, 2.0, 3.0], offset=[0.0, 0.0, 1.0])])
    np.testing.assert_array_equal(model.predict(x), [[0.0, 255.0, 766.0], [0.0, 2.0, 7.0]])
    assert not np.signbit(
        nb.Sequential([nb.Input((1,)), nb.Rescaling(1.0)]).predict(np.float32([[-0.0]]))
    ).any()  # −0 + 0 = +0
    model = nb.Sequential([nb.Input((2,)), nb.Normalization(mean=[1.0, 2.0], variance=[4.0, 1e-16])])
    # (3 − 1)/√4 = 1; √1e-16 = 1e-8 is below ε = 1e-7, so (2.5 − 2)/1e-7
    np.testing.assert_allclose(model.predict(np.float32([[3.0, 2.5]])), [[1.0, 5e6]], rtol=1e-6)
    model = nb.Sequential([nb.Input((2,)), nb.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0], invert=True)])
    np.testing.assert_array_equal(model.predict(np.float32([[1.0, -1.0]])), [[3.0, -1.0]])  # 1 + 1·2, 2 − 1·3


def test_epsilon_is_keras_backend_epsilon():
    assert keras.backend.epsilon() == 1e-7
    from netbuilder.engine.kinds.preprocessing import EPSILON

    assert EPSILON == keras.backend.epsilon()


def test_initial_weights_are_keras_zeros_ones_and_count():
    for case in (
        Case(N, {}, (3,)),
        Case(N, {"axis": [1, 2]}, (3, 2)),
        Case(N, {"axis": None}, (4,)),
        Case(N, {"axis": 3}, (2, 2, 3)),
    ):
        mine, theirs = ours_model(case).get_weights(), keras_model(case).get_weights()
        assert [np.shape(w) for w in mine] == [np.shape(w) for w in theirs]
        for m, t in zip(mine, theirs, strict=True):
            np.testing.assert_array_equal(m, np.asarray(t))
        assert (
            str(np.asarray(theirs[2]).dtype) == "int32" and mine[2].dtype == np.float32
        )  # count: float32 throughout here
    assert ours_model(Case(N, {"mean": 1.0, "variance": 2.0}, (3,))).get_weights() == []


def test_keras_set_weights_leaves_normalization_stale():
    """The Keras behaviour we deliberately do not copy: after set_weights Keras goes on with the mean and variance it
    had (here its initial 0 and 1); after finalize_state (what load_weights calls) it uses the ones set, as we do."""
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Normalization()])
    ours = nb.Sequential([nb.Input((3,)), nb.Normalization()])
    weights = [np.float32([1, 2, 3]), np.float32([4, 4, 16]), np.float32(5)]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = np.float32([[3, 4, 11]])
    np.testing.assert_array_equal(theirs.predict(x, verbose=0), x)  # stale: (x − 0)/1
    theirs.layers[0].finalize_state()
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x, verbose=0))
    np.testing.assert_array_equal(ours.predict(x), [[1.0, 1.0, 2.0]])


# --- settings --------------------------------------------------------------------------------------------------
def test_settings_are_checked_like_keras():
    with pytest.raises(nb.LayerConfigError, match="both `mean` and `variance` must be set"):
        nb.Normalization(variance=2.0)
    with pytest.raises(nb.LayerConfigError, match="must have the same shape"):
        nb.Normalization(mean=[1.0, 2.0], variance=[1.0])
    with pytest.raises(
        nb.LayerConfigError, match=r"rank of `mean` must be less than or equal to the number of axes \(0\)"
    ):
        nb.Normalization(axis=None, mean=[1.0], variance=[1.0])
    with pytest.raises(nb.LayerConfigError, match="variance must be a number ≥ 0"):
        nb.Normalization(mean=1.0, variance=-1.0)
    with pytest.raises(nb.LayerConfigError, match="rectangular"):
        nb.Normalization(axis=[1, 2], mean=[[1.0, 2.0], [3.0]], variance=[[1.0, 2.0], [3.0]])
    with pytest.raises(nb.LayerConfigError, match="axis must be different axes"):
        nb.Normalization(axis=[1, 1])
    with pytest.raises(nb.LayerConfigError, match="scale must be a number, or a list"):
        nb.Rescaling([[1.0, 2.0]])
    with pytest.raises(nb.LayerConfigError, match="missing required argument: 'scale'"):
        nb.Rescaling(offset=1.0)
    with pytest.raises(nb.LimitError, match=f"at most {MAX_VALUES:,} numbers"):
        nb.Rescaling([1.0] * (MAX_VALUES + 1))
    with pytest.raises(nb.LimitError, match=f"at most {MAX_VALUES:,} numbers"):
        nb.Normalization(axis=[1, 2], mean=np.ones((300, 300)), variance=np.ones((300, 300)))
    with pytest.raises(nb.LayerConfigError):
        nb.Normalization(mean=np.array(["a"]), variance=np.array(["b"]))
    with pytest.raises(nb.LayerConfigError, match="takes at most 4 positional"):
        nb.Normalization(-1, None, None, False, 1)
    # canonical forms, as Keras standardises them
    assert nb.Normalization(axis=[]).axis is None and nb.Normalization(axis=[3]).axis == 3
    assert nb.Normalization(axis=(2, 1)).axis == (2, 1)  # kept in the order given: Keras writes it so
    assert nb.Rescaling(np.float32([0.5, 2.0])).scale == (0.5, 2.0) and nb.Rescaling(np.float64(2)).scale == 2.0
    assert nb.Normalization(mean=np.arange(3), variance=np.ones(3)).mean == (0.0, 1.0, 2.0)
    assert nb.Normalization(1, 0.5, 2.0, True).values == {"axis": 1, "mean": 0.5, "variance": 2.0, "invert": True}


def test_editor_text_round_trips():
    setting = {s.name: s for s in kind_class(N).settings}
    for name, value in (
        ("mean", None),
        ("mean", 2.5),
        ("mean", (1.0, 2.0)),
        ("mean", ((1.0,), (2.5,))),
        ("axis", None),
        ("axis", -1),
        ("axis", (2, 1)),
    ):
        s = setting[name]
        assert s.parse_text(s.format_text(value)) == value
    assert setting["mean"].parse_text("1, 2, 3") == (1.0, 2.0, 3.0) and setting["mean"].parse_text("(0.5,)") == (0.5,)
    assert setting["axis"].parse_text("1, 2") == (1, 2) and setting["axis"].parse_text("") is None
    for bad in ("[[[[[1]]]]]", "1; 2", "__import__('os')", "[1, [2]]", "nan", "1e999"):
        with pytest.raises(nb.LayerConfigError):
            setting["mean"].parse_text(bad)
    scale = kind_class(R).settings[0]
    assert scale.parse_text(scale.format_text(1 / 255)) == 1 / 255 and scale.parse_text("0.5, 2") == (0.5, 2.0)
    with pytest.raises(nb.LayerConfigError):
        scale.parse_text("")  # scale is required: no None


def test_spec_and_share_link_data_round_trip():
    spec = spec_of(
        (4, 3),
        (R, {"scale": [0.5, 1.0, 2.0], "offset": -1.0}),
        (N, {"axis": [2, 1]}),
        (N, {"axis": 1, "mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0], "invert": True}),
        (N, {"axis": None}),
    )
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert LayerSpec.from_dict({"id": 0, "kind": N}).values == {
        "axis": -1,
        "mean": None,
        "variance": None,
        "invert": False,
    }


# --- training mode ---------------------------------------------------------------------------------------------
GRADIENT_CASES = [
    (R, {"scale": 0.5, "offset": 1.0}, (3,)),
    (R, {"scale": [0.5, -2.0, 3.0], "offset": [1.0, 0.0, 2.0]}, (2, 3)),
    (R, {"scale": [2.0]}, ()),
    (N, {}, (3,)),
    (N, {"axis": [1, 2], "invert": True}, (2, 3)),
    (N, {"axis": None}, (2, 2)),
    (N, {"mean": [1.0, 2.0], "variance": [4.0, 0.5]}, (3, 2)),
    (N, {"axis": [1, 2], "mean": [[1.0], [2.0], [3.0]], "variance": [[1.0], [2.0], [0.5]], "invert": True}, (3, 2)),
]


@pytest.mark.parametrize("kind,settings,shape", GRADIENT_CASES, ids=[f"{k}{s}@{sh}" for k, s, sh in GRADIENT_CASES])
def test_backward_matches_finite_differences(kind, settings, shape):
    layer = kind_class(kind)(**settings)
    layer.build((None, *shape), 7)
    rng = np.random.default_rng(6)
    layer._weights = [np.abs(w + rng.normal(size=w.shape).astype(np.float32)) + 0.2 for w in layer._weights]
    check_gradients(layer, rng.normal(size=(4, *shape)) * 2)


def test_normalization_weights_are_not_trained():
    model = nb.Sequential([nb.Input((3,)), nb.Normalization(), nb.Dense(1)], seed=2)
    weights = _perturbed(model, np.random.default_rng(3))
    model.set_weights(weights)
    assert model.cost.trainable_params == 4 and model.cost.non_trainable_params == 7
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(4).normal(size=(16, 3)).astype(np.float32)
    model.fit(x, x[:, :1], epochs=2, batch_size=4)
    for before, after in zip(weights[:3], model.get_weights()[:3], strict=True):
        np.testing.assert_array_equal(before, after)
    assert not np.array_equal(weights[3], model.get_weights()[3])


# --- shape problems: Keras's words, our explanation, fixes that work -------------------------------------------
def _keras_error(kind, settings, shape) -> str:
    keras.backend.clear_session(free_memory=False)
    try:
        model = keras.Sequential([keras.Input(shape), getattr(keras.layers, kind)(**settings)])
        model.predict(np.ones((2, *shape), np.float32), verbose=0)
    except Exception as e:  # whatever Keras raises
        return str(e)
    raise AssertionError("Keras accepted it")


PROBLEMS = [
    (R, {"scale": [1.0, 2.0]}, (3,), {("set_input_shape", (2,))}),
    (R, {"scale": [1.0, 2.0, 3.0]}, (), {("set_input_shape", (3,))}),
    (R, {"scale": [2.0, 2.0], "offset": 1.0}, (4, 3), {("set_setting", ("scale", 2.0)), ("set_input_shape", (4, 2))}),
    (N, {}, (), {("insert_layer", "Flatten"), ("set_setting", ("axis", None))}),
    (N, {"axis": 0}, (3,), {("set_setting", ("axis", -1))}),
    (N, {"axis": 3}, (3, 2), {("set_setting", ("axis", -1)), ("set_setting", ("axis", None))}),
    (N, {"axis": [1, -2]}, (3, 2), {("set_setting", ("axis", -1))}),
    (N, {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 2.0, 3.0]}, (3, 2), {("set_input_shape", (3, 3))}),
    (N, {"axis": [1, 2], "mean": [1.0, 2.0, 3.0], "variance": [1.0, 2.0, 3.0]}, (3, 2), {("set_input_shape", (3, 3))}),
]


@pytest.mark.parametrize("kind,settings,shape,wanted", PROBLEMS, ids=range(len(PROBLEMS)))
def test_problem_carries_keras_message_and_working_fixes(kind, settings, shape, wanted):
    analysis = nb.analyze([kind_class(kind)(**settings)], shape)
    issue = analysis.issue
    assert issue is not None and issue.layer_index == 0 and issue.explanation
    assert issue.message.startswith(f"Layer '{kind.lower()}' ({kind})")
    assert issue.keras_message and issue.keras_message.replace("  ", " ") in _keras_error(
        kind, settings, shape
    ).replace("  ", " ")
    actions = {(f.action, f.value if f.action != "insert_layer" else f.value[0]) for f in issue.fixes}
    assert wanted <= actions, actions


def test_fixes_reach_upstream():
    issue = nb.analyze([nb.Dense(5), nb.Rescaling([1.0, 2.0, 3.0])], (2,)).issue
    assert issue.layer_index == 1 and ("set_setting", 0, ("units", 3)) in {
        (f.action, f.layer_index, f.value) for f in issue.fixes
    }
    issue = nb.analyze([nb.Dense(5), nb.Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0])], (2,)).issue
    assert ("set_setting", 0, ("units", 2)) in {(f.action, f.layer_index, f.value) for f in issue.fixes}


def test_spread_onto_a_last_axis_of_one_is_refused_and_explained():
    issue = nb.analyze([nb.Rescaling([1.0, 2.0, 3.0])], (2, 1)).issue
    assert issue.keras_message == "" and "Keras would spread" in issue.explanation
    assert ("set_input_shape", (2, 3)) in {(f.action, f.value) for f in issue.fixes}


def test_built_normalization_mismatch_offers_upstream_fix_and_rebuild():
    """A Normalization built for 3 channels (as from EfficientNet's JSON) after a Dense of 5 units."""
    norm = nb.Normalization()
    norm.built_shape = (None, 3)
    issue = nb.analyze([nb.Dense(5), norm], (4,)).issue
    assert issue.layer_index == 1 and "built for (None, 3)" in issue.message
    assert "operands could not be broadcast" in issue.keras_message
    fixes = {(f.action, f.layer_index, f.value) for f in issue.fixes}
    assert ("set_setting", 0, ("units", 3)) in fixes and ("unbuild", 1, None) in fixes
    norm = nb.Normalization(axis=2)  # a build_config its axis does not fit: an issue, no crash
    norm.built_shape = (None, 4)
    issue = nb.analyze([norm], (3, 4)).issue
    assert "rebuild" in issue.explanation and ("unbuild", 0) in {(f.action, f.layer_index) for f in issue.fixes}
    ok = nb.Normalization(axis=[1, 3])  # other sizes on the axes it does not keep are fine, as in Keras
    ok.built_shape = (None, 9, 9, 3)
    assert nb.analyze([ok], (9, 4, 3)).ok


# --- description ------------------------------------------------------------------------------------------------
def test_formula_label_explanation_and_group():
    model = nb.Sequential(
        [
            nb.Input((7, 7, 3)),
            nb.Rescaling(1 / 255),
            nb.Normalization(),
            nb.Normalization(axis=[1, 3], invert=True),
            nb.Normalization(mean=IMAGENET_MEAN, variance=IMAGENET_VARIANCE),
        ]
    )
    assert [r.formula for r in model.analysis.layers] == [
        "",
        "2×3 + 1 = 7 (none trainable)",
        "2×21 + 1 = 43 (none trainable)",
        "",
    ]
    assert [r.trainable for r in model.analysis.layers] == [0, 0, 0, 0] and model.cost.non_trainable_params == 50
    rescale, norm, norm2, given = model.layers
    assert rescale.label() == "×0.00392157 + 0"
    assert norm.label() == "axis -1, mean, variance as weights, built for 3 values"
    assert norm2.label() == "axes 1, 3, mean, variance as weights, built for 7×3 values, invert"
    assert given.label() == "axis -1, mean [123.675, 116.28, 103.53], variance [3409.98, 3262.69, 3291.89]"
    assert "unchanged" in rescale.explain_shape((None, 7, 7, 3), (None, 7, 7, 3))
    text = norm2.explain_shape((None, 7, 7, 3), (None, 7, 7, 3))
    assert "7×3 of them" in text and "mean + x·√variance" in text and "training leaves them" in text
    assert kind_class(R).group == kind_class(N).group == "Preprocessing"
    assert kind_class(R).description and kind_class(N).description
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential(
        [
            keras.Input((7, 7, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Normalization(),
            keras.layers.Normalization(axis=[1, 3], invert=True),
            keras.layers.Normalization(mean=IMAGENET_MEAN, variance=IMAGENET_VARIANCE),
        ]
    )
    assert [layer.count_params() for layer in theirs.layers] == [r.params for r in model.analysis.layers]
    assert theirs.count_params() == model.count_params() == 50


# --- Keras JSON -------------------------------------------------------------------------------------------------
KERAS_CONFIGS = [
    (R, {"scale": 0.5}, (3,)),
    (R, {"scale": 2, "offset": 1}, (3,)),
    (R, {"scale": [0.5, 2.0], "offset": [1.0, 0.0]}, (4, 2)),
    (N, {}, (3,)),
    (N, {"axis": None}, (3,)),
    (N, {"axis": (2, 1), "invert": True}, (3, 2)),
    (N, {"axis": [3]}, (2, 2, 3)),
    (N, {"mean": 1.5, "variance": 2}, (3,)),
    (N, {"axis": [1, 2], "mean": [[1.0], [2.0]], "variance": [[1.0], [4.0]]}, (2, 3)),
]


@pytest.mark.parametrize("kind,settings,shape", KERAS_CONFIGS, ids=range(len(KERAS_CONFIGS)))
def test_our_json_entry_is_what_keras_writes(kind, settings, shape):
    keras.backend.clear_session(free_memory=False)
    theirs = json.loads(keras.Sequential([keras.Input(shape), getattr(keras.layers, kind)(**settings)]).to_json())
    ours = json.loads(nb.Sequential([nb.Input(shape), kind_class(kind)(**settings)]).to_json())
    assert ours["config"]["layers"][1] == theirs["config"]["layers"][1]


def test_keras_json_of_arrays_is_read():
    """Keras writes a NumPy array (or tensor) setting as {"class_name": "__tensor__", ...}: read, and rounded as Keras
    rounds it (float16 loses digits)."""
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential(
        [keras.Input((3,)), keras.layers.Rescaling(np.array([0.1, 0.2, 0.3], np.float16), offset=np.float32(0.5))]
    )
    entry = json.loads(theirs.to_json())["config"]["layers"][1]["config"]
    assert entry["scale"]["class_name"] == "__tensor__" and entry["scale"]["config"]["dtype"] == "float16"
    ours = nb.model_from_json(theirs.to_json())
    x = sample(Case(R, {}, (3,)), 5)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x, verbose=0))
    assert ours.layers[0].scale == tuple(float(v) for v in np.float16([0.1, 0.2, 0.3]))
    for bad in (
        {"class_name": "__tensor__", "config": {"value": ["a"], "dtype": "string"}},
        {"class_name": "__lambda__", "config": {}},
        {"class_name": "__numpy__", "config": {"value": [[1], [2, 3]], "dtype": "float32"}},
    ):
        document = json.loads(theirs.to_json())
        document["config"]["layers"][1]["config"]["scale"] = bad
        with pytest.raises(nb.NetbuilderError):
            nb.model_from_json(json.dumps(document))


def test_json_both_ways():
    json_roundtrip_equal(
        spec_of(
            (4, 3),
            (R, {"scale": [0.5, 1.0, 2.0], "offset": -1.0}),
            (N, {}),
            (N, {"axis": [2, 1], "invert": True}),
            (N, {"axis": None, "mean": 0.5, "variance": 2.0}),
            ("Flatten", {}),
            ("Dense", {"units": 2}),
        )
    )


# --- keras.applications' entries -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def applications():
    """The Rescaling and Normalization entries EfficientNetB0 and ConvNeXtTiny (weights=None) write into their JSON."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras.backend.clear_session(free_memory=False)
        efficientnet = keras.applications.EfficientNetB0(weights=None)
        keras.backend.clear_session(free_memory=False)
        convnext = keras.applications.ConvNeXtTiny(weights=None)
    entries = {}
    for model_name, model in (("efficientnet", efficientnet), ("convnext", convnext)):
        for entry in json.loads(model.to_json())["config"]["layers"]:
            if entry["class_name"] in (R, N):
                entries.setdefault(f"{model_name}/{entry['class_name']}", entry)
        layers = {layer.name: layer for layer in model.layers}
        for key in [k for k in entries if k.startswith(model_name)]:
            entries[key]["keras_layer"] = layers[entries[key]["config"]["name"]]
    return entries


# What Keras 3.15.1 writes (inbound_nodes and the Functional's extra "name" key aside)
DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
EXPECTED_ENTRIES = {
    "efficientnet/Rescaling": {
        "module": "keras.layers",
        "class_name": "Rescaling",
        "registered_name": None,
        "config": {"name": "rescaling", "trainable": True, "dtype": DTYPE, "scale": 0.00392156862745098, "offset": 0.0},
        "build_config": {"input_shape": [None, 224, 224, 3]},
    },
    "efficientnet/Normalization": {
        "module": "keras.layers",
        "class_name": "Normalization",
        "registered_name": None,
        "config": {
            "name": "normalization",
            "trainable": True,
            "dtype": DTYPE,
            "axis": [3],
            "invert": False,
            "mean": None,
            "variance": None,
        },
        "build_config": {"input_shape": [None, 224, 224, 3]},
    },
    "convnext/Normalization": {
        "module": "keras.layers",
        "class_name": "Normalization",
        "registered_name": None,
        "config": {
            "name": "convnext_tiny_prestem_normalization",
            "trainable": True,
            "dtype": DTYPE,
            "axis": [-1],
            "invert": False,
            "mean": [123.675, 116.28, 103.53],
            "variance": [3409.9760250000004, 3262.6944000000003, 3291.890625],
        },
        "build_config": {"input_shape": [None, 224, 224, 3]},
    },
}


def _as_sequential(entry) -> str:
    """A Sequential document holding one entry (inbound_nodes dropped), its input from the entry's build_config."""
    layer = {
        k: v for k, v in entry.items() if k in ("module", "class_name", "config", "registered_name", "build_config")
    }
    shape = entry["build_config"]["input_shape"]
    return json.dumps(
        {
            "module": "keras",
            "class_name": "Sequential",
            "registered_name": None,
            "config": {
                "name": "sequential",
                "trainable": True,
                "dtype": DTYPE,
                "build_input_shape": shape,
                "layers": [
                    {
                        "module": "keras.layers",
                        "class_name": "InputLayer",
                        "registered_name": None,
                        "config": {
                            "batch_shape": shape,
                            "dtype": "float32",
                            "sparse": False,
                            "ragged": False,
                            "name": "input_layer",
                            "optional": False,
                        },
                    },
                    layer,
                ],
            },
        }
    )


@pytest.mark.parametrize("key", list(EXPECTED_ENTRIES))
def test_keras_applications_entries_read_and_write_back(applications, key):
    entry = applications[key]
    assert {k: v for k, v in entry.items() if k in EXPECTED_ENTRIES[key]} == EXPECTED_ENTRIES[key]
    ours = nb.model_from_json(_as_sequential(entry), seed=0)
    written = json.loads(ours.to_json())["config"]["layers"][1]
    assert written == EXPECTED_ENTRIES[key]  # our to_json writes Keras's entry back, key for key
    keras_layer = entry["keras_layer"]
    assert ours.count_params() == keras_layer.count_params()
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in keras_layer.get_weights()]
    # the numbers: Keras's own layer (from the application) on a small image, with weights off its zeros and ones
    weights = _perturbed(ours, np.random.default_rng(5), tiny=True)
    ours.set_weights(weights)
    if weights:
        keras_layer.set_weights(weights)
        keras_layer.finalize_state()  # what load_weights does (see test_keras_set_weights_leaves_normalization_stale)
    x = (np.random.default_rng(6).random((2, 224, 224, 3)) * 255).astype(np.float32)
    np.testing.assert_array_equal(ours.predict(x), np.asarray(keras_layer(x)))
    # and back: Keras reads what we write, and writes it again unchanged
    keras.backend.clear_session(free_memory=False)
    theirs = keras.models.model_from_json(ours.to_json())
    assert json.loads(theirs.to_json())["config"]["layers"][1] == written


# --- exports ----------------------------------------------------------------------------------------------------
EXPORT_MODELS = [
    ((4, 3), lambda: [nb.Rescaling(1 / 127.5, offset=-1.0), nb.Normalization(), nb.Flatten(), nb.Dense(2)]),
    (
        (4, 3),
        lambda: [nb.Rescaling([0.5, 1.0, 2.0], offset=[1.0, 0.0, -1.0]), nb.Normalization(axis=[2, 1], invert=True)],
    ),
    ((3,), lambda: [nb.Normalization(mean=IMAGENET_MEAN, variance=IMAGENET_VARIANCE), nb.Normalization(axis=None)]),
    (
        (3, 2),
        lambda: [
            nb.Normalization(axis=[1, 2], mean=[[1.0], [2.0], [3.0]], variance=[[1.0], [4.0], [1e-16]], invert=True),
            nb.Rescaling([2.0]),
        ],
    ),
    ((2,), lambda: [nb.Rescaling(3.0, offset=[0.5, 1.5]), nb.Normalization(axis=None, mean=2.0, variance=0.0)]),
]


@pytest.mark.parametrize("i", range(len(EXPORT_MODELS)))
def test_exported_scripts_compute_our_outputs(i):
    """Weights off their zeros and ones; the Keras script's NormalizationWithWeights uses them although plain Keras
    would not after set_weights (no monkeypatch here)."""
    shape, layers = EXPORT_MODELS[i]
    model = nb.Sequential([nb.Input(shape), *layers()], seed=4)
    model.set_weights(_perturbed(model, np.random.default_rng(8)))
    x = (np.random.default_rng(7).normal(size=(5, *shape)) * 2).astype(np.float32)
    expected = model.predict(x)
    assert np.isfinite(expected).all()
    np.testing.assert_array_equal(run_keras_code(model, x), expected)
    np.testing.assert_allclose(run_torch_code(model, x), expected, rtol=1e-6, atol=1e-6)


def test_harness_check_exports():
    check_exports(
        spec_of(
            (3, 2),
            (R, {"scale": [0.5, 2.0], "offset": 1.0}),
            (N, {"axis": 1}),
            ("Dense", {"units": 4}),
            (N, {"mean": [1.0, 2.0, 3.0, 4.0], "variance": [1.0, 2.0, 3.0, 4.0], "invert": True}),
        )
    )


# --- cost -------------------------------------------------------------------------------------------------------
COST_CASES = [
    Case(R, {"scale": 0.5, "offset": 1.0}, (256,)),
    Case(R, {"scale": [0.5] * 64, "offset": [1.0] * 64}, (16, 64)),
    Case(R, {"scale": [0.5, 2.0, 1.0]}, (30, 30, 3)),
    Case(N, {}, (64,)),
    Case(N, {"axis": [1, 2]}, (16, 64)),
    Case(N, {"axis": None}, (16, 64)),
    Case(N, {"axis": 1, "invert": True}, (30, 16)),
    Case(N, {"mean": [1.0] * 64, "variance": [2.0] * 64}, (16, 64)),
    Case(N, {"axis": [1, 2], "mean": [[1.0]] * 16, "variance": [[2.0]] * 16}, (16, 64)),
    Case(N, {"axis": [1, 2], "mean": [1.0] * 64, "variance": [2.0] * 64, "invert": True}, (16, 64)),
]


@pytest.mark.parametrize("case", COST_CASES, ids=[c.id[:60] for c in COST_CASES])
def test_cost_holds_what_predict_allocates(case):
    model = ours_model(case)
    for batch in (1, 64, 4096):
        check_cost(model, sample(case, batch))


def test_cost_of_many_features():
    for case in (
        Case(N, {}, (60000,)),
        Case(N, {"axis": None}, (60000,)),
        Case(R, {"scale": [2.0] * 60000}, (60000,)),
        Case(R, {"scale": [2.0] * 60000, "offset": [1.0] * 60000}, (60000,)),
        Case(N, {"mean": [1.0] * 60000, "variance": [2.0] * 60000}, (60000,)),
    ):
        model = ours_model(case)
        for batch in (1, 64):
            check_cost(model, sample(case, batch))


TRAIN_MEMORY = [
    ("Normalization", (64,), lambda: [nb.Normalization()], 1024),
    ("Normalization axes", (16, 64), lambda: [nb.Normalization(axis=[1, 2], invert=True), nb.Flatten()], 256),
    (
        "Normalization given",
        (16, 64),
        lambda: [nb.Normalization(mean=[1.0] * 64, variance=[2.0] * 64), nb.Flatten()],
        256,
    ),
    ("Rescaling", (256,), lambda: [nb.Rescaling(0.5, 1.0)], 1024),
    ("Rescaling lists", (16, 64), lambda: [nb.Rescaling([0.5] * 64, [1.0] * 64), nb.Flatten()], 256),
    ("Normalization then Dense", (64,), lambda: [nb.Normalization(), nb.Dense(32), nb.Rescaling(2.0)], 256),
]


@pytest.mark.parametrize("name,shape,layers,batch", TRAIN_MEMORY, ids=[c[0] for c in TRAIN_MEMORY])
def test_a_training_steps_memory_is_what_each_kind_declares(name, shape, layers, batch):
    """As tests/test_cost.py checks every kind: a step's measured peak is within what the cost model says and half
    again."""
    model = nb.Sequential([nb.Input(shape), *layers()], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, *shape)).astype(np.float32)
    y = rng.normal(size=(batch, *model.output_shape[1:])).astype(np.float32)
    measured = backprop_peak(model, x, y)
    predicted = model.cost.backprop_bytes(batch) + FLOAT32 * model.cost.trainable_params
    assert measured <= predicted + 64 * 1024, f"a step allocated {measured:,} bytes; the cost model said {predicted:,}"
    assert predicted <= measured + measured // 2 + 64 * 1024, (
        f"the cost model said {predicted:,}; a step allocated {measured:,}"
    )


def test_cost_counts_the_work():
    cost = nb.analyze([nb.Rescaling(0.5)], (10, 3)).cost
    assert cost.elementwise == 2 * 30 and cost.mult_adds == 0
    cost = nb.analyze([nb.Normalization(axis=None)], (10, 3)).cost
    assert cost.elementwise == 2 * 30 and cost.costs[0].train_fixed > 0


# --- random chains against Keras ---------------------------------------------------------------------------------
def _random_layer(rng, rank):
    pick = rng.integers(5)
    if pick == 0:
        return "Dense", {"units": int(rng.integers(1, 4))}
    if pick == 1:
        return "Flatten", {}
    if pick == 2:
        size = int(rng.integers(1, 4))
        values = [float(v) for v in rng.normal(size=size)]
        return R, {
            "scale": values if rng.random() < 0.5 else values[0],
            "offset": float(rng.normal()) if rng.random() < 0.5 else values,
        }
    axis = (
        int(rng.integers(-rank - 1, rank + 1))
        if rng.random() < 0.6
        else None
        if rng.random() < 0.3
        else [int(a) for a in rng.choice(np.arange(1, rank + 2), size=2, replace=False)]
    )
    settings = {"axis": axis, "invert": bool(rng.random() < 0.3)}
    if rng.random() < 0.5 and axis is not None:
        size = int(rng.integers(1, 4))
        settings.update(
            mean=[float(v) for v in rng.normal(size=size)], variance=[float(v) for v in rng.random(size) + 0.1]
        )
    return N, settings


@pytest.mark.parametrize("seed", range(30))
def test_random_chain_matches_keras(seed, keras_normalization_reads_weights):
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers(1, 4, size=rng.integers(1, 4)))
    layers = [_random_layer(rng, len(shape)) for _ in range(rng.integers(1, 4))]
    keras.backend.clear_session(free_memory=False)
    x = (rng.normal(size=(5, *shape)) * 2).astype(np.float32)
    try:
        theirs = keras.Sequential([keras.Input(shape), *(getattr(keras.layers, k)(**s) for k, s in layers)])
        expected_shape = theirs.output_shape
        out = theirs.predict(x, verbose=0)
        refusal = None if out.shape[1:] == tuple(expected_shape[1:]) else "an output unlike the shape it reports"
    except Exception as e:  # Keras raises many kinds
        refusal = e
    try:
        ours = nb.Sequential([nb.Input(shape), *(kind_class(k)(**s) for k, s in layers)], seed=seed)
    except nb.NetbuilderError as e:
        if refusal is None:  # only our documented differences may refuse what Keras runs
            assert "same axis twice" in str(e) or "names the same axis" in str(e), f"{layers} on {shape}: {e}"
        return
    assert refusal is None, f"Keras refuses {layers} on {shape} ({refusal}) but netbuilder builds it"
    assert ours.output_shape == tuple(expected_shape) and ours.count_params() == theirs.count_params()
    weights = _perturbed(ours, rng)
    ours.set_weights(weights)
    theirs.set_weights(weights)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
