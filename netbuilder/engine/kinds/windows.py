"""Window arithmetic shared by convolution and pooling: output sizes, Keras's padding, strided views, torch helpers.

A window of `size` cells, `dilation` apart, moves `stride` cells at a time along one spatial axis.
`valid` keeps only windows inside the input; `same` pads so that ceil(n / stride) windows fit, the odd
extra cell going at the end (as Keras, i.e. XLA, pads); Conv1D's `causal` pads only the start.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..layer import CodePart, Problem
from ..settings import Choice
from ..errors import LayerConfigError
from ..shapes import format_shape


# --- settings ------------------------------------------------------------------------------------
class Padding(Choice):
    """Keras's conv padding: valid or same (causal too for Conv1D), any letter case, stored lower-case."""

    def check(self, value):
        text = value.lower() if isinstance(value, str) else value
        if text not in self.choices:
            if text == "causal":
                raise LayerConfigError(
                    "padding 'causal' exists only for 1D layers (Conv1D): it pads the start of a "
                    "sequence so no output sees later steps. Use 'valid' or 'same' here."
                )
            allowed = "{" + ", ".join(repr(c) for c in sorted(self.choices)) + "}"
            raise LayerConfigError(
                f"The `padding` argument must be a list/tuple or one of {allowed}. Received: {str(value)[:40]}"
            )
        return text


# --- arithmetic ----------------------------------------------------------------------------------
def span(size: int, dilation: int = 1) -> int:
    """Cells a window covers: a 3-wide kernel with dilation 2 spans 5."""
    return dilation * (size - 1) + 1


