"""Keras's compile, fit, evaluate and train_on_batch, for any model with one or several inputs and outputs.

A model gives its data and its gradients (`_feed`, `_outputs`, `_gradients`, `_inference`, `_trainable_weights`);
this turns Keras's arguments into a `Compiled` description — a loss and a weight per output, metrics per output, the
names Keras logs them under — and drives the training run (engine/training.py's Trainer). As in Keras: one loss
given for several outputs is each output's; an epoch's loss is the weighted sum of the outputs' losses, each output's
own loss is logged unweighted as `<output>_loss`, and its metrics as `<output>_<metric>`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import optimizers, training
from .arguments import refuse_unhonoured
from .cost import StepCost
from .errors import InputDataError, LayerConfigError, LimitError
from .budget import UNBOUNDED, current, over


@dataclass(frozen=True)
class Compiled:
    """What compile was given, one entry per output: its name, loss, loss weight and metrics."""

    names: tuple[str, ...]
    losses: tuple[training.Loss, ...]
    weights: tuple[float, ...]
    metrics: tuple[tuple[str, ...], ...]

    def keys(self) -> list[str]:
        """The History's keys, in the order Keras returns their values as a list: the loss, each output's own loss (of
        several outputs) in the outputs' order, then the metrics sorted by name (Keras's compile_metrics)."""
        if len(self.names) == 1:
            return ["loss", *sorted(self.metrics[0])]
        return [
            "loss",
            *(f"{name}_loss" for name in self.names),
            *sorted(f"{name}_{m}" for name, metrics in zip(self.names, self.metrics) for m in metrics),
        ]

    def evaluate(self, ys: list[np.ndarray], preds: list[np.ndarray], gradients: bool) -> tuple[float, list, dict]:
        """(the weighted sum of the outputs' losses, each output's gradient scaled by its weight (when asked), each
        output's own loss and every metric's per-sample values, keyed as the History is)."""
        total, grads, values = 0.0, [], {}
        several = len(self.names) > 1
        for name, loss, weight, metrics, y, p in zip(self.names, self.losses, self.weights, self.metrics, ys, preds):
            value, grad = loss.value_and_gradient(y, p)
            total += weight * value
            grads.append(grad * np.float32(weight) if gradients and weight != 1 else grad)
            if several:
                values[f"{name}_loss"] = value
            for metric in metrics:
                values[f"{name}_{metric}" if several else metric] = training.metric_values(metric, y, p)
        return float(np.float32(total)), grads, values

    def step_cost(self, optimizer) -> StepCost:
        """A step's cost beyond the layers: every output's loss and metrics, and the optimizer."""
        costs = [training.step_cost(loss, list(metrics), optimizer) for loss, metrics in zip(self.losses, self.metrics)]
        first = costs[0]
        return StepCost(
            max(c.output_operations for c in costs),
            sum(c.microseconds for c in costs),
            first.slots,
            first.update_operations,
            first.update_microseconds,
        )


def _per_output(value, names: list[str], what: str) -> list:
    """Keras's structures for compile's arguments: one value for every output, a list in the outputs' order, or a dict
    by output name (outputs it leaves out get None)."""
    if isinstance(value, dict):
        unknown = [str(k) for k in value if k not in names]
        if unknown:
            raise LayerConfigError(f"compile({what}=...) names outputs {unknown[:5]}; the model's outputs are {names}")
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise LayerConfigError(
                f"compile({what}=...) must hold one entry per output ({len(names)}: {names}); received {len(value)}"
            )
        return list(value)
    return [value] * len(names)


def compiled(loss, loss_weights, metrics, names: list[str]) -> Compiled:
    """A Compiled from compile's arguments, checked the way Keras checks them, each refusal naming what is allowed."""
    if loss is None:
        raise LayerConfigError("You must call `compile()` with a loss before training or evaluating the model.")
    single_loss = not isinstance(loss, (list, tuple, dict))
    if loss_weights is not None and single_loss and len(names) > 1:
        raise LayerConfigError(
            f"`loss_weights` must match the number of losses, got 1 losses and {len(names)} weights."
        )
    losses = [training.get_loss(x) if x is not None else None for x in _per_output(loss, names, "loss")]
    if any(x is None for x in losses):
        raise LayerConfigError(f"compile(loss=...) must give every output a loss; {names} need one each")
    if isinstance(loss_weights, (list, tuple)) and len(loss_weights) == len(names) == 1:
        loss_weights = loss_weights[0]  # one output, one weight in a list
    weights = _per_output(1.0 if loss_weights is None else loss_weights, names, "loss_weights")
    weights = [1.0 if w is None else w for w in weights]
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not np.isfinite(w) or w < 0:
            raise LayerConfigError(f"loss weights must be numbers of at least 0; received {str(w)[:20]}")
    if (
        isinstance(metrics, (list, tuple))
        and len(names) > 1
        and not all(isinstance(m, (list, tuple)) for m in metrics)
        and len(metrics) != len(names)
    ):
        raise LayerConfigError(
            f"Invalid `metrics`: for a model with several outputs give a dict or a list matching the "
            f"output names {names}; received {list(metrics)[:5]}"
        )
    per = _per_output(metrics, names, "metrics") if len(names) > 1 and metrics else [metrics or []] * len(names)
    lists = [tuple(str(m) for m in (x if isinstance(x, (list, tuple)) else [x] if x is not None else [])) for x in per]
    for metric in {m for group in lists for m in group}:
        training.metric_values(
            metric, np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32)
        )  # refuses unknown names
    return Compiled(tuple(names), tuple(losses), tuple(float(w) for w in weights), tuple(lists))


