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
from dataclasses import dataclass

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


def _chebyshev_table() -> np.ndarray:
    """Chebyshev coefficients of erf from libm's own values, one row per piece (padded to one length):
    row 0 fits erf(x)/x in t = 8x² − 1 on |x| < 0.5; rows 1..7 fit erf on 0.5-wide pieces up to 4."""
    from numpy.polynomial import chebyshev

    def ratio(u):  # erf(x)/x at x = sqrt(t), t = (u + 1) / 8
        x = np.sqrt((u + 1) / 8)
        return np.array([math.erf(v) / v for v in x])

    def piece(low):
        return lambda u: np.array([math.erf(v) for v in (u + 1) / 4 + low])

    rows = [chebyshev.chebinterpolate(ratio, 12)] + [chebyshev.chebinterpolate(piece(low), 18) for low in _ERF_LOWS]
    table = np.zeros((len(rows), 19))
    for i, row in enumerate(rows):
        table[i, : len(row)] = row
    return table


_ERF_LOWS = np.arange(0.5, 4.0, 0.5)
CHUNK = 1 << 16  # elements per step: scratch stays a few MB whatever the tensor's size
_ERF_TABLE = None


def erf(x: np.ndarray) -> np.ndarray:
    """erf in float64 to ~2e-15, vectorised (libm's erf is one Python call per element).

    Each value's piece is picked by index and its Chebyshev series summed by Clenshaw's recurrence with the
    coefficients gathered per value: the same temporaries whatever the values. float32 rounds every |x| ≥ 4
    to ±1; NaN stays NaN. Rounded to float32, the result equals SciPy's erf (what Keras's NumPy backend calls)
    except where a value falls within 2e-15 of a float32 rounding boundary."""
    global _ERF_TABLE
    if _ERF_TABLE is None:
        _ERF_TABLE = _chebyshev_table()
    with np.errstate(invalid="ignore", over="ignore"):  # inf and NaN run through the series and are replaced after
        return _erf(np.asarray(x))


def _erf(x: np.ndarray) -> np.ndarray:
    flat = np.asarray(x, dtype=np.float64).ravel()
    out = np.empty_like(flat)
    for start in range(0, flat.size, CHUNK):
        v = flat[start : start + CHUNK]
        a = np.abs(v)
        twice = a * 2
        piece = np.where(twice < 8, twice, 8).astype(np.int8)  # 0: |x| < 0.5; k: 0.5k ≤ |x| < 0.5(k+1); 8: |x| ≥ 4, NaN
        small = piece == 0
        # the series' variable in [-1, 1]: 8x² − 1 on the first piece, 4(|x| − low) − 1 on the others
        u = np.where(small, 8 * a * a - 1, 4 * (a - 0.5 * piece) - 1)
        row = np.minimum(piece, 7)
        b1 = np.zeros_like(a)
        b2 = np.zeros_like(a)
        for k in range(_ERF_TABLE.shape[1] - 1, 0, -1):
            b1, b2 = _ERF_TABLE[row, k] + 2 * u * b1 - b2, b1
        r = _ERF_TABLE[row, 0] + u * b1 - b2
        r = np.where(small, a * r, r)
        r = np.where(piece == 8, np.where(np.isnan(a), np.nan, 1.0), r)
        out[start : start + CHUNK] = np.copysign(r, v)
    return out.reshape(np.shape(x))


def gelu(x, approximate=False):
    """Exact (erf) GELU, Keras's default for the name "gelu"; erf computed in float64 and rounded, as SciPy's
    float32 loop does. In steps of CHUNK values, so its temporaries stay a few MB whatever the tensor's size."""
    if approximate:
        k = np.sqrt(2 / np.pi).astype(x.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            inner = k * (x + _c(0.044715, x) * (x**3).astype(x.dtype))
        return x * (_c(0.5, x) * (_c(1.0, x) + np.tanh(inner)))
    flat = x.reshape(-1)
    out = np.empty_like(flat)
    root2, two = np.sqrt(2).astype(x.dtype), _c(2, x)
    for start in range(0, flat.size, CHUNK):
        part = flat[start : start + CHUNK]
        out[start : start + CHUNK] = part * (erf(part / root2).astype(x.dtype) + 1).astype(x.dtype) / two
    return out.reshape(x.shape)


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


_CANNOT_WARN = {
    "linear",
    "relu",
    "relu6",
    "leaky_relu",
    "hard_tanh",
}  # max/min/clip/scale by ≤ 1: no overflow, no NaN made


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
        celu,
        elu,
        exponential,
        gelu,
        glu,
        hard_shrink,
        hard_sigmoid,
        hard_silu,
        hard_tanh,
        leaky_relu,
        linear,
        log_sigmoid,
        log_softmax,
        mish,
        relu,
        relu6,
        selu,
        sigmoid,
        silu,
        soft_shrink,
        softmax,
        softplus,
        softsign,
        sparse_plus,
        sparse_sigmoid,
        sparsemax,
        squareplus,
        tanh,
        tanh_shrink,
    )
}


