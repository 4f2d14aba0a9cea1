"""Training support of the core kinds: every activation's derivative, and Dense, Activation and Flatten's backward,
against float64 finite differences (kind_harness.check_gradients), at points away from every kink."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import netbuilder as nb
from kind_harness import check_gradients
from netbuilder.engine import activations
from netbuilder.engine.layer import kind_class

# Where each activation is not differentiable (finite differences must not straddle these).
KINKS = {
    "relu": (0,),
    "relu6": (0, 6),
    "leaky_relu": (0,),
    "elu": (0,),
    "selu": (0,),
    "celu": (0,),
    "hard_sigmoid": (-3, 3),
    "hard_silu": (-3, 3),
    "hard_tanh": (-1, 1),
    "hard_shrink": (-0.5, 0.5),
    "soft_shrink": (-0.5, 0.5),
    "sparse_plus": (-1, 1),
    "sparse_sigmoid": (-1, 1),
}


def safe_input(shape, kinks=(), seed=0, low=-5.0, high=8.0):
    """Random values in [low, high], at least 0.1 from every kink."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    x = rng.uniform(low, high, size=8 * n + 8)
    if kinks:
        x = x[np.all(np.abs(x[:, None] - np.asarray(kinks, float)[None, :]) > 0.1, axis=1)]
    return x[:n].reshape(shape)


def built_layer(input_shape, kind, settings, seed=4):
    return nb.Sequential([nb.Input(input_shape), kind_class(kind)(**settings)], seed=seed).layers[0]


@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_every_activation_derivative(name):
    layer = built_layer((3, 6), "Activation", {"activation": name})
    x = safe_input((4, 3, 6), KINKS.get(name, ()), low=-4.0, high=4.0)
    if name == "sparsemax":  # well-spread values: the support changes nowhere within a step
        x = np.random.default_rng(1).permutation(np.linspace(-2, 2, x.size)).reshape(x.shape)
    check_gradients(layer, x)


@pytest.mark.parametrize(
    "name",
    [
        "relu",
        "relu6",
        "hard_sigmoid",
        "hard_silu",
        "hard_tanh",
        "sparse_plus",
        "sparse_sigmoid",
        "softplus",
        "sigmoid",
        "gelu",
        "mish",
        "silu",
        "log_sigmoid",
        "selu",
    ],
)
def test_derivatives_far_out(name):
    """The saturated sides (and exp's growth) too: values out to ±12."""
    layer = built_layer((10,), "Activation", {"activation": name})
    check_gradients(layer, safe_input((3, 10), KINKS.get(name, ()), seed=3, low=-12, high=12), rtol=1e-4, atol=1e-5)


