"""Keras's optimizers, as `from keras.optimizers import SGD` reads: `from netbuilder.optimizers import SGD`; their
learning-rate schedules in `netbuilder.optimizers.schedules`, as in Keras."""

from ..engine.optimizers import (
    SGD,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Nadam,
    Optimizer,
    RMSprop,
    get_optimizer,
)
from . import schedules

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "get_optimizer",
    "schedules",
]
