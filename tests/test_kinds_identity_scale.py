"""Identity and ConvNeXt's LayerScale through the kind harness (tests/kind_harness.py) against real Keras 3.15, the
entry keras.applications' ConvNeXtTiny writes for LayerScale, and training against Keras on JAX (with Normalization as
weights)."""

import json
import warnings

import keras
import numpy as np
import pytest
from keras.src.applications.convnext import LayerScale as KerasLayerScale

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
from netbuilder.engine.kinds.layer_scale import KERAS_MODULE
from netbuilder.engine.layer import kind_class
from netbuilder.optimizers import SGD, Adam
from netbuilder.studio.spec import ModelSpec
from test_cost import FLOAT32, backprop_peak

IDENTITY, LS = "Identity", "LayerScale"
DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}

CASES = [
    # Identity: any shape passes through; it takes no settings
    Case(IDENTITY, {}, (3,)),
    Case(IDENTITY, {}, ()),
    Case(IDENTITY, {}, (2, 3, 4)),
    Case(IDENTITY, {}, (2, 1, 2, 3)),
    Case(IDENTITY, {"units": 3}, (3,)),
    # LayerScale: one factor per channel (ConvNeXt's 1e-6), NumPy's broadcasting of x · gamma on the last axis
    Case(LS, {"init_values": 1e-6, "projection_dim": 4}, (3, 4)),
    Case(LS, {"init_values": 0.5, "projection_dim": 3}, (3,)),
    Case(LS, {"init_values": 2, "projection_dim": 4}, (2, 2, 4)),
    Case(LS, {"init_values": -0.25, "projection_dim": 2}, (1, 2, 2, 2)),
    Case(LS, {"init_values": 0.0, "projection_dim": 5}, (5,)),
    Case(LS, {"init_values": 0.5, "projection_dim": 4}, (3, 1)),  # one channel spread over four factors: (None, 3, 4)
    Case(LS, {"init_values": 0.5, "projection_dim": 1}, (3, 5)),  # one factor for every channel
    Case(LS, {"init_values": 0.5, "projection_dim": 1}, ()),
    Case(LS, {"init_values": 0.5, "projection_dim": 4}, (3, 5)),
    Case(LS, {"init_values": 0.5, "projection_dim": 4}, ()),
    Case(LS, {"init_values": 0.5, "projection_dim": 2}, ()),
    Case(LS, {"init_values": 0.5, "projection_dim": 0}, (3,)),
    Case(LS, {"init_values": 0.5, "projection_dim": 4.0}, (4,)),
    Case(LS, {"init_values": "a", "projection_dim": 4}, (4,)),
    Case(LS, {"init_values": 0.5}, (4,)),
    Case(LS, {"projection_dim": 4}, (4,)),
    Case(
        LS,
        {"init_values": None, "projection_dim": 4},
        (4,),
        keras_accepts_we_reject="None as init_values: Keras starts gamma at NaN",
    ),
    Case(LS, {"init_values": float("inf"), "projection_dim": 4}, (4,), keras_accepts_we_reject="inf as a setting"),
    Case(
        LS,
        {"init_values": [1.0, 2.0, 3.0, 4.0], "projection_dim": 4},
        (4,),
        keras_accepts_we_reject="init_values is a number (ConvNeXt's); a list would be a starting value per channel",
    ),
    Case(
        LS,
        {"init_values": 0.5, "projection_dim": True},
        (4,),
        keras_accepts_we_reject="a boolean where Keras takes an integer",
    ),
]


@pytest.fixture
def keras_layers_has_layer_scale(monkeypatch):
    """The harness makes Keras's layer as keras.layers.<kind>: LayerScale is ConvNeXt's class, which Keras does not
    export there. (This also lets Keras read a "keras.layers" LayerScale entry; test_keras_reads_our_json reads ours
    without it.)"""
    monkeypatch.setattr(keras.layers, "LayerScale", KerasLayerScale, raising=False)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_matches_keras(case, keras_layers_has_layer_scale):
    check_case(case)


def _accepted(case) -> bool:
    try:
        ours_model(case)
    except nb.NetbuilderError:
        return False
    return True


BIT_CASES = [c for c in CASES if _accepted(c)]  # test_matches_keras proves Keras accepts exactly these


