"""The losses: Keras's names and classes (netbuilder.losses), their values against real Keras, and their gradients
against float64 finite differences and against JAX's own gradient of Keras's loss (in a process of its own, a backend
being fixed per process) — arguments, reductions, masks, and the edges where a clip or a maximum passes half a
gradient or none."""

import inspect
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
import pytest

import netbuilder as nb
import netbuilder.losses as nb_losses
from netbuilder.engine.losses import KINDS
from netbuilder.engine.training import EPSILON, LOGITS_COSTS, LOSS_COSTS, LOSS_NAMES, step_cost
from netbuilder.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Huber,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
)
from netbuilder.optimizers import SGD

RNG = np.random.default_rng(0)


# --- names and classes ----------------------------------------------------------------------------------
def _keras_function_name(identifier) -> str | None:
    """The Keras loss function `identifier` names (keras.losses.get), or None where Keras refuses it."""
    try:
        loss = keras.losses.get(identifier)
    except ValueError:
        return None
    return getattr(loss, "fn", loss).__name__


KERAS_CLASSES = sorted(
    name
    for name, obj in vars(keras.losses).items()
    if inspect.isclass(obj) and issubclass(obj, keras.losses.Loss) and obj is not keras.losses.Loss
)


@pytest.mark.parametrize(
    "name",
    [
        *LOSS_NAMES,
        *KERAS_CLASSES,
        "huber_loss",
        "Mse",
        "mean_squared_errors",
        "Binary_Crossentropy",
        "logcosh",
        "kullback_leibler_divergence",
        "categorical_generalized_cross_entropy",
        "crossentropy",
        "CE",
    ],
)
def test_loss_names_are_exactly_keras_s(name):
    expected = _keras_function_name(name)
    if expected is None:
        with pytest.raises(nb.LayerConfigError, match="unknown loss"):
            Loss(name)
    else:
        assert Loss(name).name == expected


@pytest.mark.parametrize("name", KERAS_CLASSES)
def test_every_keras_loss_class_is_here_with_keras_s_arguments_in_keras_s_order(name):
    """The class, its arguments' order (positional arguments mean what they mean in Keras) and their defaults."""
    ours = getattr(nb_losses, name)
    parameters = list(inspect.signature(getattr(keras.losses, name).__init__).parameters.values())[1:]
    kind = KINDS[ours.function]
    assert kind.keras_class == name and kind.signature == tuple(p.name for p in parameters)
    for p in parameters:
        if p.name in kind.defaults:
            assert kind.defaults[p.name] == p.default, p.name
    assert ours().name == ours.function
    if kind.by_name:
        assert ours() == Loss(name) == Loss(ours.function)


def test_keras_classes_with_their_defaults_are_the_named_losses():
    assert MeanSquaredError().name == "mean_squared_error" and MeanAbsoluteError().name == "mean_absolute_error"
    assert Huber().delta == 1.0 and Huber(0.3).delta == 0.3 and Huber(delta=2).name == "huber"
    for cls, name in (
        (BinaryCrossentropy, "binary_crossentropy"),
        (CategoricalCrossentropy, "categorical_crossentropy"),
        (SparseCategoricalCrossentropy, "sparse_categorical_crossentropy"),
    ):
        assert (
            cls().name == name
            and cls().from_logits is False
            and cls(True).from_logits
            and cls(from_logits=True).from_logits
        )
    assert (
        BinaryCrossentropy(label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name="bce", dtype="float32")
        == BinaryCrossentropy()
    )
    assert nb.losses.get("BCE") == Loss("binary_crossentropy") and nb.losses.Huber is Huber
    tversky = nb_losses.Tversky(0.3, 0.7, "sum")  # Keras's order: alpha, beta, reduction
    assert (tversky.alpha, tversky.beta, tversky.reduction) == (0.3, 0.7, "sum")
    assert nb_losses.Dice("sum", "dice", (1, 2)).axis == (1, 2)  # reduction, name, axis
    assert Loss("tversky", alpha=0.3, beta=0.7, reduction="sum") == tversky
    assert BinaryCrossentropy(label_smoothing=0.1) != BinaryCrossentropy()


def test_a_loss_is_immutable_hashable_and_pickles():
    loss = nb_losses.CategoricalFocalCrossentropy(alpha=[0.2, 0.3, 0.5], gamma=1.0)
    with pytest.raises(AttributeError, match="immutable"):
        loss.gamma = 3.0
    assert pickle.loads(pickle.dumps(loss)) == loss and {loss: 1}[loss] == 1
    assert loss.alpha == (0.2, 0.3, 0.5) and "gamma=1.0" in repr(loss)
    with pytest.raises(AttributeError, match="no argument 'q'"):
        loss.q