def _leaves(model) -> list:
    """Every layer of a model, those of models inside it too."""
    return [leaf for layer in model.layers for leaf in (_leaves(layer) if layer.is_model else [layer])]


def _refuse_kept(model) -> None:
    """Regularizers and constraints read from Keras JSON change Keras's training: refused by name, never ignored."""
    kept = [f"{layer.name}: {key}" for layer in _leaves(model) for key in layer.keras_kept]
    if kept:
        raise LayerConfigError(
            f"netbuilder does not apply regularizers or constraints, so training this model would differ from Keras's "
            f"({', '.join(kept[:5])}{', …' if len(kept) > 5 else ''}). Shapes, parameters and predict are Keras's; "
            "set them to None to train here."
        )


class Trainable:
    """compile, fit, evaluate, train_on_batch and trainer, over the data hooks a model class defines."""

    compiled: Compiled | None = None  # set by compile

    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
        run_eagerly=False,
        steps_per_execution=1,
        jit_compile="auto",
        auto_scale_loss=True,
        **unknown,
    ) -> None:
        """Keras's compile: an optimizer (a name such as "sgd", "adam", or an optimizer object), a loss (a name such as
        "mse", or a netbuilder.losses object) for every output or one per output (a list or a dict), loss_weights, and
        metrics ("accuracy", "mae", "mse"). run_eagerly, steps_per_execution, jit_compile and auto_scale_loss change how
        Keras runs, not what it computes: accepted, and nothing changes."""
        refuse("compile", unknown, weighted_metrics=weighted_metrics or None)
        _refuse_kept(self)
        chosen = optimizers.get_optimizer(optimizer)
        names = [name for name, _ in self._outputs()]
        self.compiled = compiled(loss, loss_weights, metrics, names) if loss is not None else None
        self.optimizer = chosen
        self.loss = (
            self.compiled.losses[0]
            if self.compiled and len(names) == 1
            else (self.compiled.losses if self.compiled else None)
        )
        self.metrics_names = [k for k in self.compiled.keys() if k != "loss"] if self.compiled else []
        # one random stream per compiled model that goes on across fit and train_on_batch calls, as Keras's
        # SeedGenerator does (shuffles and Dropout masks never repeat), and starts afresh from the seed on compile
        self._rng = np.random.default_rng([self.seed, 1])
        self.compile_config = {"optimizer": optimizer, "loss": loss, "loss_weights": loss_weights, "metrics": metrics}

    def _check_run(self, batch: int) -> None:
        """LimitError before a run of `batch` samples over the current budget. predict's overhead is what a learner
        feels on a small model: each budget's largest batch is worked out once and then compared."""
        budget = current()
        if budget is UNBOUNDED:
            return
        bounds = self._batch_bounds  # made afresh whenever the model's shapes change
        if budget not in bounds:
            bounds[budget] = self.cost.max_batch()
        if bounds[budget] is not None and batch > bounds[budget]:
            self.cost.check_run(batch)  # raises the LimitError that names the budget

    def _require_compiled(self) -> Compiled:
        if self.compiled is None:
            raise LayerConfigError("You must call `compile()` with a loss before training or evaluating the model.")
        return self.compiled

    def step_cost(self) -> StepCost:
        """What a training step of this compiled model costs beyond its layers (the losses, metrics and optimizer)."""
        return self._require_compiled().step_cost(self.optimizer)

    def _targets(self, y, samples: int) -> list[np.ndarray]:
        """`y` as one float32 array per output (a list in the outputs' order, or a dict by their names)."""
        outputs = self._outputs()
        names = [name for name, _ in outputs]
        if isinstance(y, dict):
            missing = [n for n in names if n not in y]
            if missing:
                raise InputDataError(f"the targets dict must have the keys {names}; missing {missing}")
            given = [y[n] for n in names]
        elif len(outputs) > 1:
            if not isinstance(y, (list, tuple)) or len(y) != len(outputs):
                raise InputDataError(
                    f"the model has {len(outputs)} outputs ({', '.join(names)}): give a list of "
                    f"{len(outputs)} target arrays in that order, or a dict keyed by those names"
                )
            given = list(y)
        else:
            one = isinstance(y, (list, tuple)) and len(y) == 1 and isinstance(y[0], np.ndarray)
            given = [y[0] if one else y]
        arrays = []
        for name, value in zip(names, given):
            arr = numbers(value, "targets" if len(names) == 1 else f"targets of {name!r}")
            if arr.ndim < 1 or len(arr) != samples:
                raise InputDataError(
                    f"x holds {samples:,} samples but y holds {len(arr) if arr.ndim else 0:,}; give one "
                    "target per sample"
                )
            arrays.append(arr.astype(np.float32, copy=False))
        return arrays

    def trainer(
        self,
        x,
        y,
        batch_size=32,
        epochs=1,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        validation_batch_size=None,
        halt_on_divergence=False,
        watch_gradients=False,
    ) -> training.Trainer:
        """A training run that can go on in pieces (what `fit` runs to its end); the data and budgets are checked first.
        With `halt_on_divergence`, a loss or gradient that stops being finite ends the run before its update; with
        `watch_gradients`, the trainer keeps each step's gradient norms."""
        spec = self._require_compiled()
        xs = self._feed(x)
        ys = self._targets(y, len(xs[0]))
        batch_size, epochs = count("batch_size", batch_size, 1, 1 << 20), count("epochs", epochs, 0, 100_000)
        if validation_batch_size is not None:
            validation_batch_size = count("validation_batch_size", validation_batch_size, 1, 1 << 20)
        if isinstance(validation_split, bool) or not (
            isinstance(validation_split, (int, float)) and 0 <= validation_split < 1
        ):
            raise LayerConfigError(
                f"validation_split must be a number from 0 (included) to 1 (excluded); received {validation_split!r}"
            )
        validation = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise LayerConfigError("validation_data must be a tuple (x_val, y_val)")
            if len(validation_data) == 3:
                refuse("fit", {}, sample_weight=validation_data[2])  # Keras's (x_val, y_val, val_sample_weight)
            vx = self._feed(validation_data[0])
            validation = (vx, self._targets(validation_data[1], len(vx[0])))
        elif validation_split:
            split = int(
                len(xs[0]) * (1 - validation_split)
            )  # Keras keeps the last samples for validation, before shuffling
            validation = ([a[split:] for a in xs], [a[split:] for a in ys])
            xs, ys = [a[:split] for a in xs], [a[:split] for a in ys]
        if len(xs[0]) == 0:
            raise InputDataError("there are no samples left to train on")
        shapes = [shape for _, shape in self._outputs()]
        for data_x, data_y in ((xs, ys), *([validation] if validation else [])):
            for arr in data_x:
                check_finite(arr)
            for loss, arr, shape in zip(spec.losses, data_y, shapes):
                loss.check_targets(arr, shape)
        samples = len(xs[0]) + (len(validation[0][0]) if validation else 0)
        self.cost.check_training(samples, epochs, min(batch_size, len(xs[0])), self.step_cost())
        weights = self._trainable_weights()
        if len(self.optimizer.slots) != len(weights):  # Keras keeps an optimizer's state across fits
            self.optimizer.build(weights)
        return training.Trainer(
            self,
            xs,
            ys,
            batch_size,
            epochs,
            validation,
            bool(shuffle),
            self._rng,
            validation_batch_size,
            halt_on_divergence,
            watch_gradients,
        )

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
        **unknown,
    ) -> training.History:
        """Keras's fit: `epochs` passes over (x, y) in batches (of 32 when batch_size is None); returns a History with
        per-epoch loss and metrics. Keras arguments netbuilder does not honour are refused unless left at their
        defaults."""
        refuse(
            "fit",
            unknown,
            callbacks=callbacks or None,
            class_weight=class_weight,
            sample_weight=sample_weight,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            validation_freq=validation_freq,
        )
        run = self.trainer(
            x,
            y,
            32 if batch_size is None else batch_size,
            epochs,
            validation_split,
            validation_data,
            shuffle,
            validation_batch_size,
        )
        try:
            run.run()
        finally:  # Keras's fit, even when a step raised: with use_ema, the weights become their moving averages
            if run.epochs > 0:
                self.optimizer.finalize_variable_values(self._trainable_weights())
        return run.history

    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict=False,
        **unknown,
    ):
        """The loss (and metrics) on (x, y) in inference mode, in batches (of 32 when batch_size is None): a number,
        or [loss, *metrics] when there is more to report, or a dict with return_dict."""
        refuse("evaluate", unknown, sample_weight=sample_weight, steps=steps, callbacks=callbacks or None)
        self._require_compiled()
        xs = self._feed(x)
        logs = self.evaluate_arrays(
            xs, self._targets(y, len(xs[0])), count("batch_size", 32 if batch_size is None else batch_size, 1, 1 << 20)
        )
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def penalised(self, loss: float, weights: list[np.ndarray], grads: list[np.ndarray] | None = None) -> float:
        """`loss` with the penalty of every weight regularizer added, as Keras adds them to the loss it reports (not to
        an output's own); with `grads` (the gradients of `weights`), each penalty's gradient added to its weight's."""
        weighs = {id(w): regularizer for layer in _leaves(self) for w, regularizer in layer.regularized()}
        if not weighs:
            return loss
        terms = [np.float32(loss)]
        for k, w in enumerate(weights):
            regularizer = weighs.get(id(w))
            if regularizer is not None:
                terms.append(regularizer.penalty(w))
                if grads is not None:
                    grads[k] = grads[k] + regularizer.gradient(w)
        return float(np.sum(terms, dtype=np.float32))

    def evaluate_arrays(self, xs: list, ys: list, batch_size: int) -> dict:
        """The History's keys and their values on (xs, ys) in inference mode, batch by batch."""
        spec = self.compiled
        samples = len(xs[0])
        self._check_run(min(batch_size, samples))
        means = {key: training.Mean() for key in spec.keys()}
        weights = self._trainable_weights()
        for start, stop in training.batches(samples, batch_size):
            preds = self._inference([a[start:stop] for a in xs])
            total, _, values = spec.evaluate([a[start:stop] for a in ys], preds, gradients=False)
            means["loss"].add(self.penalised(total, weights), weight=stop - start)
            for key, value in values.items():  # an output's loss is the batch's mean; a metric, per sample
                means[key].add(value, weight=stop - start) if np.ndim(value) == 0 else means[key].add(value)
        return {key: mean.result for key, mean in means.items()}

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; its loss (and metrics), computed before the update."""
        refuse("train_on_batch", {}, sample_weight=sample_weight, class_weight=class_weight)
        xs = self._feed(x)
        run = self.trainer(xs if len(xs) > 1 else xs[0], y, batch_size=len(xs[0]), epochs=1, shuffle=False)
        run.run(max_batches=1)
        logs = {k: v[-1] for k, v in run.history.history.items()}
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())


def numbers(x, what: str) -> np.ndarray:
    """`x` as an array of real numbers within the current budget's data elements, or an error saying what is wrong."""
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise InputDataError(f"{what} must be a numeric array (a ragged nested list is not one): {e}") from None
    if arr.dtype.kind not in "biuf":
        raise InputDataError(f"{what} must hold real numbers; received dtype {arr.dtype}")
    if over(arr.size, bound := current().data_elements):
        raise LimitError(f"{what} has {arr.size:,} values; at most {bound:,} are allowed")
    return arr