def test_sparsemax_derivative_is_keras_formula_not_textbook():
    """Keras's τ sums the cumsums over the support S, so ∂τ/∂x weighs the j-th largest by #{i ∈ S: i ≥ j}/k.

    [0.3, 0.2, 0.1]: every position passes Keras's support test (k = 3), τ = (0.3 + 0.5 + 0.6 − 1)/3, so
    ∂τ/∂x = [1, 2/3, 1/3]; y = [0.5/3, 0.2/3, 0] is positive on the first two only, where dy = [1, 0, 0] flows."""
    x = np.array([[0.3, 0.2, 0.1]])
    y = activations.sparsemax(x)
    np.testing.assert_allclose(y, [[0.5 / 3, 0.2 / 3, 0.0]])
    dy = np.array([[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(activations.gradient("sparsemax", x, y, dy), [[1 - 1, -2 / 3, -1 / 3]])


def test_derivatives_at_kinks_take_jax_sides():
    """Keras's JAX backend (the training oracle) differentiates relu at 0 as 0, leaky_relu as 1, elu as alpha."""
    x = np.array([0.0, 6.0, 1.0, -1.0])
    one = np.ones_like(x)
    grad = lambda name: activations.gradient(name, x, activations.ACTIVATIONS[name](x), one)  # noqa: E731
    assert grad("relu")[0] == 0 and grad("leaky_relu")[0] == 1 and grad("elu")[0] == 1
    assert grad("relu6")[1] == 0 and list(grad("hard_tanh")[2:]) == [1, 1]


@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_gradient_keeps_float32(name):
    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    y = activations.ACTIVATIONS[name](x)
    assert activations.gradient(name, x, y, np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize(
    "settings, shape",
    [
        ({"units": 4}, (5,)),
        ({"units": 3, "use_bias": False}, (5,)),
        ({"units": 3, "activation": "relu"}, (2, 4)),
        ({"units": 5, "activation": "tanh"}, (2, 3, 2)),
        ({"units": 4, "activation": "softmax"}, (3,)),
        ({"units": 4, "activation": "glu"}, (3,)),
        ({"units": 3, "activation": "sparsemax"}, (4,)),
        ({"units": 3, "activation": "gelu", "use_bias": False}, (2, 3)),
    ],
)
def test_dense_backward(settings, shape):
    layer = built_layer(shape, "Dense", settings)
    if layer.use_bias:  # a bias away from its zeros, so its gradient is tested at a general point
        layer.set_weights([layer.weights[0], np.random.default_rng(5).normal(size=layer.weights[1].shape)])
    check_gradients(layer, np.random.default_rng(2).normal(size=(3, *shape)))


def test_dense_forward_train_is_call():
    layer = built_layer((2, 3), "Dense", {"units": 4, "activation": "relu"})
    x = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)
    y, _ = layer.forward_train(x, np.random.default_rng(0))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, layer.call(x))


@pytest.mark.parametrize("name", ["relu", "softmax", "log_softmax", "glu", "linear"])
def test_activation_layer_backward_on_rank_3(name):
    layer = built_layer((2, 4), "Activation", {"activation": name})
    check_gradients(layer, safe_input((3, 2, 4), KINKS.get(name, ()), low=-3, high=3))


@pytest.mark.parametrize(
    "settings, shape",
    [
        ({}, (2, 3, 4)),
        ({"data_format": "channels_first"}, (2, 3, 4)),
        ({"data_format": "channels_first"}, (3, 2, 2, 2)),
        ({"data_format": "channels_first"}, (5,)),
        ({}, ()),
    ],
)
def test_flatten_backward(settings, shape):
    layer = built_layer(shape, "Flatten", settings)
    check_gradients(layer, np.random.default_rng(0).normal(size=(2, *shape)))


def test_flatten_backward_routes_each_value_home():
    """channels_first: the gradient of output element k goes back to the input element that produced it."""
    layer = built_layer((2, 3, 4), "Flatten", {"data_format": "channels_first"})
    x = np.arange(24.0).reshape(1, 2, 3, 4)
    y, cache = layer.forward_train(x, np.random.default_rng(0))
    dx, grads = layer.backward(cache, y)  # dy = y: each input gets back its own value
    np.testing.assert_array_equal(dx, x)
    assert grads == []


# --- the training oracle: Keras on JAX, in its own process (float64), at the kinks too -------------------------
JAX_VJP = r"""
import json, os, sys
os.environ["KERAS_BACKEND"] = "jax"
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np, keras
keras.config.set_floatx("float64")
out = []
for job in json.load(sys.stdin):
    layer = getattr(keras.layers, job["kind"])(**job["settings"])
    x = np.array(job["x"], dtype=np.float64)
    layer.build(x.shape)
    if job["weights"]:
        layer.set_weights([np.array(w, dtype=np.float64) for w in job["weights"]])
    trainable = [v.value for v in layer.trainable_variables]
    frozen = [v.value for v in layer.non_trainable_variables]
    y, vjp = jax.vjp(lambda tv, x: layer.stateless_call(tv, frozen, x)[0], trainable, x)
    dw, dx = vjp(np.array(job["dy"], dtype=y.dtype))
    out.append({"dx": np.asarray(dx, np.float64).tolist(), "dw": [np.asarray(d, np.float64).tolist() for d in dw]})
print(json.dumps(out))
"""

# exact kinks of every function here, and ordinary values; distinct within a row (no ties for sort-based sparsemax)
KINK_POINTS = np.array([[0.0, 6.0, 1.0, -1.0, 3.0, -3.0, 0.5, -0.5], [2.3, -1.7, 0.2, -0.05, 2.5, 2.0, 7.0, -2.2]])


def jax_vjps(jobs: list[dict]) -> list[dict]:
    """dx and trainable-weight gradients of each (kind, settings, x, dy, weights) job, as Keras on JAX computes them."""
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    run = subprocess.run(
        [sys.executable, "-c", JAX_VJP], input=json.dumps(jobs), capture_output=True, text=True, timeout=900, env=env
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def compare_with_jax(layers_and_inputs, rtol=1e-5, atol=1e-7):
    """Each (built layer, x) pair's backward against JAX's autodiff of the same Keras layer with the same weights (the
    tolerance allows for Keras-on-JAX's tanh, which runs in float32; a wrong side of a kink is off by 0.1 or more)."""
    jobs, ours = [], []
    for (kind, settings), layer, x in layers_and_inputs:
        layer._weights = [w.astype(np.float64) for w in layer.weights]
        y, cache = layer.forward_train(x, np.random.default_rng(0))
        dy = np.random.default_rng(9).normal(size=y.shape)
        ours.append(layer.backward(cache, dy))
        jobs.append(
            {
                "kind": kind,
                "settings": settings,
                "x": x.tolist(),
                "dy": dy.tolist(),
                "weights": [w.tolist() for w in layer.weights],
            }
        )
    for (kind_settings, _, x), (dx, dws), theirs in zip(layers_and_inputs, ours, jax_vjps(jobs)):
        np.testing.assert_allclose(dx, theirs["dx"], rtol=rtol, atol=atol, err_msg=f"{kind_settings} at {x.tolist()}")
        for dw, expected in zip(dws, theirs["dw"]):
            np.testing.assert_allclose(dw, expected, rtol=rtol, atol=atol, err_msg=f"{kind_settings} weights")


def test_activation_and_dense_backward_are_jaxs_at_kinks_too():
    """One JAX process for every activation (through Activation) and Dense with several activations."""
    pairs = []
    for name in sorted(activations.ACTIVATIONS):
        settings = {"activation": name}
        pairs.append((("Activation", settings), built_layer((8,), "Activation", settings), KINK_POINTS.copy()))
    for activation in ("linear", "relu", "glu", "softmax", "sparsemax"):
        settings = {"units": 4, "activation": activation}
        layer = built_layer((2, 3), "Dense", settings)
        layer.set_weights([w + np.random.default_rng(1).normal(size=w.shape) for w in layer.weights])
        pairs.append((("Dense", settings), layer, np.random.default_rng(2).normal(size=(3, 2, 3))))
    compare_with_jax(pairs)
