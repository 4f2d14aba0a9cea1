"""Conv1DTranspose and Conv2DTranspose: the gradient of a convolution, run forward (learned upsampling).

Every input position spreads its channels, through the kernel, over a window of the output: input position p's
window starts at output position p·stride (cells `dilation` apart), and overlapping windows add up. Keras's kernel is
(*window, filters, input channels). The output's size is Keras's (`compute_conv_transpose_output_shape`):
  valid: (n − 1)·stride + max(window, stride)       valid, output_padding o: (n − 1)·stride + window + o
  same:  n·stride                                    same,  output_padding o: (n − 1)·stride + window mod 2 + o
(window is the dilated span), which is the full result (n − 1)·stride + window cropped by Keras's (JAX's) padding:
`crop` cells off the start, and off the end as many as the padding leaves (an output longer than the full result
ends in cells no input reaches: the bias alone).

The forward pass is one matmul, inputs (batch·positions, channels) by the kernel (channels, window·filters), then
each kernel cell's slab is added into its strided slice of the output (a loop over kernel cells, counted in the
cost). The backward pass is a convolution: the output's gradient, padded back to the full result, read through a
strided view of every window (no loop), by one matmul for the input's gradient and one for the kernel's.
"""

from __future__ import annotations

import math

import numpy as np

from .. import activations
from ..errors import LayerConfigError
from ..layer import MICROSECOND, CodePart, Cost, Problem, WeightSpec, register
from ..limits import MAX_UNITS
from ..settings import Bool, DataFormat, Int, Ints, OptionalInts
from ..shapes import format_shape, times
from .common import activation_step_cost, torch_activation
from .convolution import _AXIS_NAMES, ConvActivation, _Conv
from .depthwise import (
    KerasDefaults,
    ValidOrSame,
    conv_keras_code,
    conv_label,
    initializer_settings,
    keras_only_arguments,
    keras_only_config,
    rank_text,
    strided_add_ops,
)
from .windows import channel_axis, cropped, padded, span, spatial_axes, torch_layout, tuple_text, windows_view

_ZERO = np.array(0.0, np.float32)
_IN_PLACE = ("linear", "relu")  # applied to the output's own buffer: no second tensor
_TRAIN_GRADIENT_OPS = 6  # an activation's gradient per output value (as convolution.py measured it)
# `call` adds each kernel cell's slab into a strided slice of the output in a Python loop: microseconds per cell
# whatever the batch (timeit, best of 300 at batch 1 on 3 × 3 × 2, Conv2DTranspose 3×3: 47-50 µs a call, 4-5 a cell)
_CELL_MICROSECONDS = 5
_ADD_BUFFERS = 3 * 8192  # NumPy's buffered strided add: up to 8,192 values of each of its three operands (tracemalloc)


