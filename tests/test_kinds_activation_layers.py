"""ReLU, LeakyReLU, Softmax, ELU and PReLU through the kind harness (tests/kind_harness.py) against real Keras,
their exports, costs and gradients, and random chains with Dense, Flatten and Activation."""

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
from netbuilder.engine.errors import LayerConfigError
from netbuilder.engine.layer import kind_class
from netbuilder.studio.models import built

INF = "non-finite numbers: a JSON config cannot carry them (Python writes Infinity, which is not JSON)"
BATCH_AXIS = (
    "a softmax across the batch axis makes a sample's output depend on the others in its batch "
    "(Keras predicts in batches of 32)"
)
BOOL = "a bool is not a number here (Keras compares True < 0 and takes it as 1)"

CASES = [
    # ReLU: every path of Keras's relu (leaky shortcut, relu6, threshold, clip, slope), and its refusals
    Case("ReLU", {}, (3, 4)),
    Case("ReLU", {}, ()),
    Case("ReLU", {"max_value": 6}, (5,)),
    Case("ReLU", {"max_value": 2.5}, (2, 3, 2)),
    Case("ReLU", {"max_value": 0}, (4,)),
    Case("ReLU", {"negative_slope": 0.1}, (3, 4)),
    Case("ReLU", {"negative_slope": 2.0}, (7,)),  # Keras's leaky shortcut max(x, 2x): 2x for positive x
    Case("ReLU", {"negative_slope": 0.5, "max_value": 6}, (6,)),
    Case("ReLU", {"threshold": 0.5}, (3, 4)),
    Case("ReLU", {"max_value": 3.0, "negative_slope": 0.2, "threshold": 1.0}, (2, 5)),
    Case("ReLU", {"max_value": 1.0, "threshold": 2.0}, (8,)),  # cap below the threshold: only 0 and 1 remain
    Case("ReLU", {"negative_slope": 2.0, "threshold": 1.0}, (7,)),
    Case("ReLU", {"max_value": -1}, (4,)),
    Case("ReLU", {"negative_slope": -0.1}, (4,)),
    Case("ReLU", {"threshold": -1}, (4,)),
    Case("ReLU", {"negative_slope": None}, (4,)),
    Case("ReLU", {"threshold": None}, (4,)),
    Case("ReLU", {"max_value": "6"}, (4,)),
    Case("ReLU", {"max_value": float("inf")}, (4,), keras_accepts_we_reject=INF),
    Case("ReLU", {"negative_slope": True}, (4,), keras_accepts_we_reject=BOOL),
    # LeakyReLU (Keras 3's default slope is 0.3; Keras 2's `alpha` still accepted)
    Case("LeakyReLU", {}, (3, 4)),
    Case("LeakyReLU", {}, ()),
    Case("LeakyReLU", {"negative_slope": 0.01}, (2, 2, 3)),
    Case("LeakyReLU", {"negative_slope": 0}, (5,)),
    Case("LeakyReLU", {"negative_slope": 1.5}, (5,)),
    Case("LeakyReLU", {"alpha": 0.05}, (3, 4)),
    Case("LeakyReLU", {"negative_slope": -1}, (4,)),
    Case("LeakyReLU", {"negative_slope": None}, (4,)),
    # ELU (Keras does not check alpha: a negative one is fine; a string fails when it runs)
    Case("ELU", {}, (3, 4)),
    Case("ELU", {"alpha": 0.5}, (2, 3, 4)),
    Case("ELU", {"alpha": -1.5}, (6,)),
    Case("ELU", {"alpha": "x"}, (6,)),
    # Softmax: any axis of the sample; out of range refused (Keras only when it runs)
    Case("Softmax", {}, (3, 4)),
    Case("Softmax", {}, (9,)),
    Case("Softmax", {"axis": 1}, (3, 4)),
    Case("Softmax", {"axis": -2}, (3, 4)),
    Case("Softmax", {"axis": 2}, (2, 3, 4)),
    Case("Softmax", {"axis": [2]}, (3, 4)),
    Case("Softmax", {"axis": 3}, (3, 4)),
    Case("Softmax", {"axis": -4}, (3, 4)),
    Case("Softmax", {"axis": 1}, ()),
    Case("Softmax", {"axis": [1, 2]}, (3, 4)),  # Keras fails when it runs (a TrackedList is not an axis)
    Case("Softmax", {"axis": 0}, (3, 4), keras_accepts_we_reject=BATCH_AXIS),
    Case("Softmax", {"axis": -3}, (3, 4), keras_accepts_we_reject=BATCH_AXIS),
    Case("Softmax", {}, (), keras_accepts_we_reject=BATCH_AXIS),
    Case(
        "Softmax", {"axis": (1, 2)}, (3, 4), keras_accepts_we_reject="several axes: Keras's own JSON of it cannot run"
    ),
    # PReLU: alpha is input_shape[1:] with shared axes set to 1, counted as Keras's build counts them
    Case("PReLU", {}, (3, 4)),
    Case("PReLU", {}, (6,)),
    Case("PReLU", {}, ()),
    Case("PReLU", {"shared_axes": [1]}, (3, 4)),
    Case("PReLU", {"shared_axes": [1, 2]}, (4, 4, 3)),
    Case("PReLU", {"shared_axes": 2}, (3, 4)),
    Case("PReLU", {"shared_axes": []}, (3, 4)),
    Case("PReLU", {"shared_axes": [1, 2, 3]}, (2, 3, 2)),
    Case("PReLU", {"shared_axes": -1}, (3, 4)),  # Keras's param_shape[i - 1]: -1 sets the second-to-last
    Case("PReLU", {"shared_axes": 0}, (3, 4)),  # ... and 0 the last
    Case("PReLU", {"shared_axes": 3}, (3, 4)),
    Case("PReLU", {"shared_axes": [1]}, ()),
    # PReLU: Keras's other alpha initializers, drawn bit for bit; Identity and Orthogonal only for 2-axis slopes
    Case("PReLU", {"alpha_initializer": "random_uniform"}, (3, 4), {"alpha_initializer": "RandomUniform"}),
    Case("PReLU", {"alpha_initializer": "he_normal", "shared_axes": [1]}, (2, 3, 4), {"alpha_initializer": "HeNormal"}),
    Case("PReLU", {"alpha_initializer": {"class_name": "Constant", "config": {"value": 0.25}}}, (5,)),
    Case("PReLU", {"alpha_initializer": "orthogonal"}, (3, 4), {"alpha_initializer": "Orthogonal"}),
    Case("PReLU", {"alpha_initializer": "identity"}, (3, 4)),
    Case("PReLU", {"alpha_initializer": "identity"}, (6,)),  # refused by both: a 1-axis alpha
    Case("PReLU", {"alpha_initializer": "orthogonal"}, (2, 3, 4)),  # Orthogonal takes 3 axes too
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_activation_layer_matches_keras(case):
    check_case(case)


def keras_predict(model, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(model.predict(x, verbose=0))


@pytest.mark.parametrize("case", [c for c in CASES if c.kind != "PReLU"], ids=lambda c: c.id)
def test_outputs_are_keras_bits(case):
    """Beyond the harness's tolerance: the same bits as Keras's NumPy backend, extreme values included."""
    try:
        ours = ours_model(case)
    except nb.NetbuilderError:
        return
    x = sample(case, 8)
    x.flat[::3] *= 40  # far into exp's and the slopes' tails
    x.flat[1::7] = 0.0
    np.testing.assert_array_equal(ours.predict(x), keras_predict(keras_model(case), x))


def test_prelu_outputs_are_keras_bits():
    case = Case("PReLU", {"shared_axes": [1]}, (3, 4))
    ours, theirs = ours_model(case), keras_model(case)
    alpha = np.random.default_rng(0).normal(size=(1, 4)).astype(np.float32)
    ours.set_weights([alpha])
    theirs.set_weights([alpha])
    x = sample(case, 16)
    x.flat[::5] = 0.0
    np.testing.assert_array_equal(ours.predict(x), keras_predict(theirs, x))


# --- what we refuse, and say ---------------------------------------------------------------------------
def test_softmax_axis_out_of_range_is_explained_with_a_fix():
    model = nb.Sequential([nb.Input((3, 4))])
    with pytest.raises(nb.NetbuilderError) as info:
        model.add(kind_class("Softmax")(axis=3))
    issue = info.value.issue
    assert "axis 3" in issue.message and "(None, 3, 4)" in issue.message
    assert issue.keras_message == "axis 3 is out of bounds for array of dimension 3"
    assert ("set_setting", ("axis", -1)) in [(f.action, f.value) for f in issue.fixes]


def test_softmax_batch_axis_refused_with_a_fix():
    with pytest.raises(nb.NetbuilderError) as info:
        nb.Sequential([nb.Input((3, 4)), kind_class("Softmax")(axis=0)])
    assert "batch axis" in info.value.issue.message
    assert ("set_setting", ("axis", -1)) in [(f.action, f.value) for f in info.value.issue.fixes]


def test_prelu_shared_axis_beyond_the_input_is_explained():
    with pytest.raises(nb.NetbuilderError) as info:
        nb.Sequential([nb.Input((3, 4)), kind_class("PReLU")(shared_axes=[1, 3])])
    issue = info.value.issue
    assert "axis 3" in issue.message and issue.keras_message == "list assignment index out of range"
    fixes = [(f.action, f.value) for f in issue.fixes]
    assert ("set_setting", ("shared_axes", None)) in fixes and ("set_setting", ("shared_axes", (1,))) in fixes


def test_prelu_positional_argument_is_refused_clearly():
    with pytest.raises(LayerConfigError, match="alpha_initializer"):
        kind_class("PReLU")([1, 2])
    assert (
        kind_class("PReLU")("ones").alpha_initializer == kind_class("PReLU")(alpha_initializer="Ones").alpha_initializer
    )
    with pytest.raises(LayerConfigError, match="alpha_regularizer and alpha_constraint"):
        kind_class("PReLU")("zeros", None)


def test_prelu_alpha_of_a_rank_its_initializer_cannot_draw_is_an_issue_with_a_fix():
    issue = nb.analyze([kind_class("PReLU")(alpha_initializer="identity")], (6,)).issue
    assert issue is not None and "Identity matrix initializer can only be used for 2D matrices" in issue.keras_message
    assert issue.fixes and issue.fixes[0].value[0] == "alpha_initializer"
    assert nb.analyze([kind_class("PReLU")(alpha_initializer="identity")], (3, 4)).ok


def test_built_prelu_refuses_another_feature_size():
    layer = kind_class("PReLU")(shared_axes=[1])
    model = nb.Sequential([nb.Input((3, 4)), layer], seed=1)
    with pytest.raises(nb.NetbuilderError) as info:
        nb.Sequential([nb.Input((3, 5)), model.layers[0]])
    assert "axis 2" in info.value.issue.message
    # sharing axis 1 means its size may change
    nb.Sequential([nb.Input((7, 4)), model.layers[0]])


# --- JSON, labels, explanations -------------------------------------------------------------------------
def test_leaky_relu_reads_keras2_alpha_and_writes_negative_slope():
    assert kind_class("LeakyReLU").settings_from_config({"name": "lr", "alpha": 0.05}) == {"negative_slope": 0.05}
    theirs = keras_model(Case("LeakyReLU", {"negative_slope": 0.05}, (3,)))
    keras2 = theirs.to_json().replace('"negative_slope"', '"alpha"')  # Keras 2 wrote the slope as alpha
    keras.backend.clear_session(free_memory=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that alpha is deprecated, and reads it
        assert keras.models.model_from_json(keras2).layers[0].negative_slope == 0.05
    model = nb.model_from_json(keras2, seed=0)
    assert model.layers[0].negative_slope == 0.05
    assert json.loads(model.to_json())["config"]["layers"][1]["config"]["negative_slope"] == 0.05


def test_json_roundtrip_and_exports_of_every_kind():
    spec = spec_of(
        (3, 4),
        ("ReLU", {"max_value": 6}),
        ("LeakyReLU", {"negative_slope": 0.1}),
        ("ELU", {"alpha": 0.7}),
        ("PReLU", {"shared_axes": (1,)}),
        ("Softmax", {"axis": 1}),
    )
    json_roundtrip_equal(spec)
    check_exports(spec)


@pytest.mark.parametrize(
    "layers, shape",
    [
        ((("ReLU", {}),), (3, 4)),
        ((("ReLU", {"max_value": 6}),), (5,)),
        ((("ReLU", {"max_value": 2.5}),), (5,)),
        ((("ReLU", {"max_value": 0}),), (5,)),
        ((("ReLU", {"negative_slope": 0.1}),), (5,)),
        ((("ReLU", {"negative_slope": 2.0}),), (5,)),
        ((("ReLU", {"max_value": 3.0, "negative_slope": 0.2, "threshold": 1.0}),), (2, 5)),
        ((("ReLU", {"max_value": 1.0, "threshold": 2.0}),), (5,)),
        ((("LeakyReLU", {}),), (2, 2, 3)),
        ((("LeakyReLU", {"negative_slope": 1.5}),), (5,)),
        ((("ELU", {}),), (5,)),
        ((("ELU", {"alpha": -1.5}),), (5,)),
        ((("Softmax", {}),), (3, 4)),
        ((("Softmax", {"axis": 1}),), (3, 4)),
        ((("Softmax", {"axis": -3}),), (2, 3, 4)),
        ((("PReLU", {}),), (6,)),
        ((("PReLU", {}),), ()),
        ((("PReLU", {}),), (3, 4)),
        ((("PReLU", {"shared_axes": (1, 2)}),), (4, 4, 3)),
        ((("PReLU", {"shared_axes": (1, 2, 3)}),), (2, 3, 2)),
        ((("PReLU", {"shared_axes": (0,)}),), (3, 4)),
    ],
)
def test_exports_reproduce_our_outputs(layers, shape):
    spec = spec_of(shape, *layers)
    model = built(spec)
    for layer in model.layers:  # slopes away from 0 so each one matters
        layer.set_weights(
            [w + np.random.default_rng(2).normal(size=w.shape).astype(np.float32) for w in layer.get_weights()]
        )
    x = (np.random.default_rng(7).normal(size=(5, *shape)) * 3).astype(np.float32)
    expected = model.predict(x)
    np.testing.assert_allclose(run_keras_code(model, x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_torch_code(model, x), expected, rtol=1e-5, atol=1e-5)


def test_labels_and_explanations():
    relu = kind_class("ReLU")
    assert relu().label() == ""
    assert relu(max_value=6).label() == "max 6"
    assert relu(max_value=6, negative_slope=0.1, threshold=0.5).label() == "max 6, slope 0.1, threshold 0.5"
    assert kind_class("LeakyReLU")().label() == "slope 0.3"
    assert kind_class("Softmax")(axis=1).label() == "axis 1" and kind_class("Softmax")().label() == ""
    assert kind_class("ELU")(alpha=0.5).label() == "alpha 0.5"
    model = nb.Sequential([nb.Input((4, 4, 3)), kind_class("PReLU")(shared_axes=[1, 2])], seed=0)
    layer = model.layers[0]
    assert layer.label() == "3 slopes, shared on 1, 2"
    assert layer.formula((None, 4, 4, 3)) == "1×1×3 = 3"
    assert "(1, 1, 3)" in layer.explain_shape((None, 4, 4, 3), (None, 4, 4, 3))
    softmax = kind_class("Softmax")(axis=1)
    assert "axis 1 (3 values)" in softmax.explain_shape((None, 3, 4), (None, 3, 4))
    assert "4 slices" in softmax.explain_shape((None, 3, 4), (None, 3, 4))
    assert "capped at 6" in relu(max_value=6).explain_shape((None, 5), (None, 5))
    for kind in ("ReLU", "LeakyReLU", "Softmax", "ELU", "PReLU"):
        cls = kind_class(kind)
        assert cls.group == "Activations" and cls.description


def test_settings_text_round_trip_for_editors():
    relu = kind_class("ReLU")
    max_value = next(s for s in relu.settings if s.name == "max_value")
    assert max_value.widget == "text" and max_value.parse_text("") is None and max_value.parse_text("6") == 6.0
    assert max_value.format_text(None) == "" and max_value.format_text(6.0) == "6"
    with pytest.raises(LayerConfigError):
        max_value.parse_text("-1")
    shared = next(s for s in kind_class("PReLU").settings if s.name == "shared_axes")
    assert (
        shared.parse_text("1, 2") == (1, 2) and shared.parse_text(" ") is None and shared.format_text((1, 2)) == "1, 2"
    )
    assert shared.to_json((1, 2)) == [1, 2] and shared.from_json([1]) == (1,)


# --- cost -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case", [c for c in CASES if c.input_shape and not c.keras_accepts_we_reject], ids=lambda c: c.id
)
def test_cost_holds_what_predict_allocates(case):
    try:
        model = ours_model(case)
    except nb.NetbuilderError:
        return
    for batch in (1, 64, 4096):
        check_cost(model, sample(case, batch))


def test_prelu_cost_counts_one_multiply_per_slope():
    model = nb.Sequential([nb.Input((4, 4, 3)), kind_class("PReLU")(shared_axes=[1, 2])], seed=0)
    assert model.cost.mult_adds == 3


# --- gradients ------------------------------------------------------------------------------------------
def safe_input(shape, seed=0, kinks=(0.0,), batch=3, low=-5.0, high=8.0):
    """Random values in [low, high] at least 0.1 away from every kink (finite differences step across none)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, size=4 * batch * max(1, int(np.prod(shape))))
    x = x[np.all(np.abs(x[:, None] - np.asarray(kinks)[None, :]) > 0.1, axis=1)]
    return x[: batch * int(np.prod(shape))].reshape(batch, *shape)


@pytest.mark.parametrize(
    "kind, settings, shape, kinks",
    [
        ("ReLU", {}, (3, 4), (0.0,)),
        ("ReLU", {"max_value": 6}, (7,), (0.0, 6.0)),
        ("ReLU", {"max_value": 2.5}, (7,), (0.0, 2.5)),
        ("ReLU", {"negative_slope": 0.1}, (7,), (0.0,)),
        ("ReLU", {"negative_slope": 2.0}, (7,), (0.0,)),
        ("ReLU", {"threshold": 0.5}, (7,), (0.0, 0.5)),
        ("ReLU", {"max_value": 3.0, "negative_slope": 0.2, "threshold": 1.0}, (2, 5), (1.0, 3.0)),
        ("ReLU", {"max_value": 1.0, "threshold": 2.0, "negative_slope": 0.3}, (8,), (1.0, 2.0)),
        ("LeakyReLU", {}, (3, 4), (0.0,)),
        ("LeakyReLU", {"negative_slope": 1.5}, (6,), (0.0,)),
        ("ELU", {}, (3, 4), (0.0,)),
        ("ELU", {"alpha": -1.5}, (6,), (0.0,)),
        ("Softmax", {}, (3, 4), ()),
        ("Softmax", {"axis": 1}, (3, 4), ()),
        ("Softmax", {"axis": 2}, (2, 3, 4), ()),
        ("PReLU", {}, (3, 4), (0.0,)),
        ("PReLU", {}, (), (0.0,)),
        ("PReLU", {"shared_axes": [1]}, (3, 4), (0.0,)),
        ("PReLU", {"shared_axes": [1, 2]}, (2, 3, 2), (0.0,)),
        ("PReLU", {"shared_axes": 0}, (3, 4), (0.0,)),
    ],
)
def test_backward_matches_finite_differences(kind, settings, shape, kinks):
    model = nb.Sequential([nb.Input(shape), kind_class(kind)(**settings)], seed=5)
    layer = model.layers[0]
    if layer.weights:  # slopes of both signs, not the zeros they start at
        layer.set_weights([np.random.default_rng(3).normal(size=w.shape).astype(np.float32) for w in layer.weights])
    check_gradients(
        layer,
        safe_input(shape, kinks=kinks or (0.0,), low=-4.0, high=4.0)
        if kind == "Softmax"
        else safe_input(shape, kinks=kinks),
    )


@pytest.mark.parametrize(
    "kind, settings",
    [
        ("ReLU", {"max_value": 3.0, "negative_slope": 0.2, "threshold": 1.0}),
        ("LeakyReLU", {}),
        ("ELU", {"alpha": 0.5}),
        ("Softmax", {"axis": 1}),
        ("PReLU", {"shared_axes": [2]}),
    ],
)
def test_forward_train_is_call_in_float32(kind, settings):
    model = nb.Sequential([nb.Input((3, 4)), kind_class(kind)(**settings)], seed=5)
    layer = model.layers[0]
    x = np.random.default_rng(1).normal(size=(4, 3, 4)).astype(np.float32)
    y, _ = layer.forward_train(x, np.random.default_rng(0))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, layer.call(x))


# --- random chains with Dense, Flatten and Activation, against Keras ----------------------------------------
def random_layer(rng, rank):
    """A (kind, settings) pair; some settings out of range on purpose."""
    kind = rng.choice(["ReLU", "LeakyReLU", "Softmax", "ELU", "PReLU", "Dense", "Flatten", "Activation"])
    if kind == "ReLU":
        s = {}
        if rng.random() < 0.5:
            s["max_value"] = float(rng.choice([0.5, 2.0, 6.0]))
        if rng.random() < 0.5:
            s["negative_slope"] = float(rng.choice([0.05, 0.3, 1.5]))
        if rng.random() < 0.4:
            s["threshold"] = float(rng.choice([0.25, 1.0]))
        return kind, s
    if kind == "LeakyReLU":
        return kind, {"negative_slope": float(rng.choice([0.0, 0.01, 0.3, 2.0]))}
    if kind == "Softmax":
        return kind, {"axis": int(rng.integers(-rank - 2, rank + 2))}  # sometimes out of range or the batch axis
    if kind == "ELU":
        return kind, {"alpha": float(rng.choice([1.0, 0.3, -0.5]))}
    if kind == "PReLU":
        if rng.random() < 0.5:
            return kind, {}
        return kind, {
            "shared_axes": [int(a) for a in rng.choice([1, 2, 3], size=int(rng.integers(1, 3)), replace=False)]
        }
    if kind == "Dense":
        return kind, {
            "units": int(rng.integers(1, 6)),
            "activation": str(rng.choice(["linear", "relu", "tanh", "softmax", "elu"])),
        }
    if kind == "Flatten":
        return kind, {"data_format": str(rng.choice(["channels_last", "channels_first"]))}
    return kind, {"activation": str(rng.choice(["relu", "sigmoid", "softmax", "gelu", "selu", "softplus"]))}


def keras_chain(shape, layers, seed):
    """The chain in Keras, Dense kernels drawn with our per-layer seeds; (model, None) or (None, the refusal)."""
    keras.backend.clear_session(free_memory=False)
    made = []
    try:
        for i, (kind, settings) in enumerate(layers):
            settings = dict(settings)
            if kind == "Dense":
                settings["kernel_initializer"] = keras.initializers.GlorotUniform(seed=nb.layer_seed(seed, i))
            made.append(getattr(keras.layers, kind)(**settings))
        model = keras.Sequential([keras.Input(shape), *made])
        x = np.random.default_rng(0).normal(size=(2, *shape)).astype(np.float32)
        keras_predict(model, x)
        return model, None
    except Exception as e:  # any refusal, at construction, build or predict
        return None, e


@pytest.mark.parametrize("seed", range(60))
def test_random_chains_match_keras(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers(1, 5, size=int(rng.integers(1, 4))))
    layers, rank = [], len(shape)
    for _ in range(int(rng.integers(2, 6))):
        kind, settings = random_layer(rng, rank)
        layers.append((kind, settings))
        rank = 1 if kind == "Flatten" else rank
    theirs, refusal = keras_chain(shape, layers, seed)
    softmax_on_batch = False
    try:
        ours = nb.Sequential([nb.Input(shape), *(kind_class(k)(**s) for k, s in layers)], seed=seed)
    except nb.NetbuilderError as e:
        issue = e.issue
        softmax_on_batch = issue is not None and "batch axis" in issue.message
        if refusal is None:
            assert softmax_on_batch, f"netbuilder refuses what Keras runs: {e}"
        return
    assert refusal is None, f"Keras refuses {layers} on {shape} ({refusal}) but netbuilder builds it"
    assert ours.output_shape == tuple(theirs.output_shape)
    assert ours.count_params() == theirs.count_params()
    for mine, keras_w in zip(ours.get_weights(), theirs.get_weights()):  # initial weights from the same seeds
        np.testing.assert_array_equal(mine, np.asarray(keras_w))
    weights = [w + np.random.default_rng(1).normal(size=w.shape).astype(np.float32) * 0.3 for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = (np.random.default_rng(2).normal(size=(6, *shape)) * 2).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x), keras_predict(theirs, x), rtol=1e-6, atol=1e-6)
    mine = nb.model_from_json(theirs.to_json(), seed=seed)
    assert mine.output_shape == ours.output_shape and mine.count_params() == ours.count_params()


JAX_CASES = [
    ("ReLU", {}),
    ("ReLU", {"max_value": 6}),
    ("ReLU", {"max_value": 2.5}),
    ("ReLU", {"negative_slope": 0.1}),
    ("ReLU", {"threshold": 0.5}),
    ("ReLU", {"threshold": 0.5, "max_value": 2.0}),
    ("ReLU", {"max_value": 3.0, "negative_slope": 0.2, "threshold": 1.0}),
    ("ReLU", {"max_value": 1.0, "threshold": 2.0, "negative_slope": 0.3}),
    ("ReLU", {"max_value": 0.0, "negative_slope": 0.5}),
    ("LeakyReLU", {}),
    ("LeakyReLU", {"negative_slope": 1.0}),
    ("ELU", {}),
    ("ELU", {"alpha": -1.5}),
    ("Softmax", {}),
    ("Softmax", {"axis": 1}),
    ("PReLU", {}),
    ("PReLU", {"shared_axes": [1]}),
    ("PReLU", {"shared_axes": [2]}),
]


def test_backward_is_keras_on_jax_at_the_kinks_too():
    """The training oracle's own gradients (Keras on JAX, float64, one process), inputs exactly at 0, 1, 2, 2.5, 3, 6.

    Not for negative_slope > 1: there Keras's JAX backend computes where(x ≥ 0, x, s·x), a different function
    from the NumPy backend's max(x, s·x), which netbuilder follows."""
    from test_gradients_core import KINK_POINTS, compare_with_jax

    pairs = []
    for kind, settings in JAX_CASES:
        layer = nb.Sequential([nb.Input((2, 8)), kind_class(kind)(**settings)], seed=1).layers[0]
        if layer.weights:
            layer.set_weights([np.random.default_rng(3).normal(size=w.shape).astype(np.float32) for w in layer.weights])
        pairs.append(((kind, settings), layer, np.stack([KINK_POINTS, -KINK_POINTS[::-1]])))
    compare_with_jax(pairs)
