"""Pooling: the maximum or the mean of each window of each channel (MaxPooling, AveragePooling), or of the whole map
(Global*).

Windows are visited by offset, not by position: for each cell of the window, one strided view of every
window's cell at that offset is folded into the output (np.maximum or np.add in place), so the work is
vectorised over positions and nothing is allocated but the output (and, for `same`, the padded input).
"""

from __future__ import annotations

import math

import numpy as np

from ..layer import MICROSECOND, CodePart, Cost, InputSpec, Layer, Problem, register
from ..settings import Bool, Choice, DataFormat, Ints, OptionalInts
from ..shapes import format_shape, times
from .common import return_sequences_fixes
from .windows import (
    axis_arithmetic,
    channel_axis,
    cropped,
    offset_slices,
    out_size,
    padded,
    pads,
    spatial_axes,
    symmetric,
    torch_layout,
    torch_pad_order,
    tuple_text,
    window_problem,
)

_AXIS_NAMES = {1: ("steps",), 2: ("height", "width")}
# Microseconds per cell of the window, whatever the batch: one strided view and one NumPy call (in training, the
# backward pass's visits too). Measured with timeit (best of 5) on a window covering the whole input (one output),
# 1,024 or 128 × 128 cells: predict 1.9-3.0 µs a cell, forward_train and backward 5.8-9.3 (a whole training step at
# batch 1 with a 3 × 3 window, issue 17's calibration: up to 17).
_CELL_MICROSECONDS, _TRAIN_CELL_MICROSECONDS = 2, 16

_AVG_POOL_SAME = '''class KerasAvgPoolSame(nn.Module):
    """Keras's AveragePooling with padding="same": each window's sum over its real (unpadded) cells divided by
    their count; the odd padding cell goes at the end, which torch's symmetric padding cannot express."""

    def __init__(self, pool_size, strides, pads):
        super().__init__()
        self.pool_size, self.strides, self.pads = pool_size, strides, pads  # pads in F.pad's order

    def forward(self, x):
        pool = torch.nn.functional.avg_pool1d if len(self.pool_size) == 1 else torch.nn.functional.avg_pool2d
        ones = torch.ones_like(x[:1, :1])
        total = pool(torch.nn.functional.pad(x, self.pads), self.pool_size, self.strides)
        count = pool(torch.nn.functional.pad(ones, self.pads), self.pool_size, self.strides)
        return total / count
'''
_GLOBAL_POOL = '''class KerasGlobalPool(nn.Module):
    """Keras's GlobalMax/AveragePooling: the max or mean over the spatial axes `dims`."""

    def __init__(self, mode, dims, keepdim):
        super().__init__()
        self.mode, self.dims, self.keepdim = mode, dims, keepdim

    def forward(self, x):
        if self.mode == "max":
            return x.amax(dim=self.dims, keepdim=self.keepdim)
        return x.mean(dim=self.dims, keepdim=self.keepdim)
'''


def _reshape_target(rank: int, data_format: str, shape) -> tuple | None:
    """A per-sample shape with `rank` spatial axes made from `shape` by a Reshape (channels axis added or extra axes
    merged)."""
    per, first = tuple(shape[1:]), data_format == "channels_first"
    if len(shape) == rank + 1:
        return (1, *per) if first else (*per, 1)
    if len(shape) > rank + 2:
        keep = rank - 1
        if first:
            return (per[0], *per[1 : 1 + keep], math.prod(per[1 + keep :]))
        return (*per[:keep], math.prod(per[keep:-1]), per[-1])
    return None


def _rank_fixes(layer, shape, context) -> list:
    first = return_sequences_fixes(shape, context) if layer.rank == 1 else []  # a recurrent layer's last step only
    target = _reshape_target(layer.rank, layer.data_format, shape)
    if target is None:
        return first
    why = "add a channels axis of size 1" if len(shape) == layer.rank + 1 else "merge the extra axes into one"
    return [
        *first,
        context.insert("Reshape", {"target_shape": target}, f"insert Reshape({target}) before {context.name}: {why}"),
        context.input_shape_fix(target),
    ]


def _rank_text(layer, shape, what: str) -> str:
    names = ", ".join(layer.input_spec().axis_names[1:])
    text = (
        f"{layer.kind} takes {what} of each channel, so each sample must be ({names}): exactly {layer.rank + 2} axes "
        "with the batch."
    )
    if len(shape) == layer.rank + 1:
        text += f" {format_shape(shape)} has no channels axis; a single channel is a channels axis of size 1."
    elif len(shape) > layer.rank + 2 and layer.kind.startswith("Global"):
        text += (
            f" {format_shape(shape)} has more spatial axes; merging them into one (a Reshape) pools over "
            "exactly the same cells."
        )
    return text


