"""The losses: Keras's names and classes (netbuilder.losses), their values against real Keras, and their gradients
against float64 finite differences — from_logits, huber at a small delta, and the cross-entropies' clipping edges."""

import keras
import numpy as np
import pytest

import netbuilder as nb
from netbuilder.engine.training import EPSILON, LOSS_NAMES
from netbuilder.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Huber,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
)

RNG = np.random.default_rng(0)


# --- names and classes ----------------------------------------------------------------------------------
def _keras_function_name(identifier) -> str | None:
    """The Keras loss function `identifier` names (keras.losses.get), or None where Keras refuses it."""
    try:
        loss = keras.losses.get(identifier)
    except ValueError:
        return None
    return getattr(loss, "fn", loss).__name__


@pytest.mark.parametrize("name", [*LOSS_NAMES, "huber_loss", "Mse", "mean_squared_errors", "Binary_Crossentropy"])
def test_loss_names_are_exactly_keras_s(name):
    expected = _keras_function_name(name)
    if expected is None:
        with pytest.raises(nb.LayerConfigError, match="unknown loss"):
            Loss(name)
    else:
        assert Loss(name).name == expected


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


@pytest.mark.parametrize(
    "make,needle",
    [
        (
            lambda: MeanSquaredError(from_logits=True),
            r"MeanSquaredError\(from_logits=...\) is not an argument of MeanSquaredError; "
            r"netbuilder's MeanSquaredError takes no arguments",
        ),
        (lambda: Loss("mse", from_logits=True), "mean_squared_error has no from_logits in Keras"),
        (lambda: Loss("huber", from_logits=True), "huber has no from_logits in Keras"),
        (lambda: Loss("binary_crossentropy", delta=0.5), "binary_crossentropy has no delta in Keras"),
        (lambda: Huber(delta=0), "delta must be a number above 0"),
        (lambda: Huber(delta=float("inf")), "delta must be a number above 0"),
        (lambda: Huber(delta="1"), "delta must be a number above 0"),
        (lambda: BinaryCrossentropy(from_logits="yes"), "from_logits must be True or False"),
        (
            lambda: BinaryCrossentropy(label_smoothing=0.1),
            r"BinaryCrossentropy\(label_smoothing=0.1\) is not supported by netbuilder",
        ),
        (lambda: CategoricalCrossentropy(axis=1), r"CategoricalCrossentropy\(axis=1\) is not supported"),
        (lambda: SparseCategoricalCrossentropy(ignore_class=0), r"ignore_class=0\) is not supported"),
        (lambda: Huber(reduction="sum"), r"Huber\(reduction=sum\) is not supported"),
        (lambda: MeanAbsoluteError(dtype="float16"), r"dtype=float16\) is not supported"),
    ],
)
def test_what_a_loss_cannot_compute_is_refused_when_it_is_made(make, needle):
    with pytest.raises(nb.LayerConfigError, match=needle):
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


# --- values against Keras (its NumPy backend computes losses, though it cannot train) -------------------
def _probabilities(shape):
    p = RNG.uniform(0.05, 1, size=shape)
    return p / p.sum(-1, keepdims=True)


CLASSES = RNG.integers(0, 4, size=6)
CASES = {
    # name: (loss, Keras's class and config, y_true, y_pred)
    "mse": (Loss("mse"), ("MeanSquaredError", {}), RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3))),
    "mse-sequence": (Loss("mse"), ("MeanSquaredError", {}), RNG.normal(size=(4, 5, 2)), RNG.normal(size=(4, 5, 2))),
    "mae": (Loss("mae"), ("MeanAbsoluteError", {}), RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3))),
    "huber": (Huber(), ("Huber", {}), RNG.normal(size=(6, 3)) * 2, RNG.normal(size=(6, 3)) * 2),
    "huber-small-delta": (Huber(0.05), ("Huber", {"delta": 0.05}), RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3))),
    "bce": (
        BinaryCrossentropy(),
        ("BinaryCrossentropy", {}),
        RNG.integers(0, 2, size=(6, 1)),
        RNG.uniform(0.05, 0.95, size=(6, 1)),
    ),
    "bce-soft-targets": (
        BinaryCrossentropy(),
        ("BinaryCrossentropy", {}),
        RNG.uniform(size=(6, 2)),
        RNG.uniform(0.05, 0.95, size=(6, 2)),
    ),
    "bce-logits": (
        BinaryCrossentropy(True),
        ("BinaryCrossentropy", {"from_logits": True}),
        RNG.integers(0, 2, size=(6, 1)),
        RNG.normal(size=(6, 1)) * 4,
    ),
    "cce": (CategoricalCrossentropy(), ("CategoricalCrossentropy", {}), np.eye(4)[CLASSES], _probabilities((6, 4))),
    "cce-unnormalised": (
        CategoricalCrossentropy(),
        ("CategoricalCrossentropy", {}),
        np.eye(4)[CLASSES],
        _probabilities((6, 4)) * 1.7,
    ),
    "cce-logits": (
        CategoricalCrossentropy(True),
        ("CategoricalCrossentropy", {"from_logits": True}),
        _probabilities((6, 4)),
        RNG.normal(size=(6, 4)) * 3,
    ),
    "sparse": (SparseCategoricalCrossentropy(), ("SparseCategoricalCrossentropy", {}), CLASSES, _probabilities((6, 4))),
    "sparse-logits": (
        SparseCategoricalCrossentropy(True),
        ("SparseCategoricalCrossentropy", {"from_logits": True}),
        CLASSES[:, None],
        RNG.normal(size=(6, 4)) * 3,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_values_are_keras_s(name):
    loss, (cls, config), t, p = CASES[name]
    t, p = t.astype(np.float32), p.astype(np.float32)
    expected = float(getattr(keras.losses, cls)(**config)(t, p))
    value, grad = loss.value_and_gradient(t, p)
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    assert grad.shape == p.shape and grad.dtype == np.float32


# --- gradients against float64 finite differences -------------------------------------------------------
def _mean_loss(loss, t, p) -> float:
    per = loss.per_sample(t, p)  # float64 in, float64 out: the difference quotient keeps its digits
    return float(np.sum(per) / max(per.size, 1))


def check_loss_gradient(loss, t, p, h=1e-6, rtol=1e-4, atol=1e-6):
    """∂(mean loss)/∂y_pred against central differences in float64; `h` (one, or one per element) stays inside every
    kink and clipping edge."""
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    h = np.broadcast_to(h, p.shape)
    _, grad = loss.value_and_gradient(t, p)
    numeric = np.zeros_like(p)
    for i in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[i] += h[i]
        down[i] -= h[i]
        numeric[i] = (_mean_loss(loss, t, up) - _mean_loss(loss, t, down)) / (2 * h[i])
    np.testing.assert_allclose(grad, numeric, rtol=rtol, atol=atol)


def _away_from(values, kinks, margin=0.05):
    """`values` nudged at least `margin` away from each kink (finite differences must not straddle one)."""
    values = np.array(values, np.float64)
    for kink in kinks:
        close = np.abs(values - kink) < margin
        values[close] = kink + np.where(values[close] >= kink, margin, -margin)
    return values


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_matches_finite_differences(name):
    loss, _, t, p = CASES[name]
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    if loss.name in ("mean_absolute_error", "huber"):  # kinks of |e| at 0 and huber's at ±delta
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
