"""What the engine says about training data before a step, and what a run does when its numbers stop being finite.

Issue 17: labels out of range, NaN labels and targets shaped unlike the output reached the training step (the app
showed "something went wrong" and retried every 0.3 s); a diverged run reported "finished" and kept NaN weights; sparse
categorical cross-entropy built np.eye(classes) (Dense(30000) asked 3.4 GB). Expected values are written by hand.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import netbuilder as nb
from netbuilder.engine.errors import InputDataError, TrainingError
from netbuilder.engine.training import Loss
from netbuilder.optimizers import SGD
from netbuilder.studio.data import parse_csv
from netbuilder.studio.spec import LayerSpec, ModelSpec
from netbuilder.studio.train import inputs_of, sample_shape


def classifier(classes: int = 3, loss: str = "sparse_categorical_crossentropy"):
    model = nb.Sequential([nb.Input((4,)), nb.Dense(classes, activation="softmax")], seed=1)
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    return model


X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)


@pytest.mark.parametrize(
    "labels, message",
    [
        (
            [0, 1, 2, 3, 0, 1],
            "class labels must be whole numbers from 0 to 2 (the model has 3 outputs); they run from 0 to 3",
        ),
        (
            [0, -1, 2, 1, 0, 1],
            "class labels must be whole numbers from 0 to 2 (the model has 3 outputs); they run from -1 to 2",
        ),
        (
            [0, 1.5, 2, 1, 0, 1],
            "class labels must be whole numbers from 0 to 2 (the model has 3 outputs); "
            "1 are not whole numbers (e.g. 1.5)",
        ),
        (
            [0, np.nan, 2, np.nan, 0, 1],
            "class labels must be whole numbers from 0 to 2 (the model has 3 outputs); 2 are NaN or infinite",
        ),
    ],
)
def test_sparse_labels_are_checked_before_a_step(labels, message):
    model = classifier()
    before = model.get_weights()
    with pytest.raises(InputDataError) as e:
        model.fit(X, np.array(labels, np.float32), epochs=1)
    assert str(e.value) == message
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)  # no step was taken


@pytest.mark.parametrize(
    "loss, y, message",
    [
        (
            "mean_squared_error",
            np.arange(6, dtype=np.float32),
            "mean_squared_error needs a target of the output's shape (3,) per sample; "
            "these targets have shape () per sample (the model's output is (None, 3))",
        ),
        (
            "categorical_crossentropy",
            np.zeros((6, 4), np.float32),
            "categorical_crossentropy needs a target of the output's shape (3,) per sample; "
            "these targets have shape (4,) per sample (the model's output is (None, 3))",
        ),
        (
            "sparse_categorical_crossentropy",
            np.zeros((6, 2), np.float32),
            "sparse_categorical_crossentropy needs one class label per sample (a whole number from 0 to 2); "
            "these targets have shape (2,) per sample (the model's output is (None, 3))",
        ),
    ],
)
def test_targets_shaped_unlike_the_output_are_said_with_both_shapes(loss, y, message):
    with pytest.raises(InputDataError) as e:
        classifier(loss=loss).fit(X, y)
    assert str(e.value) == message


def test_non_finite_inputs_and_targets_are_refused_before_a_step():
    model = classifier(loss="mean_squared_error")
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    with pytest.raises(InputDataError, match="the targets hold 1 NaN or infinite value"):
        model.fit(X, np.where(np.arange(18).reshape(6, 3) == 4, np.inf, y))
    with pytest.raises(InputDataError, match="the training inputs hold 2 NaN or infinite value"):
        model.fit(np.where(np.arange(24).reshape(6, 4) % 13 == 1, np.nan, X), y)
    with pytest.raises(InputDataError, match="the targets hold"):  # validation data is held to the same
        model.fit(X, y, validation_data=(X, np.full_like(y, np.nan)))


def test_sparse_cross_entropy_makes_one_hot_rows_for_the_batch_only():
    """The gradient of 4 labels over 20,000 classes: one row per label (320 KB), not a 20,000 × 20,000
    table (1.6 GB)."""
    loss = Loss("sparse_categorical_crossentropy")
    p = np.full((4, 20_000), 1 / 20_000, np.float32)
    tracemalloc.start()
    try:
        value, grad = loss.value_and_gradient(np.array([0, 5, 19_999, 7], np.float32), p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 * p.nbytes  # a few tensors of the batch's size
    assert value == pytest.approx(np.log(20_000), rel=1e-5)
    # through q = p / sum(p) (sum 1): (-1/q at the label + 1) / 4 samples, and 1/4 elsewhere
    expected = np.full_like(p, 1 / 4)
    expected[[0, 1, 2, 3], [0, 5, 19_999, 7]] = (1 - 20_000) / 4
    np.testing.assert_allclose(grad, expected, rtol=1e-4)


def diverging_run(halt: bool):
    model = nb.Sequential([nb.Input((2,)), nb.Dense(1)], seed=0)
    model.compile(optimizer=SGD(learning_rate=1e19), loss="mse")
    x = np.array([[1e10, -1e10], [3e9, 2e9]], np.float32)
    return model, model.trainer(
        x, np.array([[1.0], [2.0]], np.float32), batch_size=1, epochs=20, shuffle=False, halt_on_divergence=halt
    )


def test_a_diverged_run_stops_before_its_update_and_keeps_the_last_finite_weights():
    model, run = diverging_run(halt=True)
    kept = []
    with pytest.raises(TrainingError) as e:
        while True:
            kept = model.get_weights()
            run.run(max_batches=1)
    assert str(e.value).startswith(
        "training diverged at epoch 1, batch 1: the update of weight 0 became NaN or infinite, "
        "so training stopped before that step's update took effect"
    )
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    for now, before in zip(model.get_weights(), kept):
        np.testing.assert_array_equal(now, before)  # the failing step changed nothing
    model, run = diverging_run(halt=False)  # Keras's own way: it goes on, and the weights become NaN
    run.run()
    assert not all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_a_step_does_not_touch_every_sample():
    """The trainer cut its batches by building a list of every batch at each call (the app calls once a step:
    20,000 samples at batch 1 made 20,000 lists of 20,000 pairs an epoch). A step now allocates about its batch."""
    model = nb.Sequential([nb.Input((4,)), nb.Dense(1)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((20_000, 4), np.float32)
    run = model.trainer(x, x[:, :1], batch_size=1, shuffle=False)
    run.run(max_batches=2)
    tracemalloc.start()
    try:
        run.run(max_batches=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024, peak


def test_a_csv_row_fills_the_inputs_of_a_model_in_order_then_gives_its_target():
    layers = (LayerSpec.make(0, "Dense", units=2), LayerSpec.make(1, "Concatenate", inputs=(0, -2)))
    spec = ModelSpec((2, 2), layers, more_inputs=((3,),)).validate()
    assert sample_shape(spec) == (7,)
    read = parse_csv("1,2,3,4,5,6,7,0\n8,9,10,11,12,13,14,1\n", sample_shape(spec))
    first, second = inputs_of(spec, read.x)
    np.testing.assert_array_equal(first, [[[1, 2], [3, 4]], [[8, 9], [10, 11]]])
    np.testing.assert_array_equal(second, [[5, 6, 7], [12, 13, 14]])
    np.testing.assert_array_equal(read.y.ravel(), [0, 1])
