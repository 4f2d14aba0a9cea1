"""Every activation name against real Keras 3.15 (NumPy backend): ordinary and extreme float32 inputs.

Deliberate differences checked here: `threshold` is rejected by name; every result is float32
(Keras's sparsemax returns float64); netbuilder never emits a RuntimeWarning.
"""

import warnings

import keras
import numpy as np
import pytest
from keras.src.activations import ALL_OBJECTS_DICT

import netbuilder as nb
from netbuilder import activations

EXTREMES = np.array([1e30, -1e30, 1e10, -1e10, 88, -88, 1e-30, -1e-30, 0, np.nan, np.inf, -np.inf], dtype=np.float32)
ORDINARY = np.array([-7, -3, -1, -0.5, -0.25, 0, 0.25, 0.5, 1, 2, 3, 6.5], dtype=np.float32)
RANDOM = np.random.default_rng(20240601).normal(scale=3.0, size=24).astype(np.float32)


def _inputs():
    """Rank-2 and rank-3 arrays, last axis even (glu), extremes alone and next to ordinary values."""
    mixed = np.stack([np.array([v, 1.5, -0.5, 3.0], np.float32) for v in EXTREMES])  # (12, 4)
    return {
        "ordinary_2d": ORDINARY.reshape(3, 4),
        "random_3d": RANDOM.reshape(2, 3, 4),
        "extremes_pairs_2d": EXTREMES.reshape(6, 2),
        "extremes_row_2d": EXTREMES.reshape(2, 6),
        "extremes_3d": EXTREMES.reshape(3, 2, 2),
        "extremes_mixed_2d": mixed,
        "extremes_mixed_3d": mixed.reshape(3, 4, 4),
    }


INPUTS = _inputs()


def keras_activation(name, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's own overflow warnings are not under test
        return np.asarray(keras.activations.get(name)(x))


def ours(name, x):
    """Our activation with every warning turned into an error (we must not warn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return activations.get(name)(x.copy())


def assert_like_keras(got, want):
    want32 = want.astype(np.float32)
    assert got.dtype == np.float32
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want32))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want32))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want32))
    finite = np.isfinite(want32)
    assert np.isfinite(got[finite]).all(), "non-finite where Keras is finite"
    np.testing.assert_allclose(got, want32, rtol=1e-6, atol=1e-6, equal_nan=True)


def test_names_are_keras_names_without_threshold():
    assert set(nb.ACTIVATION_NAMES) == set(ALL_OBJECTS_DICT) - {"threshold"}
    assert len(nb.ACTIVATION_NAMES) == 31


@pytest.mark.parametrize("name", nb.ACTIVATION_NAMES)
@pytest.mark.parametrize("case", sorted(INPUTS))
def test_activation_matches_keras(name, case):
    x = INPUTS[case]
    assert_like_keras(ours(name, x), keras_activation(name, x))


@pytest.mark.parametrize("name", nb.ACTIVATION_NAMES)
def test_activation_layer_matches_keras_layer(name):
    """The Activation layer inside a model gives Keras's Activation layer output."""
    x = INPUTS["random_3d"]
    model = nb.Sequential([nb.Input((3, 4)), nb.Activation(name)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = np.asarray(keras.layers.Activation(name)(x))
    assert_like_keras(model.predict(x), want)


@pytest.mark.parametrize("name", nb.ACTIVATION_NAMES)
def test_serialized_name_is_keras_serialized_name(name):
    assert activations.canonical_name(name) == keras.activations.serialize(keras.activations.get(name))


def test_threshold_keras_cannot_call_it():
    """Why we reject it: Keras accepts the name but the layer fails when called."""
    with pytest.raises(TypeError, match="threshold"):
        keras.layers.Activation("threshold")(np.ones((1, 2), np.float32))


@pytest.mark.parametrize("make", [lambda: nb.Activation("threshold"), lambda: nb.Dense(3, activation="threshold")])
def test_threshold_rejected_clearly(make):
    with pytest.raises(nb.LayerConfigError, match="threshold.*two arguments"):
        make()
