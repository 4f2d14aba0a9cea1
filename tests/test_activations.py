"""netbuilder.activations: hand-computed values (Keras's formulas, reference §3.3), names, dtypes."""

import math
import warnings

import numpy as np
import pytest

import netbuilder as nb
from netbuilder import activations

f32 = np.float32


def act(name, values):
    return activations.get(name)(np.asarray(values, dtype=f32))


def sig(v):
    return 1 / (1 + math.exp(-v))


@pytest.mark.parametrize(
    "name, x, want",
    [
        ("linear", [-2, 0, 3], [-2, 0, 3]),
        ("relu", [-2, 0, 3], [0, 0, 3]),
        ("relu6", [-2, 3, 10], [0, 3, 6]),
        ("leaky_relu", [-10, 0, 5], [-2, 0, 5]),
        ("sigmoid", [0, 2], [0.5, sig(2)]),
        ("tanh", [0, 1], [0, math.tanh(1)]),
        ("softplus", [0, 1], [math.log(2), math.log1p(math.e)]),
        ("softsign", [-3, 1], [-0.75, 0.5]),
        ("silu", [0, 2], [0, 2 * sig(2)]),
        ("swish", [-1], [-sig(-1)]),
        ("log_sigmoid", [0], [-math.log(2)]),
        ("elu", [-1, 2], [math.exp(-1) - 1, 2]),
        ("selu", [-3], [-1.6705689]),
        ("gelu", [-3, 0, 1], [-0.0040496, 0, 0.8413447]),
        ("celu", [-1, 2], [math.exp(-1) - 1, 2]),
        ("hard_sigmoid", [-4, -1, 0, 3], [0, 1 / 3, 0.5, 1]),
        ("hard_silu", [-1, 3], [-1 / 3, 3]),
        ("hard_swish", [1], [1 * (1 / 6 + 0.5)]),
        ("hard_tanh", [-5, 0.3, 5], [-1, 0.3, 1]),
        ("hard_shrink", [-0.6, 0.5, 0.2, 2], [-0.6, 0, 0, 2]),
        ("soft_shrink", [-2, 0.3, 1], [-1.5, 0, 0.5]),
        ("sparse_plus", [-2, 0, 0.5, 3], [0, 0.25, 0.5625, 3]),
        ("sparse_sigmoid", [-2, 0, 0.5, 3], [0, 0.5, 0.75, 1]),
        ("squareplus", [0, 1.5], [1, (1.5 + 2.5) / 2]),
        ("tanh_shrink", [0, 1], [0, 1 - math.tanh(1)]),
        ("exponential", [0, 1], [1, math.e]),
        ("mish", [0, 7], [0, 6.999988]),
    ],
)
def test_elementwise_values(name, x, want):
    np.testing.assert_allclose(act(name, [x]), [want], rtol=1e-6, atol=1e-7)


def test_softmax_rows_and_rank1_across_batch():
    """Softmax uses the last axis; on rank 1 that is the batch (as in Keras)."""
    np.testing.assert_allclose(act("softmax", [1, 2, 3]), [0.09003057, 0.24472846, 0.66524094], rtol=1e-6)
    np.testing.assert_allclose(act("softmax", [[0, 0], [0, math.log(3)]]), [[0.5, 0.5], [0.25, 0.75]], rtol=1e-6)


def test_log_softmax_values():
    np.testing.assert_allclose(act("log_softmax", [[0, 0]]), [[-math.log(2)] * 2], rtol=1e-6)


@pytest.mark.parametrize(
    "x, want",
    [([1, 0], [1, 0]), ([0.5, 0.5], [0.25, 0.25]), ([2, 1, 0.5], [1, 0, 0]), ([0.3, 0.2, 0.1], [0.5 / 3, 0.2 / 3, 0])],
)
def test_sparsemax_values(x, want):
    """Keras's NumPy sparsemax, by hand: tau = (sum of the cumsums over the support - 1) / k.

    That is not textbook sparsemax (whose rows sum to 1: [0.5, 0.5] would stay [0.5, 0.5]);
    netbuilder follows Keras, the oracle (see test_conformance_activations).
    """
    np.testing.assert_allclose(act("sparsemax", [x]), [want], rtol=1e-6, atol=1e-7)


def test_glu_first_half_times_sigmoid_of_second_half():
    np.testing.assert_allclose(act("glu", [[-3, -1, 0, 0.5, 2, 7]]), [[-1.867378, -0.880797, 0.0]], rtol=1e-6)


def test_glu_odd_last_axis_is_a_clear_error():
    with pytest.raises(nb.LayerConfigError, match="even last axis"):
        act("glu", [[1, 2, 3]])


@pytest.mark.parametrize(
    "name, x, want",
    [
        ("sigmoid", -100, 0.0),  # Keras's naive formula underflows to exactly 0
        ("softplus", -100, 3.783506e-44),  # stable
        ("exponential", 100, np.inf),
        ("relu", np.nan, np.nan),
    ],
)
def test_keras_edge_values(name, x, want):
    got = act(name, [[x]])[0, 0]
    np.testing.assert_allclose(got, want, rtol=1e-5, equal_nan=True)


def test_relu_of_negative_zero_is_positive_zero():
    assert not np.signbit(act("relu", [-0.0])[0])


def test_softmax_huge_and_infinite_values():
    np.testing.assert_array_equal(act("softmax", [[1e30, 1e30, -1e30]]), [[0.5, 0.5, 0]])
    assert np.isnan(act("softmax", [[np.inf, 1.0]])).any()


@pytest.mark.parametrize("name", nb.ACTIVATION_NAMES)
@pytest.mark.parametrize("shape", [(2, 4), (2, 3, 4)])
def test_float32_shape_and_no_warning(name, shape):
    x = np.linspace(-1e30, 1e30, num=int(np.prod(shape)), dtype=f32).reshape(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = activations.get(name)(x)
    assert y.dtype == f32
    assert y.shape == (shape[:-1] + (shape[-1] // 2,) if name == "glu" else shape)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_normalizing_activations_use_last_axis(name):
    x = np.random.default_rng(1).normal(size=(2, 3, 5)).astype(f32)
    y = activations.get(name)(x)
    total = np.exp(y).sum(-1) if name == "log_softmax" else y.sum(-1)
    np.testing.assert_allclose(total, np.ones((2, 3)), rtol=1e-5)


def test_names():
    assert len(nb.ACTIVATION_NAMES) == 31
    assert list(nb.ACTIVATION_NAMES) == sorted(nb.ACTIVATION_NAMES)
    assert activations.canonical_name(None) == "linear"
    assert activations.canonical_name("swish") == "silu"
    assert activations.canonical_name("hard_swish") == "hard_silu"
    assert activations.get(None) is activations.get("linear")


@pytest.mark.parametrize("bad", ["Relu", "threshold", "", "nope", 3, activations.relu])
def test_unknown_or_unsupported_names_rejected(bad):
    with pytest.raises(nb.LayerConfigError):
        activations.canonical_name(bad)


def test_unknown_name_message_lists_allowed_names():
    with pytest.raises(nb.LayerConfigError, match="case-sensitive.*relu6"):
        activations.get("Relu")
