"""The four layers, in Keras's vocabulary: shapes (compute_output_shape) apart from numbers (call)."""

from __future__ import annotations

import math
import re

import numpy as np

from . import activations
from .errors import LayerConfigError, LimitError
from .initializers import glorot_uniform
from .limits import MAX_INPUT_ELEMENTS, MAX_INPUT_RANK, MAX_NAME_CHARS, MAX_UNITS

_ZERO = np.array(0.0, np.float32)

Shape = tuple  # a full shape, batch axis first (None when unknown)

_NAME_RE = re.compile(r"[^\x00-\x1f\x7f/]+")


def check_name(name) -> str | None:
    """A layer or model name: None (auto) or 1..MAX_NAME_CHARS printable characters, no '/'."""
    if name is None:
        return None
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not _NAME_RE.fullmatch(name):
        raise LayerConfigError(
            f"a name must be 1 to {MAX_NAME_CHARS} printable characters without '/'; received {str(name)[:80]!r}"
        )
    return name


def check_input_shape(shape) -> tuple[int, ...]:
    """A per-sample shape (batch axis excluded): up to MAX_INPUT_RANK positive ints."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        raise LayerConfigError(f"input shape must be a tuple such as ({shape},), not the number {shape}")
    try:
        dims = tuple(shape)
    except TypeError:
        raise LayerConfigError(f"input shape must be a tuple of positive integers; received {shape!r}") from None
    if len(dims) > MAX_INPUT_RANK:
        raise LimitError(f"input shape {dims} has {len(dims)} axes; at most {MAX_INPUT_RANK} are allowed")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise LayerConfigError(
                f"input shape {dims} must hold positive integers (the batch axis is left out); received {d!r}"
            )
    dims = tuple(int(d) for d in dims)
    if math.prod(dims) > MAX_INPUT_ELEMENTS:
        raise LimitError(
            f"input shape {dims} has {math.prod(dims):,} elements per sample; at most {MAX_INPUT_ELEMENTS:,} are allowed"
        )
    return dims


class Layer:
    """Base layer: a name, optional `input_shape=` (first layer only), shapes set by the model."""

    def __init__(self, name=None, input_shape=None):
        self.name = check_name(name)
        self._auto_named = name is None
        self._declared_input_shape = None if input_shape is None else check_input_shape(input_shape)
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None

    def __call__(self, tensor):
        """Apply the layer to a symbolic tensor (the functional API: `Flatten()(Input((10, 64)))`)."""
        from .model import KerasTensor

        if not isinstance(tensor, KerasTensor):
            raise LayerConfigError(
                f"layers are called on the result of Input(...); received {type(tensor).__name__}. "
                "To compute numbers, build a model and call model.predict(x)."
            )
        return tensor._then(self)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"

    @property
    def weights(self) -> list[np.ndarray]:
        return []

    def count_params(self) -> int:
        return sum(w.size for w in self.weights)

    def get_weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        if len(weights):
            raise LayerConfigError(f"layer {self.name!r} has no weights; received {len(weights)}")

    def build(self, input_shape: Shape, seed: int) -> None:
        """Create weights for `input_shape` (layers without weights only record the shape)."""

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": True, "dtype": _DTYPE_POLICY}


_DTYPE_POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


class Dense(Layer):
    """`activation(x @ kernel + bias)` on the last axis; kernel (input_dim, units)."""

    def __init__(self, units, activation=None, use_bias=True, name=None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise LayerConfigError(f"units of Dense must be a positive integer; received units={units!r}")
        if units > MAX_UNITS:
            raise LimitError(f"units={units:,} is above the limit of {MAX_UNITS:,} per Dense")
        if not isinstance(use_bias, (bool, np.bool_)):
            raise LayerConfigError(f"use_bias must be True or False; received {use_bias!r}")
        self.units = int(units)
        self.activation = activations.canonical_name(activation)
        self.use_bias = bool(use_bias)
        self.kernel: np.ndarray | None = None
        self.bias: np.ndarray | None = None
        self._activation_fn = activations.ACTIVATIONS[self.activation]

    @property
    def input_dim(self) -> int | None:
        """The input features this layer is built for (None until built)."""
        return None if self.kernel is None else self.kernel.shape[0]

    @property
    def output_units(self) -> int:
        """Size of the output's last axis: units, halved by a glu activation."""
        return self.units // 2 if self.activation == "glu" else self.units

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.output_units)

    def params_for(self, input_dim: int) -> int:
        return input_dim * self.units + (self.units if self.use_bias else 0)

    def build(self, input_shape: Shape, seed: int) -> None:
        if self.kernel is None:
            self.kernel = glorot_uniform((input_shape[-1], self.units), seed)
            self.bias = np.zeros(self.units, np.float32) if self.use_bias else None

    @property
    def weights(self):
        if self.kernel is None:
            return []
        return [self.kernel] if self.bias is None else [self.kernel, self.bias]

    def set_weights(self, weights) -> None:
        expected = 2 if self.use_bias else 1
        if len(weights) != expected:
            raise LayerConfigError(
                f"layer {self.name!r} expects {expected} weight arrays (kernel{', bias' if self.use_bias else ''}); "
                f"received {len(weights)}"
            )
        kernel = np.asarray(weights[0], dtype=np.float32)
        if kernel.ndim != 2 or kernel.shape[1] != self.units or (self.kernel is not None and kernel.shape != self.kernel.shape):
            want = self.kernel.shape if self.kernel is not None else f"(input_dim, {self.units})"
            raise LayerConfigError(f"layer {self.name!r}: kernel must have shape {want}; received {kernel.shape}")
        bias = None
        if self.use_bias:
            bias = np.asarray(weights[1], dtype=np.float32)
            if bias.shape != (self.units,):
                raise LayerConfigError(f"layer {self.name!r}: bias must have shape ({self.units},); received {bias.shape}")
        self.kernel, self.bias = kernel.copy(), None if bias is None else bias.copy()

    def call(self, x: np.ndarray) -> np.ndarray:
        y = np.matmul(x, self.kernel)
        if self.bias is not None:
            np.add(y, self.bias, out=y)  # in place: same bits as `y + bias`, one allocation fewer
        if self.activation == "linear":
            return y
        if self.activation == "relu":
            return np.maximum(y, _ZERO, out=y)  # a 0-d float32 array is the cheapest operand for a ufunc
        return self._activation_fn(y)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": {
                "module": "keras.initializers",
                "class_name": "GlorotUniform",
                "config": {"seed": None, "input_axes": None, "output_axes": None},
                "registered_name": None,
            },
            "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": None},
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
            "quantization_config": None,
        }


class Flatten(Layer):
    """All non-batch axes into one; channels_first moves axis 1 last before flattening."""

    def __init__(self, data_format=None, name=None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        fmt = "channels_last" if data_format is None else str(data_format).lower()
        if fmt not in ("channels_first", "channels_last"):
            raise LayerConfigError(
                "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                f"Received: data_format={str(data_format)[:40]}"
            )
        self.data_format = fmt

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], math.prod(input_shape[1:]))

    def call(self, x: np.ndarray) -> np.ndarray:
        if self.data_format == "channels_first" and x.ndim > 2:
            x = x.transpose(0, *range(2, x.ndim), 1)
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class Activation(Layer):
    """An activation function by name, applied elementwise (softmax-like ones on the last axis)."""

    def __init__(self, activation, name=None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        self.activation = activations.canonical_name(activation)
        self._activation_fn = activations.ACTIVATIONS[self.activation]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        # Deliberately not Keras: Keras reports glu's input shape unchanged, but glu halves the last axis.
        if self.activation == "glu":
            return (*input_shape[:-1], input_shape[-1] // 2)
        return input_shape

    def call(self, x: np.ndarray) -> np.ndarray:
        return self._activation_fn(x)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": self.activation}


