"""Embedding through the kind harness (tests/kind_harness.py) against real Keras."""

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
from netbuilder.engine import initializers as nb_init
from netbuilder.engine.kinds.embedding import Embedding

UNIFORM = {"embeddings_initializer": "RandomUniform"}  # Keras's "uniform": RandomUniform(-0.05, 0.05)
NO_MASKS = "netbuilder passes no masks between layers, so mask_zero=True could not be honoured downstream"

CASES = [
    Case("Embedding", {"input_dim": 10, "output_dim": 3}, (5,), UNIFORM, integer_input=10),
    Case("Embedding", {"input_dim": 10, "output_dim": 3}, (), UNIFORM, integer_input=10),  # one index per sample
    Case("Embedding", {"input_dim": 7, "output_dim": 2}, (2, 3), UNIFORM, integer_input=7),
    Case("Embedding", {"input_dim": 7, "output_dim": 2}, (2, 3, 2, 2), UNIFORM, integer_input=7),
    Case("Embedding", {"input_dim": 1, "output_dim": 1}, (4,), UNIFORM, integer_input=1),
    Case("Embedding", {"input_dim": 1000, "output_dim": 64}, (12,), UNIFORM, integer_input=1000),
    Case("Embedding", {"input_dim": 10, "output_dim": 3, "mask_zero": False}, (5,), UNIFORM, integer_input=10),
    Case(
        "Embedding",
        {"input_dim": 9, "output_dim": 4, "embeddings_initializer": "he_normal"},
        (5,),
        {"embeddings_initializer": "HeNormal"},
        integer_input=9,
    ),
    Case(
        "Embedding",
        {"input_dim": 6, "output_dim": 6, "embeddings_initializer": "orthogonal"},
        (3,),
        {"embeddings_initializer": "Orthogonal"},
        integer_input=6,
    ),
    Case(
        "Embedding",
        {"input_dim": 10, "output_dim": 3, "mask_zero": True},
        (5,),
        integer_input=10,
        keras_accepts_we_reject=NO_MASKS,
    ),
    Case("Embedding", {"input_dim": 0, "output_dim": 3}, (5,), integer_input=1),
    Case("Embedding", {"input_dim": 10, "output_dim": 0}, (5,), integer_input=10),
    Case("Embedding", {"input_dim": -3, "output_dim": 3}, (5,), integer_input=1),
    Case("Embedding", {"input_dim": 2.0, "output_dim": 3}, (5,), integer_input=1),
]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_embedding_matches_keras(case):
    check_case(case)


def test_lookup_is_bit_for_bit_keras():
    case = CASES[2]
    ours, theirs = ours_model(case), keras_model(case)
    weights = [np.random.default_rng(1).normal(size=w.shape).astype(np.float32) for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = sample(case, 9)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x, verbose=0))


def test_initial_table_is_keras_uniform_with_our_seed():
    """Keras's default "uniform" initializer (RandomUniform(-0.05, 0.05)), drawn with the layer seed: equal bits."""
    ours = nb.Sequential(
        [nb.Input((4,)), nb.Flatten(), nb.Embedding(50, 8)], seed=12
    )  # the second layer: seed 12·1000 + 1
    keras.backend.clear_session(free_memory=False)
    init = keras.initializers.RandomUniform(seed=nb.layer_seed(12, 1))
    theirs = keras.layers.Embedding(50, 8, embeddings_initializer=init)
    theirs.build((None, 4))
    np.testing.assert_array_equal(ours.layers[1].weight("embeddings"), np.asarray(theirs.embeddings))
    assert float(np.abs(ours.layers[1].weight("embeddings")).max()) <= 0.05


# --- what is not an index -----------------------------------------------------------------------------
def _embedding_model(input_dim=10):
    return nb.Sequential([nb.Input((3,)), nb.Embedding(input_dim, 4)], seed=0)


def test_floats_are_refused_with_the_teaching_message():
    """Keras's NumPy backend casts 2.5 to 2 silently; we refuse (a documented difference) and say why."""
    with pytest.raises(nb.InputDataError) as e:
        _embedding_model().predict(np.array([[1, 2, 3], [4, 2.5, 0]], np.float32))
    text = str(e.value)
    assert "Embedding was given floats" in text and "2.5" in text and "sample 1, position (1,)" in text
    assert "whole numbers from 0 to 9" in text and "cut it down to 2" in text


