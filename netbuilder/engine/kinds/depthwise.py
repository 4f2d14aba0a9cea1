"""DepthwiseConv2D, SeparableConv1D and SeparableConv2D: convolutions per channel (and a pointwise one after).

A depthwise convolution slides `depth_multiplier` small kernels over each input channel on its own: output channel
c·M + m is channel c convolved with its kernel m, nothing mixed across channels. A separable convolution is that,
then a 1×1 ("pointwise") convolution mixing the C·M channels into `filters`, then the bias, as Keras computes it.

Predict loops over the kernel's cells: each cell's strided slice of the input (padding cells skipped: they add only
zeros) times that cell's weights, into one output-sized temporary, added into the result. It allocates the result and
that temporary only, never a padded input or a patch matrix (9 times the input for a 3×3 kernel).

Training (forward_train) copies every window once into a patch matrix, as Conv1D/Conv2D do (their `_patches`), as
backward needs it: with few channels (C ≤ 8) one BLAS matmul by a block-diagonal kernel (every channel's kernel on
the diagonal: C times the products, but BLAS's speed), with more channels an einsum summing each channel's window
against its own kernel (one call per depth multiplier). The backward pass builds the patches again and adds their
gradient back cell by kernel cell (Conv's loop over kernel cells, counted in the cost).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from .. import activations
from ..errors import LayerConfigError
from ..layer import ELEMENTWISE_WEIGHT, MICROSECOND, CodePart, Cost, Layer, Problem, WeightSpec, register
from ..limits import MAX_UNITS
from ..settings import Bool, DataFormat, Init, Int, Ints
from ..shapes import format_shape, times
from .common import activation_step_cost, torch_activation
from .convolution import _AXIS_NAMES, ConvActivation, _Conv
from .windows import (
    Padding,
    axis_arithmetic,
    channel_axis,
    cropped,
    offset_slices,
    span,
    spatial_axes,
    symmetric,
    tap_slices,
    torch_layout,
    torch_pad_order,
    tuple_text,
)

_ZERO = np.array(0.0, np.float32)
_IN_PLACE = ("linear", "relu")  # applied to the output's own buffer: no second tensor
_TRAIN_GRADIENT_OPS = 6  # an activation's gradient per output value (as convolution.py measured it)
_ADD_OPS, _ADD_RUN_OPS, _ADD_FIRST_OPS = 2, 20, 1.5  # a strided add's time per value (strided_add_ops)
# predict's loop over kernel cells: each cell's product into a temporary, then added into the result (two passes over
# the output a cell)
_TAP_OPS = 2
# that loop's NumPy calls, microseconds per kernel cell whatever the batch (timeit, best of 2,000 at batch 1 on 3 × 3 to
# 5 × 5 inputs: 5-7 µs a cell more than the einsum's one call, on a loaded machine)
_CELL_MICROSECONDS = 5
# float32 elements NumPy's ufunc loop buffers (8,192 a operand, 3 operands) when a cell's strided slices do not fold
# into one run: tracemalloc saw up to 96 KiB a call, whatever the batch
_UFUNC_BUFFERS = 3 * 8_192
# copying the windows into patches: 1 + 3 / C operations' time a value (channels_last; see _depth_plan)
_COPY_RUN_OPS = 3
# backward's patch gradient, made fresh by a matmul of few channels: operations' time a value (timeit: 1.3 ns a value
# at 1 channel and 21,632 positions × 3×3, far less in cache; the einsum's path makes one product per multiplier)
_GRADIENT_PATCH_OPS = 1

# The block-diagonal matmul is used while it beats the einsum: up to 8 channels (timeit, best of 7 on one core, 21,632
# positions × 3×3: einsum 1.1-2.2 ns per product at 2-8 channels, 0.25-0.5 ns from 16 on; the block-diagonal matmul
# 0.2-0.3 ns per product of the depthwise convolution up to 8 channels, 0.9-1.7 ns from 16 on), and while the block-
# diagonal kernel stays small (64 KB: it is made at each call).
_EXPAND_CHANNELS, _EXPAND_ELEMENTS = 8, 16_384
# The einsum's time per product, in elementwise operations' time (25 work units, about 0.6 ns): measured 0.25-0.5 ns
# from 16 channels on, channels_last (about one operation's time), 0.2-0.45 ns channels_first (counted as 3/4 of one).
_EINSUM_OPS, _EINSUM_FIRST_OPS = 1, 0.75
# backward adds each kernel cell's gradient to the input's in a Python loop: microseconds per cell whatever the batch
# (timeit, best of 300 at batch 1, 3×3 and 5-wide kernels on small inputs: 3.2-3.5 µs a cell)
_TRAIN_CELL_MICROSECONDS = 4


def strided_add_ops(run: int, data_format: str) -> float:
    """Elementwise operations' time per value of a window cell's slab added into its strided slice (a Python loop over
    kernel cells): channels_last adds runs of `run` contiguous values (the channels), so a few make it slow, except one,
    which NumPy folds into the positions (timeit, best of 7 on one core, 32 × 28 × 28 × C with a 3×3 kernel: 1.9 ops'
    time a value at C = 1, 11 at 2, 5.8 at 4, 3.5 at 8, 1.7-2.7 from 16 on; channels_first 1.3-1.6 whatever C)."""
    if data_format == "channels_first":
        return _ADD_FIRST_OPS
    if run == 1:
        return _ADD_OPS
    return _ADD_OPS + _ADD_RUN_OPS // run


def _expands(channels: int, multiplier: int, window: int) -> bool:
    """Whether the depthwise products run as one matmul by a block-diagonal kernel (few channels)."""
    return channels <= _EXPAND_CHANNELS and window * channels * channels * multiplier <= _EXPAND_ELEMENTS


# --- Keras arguments netbuilder takes only at their defaults -------------------------------------------------------
def keras_only_arguments(*weights: str) -> dict:
    """Keras's regularizer and constraint arguments of a layer whose weights are `weights` (bias last), in Keras's
    order, each with the only value netbuilder takes (None). The initializers are settings (`Init`)."""
    defaults = {f"{w}_regularizer": None for w in weights[:-1]}
    defaults.update({f"{weights[-1]}_regularizer": None, "activity_regularizer": None})
    defaults.update({f"{w}_constraint": None for w in weights})
    return defaults


def keras_only_config(keras_only: dict) -> dict:
    """The constant config keys Keras writes for the arguments taken at their defaults."""
    return dict(keras_only)


def initializer_settings(*weights: str, rank: int) -> tuple:
    """The Init settings of a convolution's weights (bias last), in Keras's order with Keras's defaults; `rank` is the
    number of spatial axes (a kernel has rank + 2 axes)."""
    out = [
        Init(
            f"{w}_initializer",
            "glorot_uniform",
            f"How the {w} kernel's weights start (drawn from the model's seed).",
            ndim=rank + 2,
        )
        for w in weights[:-1]
    ]
    return (*out, Init(f"{weights[-1]}_initializer", "zeros", "How the biases start.", ndim=1))


class KerasDefaults(Layer):
    """A kind that takes Keras's regularizer and constraint arguments at their defaults only (None), by keyword or in
    Keras's positional order after its own settings, and refuses any other value by name."""

    keras_only: ClassVar[dict] = {}  # argument → the one value taken (None)

    def __init__(self, *args, name=None, input_shape=None, **kwargs):
        names = (*(s.name for s in self.settings), *self.keras_only)
        if len(args) > len(names):
            raise LayerConfigError(f"{self.kind} takes at most {len(names)} positional arguments; received {len(args)}")
        given = dict(zip(names, args))
        for key, value in kwargs.items():
            if key in given:
                raise LayerConfigError(f"{self.kind} received {key!r} twice")
            given[key] = value
        for key in [k for k in given if k in self.keras_only]:
            self.check_keras_only(key, given.pop(key))
        super().__init__(name=name, input_shape=input_shape, **given)

    @classmethod
    def check_keras_only(cls, argument: str, value) -> None:
        default = cls.keras_only[argument]
        if value is not default:
            raise LayerConfigError(
                f"netbuilder's {cls.kind} supports {argument} only at its default ({default!r}); received "
                f"{str(value)[:60]!r}: it acts only in training, which netbuilder does as Keras does without it"
            )

    @classmethod
    def settings_from_config(cls, config: dict) -> dict:
        for key in cls.keras_only:
            if key in config:
                cls.check_keras_only(key, config[key])
        return super().settings_from_config(config)


