"""The Keras-exact engine: layer kinds, shape analysis, cost and budgets, models, Keras JSON. NumPy only."""

from . import kinds  # noqa: F401  (registers the built-in layer kinds)
