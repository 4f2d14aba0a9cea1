"""Training as Keras 3 trains: what a step costs, metrics, sample weights, and the epoch bookkeeping (losses.py holds
the losses and their gradients, re-exported here where they used to be; optimizers.py the updates; callbacks.py the
callbacks the Trainer calls).

Every formula is Keras's own expression (keras/src/losses, keras/src/metrics), and each gradient is what automatic
differentiation of that expression gives. The model's `fit` (engine/fitting.py) drives these.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .callbacks import CallbackList, History  # noqa: F401 (History: what fit returns, long imported from here)
from .cost import StepCost
from .errors import InputDataError, LayerConfigError, TrainingError
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
from .shapes import format_shape

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
# Measured on a 2-core machine (one BLAS thread) where mse's loss takes 231 µs on (256, 1000) outputs and 16 µs on
# (1, 1), and put on the server's scale by mse's LOSS_COSTS entry, (3, 37): a step's callback hooks and the logs they
# are given (History's alone: 4.5 µs a step more than the loop without them; 11 on the server's scale), once per step;
# what sample weights add to an output: its loss weighed (the weights lined up with the values, multiplied in, their
# share for the backward pass: 0.1 operation per output value with a weight per sample or per value, 5.8 µs; 14), and
# each weighted metric's weighted mean (0.1 operation, 5.5 µs; 13). Whole operations, rounded up.
HOOKS_MICROSECONDS = 11
SAMPLE_WEIGHT_COST = (1, 14)
WEIGHTED_MEAN_COST = (1, 13)


def output_cost(loss: Loss, metrics, weighted_metrics=(), sample_weighted: bool = False) -> tuple[int, int]:
    """(operations per output value, microseconds whatever the batch) of one output's loss and metrics in a training
    step, the trainer's bookkeeping included."""
    operations, microseconds = (LOGITS_COSTS if loss.from_logits else LOSS_COSTS)[loss.name]
    extra = [METRIC_COSTS.get(name, ERROR_METRIC_COST) for name in (*metrics, *weighted_metrics)]
    if sample_weighted:
        extra += [SAMPLE_WEIGHT_COST] + [WEIGHTED_MEAN_COST] * len(weighted_metrics)
    return operations + sum(o for o, _ in extra), microseconds + sum(m for _, m in extra) + TRAINER_MICROSECONDS


def step_cost(loss: Loss, metrics, optimizer, weighted_metrics=(), sample_weighted: bool = False) -> StepCost:
    """What a training step of a one-output model compiled with these costs beyond its layers (engine/cost.py counts
    it)."""
    return outputs_step_cost([output_cost(loss, metrics, weighted_metrics, sample_weighted)], optimizer)


def outputs_step_cost(outputs: list[tuple[int, int]], optimizer) -> StepCost:
    """A step's cost beyond the layers from each output's `output_cost`, the callbacks' hooks, and the optimizer's:
    its update of every weight, and its own per step (a learning-rate schedule's)."""
    update_operations, update_microseconds = optimizer.update_cost()
    return StepCost(
        max(operations for operations, _ in outputs),
        sum(microseconds for _, microseconds in outputs) + HOOKS_MICROSECONDS + optimizer.step_microseconds(),
        optimizer.slot_count(),
        update_operations + FINITE_CHECK[0],
        update_microseconds + FINITE_CHECK[1],
    )


# --- metrics ------------------------------------------------------------------------------------------------
RISING = ("accuracy", "acc")  # the metrics that get better as they rise (Keras's _direction "up"); the others fall


