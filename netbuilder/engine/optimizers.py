"""Keras 3's optimizers: their defaults and update formulas (keras/src/optimizers), on NumPy float32 arrays in place."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields

import numpy as np

from .arguments import refuse_unhonoured
from .errors import LayerConfigError
from .schedules import LearningRateSchedule, deserialize, serialize

# Arguments every Keras optimizer takes that netbuilder does not implement, with Keras's defaults (`name` changes
# nothing)
NOT_IMPLEMENTED = {"loss_scale_factor": None}
CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")  # Keras takes one of them at most


def number(default, *, low=0, integer=False, kw_only=False):
    """A numeric argument: a finite number of at least `low` (None: any), a whole one with `integer`."""
    return field(default=default, kw_only=kw_only, metadata={"low": low, "integer": integer})


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
    the gradients added up (with `gradient_accumulation_steps`), clipped (`clipnorm` each, `global_clipnorm` all
    together, or `clipvalue`), each weight decayed (`w -= w · weight_decay · lr`), updated, and then averaged (with
    `use_ema`). `learning_rate` is a number or a schedule of the steps taken (schedules.py)."""

    learning_rate: float | LearningRateSchedule = 0.001
    weight_decay: float | None = number(None, kw_only=True)
    clipnorm: float | None = number(None, kw_only=True)
    clipvalue: float | None = number(None, kw_only=True)
    global_clipnorm: float | None = number(None, kw_only=True)
    use_ema: bool = field(default=False, kw_only=True)
    ema_momentum: float = number(0.99, kw_only=True)
    ema_overwrite_frequency: int | None = number(None, low=1, integer=True, kw_only=True)
    gradient_accumulation_steps: int | None = number(None, low=2, integer=True, kw_only=True)
    _iterations: int = field(default=0, init=False, repr=False)  # Keras's: every step, accumulating or not
    slots: list = field(default_factory=list, init=False, repr=False, compare=False)
    averages: list = field(default_factory=list, init=False, repr=False, compare=False)  # use_ema's
    accumulators: list = field(default_factory=list, init=False, repr=False, compare=False)  # the gradients' sums

    name = "optimizer"

    def __post_init__(self):
        for f in (f for f in fields(self) if f.init):
            value = getattr(self, f.name)
            if isinstance(f.default, bool):
                if not isinstance(value, (bool, np.bool_)):
                    raise LayerConfigError(f"{self._what(f.name)} must be True or False; received {_shown(value)}")
            elif not (value is None and f.default is None):
                if not (f.name == "learning_rate" and isinstance(value, LearningRateSchedule)):
                    self._check_number(f, value)
        if sum(getattr(self, clip) is not None for clip in CLIPS) > 1:
            raise LayerConfigError(
                f"{type(self).__name__}: only one of clipnorm, clipvalue and global_clipnorm can be set, as in Keras"
            )
        if self.use_ema and self.ema_momentum > 1:
            raise LayerConfigError(f"`ema_momentum` must be in the range [0, 1]. Received: {self.ema_momentum}")

    def _what(self, name: str) -> str:
        return f"{type(self).__name__}({name}=...)"

    def _check_number(self, f, value) -> None:
        """A finite number of at least the field's `low` (a whole one if it says `integer`), or a LayerConfigError."""
        low, integer = f.metadata.get("low", 0), f.metadata.get("integer", False)
        kind = (int, np.integer) if integer else (int, float, np.integer, np.floating)
        valid = not isinstance(value, (bool, np.bool_)) and isinstance(value, kind) and math.isfinite(value)
        if not valid or (low is not None and value < low):
            what = ("a whole number" if integer else "a number") + ("" if low is None else f" of at least {low}")
            schedule = " or a learning-rate schedule (netbuilder.optimizers.schedules)" * (f.name == "learning_rate")
            raise LayerConfigError(f"{self._what(f.name)} must be {what}{schedule}; received {_shown(value)}")

    @property
    def iterations(self) -> int:
        """Keras's: the updates made (with `gradient_accumulation_steps` k, the steps taken over k, floored)."""
        k = self.gradient_accumulation_steps
        return self._iterations // k if k else self._iterations

    def build(self, weights: list[np.ndarray]) -> None:
        self.slots = [self._new_slots(w) for w in weights]
        self.averages = [np.zeros_like(w) for w in weights] if self.use_ema else []
        self.accumulators = [np.zeros_like(w) for w in weights] if self.gradient_accumulation_steps else []

    def _new_slots(self, w: np.ndarray) -> list[np.ndarray]:
        return []

    def current_learning_rate(self) -> np.float32:
        """The rate of the coming step: the schedule's at the steps taken so far (the first step's is schedule(0))."""
        rate = self.learning_rate
        return np.float32(rate(self._iterations) if isinstance(rate, LearningRateSchedule) else rate)

    def apply(self, weights: list[np.ndarray], grads: list[np.ndarray], keep_finite: bool = False) -> int | None:
        """Update `weights` in place from `grads`, one step. With `keep_finite`, the first weight the update would make
        NaN or infinite keeps its value, no weight after it is updated, and its index is returned (None: all
        updated)."""
        lr = self.current_learning_rate()  # weight decay's and the update's, as Keras's
        if self.gradient_accumulation_steps:
            grads = self._accumulated(grads)
            if grads is None:  # a step that only adds its gradients up
                self._end_step(weights)
                return None
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
        for accumulator in self.accumulators:
            accumulator[...] = 0
        self._end_step(weights)
        return None

    def _accumulated(self, grads: list[np.ndarray]) -> list[np.ndarray] | None:
        """Keras's gradient accumulation: the gradients added to the sums kept; every k-th step, the sums' mean (in
        place: they are zeroed after the update), None on the others."""
        for accumulator, g in zip(self.accumulators, grads):
            accumulator += g
        k = self.gradient_accumulation_steps
        if (self._iterations + 1) % k:
            return None
        for accumulator in self.accumulators:
            accumulator /= np.float32(k)
        return self.accumulators

    def _begin_step(self) -> None:
        """What a step changes once, before its updates (Nadam's momentum product)."""

    def _end_step(self, weights: list[np.ndarray]) -> None:
        """After the updates, as Keras: the moving averages (momentum 0 on the first update, so the first average is
        the weights), the weights overwritten by them every `ema_overwrite_frequency` updates, a step more counted."""
        if self.use_ema:
            momentum = np.float32(self.ema_momentum) if self.iterations else np.float32(0)
            for w, average in zip(weights, self.averages):
                average[...] = momentum * average + (1 - momentum) * w
            frequency = self.ema_overwrite_frequency
            if frequency and (self.iterations + 1) % frequency == 0:
                self.finalize_variable_values(weights)
        self._iterations += 1

    def finalize_variable_values(self, weights: list[np.ndarray]) -> None:
        """Keras's: with `use_ema`, the weights overwritten by their moving averages (what Keras's fit does last)."""
        for w, average in zip(weights, self.averages):
            w[...] = average

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

    def slot_count(self, shapes: list[tuple] | None = None) -> float:
        """Float32 values this optimizer keeps per trainable value, for the memory budget (`trainable × (1 + this)`):
        exactly for trainable weights of `shapes`, and without them the most any shapes need. A whole number of weight
        copies for every optimizer but Adafactor, whose factored moments are smaller than the weights."""
        return self._slot_count(shapes) + self.use_ema + bool(self.gradient_accumulation_steps)

    def _slot_count(self, shapes: list[tuple] | None) -> float:
        return len(self._new_slots(np.zeros(1, np.float32)))

    def update_cost(self) -> tuple[int, int]:
        """(elementwise operations per trainable value, microseconds per weight array whatever its size) of one step's
        update, for the work budget: clipping, weight decay, accumulation and moving averages included."""
        operations, microseconds = self._update_cost()
        extras = (
            (4, 4) if any(getattr(self, clip) for clip in CLIPS) else (0, 0),
            (3, 4) if self.weight_decay else (0, 0),
            (3, 2) if self.gradient_accumulation_steps else (0, 0),  # measured 0.7 operations a step, 0 µs
            (8, 6) if self.use_ema else (0, 0),  # measured 3.7 operations, 2 µs
        )
        return operations + sum(o for o, _ in extras), microseconds + sum(m for _, m in extras)

    def _update_cost(self) -> tuple[int, int]:
        """The update's own: measured on the server (4 M values; 10 values) and rounded up by half. An optimizer that
        does not say is counted generously. Those measured elsewhere (Adadelta and after) are scaled to the server by
        the existing ones (× 2.1 operations, × 3 µs: this machine's measure of Adam was 8.0 and 7 µs)."""
        return 32, 20

    def step_microseconds(self) -> int:
        """A step's own microseconds whatever its weights: a learning-rate schedule's few scalar operations (measured
        1 to 6 µs, CosineDecayRestarts the most)."""
        return 20 if isinstance(self.learning_rate, LearningRateSchedule) else 0

    def get_config(self) -> dict:
        """Keras's arguments as given; a schedule as Keras serializes it."""
        config = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        if isinstance(self.learning_rate, LearningRateSchedule):
            config["learning_rate"] = serialize(self.learning_rate)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Optimizer:
        """Keras's: the optimizer a config makes, a serialized schedule included."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = deserialize(config["learning_rate"])
        return cls(**config)


def _shown(value) -> str:
    return str(value)[:20]


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
        m += (g - m) * np.float32(1 - self.beta_1)  # 1 − β in Python's double, as Keras writes it
        v += (np.square(g) - v) * np.float32(1 - self.beta_2)
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
        m += (g - m) * np.float32(1 - self.beta_1)  # 1 − β in Python's double, as Keras writes it
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
        rho, rest = np.float32(self.rho), np.float32(1 - self.rho)  # 1 − ρ in Python's double, as Keras writes it
        velocity[...] = rho * velocity + rest * np.square(g)
        if self.centered:
            average = slots[-1]
            average[...] = rho * average + rest * g
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


@keras_arguments()
@dataclass
class Adadelta(Optimizer):
    """Keras's Adadelta: running means of the squared gradients and of the squared updates set each step's size."""

    learning_rate: float = 0.001
    rho: float = 0.95
    epsilon: float = 1e-7
    name = "adadelta"

    def _new_slots(self, w):
        return [np.zeros_like(w), np.zeros_like(w)]

    def _update_cost(self):
        return 22, 22  # measured 10.3 operations, 7 µs

    def _update(self, w, g, slots, lr):
        grads, deltas = slots
        rho, rest, epsilon = np.float32(self.rho), np.float32(1 - self.rho), np.float32(self.epsilon)
        # Keras's expressions, in place (two temporaries of the weight's size)
        term = np.square(g)
        term *= rest
        grads *= rho
        grads += term  # ρ·E[g²] + (1 − ρ)·g²
        delta = np.add(deltas, epsilon, out=term)
        np.sqrt(delta, out=delta)
        delta *= g
        root = grads + epsilon
        np.sqrt(root, out=root)
        delta /= root
        np.negative(delta, out=delta)  # −√(E[Δ²] + ε)·g / √(E[g²] + ε)
        np.square(delta, out=root)
        root *= rest
        deltas *= rho
        deltas += root
        delta *= lr
        w += delta


@keras_arguments()
@dataclass
class Ftrl(Optimizer):
    """Keras's Follow The Regularized Leader: each weight solved afresh from a linear sum and an accumulator of the
    squared gradients, with L1 and L2 strengths."""

    learning_rate: float = 0.001
    learning_rate_power: float = number(-0.5, low=None)
    initial_accumulator_value: float = 0.1
    l1_regularization_strength: float = 0.0
    l2_regularization_strength: float = 0.0
    l2_shrinkage_regularization_strength: float = 0.0
    beta: float = 0.0
    name = "ftrl"

    def __post_init__(self):
        super().__post_init__()
        if self.learning_rate_power > 0:
            raise LayerConfigError(
                "`learning_rate_power` needs to be negative or zero. Received: "
                f"learning_rate_power={self.learning_rate_power}."
            )

    def _new_slots(self, w):
        return [np.full_like(w, self.initial_accumulator_value), np.zeros_like(w)]

    def _update_cost(self):
        return 53, 33  # measured 25.2 operations, 11 µs (its two powers)

    def _update(self, w, g, slots, lr):
        accumulator, linear = slots
        power = np.float32(-self.learning_rate_power)
        l1 = np.float32(self.l1_regularization_strength)
        l2 = np.float32(self.l2_regularization_strength) + np.float32(self.beta) / (np.float32(2) * lr)
        # Keras's expressions, in place (three temporaries of the weight's size)
        grown = np.square(g)
        grown += accumulator  # the new accumulator
        change = np.power(accumulator, power)
        accumulator[...] = grown
        np.power(grown, power, out=grown)
        np.subtract(grown, change, out=change)
        change /= lr
        change *= w
        shrunk = np.float32(2 * self.l2_shrinkage_regularization_strength) * w
        shrunk += g
        shrunk -= change
        linear += shrunk
        grown /= lr
        grown += np.float32(2) * l2  # the quadratic
        np.clip(linear, -l1, l1, out=change)
        change -= linear
        change /= grown
        w[...] = change


@keras_arguments()
@dataclass
class Lion(Optimizer):
    """Keras's Lion: each weight moves by the learning rate times the sign of an interpolated momentum."""

    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.99
    name = "lion"

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.beta_1 <= 1:
            raise LayerConfigError(
                "Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer degenerates to SignSGD. "
                f"Received: beta_1={self.beta_1}."
            )

    def _new_slots(self, w):
        return [np.zeros_like(w)]

    def _update_cost(self):
        return 15, 15  # measured 7.2 operations, 5 µs

    def _update(self, w, g, slots, lr):
        (m,) = slots
        b1, b2 = np.float32(self.beta_1), np.float32(self.beta_2)
        w -= lr * np.sign(m * b1 + g * (1 - b1))  # 1 − β in float32 here (Keras casts β first)
        m[...] = m * b2 + g * (1 - b2)