@pytest.mark.parametrize(
    "make,needle",
    [
        (
            lambda: MeanSquaredError(from_logits=True),
            r"MeanSquaredError\(from_logits=...\) is not an argument of MeanSquaredError; "
            r"netbuilder's MeanSquaredError takes reduction",
        ),
        (lambda: Loss("mse", from_logits=True), "mean_squared_error has no from_logits in Keras"),
        (lambda: Loss("huber", from_logits=True), "huber has no from_logits in Keras"),
        (lambda: Loss("binary_crossentropy", delta=0.5), "binary_crossentropy has no delta in Keras"),
        (lambda: Loss("mse", alpha=0.25), "mean_squared_error has no alpha in Keras: only binary_focal"),
        (lambda: Huber(delta=0), "delta must be a number above 0"),
        (lambda: Huber(delta=float("inf")), "delta must be a number above 0"),
        (lambda: Huber(delta="1"), "delta must be a number above 0"),
        (lambda: BinaryCrossentropy(from_logits="yes"), "from_logits must be True or False"),
        (lambda: BinaryCrossentropy(label_smoothing=1.5), "label_smoothing must be from 0 to 1"),
        (
            lambda: CategoricalCrossentropy(axis=1),
            r"CategoricalCrossentropy\(axis=1\) is not supported by netbuilder \(it computes what Keras's default "
            r"axis=-1 does\); netbuilder's CategoricalCrossentropy takes from_logits, label_smoothing and reduction",
        ),
        (lambda: Loss("binary_focal_crossentropy", axis=0), r"axis=0\) is not supported by netbuilder"),
        (lambda: SparseCategoricalCrossentropy(ignore_class=1.5), "ignore_class must be None or an integer"),
        (lambda: Huber(reduction=None), "reduction=None is not supported by netbuilder: Keras's fit cannot train"),
        (lambda: Huber(reduction="none"), "reduction='none' is not supported by netbuilder"),
        (lambda: Huber(reduction="average"), "Invalid value for argument `reduction`"),
        (lambda: MeanAbsoluteError(dtype="float16"), r"dtype=float16\) is not supported"),
        (lambda: nb_losses.CategoricalGeneralizedCrossEntropy(q=1), r"q must be in the interval \(0, 1\)"),
        (lambda: nb_losses.BinaryFocalCrossentropy(gamma=-1), "gamma must be a number of at least 0"),
        (lambda: nb_losses.BinaryFocalCrossentropy(alpha=[0.1]), "alpha must be a number"),
        (lambda: nb_losses.CategoricalFocalCrossentropy(alpha="x"), "alpha must be a number, or a list"),
        (lambda: nb_losses.CosineSimilarity(axis=(1, 2)), "axis must be an integer"),
        (lambda: nb_losses.Dice(axis="1"), "axis must be None, an integer or a tuple of integers"),
        (lambda: nb_losses.Circle(remove_diagonal=1), "remove_diagonal must be True or False"),
        (lambda: nb_losses.Poisson("sum", "p", "float32", 4), "takes at most 3 arguments"),
        (lambda: Huber(0.5, delta=0.5), "multiple values for argument 'delta'"),
        (lambda: Loss("CategoricalGeneralizedCrossEntropy"), "keras.losses.get does not know it by name either"),
        (lambda: Loss("crossentropy"), "Keras's compile picks binary, categorical or sparse"),
    ],
)
def test_what_a_loss_cannot_compute_is_refused_when_it_is_made(make, needle):
    with pytest.raises((nb.LayerConfigError, TypeError), match=needle):
        make()


def test_loss_objects_and_aliases_train():
    """Loss("mse") is the loss compile("mse") gets: it trains (it used to fail at the first step)."""
    x = RNG.normal(size=(12, 3)).astype(np.float32)
    y = x[:, :1] * 2
    histories = []
    for loss in ("mse", "MeanSquaredError", Loss("mse"), MeanSquaredError()):
        model = nb.Sequential([nb.Input((3,)), nb.Dense(1)], seed=0)
        model.compile(optimizer="sgd", loss=loss)
        histories.append(model.fit(x, y, batch_size=4, epochs=2).history)
    assert all(h == histories[0] for h in histories)


