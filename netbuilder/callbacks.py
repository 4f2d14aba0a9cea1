"""Keras's callbacks, as `from keras.callbacks import EarlyStopping` reads: `from netbuilder.callbacks import
EarlyStopping` — the callbacks fit calls at Keras's points (engine/callbacks.py)."""

from .engine.callbacks import (
    Callback,
    CallbackList,
    EarlyStopping,
    History,
    LearningRateScheduler,
    MonitorCallback,
    ReduceLROnPlateau,
)

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LearningRateScheduler",
    "MonitorCallback",
    "ReduceLROnPlateau",
]