def test_keras_truncates_floats_which_we_refuse():
    """The documented difference itself: Keras looks up row 2 for 2.5 (and row 0 for -0.7)."""
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential([keras.Input((2,)), keras.layers.Embedding(10, 4)])
    table = np.asarray(theirs.layers[0].embeddings)
    out = theirs.predict(np.array([[2.5, -0.7]], np.float32), verbose=0)
    np.testing.assert_array_equal(out[0], table[[2, 0]])


def test_out_of_range_index_is_refused():
    model = _embedding_model()
    with pytest.raises(nb.InputDataError, match=r"no row 10\. Raise input_dim to at least 11"):
        model.predict(np.array([[1, 10, 3]], np.float32))
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Embedding(10, 4)])
    with pytest.raises(Exception, match="out of bounds"):  # Keras refuses it too, at predict
        theirs.predict(np.array([[1, 10, 3]], np.float32), verbose=0)


def test_negative_and_non_finite_indices_are_refused():
    """Keras's NumPy backend reads -1 as the last row; we refuse negative ids (documented), and NaN or inf."""
    model = _embedding_model()
    with pytest.raises(nb.InputDataError, match="no row -1"):
        model.predict(np.array([[1, -1, 3]], np.float32))
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(nb.InputDataError, match="not the number of any row"):
            model.predict(np.array([[1, 2, bad]], np.float32))


def test_embedding_after_dense_meets_the_message():
    """The teaching case: Embedding placed after a layer that computes floats is refused before anything runs."""
    with pytest.raises(nb.IncompatibleShapeError, match="receives the real numbers that 'dense' computes") as e:
        nb.Sequential([nb.Input((3,)), nb.Dense(2), nb.Embedding(10, 4)], seed=1)
    assert "belongs first, on the raw ids" in e.value.issue.explanation


def test_empty_batch():
    assert _embedding_model().predict(np.zeros((0, 3), np.float32)).shape == (0, 3, 4)


# --- construction -------------------------------------------------------------------------------------
def test_mask_zero_is_refused_clearly():
    with pytest.raises(nb.LayerConfigError, match=r"Embedding\(mask_zero=True\) is not supported"):
        nb.Embedding(10, 4, mask_zero=True)
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Embedding(10, 4, mask_zero=True)])
    with pytest.raises(nb.LayerConfigError, match="mask_zero"):
        nb.model_from_json(theirs.to_json())


def test_constructor_arguments_as_keras():
    with pytest.raises(nb.LayerConfigError, match="missing required argument: 'output_dim'"):
        nb.Embedding(10)
    with pytest.raises(nb.LayerConfigError, match="positionally"):
        nb.Embedding(10, 4, "uniform", None)  # Keras's fourth positional is embeddings_regularizer
    assert nb.Embedding(10, 4, "he_normal").embeddings_initializer == nb_init.HeNormal()
    with pytest.raises(nb.LayerConfigError, match="input_dim"):
        nb.Embedding(True, 4)
    assert nb.Embedding(10, 4, input_length=5).values == {  # input_length ignored, as Keras 3 ignores it
        "input_dim": 10,
        "output_dim": 4,
        "embeddings_initializer": nb_init.RandomUniform(-0.05, 0.05),
        "mask_zero": False,
    }


def test_formula_label_explanation():
    model = nb.Sequential([nb.Input((100,)), nb.Embedding(1000, 64)])
    report = model.analysis.layers[0]
    assert (
        report.formula == "1,000×64 = 64,000" and report.trainable == 64_000 and report.output_shape == (None, 100, 64)
    )
    layer = model.layers[0]
    assert layer.label() == "1,000 ids → 64"
    assert layer.explain_shape((None, 100), (None, 100, 64)) == (
        "Each of the 100 indices of a sample is replaced by its row of the 1,000×64 table, a new last axis of 64: "
        "(None, 100) → (None, 100, 64)."
    )
    assert "(None,) → (None, 64)" in layer.explain_shape((None,), (None, 64))
    assert "4×5 = 20 indices" in layer.explain_shape((None, 4, 5), (None, 4, 5, 64))
    assert Embedding.group == "Core" and Embedding.description