def test_every_loss_has_a_cost_and_a_step_cost():
    for name, kind in KINDS.items():
        assert len(LOSS_COSTS[name]) == 2 and all(v > 0 for v in LOSS_COSTS[name])
        assert (name in LOGITS_COSTS) == ("from_logits" in kind.defaults)
        loss = Loss(name) if kind.by_name else getattr(nb_losses, kind.keras_class)()
        assert step_cost(loss, ["mae"], SGD()).output_operations > LOSS_COSTS[name][0]
        if name in LOGITS_COSTS:
            assert step_cost(Loss(name, from_logits=True), [], SGD()).output_operations == LOGITS_COSTS[name][0]


# --- the cases: each loss and its arguments on data it is made for ---------------------------------------------
def _probabilities(shape):
    p = RNG.uniform(0.05, 1, size=shape)
    return p / p.sum(-1, keepdims=True)


def _away_from(values, kinks, margin=0.05):
    """`values` nudged at least `margin` away from each kink (finite differences must not straddle one)."""
    values = np.array(values, np.float64)
    for kink in kinks:
        close = np.abs(values - kink) < margin
        values[close] = kink + np.where(values[close] >= kink, margin, -margin)
    return values


def _hinge_case(labels):
    """Predictions whose margins 1 − y·p keep 0.05 from the hinge's kink at 0."""
    y = np.where(labels == 0, -1, labels) if np.all((labels == 0) | (labels == 1)) else labels
    return labels, y * (1 - _away_from(RNG.normal(size=labels.shape), (0.0,)))


def _embeddings(n, d, scale=0.8):
    """Rows of norm `scale` (below 1, so a row's distance to itself stays clear of max(·, 0)'s kink)."""
    e = RNG.normal(size=(n, d))
    return scale * e / np.linalg.norm(e, axis=1, keepdims=True)


