"""Keras 3.15's activation functions on float32 NumPy arrays, formula for formula.

Each function reproduces the NumPy backend's expression (keras/src/backend/numpy/nn.py) so
results are bit-identical; overflow warnings are silenced because the values Keras returns
(0.0 or inf) are the intended ones. Deliberate differences from Keras: every result is float32
(Keras's sparsemax returns float64), and `threshold`, which Keras accepts by name but cannot
call, is rejected when named.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .errors import LayerConfigError


def _c(value, x):
    """A scalar of x's dtype, as the backend writes `np.array(v, x.dtype)`."""
    return np.array(value, x.dtype)


def linear(x):
    return x


_ZERO32 = np.array(0.0, np.float32)


def relu(x):
    # The engine's tensors are float32; a ready 0-d zero saves a third of a small model's relu time.
    return np.maximum(x, _ZERO32 if x.dtype == np.float32 else _c(0.0, x))


def relu6(x):
    return np.minimum(np.maximum(x, _c(0.0, x)), _c(6.0, x))


def leaky_relu(x, negative_slope=0.2):
    return np.maximum(x, _c(negative_slope, x) * x)


def sigmoid(x):
    with np.errstate(over="ignore"):  # exp(-x) → inf gives Keras's exact 0.0
        return _c(1.0, x) / (_c(1.0, x) + np.exp(-x))


def tanh(x):
    return np.tanh(x)


def tanh_shrink(x):
    return x - np.tanh(x)


def softplus(x):
    return np.logaddexp(x, _c(0.0, x))


def softsign(x):
    return x / (_c(1.0, x) + np.abs(x))


def soft_shrink(x, threshold=0.5):
    return np.where(
        x > threshold,
        np.array(x - threshold, x.dtype),
        np.where(x < -threshold, np.array(x + threshold, x.dtype), _c(0.0, x)),
    )


def sparse_plus(x):
    return np.where(x <= -1, np.zeros_like(x), np.where(x < 1, np.array(0.25 * (x + 1) ** 2, x.dtype), x))


def sparse_sigmoid(x):
    return np.where(x <= -1, _c(0.0, x), np.where(x >= 1, _c(1.0, x), np.array(0.5 * (x + 1), x.dtype)))


def silu(x):
    with np.errstate(invalid="ignore"):
        return x * sigmoid(x)


def squareplus(x, b=4):
    with np.errstate(over="ignore"):  # x**2 → inf, then x + inf = inf as in Keras
        return (x + np.sqrt(x**2 + _c(b, x))) / 2


def log_sigmoid(x):
    return -softplus(-x)


def hard_sigmoid(x):
    y = x / _c(6.0, x) + _c(0.5, x)  # a division by 6, as Keras does; not a product by 1/6
    return np.where(y <= 0.0, _c(0.0, x), np.where(y >= 1.0, _c(1.0, x), y))


def hard_silu(x):
    return x * hard_sigmoid(x)


def elu(x, alpha=1.0):
    with np.errstate(over="ignore"):  # expm1 is evaluated everywhere; overflow only where unused
        return np.where(x >= _c(0.0, x), x, _c(alpha, x) * np.expm1(x))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    return _c(_SELU_SCALE, x) * elu(x, _SELU_ALPHA)


