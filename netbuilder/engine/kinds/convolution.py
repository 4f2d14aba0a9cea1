"""Conv1D and Conv2D: one small kernel slid over steps or height × width, mixing all input channels at each position.

The forward pass is im2col: every window is copied once into a patch matrix (batch·positions, kernel·channels)
and multiplied by the kernel in one BLAS call (channels_first: one call per sample, writing torch's layout
directly). The patch matrix is the scratch the cost model declares; no Python loop runs over positions.

`groups` (Keras's grouped convolution) splits the C input channels into G groups of C/G and the filters into G groups
of F/G; output channel f sees only the channels of its group f // (F/G), through a kernel (*window, C/G, F). The patch
matrix is then copied group-major, (G, batch·positions, window·C/G), and one batched matmul by the kernel's G blocks
(G, window·C/G, F/G) writes straight into the output's layout (a strided view of it). groups = C (a depthwise
convolution, as keras.applications' ConvNeXt writes its 7×7 ones) runs the same way: one call, no loop over channels.
"""

from __future__ import annotations

import math

import numpy as np

from .. import activations
from ..errors import LayerConfigError
from ..layer import MICROSECOND, CodePart, Cost, InputSpec, Layer, Problem, WeightSpec, register
from ..limits import MAX_UNITS
from ..settings import ActivationName, Bool, DataFormat, Init, Int, Ints, kernel_and_bias_regularizers
from ..shapes import format_shape, times
from .common import activation_step_cost, return_sequences_fixes, torch_activation
from .windows import (
    Padding,
    axis_arithmetic,
    channel_axis,
    cropped,
    offset_slices,
    out_size,
    padded,
    pads,
    span,
    spatial_axes,
    symmetric,
    torch_layout,
    torch_pad_order,
    tuple_text,
    window_problem,
    windows_view,
)

_ZERO = np.array(0.0, np.float32)
_IN_PLACE = ("linear", "relu")  # applied to the matmul's own buffer: no second tensor
_AXIS_NAMES = {1: ("steps",), 2: ("height", "width")}
# backward adds each kernel cell's gradient to the input's in a Python loop: microseconds per cell whatever the
# batch (timeit, best of 5, Conv1D 1,024 and Conv2D 64 × 64 kernels on one position: 2.5-3.0 µs; a whole training
# step at batch 1, issue 17's calibration: up to 9 µs a cell with the patches' other calls)
_TRAIN_CELL_MICROSECONDS = 6
# ... and per value of the patch matrix, the strided add reads and writes memory far apart: about 4 + 64 / channels
# elementwise operations' time (timeit, best of 15 on one core: Conv2D 3×3 and 5×5, Conv1D 7, channels_first,
# batches 32-64; a training step of each is then 0.4-0.9 s per 40 G counted, predict 0.55-0.75)
_TRAIN_PATCH_OPS, _TRAIN_RUN_OPS = 4, 64
_TRAIN_GRADIENT_OPS = 6  # an activation's gradient per output value (relu's: 5 ms for 64 × 26 × 26 × 32 values)
# a grouped convolution's batched matmul calls BLAS once per group: microseconds per group and matmul whatever the batch
# (timeit, best of 5, 1×1 positions: 0.5-1.5 µs a group)
_GROUP_MATMUL_MICROSECONDS = 2
# copying the windows group-major reads runs of C/G channels, not C: about twice the plain copy's time a value (timeit,
# best of 3, 2 × 56 × 56 × 96 with a 7×7 kernel, groups = 96: 33 ms against 15 ms)
_GROUPED_COPY_OPS = 2


class Groups(Int):
    """Keras's `groups`: a positive integer (Keras's own message for 0 and below)."""

    def check(self, value):
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and value <= 0:
            raise LayerConfigError(f"The number of groups must be a positive integer. Received: groups={value}.")
        return super().check(value)


class ConvActivation(ActivationName):
    """An activation name, glu excepted: glu halves the channels, and Keras's Conv layers report the wrong shape for
    it."""

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(n for n in super().choices if n != "glu")

    def check(self, value):
        name = super().check(value)
        if name == "glu":
            raise LayerConfigError(
                "activation 'glu' halves the channels, but Keras's Conv layers report their output shape as if it did "
                "not (the next layer is built for the wrong size). Use activation='linear' and an Activation('glu') "
                "layer after this one."
            )
        return name