CLASSES = RNG.integers(0, 4, size=6)
ONE_HOT = np.eye(4)[CLASSES]
BINARY = RNG.integers(0, 2, size=(6, 3)).astype(np.float64)
MASKS = (RNG.uniform(size=(4, 5, 5, 1)) > 0.6).astype(np.float64)
CASES = {
    # name: (Keras's class, its config, y_true, y_pred)
    "mse": ("MeanSquaredError", {}, RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3))),
    "mse-sequence": ("MeanSquaredError", {}, RNG.normal(size=(4, 5, 2)), RNG.normal(size=(4, 5, 2))),
    "mse-sum": ("MeanSquaredError", {"reduction": "sum"}, RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3))),
    "mse-mean-targets-of-rank-1": (
        "MeanSquaredError",
        {"reduction": "mean"},
        RNG.normal(size=6),
        RNG.normal(size=(6, 1)),
    ),
    "mae": ("MeanAbsoluteError", {}, RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3))),
    "mape": ("MeanAbsolutePercentageError", {}, RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3))),
    "msle": ("MeanSquaredLogarithmicError", {}, RNG.exponential(size=(6, 3)), RNG.exponential(size=(6, 3))),
    "cosine": ("CosineSimilarity", {}, RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3))),
    "cosine-axis-1-sum": (
        "CosineSimilarity",
        {"axis": 1, "reduction": "sum"},
        RNG.normal(size=(4, 5, 3)),
        RNG.normal(size=(4, 5, 3)),
    ),
    "huber": ("Huber", {}, RNG.normal(size=(6, 3)) * 2, RNG.normal(size=(6, 3)) * 2),
    "huber-small-delta": ("Huber", {"delta": 0.05}, RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3))),
    "log-cosh": ("LogCosh", {}, RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3)) * 4),
    "hinge": ("Hinge", {}, *_hinge_case(np.sign(RNG.normal(size=(6, 3))))),
    "hinge-0-1-labels": ("Hinge", {}, *_hinge_case(BINARY)),
    "squared-hinge": ("SquaredHinge", {}, *_hinge_case(np.sign(RNG.normal(size=(6, 3))))),
    "categorical-hinge": ("CategoricalHinge", {}, ONE_HOT, RNG.normal(size=(6, 4))),
    "kld": ("KLDivergence", {}, _probabilities((6, 4)), _probabilities((6, 4))),
    "poisson": ("Poisson", {}, RNG.poisson(2, size=(6, 3)), RNG.exponential(2, size=(6, 3))),
    "bce": ("BinaryCrossentropy", {}, RNG.integers(0, 2, size=(6, 1)), RNG.uniform(0.05, 0.95, size=(6, 1))),
    "bce-soft-targets": ("BinaryCrossentropy", {}, RNG.uniform(size=(6, 2)), RNG.uniform(0.05, 0.95, size=(6, 2))),
    "bce-logits": (
        "BinaryCrossentropy",
        {"from_logits": True},
        RNG.integers(0, 2, size=(6, 1)),
        RNG.normal(size=(6, 1)) * 4,
    ),
    "bce-smoothing-sum": (
        "BinaryCrossentropy",
        {"label_smoothing": 0.2, "reduction": "sum"},
        BINARY,
        RNG.uniform(0.05, 0.95, size=(6, 3)),
    ),
    "bce-logits-smoothing": (
        "BinaryCrossentropy",
        {"from_logits": True, "label_smoothing": 0.1},
        BINARY,
        RNG.normal(size=(6, 3)) * 3,
    ),
    "binary-focal": ("BinaryFocalCrossentropy", {}, BINARY, RNG.uniform(0.05, 0.95, size=(6, 3))),
    "binary-focal-balanced-smoothing": (
        "BinaryFocalCrossentropy",
        {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5, "label_smoothing": 0.1},
        BINARY,
        RNG.uniform(0.05, 0.95, size=(6, 3)),
    ),
    "binary-focal-logits": (
        "BinaryFocalCrossentropy",
        {"from_logits": True, "gamma": 3.0, "label_smoothing": 0.2},
        BINARY,
        RNG.normal(size=(6, 3)) * 3,
    ),
    "cce": ("CategoricalCrossentropy", {}, ONE_HOT, _probabilities((6, 4))),
    "cce-unnormalised": ("CategoricalCrossentropy", {}, ONE_HOT, _probabilities((6, 4)) * 1.7),
    "cce-logits": (
        "CategoricalCrossentropy",
        {"from_logits": True},
        _probabilities((6, 4)),
        RNG.normal(size=(6, 4)) * 3,
    ),
    "cce-smoothing": ("CategoricalCrossentropy", {"label_smoothing": 0.2}, ONE_HOT, _probabilities((6, 4))),
    "cce-logits-smoothing-mean": (
        "CategoricalCrossentropy",
        {"from_logits": True, "label_smoothing": 0.3, "reduction": "mean"},
        ONE_HOT,
        RNG.normal(size=(6, 4)) * 3,
    ),
    "categorical-focal": ("CategoricalFocalCrossentropy", {}, ONE_HOT, _probabilities((6, 4))),
    "categorical-focal-class-weights": (
        "CategoricalFocalCrossentropy",
        {"alpha": [0.1, 0.2, 0.3, 0.4], "gamma": 1.5, "label_smoothing": 0.1},
        ONE_HOT,
        _probabilities((6, 4)) * 1.3,
    ),
    "categorical-focal-logits": (
        "CategoricalFocalCrossentropy",
        {"from_logits": True, "gamma": 3.0},
        ONE_HOT,
        RNG.normal(size=(6, 4)) * 2,
    ),
    "sparse": ("SparseCategoricalCrossentropy", {}, CLASSES, _probabilities((6, 4))),
    "sparse-logits": (
        "SparseCategoricalCrossentropy",
        {"from_logits": True},
        CLASSES[:, None],
        RNG.normal(size=(6, 4)) * 3,
    ),
    "sparse-ignore-class": ("SparseCategoricalCrossentropy", {"ignore_class": 1}, CLASSES, _probabilities((6, 4))),
    "sparse-logits-ignore-class-sum": (
        "SparseCategoricalCrossentropy",
        {"from_logits": True, "ignore_class": -1, "reduction": "sum"},
        np.where(np.arange(6) % 3 == 0, -1, CLASSES),
        RNG.normal(size=(6, 4)) * 3,
    ),
    "sparse-ignore-class-mean-with-sample-weight": (
        "SparseCategoricalCrossentropy",
        {"ignore_class": 2, "reduction": "mean_with_sample_weight"},
        CLASSES,
        _probabilities((6, 4)),
    ),
    "generalized-ce": ("CategoricalGeneralizedCrossEntropy", {"q": 0.7}, CLASSES, _probabilities((6, 4))),
    "dice": ("Dice", {}, MASKS, RNG.uniform(size=MASKS.shape)),
    "dice-per-image": ("Dice", {"axis": (1, 2, 3)}, MASKS, RNG.uniform(size=MASKS.shape)),
    "tversky": ("Tversky", {"alpha": 0.3, "beta": 0.7}, MASKS, RNG.uniform(size=MASKS.shape)),
    "tversky-per-row-sum": (
        "Tversky",
        {"axis": 2, "reduction": "sum"},
        MASKS,
        RNG.uniform(size=MASKS.shape),
    ),
    "circle": ("Circle", {}, np.array([0, 1, 0, 1, 2, 2, 1]), _embeddings(7, 4)),
    "circle-diagonal-kept": (
        "Circle",
        {"gamma": 10.0, "margin": 0.25, "remove_diagonal": False},
        np.array([[3], [1], [3], [1], [2], [2]]),
        _embeddings(6, 3, scale=0.9),
    ),
    "ctc": (
        "CTC",
        {},
        np.array([[1, 2, 2, 0], [3, 0, 0, 0], [4, 1, 3, 2], [0, 0, 0, 0]]),
        RNG.normal(size=(4, 9, 5)) * 2,
    ),
}