def _axis_names(rank: int, data_format: str) -> tuple[str, ...]:
    spatial = _AXIS_NAMES[rank]
    return ("batch", *spatial, "channels") if data_format == "channels_last" else ("batch", "channels", *spatial)


class _Pool(Layer):
    """Max or average pooling over windows of `rank` spatial axes."""

    keras_config_order = ("name", "trainable", "dtype", "pool_size", "padding")
    train_call_microseconds = 35  # forward_train and backward of a step whatever the batch (measured at batch 1)

    rank = 2
    mode = "max"
    group = "Pooling"
    builds_at_init = True  # no weights: Keras writes no build_config
    _count_cache: tuple | None = None  # (geometry, counts) of the last `same` average pooling, set per layer

    @property
    def pool_strides(self) -> tuple[int, ...]:
        """The strides in effect (None means the pool size)."""
        return self.pool_size if self.strides is None else self.strides

    def _split(self, shape) -> tuple[tuple, int]:
        if self.data_format == "channels_last":
            return tuple(shape[1:-1]), shape[-1]
        return tuple(shape[2:]), shape[1]

    def _geometry(self, dims):
        pad = [pads(n, k, s, self.padding) for n, k, s in zip(dims, self.pool_size, self.pool_strides)]
        out = [out_size(n, k, s, self.padding) for n, k, s in zip(dims, self.pool_size, self.pool_strides)]
        return pad, out

    # --- shapes ---------------------------------------------------------------------------------
    def input_spec(self) -> InputSpec:
        return InputSpec(ndim=self.rank + 2, axis_names=_axis_names(self.rank, self.data_format))

    def check_shape(self, shape, name: str) -> Problem | None:
        dims, _ = self._split(shape)
        if self.padding == "valid" and any(n < k for n, k in zip(dims, self.pool_size)):
            shown = "[" + " ".join(map(str, shape)) + "]"  # Keras prints the shape as a NumPy array
            keras = (
                "Computed output size would be zero or negative. Received: "
                f"`inputs.shape={shown}`, `pool_size=[{' '.join(map(str, self.pool_size))}]`, "
                f"`strides={self.pool_strides}`, `padding=valid`."
            )
            return window_problem(
                name,
                self.kind,
                shape,
                dims,
                self.pool_size,
                (1,) * self.rank,
                self.pool_strides,
                keras,
                _AXIS_NAMES[self.rank],
            )
        return None

    def compute_output_shape(self, shape):
        dims, channels = self._split(shape)
        _, out = self._geometry(dims)
        return (shape[0], *out, channels) if self.data_format == "channels_last" else (shape[0], channels, *out)

    def rank_explanation(self, shape, name: str) -> str:
        return _rank_text(self, shape, f"the {'maximum' if self.mode == 'max' else 'mean'} of each window")

    def suggest_fixes(self, shape, problem, context) -> list:
        if len(shape) != self.rank + 2:
            return _rank_fixes(self, shape, context)
        dims, _ = self._split(shape)
        name = context.name
        fixes = [
            context.set_setting(
                "padding", "same", description=f"set padding of {name} to 'same' (pad the input so the window fits)"
            )
        ]
        smaller = tuple(min(k, n) for n, k in zip(dims, self.pool_size))
        fixes.append(
            context.set_setting(
                "pool_size",
                smaller,
                description=f"set pool_size of {name} to {tuple_text(smaller)} (it fits the input)",
            )
        )
        return fixes

    # --- cost and numbers -----------------------------------------------------------------------
    def cost(self, shape, output_shape) -> Cost:
        dims, channels = self._split(shape)
        pad, out = self._geometry(dims)
        padded_size = math.prod(n + lo + hi for n, (lo, hi) in zip(dims, pad)) * channels if any(map(any, pad)) else 0
        outputs = math.prod(out) * channels
        divide = outputs if self.mode == "average" else 0
        cells = math.prod(self.pool_size)
        # Training. Memory: backward pools again (the output and the padded input), makes the padded input's gradient
        # and, per window cell, a comparison with the maximum and its share of the gradient (average: one share for
        # all cells). Work beyond the passes: per window cell, max compares with the maximum, masks out the cells
        # already taken, multiplies and adds the gradient and marks the taken ones (six NumPy calls, about 3
        # operations' time measured); average adds its share; the padded input is made and read again.
        per_cell = 3 if self.mode == "max" else 1
        return Cost(
            elementwise=padded_size + outputs * cells + divide,
            scratch=padded_size,
            overhead=cells * _CELL_MICROSECONDS * MICROSECOND,
            train_overhead=cells * _TRAIN_CELL_MICROSECONDS * MICROSECOND,
            train_scratch=2 * padded_size + 3 * outputs,
            train_elementwise=3 * padded_size + outputs * cells * per_cell,
        )

    def _counts(self, pad, out, dims, dtype) -> np.ndarray:
        """How many real cells each `same` window holds, shaped to divide the output (cached per geometry)."""
        key = (tuple(dims), np.dtype(dtype).str)
        cached = self._count_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        counts = np.ones((), np.int64)
        for n, k, s, o, (lo, _) in zip(dims, self.pool_size, self.pool_strides, out, pad):
            start = np.arange(o) * s - lo
            axis = np.minimum(start + k, n) - np.maximum(start, 0)
            counts = np.multiply.outer(counts, axis)
        counts = counts.astype(dtype)
        counts = counts[..., None] if self.data_format == "channels_last" else counts
        self._count_cache = (key, counts)
        return counts

    def _pool(self, x: np.ndarray):
        """(output, padded input, geometry)."""
        axes = spatial_axes(self.rank, self.data_format)
        dims = [x.shape[a] for a in axes]
        pad, out = self._geometry(dims)
        xp = padded(x, axes, pad, -np.inf if self.mode == "max" else 0.0)
        y = None
        fold = np.maximum if self.mode == "max" else np.add
        for _, index in offset_slices(x.ndim, axes, out, self.pool_size, self.pool_strides):
            if y is None:
                y = xp[index].copy()
            else:
                fold(y, xp[index], out=y)
        if self.mode == "average":
            if any(map(any, pad)):
                np.divide(y, self._counts(pad, out, dims, x.dtype), out=y)
            else:
                np.divide(y, x.dtype.type(math.prod(self.pool_size)), out=y)
        return y, xp, (axes, pad, out)

    def call(self, x: np.ndarray) -> np.ndarray:
        return self._pool(x)[0]

    def backward(self, cache, dy):
        x = cache
        y, xp, (axes, pad, out) = self._pool(x)
        dxp = np.zeros(xp.shape, x.dtype)
        if self.mode == "max":
            taken = np.zeros(y.shape, bool)
            for _, index in offset_slices(x.ndim, axes, out, self.pool_size, self.pool_strides):
                # the first maximum of each window (row-major) gets the gradient, as XLA's select-and-scatter does
                first = (xp[index] == y) & ~taken
                dxp[index] += dy * first
                taken |= first
        else:
            if any(map(any, pad)):
                share = dy / self._counts(pad, out, [x.shape[a] for a in axes], x.dtype)
            else:
                share = dy / math.prod(self.pool_size)
            for _, index in offset_slices(x.ndim, axes, out, self.pool_size, self.pool_strides):
                dxp[index] += share
        return cropped(dxp, axes, pad), []

    # --- description ----------------------------------------------------------------------------
    def get_config(self) -> dict:
        config = super().get_config()
        config["strides"] = list(self.pool_strides)  # Keras writes the strides in effect
        return config

    def label(self) -> str:
        parts = [times(self.pool_size) if self.rank > 1 else f"{self.pool_size[0]}-wide"]
        if self.pool_strides != self.pool_size:
            parts.append(f"stride {times(self.pool_strides)}")
        parts.append(self.padding)
        if self.data_format == "channels_first":
            parts.append("channels_first")
        return " ".join(parts)

    def explain_shape(self, shape, output_shape) -> str:
        dims, channels = self._split(shape)
        pad, _ = self._geometry(dims)
        lines = []
        for axis, n, k, s, (lo, hi) in zip(_AXIS_NAMES[self.rank], dims, self.pool_size, self.pool_strides, pad):
            line = f"{axis}: {axis_arithmetic(n, k, s, self.padding)}"
            if lo or hi:
                line += f", padded {lo} before and {hi} after"
            lines.append(line)
        what = "maximum" if self.mode == "max" else "mean"
        size = times(self.pool_size) if self.rank > 1 else f"{self.pool_size[0]}-step"
        text = (
            f"{'; '.join(lines)}. Each {size} window (moving {times(self.pool_strides)}) becomes its "
            f"{what}, separately for each of the {channels:,} channels → {format_shape(output_shape)}."
        )
        if self.mode == "average" and self.padding == "same" and any(map(any, pad)):
            text += " Windows that reach into the padding average only their real cells."
        return text

    def keras_code(self) -> CodePart:
        args = [f"pool_size={self.pool_size}"]
        if self.strides is not None:
            args.append(f"strides={self.strides}")
        args += [f"padding={self.padding!r}", f"data_format={self.data_format!r}"]
        return CodePart(f"keras.layers.{self.kind}({', '.join(args)}, name={self.name!r})")

    def torch_code(self, shape) -> list[CodePart]:
        dims, _ = self._split(shape)
        pad, _ = self._geometry(dims)
        nd, k, s = f"{self.rank}d", tuple_text(self.pool_size), tuple_text(self.pool_strides)
        if self.mode == "max":
            if symmetric(pad):  # torch pads with -inf, as Keras does
                parts = [CodePart(f"nn.MaxPool{nd}({k}, stride={s}, padding={tuple_text(lo for lo, _ in pad)})")]
            else:
                parts = [
                    CodePart(f"nn.ConstantPad{nd}({torch_pad_order(pad)}, float('-inf'))"),
                    CodePart(f"nn.MaxPool{nd}({k}, stride={s})"),
                ]
        elif not any(map(any, pad)):
            parts = [CodePart(f"nn.AvgPool{nd}({k}, stride={s})")]
        elif symmetric(pad):  # count_include_pad=False: divide by the real cells, as Keras does
            parts = [
                CodePart(
                    f"nn.AvgPool{nd}({k}, stride={s}, padding={tuple_text(lo for lo, _ in pad)}, "
                    "count_include_pad=False)"
                )
            ]
        else:
            parts = [
                CodePart(
                    f"KerasAvgPoolSame({tuple(self.pool_size)}, {tuple(self.pool_strides)}, {torch_pad_order(pad)})",
                    {"KerasAvgPoolSame": _AVG_POOL_SAME},
                )
            ]
        return torch_layout(parts, self.data_format)


