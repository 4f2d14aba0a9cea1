"""The losses in training, against real Keras 3 on its JAX backend (tests/training_oracle.py runs it apart).

The same model, initial weights and data, shuffle=False, compiled with each loss and its arguments as a Keras class:
the per-epoch history, the final weights, evaluate() and train_on_batch() equal Keras's within 1e-3 relative. That
covers what a loss's value alone cannot: its gradient through a whole run, its reduction and its mask (ignore_class,
Circle's), and the losses whose value depends on the whole batch (Dice and Tversky over every axis, Circle's pairs).
"""

from __future__ import annotations

import numpy as np
import pytest

import netbuilder as nb
import netbuilder.losses as nb_losses
from netbuilder.engine.kinds import dense  # noqa: F401
from netbuilder.optimizers import SGD, Adam, RMSprop
from netbuilder.studio.spec import LayerSpec, ModelSpec
from test_training import assert_fit_equals, assert_train_on_batch_equals, results
from training_oracle import run_jobs

RTOL = 1e-3
OPTIMIZERS = {
    "sgd": (lambda: SGD(learning_rate=0.05), ("SGD", {"learning_rate": 0.05})),
    "sgd-slow": (lambda: SGD(learning_rate=0.002), ("SGD", {"learning_rate": 0.002})),
    "adam": (lambda: Adam(learning_rate=0.01), ("Adam", {"learning_rate": 0.01})),
    "rmsprop": (lambda: RMSprop(learning_rate=0.01), ("RMSprop", {"learning_rate": 0.01})),
}


def spec_of(input_shape, *layers, seed=5) -> ModelSpec:
    return ModelSpec(
        tuple(input_shape), tuple(LayerSpec.make(i, kind, **s) for i, (kind, s) in enumerate(layers)), seed
    ).validate()


def MLP(head, out, inputs=6):  # noqa: N802 — read as a model's name in the table below
    return spec_of(
        (inputs,),
        ("Dense", {"units": 12, "activation": "tanh"}),
        ("Dense", {"units": 8, "activation": "relu"}),
        ("Dense", {"units": out, "activation": head}),
    )


SEQUENCE = spec_of(  # (None, 7 time steps, 4 classes) of logits: CTC's
    (7, 3),
    ("Dense", {"units": 10, "activation": "tanh"}),
    ("Dense", {"units": 4}),
)


def targets(kind: str, x: np.ndarray, rng: np.random.Generator, width: int) -> np.ndarray:
    """Targets of `kind` for inputs x: what each loss is made for."""
    n = len(x)
    s = x.reshape(n, -1).sum(axis=1, keepdims=True)
    if kind == "regression":
        return np.tanh(x.reshape(n, -1)[:, :width] + s / 3)
    if kind == "positive":
        return np.exp(np.tanh(s / 3)) * np.ones((1, width))
    if kind == "counts":
        return rng.poisson(np.exp(np.tanh(s / 3)), size=(n, width)).astype(np.float64)
    if kind == "signs":
        return np.where(s > 0, 1.0, -1.0)
    if kind == "binary":
        return (np.concatenate([s, x.reshape(n, -1)[:, : width - 1]], axis=1) > 0).astype(np.float64)
    if kind == "probabilities":
        z = x.reshape(n, -1)[:, :width] * 2
        return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    if kind == "onehot":
        return np.eye(width)[rng.integers(0, width, size=n)]
    if kind == "sparse":
        return rng.integers(0, width, size=n).astype(np.float64)
    if kind == "groups":  # Circle: 4 groups, every one at least twice in any batch of 8
        return np.arange(n) % 4.0
    if kind == "sequences":  # CTC: labels 1..3, 0-padded to 3
        labels = rng.integers(1, 4, size=(n, 3)).astype(np.float64)
        labels[np.arange(n) % 3 == 1, 2] = 0
        labels[np.arange(n) % 5 == 2, 1:] = 0
        return labels
    raise ValueError(kind)