def _case(name):
    """(our loss made from Keras's class and config, y_true and y_pred in float32)."""
    cls, config, t, p = CASES[name]
    return getattr(nb_losses, cls)(**config), np.asarray(t, np.float32), np.asarray(p, np.float32)


@pytest.mark.parametrize("name", list(CASES))
def test_values_are_keras_s(name):
    """Keras computes its losses on its NumPy backend (it cannot train there)."""
    cls, config, _, _ = CASES[name]
    loss, t, p = _case(name)
    expected = float(getattr(keras.losses, cls)(**config)(t, p))
    value, grad = loss.value_and_gradient(t, p)
    np.testing.assert_allclose(value, expected, rtol=2e-6)
    assert grad.shape == p.shape and grad.dtype == np.float32


# --- gradients against float64 finite differences -------------------------------------------------------
def check_loss_gradient(loss, t, p, h=1e-6, rtol=1e-4, atol=1e-6):
    """∂(batch loss)/∂y_pred against central differences in float64 (the loss keeps float64 through its reduction);
    `h` (one, or one per element) stays inside every kink and clipping edge."""
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    h = np.broadcast_to(h, p.shape)
    _, grad = loss.value_and_gradient(t, p)
    numeric = np.zeros_like(p)
    for i in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[i] += h[i]
        down[i] -= h[i]
        numeric[i] = (loss.value_and_gradient(t, up)[0] - loss.value_and_gradient(t, down)[0]) / (2 * h[i])
    np.testing.assert_allclose(grad, numeric, rtol=rtol, atol=atol * max(1.0, np.abs(numeric).max()))


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_matches_finite_differences(name):
    cls, config, t, p = CASES[name]
    loss = getattr(nb_losses, cls)(**config)
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    if loss.name in ("mean_absolute_error", "mean_absolute_percentage_error", "huber"):  # |e|'s kink, huber's at ±δ
        p = t + _away_from(p - t, (0.0, -loss.delta, loss.delta), margin=loss.delta / 5)
    check_loss_gradient(loss, t, p)


@pytest.mark.parametrize("delta", [0.01, 0.3, 4.0])
def test_huber_gradient_on_both_sides_of_delta(delta):
    """Quadratic within delta (gradient e), linear beyond (delta·sign(e)): errors on both sides of ±delta."""
    e = np.array([[-3.0, -1.5, -0.6, -0.2, 0.1, 0.45, 1.2, 2.5]]) * delta
    t = RNG.normal(size=e.shape)
    check_loss_gradient(Huber(delta), t, t + e, h=delta * 1e-4)


def test_binary_crossentropy_clipping_edges_pass_no_gradient():
    """Keras clips probabilities to [ε, 1 − ε] (ε = 1e-7): outside, the loss is flat and the gradient exactly 0."""
    t = np.array([[1.0], [0.0], [1.0], [0.0], [1.0], [0.0]])
    p = np.array([[0.0], [1.0], [1e-9], [1 - 1e-9], [1.2], [-0.3]])
    _, grad = BinaryCrossentropy().value_and_gradient(t, p)
    np.testing.assert_array_equal(grad, 0)
    check_loss_gradient(BinaryCrossentropy(), t, p, h=1e-11)  # the flat side: differences within the clipped region
    inside = np.array(
        [[3 * EPSILON], [1 - 3 * float(EPSILON)], [2e-6], [0.999998]]
    )  # just inside: the gradient is huge, and right
    check_loss_gradient(BinaryCrossentropy(), t[:4], inside, h=1e-8, rtol=1e-3)


def test_categorical_crossentropy_clipping_edges():
    """A class probability below ε is clipped (no gradient through that log), yet the row's sum still moves the
    others."""
    t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    p = np.array(
        [[1e-9, 0.6, 0.4], [1e-9, 0.3, 0.7], [0.5, 0.5, 1e-10]]
    )  # the true class clipped in the second and third rows
    h = np.where(p < 1e-6, 5e-11, 1e-6)  # a step within the clipped region there, an accurate one elsewhere
    check_loss_gradient(CategoricalCrossentropy(), t, p, h=h)
    check_loss_gradient(SparseCategoricalCrossentropy(), np.argmax(t, -1), p, h=h)
    _, grad = CategoricalCrossentropy().value_and_gradient(t, p)
    assert grad[0, 1] == np.float32(-(1 / 0.6 - 1) / 3)  # through q = p / Σp: −(1/q − 1)/total, over 3 rows