def conv_keras_code(layer: Layer) -> CodePart:
    """The Keras constructor call: required and non-default settings, data_format always (Keras's default follows the
    user's keras.json)."""
    args = [
        f"{s.name}={layer.values[s.name]!r}"
        for s in layer.settings
        if s.name != "data_format" and (s.required or layer.values[s.name] != s.default)
    ]
    args.append(f"data_format={layer.values['data_format']!r}")
    return CodePart(f"keras.layers.{layer.kind}({', '.join(args)}, name={layer.name!r})")


def rank_text(layer, shape, action: str) -> str:
    """Why a convolution of `layer.rank` spatial axes needs rank + 2 axes, and what `shape` lacks or has too many."""
    layout = ", ".join(layer.input_spec().axis_names[1:])
    what = "a sequence" if layer.rank == 1 else "an image"
    text = (
        f"{layer.kind} {action} along {' and '.join(_AXIS_NAMES[layer.rank])}, so each sample must be {what} with "
        f"a channels axis: ({layout})."
    )
    if len(shape) == layer.rank + 1:
        text += (
            f" {format_shape(shape)} has no channels axis; one channel (a grayscale image, a single measurement "
            "per step) is a channels axis of size 1."
        )
    elif len(shape) > layer.rank + 2:
        text += f" {format_shape(shape)} has {len(shape) - layer.rank - 2} axis too many."
    return text


