"""Keras 3's learning-rate schedules (keras/src/optimizers/schedules/learning_rate_schedule.py): the rate of a step,
computed in float32 in Keras's order of operations, and Keras's config."""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass, fields, is_dataclass

import numpy as np

from .errors import LayerConfigError

f32 = np.float32


class LearningRateSchedule:
    """Base: a learning rate from the optimizer's step count (0 on the first step). A subclass gives `__call__`."""

    positive = ()  # arguments Keras requires above 0 (the other numbers must be at least 0)

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "name":
                if not isinstance(value, str):
                    raise LayerConfigError(f"{self._what(f.name)} must be a string; received {_shown(value)}")
            elif isinstance(f.default, bool):
                if not isinstance(value, (bool, np.bool_)):
                    raise LayerConfigError(f"{self._what(f.name)} must be True or False; received {_shown(value)}")
            elif not (value is None and f.default is None) and f.name not in ("boundaries", "values"):
                self._number(f.name, value)
        start = getattr(self, "initial_learning_rate", 0.0)
        if not isinstance(start, (float, np.floating)):  # Keras computes in its type: 3 for π, 0 for 0.5^p
            raise LayerConfigError(
                f"{self._what('initial_learning_rate')} must be a float such as {start}.0: Keras computes the "
                f"schedule in the type of initial_learning_rate, and in integers it is not a rate"
            )

    def _what(self, name: str) -> str:
        return f"{type(self).__name__}({name}=...)"

    def _number(self, name: str, value) -> None:
        """A finite number, above 0 when Keras requires it (Keras's message), at least 0 otherwise."""
        if not _is_number(value):
            raise LayerConfigError(f"{self._what(name)} must be a finite number; received {_shown(value)}")
        if name in self.positive and value <= 0:
            raise LayerConfigError(f"Argument `{name}` must be > 0. Received: {name}={value}")
        if value < 0:
            raise LayerConfigError(f"{self._what(name)} must be a number of at least 0; received {_shown(value)}")

    def __call__(self, step) -> np.float32:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`."
        )

    def get_config(self) -> dict:
        """Keras's config: the arguments in Keras's order, as given."""
        if not is_dataclass(self):
            raise NotImplementedError(
                f"Learning rate schedule '{type(self).__name__}' must override `get_config()` in order to be "
                "serializable."
            )
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


def keras_schedule(cls):
    """Class decorator: a dataclass whose missing or unknown arguments are refused naming what it takes (not a bare
    TypeError)."""
    cls = dataclass(cls)
    init = cls.__init__
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        try:
            signature.bind(self, *args, **kwargs)
        except TypeError as e:
            takes = ", ".join(f.name for f in fields(cls))
            raise LayerConfigError(f"{cls.__name__}: {e}; {cls.__name__} takes {takes}") from None
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls


def _is_number(value) -> bool:
    return (
        not isinstance(value, (bool, np.bool_))
        and isinstance(value, (int, float, np.integer, np.floating))
        and math.isfinite(value)
    )


def _shown(value) -> str:
    return str(value)[:20]


@keras_schedule
class ExponentialDecay(LearningRateSchedule):
    """`initial_learning_rate · decay_rate ^ (step / decay_steps)`, the exponent floored with `staircase`."""

    initial_learning_rate: float
    decay_steps: int
    decay_rate: float
    staircase: bool = False
    name: str = "ExponentialDecay"
    positive = ("decay_steps",)

    def __call__(self, step):
        p = f32(step) / f32(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return f32(self.initial_learning_rate) * np.power(f32(self.decay_rate), p)


@keras_schedule
class PiecewiseConstantDecay(LearningRateSchedule):
    """`values[0]` up to step `boundaries[0]` included, `values[1]` up to `boundaries[1]`, … and `values[-1]` after."""

    boundaries: list
    values: list
    name: str = "PiecewiseConstant"

    def __post_init__(self):
        super().__post_init__()
        for what in ("boundaries", "values"):
            given = getattr(self, what)
            if not isinstance(given, (list, tuple)) or not all(_is_number(v) for v in given):
                raise LayerConfigError(f"{self._what(what)} must be a list of finite numbers; received {_shown(given)}")
        if len(self.boundaries) != len(self.values) - 1:
            raise LayerConfigError(
                "The length of boundaries should be 1 less than the length of values. Received: "
                f"boundaries={self.boundaries} of length {len(self.boundaries)}, and values={self.values} "
                f"of length {len(self.values)}."
            )
        steps = [int(b) for b in self.boundaries]  # compared with the step as integers, as Keras casts them
        if not steps or any(a >= b for a, b in zip(steps, steps[1:])):
            raise LayerConfigError(
                f"{self._what('boundaries')} must be one step number or more, strictly increasing (as whole numbers); "
                f"received {_shown(self.boundaries)}"
            )
        for value in self.values:
            self._number("values", value)

    def __call__(self, step):
        # Keras's sum of (step in range) × value over every range
        bounds = [int(b) for b in self.boundaries]
        result = f32(step <= bounds[0]) * f32(self.values[0])
        result += f32(step > bounds[-1]) * f32(self.values[-1])
        for low, high, value in zip(bounds[:-1], bounds[1:], self.values[1:-1]):
            result += f32(low < step <= high) * f32(value)
        return f32(result)


@keras_schedule
class PolynomialDecay(LearningRateSchedule):
    """From `initial_learning_rate` to `end_learning_rate` in `decay_steps` steps along `(1 − step/decay_steps)^power`;
    with `cycle`, over the first multiple of `decay_steps` beyond the step."""

    initial_learning_rate: float
    decay_steps: int
    end_learning_rate: float = 0.0001
    power: float = 1.0
    cycle: bool = False
    name: str = "PolynomialDecay"
    positive = ("decay_steps",)

    def __call__(self, step):
        start, end = f32(self.initial_learning_rate), f32(self.end_learning_rate)
        step, decay_steps = f32(step), f32(self.decay_steps)
        if self.cycle:
            decay_steps = decay_steps * (f32(1) if step == 0 else np.ceil(step / f32(self.decay_steps)))
        else:
            step = np.minimum(step, decay_steps)
        p = step / decay_steps
        return (start - end) * np.power(1 - p, f32(self.power)) + end


@keras_schedule
class InverseTimeDecay(LearningRateSchedule):
    """`initial_learning_rate / (1 + decay_rate · step / decay_steps)`, the fraction floored with `staircase`."""

    initial_learning_rate: float
    decay_steps: int
    decay_rate: float
    staircase: bool = False
    name: str = "InverseTimeDecay"
    positive = ("decay_steps",)

    def __call__(self, step):
        p = f32(step) / f32(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return f32(self.initial_learning_rate) / (f32(1) + f32(self.decay_rate) * p)


def _cosine(step, decay_steps, start, alpha) -> np.float32:
    """`start` decayed along half a cosine to `start · alpha` (Keras's CosineDecay._decay_function)."""
    cosine = f32(0.5) * (f32(1) + np.cos(f32(math.pi) * (step / decay_steps)))
    return start * (f32(1 - alpha) * cosine + f32(alpha))  # 1 − alpha in Python's double, as Keras writes it


@keras_schedule
class CosineDecay(LearningRateSchedule):
    """A cosine decay over `decay_steps` to `alpha` times the start; with `warmup_target`, a linear warmup from
    `initial_learning_rate` to it over `warmup_steps` first, the decay starting from it."""

    initial_learning_rate: float
    decay_steps: int
    alpha: float = 0.0
    name: str = "CosineDecay"
    warmup_target: float | None = None
    warmup_steps: int = 0
    positive = ("decay_steps",)

    def __call__(self, step):
        start, decay_steps, step = f32(self.initial_learning_rate), f32(self.decay_steps), f32(step)
        if self.warmup_target is None:
            return _cosine(np.minimum(step, decay_steps), decay_steps, start, self.alpha)
        target, warmup_steps = f32(self.warmup_target), f32(self.warmup_steps)
        step = np.minimum(step, decay_steps + warmup_steps)
        if step < warmup_steps:
            return (target - start) * (step / warmup_steps) + start
        return _cosine(step - warmup_steps, decay_steps, target, self.alpha)


@keras_schedule
class CosineDecayRestarts(LearningRateSchedule):
    """A cosine decay over `first_decay_steps`, restarted each time it ends: each period `t_mul` times longer and
    starting from `m_mul` times the last start."""

    initial_learning_rate: float
    first_decay_steps: int
    t_mul: float = 2.0
    m_mul: float = 1.0
    alpha: float = 0.0
    name: str = "SGDRDecay"
    positive = ("first_decay_steps", "t_mul")  # a period of 0 steps never ends (Keras takes log(t_mul))

    def __call__(self, step):
        alpha, t_mul, m_mul = f32(self.alpha), f32(self.t_mul), f32(self.m_mul)
        fraction = f32(step) / f32(self.first_decay_steps)
        if t_mul == 1:
            restart = np.floor(fraction)
            fraction = fraction - restart
        else:  # the restart whose periods so far add up to at most `fraction` (a geometric series)
            restart = np.floor(np.log(f32(1) - fraction * (f32(1) - t_mul)) / np.log(t_mul))
            done = (f32(1) - np.power(t_mul, restart)) / (f32(1) - t_mul)
            fraction = (fraction - done) / np.power(t_mul, restart)
        cosine = f32(0.5) * np.power(m_mul, restart) * (f32(1) + np.cos(f32(math.pi) * fraction))
        return f32(self.initial_learning_rate) * ((f32(1) - alpha) * cosine + alpha)


SCHEDULES = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        InverseTimeDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(schedule: LearningRateSchedule) -> dict:
    """Keras's `keras.optimizers.schedules.serialize`: the class name and its config."""
    return {
        "module": "keras.optimizers.schedules",
        "class_name": type(schedule).__name__,
        "config": schedule.get_config(),
        "registered_name": None,
    }


def deserialize(config) -> LearningRateSchedule:
    """A schedule from Keras's serialized form ({"class_name": ..., "config": {...}})."""
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise LayerConfigError(
            f"a learning-rate schedule is a dict {{'class_name': ..., 'config': {{...}}}}; received {_shown(config)}"
        )
    cls = SCHEDULES.get(config.get("class_name"))
    if cls is None:
        name = str(config.get("class_name"))[:40]
        raise LayerConfigError(f"unknown learning-rate schedule {name!r}; netbuilder has {', '.join(SCHEDULES)}")
    return cls.from_config(config["config"])


__all__ = ["LearningRateSchedule", *SCHEDULES, "deserialize", "serialize"]
