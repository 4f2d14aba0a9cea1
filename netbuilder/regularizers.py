"""Keras's weight regularizers, as `from keras.regularizers import L2` reads: `from netbuilder.regularizers import
L2`."""

from .engine.regularizers import L1, L1L2, L2, OrthogonalRegularizer, Regularizer, get

__all__ = ["L1", "L1L2", "L2", "OrthogonalRegularizer", "Regularizer", "get"]
