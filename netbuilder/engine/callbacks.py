"""Keras's callbacks (keras/src/callbacks): hooks a training run calls at Keras's points, in Keras's order.

fit (engine/training.py's Trainer) calls them as Keras 3.15's JAX trainer does: `model.stop_training = False`, then
on_train_begin; each epoch on_epoch_begin, each batch on_train_batch_begin and on_train_batch_end (the running means so
far); with validation data on_test_begin, each validation batch's on_test_batch_begin and _end, on_test_end; then
on_epoch_end with the epoch's logs; on_train_end once the run has ended without an error. Each hook goes to every
callback in the order fit was given them and then the History, with one logs dict they share: a callback may add to
it (ReduceLROnPlateau's "learning_rate" reaches the History after it). A callback stops the run by setting
`model.stop_training`: fit looks after each batch (the epoch then ends there) and after each epoch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from .errors import LayerConfigError
from .schedules import LearningRateSchedule


class Callback:
    """Keras's base callback: override the hooks you need; `self.model` is the model being trained, `self.params` fit's
    verbose, epochs and steps per epoch."""

    def __init__(self):
        self.params = None
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    def on_batch_begin(self, batch, logs=None):
        """A backwards compatibility alias for on_train_batch_begin."""

    def on_batch_end(self, batch, logs=None):
        """A backwards compatibility alias for on_train_batch_end."""

    def on_epoch_begin(self, epoch, logs=None):
        """At the start of epoch `epoch` (counted from 0)."""

    def on_epoch_end(self, epoch, logs=None):
        """At the end of an epoch: `logs` holds its loss and metrics, and "val_..." ones after validation."""

    def on_train_batch_begin(self, batch, logs=None):
        """Before a training batch (`batch` counted from 0 in each epoch)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """After a training batch: `logs` holds the epoch's means so far."""
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        """Before a batch of evaluate, or of fit's validation."""

    def on_test_batch_end(self, batch, logs=None):
        """After a batch of evaluate, or of fit's validation: `logs` holds the means so far."""

    def on_train_begin(self, logs=None):
        """At the start of fit."""

    def on_train_end(self, logs=None):
        """At the end of fit (not after an error): `logs` holds the last epoch's."""

    def on_test_begin(self, logs=None):
        """At the start of evaluate, or of fit's validation."""

    def on_test_end(self, logs=None):
        """At the end of evaluate, or of fit's validation: `logs` holds its results."""