def test_upstream_fix_can_resize_output_dim():
    """Embedding sets the last axis: a Dense built for 8 inputs after Embedding(…, 4) can be fixed by output_dim=8."""
    dense = nb.Dense(2)
    dense.built_shape = (None, 3, 8)
    issue = nb.analyze([nb.Embedding(10, 4), dense], (3,)).issue
    assert ("set_setting", 0, ("output_dim", 8)) in {(f.action, f.layer_index, f.value) for f in issue.fixes}


# --- JSON ---------------------------------------------------------------------------------------------
def test_config_is_keras():
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Embedding(10, 4)])
    ours = nb.Sequential([nb.Input((3,)), nb.Embedding(10, 4)])
    mine, keras_layer = (
        json.loads(ours.to_json())["config"]["layers"][1],
        json.loads(theirs.to_json())["config"]["layers"][1],
    )
    assert mine == keras_layer
    assert list(mine["config"]) == list(keras_layer["config"])  # Keras's key order too


def test_json_both_ways():
    json_roundtrip_equal(
        spec_of(
            (6,),
            ("Embedding", {"input_dim": 20, "output_dim": 4}),
            ("LayerNormalization", {}),
            ("Flatten", {}),
            ("Dense", {"units": 2}),
        )
    )


# --- training -----------------------------------------------------------------------------------------
class _NearestIndex(Embedding):
    """For the finite-difference check only: x ± 1e-6 is no index, so the indices are held at the nearest whole number
    (the output is then locally constant in x, and its true gradient, zero, is what is checked)."""

    def forward_train(self, x, rng):
        return super().forward_train(np.rint(x), rng)


@pytest.mark.parametrize("shape", [(5,), (), (2, 3)])
def test_backward_scatters_into_the_table(shape):
    layer = _NearestIndex(6, 3)
    layer.build((None, *shape), 2)
    x = np.random.default_rng(0).integers(0, 6, size=(4, *shape)).astype(np.float64)
    check_gradients(layer, x)


def test_backward_adds_repeated_indices():
    layer = Embedding(4, 2)
    layer.build((None, 3), 0)
    _, cache = layer.forward_train(np.array([[1, 1, 3]], np.float32), None)
    dx, (grad,) = layer.backward(cache, np.ones((1, 3, 2), np.float32))
    np.testing.assert_array_equal(grad, [[0, 0], [2, 2], [0, 0], [1, 1]])
    np.testing.assert_array_equal(dx, np.zeros((1, 3)))


# --- exports and chains -------------------------------------------------------------------------------
def _ids(shape, input_dim, batch=5, seed=7):
    return np.random.default_rng(seed).integers(0, input_dim, size=(batch, *shape)).astype(np.float32)


def _perturbed(model, rng):
    """Weights moved off their initial values so each matters (variances kept positive)."""
    weights = []
    for layer in model.layers:
        for spec, w in zip(layer.weight_specs(layer.built_shape), layer.get_weights()):
            w = w + rng.normal(size=w.shape).astype(np.float32) * 0.5
            weights.append(np.abs(w) + 0.1 if "variance" in spec.name else w)
    return weights


CHAINS = [
    ((6,), [nb.Embedding(20, 4), nb.Flatten(), nb.Dense(3), nb.Activation("softmax")]),
    ((6,), [nb.Embedding(20, 4), nb.LayerNormalization(), nb.Dense(2)]),
    ((5,), [nb.Embedding(30, 8), nb.BatchNormalization(), nb.Activation("relu"), nb.Flatten(), nb.Dense(1)]),
    ((), [nb.Embedding(9, 3), nb.Dense(2)]),
    ((2, 3), [nb.Embedding(7, 2), nb.BatchNormalization(axis=1), nb.LayerNormalization(axis=[2, 3]), nb.Flatten()]),
]