CASES = {
    # name: (spec, targets, Keras's class and config, metrics, optimizer, batch size, epochs)
    "kld-softmax": (MLP("softmax", 3), "probabilities", ("KLDivergence", {}), ["mae"], "adam", 8, 3),
    "poisson-softplus": (MLP("softplus", 2), "counts", ("Poisson", {}), [], "sgd", 8, 3),
    "log-cosh": (MLP("linear", 2), "regression", ("LogCosh", {}), ["mse"], "rmsprop", 7, 3),
    "hinge-tanh": (MLP("tanh", 1), "signs", ("Hinge", {}), [], "sgd", 8, 3),
    "squared-hinge-0-1-labels": (MLP("tanh", 3), "binary", ("SquaredHinge", {}), [], "adam", 8, 3),
    "categorical-hinge": (MLP("linear", 3), "onehot", ("CategoricalHinge", {}), ["accuracy"], "adam", 9, 3),
    "mape-positive": (MLP("linear", 1), "positive", ("MeanAbsolutePercentageError", {}), [], "adam", 8, 3),
    "msle-relu": (MLP("relu", 2), "positive", ("MeanSquaredLogarithmicError", {}), [], "adam", 8, 3),
    "cosine-similarity": (MLP("linear", 3), "regression", ("CosineSimilarity", {}), [], "adam", 8, 3),
    "mse-sum": (MLP("linear", 1), "regression", ("MeanSquaredError", {"reduction": "sum"}), ["mae"], "sgd-slow", 8, 3),
    "huber-mean": (MLP("linear", 1), "regression", ("Huber", {"delta": 0.2, "reduction": "mean"}), [], "sgd", 7, 3),
    "bce-label-smoothing": (
        MLP("sigmoid", 1),
        "binary",
        ("BinaryCrossentropy", {"label_smoothing": 0.2}),
        ["accuracy"],
        "adam",
        8,
        3,
    ),
    "binary-focal-logits-smoothing-balanced": (
        MLP("linear", 2),
        "binary",
        (
            "BinaryFocalCrossentropy",
            {"from_logits": True, "label_smoothing": 0.1, "apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5},
        ),
        [],
        "adam",
        8,
        3,
    ),
    "binary-focal-sum": (
        MLP("sigmoid", 1),
        "binary",
        ("BinaryFocalCrossentropy", {"reduction": "sum"}),
        [],
        "sgd",
        8,
        3,
    ),
    "cce-label-smoothing": (
        MLP("softmax", 3),
        "onehot",
        ("CategoricalCrossentropy", {"label_smoothing": 0.2}),
        ["accuracy"],
        "adam",
        10,
        3,
    ),
    "cce-logits-label-smoothing-sum": (
        MLP("linear", 3),
        "onehot",
        ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1, "reduction": "sum"}),
        [],
        "sgd-slow",
        10,
        3,
    ),
    "categorical-focal-class-weights": (
        MLP("softmax", 3),
        "onehot",
        ("CategoricalFocalCrossentropy", {"alpha": [0.2, 0.3, 0.5], "gamma": 1.0}),
        [],
        "adam",
        9,
        3,
    ),
    "categorical-focal-logits": (
        MLP("linear", 3),
        "onehot",
        ("CategoricalFocalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}),
        [],
        "adam",
        9,
        3,
    ),
    "sparse-ignore-class": (
        MLP("softmax", 3),
        "sparse",
        ("SparseCategoricalCrossentropy", {"ignore_class": 1}),
        ["accuracy"],
        "adam",
        8,
        3,
    ),
    "sparse-logits-ignore-class-sum": (
        MLP("linear", 3),
        "sparse",
        ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 2, "reduction": "sum"}),
        [],
        "sgd-slow",
        8,
        3,
    ),
    "dice-batch": (MLP("sigmoid", 3), "binary", ("Dice", {}), [], "adam", 8, 3),
    "dice-per-sample": (MLP("sigmoid", 3), "binary", ("Dice", {"axis": 1}), [], "adam", 8, 3),
    "tversky": (MLP("sigmoid", 3), "binary", ("Tversky", {"alpha": 0.3, "beta": 0.7}), [], "adam", 8, 3),
    "circle": (MLP("linear", 4), "groups", ("Circle", {"gamma": 16.0}), [], "adam", 8, 3),
    "ctc": (SEQUENCE, "sequences", ("CTC", {}), [], "adam", 6, 3),
}


def _data(spec, kind, n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *spec.input_shape)).astype(np.float32)
    return x, targets(kind, x, rng, spec.analysis.output_shape[-1]).astype(np.float32)


def _ours(spec, kind, loss, metrics, optimizer, batch, epochs):
    """Our run, as the oracle runs Keras's: fit, evaluate, then train_on_batch twice (plain, then return_dict=True)."""
    model = nb.Sequential([nb.Input(spec.input_shape), *spec.layer_objects()], seed=spec.seed)
    start = model.get_weights()
    cls, config = loss
    model.compile(optimizer=OPTIMIZERS[optimizer][0](), loss=getattr(nb_losses, cls)(**config), metrics=metrics)
    x, y = _data(spec, kind)
    history = model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False)
    return {"json": model.to_json(), **results(model, start, x, y, history, batch, on_batch=8)}


@pytest.fixture(scope="module")
def runs():
    """{case: (our run, Keras's)}, Keras's all in one process."""
    ours, jobs = {}, []
    for name, (spec, kind, loss, metrics, optimizer, batch, epochs) in CASES.items():
        run = ours[name] = _ours(spec, kind, loss, metrics, optimizer, batch, epochs)
        jobs.append(
            {
                "model_json": run["json"],
                "weights": run["start"],
                "x": run["x"],
                "y": run["y"],
                "optimizer": OPTIMIZERS[optimizer][1],
                "loss": loss,
                "metrics": metrics,
                "batch_size": batch,
                "epochs": epochs,
                "bx": run["x"][:8],
                "by": run["y"][:8],
            }
        )
    return {name: (ours[name], theirs) for name, theirs in zip(CASES, run_jobs(jobs))}


@pytest.mark.parametrize("name", list(CASES))
def test_training_with_each_loss_equals_keras_on_jax(runs, name):
    run, expected = runs[name]
    for key, values in expected["history"].items():
        assert np.all(np.isfinite(values)), f"Keras's {key} is not finite: the case does not test training"
    assert_fit_equals(run, expected)
    assert_train_on_batch_equals(run, expected)


def test_the_runs_moved_the_weights(runs):
    """Each case trains (a loss whose gradient were 0 would match Keras trivially)."""
    for name, (run, _) in runs.items():
        assert any(not np.allclose(a, b) for a, b in zip(run["start"], run["weights"])), name
