"""netbuilder: Keras's models and layers, exactly, in NumPy — and an app to see tensors flow through them.

Levels, imports only downward: `engine` (Keras-exact, NumPy only) ← `studio` (what the app edits:
specs, history, links, presets, input data, explanations) ← `views` (graph, tables, heatmaps,
export) ← `ui` (the Streamlit pages). This module re-exports the engine's public API.
"""

from . import callbacks, losses, optimizers, regularizers
from .engine import activations, budget, initializers, kinds, limits
from .engine.activations import ACTIVATION_NAMES
from .engine.analysis import Analysis, LayerReport, analyze
from .engine.cost import ModelCost
from .engine.errors import (
    Fix,
    IncompatibleShapeError,
    InputDataError,
    LayerConfigError,
    LimitError,
    NetbuilderError,
    ShapeIssue,
)
from .engine.initializers import layer_seed
from .engine.layer import KINDS, Layer, register
from .engine.kinds.merging import add, average, concatenate, dot, maximum, minimum, multiply, subtract
from .engine.model import Functional, Input, KerasTensor, Model, Sequential, model_from_json
from .engine.shapes import format_shape

globals().update(KINDS)  # every registered kind by its Keras class name: Dense, Flatten, Activation, ...

__all__ = [
    "ACTIVATION_NAMES",
    "Analysis",
    "Fix",
    "Functional",
    "IncompatibleShapeError",
    "Input",
    "InputDataError",
    "KINDS",
    "KerasTensor",
    "Layer",
    "LayerConfigError",
    "LayerReport",
    "LimitError",
    "Model",
    "ModelCost",
    "NetbuilderError",
    "Sequential",
    "ShapeIssue",
    "activations",
    "add",
    "analyze",
    "average",
    "budget",
    "callbacks",
    "concatenate",
    "dot",
    "format_shape",
    "initializers",
    "kinds",
    "layer_seed",
    "limits",
    "losses",
    "maximum",
    "minimum",
    "model_from_json",
    "multiply",
    "optimizers",
    "regularizers",
    "register",
    "subtract",
    *KINDS,
]