@keras_arguments()
@dataclass
class Lamb(_Moments):
    """Adam's step scaled per weight by the ratio of the weight's norm to the step's (Keras's Lamb)."""

    name = "lamb"

    def _update_cost(self):
        return 42, 40  # measured 20.1 operations, 13 µs (its two norms)

    def _update(self, w, g, slots, lr):
        m, v = slots
        step = np.float32(self.iterations + 1)
        power_1, power_2 = np.float32(self.beta_1) ** step, np.float32(self.beta_2) ** step
        m += (g - m) * np.float32(1 - self.beta_1)  # 1 − β in Python's double, as Keras writes it
        v += (np.square(g) - v) * np.float32(1 - self.beta_2)
        update = m / (1 - power_1)
        update /= np.sqrt(v / (1 - power_2)) + np.float32(self.epsilon)
        w_norm = np.sqrt(np.sum(np.square(w)))
        update_norm = np.sqrt(np.sum(np.square(update)))
        ratio = w_norm / update_norm if w_norm > 0 and update_norm > 0 else np.float32(1)
        update *= ratio * lr
        w -= update


@keras_arguments()
@dataclass
class Adafactor(Optimizer):
    """Keras's Adafactor: a weight of 2 axes or more keeps its squared gradients' means along its last axis and along
    the one before (not a moment of its size); a step is at most `1/√step` of the weight's root mean square."""

    learning_rate: float = 0.001
    beta_2_decay: float = number(-0.8, low=None)
    epsilon_1: float = 1e-30
    epsilon_2: float = 0.001
    clip_threshold: float = 1.0
    relative_step: bool = True  # Keras 3.15 keeps it and changes nothing with it (see _update)
    name = "adafactor"

    def _new_slots(self, w):
        if w.ndim < 2:
            return [np.zeros_like(w)]
        return [np.zeros(w.shape[:-1], np.float32), np.zeros(w.shape[:-2] + w.shape[-1:], np.float32)]

    def _slot_count(self, shapes):
        """A weight of fewer than 2 axes keeps a copy; one of more, its rows' and columns' means (each at most its
        size: 2 copies without the shapes)."""
        if shapes is None:
            return 2
        shapes = [tuple(shape) for shape in shapes]
        kept = sum(
            math.prod(shape) if len(shape) < 2 else math.prod(shape[:-1]) + math.prod(shape[:-2] + shape[-1:])
            for shape in shapes
        )
        return kept / max(1, sum(math.prod(shape) for shape in shapes))

    def _update_cost(self):
        return 17, 112  # measured 8.0 operations, 37 µs (its means and root mean squares)

    def _update(self, w, g, slots, lr):
        step = np.float32(self.iterations + 1)
        # Keras computes min(lr, 1/√step) with relative_step (unless the rate is a schedule), and then again for ρ
        # whatever relative_step: the rate is always capped, and relative_step changes nothing
        rho = np.minimum(lr, 1 / np.sqrt(step))
        alpha = np.maximum(np.float32(self.epsilon_2), _rms(w)) * rho
        beta = 1 - np.power(step, np.float32(self.beta_2_decay))
        square = np.square(g)
        square += np.float32(self.epsilon_1)
        if w.ndim >= 2:  # the second moment rebuilt from its factors: rows' means over their mean, times columns'
            rows, columns = slots
            rows[...] = beta * rows + (1 - beta) * np.mean(square, axis=-1)
            columns[...] = beta * columns + (1 - beta) * np.mean(square, axis=-2)
            share = rows / np.mean(rows, axis=-1, keepdims=True)
            v = np.multiply(share[..., None], columns[..., None, :], out=square)
        else:
            (v,) = slots
            v[...] = beta * v + (1 - beta) * square
        np.sqrt(v, out=square)
        u = np.divide(g, square, out=square)
        u /= np.maximum(np.float32(1), _rms(u) / np.float32(self.clip_threshold))
        u *= alpha
        w -= u


