"""Keras's optimizers, as `from keras.optimizers import SGD` reads: `from netbuilder.optimizers import SGD`."""

from .engine.optimizers import SGD, Adagrad, Adam, Adamax, AdamW, Nadam, Optimizer, RMSprop, get_optimizer

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Adamax", "Nadam", "Optimizer", "RMSprop", "get_optimizer"]
