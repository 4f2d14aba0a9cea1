"""Keras's losses, every class keras.losses exports: their names, arguments, values and gradients (training.py trains).

Each loss is declared once, as a `Kind` in KINDS: Keras's function and class names and short aliases, the Keras
arguments netbuilder computes (with Keras's defaults), its values-and-backward function, what its targets must be, and
what it costs. Every formula is Keras's own expression (keras/src/losses/losses.py, the JAX backend's nn functions),
and each gradient is what JAX's automatic differentiation of that expression gives: at a tie jnp.maximum passes half
the gradient (so jnp.clip passes half at its edges and none beyond), jnp.max shares it evenly between equal maxima,
and jnp.abs passes +1 at 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .arguments import refuse_unhonoured
from .errors import InputDataError, LayerConfigError
from .shapes import format_shape

EPSILON = np.float32(1e-7)  # keras.backend.epsilon()
INVERSE_EPSILON = np.float32(1 / 1e-7)  # Keras's bound on 1/‖x‖ in normalize, 1.0 / epsilon


# --- shapes, as Keras lines up targets and predictions ---------------------------------------------------
def same_rank(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras's squeeze_or_expand_to_same_rank: a trailing axis of size 1 is added or removed."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_pred = y_pred[..., None] if y_pred.ndim == 1 else y_pred
        y_true = y_true if y_pred.ndim == y_true.ndim else y_true[..., 0]
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        if y_true.ndim == 1:
            y_true = y_true[..., None]
        else:
            y_pred = y_pred[..., 0]
    return y_true, y_pred


def _same_shape(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t, p = same_rank(t, p)  # LossFunctionWrapper.call lines every loss's arguments up so first
    if t.shape != p.shape:
        raise InputDataError(
            "Arguments `target` and `output` must have the same shape. Received: "
            f"target.shape={t.shape}, output.shape={p.shape}"
        )
    return t, p


def _class_labels(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if t.ndim == p.ndim and t.shape[-1:] == (1,):  # sparse_categorical_crossentropy squeezes a last axis of 1
        t = t[..., 0]
    return _flat_labels(t, p)


def _flat_labels(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if t.shape != p.shape[:-1]:
        raise InputDataError(
            "Arguments `target` and `output` must have the same shape up until the last dimension: "
            f"target.shape={t.shape}, output.shape={p.shape}"
        )
    return t, p


def _circle_shapes(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if p.ndim != 2 or t.shape not in ((len(p),), (len(p), 1)):
        raise InputDataError(f"circle compares one embedding row per label: target.shape={t.shape}, output={p.shape}")
    return t.reshape(len(p)), p


def _ctc_shapes(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if t.ndim != 2 or p.ndim != 3 or len(t) != len(p) or p.shape[-1] < 2:
        raise InputDataError(
            "Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` and logits `y_pred` of "
            f"shape `(batch_size, max_length, num_classes)`. Received: y_true.shape={t.shape}, y_pred.shape={p.shape}"
        )
    return t, p


# what each shape rule asks of a sample's target, said to a learner (`shape` is the output's per sample)
SHAPES = {
    "same": (_same_shape, lambda shape: f"a target of the output's shape {format_shape(shape)} per sample"),
    "labels": (
        _class_labels,
        lambda shape: f"one class label per sample (a whole number from 0 to {shape[-1] - 1})",
    ),
    "flat_labels": (
        _flat_labels,
        lambda shape: (
            f"one class label per sample, of shape {format_shape(shape[:-1])} (a whole number from 0 to "
            f"{shape[-1] - 1}; Keras would pair every label of shape {format_shape((*shape[:-1], 1))} with every "
            "sample)"
        ),
    ),
    "circle": (
        _circle_shapes,
        lambda shape: (
            "one whole-number class label per sample, and a model whose output is one embedding vector per "
            f"sample (None, d); the output is {format_shape((None, *shape))}"
        ),
    ),
    "ctc": (
        _ctc_shapes,
        lambda shape: (
            "a label sequence per sample (whole numbers from 1 to the classes − 1, padded with 0s at the end) "
            f"and a model whose output is (None, time steps, classes), at least 2 classes; the output is "
            f"{format_shape((None, *shape))}"
        ),
    ),
}


# --- JAX's derivatives at ties and edges ---------------------------------------------------------------------
def _halved(slope: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """`slope` with ½ at the ties (rare: a pass over them only when there are some)."""
    if np.any(ties):
        slope[ties] = 0.5
    return slope


def _above(x: np.ndarray, bound) -> np.ndarray:
    """∂ max(x, bound)/∂x as JAX has it: 1 above, 0 below, ½ at a tie."""
    return _halved((x > bound).astype(x.dtype), x == bound)


def _within(x: np.ndarray, low, high) -> np.ndarray:
    """∂ clip(x, low, high)/∂x (jnp.clip is a maximum, then a minimum): 1 inside, ½ on an edge, 0 outside."""
    return _halved(((x > low) & (x < high)).astype(x.dtype), (x == low) | (x == high))


def _sign(x: np.ndarray) -> np.ndarray:
    """∂|x|/∂x as JAX has it: +1 from 0 up."""
    sign = (x >= 0).astype(x.dtype)  # arithmetic, not np.where: a random mask makes np.where 30 times slower
    sign *= 2
    sign -= 1
    return sign


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _softmax_backward(s: np.ndarray, ct: np.ndarray) -> np.ndarray:
    return s * (ct - np.sum(ct * s, axis=-1, keepdims=True))


def _one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    """Keras's one_hot of integer labels: one float32 row of `classes` per label, written in place (a table of
    classes × classes, as np.eye would make, grows with the square of the classes)."""
    check_labels(labels, classes)
    out = np.zeros((*labels.shape, classes), np.float32)
    np.put_along_axis(out, labels.astype(np.int64)[..., None], np.float32(1), axis=-1)
    return out


def check_labels(labels: np.ndarray, classes: int) -> None:
    """Class labels must be whole numbers from 0 to classes − 1 (Keras casts 2.5 to 2 and gives a label out of range a
    row of zeros, silently; a learner's data is better told)."""
    if not labels.size:
        return
    problems = []
    if not np.all(np.isfinite(labels)):
        problems.append(f"{np.count_nonzero(~np.isfinite(labels)):,} are NaN or infinite")
    elif np.any(labels != np.round(labels)):
        problems.append(
            f"{np.count_nonzero(labels != np.round(labels)):,} are not whole numbers (e.g. "
            f"{labels[labels != np.round(labels)].flat[0]:g})"
        )
    elif labels.min() < 0 or labels.max() >= classes:
        problems.append(f"they run from {labels.min():g} to {labels.max():g}")
    if problems:
        raise InputDataError(
            f"class labels must be whole numbers from 0 to {classes - 1} (the model has {classes:,} "
            f"outputs); {problems[0]}"
        )


# --- the losses: (loss, y_true, y_pred) → per-position values and the backward pass ----------------------------
class Values(NamedTuple):
    """A loss function's values before reduction, its backward pass (a cotangent of the values' shape → ∂/∂y_pred),
    and the mask Keras sets on the values (positions left out of the reduction), if any."""

    per: np.ndarray
    backward: Callable[[np.ndarray], np.ndarray]
    mask: np.ndarray | None = None


def _last_axis_mean(values: np.ndarray, grad: np.ndarray) -> Values:
    """ops.mean(values, axis=-1) of elementwise values whose derivative is `grad`."""
    n = values.dtype.type(values.shape[-1] if values.ndim else 1)
    # np.mean's own arithmetic (a float32 sum, then a division), without its slower call
    return Values(np.add.reduce(values, axis=-1) / n, lambda ct: np.expand_dims(ct, -1) * (grad / n))


def _last_axis_sum(values: np.ndarray, grad: np.ndarray) -> Values:
    return Values(np.sum(values, axis=-1), lambda ct: np.expand_dims(ct, -1) * grad)


def _smoothed(t: np.ndarray, smoothing, share) -> np.ndarray:
    """y_true * (1 − label_smoothing) + share (0.5·smoothing for binary targets, smoothing / classes otherwise)."""
    return t * np.float32(1.0 - smoothing) + share if smoothing else t


def _mean_squared_error(loss, t, p) -> Values:
    e = t - p
    return _last_axis_mean(np.square(e), -2 * e)


def _mean_absolute_error(loss, t, p) -> Values:
    e = t - p
    return _last_axis_mean(np.abs(e), -_sign(e))


def _mean_absolute_percentage_error(loss, t, p) -> Values:
    scale = np.maximum(np.abs(t), EPSILON)
    u = (t - p) / scale
    mean = _last_axis_mean(np.abs(u), -_sign(u) / scale)
    return Values(np.float32(100.0) * mean.per, lambda ct: mean.backward(np.float32(100.0) * ct))


def _mean_squared_logarithmic_error(loss, t, p) -> Values:
    shifted = np.maximum(p, EPSILON) + 1
    d = np.log(shifted) - np.log(np.maximum(t, EPSILON) + 1)
    return _last_axis_mean(np.square(d), 2 * d / shifted * _above(p, EPSILON))


def _huber(loss, t, p) -> Values:
    e = p - t
    a = np.abs(e)
    d = np.float32(loss.delta)
    inside = a <= d
    values = np.where(inside, np.float32(0.5) * np.square(e), d * a - np.float32(0.5) * np.square(d))
    return _last_axis_mean(values, np.where(inside, e, d * _sign(e)))


def _log_cosh(loss, t, p) -> Values:
    x = p - t
    softplus = np.logaddexp(-2 * x, np.float32(0))
    # softplus'(z) is exp(z − softplus(z)) in JAX's logaddexp
    return _last_axis_mean(x + softplus - np.log(np.float32(2)), 1 - 2 * np.exp(-2 * x - softplus))


def _hinge_labels(t: np.ndarray) -> np.ndarray:
    """Keras's convert_binary_labels_to_hinge: a batch of only 0s and 1s becomes −1s and 1s (decided per batch)."""
    return 2 * t - 1 if np.all((t == 0) | (t == 1)) else t


def _hinge(loss, t, p) -> Values:
    y = _hinge_labels(t)
    u = 1 - y * p
    return _last_axis_mean(np.maximum(u, 0), -y * _above(u, 0))


def _squared_hinge(loss, t, p) -> Values:
    y = _hinge_labels(t)
    u = 1 - y * p
    m = np.maximum(u, 0)
    return _last_axis_mean(np.square(m), 2 * m * _above(u, 0) * -y)


def _categorical_hinge(loss, t, p) -> Values:
    positive = np.sum(t * p, axis=-1)
    others = (1 - t) * p
    negative = np.max(others, axis=-1)
    z = negative - positive + 1
    ties = (others == negative[..., None]).astype(p.dtype)
    share = ties / np.sum(ties, axis=-1, keepdims=True)  # jnp.max splits the gradient evenly between equal maxima
    return Values(np.maximum(z, 0), lambda ct: (ct * _above(z, 0))[..., None] * ((1 - t) * share - t))


def _kl_divergence(loss, t, p) -> Values:
    tc, pc = np.clip(t, EPSILON, 1), np.clip(p, EPSILON, 1)
    return _last_axis_sum(tc * np.log(tc / pc), -tc / pc * _within(p, EPSILON, 1))


def _poisson(loss, t, p) -> Values:
    return _last_axis_mean(p - t * np.log(p + EPSILON), 1 - t / (p + EPSILON))


def _cosine_similarity(loss, t, p) -> Values:
    axis = loss.axis
    tn = t * np.minimum(1 / np.sqrt(np.sum(np.square(t), axis=axis, keepdims=True)), INVERSE_EPSILON)
    s = np.sum(np.square(p), axis=axis, keepdims=True)
    r = 1 / np.sqrt(s)
    m = np.minimum(r, INVERSE_EPSILON)

    def backward(ct):  # through p·min(rsqrt(Σp²), 1/ε): a zero row gives NaN, as JAX's rsqrt'(0) · 0 does
        ct = -np.expand_dims(ct, axis)
        ct_s = np.sum(ct * tn * p, axis=axis, keepdims=True) * _above(-r, -INVERSE_EPSILON) * (-0.5 * r / s)
        return ct * tn * m + ct_s * 2 * p

    return Values(-np.sum(tn * (p * m), axis=axis), backward)


def _binary_crossentropy(loss, t, p) -> Values:
    t = _smoothed(t, loss.label_smoothing, np.float32(0.5 * loss.label_smoothing))
    if loss.from_logits:
        return _last_axis_mean(-t * _log_sigmoid(p) - (1 - t) * _log_sigmoid(-p), _sigmoid(p) - t)
    o = np.clip(p, EPSILON, 1 - EPSILON)
    return _last_axis_mean(-(t * np.log(o) + (1 - t) * np.log(1 - o)), _bce_slope(t, p, o))


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(np.float32(0), -x)


def _bce_slope(t, y, o) -> np.ndarray:
    """∂/∂y of −(t·log o + (1 − t)·log(1 − o)), o = clip(y, ε, 1 − ε)."""
    return _within(y, EPSILON, 1 - EPSILON) * (-(t / o) + (1 - t) / (1 - o))


def _binary_focal_crossentropy(loss, t, p) -> Values:
    t = _smoothed(t, loss.label_smoothing, np.float32(0.5 * loss.label_smoothing))
    y = _sigmoid(p) if loss.from_logits else p
    o = np.clip(y, EPSILON, 1 - EPSILON)
    bce = -(t * np.log(o) + (1 - t) * np.log(1 - o))
    base = 1 - (t * y + (1 - t) * (1 - y))  # 1 − p_t
    gamma = np.float32(loss.gamma)
    factor = np.power(base, gamma)
    # ∂/∂p_t through pow (gamma · base^(gamma − 1), as JAX has it), then through both of p_t's terms: where base is 0
    # and gamma below 1 that is ∞ · 0, NaN, as in JAX
    ct_pt = -(gamma * np.power(base, gamma - 1) * bce)
    grad = ct_pt * t - ct_pt * (1 - t) + factor * _bce_slope(t, y, o)
    focal = factor * bce
    if loss.apply_class_balancing:
        weight = t * np.float32(loss.alpha) + (1 - t) * np.float32(1 - loss.alpha)
        focal, grad = weight * focal, weight * grad
    return _last_axis_mean(focal, grad * y * (1 - y) if loss.from_logits else grad)


def _categorical(t, p, from_logits: bool) -> tuple[np.ndarray, np.ndarray]:
    """−Σ t·log q over the last axis, q the softmax of logits or p / Σp clipped to [ε, 1 − ε]; and its gradient."""
    if from_logits:
        shifted = p - np.max(p, axis=-1, keepdims=True)
        log_prob = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
        return -np.sum(t * log_prob, axis=-1), np.exp(log_prob) * np.sum(t, axis=-1, keepdims=True) - t
    total = np.sum(p, axis=-1, keepdims=True)
    q = p / total
    c = np.clip(q, EPSILON, 1 - EPSILON)
    g = _within(q, EPSILON, 1 - EPSILON) * -t / c  # ∂/∂q of −Σ t log clip(q)
    return -np.sum(t * np.log(c), axis=-1), (g - np.sum(g * q, axis=-1, keepdims=True)) / total


def _categorical_crossentropy(loss, t, p) -> Values:
    t = _smoothed(t, loss.label_smoothing, np.float32(loss.label_smoothing) / np.float32(t.shape[-1]))
    per, grad = _categorical(t, p, loss.from_logits)
    return Values(per, lambda ct: ct[..., None] * grad)


def _sparse_categorical_crossentropy(loss, t, p) -> Values:
    valid = None if loss.ignore_class is None else t != np.float32(loss.ignore_class)
    if valid is not None:  # Keras zeroes an ignored position's label and prediction, then its value, and masks it
        t, p = np.where(valid, t, 0), np.where(valid[..., None], p, 0)
    per, grad = _categorical(_one_hot(t, p.shape[-1]), p, loss.from_logits)
    if valid is None:
        return Values(per, lambda ct: ct[..., None] * grad)
    # an ignored row's prediction was replaced by 0s: none of its gradient (NaN for probabilities) reaches y_pred
    return Values(np.where(valid, per, 0), lambda ct: np.where(valid[..., None], ct[..., None] * grad, 0), valid)


def _categorical_focal_crossentropy(loss, t, p) -> Values:
    t = _smoothed(t, loss.label_smoothing, np.float32(loss.label_smoothing) / np.float32(t.shape[-1]))
    y = _softmax(p) if loss.from_logits else p
    total = np.sum(y, axis=-1, keepdims=True)
    q = y / total
    o = np.clip(q, EPSILON, 1 - EPSILON)
    cce = -t * np.log(o)
    gamma, alpha = np.float32(loss.gamma), np.asarray(loss.alpha, np.float32)
    factor = np.power(1 - o, gamma)
    g_o = alpha * (gamma * np.power(1 - o, gamma - 1) * -1 * cce + factor * (-t / o))
    g_q = g_o * _within(q, EPSILON, 1 - EPSILON)
    g_y = (g_q - np.sum(g_q * q, axis=-1, keepdims=True)) / total
    grad = _softmax_backward(y, g_y) if loss.from_logits else g_y
    return Values(np.sum(factor * alpha * cce, axis=-1), lambda ct: ct[..., None] * grad)


def _categorical_generalized_cross_entropy(loss, t, p) -> Values:
    hot = _one_hot(t, p.shape[-1])
    q = np.float32(loss.q)
    pt = np.sum(p * hot, axis=-1)
    # ∂/∂pt is −pt^(q − 1): infinite at pt = 0, and then NaN beside the label (0 · ∞), as JAX gives
    return Values((1 - np.power(pt, q)) / q, lambda ct: hot * (ct * -(q * np.power(pt, q - 1)) / q)[..., None])


def _axes(axis, ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim)) if axis is None else tuple(np.atleast_1d(axis).tolist())