def metric_values(name: str, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Keras's per-sample values of metric `name`; "accuracy" picks binary, sparse or categorical by shapes, as Keras
    does."""
    if name in RISING:
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
    """A running mean over batches, as Keras's Mean metric keeps it (a total and a count)."""

    total: float = 0.0
    count: float = 0.0

    def update(self, values, sample_weight=None) -> None:
        """Keras's Mean.update_state: every value counts once, or by its sample's weight (reduce_to_samplewise_values:
        the two lined up, values beyond the weights' axes averaged first, weights beyond the samples' axis after)."""
        if isinstance(sample_weight, int):  # a batch's loss by the batch's size (Keras's loss tracker): every step
            self.total += float(values) * sample_weight
            self.count += sample_weight
            return
        values = np.asarray(values, np.float32)
        if sample_weight is None:
            self.total += float(np.sum(values, dtype=np.float64))
            self.count += values.size
            return
        values, weights = same_rank(values, np.asarray(sample_weight, np.float32))
        if values.ndim > weights.ndim:
            values = np.mean(values, axis=tuple(range(weights.ndim, values.ndim)))
        weights = np.broadcast_to(weights, values.shape)
        values = values * weights
        if weights.ndim > 1:
            weights = np.mean(weights, axis=tuple(range(1, weights.ndim)))
        if values.ndim > 1:
            values = np.mean(values, axis=tuple(range(1, values.ndim)))
        self.total += float(np.sum(values, dtype=np.float64))
        self.count += float(np.sum(weights, dtype=np.float64))

    @property
    def result(self) -> float:
        return self.total / self.count if self.count else 0.0  # divide_no_nan


def accumulate(means: dict[str, Mean], loss: float, values: dict, batch: int) -> None:
    """A batch into the running means: the loss by the batch's size (Keras's loss tracker), every other value by the
    weight Compiled.evaluate gives it beside it."""
    means["loss"].update(loss, batch)
    for key, (value, weight) in values.items():
        means[key].update(value, weight)


def results(means: dict[str, Mean]) -> dict[str, float]:
    return {key: mean.result for key, mean in means.items()}


def batches(samples: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of each batch, the last one partial, as Keras cuts an epoch."""
    return ((start, min(start + batch_size, samples)) for start in range(0, samples, batch_size))


def steps(samples: int, batch_size: int) -> int:
    return math.ceil(samples / batch_size)


# --- sample weights -------------------------------------------------------------------------------------------
def rows(arrays: list | None, index) -> list | None:
    """Each array's rows at `index` (a slice or indices); None stays None."""
    return None if arrays is None else [a[index] for a in arrays]


def loss_and_gradient(
    loss: Loss, y_true: np.ndarray, y_pred: np.ndarray, sample_weight=None
) -> tuple[float, np.ndarray]:
    """The batch loss and its gradient with respect to y_pred: Loss.value_and_gradient, with each value weighed by its
    sample's weight when there are weights, as Keras's reduce_weighted_values weighs it."""
    if sample_weight is None:
        return loss.value_and_gradient(y_true, y_pred)
    t, p = loss.prepare(y_true, y_pred)
    with np.errstate(all="ignore"):
        per, backward, mask = loss.kind.values(loss, t, p)
        value, weights = reduce_weighted(per, mask, sample_weight, loss.reduction)
        grad = backward(weights)
    return float(value), np.asarray(grad, np.float32).reshape(y_pred.shape)


def reduce_weighted(per: np.ndarray, mask, sample_weight, reduction: str) -> tuple[np.ndarray, np.ndarray]:
    """Keras's reduce_weighted_values with sample weights: the loss's mask merged into them (apply_mask), weights and
    values lined up and multiplied, summed, and divided by the products' count ("sum_over_batch_size", "mean"), the
    weights' sum ("mean_with_sample_weight") or 1 ("sum"). (The batch loss, each value's weight in it.)"""
    weights = np.asarray(sample_weight, per.dtype)
    if mask is not None:
        kept = mask.astype(per.dtype)
        if reduction in ("mean", "sum_over_batch_size"):  # a kept position weighs total/valid: the mean is theirs
            valid = np.sum(kept)
            kept = kept * (per.dtype.type(kept.size) / valid if valid else per.dtype.type(0))
        kept, weights = same_rank(kept, weights)
        weights = weights * kept
    values, weights = lined_up(per, weights)
    weighted = values * weights
    if weighted.ndim == 0 or reduction == "sum":  # reduce_values leaves one number as it is
        divisor = per.dtype.type(1)
    elif reduction == "mean_with_sample_weight":
        divisor = np.sum(weights)
    else:
        divisor = per.dtype.type(weighted.size)
    if not divisor:  # divide_no_nan
        return per.dtype.type(0), np.zeros_like(per)
    share = np.broadcast_to(weights / divisor, weighted.shape)
    return np.sum(weighted) / divisor, np.array(_summed_to(share, values.shape), per.dtype).reshape(per.shape)


def lined_up(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras's squeeze_or_expand_to_same_rank of a loss's values and their weights (a last axis of 1 added or removed).
    Keras then multiplies them whatever their axes: weights of another rank, or of a size that does not broadcast,
    would fail there or weigh the wrong axis, so they are refused."""
    v, w = same_rank(values, weights)
    each = "".join(f", {n}" for n in v.shape[1:])
    fits = v.ndim == w.ndim and all(a == b or 1 in (a, b) for a, b in zip(v.shape, w.shape))
    if v.ndim and not fits:
        raise InputDataError(
            f"sample weights of shape {format_shape(w.shape[1:])} per sample cannot weigh a loss whose values have "
            f"shape {format_shape(v.shape[1:])} per sample: Keras lines their ranks up (a last axis of 1 added or "
            "removed) and multiplies them, which would fail or weigh the wrong axis. Give one weight per sample, of "
            f"shape (samples,) or (samples, 1), or one per value, of shape (samples{each})"
        )
    return v, w


def _summed_to(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """A gradient of a broadcast product summed back to the shape of the factor that was broadcast."""
    if not shape:
        return np.sum(grad)
    axes = tuple(i for i, (a, b) in enumerate(zip(grad.shape, shape)) if a != b)
    return np.sum(grad, axis=axes, keepdims=True) if axes else grad


def class_weights(class_weight, y: np.ndarray) -> np.ndarray:
    """Keras's class_weight_to_sample_weights: each sample weighs its class's weight, 1 for a class the dict leaves
    out; its class is its target rounded, or the largest entry's index of a one-hot target."""
    if not isinstance(class_weight, dict):
        raise LayerConfigError(
            f"class_weight must be a dict from class indices to weights, such as {{0: 1.0, 1: 5.0}}; received a "
            f"{type(class_weight).__name__}"
        )
    for key, value in class_weight.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
            raise LayerConfigError(  # Keras looks classes up as integers: another key would be ignored, silently
                f"class_weight's keys must be class indices (integers); received {str(key)[:20]!r}"
            )
        if (
            isinstance(value, (bool, np.bool_))
            or not isinstance(value, (int, float, np.number))
            or not np.isfinite(value)
        ):
            raise LayerConfigError(f"class_weight[{key}] must be a finite number; received {str(value)[:20]!r}")
    shape, y = y.shape, (np.argmax(y, axis=-1) if y.shape[-1:] != (1,) else y[..., 0]) if y.ndim > 1 else y
    if y.ndim != 1:
        raise InputDataError(
            "class_weight needs one class per sample: targets of shape (samples,), (samples, 1) or one-hot (samples, "
            f"classes); these have shape {format_shape(shape[1:])} per sample"
        )
    classes, where = np.unique(np.round(y).astype(np.int32), return_inverse=True)
    table = np.array([class_weight.get(int(c), 1.0) for c in classes], np.float32)
    return table[where.reshape(-1)]


# --- a training run, in pieces ----------------------------------------------------------------------------
class Trainer:
    """One `fit` run that can go on piece by piece (`run(max_batches)`), keeping its place between pieces.

    Keras's bookkeeping: an epoch's loss is the batch-size-weighted mean of each batch's loss (weighted by the samples'
    weights within the batch), computed before that batch's update; metrics are the mean of their per-sample values
    over the epoch (weighted metrics: weighted by the samples' weights); validation runs in inference mode at each
    epoch's end. The callbacks are called at Keras's points (callbacks.py): one that sets `model.stop_training` ends
    the run after that batch's epoch (`stopped_early`). The run ends as Keras's fit ends: with use_ema the weights
    become their moving averages, then on_train_end. With `halt_on_divergence` (netbuilder's own; the app's runs), a
    loss or gradient that is no longer a finite number stops the run before its update. `xs`, `ys` and
    `sample_weights` hold one array per model input and output; `validation` is (xs, ys, sample weights or None)."""

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
        sample_weights: list | None = None,
        callbacks=None,
        verbose="auto",
        fit: bool = True,
    ):
        self.model, self.xs, self.ys, self.sample_weights = model, xs, ys, sample_weights
        self.samples = len(xs[0])
        self.halt_on_divergence = halt_on_divergence  # stop at a non-finite loss or gradient, before its update
        self.batch_size, self.epochs, self.validation, self.shuffle = batch_size, epochs, validation, shuffle
        self.validation_batch_size = validation_batch_size or batch_size  # Keras's default
        self.rng = rng  # the compiled model's stream (shuffles, dropout masks): it goes on from the last run
        self.fit = fit  # False: train_on_batch's step, which leaves the model's History and moving averages alone
        params = {"verbose": verbose, "epochs": epochs, "steps": steps(self.samples, batch_size)}
        self.callbacks = CallbackList(callbacks, add_history=fit, model=model, **params)
        self.history = self.callbacks.history  # None in train_on_batch's step
        self.epoch, self.batch = 0, 0
        self.began = self.finished = self.stopped_early = self._closed = False
        self.last_loss = None  # the loss of the batch trained last (before its update)
        self.watch_gradients = watch_gradients  # keep each step's gradient norms (the app shows them)
        self.gradient_norms: list[float] = []  # of the step trained last, one per trainable weight: √Σg²
        self._order = None
        self.logs: dict[str, float] = {}  # the last epoch's (validation's "val_..." included)
        self._new_epoch()

    @property
    def done(self) -> bool:
        """No batch is left: the last epoch has ended, or a callback stopped the run."""
        return self.epoch >= self.epochs or self.stopped_early

    @property
    def progress(self) -> float:
        if self.done:
            return 1.0
        total = self.epochs * max(1, steps(self.samples, self.batch_size))
        return min(1.0, (self.epoch * steps(self.samples, self.batch_size) + self.batch) / total)

    def _new_epoch(self) -> None:
        self._order = self.rng.permutation(self.samples) if self.shuffle else np.arange(self.samples)
        self._means = {key: Mean() for key in self.model.compiled.keys()}
        self.batch = 0

    def run(self, max_batches: int | None = None, checkpoint=None) -> None:
        """Train on up to `max_batches` batches (all that remain when None); stop early if `checkpoint` raises."""
        if not self.began:
            self._begin()
        done = 0
        while not self.done and (max_batches is None or done < max_batches):
            self._step()
            done += 1
            if checkpoint is not None:
                checkpoint()
        if self.done and not self.finished:
            self._finish()

    def _begin(self) -> None:
        """Keras's fit before its first epoch: stop_training cleared and the History on the model, on_train_begin."""
        self.began = True
        if self.fit:
            self.model.stop_training = False
            self.model.history = self.history
        self.callbacks.on_train_begin()

    def _step(self) -> None:
        """One batch: batch k of the epoch as Keras cuts it (the last one partial), its update and the callbacks."""
        if self.batch == 0:
            self.callbacks.on_epoch_begin(self.epoch)
        self.callbacks.on_train_batch_begin(self.batch)
        start = self.batch * self.batch_size
        stop = min(start + self.batch_size, self.samples)
        index = self._order[start:stop]
        xs, ys = [a[index] for a in self.xs], [a[index] for a in self.ys]
        loss, values, weights, grads = self.model._gradients(xs, ys, self.rng, rows(self.sample_weights, index))
        loss = self.model.penalised(loss, weights, grads)
        if self.watch_gradients:  # the gradients the update uses, before it (np.vdot: no temporary)
            self.gradient_norms = [math.sqrt(float(np.vdot(g.ravel(), g.ravel()))) for g in grads]
        if self.halt_on_divergence:
            self._check_finite(loss, grads)
        overflowed = self.model.optimizer.apply(weights, grads, keep_finite=self.halt_on_divergence)
        if overflowed is not None:
            self._diverged(f"update of weight {overflowed}", "NaN or infinite")
        self.last_loss = loss
        accumulate(self._means, loss, values, stop - start)
        self.batch += 1
        self.callbacks.on_train_batch_end(self.batch - 1, results(self._means))
        if stop == self.samples or (self.fit and self.model.stop_training):  # a stop ends the epoch here
            self._end_epoch()

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
        logs = results(self._means)
        if self.validation is not None:
            vx, vy, vw = self.validation
            values = self.model.evaluate_arrays(vx, vy, self.validation_batch_size, vw, self.callbacks)
            logs.update({f"val_{k}": v for k, v in values.items()})
        self.callbacks.on_epoch_end(self.epoch, logs)
        self.logs = logs
        self.epoch += 1
        self.stopped_early = self.fit and self.model.stop_training and self.epoch < self.epochs
        if not self.done:
            self._new_epoch()

    def _finish(self) -> None:
        """Keras's fit after its last epoch: the moving averages written (`close`), then on_train_end."""
        self.close()
        self.finished = True
        self.callbacks.on_train_end(self.logs)

    def close(self) -> None:
        """What Keras's fit does last, even after an error: with use_ema, the weights become their moving averages
        (once; fit's runs with epochs only)."""
        if self.fit and self.epochs > 0 and not self._closed:
            self._closed = True
            self.model.optimizer.finalize_variable_values(self.model._trainable_weights())