class History(Callback):
    """Keras's History: `.history` maps each logged key ("loss", metrics, "val_...", "learning_rate") to its values, one
    per epoch, and `.epoch` lists the epochs run. fit adds one after the callbacks it is given and returns it."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}  # kept across fits, as Keras's: reused, it goes on
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self


class CallbackList:
    """Keras's CallbackList: callbacks (nested lists are flattened), a History added after them with `add_history`
    (unless one is among them), each hook called on every one in order with one logs dict they share."""

    def __init__(self, callbacks=None, add_history=False, model=None, **params):
        self.callbacks = flat(callbacks, "CallbackList")
        self.history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        for callback in self.callbacks:
            if model is not None:
                callback.set_model(model)
            if params:
                callback.set_params(params)

    def _call(self, hook: str, *args, logs=None, keyword=False) -> None:
        logs = dict(logs or {})  # Keras's pythonify_logs: a new dict per call, shared by the callbacks in turn
        for callback in self.callbacks:
            method = getattr(callback, hook)
            method(*args, logs=logs) if keyword else method(*args, logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs=logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs=logs, keyword=True)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs=logs, keyword=True)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs=logs, keyword=True)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs=logs, keyword=True)


def flat(callbacks, owner: str) -> list[Callback]:
    """Keras's tree.flatten of `owner`'s callbacks: one Callback, or (nested) lists of them; anything else is refused
    by name (Keras would fail on its first hook)."""
    if callbacks is None:
        return []
    if isinstance(callbacks, (list, tuple)):
        return [c for item in callbacks for c in flat(item, owner)]
    if not isinstance(callbacks, Callback):
        raise LayerConfigError(
            f"{owner}(callbacks=...): a {type(callbacks).__name__} is not a netbuilder.callbacks.Callback; "
            f"netbuilder's {owner} takes Callback objects (EarlyStopping, ReduceLROnPlateau, LearningRateScheduler, "
            "History, or a subclass of Callback of your own), not Keras's"
        )
    return [callbacks]


# --- the optimizer's learning rate, as Keras's callbacks read and set it ---------------------------------------
def learning_rate_of(optimizer) -> float:
    """`float(optimizer.learning_rate)` in Keras: its float32 variable (a schedule's rate of the coming step)."""
    return float(optimizer.current_learning_rate())


def set_learning_rate(optimizer, value) -> None:
    """Keras's learning_rate setter: the number becomes the float32 variable's value; a rate built as a schedule cannot
    be set (Keras raises a TypeError, netbuilder a LayerConfigError with its words)."""
    if isinstance(optimizer.learning_rate, LearningRateSchedule):
        raise LayerConfigError(
            "This optimizer was created with a `LearningRateSchedule` object as its `learning_rate` constructor "
            "argument, hence its learning rate is not settable. If you need the learning rate to be settable, you "
            "should instantiate the optimizer with a float `learning_rate` argument."
        )
    optimizer.learning_rate = float(np.float32(value))


# --- arguments ------------------------------------------------------------------------------------------------
def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


# each argument the callbacks take, and what Keras computes with (it would fail on anything else mid-run, or for a
# flag, take any truthy value as True)
ARGUMENTS: dict[str, tuple[Callable[[object], bool], str]] = {
    "monitor": (lambda v: isinstance(v, str), "the name of a logged value, such as 'val_loss'"),
    "mode": (lambda v: isinstance(v, str), "'auto', 'min' or 'max'"),
    "min_delta": (_is_number, "a number"),
    "patience": (_is_number, "a number of epochs"),
    "verbose": (lambda v: _is_number(v) or isinstance(v, (bool, np.bool_)), "0 (silent) or 1 (messages)"),
    "baseline": (lambda v: v is None or _is_number(v), "None or a number"),
    "restore_best_weights": (lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    "start_from_epoch": (_is_number, "a number of epochs"),
    "factor": (_is_number, "a number below 1"),
    "cooldown": (_is_number, "a number of epochs"),
    "min_lr": (_is_number, "a number"),
    "schedule": (callable, "a function (epoch, lr) → lr, or epoch → lr"),
}


def _check(owner: str, **given) -> None:
    """LayerConfigError naming the first argument that is not what Keras computes with."""
    for name, value in given.items():
        valid, what = ARGUMENTS[name]
        if not valid(value):
            raise LayerConfigError(f"{owner}({name}=...) must be {what}; received {str(value)[:30]!r}")


# --- the callbacks -------------------------------------------------------------------------------------------
class MonitorCallback(Callback):
    """Keras's MonitorCallback: a logged value to watch, the way it should go (`mode`; "auto" from its name), and
    `min_delta`, the least change that counts as better. Keras compares in float32."""

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        _check(type(self).__name__, monitor=monitor, mode=mode, baseline=baseline, min_delta=min_delta)
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=3)
            mode = "auto"
        self.monitor, self.mode, self.best, self.min_delta = monitor, mode, baseline, abs(min_delta)
        self.monitor_op = None  # Keras sets it at the first epoch's end; netbuilder when training begins (see below)

    def on_train_begin(self, logs=None):
        """The direction, known from compile: a name Keras cannot tell the direction of is refused before training
        (Keras says so after the first epoch)."""
        if self.monitor_op is None:
            self._set_monitor_op()

    def _set_monitor_op(self) -> None:
        """np.less or np.greater: by `mode`, or for "auto" a loss goes down and a compiled metric goes its way (Keras
        looks for it by its own name, without an output's prefix); any other name is refused."""
        if self.mode != "auto":
            self.monitor_op = np.less if self.mode == "min" else np.greater
        else:
            name = self.monitor.removeprefix("val_")
            compiled = getattr(self.model, "compiled", None)
            direction = compiled.direction(name) if compiled is not None else None
            direction = direction or ("down" if name == "loss" else None)
            if direction is None:
                raise LayerConfigError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but Keras isn't able to "
                    "automatically determine whether that metric should be maximized or minimized. Pass "
                    "`mode='max'` in order to monitor based on the highest metric value, or pass `mode='min'` in "
                    "order to use the lowest value."
                )
            self.monitor_op = np.less if direction == "down" else np.greater
        if self.monitor_op is np.less:
            self.min_delta *= -1

    def _is_improvement(self, value, reference) -> bool:
        if reference is None:
            return True
        return bool(self.monitor_op(np.float32(value - self.min_delta), np.float32(reference)))  # ops.less: float32