def _dice(loss, t, p) -> Values:
    axes = _axes(loss.axis, p.ndim)
    intersection = np.sum(t * p, axis=axes, keepdims=True)
    denominator = np.sum(t, axis=axes, keepdims=True) + np.sum(p, axis=axes, keepdims=True) + EPSILON
    dice = 2 * intersection / denominator

    def backward(ct):
        ct = np.expand_dims(ct, axes)
        return -ct * (2 * t / denominator - dice / denominator)

    return Values(np.squeeze(1 - dice, axis=axes), backward)


def _tversky(loss, t, p) -> Values:
    axes = _axes(loss.axis, p.ndim)
    alpha, beta = np.float32(loss.alpha), np.float32(loss.beta)
    intersection = np.sum(t * p, axis=axes, keepdims=True)
    fp = np.sum((1 - p) * t, axis=axes, keepdims=True)
    fn = np.sum(p * (1 - t), axis=axes, keepdims=True)
    denominator = intersection + fp * alpha + fn * beta + EPSILON
    tversky = intersection / denominator

    def backward(ct):
        ct = np.expand_dims(ct, axes)
        ct_d = ct * tversky / denominator  # ∂(1 − I/D)/∂D
        return (-ct / denominator + ct_d) * t + ct_d * (alpha * -t + beta * (1 - t))

    return Values(np.squeeze(1 - tversky, axis=axes), backward)


