"""Training as Keras 3 trains: what a step costs, metrics, and the epoch bookkeeping (losses.py holds the losses and
their gradients, re-exported here where they used to be; optimizers.py the updates).

Every formula is Keras's own expression (keras/src/losses, keras/src/metrics), and each gradient is what automatic
differentiation of that expression gives. The model's `fit` (engine/model.py) drives these.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .cost import StepCost
from .errors import LayerConfigError, TrainingError
from .losses import (  # noqa: F401 (re-exported: the losses were defined here, and are still imported from here)
    CROSSENTROPIES,
    EPSILON,
    LOGITS_COSTS,
    LOSS_COSTS,
    LOSS_NAMES,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Huber,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
    check_labels,
    get_loss,
    same_rank,
)

METRIC_LOSSES = {
    "mse": "mean_squared_error",
    "MSE": "mean_squared_error",
    "mean_squared_error": "mean_squared_error",
    "mae": "mean_absolute_error",
    "MAE": "mean_absolute_error",
    "mean_absolute_error": "mean_absolute_error",
}


# --- what a step costs beyond the layers ------------------------------------------------------------------------
# Measured on the server (one BLAS thread) and rounded up by half: each loss's value and gradient (LOSS_COSTS and
# LOGITS_COSTS, declared with each loss in engine/losses.py), and each metric's values, as (operations per output
# value, on (256, 1000) outputs; microseconds of its NumPy calls whatever the batch, on (1, 1) and (1, 10) outputs).
METRIC_COSTS = {
    "accuracy": (1, 25),
    "acc": (1, 25),
}  # binary accuracy lines up its shapes first: its calls are the slow part
ERROR_METRIC_COST = (3, 20)  # mae and mse
TRAINER_MICROSECONDS = 20  # the trainer's own work on a step: gathering the batch, the running means, the loop
FINITE_CHECK = (
    1,
    6,
)  # halt_on_divergence's look at each gradient: (operations per trainable value, microseconds per array)


def step_cost(loss: Loss, metrics: list[str], optimizer) -> StepCost:
    """What a training step of a model compiled with these costs beyond its layers (engine/cost.py counts it)."""
    operations, microseconds = (LOGITS_COSTS if loss.from_logits else LOSS_COSTS)[loss.name]
    for name in metrics:
        more, calls = METRIC_COSTS.get(name, ERROR_METRIC_COST)
        operations, microseconds = operations + more, microseconds + calls
    update_operations, update_microseconds = optimizer.update_cost()
    return StepCost(
        operations,
        microseconds + TRAINER_MICROSECONDS,
        optimizer.slot_count(),
        update_operations + FINITE_CHECK[0],
        update_microseconds + FINITE_CHECK[1],
    )


# --- metrics ------------------------------------------------------------------------------------------------
def metric_values(name: str, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Keras's per-sample values of metric `name`; "accuracy" picks binary, sparse or categorical by shapes, as Keras
    does."""
    if name in ("accuracy", "acc"):
        binary = y_pred.shape[-1] == 1
        sparse = y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1)
        if binary:
            t, p = same_rank(y_true, y_pred)
            return np.mean(np.equal(t, (p > 0.5).astype(t.dtype)).astype(np.float32), axis=-1)
        if sparse:
            t = y_true[..., 0] if y_true.ndim == y_pred.ndim else y_true
            return np.equal(t.astype(np.int64), np.argmax(y_pred, axis=-1)).astype(np.float32)
        return np.equal(np.argmax(y_true, axis=-1), np.argmax(y_pred, axis=-1)).astype(np.float32)
    if name in METRIC_LOSSES:
        return Loss(METRIC_LOSSES[name]).per_sample(y_true, y_pred)
    raise LayerConfigError(f"unknown metric {str(name)[:40]!r}; netbuilder reports accuracy, mae and mse")


@dataclass
class Mean:
    """A running mean over batches, as Keras's Mean metric keeps it (total and count)."""

    total: float = 0.0
    count: float = 0.0

    def add(self, values, weight: float = 1.0) -> None:
        values = np.asarray(values, dtype=np.float32)
        self.total += float(np.sum(values, dtype=np.float64)) * weight
        self.count += values.size * weight

    @property
    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


def batches(samples: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of each batch, the last one partial, as Keras cuts an epoch."""
    return ((start, min(start + batch_size, samples)) for start in range(0, samples, batch_size))


def steps(samples: int, batch_size: int) -> int:
    return math.ceil(samples / batch_size)


# --- a training run, in pieces ----------------------------------------------------------------------------
class History:
    """What `fit` returns, as Keras's History: `.history` maps "loss", metrics and "val_..." to per-epoch values."""

    def __init__(self, params: dict):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params = params

    def record(self, epoch: int, logs: dict) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)


