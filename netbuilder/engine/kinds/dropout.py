"""Dropout: the identity at inference; in training each value is zeroed with probability `rate`, the rest scaled by
1/(1 − rate)."""

from __future__ import annotations

import math

from dataclasses import dataclass

import numpy as np

from ..errors import LayerConfigError, LimitError
from ..layer import CodePart, Cost, Layer, register
from ..limits import MAX_INPUT_RANK, MAX_TENSOR_ELEMENTS
from ..settings import Float, Setting, _is_int, _short
from ..shapes import format_shape

_MAX_SEED = 2**32 - 1  # Keras's seed generator keeps seeds as uint32
_MAX_NOISE_DIM = MAX_TENSOR_ELEMENTS


@dataclass(frozen=True)
class NoiseShape(Setting):
    """None (a mask value per input value), or the mask's shape with None for "as the input", batch axis first."""

    def check(self, value):
        if value is None:
            return None
        if isinstance(value, str) or not isinstance(value, (tuple, list)):
            raise LayerConfigError(
                "Invalid value received for argument `noise_shape`. Expected a tuple or list of integers. "
                f"Received: noise_shape={_short(value)}"
            )
        if len(value) > MAX_INPUT_RANK + 1:
            raise LayerConfigError(
                f"noise_shape has at most {MAX_INPUT_RANK + 1} entries (the batch axis and up to "
                f"{MAX_INPUT_RANK} more); received {_short(value)}"
            )
        for i, dim in enumerate(value):
            if dim is not None and not _is_int(dim):
                raise LayerConfigError(
                    "Invalid value received for argument `noise_shape`. Expected all elements to be "
                    f"integers or None. Received element at index {i}: {_short(dim)}"
                )
            if dim is not None and dim <= 0:
                raise LayerConfigError(
                    "Invalid value received for argument `noise_shape`. Expected all dimensions to be "
                    f"positive integers or None. Received negative or zero value at index {i}: {dim}"
                )
            if dim is not None and dim > _MAX_NOISE_DIM:  # netbuilder's bound: a size no tensor here can have
                raise LimitError(
                    f"noise_shape sizes are at most {_MAX_NOISE_DIM:,}; received {_short(dim)} at index {i}"
                )
        return tuple(None if d is None else int(d) for d in value)

    def format_text(self, value) -> str:
        return "" if value is None else ", ".join("None" if d is None else str(d) for d in value)

    def parse_text(self, text: str):
        if not isinstance(text, str) or len(text) > 200:
            raise LayerConfigError("noise_shape must be text such as `None, 1, 8`")
        inner = text.strip().strip("()[]").strip()
        if inner.lower() in ("", "none"):
            return None
        parts = [p.strip() for p in inner.rstrip(",").split(",")]
        try:
            return self.check(tuple(None if p.lower() in ("none", "null") else int(p) for p in parts))
        except ValueError:
            raise LayerConfigError(
                f"noise_shape must be integers or None separated by commas; received {_short(text)}"
            ) from None

    @property
    def allowed(self) -> str:
        return "empty (None), or sizes with None for 'as the input', such as `None, 1, 8`"


@dataclass(frozen=True)
class OptionalSeed(Setting):
    """None, or an integer seed from 0 to 2**32 − 1 (Keras's range)."""

    widget = "text"

    def check(self, value):
        if value is None:
            return None
        if not _is_int(value) or not 0 <= value <= _MAX_SEED:
            # Keras checks the range only when rate > 0 (no generator otherwise); netbuilder always does
            self.fail(value, f"None or an integer from 0 to {_MAX_SEED:,}")
        return int(value)

    def format_text(self, value) -> str:
        return "" if value is None else str(value)

    def parse_text(self, text: str):
        text = text.strip() if isinstance(text, str) else text
        if text in ("", "None", "none"):
            return None
        try:
            return self.check(int(text))
        except (TypeError, ValueError):
            self.fail(text, f"None or an integer from 0 to {_MAX_SEED:,}")