class EarlyStopping(MonitorCallback):
    """keras.callbacks.EarlyStopping: stop training once `monitor` has not improved by `min_delta` for `patience`
    epochs (counted from `start_from_epoch`); with `baseline`, the wait restarts only on a value better than it; with
    `restore_best_weights`, the best epoch's weights are put back when training ends, however it ends."""

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__(monitor, mode, min_delta=min_delta)
        _check(
            "EarlyStopping",
            patience=patience,
            verbose=verbose,
            baseline=baseline,
            restore_best_weights=restore_best_weights,
            start_from_epoch=start_from_epoch,
        )
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, 0, None, 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = (logs or {}).get(self.monitor)
        if current is None:
            _unavailable(f"Early stopping conditioned on metric `{self.monitor}` which is not available.", logs)
            return
        if epoch < self.start_from_epoch:  # the warm-up
            return
        if self.restore_best_weights and self.best_weights is None:  # never set: the current weights are the best
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0  # only a value better than the baseline restarts the wait
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(MonitorCallback):
    """keras.callbacks.ReduceLROnPlateau: multiply the learning rate by `factor` (not below `min_lr`) once `monitor` has
    not improved by `min_delta` for `patience` epochs, then wait `cooldown` epochs. Each epoch's logs get the rate
    before any reduction, as "learning_rate"."""

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        **unknown,
    ):
        if unknown:  # Keras takes **kwargs and ignores them: a misspelt argument would change nothing, silently
            raise LayerConfigError(
                f"ReduceLROnPlateau({next(iter(unknown))}=...) is not an argument of ReduceLROnPlateau; it takes "
                "monitor, factor, patience, verbose, mode, min_delta, cooldown and min_lr"
            )
        super().__init__(monitor, mode, min_delta=min_delta)
        _check("ReduceLROnPlateau", factor=factor, patience=patience, verbose=verbose, cooldown=cooldown, min_lr=min_lr)
        if factor >= 1.0:
            raise LayerConfigError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor, self.min_lr, self.patience, self.verbose, self.cooldown = (
            factor,
            min_lr,
            patience,
            verbose,
            cooldown,
        )
        self.cooldown_counter, self.wait = 0, 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.best, self.cooldown_counter, self.wait = None, 0, 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs or {}
        logs["learning_rate"] = learning_rate_of(self.model.optimizer)
        current = logs.get(self.monitor)
        if current is None:
            _unavailable(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not available.", logs
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce(epoch):
                self.cooldown_counter, self.wait = self.cooldown, 0

    def _reduce(self, epoch: int) -> bool:
        """The rate times `factor`, not below min_lr, unless it is already at min_lr (compared in float32)."""
        old = learning_rate_of(self.model.optimizer)
        if not old > np.float32(self.min_lr):
            return False
        new = max(old * self.factor, self.min_lr)
        set_learning_rate(self.model.optimizer, new)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
        return True


class LearningRateScheduler(Callback):
    """keras.callbacks.LearningRateScheduler: at each epoch's start the learning rate becomes `schedule(epoch, lr)`
    (or `schedule(epoch)`, Keras's older form, when that call raises a TypeError), a float; each epoch's logs get it
    as "learning_rate"."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        _check("LearningRateScheduler", schedule=schedule, verbose=verbose)
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        try:
            rate = self.schedule(epoch, learning_rate_of(optimizer))
        except TypeError:  # Keras's fallback to schedule(epoch), whatever raised the TypeError
            rate = self.schedule(epoch)
        if not isinstance(rate, (float, np.float32, np.float64)):
            raise LayerConfigError(f"The output of the `schedule` function should be a float. Got: {rate}")
        set_learning_rate(optimizer, rate)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {rate}.")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        logs["learning_rate"] = learning_rate_of(self.model.optimizer)


def _unavailable(what: str, logs) -> None:
    """Keras's warning when the monitored value is not logged: the callback then does nothing that epoch."""
    warnings.warn(f"{what} Available metrics are: {','.join(list((logs or {}).keys()))}", stacklevel=3)
