"""Embedding: each whole-number index of the input replaced by its row of a learned (input_dim, output_dim) table.

The model's input arrives as float32, as Keras's does. Keras's NumPy backend casts it to int32
(2.7 becomes 2), reads negative indices from the end of the table and fails on indices ≥ input_dim;
netbuilder refuses anything but whole numbers from 0 to input_dim − 1, with the reason in words.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import Fix, InputDataError, LayerConfigError
from ..layer import InputSpec, CodePart, Cost, Layer, WeightSpec, register
from ..limits import MAX_UNITS
from ..settings import Bool, Init, Int
from ..shapes import format_shape, times

_TORCH_EMBEDDING = '''class KerasEmbedding(nn.Embedding):
    """Keras's Embedding on a float32 input holding whole-number indices (torch looks them up as int64)."""

    def forward(self, x):
        if not torch.equal(x, torch.trunc(x)):
            raise ValueError("Embedding takes whole-number indices from 0 to num_embeddings - 1")
        return super().forward(x.long())
'''


@register
class Embedding(Layer):
    """Row `i` of the (input_dim, output_dim) table for each index `i`; the output gains a last axis of output_dim."""

    train_call_microseconds = 15  # forward_train and backward of a step whatever the batch (measured at batch 1)

    settings = (
        Int(
            "input_dim",
            1000,
            "How many different indices (words, tokens) there are: the table's rows, indices 0 to input_dim − 1.",
            required=True,
        ),
        Int(
            "output_dim",
            64,
            "The length of each learned vector: the size of the output's new last axis.",
            required=True,
            high=MAX_UNITS,
        ),
        Init(
            "embeddings_initializer",
            "uniform",
            'How the table starts (Keras\'s "uniform": RandomUniform from -0.05 to '
            "0.05, drawn from the model's seed).",
            ndim=2,
        ),
        Bool(
            "mask_zero",
            False,
            "Keras can treat index 0 as padding and mask it downstream; netbuilder has no masks, so it must stay off.",
        ),
    )
    group = "Core"
    description = "Looks up a learned vector for each integer index, e.g. (None, 100) → (None, 100, 64)."
    output_axis_setting = "output_dim"

    def input_spec(self) -> InputSpec:
        return InputSpec(integers=True)

    def suggest_fixes(self, shape, problem, context) -> list:
        if not problem.expected.startswith("whole-number"):
            return []
        before = next(j for j in range(context.index - 1, -1, -1) if not context.layers[j].keeps_values)
        return [
            Fix(
                "remove_layer", f"remove {context.names[before]}, so {context.name} receives the ids themselves", before
            )
        ]

    def __init__(self, *args, input_length=None, **kwargs):
        # Keras takes input_dim, output_dim and embeddings_initializer positionally before embeddings_regularizer;
        # input_length is Keras 2's argument, which Keras 3 accepts and ignores (with a deprecation warning)
        if len(args) > 3:
            raise LayerConfigError(
                "Embedding takes input_dim, output_dim and embeddings_initializer positionally; pass "
                "other settings by name"
            )
        super().__init__(*args, **kwargs)

    def validate(self) -> None:
        if self.mask_zero:
            raise LayerConfigError(
                "Embedding(mask_zero=True) is not supported: netbuilder passes no masks between layers, so index 0 "
                "would not be skipped downstream as it is in Keras. Use mask_zero=False."
            )

    # --- shapes ---------------------------------------------------------------------------------
    def compute_output_shape(self, shape):
        return (*shape, self.output_dim)

    # --- weights --------------------------------------------------------------------------------
    def weight_specs(self, shape) -> list[WeightSpec]:
        return [WeightSpec("embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer)]

    def formula(self, shape) -> str:
        """`1000×64 = 64,000`: one row of output_dim numbers per index."""
        return f"{self.input_dim:,}×{self.output_dim:,} = {self.input_dim * self.output_dim:,}"

    def cost(self, shape, output_shape) -> Cost:
        n = math.prod(shape[1:])
        # a lookup copies rows (no multiply-adds); checking the indices reads the input a few times, and the
        # int64 indices (2 float32 elements each) are alive while the output is filled
        # training's gradient of the table is a scatter-add of every output row (np.add.at: ~18 operations a value)
        return Cost(
            elementwise=n * self.output_dim + 5 * n,
            scratch=2 * n + (n + 3) // 4,
            train_elementwise=20 * n * self.output_dim,
        )

    # --- numbers --------------------------------------------------------------------------------
    def indices(self, x: np.ndarray) -> np.ndarray:
        """`x` as int64 row indices, or an InputDataError saying which value is not a valid index and why."""
        if x.size == 0:
            return x.astype(np.intp)
        low, high = x.min(), x.max()  # NaN makes both comparisons below fail
        if not (low >= 0 and high < self.input_dim):
            self._refuse(x, ~((x >= 0) & (x < self.input_dim)))
        idx = x.astype(np.intp)
        # compared in x's own type, in small buffered steps: a whole number converts back exactly
        wrong = np.not_equal(idx, x, signature=(x.dtype, x.dtype, np.bool_))
        if wrong.any():
            self._refuse(x, wrong)
        return idx

    def _refuse(self, x: np.ndarray, bad: np.ndarray):
        """Raise for the first bad value; a fractional one first, since floats are the usual mistake."""
        fractional = np.isfinite(x) & (x != np.trunc(x))
        first = int(np.flatnonzero(fractional if fractional.any() else bad)[0])
        where = np.unravel_index(first, x.shape)
        at = f"sample {where[0]}" + (f", position {tuple(int(i) for i in where[1:])}" if len(where) > 1 else "")
        value = x.flat[first]
        # 1000, not 1000.0; a float32 as its shortest text (2.9999998, not 2.999999761581421)
        shown = int(value) if np.isfinite(value) and not fractional.flat[first] else str(value)
        if not np.isfinite(value):
            why = "that is not the number of any row."
        elif fractional.flat[first]:
            why = (
                f"Embedding was given floats: {shown} is not a whole number, so it names no row (Keras's NumPy backend "
                f"would quietly cut it down to {int(value)}). An Embedding takes integer ids such as word numbers — "
                "put it first, on the raw ids, not after a Dense or on scaled data."
            )
        elif value >= self.input_dim:
            why = (
                f"the table has {self.input_dim:,} rows (input_dim={self.input_dim}), so there is no row {shown}. "
                f"Raise input_dim to at least {shown + 1:,}, or map rare ids to one 'unknown' id below "
                f"{self.input_dim:,}."
            )
        else:
            why = (
                f"there is no row {shown} (Keras's NumPy backend would quietly read negative indices from the end "
                "of the table)."
            )
        raise InputDataError(
            f"Embedding {self.name or 'embedding'!r} looks up one row of its {self.input_dim:,}×{self.output_dim:,} "
            f"table per input value, so its inputs must be whole numbers from 0 to {self.input_dim - 1:,}; "
            f"it received {shown} at {at}: {why}"
        )

    def call(self, x):
        return np.take(self._weights[0], self.indices(x), axis=0)

    def forward_train(self, x, rng):
        idx = self.indices(x)
        return np.take(self._weights[0], idx, axis=0), (x.shape, idx)

    def backward(self, cache, dy):
        """No gradient reaches the indices (zeros); each looked-up row gathers the gradients of its positions."""
        shape, idx = cache
        grad = np.zeros(self._weights[0].shape, dy.dtype)
        np.add.at(grad, idx.reshape(-1), dy.reshape(-1, self.output_dim))
        return np.zeros(shape, dy.dtype), [grad]

    # --- description ----------------------------------------------------------------------------
    def label(self) -> str:
        return f"{self.input_dim:,} ids → {self.output_dim:,}"

    def explain_shape(self, shape, output_shape) -> str:
        table = f"the {self.input_dim:,}×{self.output_dim:,} table"
        if len(shape) == 1:
            return (
                f"Each sample is one index, replaced by its row of {table}: "
                f"{format_shape(shape)} → {format_shape(output_shape)}."
            )
        count = math.prod(shape[1:])
        many = f"{times(shape[1:])} = {count:,}" if len(shape) > 2 else f"{count:,}"
        return (
            f"Each of the {many} indices of a sample is replaced by its row of {table}, "
            f"a new last axis of {self.output_dim:,}: {format_shape(shape)} → {format_shape(output_shape)}."
        )

    def get_config(self) -> dict:
        config = super().get_config()
        extra = {"embeddings_regularizer": None, "activity_regularizer": None, "embeddings_constraint": None}
        mask_zero = config.pop("mask_zero")  # Keras's order: the initializer and regularizers come before mask_zero
        return {**config, **extra, "mask_zero": mask_zero, "quantization_config": None}

    def torch_code(self, shape) -> list[CodePart]:
        return [
            CodePart(
                f"KerasEmbedding({self.input_dim}, {self.output_dim})",
                {"KerasEmbedding": _TORCH_EMBEDDING},
                {"weight": self._weights[0]},
            )
        ]