@pytest.mark.parametrize(
    "loss", [BinaryCrossentropy(True), CategoricalCrossentropy(True), SparseCategoricalCrossentropy(True)]
)
def test_from_logits_gradients_far_out(loss):
    """Large logits: the log-sum-exp form stays finite and its gradient exact (sigmoid − t, softmax − t)."""
    p = np.array([[30.0, -25.0, 4.0], [-40.0, 0.5, 35.0]])
    if loss.name == "binary_crossentropy":
        t = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    else:
        t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
        t = np.argmax(t, -1) if loss.name.startswith("sparse") else t
    value, grad = loss.value_and_gradient(t, p)
    assert np.isfinite(value) and np.isfinite(grad).all()
    check_loss_gradient(loss, t, p, h=1e-5)


# --- gradients against JAX's gradient of Keras's own loss ------------------------------------------------------
EDGE = float(EPSILON)
EDGES = {
    # exactly at a clip's edge jnp.clip passes half the gradient, beyond it none; at a tie jnp.maximum passes half
    "bce-at-and-beyond-the-clip": (
        "BinaryCrossentropy",
        {},
        np.array([[1.0, 0.0, 1.0, 0.0]]),
        np.array([[EDGE, 1 - EDGE, 1.5, -0.5]]),
    ),
    "mae-error-0": ("MeanAbsoluteError", {}, np.array([[0.5, -1.0, 2.0]]), np.array([[0.5, -1.0, 1.0]])),
    "hinge-margin-0": ("Hinge", {}, np.array([[1.0, -1.0, 1.0]]), np.array([[1.0, -1.0, 0.25]])),
    "squared-hinge-margin-0": ("SquaredHinge", {}, np.array([[1.0, 0.0]]), np.array([[1.0, -2.0]])),
    "categorical-hinge-ties": (
        "CategoricalHinge",
        {},
        np.array([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]),
        np.array([[0.7, 0.2, 0.7, 0.1], [-0.3, -0.5, -0.2, -0.9], [0.5, 0.25, 1.5, 0.25]]),
    ),
    "kld-clip-edges": (
        "KLDivergence",
        {},
        np.array([[0.2, 0.3, 0.4, 0.1]]),
        np.array([[EDGE, 1.0, 1.5, -0.1]]),
    ),
    "msle-at-epsilon": ("MeanSquaredLogarithmicError", {}, np.array([[1.0, 2.0, 0.5]]), np.array([[EDGE, -1.0, 0.5]])),
    "cosine-zero-rows": (
        "CosineSimilarity",
        {},
        np.array([[1.0, 2.0], [0.0, 0.0]]),
        np.array([[0.0, 0.0], [3.0, 1.0]]),
    ),
    "cosine-axis-0": ("CosineSimilarity", {"axis": 0}, RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2))),
    "generalized-ce-label-at-0": (
        "CategoricalGeneralizedCrossEntropy",
        {"q": 0.5},
        np.array([0, 2]),
        np.array([[0.0, 0.6, 0.4], [0.3, 0.3, 0.4]]),
    ),
    "binary-focal-certain": (
        "BinaryFocalCrossentropy",
        {"gamma": 0.5},
        np.array([[1.0, 0.0, 1.0]]),
        np.array([[1.0, 0.0, EDGE]]),
    ),
    "categorical-focal-clipped": (
        "CategoricalFocalCrossentropy",
        {},
        np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
        np.array([[1e-9, 0.6, 0.4], [1e-9, 0.3, 0.7]]),
    ),
    "sparse-every-label-ignored": (
        "SparseCategoricalCrossentropy",
        {"ignore_class": 0},
        np.array([0, 0]),
        np.array([[0.2, 0.8], [0.6, 0.4]]),
    ),
    "dice-empty": ("Dice", {}, np.zeros((2, 3)), np.zeros((2, 3))),
    "poisson-at-minus-epsilon": ("Poisson", {}, np.array([[1.0, 0.0]]), np.array([[-EDGE, -EDGE]])),
    "circle-a-label-alone": ("Circle", {"gamma": 4.0}, np.array([0, 1, 0, 2]), _embeddings(4, 3)),
}