class Trainer:
    """One `fit` run that can go on piece by piece (`run(max_batches)`), keeping its place between pieces.

    Keras's bookkeeping: an epoch's loss is the batch-size-weighted mean of each batch's loss, computed
    before that batch's update; metrics are the mean of their per-sample values over the epoch;
    validation runs in inference mode at each epoch's end. With `halt_on_divergence` (netbuilder's own; the app's
    runs), a loss or gradient that is no longer a finite number stops the run before its update. `xs` and `ys` hold
    one array per model input and output."""

    def __init__(
        self,
        model,
        xs: list,
        ys: list,
        batch_size,
        epochs,
        validation,
        shuffle,
        rng: np.random.Generator,
        validation_batch_size=None,
        halt_on_divergence=False,
        watch_gradients=False,
    ):
        self.model, self.xs, self.ys = model, xs, ys
        self.samples = len(xs[0])
        self.halt_on_divergence = halt_on_divergence  # stop at a non-finite loss or gradient, before its update
        self.batch_size, self.epochs, self.validation, self.shuffle = batch_size, epochs, validation, shuffle
        self.validation_batch_size = validation_batch_size or batch_size  # Keras's default
        self.rng = rng  # the compiled model's stream (shuffles, dropout masks): it goes on from the last run
        self.history = History({"epochs": epochs, "steps": steps(self.samples, batch_size)})
        self.epoch, self.batch = 0, 0
        self.last_loss = None  # the loss of the batch trained last (before its update)
        self.watch_gradients = watch_gradients  # keep each step's gradient norms (the app shows them)
        self.gradient_norms: list[float] = []  # of the step trained last, one per trainable weight: √Σg²
        self._order = None
        self._new_epoch()

    @property
    def done(self) -> bool:
        return self.epoch >= self.epochs

    @property
    def progress(self) -> float:
        total = self.epochs * max(1, steps(self.samples, self.batch_size))
        return min(1.0, (self.epoch * steps(self.samples, self.batch_size) + self.batch) / total)

    def _new_epoch(self) -> None:
        self._order = self.rng.permutation(self.samples) if self.shuffle else np.arange(self.samples)
        self._means = {key: Mean() for key in self.model.compiled.keys()}
        self.batch = 0

    def run(self, max_batches: int | None = None, checkpoint=None) -> None:
        """Train on up to `max_batches` batches (all that remain when None); stop early if `checkpoint` raises."""
        done = 0
        while not self.done and (max_batches is None or done < max_batches):
            start = self.batch * self.batch_size  # batch k of an epoch, as Keras cuts it (the last one partial)
            stop = min(start + self.batch_size, self.samples)
            index = self._order[start:stop]
            xs, ys = [a[index] for a in self.xs], [a[index] for a in self.ys]
            loss, values, weights, grads = self.model._gradients(xs, ys, self.rng)
            loss = self.model.penalised(loss, weights, grads)
            if self.watch_gradients:  # the gradients the update uses, before it (np.vdot: no temporary)
                self.gradient_norms = [math.sqrt(float(np.vdot(g.ravel(), g.ravel()))) for g in grads]
            if self.halt_on_divergence:
                self._check_finite(loss, grads)
            overflowed = self.model.optimizer.apply(weights, grads, keep_finite=self.halt_on_divergence)
            if overflowed is not None:
                self._diverged(f"update of weight {overflowed}", "NaN or infinite")
            self.last_loss = loss
            self._means["loss"].add(loss, weight=stop - start)
            for key, value in values.items():  # an output's loss is the batch's mean; a metric, per sample
                self._means[key].add(value, weight=stop - start) if np.ndim(value) == 0 else self._means[key].add(value)
            self.batch += 1
            done += 1
            if stop == self.samples:
                self._end_epoch()
            if checkpoint is not None:
                checkpoint()

    def _check_finite(self, loss: float, grads: list[np.ndarray]) -> None:
        """TrainingError, before the update, when the loss or a gradient is no longer a finite number: the weights stay
        the last ones that gave finite numbers (Keras would go on, and every weight would become NaN)."""
        if not math.isfinite(loss):
            self._diverged("loss", f"{loss}")
        bad = next((k for k, g in enumerate(grads) if not np.all(np.isfinite(g))), None)
        if bad is not None:
            self._diverged(f"gradient of weight {bad}", "NaN or infinite")

    def _diverged(self, what: str, value: str):
        raise TrainingError(
            f"training diverged at epoch {self.epoch + 1}, batch {self.batch + 1}: the {what} became {value}, so "
            "training stopped before that step's update took effect (a smaller learning rate, or inputs scaled to "
            "about −1 to 1, usually helps)"
        )

    def _end_epoch(self) -> None:
        logs = {key: mean.result for key, mean in self._means.items()}
        if self.validation is not None:
            values = self.model.evaluate_arrays(*self.validation, self.validation_batch_size)
            logs.update({f"val_{k}": v for k, v in values.items()})
        self.history.record(self.epoch, logs)
        self.epoch += 1
        if not self.done:
            self._new_epoch()
