"""Keras's optimizers, as `from keras.optimizers import SGD` reads: `from netbuilder.optimizers import SGD`; their
learning-rate schedules in `netbuilder.optimizers.schedules`, as in Keras."""

from ..engine.optimizers import (
    SGD,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Ftrl,
    Lamb,
    Lion,
    Nadam,
    Optimizer,
    RMSprop,
    ScheduleFreeAdamW,
    get_optimizer,
)
from . import schedules

__all__ = [
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Ftrl",
    "Lamb",
    "Lion",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "ScheduleFreeAdamW",
    "get_optimizer",
    "schedules",
]