@pytest.mark.parametrize("case", BIT_CASES, ids=[c.id for c in BIT_CASES])
def test_inference_is_bit_for_bit_keras(case, keras_layers_has_layer_scale):
    ours, theirs = ours_model(case), keras_model(case)
    weights = [w + np.random.default_rng(1).normal(size=w.shape).astype(np.float32) for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = (np.random.default_rng(2).normal(size=(6, *case.input_shape)) * 3).astype(np.float32)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x, verbose=0))


def test_initial_gamma_is_keras_constant(keras_layers_has_layer_scale):
    for init, dim in ((1e-6, 96), (0.1, 3), (2, 1), (-3.5, 4), (1 / 3, 2)):
        case = Case(LS, {"init_values": init, "projection_dim": dim}, (dim,))
        mine, theirs = ours_model(case).get_weights(), keras_model(case).get_weights()
        assert len(mine) == len(theirs) == 1
        np.testing.assert_array_equal(mine[0], np.asarray(theirs[0]))
        np.testing.assert_array_equal(
            mine[0], np.full(dim, init, np.float32)
        )  # by hand: init_values rounded to float32


def test_keras_names_the_weight_variable_we_call_it_gamma():
    """ConvNeXt's build makes gamma with add_weight(...) and no name: Keras's variable is called "variable" (its path
    "layer_scale/variable"); the layer holds it as `gamma`, the name we show."""
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential([keras.Input((3,)), KerasLayerScale(0.5, 3)])
    assert theirs.layers[0].gamma.name == "variable" and theirs.layers[0].weights[0] is theirs.layers[0].gamma
    ours = nb.Sequential([nb.Input((3,)), nb.LayerScale(0.5, 3)])
    assert [s.name for s in ours.layers[0].weight_specs((None, 3))] == ["gamma"]


def test_outputs_by_hand():
    x = np.float32([[[1.0, -2.0], [0.5, 4.0]]])
    model = nb.Sequential([nb.Input((2, 2)), nb.Identity(), nb.LayerScale(0.5, 2)])
    model.set_weights([np.float32([2.0, -1.0])])
    np.testing.assert_array_equal(model.predict(x), [[[2.0, 2.0], [1.0, -4.0]]])
    spread = nb.Sequential([nb.Input((2, 1)), nb.LayerScale(0.5, 3)])
    spread.set_weights([np.float32([1.0, 2.0, 3.0])])
    np.testing.assert_array_equal(
        spread.predict(np.float32([[[1.0], [-2.0]]])), [[[1.0, 2.0, 3.0], [-2.0, -4.0, -6.0]]]
    )
    assert nb.Sequential([nb.Input((2,)), nb.Identity()]).predict(np.float32([[-0.0, np.inf]])).tolist() == [
        [-0.0, np.inf]
    ]


def test_identity_passes_indices_on():
    """Identity keeps its input's values: whole-number ids stay ids for an Embedding after it (not after a Dense)."""
    assert nb.analyze([nb.Identity(), nb.Embedding(10, 4)], (3,)).ok
    assert nb.analyze([nb.Identity(), nb.LayerScale(1.0, 3), nb.Embedding(10, 4)], (3,)).issue.layer_index == 2
    keras.backend.clear_session(free_memory=False)
    x = np.float32([[1, 2, 9]])
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Identity(), keras.layers.Embedding(10, 4)])
    ours = nb.Sequential([nb.Input((3,)), nb.Identity(), nb.Embedding(10, 4)])
    ours.set_weights(theirs.get_weights())
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x, verbose=0))


def test_settings_are_checked():
    with pytest.raises(nb.LayerConfigError, match="missing required argument: 'projection_dim'"):
        nb.LayerScale(0.5)
    with pytest.raises(nb.LayerConfigError, match="init_values must be a number"):
        nb.LayerScale([0.5, 1.0], 2)
    with pytest.raises(nb.LimitError):
        nb.LayerScale(0.5, 65_537)
    with pytest.raises(nb.LayerConfigError, match="Identity takes at most 0 positional"):
        nb.Identity(3)
    assert nb.LayerScale(1e-6, 96).values == {"init_values": 1e-6, "projection_dim": 96}
    assert nb.LayerScale(init_values=1, projection_dim=np.int64(3)).values == {"init_values": 1.0, "projection_dim": 3}


