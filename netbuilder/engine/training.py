"""Training as Keras 3 trains: losses with their gradients, metrics, and the epoch bookkeeping (optimizers.py updates).

Every formula is Keras's own expression (keras/src/losses, keras/src/optimizers, the JAX backend's nn
functions), and each gradient is what automatic differentiation of that expression gives — clipping
included (a clipped probability passes no gradient). The model's `fit` (engine/model.py) drives these.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .arguments import refuse_unhonoured
from .cost import StepCost
from .errors import InputDataError, LayerConfigError, TrainingError
from .shapes import format_shape

EPSILON = np.float32(1e-7)  # keras.backend.epsilon()


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


# --- losses -------------------------------------------------------------------------------------------------
# Keras's names for the losses netbuilder has (keras.losses.get): function names, class names, and its short aliases
LOSS_NAMES = {
    "mean_squared_error": "mean_squared_error",
    "MeanSquaredError": "mean_squared_error",
    "mse": "mean_squared_error",
    "MSE": "mean_squared_error",
    "mean_absolute_error": "mean_absolute_error",
    "MeanAbsoluteError": "mean_absolute_error",
    "mae": "mean_absolute_error",
    "MAE": "mean_absolute_error",
    "huber": "huber",
    "Huber": "huber",
    "binary_crossentropy": "binary_crossentropy",
    "BinaryCrossentropy": "binary_crossentropy",
    "bce": "binary_crossentropy",
    "BCE": "binary_crossentropy",
    "categorical_crossentropy": "categorical_crossentropy",
    "CategoricalCrossentropy": "categorical_crossentropy",
    "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
}
CROSSENTROPIES = (
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
)  # take from_logits


@dataclass(frozen=True)
class Loss:
    """A Keras loss by any of Keras's names ("mse", "huber", ...): per-sample values, and ∂(mean loss)/∂y_pred for a
    batch.

    `from_logits` only for the cross-entropies and `delta` only for huber, as Keras has them; both checked here, so a
    loss that cannot be computed never reaches a training step."""

    name: str
    from_logits: bool = False
    delta: float = 1.0  # huber

    def __post_init__(self):
        name = LOSS_NAMES.get(self.name) if isinstance(self.name, str) else None
        if name is None:
            raise LayerConfigError(
                f"unknown loss {str(self.name)[:40]!r}; netbuilder trains with mean_squared_error (mse), "
                "mean_absolute_error (mae), huber, binary_crossentropy (bce), categorical_crossentropy and "
                "sparse_categorical_crossentropy, or the classes of netbuilder.losses"
            )
        object.__setattr__(self, "name", name)  # Keras's function name, whichever alias was given
        if not isinstance(self.from_logits, (bool, np.bool_)):
            raise LayerConfigError(f"from_logits must be True or False; received {str(self.from_logits)[:20]}")
        if self.from_logits and name not in CROSSENTROPIES:
            raise LayerConfigError(f"{name} has no from_logits in Keras: only the cross-entropies take logits")
        delta = self.delta
        if (
            isinstance(delta, (bool, np.bool_))
            or not isinstance(delta, (int, float, np.number))
            or not 0 < delta < math.inf
        ):
            raise LayerConfigError(f"huber's delta must be a number above 0; received {str(delta)[:20]}")
        if delta != 1.0 and name != "huber":
            raise LayerConfigError(f"{name} has no delta in Keras: only huber has one")

    def prepare(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.name == "sparse_categorical_crossentropy":
            if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
                y_true = y_true[..., 0]
            if y_true.shape != y_pred.shape[:-1]:
                raise InputDataError(
                    "Arguments `target` and `output` must have the same shape up until the last dimension: "
                    f"target.shape={y_true.shape}, output.shape={y_pred.shape}"
                )
            return y_true, y_pred
        if self.name in ("binary_crossentropy", "categorical_crossentropy"):
            if self.name == "binary_crossentropy":
                y_true, y_pred = same_rank(y_true, y_pred)
            if y_true.shape != y_pred.shape:
                raise InputDataError(
                    f"Arguments `target` and `output` must have the same shape. Received: "
                    f"target.shape={y_true.shape}, output.shape={y_pred.shape}"
                )
            return y_true, y_pred
        y_true, y_pred = same_rank(y_true, y_pred)
        if y_true.shape != y_pred.shape:
            raise InputDataError(f"targets of shape {y_true.shape} do not match predictions of shape {y_pred.shape}")
        return y_true, y_pred

    def check_targets(self, y_true: np.ndarray, output_shape: tuple) -> None:
        """InputDataError when targets cannot train a model with `output_shape` under this loss, said before a step:
        a shape the loss refuses, a class label out of range, a value that is not a finite number."""
        sparse = self.name == "sparse_categorical_crossentropy"
        if y_true.size and not sparse and not np.all(np.isfinite(y_true)):
            bad = np.count_nonzero(~np.isfinite(y_true))
            raise InputDataError(f"the targets hold {bad:,} NaN or infinite value(s); training needs finite numbers")
        per_sample = tuple(output_shape[1:])
        try:
            self.prepare(y_true[:1], np.zeros((1, *per_sample), np.float32))
        except InputDataError:
            want = (
                f"one class label per sample (a whole number from 0 to {per_sample[-1] - 1})"
                if sparse
                else f"a target of the output's shape {format_shape(per_sample)} per sample"
            )
            raise InputDataError(
                f"{self.name} needs {want}; these targets have shape {format_shape(y_true.shape[1:])} per "
                f"sample (the model's output is {format_shape(output_shape)})"
            ) from None
        if sparse:
            check_labels(y_true, per_sample[-1])

    def per_sample(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Keras's loss function before reduction: one value per position of y_pred.shape[:-1]."""
        t, p = self.prepare(y_true, y_pred)
        return self._values(t, p)[0]

    def value_and_gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, np.ndarray]:
        """The batch loss (sum over batch size) and its gradient with respect to y_pred (shape of y_pred)."""
        t, p = self.prepare(y_true, y_pred)
        per, grad = self._values(t, p)
        count = np.float32(max(per.size, 1))
        return float(np.sum(per, dtype=np.float32) / count), (grad / count).astype(np.float32).reshape(y_pred.shape)

    def _values(self, t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(per-position loss, ∂ sum(per-position loss)/∂p)."""
        n = np.float32(p.shape[-1]) if p.ndim else np.float32(1)
        name = self.name
        if name == "mean_squared_error":
            e = t - p
            return np.mean(np.square(e), axis=-1), -2 * e / n
        if name == "mean_absolute_error":
            e = t - p
            return np.mean(np.abs(e), axis=-1), -np.sign(e) / n
        if name == "huber":
            e = p - t
            a = np.abs(e)
            d = np.float32(self.delta)
            inside = a <= d
            values = np.where(inside, np.float32(0.5) * np.square(e), d * a - np.float32(0.5) * np.square(d))
            return np.mean(values, axis=-1), np.where(inside, e, d * np.sign(e)) / n
        if name == "binary_crossentropy":
            if self.from_logits:
                s = 1 / (1 + np.exp(-p))
                values = -t * _log_sigmoid(p) - (1 - t) * _log_sigmoid(-p)
                return np.mean(values, axis=-1), (s - t) / n
            o = np.clip(p, EPSILON, 1 - EPSILON)
            values = -(t * np.log(o) + (1 - t) * np.log(1 - o))
            inside = (p >= EPSILON) & (p <= 1 - EPSILON)
            return np.mean(values, axis=-1), np.where(inside, -(t / o) + (1 - t) / (1 - o), 0) / n
        if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
            if name == "sparse_categorical_crossentropy":
                t = _one_hot(t, p.shape[-1])
            if self.from_logits:
                m = np.max(p, axis=-1, keepdims=True)
                shifted = p - m
                lse = np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
                log_prob = shifted - lse
                soft = np.exp(log_prob)
                return -np.sum(t * log_prob, axis=-1), soft * np.sum(t, axis=-1, keepdims=True) - t
            total = np.sum(p, axis=-1, keepdims=True)
            q = p / total
            c = np.clip(q, EPSILON, 1 - EPSILON)
            g = np.where((q >= EPSILON) & (q <= 1 - EPSILON), -t / c, 0)  # ∂/∂q of -Σ t log clip(q)
            return -np.sum(t * np.log(c), axis=-1), (g - np.sum(g * q, axis=-1, keepdims=True)) / total
        raise LayerConfigError(f"unknown loss {name!r}")


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(np.float32(0), -x)


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


def _keras_arguments(cls: str, given: dict, takes: str, **defaults) -> None:
    """Refuse Keras loss arguments netbuilder does not implement unless at their defaults, and unknown ones (`name`,
    and `dtype` float32, change nothing)."""
    given = {k: v for k, v in given.items() if k != "name" and not (k == "dtype" and v in ("float32", np.float32))}
    refuse_unhonoured(cls, given, {"reduction": "sum_over_batch_size", "dtype": None, **defaults}, takes)


class MeanSquaredError(Loss):
    """keras.losses.MeanSquaredError(): mean((y_true − y_pred)²) over the last axis."""

    def __init__(self, **keras_arguments):
        _keras_arguments("MeanSquaredError", keras_arguments, "no arguments")
        super().__init__("mean_squared_error")


class MeanAbsoluteError(Loss):
    """keras.losses.MeanAbsoluteError(): mean(|y_true − y_pred|) over the last axis."""

    def __init__(self, **keras_arguments):
        _keras_arguments("MeanAbsoluteError", keras_arguments, "no arguments")
        super().__init__("mean_absolute_error")


class Huber(Loss):
    """keras.losses.Huber(delta=1.0): quadratic within delta of the target, linear beyond."""

    def __init__(self, delta=1.0, **keras_arguments):
        _keras_arguments("Huber", keras_arguments, "delta")
        super().__init__("huber", delta=delta)


class BinaryCrossentropy(Loss):
    """keras.losses.BinaryCrossentropy(from_logits=False): probabilities, or logits with from_logits=True."""

    def __init__(self, from_logits=False, **keras_arguments):
        _keras_arguments("BinaryCrossentropy", keras_arguments, "from_logits", label_smoothing=0.0, axis=-1)
        super().__init__("binary_crossentropy", from_logits=from_logits)


class CategoricalCrossentropy(Loss):
    """keras.losses.CategoricalCrossentropy(from_logits=False): one-hot targets."""

    def __init__(self, from_logits=False, **keras_arguments):
        _keras_arguments("CategoricalCrossentropy", keras_arguments, "from_logits", label_smoothing=0.0, axis=-1)
        super().__init__("categorical_crossentropy", from_logits=from_logits)


class SparseCategoricalCrossentropy(Loss):
    """keras.losses.SparseCategoricalCrossentropy(from_logits=False): integer class targets."""

    def __init__(self, from_logits=False, **keras_arguments):
        _keras_arguments("SparseCategoricalCrossentropy", keras_arguments, "from_logits", ignore_class=None, axis=-1)
        super().__init__("sparse_categorical_crossentropy", from_logits=from_logits)


def get_loss(identifier) -> Loss:
    """A loss by any of Keras's names (`"mse"`, `"BinaryCrossentropy"`, ...) or a Loss itself."""
    return identifier if isinstance(identifier, Loss) else Loss(identifier)


METRIC_LOSSES = {
    "mse": "mean_squared_error",
    "MSE": "mean_squared_error",
    "mean_squared_error": "mean_squared_error",
    "mae": "mean_absolute_error",
    "MAE": "mean_absolute_error",
    "mean_absolute_error": "mean_absolute_error",
}


# --- what a step costs beyond the layers ------------------------------------------------------------------------
# Measured on the server (one BLAS thread) and rounded up by half: each loss's value and gradient, and each metric's
# values, as (operations per output value, on (256, 1000) outputs; microseconds of its NumPy calls whatever the batch,
# on (1, 1) and (1, 10) outputs). With logits, binary cross-entropy's two log-sigmoids are the expensive part.
LOSS_COSTS = {
    "mean_squared_error": (3, 25),
    "mean_absolute_error": (4, 25),
    "huber": (8, 40),
    "binary_crossentropy": (9, 45),
    "categorical_crossentropy": (8, 50),
    "sparse_categorical_crossentropy": (9, 55),
}
LOGITS_COSTS = {
    "binary_crossentropy": (70, 40),
    "categorical_crossentropy": (7, 45),
    "sparse_categorical_crossentropy": (8, 50),
}
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
