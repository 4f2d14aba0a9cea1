"""Keras 3's optimizers: their defaults and update formulas (keras/src/optimizers), on NumPy float32 arrays in place."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import LayerConfigError


@dataclass
class Optimizer:
    """Base: Keras's defaults and update formulas, one state slot list per trainable weight."""

    learning_rate: float = 0.001
    iterations: int = field(default=0, init=False)  # steps taken (Adam's bias correction counts them)
    slots: list = field(default_factory=list, init=False, repr=False)

    name = "optimizer"

    def build(self, weights: list[np.ndarray]) -> None:
        self.slots = [self._new_slots(w) for w in weights]

    def _new_slots(self, w: np.ndarray) -> list[np.ndarray]:
        return []

    def apply(self, weights: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Update `weights` in place from `grads`, one step."""
        lr = np.float32(self.learning_rate)
        for w, g, slots in zip(weights, grads, self.slots):
            self._update(w, g.astype(np.float32), slots, lr)
        self.iterations += 1

    def slot_count(self) -> int:
        """How many arrays of a weight's size this optimizer keeps (for the memory budget)."""
        return len(self._new_slots(np.zeros(1, np.float32)))

    def get_config(self) -> dict:
        return {k: v for k, v in vars(self).items() if k not in ("slots", "iterations")}


@dataclass
class SGD(Optimizer):
    learning_rate: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    name = "sgd"

    def _new_slots(self, w):
        return [np.zeros_like(w)] if self.momentum else []

    def _update(self, w, g, slots, lr):
        if not slots:
            w -= g * lr
            return
        (m,) = slots
        mu = np.float32(self.momentum)
        m[...] = m * mu - g * lr
        w += (m * mu - g * lr) if self.nesterov else m


@dataclass
class Adam(Optimizer):
    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    name = "adam"

    def _new_slots(self, w):
        return [np.zeros_like(w), np.zeros_like(w)]

    def _update(self, w, g, slots, lr):
        m, v = slots
        step = np.float32(self.iterations + 1)
        b1, b2 = np.float32(self.beta_1), np.float32(self.beta_2)
        alpha = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
        m += (g - m) * (1 - b1)
        v += (np.square(g) - v) * (1 - b2)
        w -= (m * alpha) / (np.sqrt(v) + np.float32(self.epsilon))


@dataclass
class RMSprop(Optimizer):
    learning_rate: float = 0.001
    rho: float = 0.9
    momentum: float = 0.0
    epsilon: float = 1e-7
    centered: bool = False
    name = "rmsprop"

    def _new_slots(self, w):
        return [np.zeros_like(w)] + ([np.zeros_like(w)] if self.momentum > 0 else []) + ([np.zeros_like(w)] if self.centered else [])

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


@dataclass
class Adagrad(Optimizer):
    learning_rate: float = 0.001
    initial_accumulator_value: float = 0.1
    epsilon: float = 1e-7
    name = "adagrad"

    def _new_slots(self, w):
        return [np.full_like(w, self.initial_accumulator_value)]

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
