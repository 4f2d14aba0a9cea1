"""Keras's compile, fit, evaluate and train_on_batch, for any model with one or several inputs and outputs.

A model gives its data and its gradients (`_feed`, `_outputs`, `_keyed_outputs`, `_gradients`, `_inference`,
`_trainable_weights`); this turns Keras's arguments into a `Compiled` description — a loss and a weight per output,
metrics and weighted metrics per output, the names Keras logs them under — and drives the training run
(engine/training.py's Trainer, which calls the callbacks of engine/callbacks.py). As in Keras: one loss given for
several outputs is each output's; an epoch's loss is the weighted sum of the outputs' losses, each output's own loss
is logged unweighted as `<output>_loss`, and its metrics as `<output>_<metric>`. Sample weights (sample_weight, or
class_weight turned into them) weigh each output's loss (Σ wᵢ lᵢ over the batch's size with the default reduction) and
its weighted metrics (Σ wᵢ mᵢ / Σ wᵢ); its other metrics ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import optimizers, training
from .arguments import refuse_unhonoured
from .callbacks import CallbackList, flat
from .cost import StepCost
from .errors import InputDataError, LayerConfigError, LimitError
from .budget import UNBOUNDED, current, over


@dataclass(frozen=True)
class Compiled:
    """What compile was given, one entry per output: its name, loss, loss weight, metrics and weighted metrics."""

    names: tuple[str, ...]
    losses: tuple[training.Loss, ...]
    weights: tuple[float, ...]
    metrics: tuple[tuple[str, ...], ...]
    weighted: tuple[tuple[str, ...], ...] = ()
    listed: tuple[str, ...] = ()  # the outputs in the order Keras lists their losses, when not `names`' order

    @cached_property
    def entries(self) -> tuple[tuple[str, int, str, bool], ...]:
        """(key, output, metric, weighted) of every metric, named as Keras's CompileMetrics.result names them: each
        output's metrics, then each output's weighted ones; a name met again gets `_1`, `_2`, ..., except that a
        weighted metric named as one already logged is logged as `weighted_<metric>`."""
        several, taken, entries = len(self.names) > 1, {}, []
        for weighted, groups in ((False, self.metrics), (True, self.weighted or ((),) * len(self.names))):
            for k, (name, group) in enumerate(zip(self.names, groups)):
                prefix = f"{name}_" if several else ""
                for metric in group:
                    key = prefix + (f"weighted_{metric}" if weighted and prefix + metric in taken else metric)
                    if key in taken:
                        taken[key] += 1
                        key = f"{key}_{taken[key] - 1}"
                    else:
                        taken[key] = 1
                    entries.append((key, k, metric, weighted))
        return tuple(entries)

    def keys(self) -> list[str]:
        """The History's keys: the loss, each output's own loss (of several outputs) in the outputs' order, then the
        metrics sorted by name."""
        losses = [f"{name}_loss" for name in self.names] if len(self.names) > 1 else []
        return ["loss", *losses, *sorted(key for key, *_ in self.entries)]

    def flatten(self, logs: dict):
        """evaluate's and train_on_batch's list, as Keras's _flatten_metrics_in_order makes it: the values of the
        loss, of the metrics by their own names (the compiled ones in order; a name logged twice comes twice), of the
        outputs' losses, then the rest by sorted key; one value alone is returned as it is."""
        outputs = self.listed or self.names
        names = ["loss", *(metric for _, _, metric, _ in self.entries), *(f"{n}_loss" for n in outputs)]
        values = [logs[n] for n in names if n in logs] + [logs[k] for k in sorted(logs) if k not in names]
        return values[0] if len(values) == 1 else values

    def direction(self, name: str) -> str | None:
        """Keras's MonitorCallback lookup of a compiled metric by its own name (an output's prefix is not part of it):
        "up" for an accuracy, "down" for an error, None when no compiled metric is named so."""
        if not any(metric == name for _, _, metric, _ in self.entries):
            return None
        return "up" if name in training.RISING else "down"

    def evaluate(
        self, ys: list[np.ndarray], preds: list[np.ndarray], gradients: bool, sample_weights: list | None = None
    ) -> tuple[float, list, dict]:
        """(the weighted sum of the outputs' losses, each output's gradient scaled by its weight (when asked), and for
        each output's own loss and every metric, keyed as the History is: its values and their weights in the epoch's
        mean). `sample_weights`: the batch's, one array per output (or None), if any."""
        sample_weights = sample_weights or [None] * len(self.names)
        total, grads, values = 0.0, [], {}
        for name, loss, weight, y, p, sw in zip(self.names, self.losses, self.weights, ys, preds, sample_weights):
            value, grad = training.loss_and_gradient(loss, y, p, sw)
            total += weight * value
            grads.append(grad * np.float32(weight) if gradients and weight != 1 else grad)
            if len(self.names) > 1:
                values[f"{name}_loss"] = (value, len(p))  # Keras's mean of an output's loss: by the batch's size
        for key, k, metric, weighted in self.entries:
            values[key] = (training.metric_values(metric, ys[k], preds[k]), sample_weights[k] if weighted else None)
        return float(np.float32(total)), grads, values

    def step_cost(self, optimizer, sample_weighted: bool = False) -> StepCost:
        """A step's cost beyond the layers: every output's loss and metrics (weighed, with sample weights), and the
        optimizer."""
        weighted = self.weighted or ((),) * len(self.names)
        return training.outputs_step_cost(
            [
                training.output_cost(loss, metrics, more, sample_weighted)
                for loss, metrics, more in zip(self.losses, self.metrics, weighted)
            ],
            optimizer,
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


def compiled(loss, loss_weights, metrics, names: list[str], weighted_metrics=None, keyed=False) -> Compiled:
    """A Compiled from compile's arguments, checked the way Keras checks them, each refusal naming what is allowed.
    `keyed`: the model's outputs are a dict (Keras then lists their losses in the order of a dict of losses)."""
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
    return Compiled(
        tuple(names),
        tuple(losses),
        tuple(float(w) for w in weights),
        _metric_lists(metrics, names, "metrics"),
        _metric_lists(weighted_metrics, names, "weighted_metrics"),
        tuple(loss) if keyed and isinstance(loss, dict) else (),
    )


def _metric_lists(metrics, names: list[str], what: str) -> tuple[tuple[str, ...], ...]:
    """compile's `metrics` or `weighted_metrics`, one tuple of names per output, read as Keras reads them: a list for
    the one output, or for several a dict by output name or a list with one entry (a name or a list) per output.
    Unknown names are refused."""
    if metrics and not isinstance(metrics, (list, tuple, dict)):
        raise LayerConfigError(
            f"Expected `{what}` argument to be a list, tuple, or dict. Received instead: {what}={str(metrics)[:40]} "
            f"of type {type(metrics)}"
        )
    if (
        isinstance(metrics, (list, tuple))
        and len(names) > 1
        and not all(isinstance(m, (list, tuple)) for m in metrics)
        and len(metrics) != len(names)
    ):
        raise LayerConfigError(
            f"Invalid `{what}`: for a model with several outputs give a dict or a list matching the "
            f"output names {names}; received {list(metrics)[:5]}"
        )
    per = _per_output(metrics, names, what) if len(names) > 1 and metrics else [metrics or []] * len(names)
    lists = tuple(
        tuple(str(m) for m in (x if isinstance(x, (list, tuple)) else [x] if x is not None else [])) for x in per
    )
    for metric in {m for group in lists for m in group}:  # refuses unknown names
        training.metric_values(metric, np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32))
    return lists


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
    stop_training = False  # Keras's: a callback sets it to end fit after the batch or epoch it was set in
    history = None  # the History of the last fit, as Keras's model.history

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
        "mse", or a netbuilder.losses object) for every output or one per output (a list or a dict), loss_weights,
        metrics and weighted_metrics ("accuracy", "mae", "mse"; the weighted ones weigh each sample by its
        sample_weight). run_eagerly, steps_per_execution, jit_compile and auto_scale_loss change how Keras runs, not
        what it computes: accepted, and nothing changes."""
        refuse("compile", unknown)
        _refuse_kept(self)
        chosen = optimizers.get_optimizer(optimizer)
        names = [name for name, _ in self._outputs()]
        self.compiled = (
            compiled(loss, loss_weights, metrics, names, weighted_metrics, self._keyed_outputs())
            if loss is not None
            else None
        )
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
        self.compile_config = {
            "optimizer": optimizer,
            "loss": loss,
            "loss_weights": loss_weights,
            "metrics": metrics,
            "weighted_metrics": weighted_metrics,
        }

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

    def step_cost(self, sample_weighted: bool = False) -> StepCost:
        """What a training step of this compiled model costs beyond its layers (the losses, metrics and optimizer)."""
        return self._require_compiled().step_cost(self.optimizer, sample_weighted)

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

    def _sample_weights(self, sample_weight, y, samples: int, what: str = "sample_weight") -> list | None:
        """Keras's sample weights as one float32 array per output (None: not given): one array for every output (one
        weight per sample when there are several), or one per output in y's own structure."""
        if sample_weight is None:
            return None
        names = [name for name, _ in self._outputs()]
        if len(names) == 1:
            given = [sample_weight]
        else:
            given = self._per_output_weights(sample_weight, y, names, what)
        arrays = []
        for name, value in zip(names, given):
            arr = numbers(value, what if len(names) == 1 else f"{what} of {name!r}").astype(np.float32, copy=False)
            if arr.ndim < 1 or len(arr) != samples:
                raise InputDataError(
                    f"x holds {samples:,} samples but {what} holds {len(arr) if arr.ndim else 0:,}; give one weight "
                    "per sample"
                )
            if not np.all(np.isfinite(arr)):
                raise InputDataError(
                    f"{what} holds {np.count_nonzero(~np.isfinite(arr)):,} NaN or infinite value(s); the loss would "
                    "be NaN: training needs finite weights"
                )
            arrays.append(arr)
        return arrays

    def _per_output_weights(self, sample_weight, y, names: list[str], what: str) -> list:
        """A model with several outputs: its sample weights per output, refused where Keras 3.15 refuses them or fails
        on them (y given in another structure than the outputs', which compile_utils cannot resolve)."""
        keyed = self._keyed_outputs()
        if isinstance(y, dict) != keyed:
            raise LayerConfigError(
                f"{what}=... with y given as a {type(y).__name__} for a model whose outputs are a "
                f"{'dict' if keyed else 'list'}: Keras 3.15 fails on it (compile_utils cannot find each output's "
                f"weights); give y as a {'dict by output name' if keyed else 'list in the outputs order'}"
            )
        if not isinstance(sample_weight, (list, tuple, dict)):
            arr = np.asarray(sample_weight)
            if not (arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1)):
                raise LayerConfigError(
                    "For a model with multiple outputs, when providing a single `sample_weight` array, it should only "
                    "have one scalar score per sample (i.e. shape `(num_samples,)`). If you want to use non-scalar "
                    "sample weights, pass a `sample_weight` argument with one array per model output."
                )
            return [sample_weight] * len(names)
        same = type(sample_weight) is type(y) and (
            set(sample_weight) == set(y) if isinstance(y, dict) else len(sample_weight) == len(y)
        )
        if not same:
            raise LayerConfigError(
                f"You should provide one `{what}` array per output in `y`, in y's structure (a "
                f"{type(y).__name__} of {len(y)}); received a {type(sample_weight).__name__} of {len(sample_weight)}"
            )
        given = [sample_weight[n] for n in names] if isinstance(y, dict) else list(sample_weight)
        if any(w is None for w in given):
            raise LayerConfigError(  # Keras weighs that output's loss by nothing, and its weighted metrics by another's
                f"{what}=... must give every output an array; None leaves an output's loss unweighted in Keras but "
                "weighs its weighted metrics by the first output's weights"
            )
        return given

    def _check_weighs(self, ys: list[np.ndarray], sample_weights: list | None) -> None:
        """InputDataError, before a step, for sample weights that cannot weigh their output's loss values
        (training.lined_up): the values of two samples' targets against zero predictions show their shape."""
        for loss, y, w, (_, shape) in zip(self.compiled.losses, ys, sample_weights or [], self._outputs()):
            n = min(2, len(y))
            training.lined_up(loss.per_sample(y[:n], np.zeros((n, *shape[1:]), np.float32)), w[:n])

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
        sample_weight=None,
        class_weight=None,
        callbacks=None,
        verbose="auto",
        fit=True,
    ) -> training.Trainer:
        """A training run that can go on in pieces (what `fit` runs to its end); the data and budgets are checked first.
        With `halt_on_divergence`, a loss or gradient that stops being finite ends the run before its update; with
        `watch_gradients`, the trainer keeps each step's gradient norms. `fit=False`: train_on_batch's step, which
        leaves the model's History and its moving averages (use_ema) as they are."""
        spec = self._require_compiled()
        callbacks = flat(callbacks, "trainer")
        xs = self._feed(x)
        ys = self._targets(y, len(xs[0]))
        sws = self._sample_weights(sample_weight, y, len(xs[0]))
        if class_weight is not None and sws is not None:
            raise LayerConfigError("You cannot `class_weight` and `sample_weight` at the same time.")
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
                raise LayerConfigError(
                    "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight)"
                )
            vx = self._feed(validation_data[0])
            vy = validation_data[1]
            vsw = validation_data[2] if len(validation_data) == 3 else None
            validation = (
                vx,
                self._targets(vy, len(vx[0])),
                self._sample_weights(vsw, vy, len(vx[0]), "val_sample_weight"),
            )
        elif validation_split:
            # Keras keeps the last samples (and their weights) for validation, before shuffling
            split = int(len(xs[0]) * (1 - validation_split))
            validation = tuple(training.rows(part, slice(split, None)) for part in (xs, ys, sws))
            xs, ys, sws = (training.rows(part, slice(None, split)) for part in (xs, ys, sws))
        if len(xs[0]) == 0:
            raise InputDataError("there are no samples left to train on")
        if class_weight is not None:  # the training samples' only, as Keras's: validation stays unweighted
            if len(ys) > 1:
                raise LayerConfigError("`class_weight` is only supported for Models with a single output.")
            sws = [training.class_weights(class_weight, ys[0])]
        shapes = [shape for _, shape in self._outputs()]
        for data_x, data_y, data_w in ((xs, ys, sws), *([validation] if validation else [])):
            for arr in data_x:
                check_finite(arr)
            for loss, arr, shape in zip(spec.losses, data_y, shapes):
                loss.check_targets(arr, shape)
            self._check_weighs(data_y, data_w)
        samples = len(xs[0]) + (len(validation[0][0]) if validation else 0)
        self.cost.check_training(samples, epochs, min(batch_size, len(xs[0])), self.step_cost(sws is not None))
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
            sample_weights=sws,
            callbacks=callbacks,
            verbose=verbose,
            fit=fit,
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
        """Keras's fit: `epochs` passes over (x, y) in batches (of 32 when batch_size is None), each sample weighed by
        sample_weight or by its class's class_weight, calling the callbacks (netbuilder.callbacks) at Keras's points;
        returns the History of per-epoch loss and metrics. verbose prints nothing (the callbacks' own verbose messages
        are printed as Keras prints them). Keras arguments netbuilder does not honour are refused unless left at their
        defaults."""
        refuse(
            "fit",
            unknown,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            validation_freq=validation_freq,
        )
        callbacks = flat(callbacks, "fit")  # refused before the data is looked at
        run = self.trainer(
            x,
            y,
            32 if batch_size is None else batch_size,
            epochs,
            validation_split,
            validation_data,
            shuffle,
            validation_batch_size,
            sample_weight=sample_weight,
            class_weight=class_weight,
            callbacks=callbacks,
            verbose=verbose,
        )
        try:
            run.run()
        finally:  # Keras's fit, even when a step raised: with use_ema, the weights become their moving averages
            run.close()
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
        """The loss (and metrics) on (x, y) in inference mode, in batches (of 32 when batch_size is None), each sample
        weighed by sample_weight: a number, or a list as Keras orders it when there is more to report, or a dict with
        return_dict. The callbacks' test hooks are called as Keras calls them."""
        refuse("evaluate", unknown, steps=steps)
        callbacks = flat(callbacks, "evaluate")
        spec = self._require_compiled()
        xs = self._feed(x)
        ys = self._targets(y, len(xs[0]))
        sws = self._sample_weights(sample_weight, y, len(xs[0]))
        self._check_weighs(ys, sws)
        size = count("batch_size", 32 if batch_size is None else batch_size, 1, 1 << 20)
        hooks = CallbackList(callbacks, model=self, verbose=verbose, epochs=1, steps=training.steps(len(xs[0]), size))
        logs = self.evaluate_arrays(xs, ys, size, sws, hooks)
        return logs if return_dict else spec.flatten(logs)

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

    def evaluate_arrays(self, xs: list, ys: list, batch_size: int, sample_weights=None, callbacks=None) -> dict:
        """The History's keys and their values on (xs, ys) in inference mode, batch by batch, each sample weighed by
        `sample_weights` (one array per output, or None); `callbacks` (a CallbackList) get Keras's test hooks."""
        spec, samples = self.compiled, len(xs[0])
        callbacks = callbacks or CallbackList()
        self._check_run(min(batch_size, samples))
        means = {key: training.Mean() for key in spec.keys()}
        weights = self._trainable_weights()
        callbacks.on_test_begin()
        for step, (start, stop) in enumerate(training.batches(samples, batch_size)):
            callbacks.on_test_batch_begin(step)
            preds = self._inference([a[start:stop] for a in xs])
            targets, weighs = [a[start:stop] for a in ys], training.rows(sample_weights, slice(start, stop))
            total, _, values = spec.evaluate(targets, preds, gradients=False, sample_weights=weighs)
            training.accumulate(means, self.penalised(total, weights), values, stop - start)
            callbacks.on_test_batch_end(step, training.results(means))
        logs = training.results(means)
        callbacks.on_test_end(logs)
        return logs

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch, each sample weighed by sample_weight or by its class's class_weight; its
        loss (and metrics), computed before the update."""
        xs = self._feed(x)
        run = self.trainer(
            xs if len(xs) > 1 else xs[0],
            y,
            batch_size=len(xs[0]),
            epochs=1,
            shuffle=False,
            sample_weight=sample_weight,
            class_weight=class_weight,
            fit=False,
        )
        run.run(max_batches=1)
        return run.logs if return_dict else self.compiled.flatten(run.logs)


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
    "compile": "optimizer, loss, loss_weights, metrics and weighted_metrics",
    "fit": (
        "x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle, class_weight, "
        "sample_weight and validation_batch_size"
    ),
    "evaluate": "x, y, batch_size, verbose, sample_weight, callbacks and return_dict",
    "train_on_batch": "x, y, sample_weight, class_weight and return_dict",
    "predict": "x, batch_size, verbose and checkpoint",
}
_DEFAULTS = {"initial_epoch": 0, "validation_freq": 1}  # Keras's defaults of the arguments below that are not None
_INSTEAD = {  # Keras arguments netbuilder does not honour, and what it does instead
    "callbacks": "predict calls no callbacks",
    "initial_epoch": "epochs count from 0",
    "steps_per_epoch": "each epoch is one pass over all of x",
    "validation_steps": "validation uses all its samples",
    "validation_freq": "validation runs after every epoch",
    "steps": "all of x is used",
}


def refuse(call: str, unknown: dict, **given) -> None:
    """Refuse an unknown argument, or a Keras one netbuilder does not honour given other than its default (None, or
    _DEFAULTS's): ignoring it silently would train something other than asked."""
    given = {name: value for name, value in given.items() if value is not None}
    refuse_unhonoured(call, {**unknown, **given}, {name: _DEFAULTS.get(name) for name in given}, _TAKES[call], _INSTEAD)
