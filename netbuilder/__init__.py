"""netbuilder: Keras's Sequential, Input, Dense, Flatten and Activation, exactly, in NumPy."""

from . import limits
from .activations import ACTIVATION_NAMES
from .analysis import Analysis, LayerReport, analyze, format_shape
from .errors import (
    Fix,
    IncompatibleShapeError,
    InputDataError,
    LayerConfigError,
    LimitError,
    NetbuilderError,
    ShapeIssue,
)
from .initializers import layer_seed
from .layers import Activation, Dense, Flatten, Layer
from .model import Input, KerasTensor, Model, Sequential
from .serialization import model_from_json

__all__ = [
    "ACTIVATION_NAMES", "Activation", "Analysis", "Dense", "Fix", "Flatten", "IncompatibleShapeError",
    "Input", "InputDataError", "KerasTensor", "Layer", "LayerConfigError", "LayerReport", "LimitError",
    "Model", "NetbuilderError", "Sequential", "ShapeIssue", "analyze", "format_shape", "layer_seed",
    "limits", "model_from_json",
]