def _pool_settings(rank: int, required: bool) -> tuple:
    return (
        Ints(
            "pool_size",
            (2,) * rank,
            f"Window size ({' × '.join(_AXIS_NAMES[rank])}); 2 halves each axis.",
            required=required,
            length=rank,
        ),
        OptionalInts(
            "strides",
            None,
            "How far the window moves; empty means the pool size (windows side by side).",
            length=rank,
            same_as="pool_size",
        ),
        Choice(
            "padding",
            "valid",
            "valid: only windows inside the input; same: pad so there are ceil(n/stride) windows.",
            choices=("valid", "same"),
        ),
        DataFormat(
            "data_format",
            "channels_last",
            "Where the channels axis is: last (Keras's default) or right after the batch.",
        ),
    )


@register
class MaxPooling1D(_Pool):
    """The maximum of each window of steps, per channel."""

    rank, mode = 1, "max"
    settings = _pool_settings(1, required=False)
    description = "The largest value of each window of steps, per channel, e.g. (None, 100, 32) → (None, 50, 32)."


@register
class MaxPooling2D(_Pool):
    """The maximum of each window of height × width, per channel."""

    rank, mode = 2, "max"
    settings = _pool_settings(2, required=False)
    description = "The largest value of each window, per channel, e.g. (None, 26, 26, 32) → (None, 13, 13, 32)."