@pytest.mark.parametrize("shape,layers", CHAINS, ids=range(len(CHAINS)))
def test_chain_and_exports_match_keras(shape, layers):
    model = nb.Sequential([nb.Input(shape), *layers], seed=5)
    weights = _perturbed(model, np.random.default_rng(3))
    model.set_weights(weights)
    input_dim = layers[0].input_dim
    x = _ids(shape, input_dim)
    expected = model.predict(x)
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential(
        [keras.Input(shape), *(getattr(keras.layers, layer.kind)(**layer.values) for layer in layers)]
    )
    assert tuple(theirs.output_shape) == model.output_shape and theirs.count_params() == model.count_params()
    theirs.set_weights(weights)
    np.testing.assert_allclose(theirs.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(run_keras_code(model, x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_torch_code(model, x), expected, rtol=1e-5, atol=1e-5)


def test_harness_check_exports():
    spec = spec_of(
        (6,),
        ("Embedding", {"input_dim": 20, "output_dim": 4}),
        ("LayerNormalization", {}),
        ("Flatten", {}),
        ("Dense", {"units": 2}),
    )
    check_exports(spec, _ids((6,), 20))


def test_exported_torch_refuses_floats_too():
    model = nb.Sequential([nb.Input((3,)), nb.Embedding(10, 2)], seed=0)
    with pytest.raises(ValueError, match="whole-number indices"):
        run_torch_code(model, np.array([[1.5, 2, 3]], np.float32))


@pytest.mark.parametrize("seed", range(15))
def test_random_chain_after_embedding_matches_keras(seed):
    rng = np.random.default_rng(100 + seed)
    shape = tuple(int(d) for d in rng.integers(1, 5, size=rng.integers(0, 3)))
    input_dim, output_dim = int(rng.integers(1, 30)), int(rng.integers(1, 6))
    kinds = [("Embedding", {"input_dim": input_dim, "output_dim": output_dim})]
    for _ in range(rng.integers(0, 4)):
        kinds.append(
            [
                ("Dense", {"units": int(rng.integers(1, 5))}),
                ("Flatten", {}),
                ("Activation", {"activation": "tanh"}),
                ("LayerNormalization", {}),
                ("BatchNormalization", {}),
            ][rng.integers(5)]
        )
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential([keras.Input(shape), *(getattr(keras.layers, k)(**s) for k, s in kinds)])
    ours = nb.Sequential([nb.Input(shape), *(getattr(nb, k)(**s) for k, s in kinds)], seed=seed)
    assert ours.output_shape == tuple(theirs.output_shape) and ours.count_params() == theirs.count_params()
    weights = _perturbed(ours, rng)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = _ids(shape, input_dim, seed=seed)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


# --- cost ---------------------------------------------------------------------------------------------
COST_CASES = [
    Case("Embedding", {"input_dim": 100, "output_dim": 8}, (20,), integer_input=100),
    Case("Embedding", {"input_dim": 100, "output_dim": 1}, (20,), integer_input=100),
    Case("Embedding", {"input_dim": 100, "output_dim": 64}, (), integer_input=100),
    Case("Embedding", {"input_dim": 5000, "output_dim": 32}, (10, 10), integer_input=5000),
]


@pytest.mark.parametrize("case", COST_CASES, ids=[c.id for c in COST_CASES])
def test_cost_holds_what_predict_allocates(case):
    model = ours_model(case)
    for batch in (1, 64, 4096):
        check_cost(model, sample(case, batch))


def test_training_equals_keras_on_jax():
    """Embedding's scatter-add gradient in a real fit (repeated ids in a batch): losses and the table as Keras trains
    them."""
    from training_oracle import run_jobs

    model = nb.Sequential(
        [nb.Input((6,)), nb.Embedding(12, 4), nb.Flatten(), nb.Dense(3, activation="softmax")], seed=2
    )
    start = model.get_weights()
    x = _ids((6,), 12, batch=30, seed=1)
    y = np.random.default_rng(2).integers(0, 3, size=30).astype(np.float32)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False)
    (theirs,) = run_jobs(
        [
            {
                "model_json": model.to_json(),
                "weights": start,
                "x": x,
                "y": y,
                "optimizer": ("Adam", {}),
                "loss": "sparse_categorical_crossentropy",
                "metrics": [],
                "batch_size": 8,
                "epochs": 3,
            }
        ]
    )
    np.testing.assert_allclose(history.history["loss"], theirs["history"]["loss"], rtol=1e-3, atol=1e-6)
    for mine, keras_w in zip(model.get_weights(), theirs["weights"], strict=True):
        np.testing.assert_allclose(mine, keras_w, rtol=1e-3, atol=1e-5)