def test_spec_and_share_link_data_round_trip():
    spec = spec_of(
        (4, 3),
        (IDENTITY, {}),
        (LS, {"init_values": 1e-6, "projection_dim": 3}),
        (LS, {"init_values": -2.0, "projection_dim": 1}),
    )
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


# --- training mode ------------------------------------------------------------------------------------------
GRADIENT_CASES = [
    (IDENTITY, {}, (3,)),
    (IDENTITY, {}, (2, 3)),
    (LS, {"init_values": 0.5, "projection_dim": 3}, (3,)),
    (LS, {"init_values": 0.5, "projection_dim": 3}, (2, 2, 3)),
    (LS, {"init_values": 0.5, "projection_dim": 4}, (3, 1)),
    (LS, {"init_values": 0.5, "projection_dim": 1}, (2, 3)),
    (LS, {"init_values": 0.5, "projection_dim": 1}, ()),
]


@pytest.mark.parametrize("kind,settings,shape", GRADIENT_CASES, ids=[f"{k}{s}@{sh}" for k, s, sh in GRADIENT_CASES])
def test_backward_matches_finite_differences(kind, settings, shape):
    layer = kind_class(kind)(**settings)
    layer.build((None, *shape), 7)
    rng = np.random.default_rng(6)
    layer._weights = [w + rng.normal(size=w.shape).astype(np.float32) for w in layer._weights]
    check_gradients(layer, rng.normal(size=(4, *shape)) * 2)


# --- shape problems ------------------------------------------------------------------------------------------
def _keras_error(settings, shape) -> str:
    keras.backend.clear_session(free_memory=False)
    try:
        model = keras.Sequential([keras.Input(shape), KerasLayerScale(**settings)])
        model.predict(np.ones((2, *shape), np.float32), verbose=0)
    except Exception as e:  # whatever Keras raises
        return str(e)
    raise AssertionError("Keras accepted it")


@pytest.mark.parametrize(
    "settings,shape,wanted",
    [
        (
            {"init_values": 0.5, "projection_dim": 4},
            (3, 5),
            {("set_setting", ("projection_dim", 5)), ("set_input_shape", (3, 4))},
        ),
        (
            {"init_values": 0.5, "projection_dim": 4},
            (),
            {("set_setting", ("projection_dim", 1)), ("set_input_shape", (4,))},
        ),
        (
            {"init_values": 0.5, "projection_dim": 3},
            (2, 2, 6),
            {("set_setting", ("projection_dim", 6)), ("set_input_shape", (2, 2, 3))},
        ),
    ],
    ids=range(3),
)
def test_problem_carries_keras_message_and_working_fixes(settings, shape, wanted):
    issue = nb.analyze([nb.LayerScale(**settings)], shape).issue
    assert issue is not None and issue.layer_index == 0 and issue.explanation
    assert issue.message.startswith("Layer 'layer_scale' (LayerScale)")
    assert issue.keras_message in _keras_error(settings, shape)
    actions = {(f.action, f.value) for f in issue.fixes}
    assert wanted <= actions, actions


def test_fix_reaches_upstream():
    issue = nb.analyze([nb.Dense(5), nb.LayerScale(1e-6, 8)], (2,)).issue
    assert issue.layer_index == 1 and ("set_setting", 0, ("units", 8)) in {
        (f.action, f.layer_index, f.value) for f in issue.fixes
    }


def test_formula_label_explanation_and_group():
    model = nb.Sequential([nb.Input((7, 7, 96)), nb.Identity(), nb.LayerScale(1e-6, 96)])
    assert [r.formula for r in model.analysis.layers] == ["", "96 (gamma, one per channel) = 96"]
    assert [r.trainable for r in model.analysis.layers] == [0, 96]
    identity, scale = model.layers
    assert identity.label() == "" and scale.label() == "96 channels, from 1e-06"
    assert "unchanged" not in scale.explain_shape((None, 7, 7, 96), (None, 7, 7, 96))
    assert "each of the 96 channels" in scale.explain_shape((None, 7, 7, 96), (None, 7, 7, 96)).lower()
    assert "grows from 1 to 4" in nb.LayerScale(0.5, 4).explain_shape((None, 3, 1), (None, 3, 4))
    assert "stays (None, 7, 7, 96)" in identity.explain_shape((None, 7, 7, 96), (None, 7, 7, 96))
    assert kind_class(IDENTITY).group == "Core" and kind_class(LS).group == "Normalisation"
    assert kind_class(IDENTITY).description and kind_class(LS).description