@register
class AveragePooling1D(_Pool):
    """The mean of each window of steps, per channel."""

    rank, mode = 1, "average"
    settings = _pool_settings(1, required=True)
    description = "The mean of each window of steps, per channel, e.g. (None, 100, 32) → (None, 50, 32)."


@register
class AveragePooling2D(_Pool):
    """The mean of each window of height × width, per channel."""

    rank, mode = 2, "average"
    settings = _pool_settings(2, required=True)
    description = "The mean of each window, per channel, e.g. (None, 26, 26, 32) → (None, 13, 13, 32)."


# --- global pooling --------------------------------------------------------------------------------
class _GlobalPool(Layer):
    """The max or mean over every spatial position, per channel."""

    train_call_microseconds = 35  # forward_train and backward of a step whatever the batch (measured at batch 1)

    rank = 2
    mode = "max"
    group = "Pooling"
    builds_at_init = True
    settings = (
        DataFormat(
            "data_format",
            "channels_last",
            "Where the channels axis is: last (Keras's default) or right after the batch.",
        ),
        Bool("keepdims", False, "Keep the spatial axes with size 1 instead of dropping them."),
    )

    def _axes(self) -> tuple[int, ...]:
        return spatial_axes(self.rank, self.data_format)

    def input_spec(self) -> InputSpec:
        return InputSpec(ndim=self.rank + 2, axis_names=_axis_names(self.rank, self.data_format))

    def compute_output_shape(self, shape):
        channels = shape[channel_axis(self.data_format)]
        if self.keepdims:
            return (
                (shape[0], *(1,) * self.rank, channels)
                if self.data_format == "channels_last"
                else (shape[0], channels, *(1,) * self.rank)
            )
        return (shape[0], channels)

    def rank_explanation(self, shape, name: str) -> str:
        return _rank_text(self, shape, f"the {'maximum' if self.mode == 'max' else 'mean'} over all positions")

    def suggest_fixes(self, shape, problem, context) -> list:
        return _rank_fixes(self, shape, context)

    def cost(self, shape, output_shape) -> Cost:
        inputs, outputs = math.prod(shape[1:]), math.prod(output_shape[1:])
        # backward, max: where the maximum is (a mask, and its float copy), the counts and the gradient's share;
        # average: the share
        backward = 3 * inputs // 2 + 2 * outputs if self.mode == "max" else outputs
        # backward, max: the maximum again, compare with it, as floats, count, share, multiply (about 12 operations'
        # time measured); average: one broadcast copy
        return Cost(
            elementwise=inputs + (outputs if self.mode == "average" else 0),
            train_scratch=backward,
            train_elementwise=12 * inputs if self.mode == "max" else 2 * inputs,
        )

    def call(self, x: np.ndarray) -> np.ndarray:
        if self.mode == "max":
            return np.max(x, axis=self._axes(), keepdims=self.keepdims)
        # np.mean's bits (what Keras calls) without its `where=True` reduction, which allocates a 130 KB buffer
        total = np.add.reduce(x, axis=self._axes(), keepdims=self.keepdims)
        return np.true_divide(total, math.prod(x.shape[a] for a in self._axes()), out=total)

    def backward(self, cache, dy):
        x = cache
        axes = self._axes()
        dy = dy if self.keepdims else np.expand_dims(dy, axes)
        if self.mode == "max":
            # ties share the gradient equally, as JAX's max does
            hits = (x == np.max(x, axis=axes, keepdims=True)).astype(x.dtype)
            return hits * (dy / hits.sum(axis=axes, keepdims=True)), []
        return np.broadcast_to(dy / math.prod(x.shape[a] for a in axes), x.shape).copy(), []

    def label(self) -> str:
        parts = ["channels_first"] if self.data_format == "channels_first" else []
        return " ".join(parts + (["keepdims"] if self.keepdims else [])) or ("max" if self.mode == "max" else "mean")

    def explain_shape(self, shape, output_shape) -> str:
        channels = shape[channel_axis(self.data_format)]
        dims = [shape[a] for a in self._axes()]
        what = "maximum" if self.mode == "max" else "mean"
        return (
            f"The {what} over all {times(dims)} positions, one number for each of the {channels:,} channels"
            f"{' (the spatial axes kept with size 1)' if self.keepdims else ''} → {format_shape(output_shape)}."
        )

    def keras_code(self) -> CodePart:
        return CodePart(
            f"keras.layers.{self.kind}(data_format={self.data_format!r}, keepdims={self.keepdims}, name={self.name!r})"
        )

    def torch_code(self, shape) -> list[CodePart]:
        return [
            CodePart(
                f"KerasGlobalPool({self.mode!r}, {self._axes()}, {self.keepdims})", {"KerasGlobalPool": _GLOBAL_POOL}
            )
        ]


@register
class GlobalMaxPooling1D(_GlobalPool):
    """The maximum over all steps, per channel."""

    rank, mode = 1, "max"
    description = "The largest value over all steps, per channel, e.g. (None, 100, 64) → (None, 64)."


@register
class GlobalMaxPooling2D(_GlobalPool):
    """The maximum over all positions of an image, per channel."""

    rank, mode = 2, "max"
    description = "The largest value over the whole image, per channel, e.g. (None, 7, 7, 64) → (None, 64)."


@register
class GlobalAveragePooling1D(_GlobalPool):
    """The mean over all steps, per channel."""

    rank, mode = 1, "average"
    description = "The mean over all steps, per channel, e.g. (None, 100, 64) → (None, 64)."


@register
class GlobalAveragePooling2D(_GlobalPool):
    """The mean over all positions of an image, per channel."""

    rank, mode = 2, "average"
    description = "The mean over the whole image, per channel, e.g. (None, 7, 7, 64) → (None, 64)."
