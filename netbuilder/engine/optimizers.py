"""Keras 3's optimizers: their defaults and update formulas (keras/src/optimizers), on NumPy float32 arrays in place."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields

import numpy as np

from .arguments import refuse_unhonoured
from .errors import LayerConfigError

# Arguments every Keras optimizer takes that netbuilder does not implement, with Keras's defaults (`name` changes
# nothing)
NOT_IMPLEMENTED = {
    "weight_decay": None,
    "clipnorm": None,
    "clipvalue": None,
    "global_clipnorm": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def keras_arguments(**not_implemented):
    """Class decorator: Keras's arguments the optimizer does not implement (NOT_IMPLEMENTED and `not_implemented`) are
    refused by name unless left at their defaults, and so are unknown ones (not a bare TypeError)."""

    def wrap(cls):
        init, own = cls.__init__, [f.name for f in fields(cls) if f.init]
        defaults = {**NOT_IMPLEMENTED, **not_implemented}

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            keras_only = {key: kwargs.pop(key) for key in [k for k in kwargs if k not in own]}
            keras_only.pop("name", None)  # a name changes nothing
            refuse_unhonoured(cls.__name__, keras_only, defaults, ", ".join(own))
            init(self, *args, **kwargs)

        cls.__init__ = __init__
        return cls

    return wrap


@dataclass
class Optimizer:
    """Base: Keras's defaults and update formulas, one state slot list per trainable weight."""

    learning_rate: float = 0.001
    iterations: int = field(default=0, init=False)  # steps taken (Adam's bias correction counts them)
    slots: list = field(default_factory=list, init=False, repr=False)

    name = "optimizer"

    def __post_init__(self):
        for f in (f for f in fields(self) if f.init):
            value = getattr(self, f.name)
            if isinstance(f.default, bool):
                if not isinstance(value, (bool, np.bool_)):
                    raise LayerConfigError(
                        f"{type(self).__name__}({f.name}=...) must be True or False; received {str(value)[:20]}"
                    )
            elif (
                isinstance(value, (bool, np.bool_))
                or not isinstance(value, (int, float, np.integer, np.floating))
                or not math.isfinite(value)
                or value < 0
            ):  # a learning-rate schedule is one of these
                raise LayerConfigError(
                    f"{type(self).__name__}({f.name}=...) must be a number of at least 0; received {str(value)[:20]}"
                )

    def build(self, weights: list[np.ndarray]) -> None:
        self.slots = [self._new_slots(w) for w in weights]

    def _new_slots(self, w: np.ndarray) -> list[np.ndarray]:
        return []

    def apply(self, weights: list[np.ndarray], grads: list[np.ndarray], keep_finite: bool = False) -> int | None:
        """Update `weights` in place from `grads`, one step. With `keep_finite`, the first weight the update would make
        NaN or infinite keeps its value, no weight after it is updated, and its index is returned (None: all
        updated)."""
        lr = np.float32(self.learning_rate)
        for k, (w, g, slots) in enumerate(zip(weights, grads, self.slots)):
            before = w.copy() if keep_finite else None  # one array at a time: counted in the update's temporaries
            self._update(w, g.astype(np.float32), slots, lr)
            if keep_finite and not np.all(np.isfinite(w)):
                w[...] = before
                return k
        self.iterations += 1
        return None

    def slot_count(self) -> int:
        """How many arrays of a weight's size this optimizer keeps (for the memory budget)."""
        return len(self._new_slots(np.zeros(1, np.float32)))

    def update_cost(self) -> tuple[int, int]:
        """(elementwise operations per trainable value, microseconds per weight array whatever its size) of one update,
        for the work budget: measured on the server (4 M values; 10 values) and rounded up by half. An optimizer that
        does not say is counted generously."""
        return 32, 20

    def get_config(self) -> dict:
        return {k: v for k, v in vars(self).items() if k not in ("slots", "iterations")}


@keras_arguments()
@dataclass
class SGD(Optimizer):
    learning_rate: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    name = "sgd"

    def _new_slots(self, w):
        return [np.zeros_like(w)] if self.momentum else []

    def update_cost(self):
        return (8, 8) if self.momentum else (6, 8)  # measured 5.0 and 3.5 operations, 5 µs

    def _update(self, w, g, slots, lr):
        if not slots:
            w -= g * lr
            return
        (m,) = slots
        mu = np.float32(self.momentum)
        m[...] = m * mu - g * lr
        w += (m * mu - g * lr) if self.nesterov else m


@keras_arguments(amsgrad=False)
@dataclass
class Adam(Optimizer):
    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    name = "adam"

    def _new_slots(self, w):
        return [np.zeros_like(w), np.zeros_like(w)]

    def update_cost(self):
        return 18, 20  # measured 11.4 operations, 13 µs

    def _update(self, w, g, slots, lr):
        m, v = slots
        step = np.float32(self.iterations + 1)
        b1, b2 = np.float32(self.beta_1), np.float32(self.beta_2)
        alpha = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
        m += (g - m) * (1 - b1)
        v += (np.square(g) - v) * (1 - b2)
        w -= (m * alpha) / (np.sqrt(v) + np.float32(self.epsilon))


@keras_arguments()
@dataclass
class RMSprop(Optimizer):
    learning_rate: float = 0.001
    rho: float = 0.9
    momentum: float = 0.0
    epsilon: float = 1e-7
    centered: bool = False
    name = "rmsprop"

    def _new_slots(self, w):
        return (
            [np.zeros_like(w)]
            + ([np.zeros_like(w)] if self.momentum > 0 else [])
            + ([np.zeros_like(w)] if self.centered else [])
        )

    def update_cost(self):  # measured 13.5 operations and 6 µs; centered with momentum 21.3 and 14 µs
        return 20 + (8 if self.centered else 0) + (4 if self.momentum > 0 else 0), 10 + (
            6 if self.centered or self.momentum else 0
        )

    def _update(self, w, g, slots, lr):
        velocity = slots[0]
        rho = np.float32(self.rho)
        velocity[...] = rho * velocity + (1 - rho) * np.square(g)
        if self.centered:
            average = slots[-1]
            average[...] = rho * average + (1 - rho) * g
            denominator = velocity - np.square(average) + np.float32(self.epsilon)
        else:
            denominator = velocity + np.float32(self.epsilon)
        increment = (lr * g) / np.sqrt(denominator)
        if self.momentum > 0:
            momentum = slots[1]
            momentum[...] = np.float32(self.momentum) * momentum + increment
            w -= momentum
        else:
            w -= increment


@keras_arguments()
@dataclass
class Adagrad(Optimizer):
    learning_rate: float = 0.001
    initial_accumulator_value: float = 0.1
    epsilon: float = 1e-7
    name = "adagrad"

    def _new_slots(self, w):
        return [np.full_like(w, self.initial_accumulator_value)]

    def update_cost(self):
        return 17, 12  # measured 11.1 operations, 8 µs

    def _update(self, w, g, slots, lr):
        (accumulator,) = slots
        accumulator += np.square(g)
        w -= (lr * g) / np.sqrt(accumulator + np.float32(self.epsilon))


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adagrad": Adagrad}


def get_optimizer(identifier) -> Optimizer:
    """An optimizer by Keras name (any case: "SGD", "adam") with Keras's defaults, or an Optimizer itself (copied)."""
    if isinstance(identifier, Optimizer):
        return type(identifier)(**identifier.get_config())
    if not isinstance(identifier, str) or identifier.lower() not in OPTIMIZERS:
        raise LayerConfigError(f"unknown optimizer {str(identifier)[:40]!r}; netbuilder has {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[identifier.lower()]()