# --- Keras JSON ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def convnext_layer_scale():
    """The first LayerScale entry ConvNeXtTiny (weights=None) writes, and Keras's layer it belongs to."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras.backend.clear_session(free_memory=False)
        model = keras.applications.ConvNeXtTiny(weights=None)
    entry = next(e for e in json.loads(model.to_json())["config"]["layers"] if e["class_name"] == LS)
    layer = next(layer for layer in model.layers if layer.name == entry["config"]["name"])
    return entry, layer


# What Keras 3.15.1 writes for ConvNeXtTiny's first LayerScale (inbound_nodes and the Functional's "name" key aside)
CONVNEXT_ENTRY = {
    "module": "keras.src.applications.convnext",
    "class_name": "LayerScale",
    "registered_name": "LayerScale",
    "config": {
        "name": "convnext_tiny_stage_0_block_0_layer_scale",
        "trainable": True,
        "dtype": DTYPE,
        "init_values": 1e-06,
        "projection_dim": 96,
    },
    "build_config": {"input_shape": [None, 56, 56, 96]},
}


def _as_sequential(entry) -> str:
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


def test_convnext_entry_reads(convnext_layer_scale):
    entry, keras_layer = convnext_layer_scale
    assert {k: v for k, v in entry.items() if k in CONVNEXT_ENTRY} == CONVNEXT_ENTRY
    ours = nb.model_from_json(_as_sequential(entry), seed=0)
    layer = ours.layers[0]
    assert (
        layer.values == {"init_values": 1e-6, "projection_dim": 96} and layer.name == CONVNEXT_ENTRY["config"]["name"]
    )
    assert ours.count_params() == keras_layer.count_params() == 96
    np.testing.assert_array_equal(
        ours.get_weights()[0], np.asarray(keras_layer.get_weights()[0])
    )  # both 1e-6 in float32
    weights = [np.random.default_rng(3).normal(size=96).astype(np.float32)]
    ours.set_weights(weights)
    keras_layer.set_weights(weights)
    x = np.random.default_rng(4).normal(size=(2, 56, 56, 96)).astype(np.float32)
    np.testing.assert_array_equal(ours.predict(x), np.asarray(keras_layer(x)))
    written = json.loads(ours.to_json())["config"]["layers"][1]
    assert {k: v for k, v in written.items() if k not in ("module", "registered_name")} == {
        k: v for k, v in CONVNEXT_ENTRY.items() if k not in ("module", "registered_name")
    }


def test_our_json_names_convnext_module(convnext_layer_scale):
    ours = nb.model_from_json(_as_sequential(convnext_layer_scale[0]), seed=0)
    assert json.loads(ours.to_json())["config"]["layers"][1] == CONVNEXT_ENTRY


def test_keras_reads_our_json():
    """Without keras.layers.LayerScale (Keras imports the class from the module the entry names)."""
    assert not hasattr(keras.layers, "LayerScale")
    ours = nb.Sequential([nb.Input((3, 4)), nb.LayerScale(0.25, 4), nb.Identity()], seed=1)
    keras.backend.clear_session(free_memory=False)
    theirs = keras.models.model_from_json(ours.to_json())
    assert type(theirs.layers[0]) is KerasLayerScale and theirs.count_params() == 4
    assert json.loads(theirs.to_json())["config"]["layers"][1:] == json.loads(ours.to_json())["config"]["layers"][1:]


def test_identity_entry_is_keras():
    keras.backend.clear_session(free_memory=False)
    theirs = json.loads(keras.Sequential([keras.Input((3,)), keras.layers.Identity()]).to_json())["config"]["layers"][1]
    assert json.loads(nb.Sequential([nb.Input((3,)), nb.Identity()]).to_json())["config"]["layers"][1] == theirs
    assert "build_config" not in theirs


def test_json_both_ways(keras_layers_has_layer_scale):
    json_roundtrip_equal(
        spec_of(
            (4, 3),
            (IDENTITY, {}),
            (LS, {"init_values": 1e-6, "projection_dim": 3}),
            ("Dense", {"units": 5}),
            (LS, {"init_values": 0.5, "projection_dim": 1}),
            ("Flatten", {}),
        )
    )


# --- exports --------------------------------------------------------------------------------------------------------
EXPORT_MODELS = [
    ((4, 3), lambda: [nb.Identity(), nb.LayerScale(1e-6, 3), nb.Dense(5), nb.LayerScale(0.5, 5), nb.Flatten()]),
    ((3, 1), lambda: [nb.LayerScale(0.5, 4), nb.Identity(), nb.LayerScale(-2.0, 1)]),
]


@pytest.mark.parametrize("i", range(len(EXPORT_MODELS)))
def test_exported_scripts_compute_our_outputs(i):
    """The Keras script imports ConvNeXt's LayerScale from where Keras's JSON says it lives (no monkeypatch here)."""
    shape, layers = EXPORT_MODELS[i]
    model = nb.Sequential([nb.Input(shape), *layers()], seed=4)
    model.set_weights(
        [w + np.random.default_rng(8).normal(size=w.shape).astype(np.float32) for w in model.get_weights()]
    )
    x = (np.random.default_rng(7).normal(size=(5, *shape)) * 2).astype(np.float32)
    expected = model.predict(x)
    np.testing.assert_allclose(run_keras_code(model, x), expected, rtol=1e-6, atol=1e-6)  # Dense sums in BLAS's order
    np.testing.assert_allclose(run_torch_code(model, x), expected, rtol=1e-6, atol=1e-6)


def test_harness_check_exports():
    check_exports(
        spec_of((3, 2), (IDENTITY, {}), ("Dense", {"units": 4}), (LS, {"init_values": 0.1, "projection_dim": 4}))
    )


# --- cost ----------------------------------------------------------------------------------------------------------
COST_CASES = [
    Case(IDENTITY, {}, (256,)),
    Case(IDENTITY, {}, (16, 64)),
    Case(LS, {"init_values": 0.1, "projection_dim": 64}, (16, 64)),
    Case(LS, {"init_values": 0.1, "projection_dim": 64}, (16, 1)),
    Case(LS, {"init_values": 0.1, "projection_dim": 1}, (16, 64)),
    Case(LS, {"init_values": 0.1, "projection_dim": 3}, (30, 30, 3)),
]


@pytest.mark.parametrize("case", COST_CASES, ids=[c.id for c in COST_CASES])
def test_cost_holds_what_predict_allocates(case):
    model = ours_model(case)
    for batch in (1, 64, 4096):
        check_cost(model, sample(case, batch))


TRAIN_MEMORY = [
    ("LayerScale", (16, 64), lambda: [nb.LayerScale(0.1, 64), nb.Flatten()], 256),
    ("LayerScale spread", (16, 1), lambda: [nb.LayerScale(0.1, 64), nb.Flatten()], 256),
    ("LayerScale one factor", (256,), lambda: [nb.LayerScale(0.1, 1)], 1024),
    ("Identity", (256,), lambda: [nb.Identity()], 1024),
    (
        "Dense LayerScale Identity",
        (64,),
        lambda: [nb.Dense(64), nb.LayerScale(1e-6, 64), nb.Identity(), nb.Dense(8)],
        256,
    ),
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


# --- training against Keras on JAX (tests/training_oracle.py) ---------------------------------------------------------
def keras_json(model) -> str:
    """Our JSON as Keras reads it: LayerScale entries name the module Keras imports the class from (what our to_json
    writes once serialization honours a kind's keras_module: test_our_json_names_convnext_module)."""
    document = json.loads(model.to_json())
    for entry in document["config"]["layers"]:
        if entry["class_name"] == LS:
            entry["module"], entry["registered_name"] = KERAS_MODULE, "LayerScale"
    return json.dumps(document)


MEAN, VARIANCE = np.float32([0.5, -1.0, 2.0]), np.float32([4.0, 0.25, 9.0])


def _stem(normalization):
    return [nb.Rescaling([0.5, 1.0, 2.0], offset=-0.5), normalization, nb.Identity()]


TRAINING = {
    # name: (input shape, layers, loss, optimizer (ours, Keras's), batch size, epochs, Normalization's weights
    # (or None))
    # Normalization as weights set off Keras's 0 and 1: Keras would not use weights set with set_weights, so Keras
    # trains the same computation with them as its mean and variance settings; ours must leave the weights as they were
    "norm-weights-layerscale-sgd": (
        (4, 3),
        lambda norm: [*_stem(norm), nb.Dense(6), nb.LayerScale(0.5, 6), nb.Flatten(), nb.Dense(1)],
        "mse",
        (SGD(learning_rate=0.05), ("SGD", {"learning_rate": 0.05})),
        7,
        3,
        (MEAN, VARIANCE),
    ),
    # Normalization as weights at Keras's 0 and 1 in both, compared weight for weight (count included): none changes
    "norm-default-layerscale-adam": (
        (4, 3),
        lambda norm: [*_stem(norm), nb.LayerScale(1e-6, 3), nb.Dense(4), nb.Flatten(), nb.Dense(2)],
        "mse",
        (Adam(learning_rate=0.01), ("Adam", {"learning_rate": 0.01})),
        8,
        3,
        None,
    ),
    # one channel spread over four factors, then one factor for every channel
    "layerscale-spread-softmax": (
        (5, 1),
        lambda norm: [
            nb.LayerScale(0.3, 4),
            nb.Dense(3),
            nb.LayerScale(-0.2, 1),
            nb.Flatten(),
            nb.Dense(3, activation="softmax"),
        ],
        "categorical_crossentropy",
        (Adam(learning_rate=0.02), ("Adam", {"learning_rate": 0.02})),
        10,
        3,
        None,
    ),
}


@pytest.fixture(scope="module")
def trained():
    from training_oracle import run_jobs  # runs Keras on JAX in a process of its own

    jobs, ours = [], {}
    for k, (name, (shape, layers, loss, (optimizer, keras_optimizer), batch, epochs, stats)) in enumerate(
        TRAINING.items()
    ):
        model = nb.Sequential([nb.Input(shape), *layers(nb.Normalization())], seed=9)
        start = model.get_weights()
        twin, theirs_start = model, start
        if stats is not None:
            start[:3] = [stats[0], stats[1], np.float32(0)]  # the Normalization's mean, variance and count come first
            model.set_weights(start)
            twin = nb.Sequential(
                [nb.Input(shape), *layers(nb.Normalization(mean=stats[0].tolist(), variance=stats[1].tolist()))]
            )
            theirs_start = start[3:]
        rng = np.random.default_rng(k)
        x = (rng.normal(size=(40, *shape)) * 2 + 1).astype(np.float32)
        classes = model.output_shape[-1]
        y = (
            np.eye(classes, dtype=np.float32)[rng.integers(0, classes, size=40)]
            if loss == "categorical_crossentropy"
            else np.tanh(x.reshape(40, -1)[:, :classes] - 1).astype(np.float32)
        )
        model.compile(optimizer=optimizer, loss=loss)
        history = model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False)
        ours[name] = (model, history, x, y, batch, start)
        jobs.append(
            {
                "model_json": keras_json(twin),
                "weights": theirs_start,
                "x": x,
                "y": y,
                "optimizer": keras_optimizer,
                "loss": loss,
                "metrics": [],
                "batch_size": batch,
                "epochs": epochs,
            }
        )
    return dict(zip(TRAINING, run_jobs(jobs))), ours


@pytest.mark.parametrize("name", list(TRAINING))
def test_training_equals_keras_on_jax(trained, name):
    """Per-epoch loss, final weights and evaluate as Keras trains them; Normalization's weights stay as they were."""
    theirs, ours = trained
    model, history, x, y, batch, start = ours[name]
    np.testing.assert_allclose(history.history["loss"], theirs[name]["history"]["loss"], rtol=1e-3, atol=1e-6)
    mine = model.get_weights()
    stats = TRAINING[name][-1]
    if stats is not None:
        for before, after in zip(start[:3], mine[:3], strict=True):  # not trained: exactly as set
            np.testing.assert_array_equal(before, after)
        mine = mine[3:]
    for w, keras_w in zip(mine, theirs[name]["weights"], strict=True):
        np.testing.assert_allclose(w, keras_w, rtol=1e-3, atol=1e-5)
    assert not np.allclose(mine[-1], start[-1])  # training did move them
    np.testing.assert_allclose(
        model.evaluate(x, y, batch_size=batch), theirs[name]["evaluate"]["loss"], rtol=1e-3, atol=1e-6
    )