def pads(n: int, size: int, stride: int, padding: str, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding of one axis of length `n`."""
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span(size, dilation) - 1, 0
    total = max(0, (math.ceil(n / stride) - 1) * stride + span(size, dilation) - n)
    return total // 2, total - total // 2  # the odd cell at the end


def out_size(n: int, size: int, stride: int, padding: str, dilation: int = 1) -> int:
    """Windows along one axis (≤ 0 under valid when the window is longer than the axis)."""
    if padding == "valid":
        return (n - span(size, dilation)) // stride + 1
    return (n - 1) // stride + 1  # ceil(n / stride)


def axis_arithmetic(n: int, size: int, stride: int, padding: str, dilation: int = 1) -> str:
    """`(28 − 3)/1 + 1 = 26`, `floor((28 − 3)/2) + 1 = 13`, `ceil(28/2) = 14` for one axis."""
    out = out_size(n, size, stride, padding, dilation)
    if padding != "valid":
        return f"ceil({n}/{stride}) = {out}"
    width = span(size, dilation)
    if stride == 1:
        return f"({n} − {width})/1 + 1 = {out}"
    return f"floor(({n} − {width})/{stride}) + 1 = {out}"


def spatial_axes(rank: int, data_format: str) -> tuple[int, ...]:
    """Indices of the spatial axes of a (batch, ...) tensor."""
    return tuple(range(1, rank + 1)) if data_format == "channels_last" else tuple(range(2, rank + 2))


def channel_axis(data_format: str) -> int:
    return -1 if data_format == "channels_last" else 1


def window_problem(
    name: str, kind: str, shape, dims, window, dilation, strides, keras_message: str, axis_names
) -> Problem:
    """A window (kernel or pool) longer than its input under `valid` padding."""
    spans = [span(k, d) for k, d in zip(window, dilation)]
    bad = [i for i, (n, w) in enumerate(zip(dims, spans)) if n < w]
    i = bad[0] if bad else 0
    what = "kernel" if kind.startswith("Conv") else "pooling window"
    spread = f" (dilation {dilation[i]} spreads its {window[i]} cells over {spans[i]})" if dilation[i] > 1 else ""
    return Problem(
        f"spatial axes at least {' × '.join(map(str, spans))} long",
        f"Layer {name!r} ({kind}) has a {'×'.join(map(str, window))} {what}, larger than its input "
        f"{format_shape(shape)}.",
        f"With padding='valid' the {what} only takes positions where it fits entirely inside the input. "
        f"Along {axis_names[i]} the input is {dims[i]} long but the {what} covers {spans[i]} cells{spread}: "
        f"floor(({dims[i]} − {spans[i]})/{strides[i]}) + 1 = {(dims[i] - spans[i]) // strides[i] + 1}: no position "
        "at all. padding='same' pads the input so every position has an output; "
        f"a smaller {what} fits as it is.",
        keras_message,
    )


# --- arrays --------------------------------------------------------------------------------------
def padded(x: np.ndarray, axes, pad_pairs, value: float = 0.0) -> np.ndarray:
    """`x` with `pad_pairs` cells of `value` before and after each of `axes` (`x` itself when there are none)."""
    if not any(lo or hi for lo, hi in pad_pairs):
        return x
    shape = list(x.shape)
    inner = [slice(None)] * x.ndim
    for axis, (lo, hi) in zip(axes, pad_pairs):
        shape[axis] += lo + hi
        inner[axis] = slice(lo, lo + x.shape[axis])
    out = np.full(shape, value, x.dtype)
    out[tuple(inner)] = x
    return out


def cropped(x: np.ndarray, axes, pad_pairs) -> np.ndarray:
    """The inverse of `padded`: the cells of the unpadded input (a view)."""
    inner = [slice(None)] * x.ndim
    for axis, (lo, hi) in zip(axes, pad_pairs):
        inner[axis] = slice(lo, x.shape[axis] - hi)
    return x[tuple(inner)]


def offset_slices(ndim: int, axes, out_sizes, window, strides, dilation=None):
    """For each cell of the window (row-major order): (its index, the slices of every window's cell at that offset)."""
    dilation = dilation or (1,) * len(window)
    for offset in np.ndindex(*window):
        index = [slice(None)] * ndim
        for axis, k, o, s, d in zip(axes, offset, out_sizes, strides, dilation):
            index[axis] = slice(k * d, k * d + s * (o - 1) + 1, s)
        yield offset, tuple(index)


def tap_slices(ndim: int, axes, dims, out_sizes, window, strides, dilation, pad_pairs):
    """For each cell of the window (row-major order) that meets the unpadded input: (its index, the output's slices
    it reaches, the input's slices it reads). Padding cells are skipped, not read: they add only zeros."""
    per_axis = [list(_axis_taps(*args)) for args in zip(dims, out_sizes, window, strides, dilation, pad_pairs)]
    for taps in itertools.product(*per_axis):
        out_index, in_index = [slice(None)] * ndim, [slice(None)] * ndim
        for axis, (_, out_slice, in_slice) in zip(axes, taps):
            out_index[axis], in_index[axis] = out_slice, in_slice
        yield tuple(k for k, _, _ in taps), tuple(out_index), tuple(in_index)


def _axis_taps(n: int, out: int, size: int, stride: int, dilation: int, pad_pair):
    """Along one axis, for each kernel cell that meets the input: (the cell, the outputs it reaches, the cells read)."""
    for k in range(size):
        shift = k * dilation - pad_pair[0]  # the input cell under output 0
        first, stop = max(0, -(shift // stride)), min(out, (n - 1 - shift) // stride + 1)
        if first < stop:
            yield k, slice(first, stop), slice(first * stride + shift, (stop - 1) * stride + shift + 1, stride)


def windows_view(xp: np.ndarray, axes, out_sizes, window, strides, dilation) -> np.ndarray:
    """A read-only view (batch, channels-or-positions..., window..., ...) of every window, without copying.

    Layout: channels_last (axes 1..r) gives (N, *out, *window, C); channels_first (axes 2..r+1) gives
    (N, *window, C, *out), the order a channels_first matmul wants."""
    st = xp.strides
    moves = tuple(st[a] * s for a, s in zip(axes, strides))
    steps = tuple(st[a] * d for a, d in zip(axes, dilation))
    if axes[0] == 1:
        shape = (xp.shape[0], *out_sizes, *window, xp.shape[-1])
        strides = (st[0], *moves, *steps, st[-1])
    else:
        shape = (xp.shape[0], *window, xp.shape[1], *out_sizes)
        strides = (st[0], *steps, st[1], *moves)
    return as_strided(xp, shape, strides, writeable=False)


# --- torch code ----------------------------------------------------------------------------------
TO_CHANNELS_FIRST = '''class ChannelsLastToFirst(nn.Module):
    """Move the last axis to axis 1: Keras's channels_last layout into torch's channels_first."""

    def forward(self, x):
        return x.permute(0, x.dim() - 1, *range(1, x.dim() - 1))
'''
TO_CHANNELS_LAST = '''class ChannelsFirstToLast(nn.Module):
    """Move axis 1 last, as Keras's Flatten(data_format="channels_first") does before flattening."""

    def forward(self, x):
        return x.permute(0, *range(2, x.dim()), 1)
'''  # the same text as flatten.py's helper of this name, so either definition serves both


def torch_layout(parts: list[CodePart], data_format: str) -> list[CodePart]:
    """`parts` (written for torch's channels_first) wrapped in permutes when the Keras layer is channels_last."""
    if data_format == "channels_first":
        return parts
    return [
        CodePart("ChannelsLastToFirst()", {"ChannelsLastToFirst": TO_CHANNELS_FIRST}),
        *parts,
        CodePart("ChannelsFirstToLast()", {"ChannelsFirstToLast": TO_CHANNELS_LAST}),
    ]


def torch_pad_order(pad_pairs) -> tuple[int, ...]:
    """F.pad's order: the last axis first, (before, after) each."""
    return tuple(v for pair in reversed(pad_pairs) for v in pair)


def symmetric(pad_pairs) -> bool:
    return all(lo == hi for lo, hi in pad_pairs)


def tuple_text(values) -> str:
    """`(3, 3)`, and `3` for a single value (torch takes an int for 1D)."""
    values = tuple(values)
    return str(values[0]) if len(values) == 1 else str(values)