@dataclass(frozen=True)
class ActivationCost:
    """Per element: operations (an add is 1; measured time relative to one), and float32 temporaries alive at
    the peak, in units of the input tensor (beyond the input and output) — for tensors under 256 KiB, and for
    larger ones, where NumPy reuses temporaries in place; `chunked` more per element, up to CHUNK elements in
    all (gelu works in steps of that many). Per call whatever its size: `call_microseconds`, the time of its
    NumPy calls (measured on the 2-core server with timeit, the best of 30 repeats at 1 unit and 1 sample)."""

    ops: int
    scratch: float
    scratch_large: float
    chunked: float
    call_microseconds: int


# Measured with tracemalloc and timers on 1k to 4M elements (tests/test_cost.py checks every one).
COST = {
    "celu": ActivationCost(5, 2.25, 2.1, 0, 5),
    "elu": ActivationCost(9, 1.5, 1.35, 0, 6),
    "exponential": ActivationCost(1, 0.1, 0.1, 0, 4),
    "gelu": ActivationCost(270, 0, 0, 22.5, 77),
    "glu": ActivationCost(3, 1.25, 0.75, 0, 5),
    "hard_shrink": ActivationCost(3, 0.5, 0.35, 0, 5),
    "hard_sigmoid": ActivationCost(7, 2.5, 2.35, 0, 4),
    "hard_silu": ActivationCost(8, 2.5, 2.35, 0, 8),
    "hard_tanh": ActivationCost(1, 0.25, 0.1, 0, 4),
    "leaky_relu": ActivationCost(1, 1.25, 1.1, 0, 2),
    "linear": ActivationCost(0, 0, 0, 0, 0),
    "log_sigmoid": ActivationCost(34, 1.25, 1.1, 0, 4),
    "log_softmax": ActivationCost(18, 2.25, 2.25, 0, 12),
    "mish": ActivationCost(33, 1.25, 1.1, 0, 4),
    "relu": ActivationCost(2, 0.25, 0.1, 0, 1),
    "relu6": ActivationCost(2, 1.25, 1.1, 0, 3),
    "selu": ActivationCost(9, 1.5, 1.35, 0, 7),
    "sigmoid": ActivationCost(2, 1.25, 1.1, 0, 2),
    "silu": ActivationCost(2, 1.25, 1.1, 0, 6),
    "soft_shrink": ActivationCost(24, 2.75, 2.6, 0, 8),
    "softmax": ActivationCost(18, 2.05, 1.35, 0, 15),
    "softplus": ActivationCost(32, 0.25, 0.1, 0, 3),
    "softsign": ActivationCost(1, 1.25, 1.1, 0, 4),
    "sparse_plus": ActivationCost(14, 2.75, 2.6, 0, 11),
    "sparse_sigmoid": ActivationCost(14, 1.75, 1.6, 0, 10),
    "sparsemax": ActivationCost(44, 7.5, 5.85, 0, 31),
    "squareplus": ActivationCost(2, 1.25, 1.1, 0, 6),
    "tanh": ActivationCost(1, 0.25, 0.1, 0, 1),
    "tanh_shrink": ActivationCost(1, 1.25, 1.1, 0, 3),
}
LARGE_BYTES = 256 * 1024  # NumPy reuses a temporary in place from this size on (NPY_MIN_ELIDE_BYTES)
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


# --- derivatives, for training ----------------------------------------------------------------------
# Each elementwise derivative takes (x, y) and returns ∂y/∂x in x's dtype. At a kink, the side JAX's
# autodiff takes for Keras's JAX backend (the training oracle) is the one chosen: relu'(0) = 0,
# leaky_relu'(0) = 1, elu'(0) = alpha, hard_tanh'(±1) = 1, relu6'(6) = 0, sparse_sigmoid'(±1) = 1/4.
def _where(condition, a, b, x):
    return np.where(condition, _c(a, x), _c(b, x))


def _gelu_grad(x, y):
    cdf = _c(0.5, x) * (_c(1.0, x) + erf(x / np.sqrt(2)).astype(x.dtype))
    pdf = np.exp(-x * x / _c(2.0, x)) / _c(math.sqrt(2 * math.pi), x)
    return cdf + x * pdf


def _mish_grad(x, y):
    t = np.tanh(softplus(x))
    return t + x * (_c(1.0, x) - t * t) * sigmoid(x)


def _silu_grad(x, y):
    s = sigmoid(x)
    return s + x * s * (_c(1.0, x) - s)