def _rms(x: np.ndarray) -> np.float32:
    return np.sqrt(np.mean(np.square(x)))


@keras_arguments()
@dataclass
class ScheduleFreeAdamW(_Moments):
    """Keras's schedule-free AdamW: the weights are an interpolation of an Adam iterate `z` (starting at the weights)
    and its running average, with `warmup_steps` of linear warmup."""

    learning_rate: float = 0.0025
    epsilon: float = 1e-8
    warmup_steps: int = number(0, integer=True)
    name = "schedulefreeadamw"

    def _new_slots(self, w):
        return [w.astype(np.float32, copy=True), np.zeros_like(w)]

    def _update_cost(self):
        return 37, 30  # measured 17.6 operations, 10 µs

    def _update(self, w, g, slots, lr):
        z, v = slots
        step = np.float32(self.iterations + 1)
        b1, b2 = np.float32(self.beta_1), np.float32(self.beta_2)
        if self.warmup_steps > 0:
            lr = lr * np.minimum(step / np.float32(self.warmup_steps), np.float32(1))
        v += (np.square(g) - v) * (1 - b2)  # 1 − β in float32 here (Keras casts β first)
        x = w - (1 - b1) * z  # the average, from z before its step
        x /= b1
        denominator = np.sqrt(v / (1 - b2**step))
        denominator += np.float32(self.epsilon)
        z -= (lr * g) / denominator
        weight = 1 / step
        x *= 1 - weight
        x += weight * z
        x *= b1
        w[...] = (1 - b1) * z + x