_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x, approximate=False):
    """Exact (erf) GELU, Keras's default for the name "gelu"; erf from libm, not SciPy."""
    if approximate:
        k = np.sqrt(2 / np.pi).astype(x.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            inner = k * (x + _c(0.044715, x) * (x**3).astype(x.dtype))
        return x * (_c(0.5, x) * (_c(1.0, x) + np.tanh(inner)))
    scaled = x / np.sqrt(2).astype(x.dtype)
    erf = _erf(scaled.astype(np.float64)).astype(x.dtype)  # SciPy's float32 loop: erf in double, rounded
    return x * (erf + 1).astype(x.dtype) / _c(2, x)


def celu(x, alpha=1.0):
    a = _c(alpha, x)
    return np.maximum(x, _c(0.0, x)) + a * np.expm1(np.minimum(x, _c(0.0, x)) / a)


def glu(x):
    """First half of the last axis times sigmoid of the second half: the last axis halves."""
    if x.shape[-1] % 2:
        raise LayerConfigError(f"glu needs an even last axis; received shape {x.shape}")
    a, b = np.split(x, 2, axis=-1)
    return (a * sigmoid(b)).astype(x.dtype)


def hard_tanh(x):
    return np.clip(x, _c(-1.0, x), _c(1.0, x))


def hard_shrink(x, threshold=0.5):
    return np.where(np.abs(x) > _c(threshold, x), x, _c(0.0, x))


def exponential(x):
    with np.errstate(over="ignore"):
        return np.exp(x)


def mish(x):
    return x * np.tanh(softplus(x))


def softmax(x):
    with np.errstate(invalid="ignore"):  # +inf inputs give NaN, as in Keras
        e = np.exp(x - np.max(x, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)


def log_softmax(x):
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.max(x, axis=-1, keepdims=True)
        return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def sparsemax(x):
    """Keras's algorithm (computed in float64 there, because of an int64 arange), cast to float32."""
    ordered = -1.0 * np.sort(-1.0 * x, axis=-1)
    cumsum = np.cumsum(ordered, axis=-1)
    r = np.arange(1, x.shape[-1] + 1).reshape([1] * (x.ndim - 1) + [-1])
    with np.errstate(invalid="ignore", over="ignore"):
        support = ordered - (cumsum - 1) / r > 0
        k = np.sum(support, axis=-1, keepdims=True)
        tau = (np.sum(np.where(support, cumsum, 0.0), axis=-1, keepdims=True) - 1) / k
        return np.maximum(x - tau, 0.0).astype(x.dtype)


_CANNOT_WARN = {"linear", "relu", "relu6", "leaky_relu", "hard_tanh"}  # max/min/clip/scale by ≤ 1: no overflow, no NaN made


def _quiet(fn):
    """`fn` with NumPy's floating-point warnings off: Keras's values for inf, NaN and overflow
    (inf, NaN, 0.0) are the intended results, so they must not surface as RuntimeWarnings.
    Functions that cannot warn skip the errstate context, which costs a microsecond a call."""
    if fn.__name__ in _CANNOT_WARN:
        return fn

    @functools.wraps(fn)
    def quiet(x):
        with np.errstate(all="ignore"):
            return fn(x)

    return quiet


# Canonical names, in the order Keras lists them; aliases map to the name Keras serializes.
ACTIVATIONS = {
    f.__name__: _quiet(f)
    for f in (
        celu, elu, exponential, gelu, glu, hard_shrink, hard_sigmoid, hard_silu, hard_tanh,
        leaky_relu, linear, log_sigmoid, log_softmax, mish, relu, relu6, selu, sigmoid, silu,
        soft_shrink, softmax, softplus, softsign, sparse_plus, sparse_sigmoid, sparsemax,
        squareplus, tanh, tanh_shrink,
    )
}
ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
ACTIVATION_NAMES = tuple(sorted([*ACTIVATIONS, *ALIASES]))  # the 31 usable names


def canonical_name(name) -> str:
    """The name Keras serializes for `name` (None → "linear"); a clear error when unknown."""
    if name is None:
        return "linear"
    if not isinstance(name, str):
        raise LayerConfigError(f"activation must be a name such as 'relu'; received {name!r}")
    if name == "threshold":
        raise LayerConfigError(
            "activation 'threshold' needs two arguments (threshold, default_value) that a name "
            "cannot carry; Keras accepts the name but fails when the layer runs. Use 'relu' or "
            "'hard_shrink' instead."
        )
    name = ALIASES.get(name, name)
    if name not in ACTIVATIONS:
        shown = name if len(name) <= 40 else name[:40] + "…"
        raise LayerConfigError(
            f"unknown activation {shown!r}; names are case-sensitive. Allowed: {', '.join(ACTIVATION_NAMES)}"
        )
    return name


def get(name):
    """The function for an activation name (aliases and None accepted)."""
    return ACTIVATIONS[canonical_name(name)]