JAX_ORACLE = r"""
import json, sys
import numpy as np
import jax, keras

folder = sys.argv[1]
cases = json.load(open(f"{folder}/cases.json"))
arrays = np.load(f"{folder}/in.npz")
out = {}
for k, (cls, config) in enumerate(cases):
    if isinstance(config.get("axis"), list):
        config["axis"] = tuple(config["axis"])
    loss = getattr(keras.losses, cls)(**config)
    t = jax.numpy.asarray(arrays[f"{k}_t"])
    value, grad = jax.value_and_grad(lambda p: loss(t, p))(jax.numpy.asarray(arrays[f"{k}_p"]))
    out[f"{k}_value"], out[f"{k}_grad"] = np.asarray(value), np.asarray(grad)
np.savez(f"{folder}/out.npz", **out)
"""


@pytest.fixture(scope="module")
def jax_gradients():
    """{case name: (value, gradient)} of Keras's loss on its JAX backend, jax.value_and_grad in float32."""
    cases = {**CASES, **EDGES}
    with tempfile.TemporaryDirectory() as folder:
        arrays = {}
        for k, (_, _, t, p) in enumerate(cases.values()):
            arrays[f"{k}_t"], arrays[f"{k}_p"] = np.asarray(t, np.float32), np.asarray(p, np.float32)
        np.savez(Path(folder) / "in.npz", **arrays)
        (Path(folder) / "cases.json").write_text(json.dumps([[cls, config] for cls, config, _, _ in cases.values()]))
        env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
        done = subprocess.run(
            [sys.executable, "-c", JAX_ORACLE, folder], env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
        out = np.load(Path(folder) / "out.npz")
        return {name: (float(out[f"{k}_value"]), out[f"{k}_grad"]) for k, name in enumerate(cases)}


@pytest.mark.parametrize("name", [*CASES, *EDGES])
def test_gradient_is_jax_s_gradient_of_keras_s_loss(jax_gradients, name):
    cls, config, t, p = {**CASES, **EDGES}[name]
    loss = getattr(nb_losses, cls)(**config)
    t, p = np.asarray(t, np.float32), np.asarray(p, np.float32)
    value, grad = loss.value_and_gradient(t, p)
    expected_value, expected = jax_gradients[name]
    np.testing.assert_allclose(value, expected_value, rtol=1e-5)
    scale = max(1.0, float(np.nanmax(np.abs(np.where(np.isinf(expected), 0, expected)))))
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6 * scale)  # NaNs where JAX has NaNs


def test_edges_hold_what_they_are_meant_to():
    """The edge cases above are at their edges: half gradients at ties, none beyond a clip, NaN where JAX has it."""
    _, grad = _case_loss("bce-at-and-beyond-the-clip")
    assert grad[0, 2] == 0 and grad[0, 3] == 0 and grad[0, 0] == np.float32(0.5 * -(1 / EDGE) / 4)
    _, grad = _case_loss("hinge-margin-0")
    np.testing.assert_allclose(grad[0, :2], [-0.5 / 3, 0.5 / 3], rtol=1e-7)
    _, grad = _case_loss("mae-error-0")
    assert grad[0, 0] == np.float32(-1 / 3)  # |e|' is +1 at e = 0 in JAX: ∂|t − p|/∂p = −1
    _, grad = _case_loss("cosine-zero-rows")
    assert np.isnan(grad[0]).all() and np.isfinite(grad[1]).all()
    _, grad = _case_loss("generalized-ce-label-at-0")
    assert grad[0, 0] == -np.inf and np.isnan(grad[0, 1:]).all() and np.isfinite(grad[1]).all()
    value, grad = _case_loss("sparse-every-label-ignored")
    assert value == 0 and not grad.any()


def _case_loss(name):
    cls, config, t, p = EDGES[name]
    return getattr(nb_losses, cls)(**config).value_and_gradient(np.float32(t), np.float32(p))


# --- reductions and masks --------------------------------------------------------------------------------------
def test_reductions_are_keras_s_sum_and_means():
    t, p = RNG.normal(size=(5, 4)).astype(np.float32), RNG.normal(size=(5, 4)).astype(np.float32)
    mean, grad = MeanSquaredError().value_and_gradient(t, p)
    total, grad_sum = MeanSquaredError(reduction="sum").value_and_gradient(t, p)
    assert total == pytest.approx(5 * mean, rel=1e-6)
    np.testing.assert_allclose(grad_sum, 5 * grad, rtol=1e-6)
    for reduction in ("mean", "mean_with_sample_weight"):  # without sample weights, the default's mean
        assert MeanSquaredError(reduction=reduction).value_and_gradient(t, p)[0] == mean