# by Keras's lowercase name (keras.optimizers.get's): what the Train page offers, and get_optimizer takes but "lamb"
OPTIMIZERS = {
    "sgd": SGD,
    "adam": Adam,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "adamw": AdamW,
    "adamax": Adamax,
    "nadam": Nadam,
    "adadelta": Adadelta,
    "ftrl": Ftrl,
    "lion": Lion,
    "lamb": Lamb,
    "adafactor": Adafactor,
    "schedulefreeadamw": ScheduleFreeAdamW,
}


# Keras's optimizers netbuilder does not have, or not by name, and why (get_optimizer says so)
REFUSED = {
    "lamb": "Keras 3.15's keras.optimizers.get does not know it (Lamb is left out of its list of optimizers): "
    "compile with the object, Lamb(...), as Keras needs keras.optimizers.Lamb(...)",
    "lossscaleoptimizer": "it wraps another optimizer, scales the loss before the gradients are taken (for float16 "
    "training) and skips the steps whose scaled gradients overflow; netbuilder's fit takes the loss's gradients "
    "unscaled",
    "multioptimizer": "it picks an optimizer per weight by the weight's path, and netbuilder's optimizers update "
    "every trainable weight alike",
    "muon": "its Newton-Schulz orthogonalisation of each 2-D gradient and its choice of AdamW by the weight's path "
    "are not implemented",
}


def get_optimizer(identifier) -> Optimizer:
    """An optimizer by Keras name (any case: "SGD", "adam") with Keras's defaults, by Keras's serialized form
    ({"class_name": "Adam", "config": {...}}), or an Optimizer itself (copied)."""
    if isinstance(identifier, Optimizer):
        return type(identifier).from_config(identifier.get_config())
    config = {}
    if isinstance(identifier, dict) and isinstance(identifier.get("config", {}), dict):
        identifier, config = identifier.get("class_name"), identifier.get("config", {})
    name = identifier.lower() if isinstance(identifier, str) else None
    if name in REFUSED:
        raise LayerConfigError(f"optimizer {identifier!r} is not supported by netbuilder: {REFUSED[name]}")
    if name not in OPTIMIZERS:
        known = ", ".join(k for k in OPTIMIZERS if k not in REFUSED)
        raise LayerConfigError(f"unknown optimizer {str(identifier)[:40]!r}; netbuilder has {known}")
    return OPTIMIZERS[name].from_config(config)