class _Conv(Layer):
    """The convolution of `rank` spatial axes; Conv1D and Conv2D fix the rank."""

    train_call_microseconds = 60  # forward_train and backward of a step whatever the batch (measured at batch 1)

    rank = 2
    group = "Convolution"
    keras_extra_config = {
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    }

    def validate(self) -> None:
        if self.filters % self._groups:
            raise LayerConfigError(
                "The number of filters must be evenly divisible by the number of groups. "
                f"Received: groups={self._groups}, filters={self.filters}."
            )
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise LayerConfigError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}"
            )

    @property
    def output_axis_setting(self) -> str | None:
        # filters size the last axis only in channels_last
        return "filters" if self.data_format == "channels_last" else None

    @property
    def _groups(self) -> int:
        """Keras's `groups` (1 for the depthwise kinds, which inherit this class without that setting)."""
        return self.values.get("groups", 1)

    # --- shapes ---------------------------------------------------------------------------------
    def _split(self, shape) -> tuple[tuple, int]:
        """(spatial sizes, channels) of an input shape of the right rank."""
        if self.data_format == "channels_last":
            return tuple(shape[1:-1]), shape[-1]
        return tuple(shape[2:]), shape[1]

    def _geometry(self, dims):
        """Per spatial axis: (before, after) padding and output size."""
        pad = [
            pads(n, k, s, self.padding, d)
            for n, k, s, d in zip(dims, self.kernel_size, self.strides, self.dilation_rate)
        ]
        out = [
            out_size(n, k, s, self.padding, d)
            for n, k, s, d in zip(dims, self.kernel_size, self.strides, self.dilation_rate)
        ]
        return pad, out

    def _kernel_shape(self, shape) -> tuple:
        """The kernel Keras would make for `shape`, for its messages (channels read where the layout says)."""
        return (*self.kernel_size, shape[channel_axis(self.data_format)] // self._groups, self.filters)

    def input_spec(self) -> InputSpec:
        axes = ()
        if self.built_shape is not None:
            axes = ((channel_axis(self.data_format), self._split(self.built_shape)[1]),)
        names = ("batch", *_AXIS_NAMES[self.rank], "channels")
        if self.data_format == "channels_first":
            names = ("batch", "channels", *_AXIS_NAMES[self.rank])
        return InputSpec(min_ndim=self.rank + 2, axes=axes, axis_names=names)

    def _groups_problem(self, shape, name: str) -> Problem | None:
        """Channels that `groups` does not divide (Keras's build refuses them before any other shape check)."""
        channels = shape[channel_axis(self.data_format)]
        if self._groups == 1 or len(shape) < self.rank + 2 or channels is None or channels % self._groups == 0:
            return None
        g = self._groups
        return Problem(
            f"channels a multiple of groups={g}",
            f"Layer {name!r} ({self.kind}) splits its input channels into groups={g} groups, but received "
            f"{format_shape(shape)}: {channels:,} channels, not a multiple of {g}.",
            f"groups={g} cuts the channels axis into {g} equal groups and convolves each group on its own with "
            f"{self.filters // g:,} of the {self.filters:,} filters (a kernel of {times(self.kernel_size)}×(C/{g})×"
            f"{self.filters:,}), "
            f"so the channels must divide by {g} as the filters do. {channels:,} channels do not: a groups value that "
            f"divides both {channels:,} and {self.filters:,} fits (groups=1 is an ordinary convolution), or "
            f"{self._multiple(channels):,} channels.",
            "The number of input channels must be evenly divisible by the number of groups. "
            f"Received groups={g}, but the input has {channels} channels (full input shape is {format_shape(shape)}).",
        )

    def _multiple(self, channels: int) -> int:
        """The nearest number of channels at least `channels` that `groups` divides."""
        return -(-channels // self._groups) * self._groups

    def check_shape(self, shape, name: str) -> Problem | None:
        problem = self._groups_problem(shape, name)
        if problem is not None:
            return problem
        if len(shape) > self.rank + 2:
            return Problem(
                f"exactly {self.rank + 2} axes ({', '.join(self.input_spec().axis_names)})",
                f"Layer {name!r} ({self.kind}) needs {self.rank + 2} axes, but received {format_shape(shape)}.",
                self._rank_text(shape),
                f"Kernel shape must have the same length as input, but received kernel of shape "
                f"{self._kernel_shape(shape)} and input of shape {format_shape(shape)}.",
            )
        dims, _ = self._split(shape)
        if self.padding == "valid" and any(
            n < span(k, d) for n, k, d in zip(dims, self.kernel_size, self.dilation_rate)
        ):
            keras = (
                "Computed output size would be zero or negative. Received "
                f"`inputs shape={format_shape(shape)}`, `kernel shape={self._kernel_shape(shape)}`, "
                f"`dilation_rate=[{' '.join(map(str, self.dilation_rate))}]`, `strides={self.strides}`, "
                "`padding=valid`."
            )
            return window_problem(
                name,
                self.kind,
                shape,
                dims,
                self.kernel_size,
                self.dilation_rate,
                self.strides,
                keras,
                _AXIS_NAMES[self.rank],
            )
        return None

    def compute_output_shape(self, shape):
        dims, _ = self._split(shape)
        _, out = self._geometry(dims)
        if self.data_format == "channels_last":
            return (shape[0], *out, self.filters)
        return (shape[0], self.filters, *out)

    def _rank_text(self, shape) -> str:
        layout = ", ".join(self.input_spec().axis_names[1:])
        what = "a sequence" if self.rank == 1 else "an image"
        mixes = "all channels" if self._groups == 1 else f"the channels of each of its {self._groups} groups"
        text = (
            f"{self.kind} slides its kernel along {' and '.join(_AXIS_NAMES[self.rank])} and mixes {mixes} at each "
            f"position, so each sample must be {what} with a channels axis: ({layout})."
        )
        if len(shape) == self.rank + 1:
            text += (
                f" {format_shape(shape)} has no channels axis; one channel (a grayscale image, a single "
                "measurement per step) is a channels axis of size 1."
            )
        elif len(shape) > self.rank + 2:
            text += f" {format_shape(shape)} has {len(shape) - self.rank - 2} axis too many."
        return text

    def rank_explanation(self, shape, name: str) -> str:
        return self._rank_text(shape)

    def axis_explanation(self, shape, axis: int, size: int, name: str) -> str:
        groups = f" ({size} channels in {self._groups} groups)" if self._groups > 1 else ""
        return (
            f"{name} was built for {size} input channels: its kernel is "
            f"{times((*self.kernel_size, size // self._groups, self.filters))}{groups}. Here the channels axis has "
            f"{shape[axis]}."
        )

    def _target_shape(self, shape) -> tuple | None:
        """A per-sample shape of the right rank made from `shape` by a Reshape, or None."""
        per = tuple(shape[1:])
        first = self.data_format == "channels_first"
        if len(shape) == self.rank + 1:  # no channels axis: add one of size 1
            return (1, *per) if first else (*per, 1)
        if len(shape) == 2 and self.rank == 2:  # flat pixels of a square image
            side = math.isqrt(per[0])
            return None if side * side != per[0] or side < 2 else ((1, side, side) if first else (side, side, 1))
        if len(shape) > self.rank + 2:  # merge the surplus spatial axes into the last one
            keep = self.rank - 1
            if first:
                return (per[0], *per[1 : 1 + keep], math.prod(per[1 + keep :]))
            return (*per[:keep], math.prod(per[keep:-1]), per[-1])
        return None

    def suggest_fixes(self, shape, problem, context) -> list:
        fixes, name = [], context.name
        if len(shape) != self.rank + 2:
            fixes += return_sequences_fixes(shape, context) if self.rank == 1 else []
            target = self._target_shape(shape)
            if target is not None:
                why = (
                    "add a channels axis of size 1"
                    if len(shape) == self.rank + 1
                    else f"read the {shape[1]:,} values as a {target[0]}×{target[1]} image"
                    if len(shape) == 2
                    else "merge the extra axes"
                )
                fixes.append(
                    context.insert(
                        "Reshape", {"target_shape": target}, f"insert Reshape({target}) before {name}: {why}"
                    )
                )
                fixes.append(context.input_shape_fix(target))
            return fixes
        dims, channels = self._split(shape)
        if channels % self._groups:
            return self._groups_fixes(shape, channels, context)
        if self.built_shape is not None and channels != self._split(self.built_shape)[1]:
            built = self._split(self.built_shape)[1]
            fixes.append(context.upstream_fix(built))
            per = list(shape[1:])
            per[channel_axis(self.data_format)] = built
            fixes.append(context.input_shape_fix(tuple(per)))
            fixes.append(context.unbuild(f"rebuild {name} for the {channels:,} channels it receives"))
            return fixes
        fixes.append(
            context.set_setting(
                "padding", "same", description=f"set padding of {name} to 'same' (pad the input so the kernel fits)"
            )
        )
        smaller = tuple(min(k, (n - 1) // d + 1) for n, k, d in zip(dims, self.kernel_size, self.dilation_rate))
        if smaller != self.kernel_size:
            fixes.append(
                context.set_setting(
                    "kernel_size",
                    smaller,
                    description=f"set kernel_size of {name} to {tuple_text(smaller)} (it fits the input)",
                )
            )
        if max(self.dilation_rate) > 1:
            fixes.append(context.set_setting("dilation_rate", (1,) * self.rank))
        return fixes

    def _groups_fixes(self, shape, channels: int, context) -> list:
        """Channels `groups` does not divide: a groups value dividing both the channels and the filters (the largest
        below the one set, and 1), or as many channels as the nearest multiple of groups (from the layer before, or the
        input)."""
        name, fixes = context.name, []
        common = math.gcd(channels, self.filters)
        fits = max(d for d in range(1, min(common, self._groups) + 1) if common % d == 0)
        for value in dict.fromkeys((fits, 1)):
            what = "an ordinary convolution" if value == 1 else f"{channels // value:,} channels a group"
            fixes.append(context.set_setting("groups", value, description=f"set groups of {name} to {value} ({what})"))
        wanted = self._multiple(channels)
        if self.data_format == "channels_last":
            fixes.append(context.upstream_fix(wanted))
        per = list(shape[1:])
        per[channel_axis(self.data_format)] = wanted
        fixes.append(context.input_shape_fix(tuple(per)))
        return fixes

    # --- weights --------------------------------------------------------------------------------
    def weight_specs(self, shape) -> list[WeightSpec]:
        channels = self._split(shape)[1] // self._groups  # each filter sees its group's channels only
        specs = [WeightSpec("kernel", (*self.kernel_size, channels, self.filters), self.kernel_initializer)]
        return specs + ([WeightSpec("bias", (self.filters,), self.bias_initializer)] if self.use_bias else [])

    def formula(self, shape) -> str:
        """`3×3×1×8 + 8 = 80` (or `3×3×1×8 = 72` without bias; grouped, C/G channels: `7×7×1×96 + 96`)."""
        product = times((*self.kernel_size, self._split(shape)[1] // self._groups, self.filters))
        total = sum(self.count_params_for(shape))
        return f"{product} + {self.filters:,} = {total:,}" if self.use_bias else f"{product} = {total:,}"

    def _plan(self, shape) -> tuple[int, int, int]:
        """Per sample: (padded input elements or 0, patch matrix elements or 0 when it is a view, output elements)."""
        dims, channels = self._split(shape)
        pad, out = self._geometry(dims)
        padded_size = math.prod(n + lo + hi for n, (lo, hi) in zip(dims, pad)) * channels if any(map(any, pad)) else 0
        positions, window = math.prod(out), math.prod(self.kernel_size)
        return (
            padded_size,
            0 if self._input_is_patches(pad) else positions * window * channels,
            positions * self.filters,
        )

    def _input_is_patches(self, pad) -> bool:
        """A 1×1 kernel moving one cell at a time over an unpadded input: the input itself is the patch matrix (not
        when grouped: the group-major patches are always a copy)."""
        return (
            math.prod(self.kernel_size) == 1 and max(self.strides) == 1 and not any(map(any, pad)) and self._groups == 1
        )

    def cost(self, shape, output_shape) -> Cost:
        if self._groups > 1:
            return self._grouped_cost(shape, output_shape)
        padded_size, patches, out = self._plan(shape)
        window_channels = math.prod(self.kernel_size) * self._split(shape)[1]
        every_patch = math.prod(self._geometry(self._split(shape)[0])[1]) * window_channels
        linear = self.activation == "linear"
        activation = activation_step_cost(self.activation, out)
        # beside the output: building patches (padded input + patches), the matmul (patches); then, once the patches
        # are freed, an activation that is not applied in place (z beside y, and its temporaries)
        separate = self.activation not in _IN_PLACE
        return Cost(
            mult_adds=out * window_channels,
            elementwise=padded_size + patches + (out if self.use_bias else 0) + activation.elementwise,
            early_scratch=max(padded_size + patches, patches + out) - out,
            scratch=out + activation.scratch if separate else 0,
            scratch_large=out + activation.scratch_large if separate else 0,
            large_at=out,
            capped_scratch=activation.capped_scratch if separate else 0,
            scratch_cap=activation.scratch_cap,
            train_overhead=math.prod(self.kernel_size) * _TRAIN_CELL_MICROSECONDS * MICROSECOND,
            # Training. Work: backward builds the patches again and adds their gradient back cell by kernel cell into
            # strided slices of the padded input's gradient, then crops it; an activation is applied again out of
            # place, and its gradient taken. Memory: forward_train keeps the pre-activation z beside y; backward makes
            # z's gradient (and the activation gradient's temporary), the patches again (and the padded input), their
            # gradient and the padded input's gradient (channels_first: tensordot copies the patches once more).
            train_elementwise=3 * padded_size
            + patches
            + self._train_patch_ops(shape) * every_patch
            + (0 if linear else activation.elementwise + _TRAIN_GRADIENT_OPS * out),
            train_kept=0 if linear else out,
            train_scratch=(0 if linear else 2 * out)
            + 2 * padded_size
            + patches
            + every_patch * (2 if self.data_format == "channels_first" else 1),
        )

    def _grouped_cost(self, shape, output_shape) -> Cost:
        """A grouped convolution's cost: `cost`'s phases, with each output value summing window·C/G products, the
        patches always copied (group-major: twice the plain copy's time) and read once more by the batched matmul
        (few filters a group make it memory-bound), and BLAS called once per group."""
        padded_size, patches, out = self._plan(shape)
        window = math.prod(self.kernel_size)
        kernel = window * self._split(shape)[1] // self._groups * self.filters
        linear = self.activation == "linear"
        activation = activation_step_cost(self.activation, out)
        separate = self.activation not in _IN_PLACE
        copy = padded_size + (_GROUPED_COPY_OPS + 1) * patches
        calls = self._groups * _GROUP_MATMUL_MICROSECONDS * MICROSECOND
        return Cost(
            mult_adds=out * kernel // self.filters,
            elementwise=copy + (out if self.use_bias else 0) + activation.elementwise,
            # beside the output: building patches (padded input + patches), then the matmul writing into the output
            early_scratch=max(padded_size + patches, patches + out) - out,
            scratch=out + activation.scratch if separate else 0,
            scratch_large=out + activation.scratch_large if separate else 0,
            large_at=out,
            capped_scratch=activation.capped_scratch if separate else 0,
            scratch_cap=activation.scratch_cap,
            overhead=calls,
            train_overhead=window * _TRAIN_CELL_MICROSECONDS * MICROSECOND + 3 * calls,
            # Training: as `cost` says, with backward's batched matmuls for the kernel's and the patches' gradients;
            # channels_first sums the kernel's gradient over the batch from one per sample (a kernel a sample).
            train_elementwise=3 * padded_size
            + copy
            + 2 * patches
            + self._train_patch_ops(shape) * patches
            + (0 if linear else activation.elementwise + _TRAIN_GRADIENT_OPS * out),
            train_kept=0 if linear else out,
            train_scratch=(0 if linear else 2 * out)
            + 2 * padded_size
            + 2 * patches
            + (kernel if self.data_format == "channels_first" else 0),
        )

    def _train_patch_ops(self, shape) -> int:
        """Operations' time per patch value of backward's cell-by-cell add: channels_last adds runs of C contiguous
        values (C/G when grouped), so few channels make it slow (per value about 4 + 64 / C; channels_first runs along
        the positions)."""
        channels = self._split(shape)[1] // self._groups
        return _TRAIN_PATCH_OPS + (0 if self.data_format == "channels_first" else _TRAIN_RUN_OPS // channels)

    # --- numbers --------------------------------------------------------------------------------
    @property
    def kernel(self) -> np.ndarray:
        return self._weights[0]

    @property
    def bias(self) -> np.ndarray | None:
        return self._weights[-1] if self.use_bias else None

    @property
    def _activation_fn(self):
        return activations.ACTIVATIONS[self.activation]

    def _patches(self, x: np.ndarray):
        """(padded input's geometry, patch matrix): channels_last (N·positions, window·C), channels_first (N, window·C,
        positions)."""
        axes = spatial_axes(self.rank, self.data_format)
        pad, out = self._geometry([x.shape[a] for a in axes])
        n, depth = x.shape[0], math.prod(self.kernel_size) * x.shape[channel_axis(self.data_format)]
        shape = (n * math.prod(out), depth) if self.data_format == "channels_last" else (n, depth, math.prod(out))
        if self._input_is_patches(pad):
            return (pad, out), x.reshape(shape)
        view = windows_view(padded(x, axes, pad), axes, out, self.kernel_size, self.strides, self.dilation_rate)
        # Always one fresh patch matrix, as the cost model declares: a reshape of the overlapping windows would be
        # a copy or a view depending on the batch and the strides (a view for one sample), so memory and the
        # BLAS path would depend on them too.
        patches = np.empty(shape, x.dtype)
        np.copyto(patches.reshape(view.shape), view)
        return (pad, out), patches

    def _group_patches(self, x: np.ndarray):
        """(padded input's geometry, group-major patch matrix): channels_last (G, N·positions, window·C/G),
        channels_first (G, N, window·C/G, positions), copied once from the windows."""
        axes, g, last = spatial_axes(self.rank, self.data_format), self._groups, self.data_format == "channels_last"
        pad, out = self._geometry([x.shape[a] for a in axes])
        view = windows_view(padded(x, axes, pad), axes, out, self.kernel_size, self.strides, self.dilation_rate)
        n, positions = x.shape[0], math.prod(out)
        depth = math.prod(self.kernel_size) * x.shape[channel_axis(self.data_format)] // g  # a group's window·C/G
        if last:  # (N, *out, *window, C) → (G, N, *out, *window, C/G)
            split = np.moveaxis(view.reshape(*view.shape[:-1], g, -1), -2, 0)
            patches = np.empty((g, n * positions, depth), x.dtype)
        else:  # (N, *window, C, *out) → (G, N, *window, C/G, *out)
            at = 1 + self.rank
            split = np.moveaxis(view.reshape(*view.shape[:at], g, -1, *view.shape[at + 1 :]), at, 0)
            patches = np.empty((g, n, depth, positions), x.dtype)
        np.copyto(patches.reshape(split.shape), split)
        return (pad, out), patches

    def _group_kernel(self) -> np.ndarray:
        """The kernel as G blocks: channels_last (G, window·C/G, F/G), channels_first (G, F/G, window·C/G) (views)."""
        g = self._groups
        blocks = self.kernel.reshape(-1, g, self.filters // g)  # (window·C/G, G, F/G): filter f in group f // (F/G)
        return blocks.transpose(1, 0, 2) if self.data_format == "channels_last" else blocks.transpose(1, 2, 0)

    def _group_output(self, z: np.ndarray) -> np.ndarray:
        """The output `z` (N, *out, F) or (N, F, *out) seen as the batched matmul's (G, N·positions, F/G) or
        (G, N, F/G, positions): a strided view, so the matmul writes the output's own layout."""
        g, n = self._groups, z.shape[0]
        if self.data_format == "channels_last":
            return z.reshape(-1, g, self.filters // g).transpose(1, 0, 2)
        return z.reshape(n, g, self.filters // g, -1).transpose(1, 0, 2, 3)

    def _grouped_linear(self, x: np.ndarray) -> np.ndarray:
        """The grouped convolution (no bias): one batched matmul of the group-major patches by the kernel's blocks."""
        (_, out), patches = self._group_patches(x)
        last = self.data_format == "channels_last"
        shape = (x.shape[0], *out, self.filters) if last else (x.shape[0], self.filters, *out)
        z = np.empty(shape, np.result_type(x, self.kernel))
        blocks = self._group_kernel()
        if last:
            np.matmul(patches, blocks, out=self._group_output(z))
        else:
            np.matmul(blocks[:, None], patches, out=self._group_output(z))
        return z

    def _linear(self, x: np.ndarray) -> np.ndarray:
        """The convolution plus bias, before the activation."""
        if self._groups > 1:
            z = self._grouped_linear(x)
            if self.bias is not None:
                last = self.data_format == "channels_last"
                np.add(z, self.bias if last else self.bias.reshape(-1, *(1,) * self.rank), out=z)
            return z
        (_, out), patches = self._patches(x)
        matrix = self.kernel.reshape(-1, self.filters)
        if self.data_format == "channels_last":
            z = np.matmul(patches, matrix)
            del patches
            z = z.reshape(x.shape[0], *out, self.filters)
            if self.bias is not None:
                np.add(z, self.bias, out=z)
        else:
            z = np.matmul(matrix.T, patches)  # (filters, window·C) @ (N, window·C, positions): torch's layout directly
            del patches
            z = z.reshape(x.shape[0], self.filters, *out)
            if self.bias is not None:
                np.add(z, self.bias.reshape(self.filters, *(1,) * self.rank), out=z)
        return z

    def call(self, x: np.ndarray) -> np.ndarray:
        z = self._linear(x)
        if self.activation == "linear":
            return z
        if self.activation == "relu":
            return np.maximum(z, _ZERO if z.dtype == np.float32 else z.dtype.type(0), out=z)
        return self._activation_fn(z)

    # --- training -------------------------------------------------------------------------------
    def forward_train(self, x, rng):
        z = self._linear(x)
        y = z if self.activation == "linear" else self._activation_fn(z)
        return y, (x, z, y)

    def _grouped_backward(self, x: np.ndarray, dz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∂loss/∂x, ∂loss/∂kernel) of the grouped convolution: batched matmuls per group, then the patches' gradient
        added back cell by kernel cell."""
        (pad, out), patches = self._group_patches(x)
        blocks, dzg = self._group_kernel(), self._group_output(dz)
        last = self.data_format == "channels_last"
        if last:  # dkernel (G, window·C/G, F/G), dpatches (G, N·positions, window·C/G)
            dblocks = np.matmul(patches.transpose(0, 2, 1), dzg)
            dpatches = np.matmul(dzg, blocks.transpose(0, 2, 1))
        else:  # per sample (G, N, F/G, window·C/G) summed over the batch; dpatches (G, N, window·C/G, positions)
            dblocks = np.matmul(dzg, patches.transpose(0, 1, 3, 2)).sum(axis=1).transpose(0, 2, 1)
            dpatches = np.matmul(blocks.transpose(0, 2, 1)[:, None], dzg)
        del patches
        dkernel = dblocks.transpose(1, 0, 2).reshape(self.kernel.shape)  # back to (window·C/G, G, F/G)
        return self._grouped_scatter(dpatches, x, pad, out), dkernel

    def _grouped_scatter(self, dpatches: np.ndarray, x: np.ndarray, pad, out) -> np.ndarray:
        """The input's gradient from the group-major patches' gradient: each kernel cell's slab added into its strided
        slice, through a (…, G, C/G) view of the padded input's gradient."""
        g, n, axes = self._groups, x.shape[0], spatial_axes(self.rank, self.data_format)
        shape = list(x.shape)
        for a, (lo, hi) in zip(axes, pad):
            shape[a] += lo + hi
        dxp = np.zeros(shape, dpatches.dtype)
        last = self.data_format == "channels_last"
        if last:
            dpatches = dpatches.reshape(g, n, *out, *self.kernel_size, -1)
            split = dxp.reshape(*shape[:-1], g, -1)
        else:
            dpatches = dpatches.reshape(g, n, *self.kernel_size, -1, *out)
            split = dxp.reshape(n, g, -1, *shape[2:])
        for offset, index in offset_slices(x.ndim, axes, out, self.kernel_size, self.strides, self.dilation_rate):
            if last:  # slab (G, N, *out, C/G) into (N, *out, G, C/G)
                split[index] += np.moveaxis(dpatches[(slice(None),) * (2 + self.rank) + offset], 0, -2)
            else:  # slab (G, N, C/G, *out) into (N, G, C/G, *out)
                split[(slice(None), *index)] += dpatches[(slice(None), slice(None), *offset)].swapaxes(0, 1)
        return cropped(dxp, axes, pad)

    def backward(self, cache, dy):
        x, z, y = cache
        dz = activations.gradient(self.activation, z, y, dy)
        if self._groups > 1:
            dx, dkernel = self._grouped_backward(x, dz)
            bias = dz.sum(
                axis=tuple(range(dz.ndim - 1)) if self.data_format == "channels_last" else (0, *range(2, dz.ndim))
            )
            return dx, [dkernel] + ([bias] if self.use_bias else [])
        (pad, out), patches = self._patches(x)
        matrix = self.kernel.reshape(-1, self.filters)
        n, filters = x.shape[0], self.filters
        axes = spatial_axes(self.rank, self.data_format)
        if self.data_format == "channels_last":
            dzm = dz.reshape(-1, filters)
            grads = [(patches.T @ dzm).reshape(self.kernel.shape)]
            dpatches = (dzm @ matrix.T).reshape(n, *out, *self.kernel_size, -1)
        else:
            dzm = dz.reshape(n, filters, -1)
            grads = [np.tensordot(patches, dzm, axes=([0, 2], [0, 2])).reshape(self.kernel.shape)]
            dpatches = np.matmul(matrix, dzm).reshape(n, *self.kernel_size, -1, *out)
        if self.use_bias:
            grads.append(dzm.sum(axis=0) if self.data_format == "channels_last" else dzm.sum(axis=(0, 2)))
        shape = list(x.shape)
        for a, (lo, hi) in zip(axes, pad):
            shape[a] += lo + hi
        dxp = np.zeros(shape, x.dtype)
        for offset, index in offset_slices(x.ndim, axes, out, self.kernel_size, self.strides, self.dilation_rate):
            if self.data_format == "channels_last":
                dxp[index] += dpatches[(slice(None),) * (1 + self.rank) + offset]
            else:
                dxp[index] += dpatches[(slice(None), *offset)]
        return cropped(dxp, axes, pad), grads

    # --- description ----------------------------------------------------------------------------
    def label(self) -> str:
        window = times(self.kernel_size) if self.rank > 1 else f"{self.kernel_size[0]}-wide"
        parts = [f"{self.filters:,} {window}"]
        if max(self.strides) > 1:
            parts.append(f"stride {times(self.strides)}")
        if max(self.dilation_rate) > 1:
            parts.append(f"dilation {times(self.dilation_rate)}")
        if self._groups > 1:
            parts.append(f"{self._groups} groups")
        parts.append(self.padding)
        if self.activation != "linear":
            parts.append(self.activation)
        if self.data_format == "channels_first":
            parts.append("channels_first")
        if not self.use_bias:
            parts.append("no bias")
        return " ".join(parts)

    def explain_shape(self, shape, output_shape) -> str:
        dims, channels = self._split(shape)
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
        rule = {
            "valid": "padding='valid' keeps only positions where the kernel fits",
            "same": "padding='same' pads so there are ceil(n/stride) positions (an odd extra cell goes at the end)",
            "causal": "padding='causal' pads only the start, so no output sees a later step",
        }[self.padding]
        window = times(self.kernel_size) if self.rank > 1 else f"{self.kernel_size[0]}-step"
        filters = "The 1 filter weighs" if self.filters == 1 else f"Each of the {self.filters:,} filters weighs"
        inputs = "the 1 input channel" if channels == 1 else f"all {channels:,} input channels"
        if self._groups > 1:
            g = self._groups
            filters = (
                f"groups={g} splits the {channels:,} input channels and the {self.filters:,} filters into {g} groups: "
                "each filter weighs"
            )
            inputs = f"only the {channels // g:,} input channel{'s' if channels // g > 1 else ''} of its group"
        return (
            f"{'; '.join(lines)}. {rule}. {filters} a {window} window across {inputs} → {format_shape(output_shape)}."
        )

    def keras_code(self) -> CodePart:
        args = [f"{self.filters}", f"kernel_size={self.kernel_size}"]
        for setting in (
            "strides",
            "padding",
            "dilation_rate",
            "groups",
            "activation",
            "use_bias",
            "kernel_initializer",
            "bias_initializer",
        ):
            spec = next(s for s in self.settings if s.name == setting)
            if self.values[setting] != spec.default:
                args.append(f"{setting}={self.values[setting]!r}")
        args.append(f"data_format={self.data_format!r}")  # explicit: Keras's default follows the user's keras.json
        return CodePart(f"keras.layers.{self.kind}({', '.join(args)}, name={self.name!r})")

    def torch_code(self, shape) -> list[CodePart]:
        dims, channels = self._split(shape)
        pad, _ = self._geometry(dims)
        nd = f"{self.rank}d"
        parts = []
        padding = tuple(lo for lo, _ in pad)
        if not symmetric(
            pad
        ):  # torch pads both sides alike; Keras puts the odd cell at the end (causal: all at the start)
            parts.append(CodePart(f"nn.ZeroPad{nd}({torch_pad_order(pad)})"))
            padding = (0,) * self.rank
        groups = f", groups={self._groups}" if self._groups > 1 else ""
        # torch keeps a conv kernel as (filters, channels / groups, *window); Keras as (*window, channels / groups,
        # filters)
        weights = {"weight": np.ascontiguousarray(np.moveaxis(self.kernel, (-1, -2), (0, 1)))}
        if self.bias is not None:
            weights["bias"] = self.bias
        parts.append(
            CodePart(
                f"nn.Conv{nd}({channels}, {self.filters}, kernel_size={tuple_text(self.kernel_size)}, "
                f"stride={tuple_text(self.strides)}, padding={tuple_text(padding)}, "
                f"dilation={tuple_text(self.dilation_rate)}{groups}, bias={self.use_bias})",
                weights=weights,
            )
        )
        parts = torch_layout(parts, self.data_format)
        return parts + ([torch_activation(self.activation)] if self.activation != "linear" else [])


def _conv_settings(rank: int) -> tuple:
    pad_choices = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
    ones = (1,) * rank
    return (
        Int("filters", 32, "Number of kernels: the size of the output's channels axis.", required=True, high=MAX_UNITS),
        Ints(
            "kernel_size",
            (3,) * rank,
            f"Size of the sliding window ({' × '.join(_AXIS_NAMES[rank])}).",
            required=True,
            length=rank,
        ),
        Ints("strides", ones, "How far the window moves between outputs; 2 halves the size.", length=rank),
        Padding(
            "padding",
            "valid",
            "valid: only positions where the kernel fits; same: pad so ceil(n/stride) positions"
            + ("; causal: pad the start only." if rank == 1 else "."),
            choices=pad_choices,
        ),
        DataFormat(
            "data_format",
            "channels_last",
            "Where the channels axis is: last (Keras's default) or right after the batch.",
        ),
        Ints("dilation_rate", ones, "Spacing between kernel cells (only with strides 1).", length=rank),
        Groups(
            "groups",
            1,
            "Split the channels and filters into this many groups, each convolved on its own (1: an "
            "ordinary convolution; the number of channels: one kernel a channel, a depthwise convolution).",
            high=MAX_UNITS,
        ),
        ConvActivation("activation", "linear", "Applied to every output value."),
        Bool("use_bias", True, "Add one learned number per filter."),
        Init(
            "kernel_initializer",
            "glorot_uniform",
            "How the kernel's weights start (drawn from the model's seed).",
            ndim=rank + 2,
        ),
        Init("bias_initializer", "zeros", "How the biases start.", ndim=1),
        *kernel_and_bias_regularizers(rank + 2),
    )


@register
class Conv1D(_Conv):
    """A kernel slid along the steps of a sequence (batch, steps, channels)."""

    rank = 1
    settings = _conv_settings(1)
    description = "A small kernel slid along a sequence, mixing its channels, e.g. (None, 100, 8) → (None, 98, 32)."


@register
class Conv2D(_Conv):
    """A kernel slid over height and width of an image (batch, height, width, channels)."""

    rank = 2
    settings = _conv_settings(2)
    description = "A small kernel slid over an image, mixing its channels, e.g. (None, 28, 28, 1) → (None, 26, 26, 32)."
