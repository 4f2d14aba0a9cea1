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
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}
CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")  # Keras takes one of them at most


def keras_arguments(**not_implemented):
    """Class decorator: Keras's arguments the optimizer does not implement (NOT_IMPLEMENTED and `not_implemented`) are
    refused by name unless left at their defaults, and so are unknown ones (not a bare TypeError)."""

    def wrap(cls):
        init = cls.__init__
        own = [f.name for kw_only in (False, True) for f in fields(cls) if f.init and f.kw_only == kw_only]
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
    """Base: Keras's defaults and update formulas, one state slot list per trainable weight. A step, in Keras's order:
    the gradients clipped (`clipnorm` each, `global_clipnorm` all together, or `clipvalue`), each weight decayed
    (`w -= w · weight_decay · lr`), then updated."""

    learning_rate: float = 0.001
    weight_decay: float | None = field(default=None, kw_only=True)
    clipnorm: float | None = field(default=None, kw_only=True)
    clipvalue: float | None = field(default=None, kw_only=True)
    global_clipnorm: float | None = field(default=None, kw_only=True)
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
            elif value is None and f.default is None:
                continue
            elif (
                isinstance(value, (bool, np.bool_))
                or not isinstance(value, (int, float, np.integer, np.floating))
                or not math.isfinite(value)
                or value < 0
            ):  # a learning-rate schedule is one of these
                raise LayerConfigError(
                    f"{type(self).__name__}({f.name}=...) must be a number of at least 0; received {str(value)[:20]}"
                )
        if sum(getattr(self, clip) is not None for clip in CLIPS) > 1:
            raise LayerConfigError(
                f"{type(self).__name__}: only one of clipnorm, clipvalue and global_clipnorm can be set, as in Keras"
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
        scale = self._global_scale(grads)
        self._begin_step()
        for k, (w, g, slots) in enumerate(zip(weights, grads, self.slots)):
            before = w.copy() if keep_finite else None  # one array at a time: counted in the update's temporaries
            g = self._clipped(g.astype(np.float32), scale)
            if self.weight_decay is not None:  # before the update, from the rate of this step (Keras's order)
                w -= w * np.float32(self.weight_decay) * lr
            self._update(w, g, slots, lr)
            if keep_finite and not np.all(np.isfinite(w)):
                w[...] = before
                return k
        self.iterations += 1
        return None

    def _begin_step(self) -> None:
        """What a step changes once, before its updates (Nadam's momentum product)."""

    def _global_scale(self, grads: list[np.ndarray]) -> np.float32 | None:
        """With `global_clipnorm`, the factor every gradient is multiplied by (NaN for a norm that is not finite, as
        Keras's); None otherwise."""
        if not self.global_clipnorm:
            return None
        limit = np.float32(self.global_clipnorm)
        norm = np.sqrt(np.sum([np.sum(np.square(g), dtype=np.float32) for g in grads], dtype=np.float32))
        with np.errstate(divide="ignore", invalid="ignore"):
            return limit * np.minimum(1 / norm, 1 / limit) + (norm - norm)

    def _clipped(self, g: np.ndarray, scale: np.float32 | None) -> np.ndarray:
        """A gradient as Keras clips it: to `clipnorm`, by the global `scale`, or each value to ±`clipvalue` (a new
        array: one at a time, as the update's temporaries are counted)."""
        if self.clipnorm:
            limit = np.float32(self.clipnorm)
            return g * limit / np.maximum(np.sqrt(np.sum(np.square(g), dtype=np.float32)), limit)
        if scale is not None:
            return g * scale
        if self.clipvalue:
            return np.clip(g, -np.float32(self.clipvalue), np.float32(self.clipvalue))
        return g

    def slot_count(self) -> int:
        """How many arrays of a weight's size this optimizer keeps (for the memory budget)."""
        return len(self._new_slots(np.zeros(1, np.float32)))

    def update_cost(self) -> tuple[int, int]:
        """(elementwise operations per trainable value, microseconds per weight array whatever its size) of one step's
        update, for the work budget, clipping and weight decay included."""
        operations, microseconds = self._update_cost()
        extra = (4 if any(getattr(self, clip) for clip in CLIPS) else 0) + (3 if self.weight_decay else 0)
        return operations + extra, microseconds + (4 if extra else 0)

    def _update_cost(self) -> tuple[int, int]:
        """The update's own: measured on the server (4 M values; 10 values) and rounded up by half. An optimizer that
        does not say is counted generously."""
        return 32, 20

    def get_config(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}


@keras_arguments()
@dataclass
class SGD(Optimizer):
    learning_rate: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    name = "sgd"

    def _new_slots(self, w):
        return [np.zeros_like(w)] if self.momentum else []

    def _update_cost(self):
        return (8, 8) if self.momentum else (6, 8)  # measured 5.0 and 3.5 operations, 5 µs

    def _update(self, w, g, slots, lr):
        if not slots:
            w -= g * lr
            return
        (m,) = slots
        mu = np.float32(self.momentum)
        m[...] = m * mu - g * lr
        w += (m * mu - g * lr) if self.nesterov else m


@dataclass
class _Moments(Optimizer):
    """The Adam family's arguments (Keras's order and defaults) and its two moments per weight."""

    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7

    def _new_slots(self, w):
        return [np.zeros_like(w), np.zeros_like(w)]


@keras_arguments()
@dataclass
class Adam(_Moments):
    amsgrad: bool = False
    name = "adam"

    def _new_slots(self, w):
        return super()._new_slots(w) + ([np.zeros_like(w)] if self.amsgrad else [])

    def _update_cost(self):
        return (22 if self.amsgrad else 18), 20  # measured 11.4 operations, 13 µs (amsgrad: one maximum more)

    def _update(self, w, g, slots, lr):
        m, v = slots[:2]
        step = np.float32(self.iterations + 1)
        b1, b2 = np.float32(self.beta_1), np.float32(self.beta_2)
        alpha = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
        m += (g - m) * (1 - b1)
        v += (np.square(g) - v) * (1 - b2)
        if self.amsgrad:  # the largest second moment so far
            v_hat = slots[2]
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        w -= (m * alpha) / (np.sqrt(v) + np.float32(self.epsilon))


@keras_arguments()
@dataclass
class AdamW(Adam):
    """Adam with weight decay (0.004 unless given): Keras's AdamW is exactly that."""

    weight_decay: float | None = field(default=0.004, kw_only=True)
    name = "adamw"

    def __post_init__(self):
        if self.weight_decay is None:
            raise LayerConfigError("AdamW(weight_decay=...) must be a number, as Keras requires; received None")
        super().__post_init__()


@keras_arguments()
@dataclass
class Adamax(_Moments):
    """Adam with the infinity norm: `u = max(β₂·u, |g|)`."""

    name = "adamax"

    def _update_cost(self):
        return 15, 20

    def _update(self, w, g, slots, lr):
        m, u = slots
        b1 = np.float32(self.beta_1)
        power = b1 ** np.float32(self.iterations + 1)
        m += (g - m) * (1 - b1)
        np.maximum(np.float32(self.beta_2) * u, np.abs(g), out=u)
        w -= (lr * m) / ((1 - power) * (u + np.float32(self.epsilon)))


@keras_arguments()
@dataclass
class Nadam(_Moments):
    """Adam with Nesterov momentum and Keras's momentum schedule `μ_t = β₁ (1 − ½ · 0.96^t)`."""

    u_product: float = field(default=1.0, init=False, repr=False)  # the product of the μ so far, kept across steps
    name = "nadam"

    def _update_cost(self):
        return 24, 25

    def _begin_step(self):
        step = np.float32(self.iterations + 1)
        self.u_product = np.float32(self.u_product) * np.float32(self.beta_1) * (1 - 0.5 * np.float32(0.96) ** step)

    def _update(self, w, g, slots, lr):
        m, v = slots
        b1, b2 = np.float32(self.beta_1), np.float32(self.beta_2)
        step, decay = np.float32(self.iterations + 1), np.float32(0.96)
        u_t = b1 * (np.float32(1) - np.float32(0.5) * decay**step)
        u_t_1 = b1 * (np.float32(1) - np.float32(0.5) * decay ** (step + 1))
        u_product_t = np.float32(self.u_product)
        u_product_t_1 = u_product_t * u_t_1
        m += (g - m) * (1 - b1)
        v += (np.square(g) - v) * (1 - b2)
        # in place, the same operations in the same order: two temporaries of the weight's size at most
        step_size = u_t_1 * m
        step_size /= 1 - u_product_t_1
        term = (1 - u_t) * g
        term /= 1 - u_product_t
        step_size += term  # m̂
        np.divide(v, 1 - b2**step, out=term)  # v̂
        np.sqrt(term, out=term)
        term += np.float32(self.epsilon)
        step_size *= lr
        step_size /= term
        w -= step_size


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

    def _update_cost(self):  # measured 13.5 operations and 6 µs; centered with momentum 21.3 and 14 µs
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

    def _update_cost(self):
        return 17, 12  # measured 11.1 operations, 8 µs

    def _update(self, w, g, slots, lr):
        (accumulator,) = slots
        accumulator += np.square(g)
        w -= (lr * g) / np.sqrt(accumulator + np.float32(self.epsilon))


OPTIMIZERS = {
    "sgd": SGD,
    "adam": Adam,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "adamw": AdamW,
    "adamax": Adamax,
    "nadam": Nadam,
}


def get_optimizer(identifier) -> Optimizer:
    """An optimizer by Keras name (any case: "SGD", "adam") with Keras's defaults, or an Optimizer itself (copied)."""
    if isinstance(identifier, Optimizer):
        return type(identifier)(**identifier.get_config())
    if not isinstance(identifier, str) or identifier.lower() not in OPTIMIZERS:
        raise LayerConfigError(f"unknown optimizer {str(identifier)[:40]!r}; netbuilder has {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[identifier.lower()]()