def check_finite(x: np.ndarray) -> None:
    """Training inputs must be finite numbers: one NaN makes every weight NaN after the first update."""
    if not np.all(np.isfinite(x)):
        raise InputDataError(
            f"the training inputs hold {np.count_nonzero(~np.isfinite(x)):,} NaN or infinite value(s); "
            "training needs finite numbers"
        )


def count(name: str, value, low: int, high: int) -> int:
    """A whole number within [low, high], or a LayerConfigError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise LayerConfigError(f"{name} must be an integer from {low} to {high:,}; received {str(value)[:20]}")
    return int(value)


_TAKES = {  # what each call honours, for the message that refuses the rest
    "compile": "optimizer, loss, loss_weights and metrics",
    "fit": "x, y, batch_size, epochs, verbose, validation_split, validation_data, shuffle and validation_batch_size",
    "evaluate": "x, y, batch_size, verbose and return_dict",
    "train_on_batch": "x, y and return_dict",
    "predict": "x, batch_size, verbose and checkpoint",
}
_DEFAULTS = {"initial_epoch": 0, "validation_freq": 1}  # Keras's defaults of the arguments below that are not None
_INSTEAD = {  # Keras arguments netbuilder does not honour, and what it does instead
    "sample_weight": "every sample counts equally",
    "class_weight": "every class counts equally",
    "callbacks": "there are no callbacks; model.trainer(...) runs a training in pieces you can watch",
    "initial_epoch": "epochs count from 0",
    "steps_per_epoch": "each epoch is one pass over all of x",
    "validation_steps": "validation uses all its samples",
    "validation_freq": "validation runs after every epoch",
    "steps": "all of x is used",
    "weighted_metrics": "there are no sample weights",
}


def refuse(call: str, unknown: dict, **given) -> None:
    """Refuse an unknown argument, or a Keras one netbuilder does not honour given other than its default (None, or
    _DEFAULTS's): ignoring it silently would train something other than asked."""
    given = {name: value for name, value in given.items() if value is not None}
    refuse_unhonoured(call, {**unknown, **given}, {name: _DEFAULTS.get(name) for name in given}, _TAKES[call], _INSTEAD)