def transpose_axis(n: int, size: int, stride: int, padding: str, output_padding: int | None, dilation: int = 1):
    """One axis of a transposed convolution, as Keras (JAX) computes it: (output length, crop at the start, crop at the
    end) of the full result (n − 1)·stride + span; a negative crop at the end is cells added there."""
    width = span(size, dilation)
    if padding == "valid":
        extra = max(width, stride) - width if output_padding is None else output_padding
        lo, hi = width - 1, width - 1 + extra
    else:
        total = stride + width - 2 if output_padding is None else width + width % 2 - 2 + output_padding
        lo = min(total // 2 + total % 2, width - 1)
        hi = total - lo
    return (n - 1) * stride + 2 + lo + hi - width, width - 1 - lo, width - 1 - hi


def transpose_arithmetic(
    n: int, size: int, stride: int, padding: str, output_padding: int | None, dilation: int = 1
) -> str:
    """`(14 − 1)×2 + 3 = 29`, `14×2 = 28`, … for one axis (Keras's output-size rules written out)."""
    out, width = transpose_axis(n, size, stride, padding, output_padding, dilation)[0], span(size, dilation)
    if padding == "same":
        if output_padding is None:
            return f"{n}×{stride} = {out}"
        return f"({n} − 1)×{stride} + {width} mod 2 + {output_padding} = {out}"
    if output_padding is not None:
        return f"({n} − 1)×{stride} + {width} + {output_padding} = {out}"
    if stride > width:
        return f"({n} − 1)×{stride} + max({width}, {stride}) = {out}"
    return f"({n} − 1)×{stride} + {width} = {out}"


class OutputPadding(OptionalInts):
    """Keras's output_padding: None (Keras's rule), or cells added at the end of each axis, each below the stride."""

    def check(self, value):
        if value is not None and not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value < 0:
            raise LayerConfigError(
                f"The `output_padding` argument must be a tuple of {self.length} integers. Received "
                f"output_padding={value}, including values {{{value}}} that do not satisfy `value >= 0`"
            )
        return super().check(value)


class _Transpose(KerasDefaults, _Conv):
    """The transposed convolution of `rank` spatial axes; Conv1DTranspose and Conv2DTranspose fix the rank."""

    # forward_train and backward of a step whatever the batch, beyond forward's loop over kernel cells (timeit, best of
    # 300 at batch 1 on 3 × 3 × 2: 26-44 µs, the matmuls, the padded gradient and its windows)
    train_call_microseconds = 50
    keras_only = keras_only_arguments("kernel", "bias")
    keras_extra_config = keras_only_config(keras_only)

    def validate(self) -> None:
        if self.output_padding is not None:
            for i, (o, s) in enumerate(zip(self.output_padding, self.strides)):
                if o >= s:
                    raise LayerConfigError(
                        f"`output_padding` must be strictly less than `strides` for all dimensions. At dimension {i}, "
                        f"`output_padding` is {o} but `strides` is {s}. Received: "
                        f"output_padding={self.output_padding}, strides={self.strides}"
                    )
        super().validate()  # Keras's: strides > 1 and dilation > 1 not together

    # --- shapes ------------------------------------------------------------------------------------------------------
    def _axes(self, dims) -> list[tuple[int, int, int]]:
        """Per spatial axis: (output length, crop at the start, crop at the end)."""
        pads = self.output_padding or (None,) * self.rank
        return [
            transpose_axis(n, k, s, self.padding, o, d)
            for n, k, s, o, d in zip(dims, self.kernel_size, self.strides, pads, self.dilation_rate)
        ]

    def _kernel_shape(self, shape) -> tuple:
        return (*self.kernel_size, self.filters, shape[channel_axis(self.data_format)])

    def compute_output_shape(self, shape):
        dims, _ = self._split(shape)
        out = [length for length, _, _ in self._axes(dims)]
        return (shape[0], *out, self.filters) if self.data_format == "channels_last" else (shape[0], self.filters, *out)

    def check_shape(self, shape, name: str) -> Problem | None:
        if len(shape) > self.rank + 2:
            return Problem(
                f"exactly {self.rank + 2} axes ({', '.join(self.input_spec().axis_names)})",
                f"Layer {name!r} ({self.kind}) needs {self.rank + 2} axes, but received {format_shape(shape)}.",
                self._rank_text(shape),
                f"Exception encountered when calling {self.kind}.call().\n\ntuple index out of range",
            )
        dims, _ = self._split(shape)
        empty = [i for i, (length, _, _) in enumerate(self._axes(dims)) if length < 1]
        if empty:
            i = empty[0]
            axis = _AXIS_NAMES[self.rank][i]
            arithmetic = transpose_arithmetic(
                dims[i],
                self.kernel_size[i],
                self.strides[i],
                self.padding,
                (self.output_padding or (None,) * self.rank)[i],
                self.dilation_rate[i],
            )
            return Problem(
                f"an output at least 1 long along {axis}",
                f"Layer {name!r} ({self.kind}) would give an empty output for {format_shape(shape)}, along {axis}: "
                f"{arithmetic}.",
                f"With padding='same' and an output_padding, Keras's output is (n − 1)×stride + (kernel mod 2) + "
                f"output_padding long: a {self.kernel_size[i]}-cell kernel (an even span) with output_padding 0 on an "
                f"axis of 1 gives nothing at all (Keras returns an empty tensor). Leave output_padding unset "
                f"(n×stride), or use padding='valid'.",
            )
        return None

    def _rank_text(self, shape) -> str:
        return rank_text(self, shape, "spreads each input position's channels over a window of the output")

    def axis_explanation(self, shape, axis: int, size: int, name: str) -> str:
        return (
            f"{name} was built for {size} input channels: its kernel is "
            f"{times((*self.kernel_size, self.filters, size))}. Here the channels axis has {shape[axis]}."
        )

    def suggest_fixes(self, shape, problem, context) -> list:
        channels = self._split(shape)[1] if len(shape) == self.rank + 2 else None
        if len(shape) != self.rank + 2 or (
            self.built_shape is not None and channels != self._split(self.built_shape)[1]
        ):
            return super().suggest_fixes(
                shape, problem, context
            )  # Conv's: a channels axis, the channels it was built for
        name = context.name
        return [
            context.set_setting(
                "output_padding", None, description=f"unset output_padding of {name} (output n×stride)"
            ),
            context.set_setting("padding", "valid", description=f"set padding of {name} to 'valid'"),
        ]

    # --- weights -----------------------------------------------------------------------------------------------------
    def weight_specs(self, shape) -> list[WeightSpec]:
        channels = self._split(shape)[1]
        specs = [WeightSpec("kernel", (*self.kernel_size, self.filters, channels), self.kernel_initializer)]
        return specs + ([WeightSpec("bias", (self.filters,), self.bias_initializer)] if self.use_bias else [])

    def formula(self, shape) -> str:
        """`3×3×8×4 + 8 = 296` (kernel: window, filters, input channels)."""
        product = times((*self.kernel_size, self.filters, self._split(shape)[1]))
        total = sum(self.count_params_for(shape))
        return f"{product} + {self.filters:,} = {total:,}" if self.use_bias else f"{product} = {total:,}"

    def cost(self, shape, output_shape) -> Cost:
        dims, channels = self._split(shape)
        positions, window = math.prod(dims), math.prod(self.kernel_size)
        out = math.prod(output_shape[1:])
        columns = positions * window * self.filters  # the matmul's result: every input position's windows
        slabs = self._slab_values(dims)  # what the loop adds into the output
        full = (
            math.prod(
                (n - 1) * s + span(k, d) for n, k, s, d in zip(dims, self.kernel_size, self.strides, self.dilation_rate)
            )
            * self.filters
        )
        linear = self.activation == "linear"
        activation = activation_step_cost(self.activation, out)
        separate = self.activation not in _IN_PLACE
        chunked = separate and activation.capped_scratch > 0
        slab = positions * self.filters  # the largest slab: every input position's values of one kernel cell
        return Cost(
            mult_adds=positions * channels * window * self.filters,
            elementwise=out
            + math.ceil(strided_add_ops(self.filters, self.data_format) * slabs)
            + (out if self.use_bias else 0)
            + activation.elementwise,
            # beside the output: the matmul's result while the slabs are added, with the buffers NumPy's strided add
            # takes (three of up to 8,192 values, whatever the batch); then an activation not applied in place. The
            # buffers are counted with the later phase (capped), unless an activation's own chunks are (gelu's): then
            # with the slabs, per sample.
            early_scratch=columns + (3 * slab if chunked else 0),
            scratch=out + activation.scratch if chunked else max(columns, out + activation.scratch if separate else 0),
            scratch_large=out + activation.scratch_large
            if chunked
            else max(columns, out + activation.scratch_large if separate else 0),
            large_at=out,
            capped_scratch=activation.capped_scratch if chunked else 3 * slab,
            scratch_cap=activation.scratch_cap if chunked else _ADD_BUFFERS,
            overhead=window * _CELL_MICROSECONDS * MICROSECOND,
            train_overhead=window * _CELL_MICROSECONDS * MICROSECOND,
            # Training. Work: backward pads the output's gradient back to the full result and copies its windows into
            # a patch matrix (a convolution's im2col); an activation is applied again, its gradient taken. Memory:
            # forward_train keeps the pre-activation z beside y; backward makes z's gradient (and the activation
            # gradient's temporary), the padded gradient and the patch matrix (channels_first: tensordot copies it).
            train_elementwise=full + columns + (0 if linear else activation.elementwise + _TRAIN_GRADIENT_OPS * out),
            train_kept=0 if linear else out,
            train_scratch=(0 if linear else 2 * out)
            + full
            + columns * (2 if self.data_format == "channels_first" else 1),
        )

    def _slab_values(self, dims) -> int:
        """Values the forward loop adds into the output, over every kernel cell (inputs whose cells are cropped skip):
        per axis the inputs each cell reaches, summed, multiplied over the axes (a cell's slab is their product)."""
        total = self.filters
        for n, k, s, d, (length, crop, _) in zip(
            dims, self.kernel_size, self.strides, self.dilation_rate, self._axes(dims)
        ):
            total *= sum(
                max(0, last - first + 1) for first, last in (_reach(n, j, s, d, length, crop) for j in range(k))
            )
        return total

    # --- numbers -----------------------------------------------------------------------------------------------------
    def _linear(self, x: np.ndarray) -> np.ndarray:
        kernel, bias = self._weights[0], (self._weights[1] if self.use_bias else None)
        axes = spatial_axes(self.rank, self.data_format)
        dims = tuple(x.shape[a] for a in axes)
        n, channels, f = x.shape[0], kernel.shape[-1], self.filters
        matrix = kernel.reshape(-1, channels)  # (window·filters, channels)
        last = self.data_format == "channels_last"
        if last:
            columns = np.matmul(x.reshape(-1, channels), matrix.T).reshape(n, *dims, *self.kernel_size, f)
        else:
            columns = np.matmul(matrix, x.reshape(n, channels, -1)).reshape(n, *self.kernel_size, f, *dims)
        geometry = self._axes(dims)
        out_dims = [length for length, _, _ in geometry]
        z = np.zeros((n, *out_dims, f) if last else (n, f, *out_dims), columns.dtype)
        for offset, out_index, in_index in _cells(
            x.ndim, axes, dims, self.kernel_size, self.strides, self.dilation_rate, geometry
        ):
            slab = columns[(slice(None),) * (1 + self.rank) + offset] if last else columns[(slice(None), *offset)]
            z[out_index] += slab[in_index]
        del columns
        if bias is not None:
            np.add(z, bias if last else bias.reshape(f, *(1,) * self.rank), out=z)
        return z

    def backward(self, cache, dy):
        x, z, y = cache
        dz = activations.gradient(self.activation, z, y, dy)
        kernel = self._weights[0]
        axes = spatial_axes(self.rank, self.data_format)
        dims = tuple(x.shape[a] for a in axes)
        n, channels = x.shape[0], kernel.shape[-1]
        matrix = kernel.reshape(-1, channels)
        last = self.data_format == "channels_last"
        # the output's gradient back on the full result's cells: crop what lies past it, pad the cropped cells with 0
        keep, pad = [], []
        for a, size, k, s, d, (length, crop, _) in zip(
            axes, dims, self.kernel_size, self.strides, self.dilation_rate, self._axes(dims)
        ):
            full = (size - 1) * s + span(k, d)
            kept = min(length, full - crop)
            keep.append((0, length - kept))
            pad.append((crop, full - crop - kept))
        dfull = padded(cropped(dz, axes, keep), axes, pad)
        view = windows_view(dfull, axes, dims, self.kernel_size, self.strides, self.dilation_rate)
        patches = np.empty(
            (n * math.prod(dims), matrix.shape[0]) if last else (n, matrix.shape[0], math.prod(dims)), dz.dtype
        )
        np.copyto(patches.reshape(view.shape), view)
        del dfull, view
        if last:
            xm = x.reshape(-1, channels)
            dkernel = patches.T @ xm
            dx = (patches @ matrix).reshape(x.shape)
        else:
            xm = x.reshape(n, channels, -1)
            dkernel = np.tensordot(patches, xm, axes=([0, 2], [0, 2]))
            dx = np.matmul(matrix.T, patches).reshape(x.shape)
        grads = [dkernel.reshape(kernel.shape)]
        if self.use_bias:
            grads.append(dz.sum(axis=tuple(range(dz.ndim - 1)) if last else (0, *range(2, dz.ndim))))
        return dx, grads

    def call(self, x):
        z = self._linear(x)
        if self.activation == "linear":
            return z
        if self.activation == "relu":
            return np.maximum(z, _ZERO if z.dtype == np.float32 else z.dtype.type(0), out=z)
        return self._activation_fn(z)

    def forward_train(self, x, rng):
        z = self._linear(x)
        y = z if self.activation == "linear" else self._activation_fn(z)
        return y, (x, z, y)

    # --- description -------------------------------------------------------------------------------------------------
    def label(self) -> str:
        return conv_label(self, "transposed")

    def explain_shape(self, shape, output_shape) -> str:
        dims, channels = self._split(shape)
        pads = self.output_padding or (None,) * self.rank
        lines = []
        for axis, n, k, s, o, d in zip(
            _AXIS_NAMES[self.rank], dims, self.kernel_size, self.strides, pads, self.dilation_rate
        ):
            line = f"{axis}: {transpose_arithmetic(n, k, s, self.padding, o, d)}"
            if d > 1:
                line += f" (dilation {d} spreads the {k}-cell kernel over {span(k, d)})"
            lines.append(line)
        rule = (
            "padding='valid' keeps every output cell an input reaches ((n − 1)×stride + kernel; a stride longer than "
            "the kernel leaves gaps up to stride cells)"
            if self.padding == "valid"
            else "padding='same' makes the output stride times the input (the inverse of a 'same' convolution's "
            "ceil(n/stride))"
        )
        if self.output_padding is not None:
            rule += "; output_padding sets how many extra cells end each axis"
        inputs = "The 1 input channel" if channels == 1 else f"Each of the {channels:,} input channels"
        return (
            f"{'; '.join(lines)}. {rule}. Each input position spreads its channels through a "
            f"{times(self.kernel_size) if self.rank > 1 else f'{self.kernel_size[0]}-step'} window of the output, "
            f"stride {times(self.strides) if self.rank > 1 else self.strides[0]} apart, overlapping windows adding up; "
            f"{inputs[0].lower() + inputs[1:]} reach "
            f"{'the 1 filter' if self.filters == 1 else f'all {self.filters:,} filters'} "
            f"→ {format_shape(output_shape)}."
        )

    keras_code = conv_keras_code

    def torch_code(self, shape) -> list[CodePart]:
        dims, channels = self._split(shape)
        nd = f"{self.rank}d"
        padding, extra, crop = [], [], []
        for _, start, end in self._axes(dims):
            # torch removes `padding` from both ends, then gives back `output_padding` cells at the end
            padding.append(start)
            extra.append(max(0, start - end))
            crop.append(max(0, end - start))
        # torch keeps a transposed conv's kernel as (input channels, filters, *window); Keras as (*window, filters,
        # channels)
        weights = {"weight": np.ascontiguousarray(np.moveaxis(self._weights[0], (-1, -2), (0, 1)))}
        if self.use_bias:
            weights["bias"] = self._weights[1]
        parts = [
            CodePart(
                f"nn.ConvTranspose{nd}({channels}, {self.filters}, kernel_size={tuple_text(self.kernel_size)}, "
                f"stride={tuple_text(self.strides)}, padding={tuple_text(padding)}, "
                f"output_padding={tuple_text(extra)}, "
                f"dilation={tuple_text(self.dilation_rate)}, bias={self.use_bias})",
                weights=weights,
            )
        ]
        if any(crop):  # Keras crops one more cell at the end than at the start: a negative pad crops in torch
            parts.append(CodePart(f"nn.ZeroPad{nd}({tuple(v for c in reversed(crop) for v in (0, -c))})"))
        parts = torch_layout(parts, self.data_format)
        return parts + ([torch_activation(self.activation)] if self.activation != "linear" else [])


def _reach(n: int, j: int, stride: int, dilation: int, length: int, crop: int) -> tuple[int, int]:
    """The input positions (first, last) whose kernel cell j lands inside the output (last < first: none)."""
    shift = j * dilation - crop  # output position of input 0's cell j
    first = max(0, -(shift // stride))  # ceil(−shift / stride): the first whose cell is at or after the output's start
    last = min(n - 1, (length - 1 - shift) // stride)
    return first, last


def _cells(ndim: int, axes, dims, window, strides, dilation, geometry):
    """For each kernel cell (row-major): (its index, the output's strided slices it adds to, the inputs that reach)."""
    for offset in np.ndindex(*window):
        out_index, in_index = [slice(None)] * ndim, [slice(None)] * ndim
        for axis, n, j, s, d, (length, crop, _) in zip(axes, dims, offset, strides, dilation, geometry):
            first, last = _reach(n, j, s, d, length, crop)
            if last < first:
                break
            start = first * s + j * d - crop
            out_index[axis] = slice(start, start + (last - first) * s + 1, s)
            in_index[axis] = slice(first, last + 1)
        else:
            yield offset, tuple(out_index), tuple(in_index)


def _transpose_settings(rank: int) -> tuple:
    ones = (1,) * rank
    return (
        Int("filters", 32, "Number of kernels: the size of the output's channels axis.", required=True, high=MAX_UNITS),
        Ints(
            "kernel_size",
            (3,) * rank,
            f"Size of the window each input position spreads over ({' × '.join(_AXIS_NAMES[rank])}).",
            required=True,
            length=rank,
        ),
        Ints(
            "strides", ones, "How far apart the windows of neighbouring inputs start; 2 doubles the size.", length=rank
        ),
        ValidOrSame(
            "padding",
            "valid",
            "valid: every cell an input reaches ((n − 1)×stride + kernel); same: n×stride.",
            choices=("valid", "same"),
        ),
        OutputPadding(
            "output_padding",
            None,
            "Extra cells at the end of each axis (each below its stride); empty: Keras's rule.",
            length=rank,
            low=0,
        ),
        DataFormat(
            "data_format",
            "channels_last",
            "Where the channels axis is: last (Keras's default) or right after the batch.",
        ),
        Ints("dilation_rate", ones, "Spacing between kernel cells (only with strides 1).", length=rank),
        ConvActivation("activation", "linear", "Applied to every output value."),
        Bool("use_bias", True, "Add one learned number per filter."),
        *initializer_settings("kernel", "bias", rank=rank),
    )


@register
class Conv1DTranspose(_Transpose):
    """A transposed convolution along the steps of a sequence (batch, steps, channels)."""

    rank = 1
    settings = _transpose_settings(1)
    description = (
        "Learned upsampling of a sequence: each step spreads over a window, e.g. (None, 25, 8) → (None, 50, 4)."
    )


@register
class Conv2DTranspose(_Transpose):
    """A transposed convolution over height and width of an image (batch, height, width, channels)."""

    rank = 2
    settings = _transpose_settings(2)
    description = (
        "Learned upsampling of an image: each pixel spreads over a window, e.g. (None, 7, 7, 32) → (None, 14, 14, 16)."
    )