_DERIVATIVES = {
    "celu": lambda x, y: np.where(x > 0, _c(1.0, x), np.exp(x)),
    "elu": lambda x, y: np.where(x > 0, _c(1.0, x), np.exp(x)),
    "exponential": lambda x, y: y,
    "gelu": _gelu_grad,
    "hard_shrink": lambda x, y: _where(np.abs(x) > 0.5, 1.0, 0.0, x),
    "hard_sigmoid": lambda x, y: _where((x > -3) & (x < 3), 1 / 6, 0.0, x),
    "hard_silu": lambda x, y: np.where(x >= 3, _c(1.0, x), np.where(x > -3, x / _c(3.0, x) + _c(0.5, x), _c(0.0, x))),
    "hard_tanh": lambda x, y: _where(np.abs(x) <= 1, 1.0, 0.0, x),
    "leaky_relu": lambda x, y: _where(x >= 0, 1.0, 0.2, x),
    "log_sigmoid": lambda x, y: sigmoid(-x),
    "mish": _mish_grad,
    "relu": lambda x, y: _where(x > 0, 1.0, 0.0, x),
    "relu6": lambda x, y: _where((x > 0) & (x < 6), 1.0, 0.0, x),
    "selu": lambda x, y: _c(_SELU_SCALE, x) * np.where(x > 0, _c(1.0, x), _c(_SELU_ALPHA, x) * np.exp(x)),
    "sigmoid": lambda x, y: y * (_c(1.0, x) - y),
    "silu": _silu_grad,
    "soft_shrink": lambda x, y: _where(np.abs(x) > 0.5, 1.0, 0.0, x),
    "softplus": lambda x, y: sigmoid(x),
    "softsign": lambda x, y: _c(1.0, x) / np.square(_c(1.0, x) + np.abs(x)),
    "sparse_plus": lambda x, y: np.where(
        x <= -1, _c(0.0, x), np.where(x < 1, _c(0.5, x) * (x + _c(1.0, x)), _c(1.0, x))
    ),
    # JAX clips to [-1, 1], and its clip splits the slope at a bound: 0.25 at exactly ±1
    "sparse_sigmoid": lambda x, y: np.where(
        np.abs(x) < 1, _c(0.5, x), np.where(np.abs(x) == 1, _c(0.25, x), _c(0.0, x))
    ),
    "squareplus": lambda x, y: _c(0.5, x) * (_c(1.0, x) + x / np.sqrt(x * x + _c(4.0, x))),
    "tanh": lambda x, y: _c(1.0, x) - y * y,
    "tanh_shrink": lambda x, y: np.square(np.tanh(x)),
}


def _softmax_vjp(y, dy, axis=-1):
    """softmax's Jacobian-vector product along `axis`: y·(dy − Σ dy·y)."""
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


def _sparsemax_vjp(x, y, dy):
    """Keras's sparsemax: y = max(x − τ, 0), τ = (Σ_{j∈S} c_j − 1)/k over the sorted cumsums c and support S.

    ∂τ/∂(j-th largest x) = #{i ∈ S : i ≥ j} / k, so dx = [y>0]·dy − (Σ [y>0]·dy) · ∂τ/∂x."""
    order = np.argsort(-x, axis=-1, kind="stable")
    ordered = np.take_along_axis(x, order, axis=-1)
    cumsum = np.cumsum(ordered, axis=-1)
    r = np.arange(1, x.shape[-1] + 1)
    support = ordered - (cumsum - 1) / r > 0
    k = np.sum(support, axis=-1, keepdims=True)
    weight_sorted = np.cumsum(support[..., ::-1], axis=-1)[..., ::-1] / k  # #{i ∈ S : i ≥ j} / k
    weight = np.empty_like(weight_sorted)
    np.put_along_axis(weight, order, weight_sorted, axis=-1)
    active = y > 0
    passed = np.where(active, dy, _c(0.0, dy))
    return (passed - np.sum(passed, axis=-1, keepdims=True) * weight).astype(x.dtype)


def _glu_vjp(x, dy):
    a, b = np.split(x, 2, axis=-1)
    s = sigmoid(b)
    return np.concatenate([dy * s, dy * a * s * (_c(1.0, x) - s)], axis=-1)


def gradient(name: str, x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """∂loss/∂x of activation `name` (canonical) from its input x, its output y and ∂loss/∂y; softmax,
    log_softmax, sparsemax and glu act along the last axis, the others elementwise. Works in x's dtype."""
    with np.errstate(all="ignore"):  # exp overflow far out in the tails gives the limits (0 or 1) wanted
        if name == "linear":
            return dy
        if name == "softmax":
            return _softmax_vjp(y, dy)
        if name == "log_softmax":
            return dy - np.exp(y) * np.sum(dy, axis=-1, keepdims=True)
        if name == "sparsemax":
            return _sparsemax_vjp(x, y, dy)
        if name == "glu":
            return _glu_vjp(x, dy)
        return dy * _DERIVATIVES[name](x, y)