@register
class Dropout(Layer):
    """Identity at inference; training zeroes each value with probability `rate` and scales the rest by 1/(1 − rate)."""

    keras_config_order = ("name", "trainable", "dtype", "rate", "seed")
    train_call_microseconds = 15  # forward_train and backward of a step whatever the batch (measured at batch 1)

    keeps_values = True  # its output holds its input's values: indices stay indices

    settings = (
        Float("rate", 0.5, "The fraction of values zeroed in training (nothing changes at inference).", required=True),
        NoiseShape(
            "noise_shape", None, "The shape of the mask (None: one draw per value); a 1 shares a draw along that axis."
        ),
        OptionalSeed("seed", None, "Keras's seed for its masks; netbuilder's training draws them from the model seed."),
    )
    group = "Core"
    description = (
        "Randomly zeroes a fraction of the values in training only; at inference it passes everything through."
    )
    keeps_shape = True
    builds_at_init = True

    def cost(self, shape, output_shape) -> Cost:
        # inference: the input itself. Training keeps its output (a new array) and a boolean mask (a quarter of a
        # float32 per value at most); the mask's float64 uniform draw, and backward's divided gradient before
        # masking, are temporaries of two float32 tensors' size at most
        n = math.prod(shape[1:])
        if self.rate == 0:
            return Cost(output_is_view=True)
        # training draws a float64 uniform per mask value, compares and scales (measured ~16 operations a value; 4 for
        # each value a broadcast mask multiplies)
        try:
            mask = math.prod(self.mask_shape((1, *shape[1:]))[1:])
        except (
            LayerConfigError
        ):  # a noise_shape that cannot broadcast runs at inference, as in Keras; training refuses it
            mask = n
        return Cost(
            output_is_view=True, train_kept=n + -(-n // 4), train_scratch=2 * n, train_elementwise=16 * mask + 4 * n
        )

    def call(self, x):
        return x

    def mask_shape(self, shape) -> tuple[int, ...]:
        """The shape masks are drawn in for an input of `shape` (Keras fills noise_shape's Nones from the input)."""
        if self.noise_shape is None:
            return tuple(shape)
        if len(self.noise_shape) > len(shape):
            raise LayerConfigError(
                f"Dropout's noise_shape {self.noise_shape} has more axes than its input {format_shape(shape)}"
            )
        mask = tuple(shape[i] if d is None else d for i, d in enumerate(self.noise_shape))
        try:
            if np.broadcast_shapes(mask, tuple(shape)) != tuple(shape):
                raise ValueError
        except ValueError:
            raise LayerConfigError(
                f"Dropout's noise_shape {self.noise_shape} gives masks of shape {mask}, which do not "
                f"broadcast to its input {format_shape(shape)}: each size must be 1 or the input's"
            ) from None
        return mask

    def forward_train(self, x, rng):
        """As Keras's NumPy backend: keep where uniform < 1 − rate, kept values divided by 1 − rate; the cache is
        (mask, 1 − rate), or None at rate 0 (the identity)."""
        if self.rate == 0:
            return x, None
        if self.rate == 1:
            return np.zeros_like(x), (np.zeros((1,) * x.ndim, bool), 1.0)
        keep = 1.0 - self.rate
        mask = rng.uniform(size=self.mask_shape(x.shape)) < keep
        return np.where(mask, x / keep, 0).astype(x.dtype, copy=False), (mask, keep)

    def backward(self, cache, dy):
        if cache is None:
            return dy, []
        mask, keep = cache
        return np.where(mask, dy / keep, 0).astype(dy.dtype, copy=False), []

    def label(self) -> str:
        return f"rate {self.rate:g}" + ("" if self.noise_shape is None else f", noise {self.noise_shape}")

    def explain_shape(self, shape, output_shape) -> str:
        if self.rate == 0:
            return f"rate 0: Dropout changes nothing, in training or not; {format_shape(shape)} passes through."
        scale = (
            "" if self.rate == 1 else f", the others multiplied by 1/(1 − {self.rate:g}) = {1 / (1 - self.rate):.4g}"
        )
        return (
            f"At inference (predict) every value passes through unchanged: {format_shape(shape)} → "
            f"{format_shape(output_shape)}. In training each value is zeroed with probability {self.rate:g}{scale}, "
            "so the expected sum stays the same."
        )

    def torch_code(self, shape) -> list[CodePart]:
        return [CodePart(f"nn.Dropout(p={self.rate!r})")]  # the script calls model.eval(): the identity, as predict