def _logsumexp(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """jax.scipy.special.logsumexp over axis 1, and its softmax (the gradient); a row of −∞ gives −∞ and NaNs."""
    top = np.max(x, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    e = np.exp(x - top)
    total = np.sum(e, axis=1, keepdims=True)
    return (np.log(total) + top)[:, 0], e / total


def _circle(loss, t, p) -> Values:
    labels = np.trunc(t).astype(np.int64)  # ops.cast(y_true, "int32")
    gamma, margin = np.float32(loss.gamma), np.float32(loss.margin)
    raw = 1 - p @ p.T
    distance = np.maximum(raw, 0)
    positive = labels[:, None] == labels[None, :]
    negative = ~positive
    if loss.remove_diagonal:
        positive &= ~np.eye(len(labels), dtype=bool)
    pos_raw, neg_raw = (margin + distance) * positive, (1 + margin - distance) * negative
    pos_weight, neg_weight = np.maximum(pos_raw, 0), np.maximum(neg_raw, 0)
    pos_distance, neg_distance = margin - distance, (1 - margin) - distance
    pos_scores, pos_soft = _logsumexp(np.where(positive, -gamma * pos_weight * pos_distance, -np.inf))
    neg_scores, neg_soft = _logsumexp(np.where(negative, gamma * neg_weight * neg_distance, -np.inf))
    z = pos_scores + neg_scores
    per = np.logaddexp(z, np.float32(0))

    def backward(ct):
        ct_z = (ct * np.exp(z - per))[:, None]  # softplus' as JAX's logaddexp has it
        ct_pos = np.where(positive, ct_z * pos_soft, 0)  # a row without positives (or negatives) passes nothing on
        ct_neg = np.where(negative, ct_z * neg_soft, 0)
        ct_distance = ct_pos * -gamma * (
            pos_weight * -1 + pos_distance * _above(pos_raw, 0) * positive
        ) + ct_neg * gamma * (neg_weight * -1 - neg_distance * _above(neg_raw, 0) * negative)
        ct_product = -ct_distance * _above(raw, 0)
        return (ct_product + ct_product.T) @ p

    return Values(per, backward, per > 0)  # Keras masks the values that are not above 0


def _ctc(loss, t, p) -> Values:
    """Keras's ctc (class 0 is the blank, and pads the labels): −log P(label | softmax(y_pred)) per sequence by the
    forward-backward recursion, in float64; ∂/∂y_pred is softmax − each class's posterior at each time step."""
    labels = np.trunc(t).astype(np.int64)
    batch, steps, classes = p.shape
    lengths = np.count_nonzero(labels, axis=1)
    x = p.astype(np.float64)
    log_prob = x - np.max(x, axis=-1, keepdims=True)
    log_prob -= np.log(np.sum(np.exp(log_prob), axis=-1, keepdims=True))
    states = 2 * labels.shape[1] + 1
    extended = np.zeros((batch, states), np.int64)  # blank, label 1, blank, label 2, ..., blank
    extended[:, 1::2] = labels
    skip = np.zeros((batch, states), bool)  # state s may follow s − 2: a label unlike the one before
    skip[:, 3::2] = labels[:, 1:] != labels[:, :-1]
    emit = np.take_along_axis(log_prob, np.broadcast_to(extended[:, None, :], (batch, steps, states)), axis=2)
    alpha, beta = np.full((steps, batch, states), -np.inf), np.full((steps, batch, states), -np.inf)
    alpha[0, :, :2] = emit[:, 0, :2]
    rows = np.arange(batch)
    beta[-1, rows, 2 * lengths] = emit[rows, -1, 2 * lengths]
    beta[-1, rows, np.maximum(2 * lengths - 1, 0)] = emit[rows, -1, np.maximum(2 * lengths - 1, 0)]
    none = np.full((batch, 2), -np.inf)
    for k in range(1, steps):
        a = alpha[k - 1]
        back = np.where(skip, np.concatenate([none, a[:, :-2]], axis=1), -np.inf)
        alpha[k] = np.logaddexp(np.logaddexp(a, np.concatenate([none[:, :1], a[:, :-1]], axis=1)), back) + emit[:, k]
    for k in range(steps - 2, -1, -1):
        b = beta[k + 1]
        ahead = np.concatenate([np.where(skip, b, -np.inf)[:, 2:], none], axis=1)
        beta[k] = np.logaddexp(np.logaddexp(b, np.concatenate([b[:, 1:], none[:, :1]], axis=1)), ahead) + emit[:, k]
    last = alpha[-1]
    log_likelihood = np.where(
        lengths > 0, np.logaddexp(last[rows, 2 * lengths], last[rows, np.maximum(2 * lengths - 1, 0)]), last[:, 0]
    )
    occupancy = np.exp(alpha + beta - emit.transpose(1, 0, 2) - log_likelihood[None, :, None])  # (steps, batch, S)
    posterior = occupancy.transpose(1, 0, 2) @ (extended[..., None] == np.arange(classes))  # summed by class
    grad = np.exp(log_prob) - posterior
    return Values((-log_likelihood).astype(p.dtype), lambda ct: ct[:, None, None] * grad)


# --- what targets each loss needs, beyond their shape -----------------------------------------------------------
def _range(low: float, high: float, what: str) -> Callable:
    """A check that every target lies in [low, high], saying `what` the loss needs."""

    def check(loss, y: np.ndarray, output_shape: tuple) -> None:
        bad = (y < low) | (y > high)
        if np.any(bad):
            raise InputDataError(
                f"{loss.name} needs {what}; {np.count_nonzero(bad):,} of these targets are not (e.g. "
                f"{y[bad].flat[0]:g})"
            )

    return check


def _hinge_targets(loss, y: np.ndarray, output_shape: tuple) -> None:
    if not (np.all((y == -1) | (y == 1)) or np.all((y == 0) | (y == 1))):
        raise InputDataError(
            f"{loss.name} needs labels −1 or 1 (or 0 or 1, which Keras turns into −1 and 1 — batch by batch, so the "
            f"two kinds cannot be mixed); these targets hold {np.unique(y)[:5].tolist()}"
        )


def _nonzero_targets(loss, y: np.ndarray, output_shape: tuple) -> None:
    zeros = np.count_nonzero(y == 0)
    if zeros:
        raise InputDataError(
            f"{loss.name} divides each error by its target, so it needs targets other than 0 (Keras divides by "
            f"1e-07 instead, and the loss becomes ten million times the error); {zeros:,} of these targets are 0"
        )


def _focal_targets(loss, y: np.ndarray, output_shape: tuple) -> None:
    _range(0, 1, "targets from 0 to 1 (one-hot rows or probabilities)")(loss, y, output_shape)
    if isinstance(loss.alpha, tuple) and len(loss.alpha) != output_shape[-1]:
        raise InputDataError(
            f"{loss.name}'s alpha holds {len(loss.alpha)} class weights, and the model has {output_shape[-1]} classes"
        )


def _sparse_targets(loss, y: np.ndarray, output_shape: tuple) -> None:
    labels = y if loss.ignore_class is None else y[y != loss.ignore_class]
    check_labels(labels, output_shape[-1])


def _label_targets(loss, y: np.ndarray, output_shape: tuple) -> None:
    check_labels(y, output_shape[-1])


def _whole_targets(loss, y: np.ndarray, output_shape: tuple) -> None:
    if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
        raise InputDataError(f"{loss.name} needs whole-number class labels (Keras truncates 2.5 to 2)")


def _ctc_targets(loss, y: np.ndarray, output_shape: tuple) -> None:
    steps, classes = output_shape[-2:]
    _whole_targets(loss, y, output_shape)
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise InputDataError(
            f"ctc needs labels from 1 to {classes - 1} (0 is the blank, and pads a label's end); these run from "
            f"{y.min():g} to {y.max():g}"
        )
    padded = np.cumsum(y[:, ::-1] != 0, axis=1)[:, ::-1] > 0  # a position with a label at or after it
    if np.any(padded & (y == 0)):
        raise InputDataError("ctc needs each label sequence's 0s at its end only: Keras counts a label's nonzeros")
    needed = np.count_nonzero(y, axis=1) + np.count_nonzero((y[:, 1:] == y[:, :-1]) & (y[:, 1:] != 0), axis=1)
    if needed.size and needed.max() > steps:
        raise InputDataError(
            f"ctc needs as many time steps as a label has labels, plus one between each repeated pair: a label "
            f"needs {needed.max()}, and the model's output has {steps} (Keras would give a loss near 100,000)"
        )


# --- the registry ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kind:
    """One Keras loss: its function and class names, aliases, the arguments netbuilder computes with their Keras
    defaults (`defaults`, in the order of Keras's class, beside `reduction`; `unhonoured` are only accepted at their
    defaults), values and backward, what its targets must be, and its cost."""

    function: str  # Keras's function name: Loss.name
    keras_class: str
    values: Callable
    cost: tuple[int, int]  # (operations per output value, microseconds per call): see training.step_cost
    signature: tuple[str, ...] = ("reduction", "name", "dtype")  # the Keras class's arguments, in order
    defaults: Mapping = field(default_factory=dict)  # Keras's defaults of its arguments beyond reduction, name, dtype
    unhonoured: tuple[str, ...] = ()
    checks: Mapping = field(default_factory=dict)  # argument checks of its own (the rest are ARGUMENT_CHECKS')
    shape: str = "same"  # a rule of SHAPES
    targets: Callable | None = None  # (loss, y_true, output shape) → InputDataError for targets it cannot use
    logits_cost: tuple[int, int] | None = None
    aliases: tuple[str, ...] = ()
    by_name: bool = True  # keras.losses.get knows its names (CategoricalGeneralizedCrossEntropy: only its class)

    @property
    def arguments(self) -> tuple[str, ...]:
        """The Keras arguments netbuilder computes, in Keras's order."""
        return tuple(k for k in self.signature if k == "reduction" or (k in self.defaults and k not in self.unhonoured))


CROSSENTROPY = ("from_logits", "label_smoothing", "axis", "reduction", "name", "dtype")
FOCAL = ("alpha", "gamma", "from_logits", "label_smoothing", "axis", "reduction", "name", "dtype")
PROBABILITIES = _range(0, 1, "targets from 0 to 1")
KINDS = {
    kind.function: kind
    for kind in (
        Kind("mean_squared_error", "MeanSquaredError", _mean_squared_error, (3, 37), aliases=("mse", "MSE")),
        Kind("mean_absolute_error", "MeanAbsoluteError", _mean_absolute_error, (3, 43), aliases=("mae", "MAE")),
        Kind(
            "mean_absolute_percentage_error",
            "MeanAbsolutePercentageError",
            _mean_absolute_percentage_error,
            (5, 51),
            aliases=("mape", "MAPE"),
            targets=_nonzero_targets,
        ),
        Kind(
            "mean_squared_logarithmic_error",
            "MeanSquaredLogarithmicError",
            _mean_squared_logarithmic_error,
            (9, 54),
            aliases=("msle", "MSLE"),
            targets=_range(
                0, math.inf, "targets of at least 0 (it compares log(1 + target); Keras takes a negative target as 0)"
            ),
        ),
        Kind(
            "cosine_similarity",
            "CosineSimilarity",
            _cosine_similarity,
            (8, 88),
            signature=("axis", "reduction", "name", "dtype"),
            defaults={"axis": -1},
        ),
        Kind(
            "huber",
            "Huber",
            _huber,
            (8, 58),
            signature=("delta", "reduction", "name", "dtype"),
            defaults={"delta": 1.0},
        ),
        Kind("log_cosh", "LogCosh", _log_cosh, (59, 47)),
        Kind("hinge", "Hinge", _hinge, (5, 58), targets=_hinge_targets),
        Kind("squared_hinge", "SquaredHinge", _squared_hinge, (6, 60), targets=_hinge_targets),
        Kind(
            "categorical_hinge",
            "CategoricalHinge",
            _categorical_hinge,
            (6, 66),
            targets=_range(0, 1, "targets from 0 to 1 (one-hot rows)"),
        ),
        Kind(
            "kl_divergence",
            "KLDivergence",
            _kl_divergence,
            (7, 62),
            aliases=("kld", "KLD"),
            targets=_range(0, 1, "targets from 0 to 1 (probabilities: Keras clips them to [1e-07, 1])"),
        ),
        Kind(
            "poisson",
            "Poisson",
            _poisson,
            (5, 40),
            targets=_range(0, math.inf, "targets of at least 0 (counts or rates)"),
        ),
        Kind(
            "binary_crossentropy",
            "BinaryCrossentropy",
            _binary_crossentropy,
            (10, 77),
            signature=CROSSENTROPY,
            defaults={"from_logits": False, "label_smoothing": 0.0, "axis": -1},
            unhonoured=("axis",),
            logits_cost=(85, 58),
            aliases=("bce", "BCE"),
        ),
        Kind(
            "binary_focal_crossentropy",
            "BinaryFocalCrossentropy",
            _binary_focal_crossentropy,
            (73, 109),
            signature=("apply_class_balancing", *FOCAL),
            defaults={
                "apply_class_balancing": False,
                "alpha": 0.25,
                "gamma": 2.0,
                "from_logits": False,
                "label_smoothing": 0.0,
                "axis": -1,
            },
            unhonoured=("axis",),
            targets=PROBABILITIES,
            logits_cost=(82, 117),
        ),
        Kind(
            "categorical_crossentropy",
            "CategoricalCrossentropy",
            _categorical_crossentropy,
            (9, 78),
            signature=CROSSENTROPY,
            defaults={"from_logits": False, "label_smoothing": 0.0, "axis": -1},
            unhonoured=("axis",),
            logits_cost=(8, 63),
        ),
        Kind(
            "categorical_focal_crossentropy",
            "CategoricalFocalCrossentropy",
            _categorical_focal_crossentropy,
            (63, 97),
            signature=FOCAL,
            defaults={"alpha": 0.25, "gamma": 2.0, "from_logits": False, "label_smoothing": 0.0, "axis": -1},
            unhonoured=("axis",),
            checks={"alpha": lambda kind, value: _class_weights(value)},
            targets=_focal_targets,
            logits_cost=(67, 122),
        ),
        Kind(
            "sparse_categorical_crossentropy",
            "SparseCategoricalCrossentropy",
            _sparse_categorical_crossentropy,
            (9, 111),
            signature=("from_logits", "ignore_class", "reduction", "axis", "name", "dtype"),
            defaults={"from_logits": False, "ignore_class": None, "axis": -1},
            unhonoured=("axis",),
            shape="labels",
            targets=_sparse_targets,
            logits_cost=(8, 95),
        ),
        Kind(
            "categorical_generalized_cross_entropy",
            "CategoricalGeneralizedCrossEntropy",
            _categorical_generalized_cross_entropy,
            (3, 77),
            signature=("q", "reduction", "name", "dtype"),
            defaults={"q": 0.5},
            shape="flat_labels",
            targets=_label_targets,
            by_name=False,
        ),
        Kind(
            "dice",
            "Dice",
            _dice,
            (3, 53),
            signature=("reduction", "name", "axis", "dtype"),
            defaults={"axis": None},
            targets=_range(0, 1, "targets from 0 to 1 (masks)"),
        ),
        Kind(
            "tversky",
            "Tversky",
            _tversky,
            (5, 71),
            signature=("alpha", "beta", "reduction", "name", "axis", "dtype"),
            defaults={"alpha": 0.5, "beta": 0.5, "axis": None},
            targets=_range(0, 1, "targets from 0 to 1 (masks)"),
        ),
        Kind(
            "circle",
            "Circle",
            _circle,
            (1600, 189),
            signature=("gamma", "margin", "remove_diagonal", "reduction", "name", "dtype"),
            defaults={"gamma": 80.0, "margin": 0.4, "remove_diagonal": True},
            shape="circle",
            targets=_whole_targets,
        ),
        Kind("ctc", "CTC", _ctc, (311, 1351), shape="ctc", targets=_ctc_targets),
    )
}
# Keras's names for each loss (keras.losses.get): function names, class names, and its short aliases
LOSS_NAMES = {
    name: kind.function
    for kind in KINDS.values()
    if kind.by_name
    for name in (kind.function, kind.keras_class, *kind.aliases)
}
CROSSENTROPIES = (
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
)  # the three plain cross-entropies (the Train page's)
LOGITS_LOSSES = tuple(name for name, kind in KINDS.items() if "from_logits" in kind.defaults)  # take from_logits
LABEL_SHAPES = ("labels", "flat_labels", "circle", "ctc")  # targets that are class labels, checked as such


# --- checking arguments ----------------------------------------------------------------------------------------
def _need(ok: bool, text: str, value) -> None:
    if not ok:
        raise LayerConfigError(f"{text}; received {str(value)[:20]}")


def _is_number(value) -> bool:
    return (
        isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
    )


def _boolean(name: str) -> Callable:
    return lambda kind, value: _need(isinstance(value, (bool, np.bool_)), f"{name} must be True or False", value)


def _class_weights(value) -> None:
    """CategoricalFocalCrossentropy's alpha: one weight for every class, or one per class (a list)."""
    ok = _is_number(value) or (isinstance(value, (list, tuple)) and value and all(_is_number(v) for v in value))
    _need(ok, "alpha must be a number, or a list of one number per class", value)


def _is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _axis(kind, value) -> None:
    """An integer (cosine_similarity's); Dice's and Tversky's may also be None (every axis) or a tuple of integers."""
    if kind.defaults["axis"] is not None:
        return _need(_is_integer(value), "axis must be an integer", value)
    axes = value if isinstance(value, (list, tuple)) else (value,)
    ok = value is None or (bool(axes) and all(_is_integer(a) for a in axes))
    _need(ok, "axis must be None, an integer or a tuple of integers", value)


REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight")


def _reduction(kind, value) -> None:
    if value is None or value == "none":
        raise LayerConfigError(
            f"reduction={value!r} is not supported by netbuilder: Keras's fit cannot train with it either (its loss "
            "is then one value per sample, and JAX says 'Gradient only defined for scalar-output functions'); "
            'netbuilder\'s losses take reduction "sum_over_batch_size" (the default), "mean" and '
            '"mean_with_sample_weight" (the same without sample weights) or "sum"'
        )
    if value not in REDUCTIONS:
        raise LayerConfigError(
            f"Invalid value for argument `reduction`. Expected one of {REDUCTIONS}. "
            f"Received: reduction={str(value)[:30]}"
        )


ARGUMENT_CHECKS = {
    "from_logits": _boolean("from_logits"),
    "apply_class_balancing": _boolean("apply_class_balancing"),
    "remove_diagonal": _boolean("remove_diagonal"),
    "delta": lambda kind, v: _need(_is_number(v) and v > 0, "huber's delta must be a number above 0", v),
    "label_smoothing": lambda kind, v: _need(_is_number(v) and 0 <= v <= 1, "label_smoothing must be from 0 to 1", v),
    "alpha": lambda kind, v: _need(_is_number(v), "alpha must be a number", v),
    "beta": lambda kind, v: _need(_is_number(v), "beta must be a number", v),
    "gamma": lambda kind, v: _need(_is_number(v) and v >= 0, "gamma must be a number of at least 0", v),
    "margin": lambda kind, v: _need(_is_number(v), "margin must be a number", v),
    "q": lambda kind, v: _need(_is_number(v) and 0 < v < 1, "q must be in the interval (0, 1)", v),
    "ignore_class": lambda kind, v: _need(v is None or _is_integer(v), "ignore_class must be None or an integer", v),
    "axis": _axis,
    "reduction": _reduction,
}
# what Loss(name, from_logits=..., delta=...) means for a loss without them: what every other loss computes
NEUTRAL = {"from_logits": False, "delta": 1.0}


def _neutral(key: str, value) -> bool:
    if key == "from_logits":
        return value is False or value is np.False_
    return key == "delta" and _is_number(value) and value == 1


def _frozen(value):
    return tuple(value) if isinstance(value, list) else value


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _who_has(key: str) -> str:
    if key == "from_logits":
        return "only the cross-entropies take logits"
    having = [k.function for k in KINDS.values() if key in k.defaults]
    return f"only {_listed(having)} {'has' if len(having) == 1 else 'have'} one" if having else "no loss has one"


def _settled(kind: Kind, given: Mapping) -> dict:
    """The loss's arguments: `given` checked, Keras's defaults for the rest."""
    arguments = {
        "reduction": "sum_over_batch_size",
        **{k: kind.defaults[k] for k in kind.arguments if k in kind.defaults},
    }
    for key, value in given.items():
        if key in kind.unhonoured:
            refuse_unhonoured(kind.function, {key: value}, kind.defaults, _listed(list(kind.arguments)))
            continue
        if key not in arguments:
            if _neutral(key, value):
                continue
            raise LayerConfigError(f"{kind.function} has no {key} in Keras: {_who_has(key)}")
        {**ARGUMENT_CHECKS, **kind.checks}[key](kind, value)
        arguments[key] = _frozen(value)
    return arguments


# names Keras users may try that keras.losses.get does not know, and what netbuilder offers instead
UNKNOWN_HINTS = {
    "crossentropy": " (Keras's compile picks binary, categorical or sparse categorical cross-entropy for it by the "
    "targets' shapes; netbuilder asks for one by name)",
    "categoricalgeneralizedcrossentropy": " (keras.losses.get does not know it by name either: use the class "
    "netbuilder.losses.CategoricalGeneralizedCrossEntropy)",
}
UNKNOWN_HINTS["ce"] = UNKNOWN_HINTS["crossentropy"]
UNKNOWN_HINTS["categorical_generalized_cross_entropy"] = UNKNOWN_HINTS["categoricalgeneralizedcrossentropy"]


def _unknown(name) -> LayerConfigError:
    names = [f"{k}{f' ({k_.aliases[0]})' if k_.aliases else ''}" for k, k_ in KINDS.items() if k_.by_name]
    hint = UNKNOWN_HINTS.get(name.lower(), "") if isinstance(name, str) else ""
    return LayerConfigError(
        f"unknown loss {str(name)[:40]!r}{hint}; netbuilder trains with {', '.join(names)}, by these names, their "
        "Keras class names, or the classes of netbuilder.losses"
    )


# --- the loss objects ------------------------------------------------------------------------------------------
class Loss:
    """A Keras loss by any of Keras's names ("mse", "Huber", ...) and its arguments (`from_logits`, `delta`,
    `label_smoothing`, `reduction`, ...): per-position values, and the batch loss with its gradient.

    Arguments are checked here, so a loss that cannot be computed never reaches a training step. Immutable, and equal
    to any loss of the same name and arguments."""

    def __init__(self, name, from_logits=False, delta=1.0, **arguments):
        kind = KINDS.get(LOSS_NAMES.get(name)) if isinstance(name, str) else None
        if kind is None:
            raise _unknown(name)
        self._become(kind, {"from_logits": from_logits, "delta": delta, **arguments})

    def _become(self, kind: Kind, given: Mapping) -> None:
        object.__setattr__(self, "name", kind.function)  # Keras's function name, whichever alias was given
        object.__setattr__(self, "arguments", _settled(kind, given))

    @property
    def kind(self) -> Kind:
        return KINDS[self.name]

    def __setattr__(self, key, value):
        raise AttributeError(f"a loss is immutable: make another with {key}={value!r}")

    def __getattr__(self, key):
        arguments = self.__dict__.get("arguments", {})
        if key in arguments:
            return arguments[key]
        if key in NEUTRAL:
            return NEUTRAL[key]
        raise AttributeError(f"{self.__dict__.get('name', 'the loss')} has no argument {key!r}")

    def __eq__(self, other):
        return isinstance(other, Loss) and (self.name, self.arguments) == (other.name, other.arguments)

    def __hash__(self):
        return hash((self.name, tuple(sorted(self.arguments.items()))))

    def __repr__(self):
        changed = {k: v for k, v in self.arguments.items() if v != _settled(self.kind, {}).get(k)}
        return f"Loss({self.name!r}{''.join(f', {k}={v!r}' for k, v in changed.items())})"

    def prepare(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Targets and predictions lined up as Keras lines them up; InputDataError when they cannot be."""
        t, p = SHAPES[self.kind.shape][0](y_true, y_pred)
        self._check_axis(p.ndim)
        floating = np.issubdtype(p.dtype, np.floating) and self.kind.shape == "same"
        return (t.astype(p.dtype, copy=False) if floating else t), p  # Keras casts y_true to y_pred's dtype

    def _check_axis(self, ndim: int) -> None:
        """cosine_similarity's, Dice's and Tversky's axis must be one of the predictions' (batch axis included)."""
        axis = self.arguments.get("axis")
        if axis is not None and not all(-ndim <= a < ndim for a in np.atleast_1d(axis).tolist()):
            raise InputDataError(f"{self.name}'s axis={axis} is not an axis of predictions of rank {ndim}")

    def check_targets(self, y_true: np.ndarray, output_shape: tuple) -> None:
        """InputDataError when targets cannot train a model with `output_shape` under this loss, said before a step:
        a shape the loss refuses, a class label out of range, a value the loss cannot use, or one that is not a finite
        number."""
        labels = self.kind.shape in LABEL_SHAPES
        if y_true.size and not labels and not np.all(np.isfinite(y_true)):
            bad = np.count_nonzero(~np.isfinite(y_true))
            raise InputDataError(f"the targets hold {bad:,} NaN or infinite value(s); training needs finite numbers")
        per_sample = tuple(output_shape[1:])
        rule, want = SHAPES[self.kind.shape]
        try:
            rule(y_true[:1], np.zeros((1, *per_sample), np.float32))
        except InputDataError:
            raise InputDataError(
                f"{self.name} needs {want(per_sample)}; these targets have shape {format_shape(y_true.shape[1:])} per "
                f"sample (the model's output is {format_shape(output_shape)})"
            ) from None
        self._check_axis(len(output_shape))
        if self.kind.targets is not None:
            self.kind.targets(self, y_true, per_sample)

    def per_sample(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Keras's loss function before reduction: one value per position (of y_pred.shape[:-1] for most losses)."""
        t, p = self.prepare(y_true, y_pred)
        with np.errstate(all="ignore"):  # Keras's NaNs and infinities pass on as in Keras (a run halts on them)
            return self.kind.values(self, t, p).per

    def value_and_gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, np.ndarray]:
        """The batch loss (as `reduction` says) and its gradient with respect to y_pred (shape of y_pred)."""
        t, p = self.prepare(y_true, y_pred)
        with np.errstate(all="ignore"):
            per, backward, mask = self.kind.values(self, t, p)
            value, weights = reduce_values(per, mask, self.reduction)
            grad = backward(weights)
        return float(value), np.asarray(grad, np.float32).reshape(y_pred.shape)


def reduce_values(per: np.ndarray, mask: np.ndarray | None, reduction: str) -> tuple[np.ndarray, np.ndarray]:
    """Keras's reduce_weighted_values (no sample weights): the batch loss, and each position's weight in it."""
    if per.ndim == 0:  # a loss of the whole batch (Dice's and Tversky's axis=None) is left as it is
        return per, np.ones_like(per)
    size = per.dtype.type(per.size)
    if mask is None:
        divisor = per.dtype.type(1) if reduction == "sum" else size
        return np.sum(per) / divisor, np.full(per.shape, 1 / divisor, per.dtype)
    weights = mask.astype(per.dtype)  # Keras weighs the positions its mask keeps, so that a mean is theirs
    if reduction in ("mean", "sum_over_batch_size"):
        valid = np.sum(weights)
        weights = weights * (size / valid if valid else 0)
    divisor = np.sum(weights) if reduction == "mean_with_sample_weight" else 1 if reduction == "sum" else size
    if not divisor:  # divide_no_nan
        return per.dtype.type(0), np.zeros_like(per)
    return np.sum(per * weights) / divisor, weights / divisor


class KerasLoss(Loss):
    """A Keras loss class: its arguments by name or in Keras's order, `name` (which changes nothing netbuilder
    logs) and `dtype` float32; those netbuilder does not compute are refused unless at Keras's defaults."""

    function = ""

    def __init__(self, *args, **kwargs):
        kind, cls = KINDS[self.function], type(self).__name__
        if len(args) > len(kind.signature):
            raise TypeError(f"{cls}() takes at most {len(kind.signature)} arguments ({len(args)} given)")
        for key, value in zip(kind.signature, args):
            if key in kwargs:
                raise TypeError(f"{cls}() got multiple values for argument {key!r}")
            kwargs[key] = value
        kwargs.pop("name", None)
        if kwargs.get("dtype") in ("float32", np.float32):
            del kwargs["dtype"]
        computed = {k: kwargs.pop(k) for k in kind.arguments if k in kwargs}
        takes = _listed(list(kind.arguments)) if kind.arguments else "no arguments"
        refuse_unhonoured(cls, kwargs, {"dtype": None, **{k: kind.defaults[k] for k in kind.unhonoured}}, takes)
        self._become(kind, computed)

    def __repr__(self):
        changed = {k: v for k, v in self.arguments.items() if v != _settled(self.kind, {}).get(k)}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"


class MeanSquaredError(KerasLoss):
    """keras.losses.MeanSquaredError(): mean((y_true − y_pred)²) over the last axis."""

    function = "mean_squared_error"


class MeanAbsoluteError(KerasLoss):
    """keras.losses.MeanAbsoluteError(): mean(|y_true − y_pred|) over the last axis."""

    function = "mean_absolute_error"


class MeanAbsolutePercentageError(KerasLoss):
    """keras.losses.MeanAbsolutePercentageError(): 100 · mean(|(y_true − y_pred) / max(|y_true|, ε)|)."""

    function = "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(KerasLoss):
    """keras.losses.MeanSquaredLogarithmicError(): mean((log(max(y_pred, ε) + 1) − log(max(y_true, ε) + 1))²)."""

    function = "mean_squared_logarithmic_error"


class CosineSimilarity(KerasLoss):
    """keras.losses.CosineSimilarity(axis=-1): −Σ of the two L2-normalized vectors' product along `axis`."""

    function = "cosine_similarity"


class Huber(KerasLoss):
    """keras.losses.Huber(delta=1.0): quadratic within delta of the target, linear beyond."""

    function = "huber"


class LogCosh(KerasLoss):
    """keras.losses.LogCosh(): mean(log(cosh(y_pred − y_true))) over the last axis."""

    function = "log_cosh"


class Hinge(KerasLoss):
    """keras.losses.Hinge(): mean(max(1 − y_true·y_pred, 0)), labels −1/1 (a batch of 0/1 labels becomes −1/1)."""

    function = "hinge"


class SquaredHinge(KerasLoss):
    """keras.losses.SquaredHinge(): mean(max(1 − y_true·y_pred, 0)²), labels as Hinge's."""

    function = "squared_hinge"


class CategoricalHinge(KerasLoss):
    """keras.losses.CategoricalHinge(): max(max((1 − y_true)·y_pred) − Σ y_true·y_pred + 1, 0), one-hot targets."""

    function = "categorical_hinge"


class KLDivergence(KerasLoss):
    """keras.losses.KLDivergence(): Σ y_true·log(y_true / y_pred) over the last axis, both clipped to [ε, 1]."""

    function = "kl_divergence"


class Poisson(KerasLoss):
    """keras.losses.Poisson(): mean(y_pred − y_true·log(y_pred + ε)) over the last axis."""

    function = "poisson"


class BinaryCrossentropy(KerasLoss):
    """keras.losses.BinaryCrossentropy(from_logits=False, label_smoothing=0.0): probabilities, or logits."""

    function = "binary_crossentropy"


class BinaryFocalCrossentropy(KerasLoss):
    """keras.losses.BinaryFocalCrossentropy(apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
    label_smoothing=0.0): binary cross-entropy times (1 − p_t)^gamma."""

    function = "binary_focal_crossentropy"


class CategoricalCrossentropy(KerasLoss):
    """keras.losses.CategoricalCrossentropy(from_logits=False, label_smoothing=0.0): one-hot targets."""

    function = "categorical_crossentropy"


class CategoricalFocalCrossentropy(KerasLoss):
    """keras.losses.CategoricalFocalCrossentropy(alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0)."""

    function = "categorical_focal_crossentropy"


class SparseCategoricalCrossentropy(KerasLoss):
    """keras.losses.SparseCategoricalCrossentropy(from_logits=False, ignore_class=None): integer class targets."""

    function = "sparse_categorical_crossentropy"


class CategoricalGeneralizedCrossEntropy(KerasLoss):
    """keras.losses.CategoricalGeneralizedCrossEntropy(q=0.5): (1 − p_label^q) / q, integer class targets."""

    function = "categorical_generalized_cross_entropy"


class Dice(KerasLoss):
    """keras.losses.Dice(axis=None): 1 − 2·Σ y_true·y_pred / (Σ y_true + Σ y_pred + ε), over `axis` (all: the batch)."""

    function = "dice"


class Tversky(KerasLoss):
    """keras.losses.Tversky(alpha=0.5, beta=0.5, axis=None): 1 − TP / (TP + alpha·FP + beta·FN + ε)."""

    function = "tversky"


class Circle(KerasLoss):
    """keras.losses.Circle(gamma=80.0, margin=0.4, remove_diagonal=True): a metric-learning loss over the batch's
    pairs of embeddings (integer labels, one embedding row per sample)."""

    function = "circle"


class CTC(KerasLoss):
    """keras.losses.CTC(): connectionist temporal classification of label sequences (0: blank and padding) against
    per-time-step logits."""

    function = "ctc"


def get_loss(identifier) -> Loss:
    """A loss by any of Keras's names (`"mse"`, `"BinaryCrossentropy"`, ...) or a Loss itself."""
    return identifier if isinstance(identifier, Loss) else Loss(identifier)


# Each loss's value and gradient, as (operations per output value, microseconds per call), measured as the comment
# above training.py's METRIC_COSTS says (with label smoothing and class balancing on, where a loss has them) on a
# loaded 2-core machine, and put on the server's scale by timing the implementation the six losses netbuilder had
# before in the same runs against their entries (operations × 0.32, microseconds × 2.1). Two depend on more than the
# outputs: circle compares every pair of the batch (measured at batch 256 with 8-wide embeddings: a larger batch
# costs more per value), and ctc steps through time in Python (measured at 50 time steps, about 13 µs a step).
LOSS_COSTS = {name: kind.cost for name, kind in KINDS.items()}
LOGITS_COSTS = {name: kind.logits_cost for name, kind in KINDS.items() if kind.logits_cost}