def test_ignore_class_averages_over_the_labels_kept():
    p = _probabilities((4, 3)).astype(np.float32)
    labels = np.array([0, 2, 1, 2], np.float32)
    value, grad = SparseCategoricalCrossentropy(ignore_class=2).value_and_gradient(labels, p)
    kept, kept_grad = SparseCategoricalCrossentropy().value_and_gradient(labels[[0, 2]], p[[0, 2]])
    assert value == pytest.approx(kept, rel=1e-6)
    np.testing.assert_allclose(grad[[0, 2]], kept_grad, rtol=1e-6)
    assert not grad[[1, 3]].any()


# --- targets a loss cannot use, said before a step -------------------------------------------------------------
@pytest.mark.parametrize(
    "loss, y, output_shape, message",
    [
        (Loss("poisson"), [[1.0], [-2.0]], (None, 1), "poisson needs targets of at least 0 .*1 of these .*e.g. -2"),
        (Loss("kld"), [[0.5, 1.5]], (None, 2), r"kl_divergence needs targets from 0 to 1 \(probabilities"),
        (Loss("msle"), [[-1.0]], (None, 1), "mean_squared_logarithmic_error needs targets of at least 0"),
        (Loss("mape"), [[0.0], [2.0]], (None, 1), "divides each error by its target.*1 of these targets are 0"),
        (Loss("hinge"), [[0.0], [-1.0], [1.0]], (None, 1), r"hinge needs labels −1 or 1 \(or 0 or 1"),
        (Loss("dice"), [[2.0]], (None, 1), r"dice needs targets from 0 to 1 \(masks\)"),
        (
            nb_losses.CategoricalGeneralizedCrossEntropy(),
            [[1.0], [0.0]],
            (None, 3),
            r"needs one class label per sample, of shape \(\)",
        ),
        (nb_losses.CategoricalGeneralizedCrossEntropy(), [3.0, 0.0], (None, 3), "from 0 to 2 .*run from 0 to 3"),
        (SparseCategoricalCrossentropy(ignore_class=-1), [0.0, 3.0, -1.0], (None, 3), "run from 0 to 3"),
        (Loss("circle"), [0.5, 1.0], (None, 4), "whole-number class labels"),
        (Loss("circle"), [0.0, 1.0], (None, 4, 2), r"one embedding vector per sample \(None, d\)"),
        (Loss("ctc"), [[1.0, 2.0]], (None, 5), r"output is \(None, time steps, classes\)"),
        (Loss("ctc"), [[1.0, 0.0, 2.0]], (None, 5, 3), "0s at its end only"),
        (Loss("ctc"), [[1.0, 3.0]], (None, 5, 3), "labels from 1 to 2"),
        (Loss("ctc"), [[1.0, 1.0, 2.0]], (None, 3, 3), "a label needs 4, and the model's output has 3"),
        (
            nb_losses.Dice(axis=(1, 2)),
            [[1.0, 0.0]],
            (None, 2),
            r"dice's axis=\(1, 2\) is not an axis of predictions of rank 2",
        ),
        (nb_losses.CosineSimilarity(axis=-3), [[1.0, 0.0]], (None, 2), "is not an axis of predictions of rank 2"),
        (
            nb_losses.CategoricalFocalCrossentropy(alpha=[0.5, 0.5]),
            [[0.0, 1.0, 0.0]],
            (None, 3),
            "alpha holds 2 class weights, and the model has 3 classes",
        ),
    ],
)
def test_targets_a_loss_cannot_use_are_said(loss, y, output_shape, message):
    with pytest.raises(nb.InputDataError, match=message):
        loss.check_targets(np.array(y, np.float32), output_shape)


@pytest.mark.parametrize(
    "loss, y, output_shape",
    [
        (Loss("hinge"), [[0.0], [1.0]], (None, 1)),
        (Loss("hinge"), [[-1.0], [1.0]], (None, 1)),
        (SparseCategoricalCrossentropy(ignore_class=255), [0.0, 255.0, 2.0], (None, 3)),
        (Loss("circle"), [[0.0], [7.0]], (None, 4)),
        (Loss("ctc"), [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], (None, 3, 3)),
        (Loss("dice"), np.zeros((2, 4, 4, 1)), (None, 4, 4, 1)),
    ],
)
def test_targets_a_loss_can_use_pass(loss, y, output_shape):
    loss.check_targets(np.array(y, np.float32), output_shape)
