"""Flatten: every non-batch axis joined into one; channels_first moves axis 1 last before joining."""

from __future__ import annotations

import math

import numpy as np

from ..layer import CodePart, Cost, Layer, register
from ..settings import DataFormat
from ..shapes import format_shape, times

_CHANNELS_FIRST_TO_LAST = '''class ChannelsFirstToLast(nn.Module):
    """Move axis 1 last, as Keras's Flatten(data_format="channels_first") does before flattening."""

    def forward(self, x):
        return x.permute(0, *range(2, x.dim()), 1)
'''
_FEATURE_AXIS = '''class FeatureAxis(nn.Module):
    """Keras's Flatten of a (batch,) tensor: (batch, 1)."""

    def forward(self, x):
        return x.reshape(x.shape[0], 1)
'''


@register
class Flatten(Layer):
    """All non-batch axes into one; channels_first moves axis 1 last before flattening."""

    keeps_values = True  # its output holds its input's values: indices stay indices

    settings = (
        DataFormat(
            "data_format", "channels_last", "channels_first: the channels axis (axis 1) is moved last before joining."
        ),
    )
    group = "Reshaping"
    description = "Joins every axis but the batch into one, e.g. (None, 7, 7, 64) → (None, 3136)."

    def compute_output_shape(self, shape):
        return (shape[0], math.prod(shape[1:]))

    def cost(self, shape, output_shape) -> Cost:
        # A reshape is a view; channels_first makes a transposed copy, unless moving the channels changes no order
        # (one channel, or one position).
        moves = self.data_format == "channels_first" and len(shape) > 2 and shape[1] > 1 and math.prod(shape[2:]) > 1
        return Cost(output_is_view=not moves)

    def call(self, x):
        if self.data_format == "channels_first" and x.ndim > 2:
            x = x.transpose(0, *range(2, x.ndim), 1)
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def forward_train(self, x, rng):
        return self.call(x), x.shape

    def backward(self, shape, dy):
        if self.data_format == "channels_first" and len(shape) > 2:
            moved = dy.reshape(shape[0], *shape[2:], shape[1])  # the channels-last order call flattened
            return np.moveaxis(moved, -1, 1), []
        return dy.reshape(shape), []

    def label(self) -> str:
        return self.data_format

    def explain_shape(self, shape, output_shape) -> str:
        dims = shape[1:]
        if not dims:
            return "One number per sample gets a feature axis of size 1: (None,) → (None, 1)."
        text = (
            f"{times(dims)} = {output_shape[1]:,} values per sample, joined in order: {format_shape(shape)} → "
            f"{format_shape(output_shape)}."
        )
        if self.data_format == "channels_first" and len(dims) > 1:
            text += (
                f" With channels_first, axis 1 (size {dims[0]:,}) holds the channels: it is moved to the end "
                "before joining, so the values of one position across all channels come together, "
                "as with channels_last."
            )
        return text

    def keras_code(self) -> CodePart:
        return CodePart(f"keras.layers.Flatten(data_format={self.data_format!r}, name={self.name!r})")

    def torch_code(self, shape) -> list[CodePart]:
        if len(shape) == 1:
            return [CodePart("FeatureAxis()", {"FeatureAxis": _FEATURE_AXIS})]
        if self.data_format == "channels_first" and len(shape) > 2:
            return [
                CodePart("ChannelsFirstToLast()", {"ChannelsFirstToLast": _CHANNELS_FIRST_TO_LAST}),
                CodePart("nn.Flatten()"),
            ]
        return [CodePart("nn.Flatten()")]