def conv_label(layer, word: str) -> str:
    """`8 3×3 separable stride 2×2 same relu`: Conv's label with the kind's word after the window."""
    window = times(layer.kernel_size) if layer.rank > 1 else f"{layer.kernel_size[0]}-wide"
    filters = f"{layer.filters:,} " if "filters" in layer.values else ""
    parts = [f"{filters}{window} {word}"]
    for setting, text in (("strides", "stride"), ("dilation_rate", "dilation")):
        if max(layer.values[setting]) > 1:
            parts.append(f"{text} {times(layer.values[setting])}")
    if layer.values.get("depth_multiplier", 1) > 1:
        parts.append(f"×{layer.depth_multiplier} per channel")
    if layer.values.get("output_padding") is not None:
        parts.append(f"output_padding {times(layer.output_padding)}")
    parts.append(layer.padding)
    if layer.activation != "linear":
        parts.append(layer.activation)
    if layer.data_format == "channels_first":
        parts.append("channels_first")
    if not layer.use_bias:
        parts.append("no bias")
    return " ".join(parts)


# --- the kinds -------------------------------------------------------------------------------------------------------
class _Depthwise(KerasDefaults, _Conv):
    """What DepthwiseConv2D and SeparableConv1D/2D share: the per-channel convolution, its shapes, costs and
    gradient."""

    keras_config_order = ("name", "trainable", "dtype", "depth_multiplier")

    # forward_train and backward of a step whatever the batch, beyond the loops counted in train_overhead (timeit, best
    # of 300 at batch 1 on 4 × 4 × 2 to 16 channels: 14-35 µs, padding and the separable's pointwise step the most)
    train_call_microseconds = 50
    separable: ClassVar[bool] = False

    def validate(self) -> None:
        """Keras computes strides > 1 together with dilation > 1 here (no refusal, unlike Conv2D)."""

    def _depth_channels(self, shape) -> int:
        """Channels of the depthwise result: C·depth_multiplier."""
        return self._split(shape)[1] * self.depth_multiplier

    def _out_channels(self, shape) -> int:
        return self._depth_channels(shape)

    def _kernel_shape(self, shape) -> tuple:
        """The kernel Keras's shape check describes: (*window, C, output channels)."""
        return (*self.kernel_size, shape[channel_axis(self.data_format)], self._out_channels(shape))

    def compute_output_shape(self, shape):
        dims, _ = self._split(shape)
        _, out = self._geometry(dims)
        channels = self._out_channels(shape)
        return (shape[0], *out, channels) if self.data_format == "channels_last" else (shape[0], channels, *out)

    def check_shape(self, shape, name: str) -> Problem | None:
        problem = super().check_shape(shape, name)
        if problem is not None and "pooling window" in problem.message:  # window_problem names any non-Conv* a pool
            fix = lambda text: text.replace("pooling window", "kernel")  # noqa: E731
            problem = Problem(problem.expected, fix(problem.message), fix(problem.explanation), problem.keras_message)
        return problem

    def _rank_text(self, shape) -> str:
        return rank_text(self, shape, "slides one small kernel over each channel on its own")

    def axis_explanation(self, shape, axis: int, size: int, name: str) -> str:
        return (
            f"{name} was built for {size} input channels: its depthwise kernel is "
            f"{times((*self.kernel_size, size, self.depth_multiplier))}, one kernel per channel. "
            f"Here the channels axis has {shape[axis]}."
        )

    # --- cost --------------------------------------------------------------------------------------------------------
    def _depth_plan(self, shape) -> dict:
        """Per sample: the sizes `call` and `backward` allocate, and the work of the depthwise products."""
        dims, channels = self._split(shape)
        pad, out = self._geometry(dims)
        positions, window, m = math.prod(out), math.prod(self.kernel_size), self.depth_multiplier
        padded_size = math.prod(n + lo + hi for n, (lo, hi) in zip(dims, pad)) * channels if any(map(any, pad)) else 0
        patches = (
            0 if self._input_is_patches(pad) else positions * window * channels
        )  # 0: the input is the patch matrix
        products = positions * window * channels * m
        expands = _expands(channels, m, window)
        # the block-diagonal matmul does C times the products at BLAS's speed: the surplus counted as elementwise time;
        # the einsum's products at about an elementwise operation's time each
        einsum = _EINSUM_OPS if self.data_format == "channels_last" else _EINSUM_FIRST_OPS
        slow = math.ceil(products * (channels - 1) / ELEMENTWISE_WEIGHT if expands else einsum * products)
        every_patch = positions * window * channels
        # backward's patch-sized arrays beside the patches: their gradient, and a copy tensordot makes (channels_first,
        # few channels) or the einsum's per-multiplier parts (more channels and a depth multiplier)
        copies = 1 + ((self.data_format == "channels_first") if expands else (m > 1))
        # copying the windows reads runs of C values (channels_last): one or two channels make it slow (timeit, best of
        # 9, 32 × 28 × 28 × C, 3×3: 1.6 ns a value at C = 1, 0.8 at 2, 0.2-0.4 from 4 on; channels_first 0.2-0.4)
        copy = patches * (1 + (_COPY_RUN_OPS // channels if self.data_format == "channels_last" else 0))
        return {
            "padded": padded_size,
            "patches": patches,
            "every_patch": every_patch,
            "depth": positions * channels * m,
            "products": products,
            "slow": slow,
            "taps": _TAP_OPS * products,
            "positions": positions,
            "window": window,
            "channels": channels,
            "stack": 0 if expands or m == 1 else positions * channels * m,  # the einsum's per-multiplier results
            "backward_patches": copies * every_patch,
            "copy": copy,
            # the patches' gradient: one matmul's fresh result, or one product per multiplier added up
            "gradient_ops": _GRADIENT_PATCH_OPS if expands else 2 * m,
        }

    def cost(self, shape, output_shape) -> Cost:
        plan = self._depth_plan(shape)
        out = math.prod(output_shape[1:])
        depth, padded_size, patches = plan["depth"], plan["padded"], plan["patches"]
        linear = self.activation == "linear"
        activation = activation_step_cost(self.activation, out)
        separate = self.activation not in _IN_PLACE
        inter = depth if self.separable else 0  # the depthwise result, beside the pointwise one
        train_cells = plan["window"] * _TRAIN_CELL_MICROSECONDS * MICROSECOND
        return Cost(
            mult_adds=plan["products"] + self._pointwise_products(shape, output_shape),
            elementwise=depth + plan["taps"] + inter + (out if self.use_bias else 0) + activation.elementwise,
            # beside the output, phase by phase: the loop over kernel cells (the depthwise result and one cell's
            # products; NumPy's ufunc buffers, capped), a separable layer's pointwise matmul (the depthwise result),
            # an activation that is not applied in place (z beside y, and its temporaries)
            scratch=max(2 * depth - out, inter, out + activation.scratch if separate else 0),
            scratch_large=max(2 * depth - out, inter, out + activation.scratch_large if separate else 0),
            large_at=out,
            capped_scratch=max(2 * depth, activation.capped_scratch if separate else 0),
            scratch_cap=max(_UFUNC_BUFFERS, activation.scratch_cap if separate else 0),
            overhead=plan["window"] * _CELL_MICROSECONDS * MICROSECOND,
            train_overhead=train_cells + 2 * self._call_loops() * MICROSECOND,
            # Training: forward_train multiplies the patch matrix (its work taken as predict's loop's, its memory
            # counted in train_scratch's patches). Work: backward builds the patches again and adds their gradient
            # back cell by kernel cell into strided slices of the padded input's gradient (Conv's loop), and computes
            # the kernel's gradient and the patches' gradient (each about the forward products' work); an activation
            # is applied again, its gradient taken. Memory: forward_train keeps the pre-activation z (and a separable
            # layer its depthwise result); backward makes z's gradient, the patches again, their gradient and the
            # padded input's gradient.
            train_elementwise=3 * padded_size
            + plan["copy"]
            + plan["slow"]
            + 2 * plan["stack"]
            + 2 * inter
            + math.ceil(
                (plan["gradient_ops"] + strided_add_ops(plan["channels"], self.data_format)) * plan["every_patch"]
            )
            + (0 if linear else activation.elementwise + _TRAIN_GRADIENT_OPS * out),
            train_kept=inter + (0 if linear else out),
            train_scratch=(0 if linear else 2 * out) + 2 * padded_size + patches + plan["backward_patches"] + inter,
        )

    def _pointwise_products(self, shape, output_shape) -> int:
        return 0

    def _call_loops(self) -> int:
        """Microseconds of forward_train's Python loops whatever the batch: the einsum once per depth multiplier."""
        return 2 * self.depth_multiplier

    # --- numbers -----------------------------------------------------------------------------------------------------
    def _depthwise_kernel(self) -> np.ndarray:
        return self._weights[0]

    def _bias(self):
        return self._weights[-1] if self.use_bias else None

    def _depthwise(self, x: np.ndarray) -> np.ndarray:
        """The per-channel convolution of `x` (no bias), a kernel cell at a time: (N, *out, C·M) or (N, C·M, *out).

        Predict's path: the result and one cell's products are all it allocates (no padded input, no patches)."""
        axes, last = spatial_axes(self.rank, self.data_format), self.data_format == "channels_last"
        dims = [x.shape[a] for a in axes]
        pad, out = self._geometry(dims)
        kernel = self._depthwise_kernel()
        n, channels, m = x.shape[0], kernel.shape[-2], kernel.shape[-1]
        shape = (n, *out, channels, m) if last else (n, channels, m, *out)
        z, products = np.zeros(shape, np.result_type(x, kernel)), np.empty(shape, np.result_type(x, kernel))
        wide = x[..., None] if last else x[:, :, None]  # a multiplier axis, where the result has it
        axes = axes if last else tuple(a + 1 for a in axes)
        cells = tap_slices(wide.ndim, axes, dims, out, self.kernel_size, self.strides, self.dilation_rate, pad)
        for offset, out_index, in_index in cells:
            cell = kernel[offset] if last else kernel[offset].reshape(channels, m, *(1,) * self.rank)
            part = products[out_index]
            np.multiply(wide[in_index], cell, out=part)
            np.add(z[out_index], part, out=z[out_index])
        return z.reshape((n, *out, channels * m) if last else (n, channels * m, *out))

    def _depthwise_patches(self, x: np.ndarray) -> np.ndarray:
        """The per-channel convolution of `x` (no bias) from its patch matrix: training's path (backward builds the
        same patches), as `_depthwise` lays it out."""
        (_, out), patches = self._patches(x)
        kernel = self._depthwise_kernel()
        n, channels, m = x.shape[0], kernel.shape[-2], kernel.shape[-1]
        window = math.prod(self.kernel_size)
        last = self.data_format == "channels_last"
        if _expands(channels, m, window):
            block = _block_diagonal(kernel.reshape(window, channels, m))
            z = np.matmul(patches, block) if last else np.matmul(block.T, patches)
        else:
            z = _per_channel(
                patches.reshape((-1, window, channels) if last else (n, window, channels, -1)),
                kernel.reshape(window, channels, m),
                last,
            )
        del patches
        return z.reshape((n, *out, channels * m) if last else (n, channels * m, *out))

    def _finish(self, z: np.ndarray) -> np.ndarray:
        """The bias, added in place (z is this call's own buffer)."""
        bias = self._bias()
        if bias is not None:
            np.add(z, bias if self.data_format == "channels_last" else bias.reshape(-1, *(1,) * self.rank), out=z)
        return z

    def _linear(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        return self._finish(self._depthwise_patches(x) if train else self._depthwise(x))

    def forward_train(self, x, rng):
        z = self._linear(x, train=True)
        y = z if self.activation == "linear" else self._activation_fn(z)
        return y, (x, z, y)

    def _bias_gradient(self, dz):
        axes = tuple(range(dz.ndim - 1)) if self.data_format == "channels_last" else (0, *range(2, dz.ndim))
        return dz.sum(axis=axes)

    def _depthwise_backward(self, x: np.ndarray, dz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∂loss/∂x, ∂loss/∂depthwise kernel) from ∂loss/∂(the depthwise result)."""
        (pad, out), patches = self._patches(x)
        kernel = self._depthwise_kernel()
        n, channels, m = x.shape[0], kernel.shape[-2], kernel.shape[-1]
        window = math.prod(self.kernel_size)
        last = self.data_format == "channels_last"
        k3 = kernel.reshape(window, channels, m)
        if _expands(channels, m, window):
            block = _block_diagonal(k3)
            if last:
                dzm = dz.reshape(-1, channels * m)
                dblock = patches.T @ dzm
                dpatches = dzm @ block.T
            else:
                dzm = dz.reshape(n, channels * m, -1)
                dblock = np.tensordot(patches, dzm, axes=([0, 2], [0, 2]))
                dpatches = np.matmul(block, dzm)
            diagonal = np.arange(channels)
            dkernel = dblock.reshape(window, channels, channels, m)[:, diagonal, diagonal, :]
        else:
            p = patches.reshape((-1, window, channels) if last else (n, window, channels, -1))
            dzr = dz.reshape((-1, channels, m) if last else (n, channels, m, -1))
            dkernel = np.empty_like(k3)
            dpatches = None
            for j in range(m):
                dzj = dzr[:, :, j]
                dkernel[:, :, j] = np.einsum("pjc,pc->jc" if last else "njcp,ncp->jc", p, dzj)
                part = dzj[:, None, :] * k3[None, :, :, j] if last else dzj[:, None] * k3[None, :, :, j, None]
                if dpatches is None:
                    dpatches = part
                else:
                    dpatches += part
                del part  # before the next one is made
        del patches
        dx = self._scatter(dpatches, x, pad, out)
        return dx, dkernel.reshape(kernel.shape)

    def _scatter(self, dpatches: np.ndarray, x: np.ndarray, pad, out) -> np.ndarray:
        """The input's gradient from the patches' gradient: each kernel cell's slab added into its strided slice."""
        n, channels, axes = (
            x.shape[0],
            x.shape[channel_axis(self.data_format)],
            spatial_axes(self.rank, self.data_format),
        )
        last = self.data_format == "channels_last"
        dpatches = dpatches.reshape(
            (n, *out, *self.kernel_size, channels) if last else (n, *self.kernel_size, channels, *out)
        )
        shape = list(x.shape)
        for a, (lo, hi) in zip(axes, pad):
            shape[a] += lo + hi
        dxp = np.zeros(shape, dpatches.dtype)
        for offset, index in offset_slices(x.ndim, axes, out, self.kernel_size, self.strides, self.dilation_rate):
            dxp[index] += (
                dpatches[(slice(None),) * (1 + self.rank) + offset] if last else dpatches[(slice(None), *offset)]
            )
        return cropped(dxp, axes, pad)

    def backward(self, cache, dy):
        x, z, y = cache
        dz = activations.gradient(self.activation, z, y, dy)
        dx, dkernel = self._depthwise_backward(x, dz)
        return dx, [dkernel] + ([self._bias_gradient(dz)] if self.use_bias else [])

    # --- description -------------------------------------------------------------------------------------------------
    def _axis_lines(self, dims) -> list[str]:
        pad, _ = self._geometry(dims)
        lines = []
        for axis, n, k, s, d, (lo, hi) in zip(
            _AXIS_NAMES[self.rank], dims, self.kernel_size, self.strides, self.dilation_rate, pad
        ):
            line = f"{axis}: {axis_arithmetic(n, k, s, self.padding, d)}"
            if d > 1:
                line += f" (dilation {d} spreads the {k}-cell kernel over {span(k, d)})"
            if lo or hi:
                line += f", padded {lo} before and {hi} after"
            lines.append(line)
        return lines

    def _rule(self) -> str:
        return {
            "valid": "padding='valid' keeps only positions where the kernel fits",
            "same": "padding='same' pads so there are ceil(n/stride) positions (an odd extra cell goes at the end)",
        }[self.padding]

    keras_code = conv_keras_code

    def _depthwise_torch(self, shape) -> list[CodePart]:
        """torch's grouped convolution (groups = C: each input channel its own M kernels), asymmetric padding apart."""
        dims, channels = self._split(shape)
        pad, _ = self._geometry(dims)
        nd = f"{self.rank}d"
        parts, padding = [], tuple(lo for lo, _ in pad)
        if not symmetric(pad):  # torch pads both sides alike; Keras puts the odd cell at the end
            parts.append(CodePart(f"nn.ZeroPad{nd}({torch_pad_order(pad)})"))
            padding = (0,) * self.rank
        kernel = self._depthwise_kernel()  # (*window, C, M) → torch (C·M, 1, *window): output channel c·M + m
        weight = np.ascontiguousarray(np.moveaxis(kernel.reshape(*self.kernel_size, -1), -1, 0)[:, None])
        weights = {"weight": weight}
        bias = not self.separable and self.use_bias
        if bias:
            weights["bias"] = self._bias()
        parts.append(
            CodePart(
                f"nn.Conv{nd}({channels}, {channels * self.depth_multiplier}, "
                f"kernel_size={tuple_text(self.kernel_size)}, stride={tuple_text(self.strides)}, "
                f"padding={tuple_text(padding)}, dilation={tuple_text(self.dilation_rate)}, "
                f"groups={channels}, bias={bias})",
                weights=weights,
            )
        )
        return parts


def _block_diagonal(kernel: np.ndarray) -> np.ndarray:
    """(window·C, C·M): each channel's M kernels in its own rows and columns, zeros elsewhere."""
    window, channels, m = kernel.shape
    block = np.zeros((window, channels, channels, m), kernel.dtype)
    diagonal = np.arange(channels)
    block[:, diagonal, diagonal, :] = kernel
    return block.reshape(window * channels, channels * m)


def _per_channel(patches: np.ndarray, kernel: np.ndarray, last: bool) -> np.ndarray:
    """Each channel's windows summed against its own kernels: patches (P, window, C) or (N, window, C, P), kernel
    (window, C, M) → (P, C, M) or (N, C, M, P), one einsum per multiplier."""
    m = kernel.shape[-1]
    spec = "pjc,jc->pc" if last else "njcp,jc->ncp"
    if m == 1:
        z = np.einsum(spec, patches, kernel[:, :, 0])
        return z[:, :, None] if last else z[:, :, None, :]
    shape = (patches.shape[0], *patches.shape[2:])  # (P, C) or (N, C, P): one multiplier's result
    stack = np.empty((m, *shape), np.result_type(patches, kernel))
    for j in range(m):
        np.einsum(spec, patches, np.ascontiguousarray(kernel[:, :, j]), out=stack[j])
    z = np.empty((*shape[:2], m, *shape[2:]), stack.dtype)
    np.copyto(z, np.moveaxis(stack, 0, 2))
    return z


class ValidOrSame(Padding):
    """Keras's padding of depthwise, separable and transposed convolutions: valid or same (causal is Conv1D's only)."""

    def check(self, value):
        if isinstance(value, str) and value.lower() == "causal":
            raise LayerConfigError(
                "padding 'causal' exists only for Conv1D (it pads the start of a sequence so no output sees later "
                "steps); Keras's depthwise, separable and transposed convolutions take 'valid' or 'same'. "
                "Received: causal"
            )
        return super().check(value)


_PADDING = ValidOrSame(
    "padding",
    "valid",
    "valid: only positions where the kernel fits; same: pad so ceil(n/stride) positions.",
    choices=("valid", "same"),
)
_DEPTH_MULTIPLIER = Int(
    "depth_multiplier", 1, "Kernels per input channel: the output has channels × this many channels.", high=MAX_UNITS
)
_DEPTHWISE_ONLY = keras_only_arguments("depthwise", "bias")
_SEPARABLE_ONLY = keras_only_arguments("depthwise", "pointwise", "bias")


@register
class DepthwiseConv2D(_Depthwise):
    """One small kernel (or depth_multiplier of them) per input channel, slid over height and width."""

    rank = 2
    settings = (
        Ints("kernel_size", (3, 3), "Size of the sliding window (height × width).", required=True, length=2),
        Ints("strides", (1, 1), "How far the window moves between outputs; 2 halves the size.", length=2),
        _PADDING,
        _DEPTH_MULTIPLIER,
        DataFormat(
            "data_format",
            "channels_last",
            "Where the channels axis is: last (Keras's default) or right after the batch.",
        ),
        Ints("dilation_rate", (1, 1), "Spacing between kernel cells.", length=2),
        ConvActivation("activation", "linear", "Applied to every output value."),
        Bool("use_bias", True, "Add one learned number per output channel."),
        *initializer_settings("depthwise", "bias", rank=2),
    )
    keras_only = _DEPTHWISE_ONLY
    keras_extra_config = keras_only_config(_DEPTHWISE_ONLY)
    description = (
        "One kernel per channel slid over an image, channels not mixed, e.g. (None, 28, 28, 8) → (None, 26, 26, 8)."
    )

    output_axis_setting = None  # the output's channels are the input's times depth_multiplier: no setting sizes them

    def weight_specs(self, shape) -> list[WeightSpec]:
        channels = self._split(shape)[1]
        specs = [WeightSpec("kernel", (*self.kernel_size, channels, self.depth_multiplier), self.depthwise_initializer)]
        return specs + (
            [WeightSpec("bias", (channels * self.depth_multiplier,), self.bias_initializer)] if self.use_bias else []
        )

    def formula(self, shape) -> str:
        """`3×3×8×1 + 8 = 80`."""
        channels = self._split(shape)[1]
        product = times((*self.kernel_size, channels, self.depth_multiplier))
        total = sum(self.count_params_for(shape))
        return (
            f"{product} + {channels * self.depth_multiplier:,} = {total:,}"
            if self.use_bias
            else f"{product} = {total:,}"
        )

    def call(self, x):
        z = self._linear(x)
        if self.activation == "linear":
            return z
        if self.activation == "relu":
            return np.maximum(z, _ZERO if z.dtype == np.float32 else z.dtype.type(0), out=z)
        return self._activation_fn(z)

    def label(self) -> str:
        return conv_label(self, "depthwise")

    def explain_shape(self, shape, output_shape) -> str:
        dims, channels = self._split(shape)
        m = self.depth_multiplier
        per = "its own kernel" if m == 1 else f"its own {m} kernels"
        out = channels * m
        return (
            f"{'; '.join(self._axis_lines(dims))}. {self._rule()}. Each of the {channels:,} input channel(s) is slid "
            f"over by {per}, channels never mixed: {channels:,} × {m} = {out:,} output channels → "
            f"{format_shape(output_shape)}."
        )

    def torch_code(self, shape) -> list[CodePart]:
        parts = torch_layout(self._depthwise_torch(shape), self.data_format)
        return parts + ([torch_activation(self.activation)] if self.activation != "linear" else [])


class _Separable(_Depthwise):
    """Depthwise, then a 1×1 convolution mixing the C·M channels into `filters`, then the bias (Keras's order)."""

    separable = True
    keras_only = _SEPARABLE_ONLY
    keras_extra_config = keras_only_config(_SEPARABLE_ONLY)

    @property
    def output_axis_setting(self) -> str | None:
        return "filters" if self.data_format == "channels_last" else None

    def _out_channels(self, shape) -> int:
        return self.filters

    def weight_specs(self, shape) -> list[WeightSpec]:
        channels = self._split(shape)[1]
        m = self.depth_multiplier
        specs = [
            WeightSpec("depthwise_kernel", (*self.kernel_size, channels, m), self.depthwise_initializer),
            WeightSpec("pointwise_kernel", (*(1,) * self.rank, channels * m, self.filters), self.pointwise_initializer),
        ]
        return specs + ([WeightSpec("bias", (self.filters,), self.bias_initializer)] if self.use_bias else [])

    def formula(self, shape) -> str:
        """`3×3×8×1 + 1×1×8×16 + 16 = 216`."""
        channels, m = self._split(shape)[1], self.depth_multiplier
        depthwise = times((*self.kernel_size, channels, m))
        pointwise = times((*(1,) * self.rank, channels * m, self.filters))
        total = sum(self.count_params_for(shape))
        bias = f" + {self.filters:,}" if self.use_bias else ""
        return f"{depthwise} + {pointwise}{bias} = {total:,}"

    def _pointwise_products(self, shape, output_shape) -> int:
        return math.prod(output_shape[1:]) * self._depth_channels(shape)

    def _linear(self, x, train: bool = False):
        d = self._depthwise_patches(x) if train else self._depthwise(x)
        point = self._weights[1].reshape(-1, self.filters)
        if self.data_format == "channels_last":
            z = np.matmul(d, point)
        else:
            z = np.matmul(point.T, d.reshape(d.shape[0], d.shape[1], -1)).reshape(
                d.shape[0], self.filters, *d.shape[2:]
            )
        return self._finish(z), d

    def call(self, x):
        z, d = self._linear(x)
        del d
        if self.activation == "linear":
            return z
        if self.activation == "relu":
            return np.maximum(z, _ZERO if z.dtype == np.float32 else z.dtype.type(0), out=z)
        return self._activation_fn(z)

    def forward_train(self, x, rng):
        z, d = self._linear(x, train=True)
        y = z if self.activation == "linear" else self._activation_fn(z)
        return y, (x, d, z, y)

    def backward(self, cache, dy):
        x, d, z, y = cache
        dz = activations.gradient(self.activation, z, y, dy)
        point = self._weights[1].reshape(-1, self.filters)
        n = x.shape[0]
        if self.data_format == "channels_last":
            dzm, dm = dz.reshape(-1, self.filters), d.reshape(-1, point.shape[0])
            dpoint = dm.T @ dzm
            dd = (dzm @ point.T).reshape(d.shape)
        else:
            dzm, dm = dz.reshape(n, self.filters, -1), d.reshape(n, point.shape[0], -1)
            dpoint = np.tensordot(dm, dzm, axes=([0, 2], [0, 2]))
            dd = np.matmul(point, dzm).reshape(d.shape)
        dx, dkernel = self._depthwise_backward(x, dd)
        grads = [dkernel, dpoint.reshape(self._weights[1].shape)]
        return dx, grads + ([self._bias_gradient(dz)] if self.use_bias else [])

    def label(self) -> str:
        return conv_label(self, "separable")

    def explain_shape(self, shape, output_shape) -> str:
        dims, channels = self._split(shape)
        m = self.depth_multiplier
        return (
            f"{'; '.join(self._axis_lines(dims))}. {self._rule()}. First each of the {channels:,} input channel(s) "
            f"is slid over by its own {'kernel' if m == 1 else f'{m} kernels'} ({channels:,} × {m} = {channels * m:,} "
            f"channels, never mixed); then a 1×1 convolution mixes those {channels * m:,} channels into "
            f"{self.filters:,} filters → {format_shape(output_shape)}."
        )

    def torch_code(self, shape) -> list[CodePart]:
        channels = self._split(shape)[1] * self.depth_multiplier
        point = self._weights[1].reshape(channels, self.filters)  # → torch (filters, C·M, 1, ...)
        weights = {"weight": np.ascontiguousarray(point.T.reshape(self.filters, channels, *(1,) * self.rank))}
        if self.use_bias:
            weights["bias"] = self._bias()
        pointwise = CodePart(
            f"nn.Conv{self.rank}d({channels}, {self.filters}, kernel_size=1, bias={self.use_bias})", weights=weights
        )
        parts = torch_layout([*self._depthwise_torch(shape), pointwise], self.data_format)
        return parts + ([torch_activation(self.activation)] if self.activation != "linear" else [])


def _separable_settings(rank: int) -> tuple:
    ones = (1,) * rank
    return (
        Int(
            "filters",
            32,
            "Number of pointwise kernels: the size of the output's channels axis.",
            required=True,
            high=MAX_UNITS,
        ),
        Ints(
            "kernel_size",
            (3,) * rank,
            f"Size of the sliding window ({' × '.join(_AXIS_NAMES[rank])}).",
            required=True,
            length=rank,
        ),
        Ints("strides", ones, "How far the window moves between outputs; 2 halves the size.", length=rank),
        _PADDING,
        DataFormat(
            "data_format",
            "channels_last",
            "Where the channels axis is: last (Keras's default) or right after the batch.",
        ),
        Ints("dilation_rate", ones, "Spacing between kernel cells.", length=rank),
        _DEPTH_MULTIPLIER,
        ConvActivation("activation", "linear", "Applied to every output value."),
        Bool("use_bias", True, "Add one learned number per filter."),
        *initializer_settings("depthwise", "pointwise", "bias", rank=rank),
    )


@register
class SeparableConv1D(_Separable):
    """A depthwise convolution along the steps, then a pointwise (1-wide) one mixing the channels."""

    rank = 1
    settings = _separable_settings(1)
    description = (
        "A kernel per channel slid along a sequence, then the channels mixed, e.g. (None, 100, 8) → (None, 98, 32)."
    )


@register
class SeparableConv2D(_Separable):
    """A depthwise convolution over height and width, then a pointwise (1×1) one mixing the channels."""

    rank = 2
    settings = _separable_settings(2)
    description = (
        "A kernel per channel slid over an image, then the channels mixed: a cheap Conv2D, e.g. "
        "(None, 28, 28, 8) → (None, 26, 26, 32)."
    )
