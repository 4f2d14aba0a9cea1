"""Reshaping kinds: Reshape, Permute, RepeatVector, ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D.

None has weights. Every output is C-contiguous: either a view of a contiguous input (declared with
`output_is_view`) or one fresh array, so a Reshape or Flatten after them is a view as its cost says.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..errors import LayerConfigError
from ..layer import CodePart, Cost, InputSpec, Layer, Problem, register
from ..limits import MAX_INPUT_RANK, MAX_TENSOR_ELEMENTS
from ..settings import Choice, DataFormat, Int, Ints, IntList, Setting, _is_int, _short
from ..shapes import format_shape, times

_BIG = MAX_TENSOR_ELEMENTS  # no axis of any tensor can be longer: a larger size could never fit


# --- settings Keras spells its own way ---------------------------------------------------------------
@dataclass(frozen=True)
class TargetShape(IntList):
    """Reshape's target: a tuple of sizes (-1 at most once: inferred), as Keras validates it."""

    def check(self, value):
        if not isinstance(value, (tuple, list)) or not all(_is_int(v) for v in value):
            self.fail(value, f"a tuple of up to {self.max_length} integers such as (28, 28, 1) or (-1, 8)")
        value = tuple(int(v) for v in value)
        if any(v < -1 for v in value):
            raise LayerConfigError(
                "Each dimension in `target_shape` must be a non-negative integer, or `-1` for a single "
                f"unknown dimension. Received: target_shape={value}."
            )
        if value.count(-1) > 1:
            raise LayerConfigError(
                f"There must be at most one unknown dimension (-1) in `target_shape`. Received: target_shape={value}."
            )
        if len(value) > self.max_length:
            # Deliberately not Keras: netbuilder's tensors have at most MAX_INPUT_RANK axes besides the batch.
            self.fail(
                value,
                f"at most {self.max_length} sizes (netbuilder's tensors have at most {self.max_length} axes per "
                "sample)",
            )
        if max(value, default=0) > self.high:
            self.fail(value, f"sizes of at most {self.high:,}")
        return value

    def parse_text(self, text: str):
        if isinstance(text, str) and text.strip().strip("()[]").strip() == "":
            return self.check(())
        return super().parse_text(text)


@dataclass(frozen=True)
class PermuteDims(IntList):
    """Permute's dims: a permutation of 1..n (axis 0, the batch, stays first)."""

    def check(self, value):
        if not isinstance(value, (tuple, list)) or not all(_is_int(v) for v in value):
            self.fail(value, "a tuple of axis numbers such as (2, 1)")
        value = tuple(int(v) for v in value)
        if sorted(value) != list(range(1, len(value) + 1)):
            raise LayerConfigError(
                "Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` must "
                f"be consecutive and start from 1. Received dims={value}"
            )
        if len(value) > self.max_length:
            self.fail(
                value,
                f"at most {self.max_length} axes (netbuilder's tensors have at most {self.max_length} axes per sample)",
            )
        return value


def _pair(value, name: str) -> tuple[int, int]:
    """Keras's standardize_tuple(value, 2, name, allow_zero=True): an int for both ends, or two ints ≥ 0."""
    message = f"The `{name}` argument must be a tuple of 2 integers. Received {name}={value}"
    if _is_int(value):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(_is_int(v) for v in value):
        raise LayerConfigError(message)
    negative = {int(v) for v in value if v < 0}
    if negative:
        raise LayerConfigError(f"{message}, including values {negative} that do not satisfy `value >= 0`")
    if max(value) > _BIG:
        raise LayerConfigError(f"{name} must be at most {_BIG:,} on each side; received {_short(value)}")
    return int(value[0]), int(value[1])


@dataclass(frozen=True)
class Pair(Setting):
    """One (before, after) pair of non-negative ints; one int means both (ZeroPadding1D, Cropping1D)."""

    def check(self, value):
        return _pair(value, self.name)

    def format_text(self, value) -> str:
        return f"{value[0]}, {value[1]}"

    def parse_text(self, text: str):
        from ..settings import _ints_from_text

        numbers = _ints_from_text(self.name, text)
        return self.check(numbers[0] if len(numbers) == 1 else numbers)

    @property
    def allowed(self) -> str:
        return "an integer ≥ 0 (both ends) or two: before, after"


@dataclass(frozen=True)
class Pair2D(Setting):
    """((top, bottom), (left, right)); an int means all four, each entry an int or a pair (ZeroPadding2D,
    Cropping2D)."""

    def check(self, value):
        if _is_int(value):
            if value < 0:
                raise LayerConfigError(f"`{self.name}` cannot be negative. Received: {self.name}={value}.")
            return _pair(value, self.name), _pair(value, self.name)
        if not isinstance(value, (tuple, list)):
            raise LayerConfigError(
                f"`{self.name}` should be either an int, a tuple of 2 ints (symmetric_height, symmetric_width), or a "
                f"tuple of 2 tuples of 2 ints ((top, bottom), (left, right)). Received: {self.name}={_short(value)}."
            )
        if len(value) != 2:
            raise LayerConfigError(f"`{self.name}` should have two elements. Received: {self.name}={_short(value)}.")
        return _pair(value[0], f"1st entry of {self.name}"), _pair(value[1], f"2nd entry of {self.name}")

    def to_json(self, value):
        return [list(p) for p in value]

    def from_json(self, data):
        return self.check(data)

    def format_text(self, value) -> str:
        return "; ".join(f"{a}, {b}" for a, b in value)

    def parse_text(self, text: str):
        from ..settings import _ints_from_text

        if not isinstance(text, str):
            return self.check(text)
        groups = text.split(";")
        if len(groups) == 1:
            numbers = _ints_from_text(self.name, groups[0])
            return self.check(numbers[0] if len(numbers) == 1 else numbers)
        return self.check(tuple((n[0] if len(n) == 1 else n) for n in (_ints_from_text(self.name, g) for g in groups)))

    @property
    def allowed(self) -> str:
        return "an integer ≥ 0, `height, width`, or `top, bottom; left, right`"


@dataclass(frozen=True)
class Interpolation(Choice):
    """UpSampling2D's interpolation, any letter case as Keras lowercases it; nearest and bilinear are computed."""

    choices: tuple = ("nearest", "bilinear")

    def check(self, value):
        name = value.lower() if isinstance(value, str) else value
        if name in ("bicubic", "lanczos3", "lanczos5"):
            # Deliberately not Keras: these kernels are not reproduced here (nor by torch's Upsample), so refused.
            raise LayerConfigError(
                f"netbuilder computes UpSampling2D with interpolation 'nearest' or 'bilinear' only; "
                f"{name!r} (which Keras also has) is not supported"
            )
        if name not in self.choices:
            raise LayerConfigError(
                "Invalid value for argument `interpolation`. Expected of one ('bilinear', 'nearest', "
                f"'lanczos3', 'lanczos5', 'bicubic'). Received: interpolation={_short(value)}"
            )
        return name


# --- shared helpers ------------------------------------------------------------------------------------
def _reshape_fix(context, target: tuple, why: str):
    return context.insert(
        "Reshape", {"target_shape": tuple(target)}, f"insert Reshape({tuple(target)}) before {context.name}: {why}"
    )


def _square(n: int) -> int | None:
    root = math.isqrt(n)
    return root if root * root == n else None


def _slices(shape, axes, bounds):
    """Index selecting [start, stop) on each of `axes` of `shape`."""
    index = [slice(None)] * len(shape)
    for axis, (start, stop) in zip(axes, bounds):
        index[axis] = slice(start, stop)
    return tuple(index)


class _Spatial(Layer):
    """A layer working on the step axis (1D, rank 3) or the height and width axes (2D, rank 4)."""

    rank = 3  # full rank, batch included
    group = "Reshaping"
    data_format = "channels_last"  # a kind with the setting has its own value

    def spatial_axes(self) -> tuple[int, ...]:
        first = 2 if self.data_format == "channels_first" else 1
        return tuple(range(first, first + self.rank - 2))

    def axis_names(self) -> tuple[str, ...]:
        space = ("steps",) if self.rank == 3 else ("height", "width")
        if self.data_format == "channels_first":
            return ("batch", "channels", *space)
        return ("batch", *space, "features" if self.rank == 3 else "channels")

    def input_spec(self) -> InputSpec:
        return InputSpec(ndim=self.rank, axis_names=self.axis_names())

    def rank_explanation(self, shape, name: str) -> str:
        what = "a sequence: steps, each with features" if self.rank == 3 else "images: height, width and channels"
        return (
            f"{self.kind} works on {what}, so it needs {self.rank} axes ({', '.join(self.axis_names())}); "
            f"{format_shape(shape)} has {len(shape)}."
        )

    def rank_fixes(self, shape, context) -> list:
        """Reshape inserts that give the input the rank this layer needs, keeping every value."""
        dims, first = shape[1:], self.axis_names()[1] == "channels"
        if self.rank == 4 and len(dims) == 2:
            target = (1, *dims) if first else (*dims, 1)
            return [_reshape_fix(context, target, "add a channel axis of size 1")]
        if self.rank == 4 and len(dims) == 1 and _square(dims[0]):
            side = _square(dims[0])
            target = (1, side, side) if first else (side, side, 1)
            return [
                _reshape_fix(
                    context, target, f"lay the {dims[0]:,} values out as a {side}×{side} image with one channel"
                )
            ]
        if self.rank == 3 and len(dims) == 1:
            target = (1, dims[0]) if first else (dims[0], 1)
            return [_reshape_fix(context, target, f"make the {dims[0]:,} values {dims[0]:,} steps of one feature")]
        if self.rank == 3 and len(dims) > 2:
            target = (dims[0], math.prod(dims[1:]))
            return [
                _reshape_fix(
                    context, target, f"join the last axes: {dims[0]:,} steps of {math.prod(dims[1:]):,} features"
                )
            ]
        return []

    def suggest_fixes(self, shape, problem, context) -> list:
        return self.rank_fixes(shape, context) if len(shape) != self.rank else []


def _view_or_copy(flag: bool, out_elements: int) -> Cost:
    """A view (nothing allocated) or one copy of the output (one elementwise op per value)."""
    return Cost(output_is_view=True) if flag else Cost(elementwise=out_elements)


# --- Reshape -----------------------------------------------------------------------------------------------
@register
class Reshape(Layer):
    """The same values in the same order, in another shape; one -1 is inferred."""

    keeps_values = True  # its output holds its input's values: indices stay indices

    settings = (
        TargetShape(
            "target_shape",
            (-1,),
            "The shape of each sample afterwards (no batch axis); one -1 is inferred.",
            required=True,
            min_length=0,
            max_length=MAX_INPUT_RANK,
            high=_BIG,
        ),
    )
    group = "Reshaping"
    description = "Rearranges each sample's values into another shape, e.g. (784,) → (28, 28, 1); one -1 is inferred."
    builds_at_init = True

    def resolved(self, shape) -> tuple[int, ...] | None:
        """The target with its -1 filled in for input `shape`, or None when the values do not fit it."""
        total, target = math.prod(shape[1:]), self.target_shape
        if -1 not in target:
            return target if math.prod(target) == total else None
        known = math.prod(v for v in target if v != -1)
        if known == 0 or total % known:
            return None
        return tuple(total // known if v == -1 else v for v in target)

    def check_shape(self, shape, name: str) -> Problem | None:
        if self.resolved(shape) is not None:
            return None
        dims, total, target = shape[1:], math.prod(shape[1:]), self.target_shape
        have = f"{times(dims)} = {total:,}" if len(dims) > 1 else f"{total:,}"
        if -1 in target:
            fixed = [v for v in target if v != -1]
            known = math.prod(fixed)
            if known == 0:
                return Problem(
                    "no size 0 in target_shape",
                    f"Layer {name!r} (Reshape) cannot fill {format_shape(target)} with the {total:,} values of "
                    f"{format_shape(shape)}: an axis of size 0 holds no values.",
                    f"Reshape only rearranges values; each sample has {have} of them, and with a size of 0 no -1 can "
                    "make the count come out. Every size must be at least 1.",
                    _count_message(dims, target, divisible=True),
                )
            return Problem(
                f"a number of values divisible by {known:,}",
                f"Layer {name!r} (Reshape) cannot fill {format_shape(target)} with the {total:,} values of "
                f"{format_shape(shape)}: {total:,} is not divisible by {known:,}.",
                f"Reshape only rearranges values; each sample has {have} of them. The -1 stands for whatever size "
                "makes the count come out, so the other sizes "
                f"({times(fixed)}{f' = {known:,}' if len(fixed) > 1 else ''}) must divide {total:,} exactly.",
                _count_message(dims, target, divisible=True),
            )
        want = math.prod(target)
        return Problem(
            f"{want:,} values per sample",
            f"Layer {name!r} (Reshape) needs {want:,} values per sample for {format_shape(target)}, but "
            f"{format_shape(shape)} has {total:,}.",
            f"Reshape only rearranges values, it never adds or drops any: each sample has {have} values, and "
            f"{format_shape(target)} holds {times(target) + ' = ' if len(target) > 1 else ''}{want:,}. Write -1 for "
            "one size to let Reshape work it out.",
            _count_message(dims, target, divisible=False),
        )

    def suggest_fixes(self, shape, problem, context) -> list:
        """The -1 form that fits; sizes near the given one that divide the count; all values in one axis."""
        total, target, fixes = math.prod(shape[1:]), self.target_shape, []
        name = context.name

        def propose(new, why):
            fixes.append(
                context.set_setting(
                    "target_shape", tuple(new), description=f"set target_shape of {name} to {tuple(new)} ({why})"
                )
            )

        if -1 not in target:
            for i in reversed(range(len(target))):  # the -1 form, last axis first (the usual channel or feature axis)
                new = target[:i] + (-1,) + target[i + 1 :]
                known = math.prod(v for v in new if v != -1)
                if known and total % known == 0:
                    propose(new, f"the -1 becomes {total // known:,}")
                    break
        else:  # the fixed sizes do not divide the count: the nearest sizes that do
            for i in reversed(range(len(target))):
                if target[i] == -1:
                    continue
                rest = math.prod(v for j, v in enumerate(target) if j != i and v != -1)
                if not rest or total % rest:
                    continue
                divisors = [d for d in range(1, total // rest + 1) if (total // rest) % d == 0]
                for d in sorted(divisors, key=lambda d: (abs(d - target[i]), d))[:2]:
                    new = target[:i] + (d,) + target[i + 1 :]
                    propose(new, f"{d:,} divides the {total:,} values; the -1 becomes {total // (rest * d):,}")
                break
        if len(shape) > 1 and -1 not in target:
            propose((total,), f"all {total:,} values in one axis")
        return fixes[:3]

    def compute_output_shape(self, shape):
        return (shape[0], *self.resolved(shape))

    def cost(self, shape, output_shape) -> Cost:
        return Cost(output_is_view=True)  # a contiguous input (every kind's output is) reshapes without a copy

    def call(self, x):
        return x.reshape(x.shape[0], *self.resolved((None, *x.shape[1:])))

    def backward(self, cache, dy):
        return dy.reshape(cache.shape), []

    def label(self) -> str:
        return f"to {format_shape(self.target_shape)}"

    def explain_shape(self, shape, output_shape) -> str:
        dims, total, out = shape[1:], math.prod(shape[1:]), output_shape[1:]
        have = f"{times(dims)} = {total:,} values" if len(dims) > 1 else f"{total:,} value{'s' if total != 1 else ''}"
        if self.target_shape == (-1,):
            return f"{have}, all in one axis → {format_shape(out)}, in the same order."
        if -1 in self.target_shape:
            known = [v for v in self.target_shape if v != -1]
            return (
                f"{have}; the -1 becomes {total:,} / {times(known) or '1'} = {total // max(1, math.prod(known)):,} "
                f"→ {format_shape(out)}, same values in the same order."
            )
        return f"{have} → {format_shape(out)}, same values in the same order."

    def torch_code(self, shape) -> list[CodePart]:
        return [CodePart(f"KerasReshape({self.resolved(shape)!r})", {"KerasReshape": _TORCH_RESHAPE})]


def _count_message(dims, target, divisible: bool) -> str:
    """Keras's words when a Reshape's target does not hold the input's values."""
    if divisible:
        return (
            "The total size of the tensor must be unchanged, however, the input size cannot by divided by the "
            f"specified dimensions in target_shape. Received: input_shape={tuple(dims)}, target_shape={target}"
        )
    return f"The total size of the tensor must be unchanged. Received: input_shape={tuple(dims)}, target_shape={target}"


_TORCH_RESHAPE = '''class KerasReshape(nn.Module):
    """Keras's Reshape: each sample's values, in order, into `shape`."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)
'''
_TORCH_PERMUTE = '''class KerasPermute(nn.Module):
    """Keras's Permute: axes reordered by `dims` (1-based, the batch axis stays first)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x):
        return x.permute(0, *self.dims)
'''


# --- Permute ---------------------------------------------------------------------------------------------
@register
class Permute(Layer):
    """The axes after the batch axis in another order: dims (2, 1) swaps the two."""

    keeps_values = True  # its output holds its input's values: indices stay indices

    settings = (
        PermuteDims(
            "dims",
            (2, 1),
            "The new order of the axes, counted from 1 (the batch axis stays first).",
            required=True,
            min_length=0,
            max_length=MAX_INPUT_RANK,
            low=1,
            high=MAX_INPUT_RANK,
        ),
    )
    group = "Reshaping"
    description = "Reorders the axes: Permute((2, 1)) turns (None, 10, 64) into (None, 64, 10)."

    def input_spec(self) -> InputSpec:
        return InputSpec(ndim=len(self.dims) + 1)

    def rank_explanation(self, shape, name: str) -> str:
        return (
            f"dims {self.dims} reorders {len(self.dims)} axes, so the input needs exactly {len(self.dims)} axes after "
            f"the batch axis; {format_shape(shape)} has {len(shape) - 1}. dims must list every axis once."
        )

    def suggest_fixes(self, shape, problem, context) -> list:
        n = len(shape) - 1
        if n < 1:
            return []
        options = [(tuple(range(n, 0, -1)), "the axes in reverse order")]
        if n >= 3:
            options += [
                ((n, *range(1, n)), "the last axis first (channels_last → channels_first)"),
                ((*range(2, n + 1), 1), "the first axis last (channels_first → channels_last)"),
            ]
        return [
            context.set_setting("dims", dims, description=f"set dims of {context.name} to {dims} ({why})")
            for dims, why in options
        ]

    def compute_output_shape(self, shape):
        return (shape[0], *(shape[d] for d in self.dims))

    def keeps_order(self, shape) -> bool:
        """Whether the values stay in memory order (only axes of size 1 move): then it is a reshape."""
        moved = [d for d in self.dims if shape[d] != 1]
        return moved == sorted(moved)

    def cost(self, shape, output_shape) -> Cost:
        return _view_or_copy(self.keeps_order(shape), math.prod(output_shape[1:]))

    def call(self, x):
        if self.keeps_order((None, *x.shape[1:])):
            return x.reshape(x.shape[0], *(x.shape[d] for d in self.dims))
        return np.ascontiguousarray(x.transpose(0, *self.dims))  # one copy in the new order

    def backward(self, cache, dy):
        return dy.transpose(0, *(int(i) + 1 for i in np.argsort(self.dims))), []

    def label(self) -> str:
        return str(self.dims)

    def explain_shape(self, shape, output_shape) -> str:
        parts = [f"axis {i} ← input axis {d} ({shape[d]:,})" for i, d in enumerate(self.dims, 1)]
        return f"{'; '.join(parts)} → {format_shape(output_shape)}. The values are moved, not changed."

    def torch_code(self, shape) -> list[CodePart]:
        return [CodePart(f"KerasPermute({self.dims!r})", {"KerasPermute": _TORCH_PERMUTE})]


# --- RepeatVector ------------------------------------------------------------------------------------------
_TORCH_REPEAT_VECTOR = '''class RepeatVector(nn.Module):
    """Keras's RepeatVector: (batch, features) → (batch, n, features)."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x):
        return x.unsqueeze(1).repeat(1, self.n, 1)
'''


@register
class RepeatVector(Layer):
    """(batch, features) → (batch, n, features): the vector repeated n times."""

    keeps_values = True  # its output holds its input's values: indices stay indices

    settings = (
        Int("n", 2, "How many times the vector is repeated (a new axis of this size).", required=True, high=_BIG),
    )
    group = "Reshaping"
    description = "Repeats a vector n times: (None, 32) → (None, n, 32), to feed an encoding to every decoder step."

    def input_spec(self) -> InputSpec:
        return InputSpec(ndim=2, axis_names=("batch", "features"))

    def rank_explanation(self, shape, name: str) -> str:
        return (
            f"RepeatVector repeats one vector per sample, so it needs (batch, features); {format_shape(shape)} has "
            f"{len(shape)} axes. Flatten first turns any sample into one vector."
        )

    def suggest_fixes(self, shape, problem, context) -> list:
        return [
            context.insert(
                "Flatten", {}, f"insert Flatten before {context.name} (it gives (None, {math.prod(shape[1:]):,}))"
            )
        ]

    def compute_output_shape(self, shape):
        return (shape[0], self.n, shape[1])

    def cost(self, shape, output_shape) -> Cost:
        return _view_or_copy(self.n == 1, math.prod(output_shape[1:]))

    def call(self, x):
        if self.n == 1:
            return x.reshape(x.shape[0], 1, x.shape[1])
        return np.repeat(x[:, None, :], self.n, axis=1)

    def backward(self, cache, dy):
        return dy.sum(axis=1), []

    def label(self) -> str:
        return f"×{self.n:,}"

    def explain_shape(self, shape, output_shape) -> str:
        return (
            f"The {shape[1]:,} features are repeated {self.n:,} times along a new axis → {format_shape(output_shape)}."
        )

    def torch_code(self, shape) -> list[CodePart]:
        return [CodePart(f"RepeatVector({self.n})", {"RepeatVector": _TORCH_REPEAT_VECTOR})]


# --- ZeroPadding1D / 2D ------------------------------------------------------------------------------------
class _Padding(_Spatial):
    """Zeros added before and after each spatial axis."""

    keeps_values = True  # its output holds its input's values: indices stay indices

    def pairs(self) -> tuple[tuple[int, int], ...]:
        return (self.padding,) if self.rank == 3 else self.padding

    def compute_output_shape(self, shape):
        out = list(shape)
        for axis, (a, b) in zip(self.spatial_axes(), self.pairs()):
            out[axis] += a + b
        return tuple(out)

    def cost(self, shape, output_shape) -> Cost:
        return _view_or_copy(not any(map(any, self.pairs())), math.prod(output_shape[1:]))

    def call(self, x):
        if not any(map(any, self.pairs())):
            return x
        shape = self.compute_output_shape(x.shape)
        out = np.zeros(shape, dtype=x.dtype)
        out[
            _slices(
                shape,
                self.spatial_axes(),
                [(a, a + x.shape[i]) for i, (a, _) in zip(self.spatial_axes(), self.pairs())],
            )
        ] = x
        return out

    def backward(self, cache, dy):
        axes = self.spatial_axes()
        return np.ascontiguousarray(
            dy[_slices(dy.shape, axes, [(a, a + cache.shape[i]) for i, (a, _) in zip(axes, self.pairs())])]
        ), []

    def explain_shape(self, shape, output_shape) -> str:
        parts = [
            f"{self.axis_names()[axis]} {shape[axis]:,} + {a:,} + {b:,} = {output_shape[axis]:,}"
            for axis, (a, b) in zip(self.spatial_axes(), self.pairs())
        ]
        return "; ".join(parts) + f" (zeros added at both ends) → {format_shape(output_shape)}."

    def label(self) -> str:
        text = "pad " + "; ".join(f"{a}, {b}" for a, b in self.pairs())
        return text + (" channels_first" if self.data_format == "channels_first" else "")

    def torch_code(self, shape) -> list[CodePart]:
        # torch's ZeroPadNd pads the last N axes, last axis first: (left, right, top, bottom, ...)
        pads, first = [], self.spatial_axes()[0]
        for axis in range(len(shape) - 1, first - 1, -1):
            pair = self.pairs()[axis - first] if axis in self.spatial_axes() else (0, 0)
            pads += list(pair)
        module = {2: "nn.ZeroPad1d", 4: "nn.ZeroPad2d", 6: "nn.ZeroPad3d"}[len(pads)]
        return [CodePart(f"{module}({tuple(pads)!r})")]


@register
class ZeroPadding1D(_Padding):
    settings = (
        Pair("padding", (1, 1), "Zeros added at the start and the end of the steps axis (one number: both)."),
        DataFormat(
            "data_format", "channels_last", "channels_first: the steps axis is the last one (batch, channels, steps)."
        ),
    )
    description = "Adds zeros at the start and end of a sequence, e.g. (None, 10, 8) → (None, 12, 8)."


@register
class ZeroPadding2D(_Padding):
    settings = (
        Pair2D(
            "padding",
            ((1, 1), (1, 1)),
            "Zero rows and columns added: one number, (height, width), or ((top, bottom), (left, right)).",
        ),
        DataFormat("data_format", "channels_last", "channels_first: (batch, channels, height, width)."),
    )
    rank = 4
    description = "Adds a border of zeros around each image, e.g. (None, 28, 28, 1) → (None, 30, 30, 1)."


# --- Cropping1D / 2D ------------------------------------------------------------------------------------
class _Cropping(_Spatial):
    """Values removed at the start and end of each spatial axis."""

    keeps_values = True  # its output holds its input's values: indices stay indices

    def pairs(self) -> tuple[tuple[int, int], ...]:
        return (self.cropping,) if self.rank == 3 else self.cropping

    def check_shape(self, shape, name: str) -> Problem | None:
        axes, pairs = self.spatial_axes(), self.pairs()
        bad = [(axis, a, b) for axis, (a, b) in zip(axes, pairs) if a + b >= shape[axis]]
        if not bad:
            return None
        axis, a, b = bad[0]
        word = self.axis_names()[axis]
        if self.rank == 3:
            keras = (
                "`cropping` parameter of `Cropping1D` layer must be smaller than the input length. "
                f"Received: input_shape={tuple(shape)}, cropping={self.cropping}"
            )
        else:
            keras = (
                "Values in `cropping` argument should be smaller than the corresponding spatial dimension of the "
                f"input. Received: input_shape={tuple(shape)}, cropping={self.cropping}"
            )
        left = shape[axis] - a - b
        return Problem(
            f"a {word} axis longer than {a + b:,} (what is cropped from it)",
            f"Layer {name!r} ({self.kind}) crops {a:,} + {b:,} = {a + b:,} from the {word} axis of "
            f"{format_shape(shape)}, which has only {shape[axis]:,}.",
            f"Cropping removes {a:,} at the start and {b:,} at the end of the {word} axis; "
            f"{shape[axis]:,} − {a:,} − {b:,} = {'−' if left < 0 else ''}{abs(left):,} would remain, "
            "and at least 1 must.",
            keras,
        )

    def suggest_fixes(self, shape, problem, context) -> list:
        if len(shape) != self.rank:
            return self.rank_fixes(shape, context)
        new = []
        for axis, (a, b) in zip(self.spatial_axes(), self.pairs()):
            keep = shape[axis] - 1  # crop at most all but one
            a2 = min(a, keep)
            new.append((a2, min(b, keep - a2)))
        value = new[0] if self.rank == 3 else tuple(new)
        return [
            context.set_setting(
                "cropping", value, description=f"set cropping of {context.name} to {value} (at least one remains)"
            )
        ]

    def compute_output_shape(self, shape):
        out = list(shape)
        for axis, (a, b) in zip(self.spatial_axes(), self.pairs()):
            out[axis] -= a + b
        return tuple(out)

    def cost(self, shape, output_shape) -> Cost:
        return _view_or_copy(not any(map(any, self.pairs())), math.prod(output_shape[1:]))

    def bounds(self, shape):
        return [(a, shape[axis] - b) for axis, (a, b) in zip(self.spatial_axes(), self.pairs())]

    def call(self, x):
        if not any(map(any, self.pairs())):
            return x
        return x[_slices(x.shape, self.spatial_axes(), self.bounds(x.shape))].copy()  # contiguous, as every output

    def backward(self, cache, dy):
        dx = np.zeros(cache.shape, dtype=dy.dtype)
        dx[_slices(cache.shape, self.spatial_axes(), self.bounds(cache.shape))] = dy
        return dx, []

    def explain_shape(self, shape, output_shape) -> str:
        parts = [
            f"{self.axis_names()[axis]} {shape[axis]:,} − {a:,} − {b:,} = {output_shape[axis]:,}"
            for axis, (a, b) in zip(self.spatial_axes(), self.pairs())
        ]
        return "; ".join(parts) + f" (values removed at both ends) → {format_shape(output_shape)}."

    def label(self) -> str:
        text = "crop " + "; ".join(f"{a}, {b}" for a, b in self.pairs())
        return text + (" channels_first" if self.data_format == "channels_first" else "")

    def torch_code(self, shape) -> list[CodePart]:
        bounds = dict(zip(self.spatial_axes(), self.bounds(shape)))
        args = ", ".join(repr(bounds.get(axis, (None, None))) for axis in range(1, len(shape)))
        return [CodePart(f"Crop({args})", {"Crop": _TORCH_CROP})]


_TORCH_CROP = '''class Crop(nn.Module):
    """Keras's Cropping: keep [start, stop) of each axis after the batch axis ((None, None): all of it)."""

    def __init__(self, *bounds):
        super().__init__()
        self.bounds = bounds

    def forward(self, x):
        return x[(slice(None), *(slice(start, stop) for start, stop in self.bounds))]
'''


@register
class Cropping1D(_Cropping):
    settings = (Pair("cropping", (1, 1), "Steps removed at the start and at the end (one number: both)."),)
    description = "Removes steps at the start and end of a sequence, e.g. (None, 10, 8) → (None, 8, 8)."


@register
class Cropping2D(_Cropping):
    settings = (
        Pair2D(
            "cropping",
            ((0, 0), (0, 0)),
            "Rows and columns removed: one number, (height, width), or ((top, bottom), (left, right)).",
        ),
        DataFormat("data_format", "channels_last", "channels_first: (batch, channels, height, width)."),
    )
    rank = 4
    description = "Removes rows and columns at the edges of each image, e.g. (None, 32, 32, 3) → (None, 28, 28, 3)."


# --- UpSampling1D / 2D ------------------------------------------------------------------------------------
_TORCH_REPEAT_AXES = '''class RepeatAxes(nn.Module):
    """Keras's nearest UpSampling: each value repeated `size` times along its axis, axis by axis."""

    def __init__(self, *axis_sizes):
        super().__init__()
        self.axis_sizes = axis_sizes

    def forward(self, x):
        for axis, size in self.axis_sizes:
            x = x.repeat_interleave(size, dim=axis)
        return x
'''


@functools.lru_cache(maxsize=64)
def _bilinear_taps(m: int, s: int):
    """(first index, second index, first weight, second weight) of each output along an axis of `m` upsampled `s` times.

    The weights are Keras's bit for bit: its NumPy backend builds a triangle-kernel matrix in float64 (half-pixel
    centres, each column divided by its sum, so an edge output takes its one neighbour whole) and casts it to float32.
    Upsampling, a column has at most two nonzero entries, at floor(sample) and the next; they are computed here
    alone."""
    n = m * s
    inv = 1.0 / (n / m)
    sample = (np.arange(n, dtype=np.float64) + 0.5) * inv - 0.0 * inv - 0.5
    low = np.floor(sample)
    weights = [np.where((k >= 0) & (k <= m - 1), np.maximum(0, 1 - np.abs(sample - k)), 0.0) for k in (low, low + 1)]
    total = weights[0] + weights[1]  # Keras's column sum: the other entries are exact zeros
    scale = np.where(total != 0, total, 1)
    keep = (np.abs(total) > 1000.0 * np.finfo(np.float32).eps) & (sample >= -0.5) & (sample <= m - 0.5)
    w0, w1 = (np.where(keep, w / scale, 0).astype(np.float32) for w in weights)
    first, second = (np.clip(k, 0, m - 1).astype(np.intp) for k in (low, low + 1))
    # cached and shared (computed once per length and factor); the indices stay writeable only because
    # np.take copies a read-only index array on every call
    w0.flags.writeable = w1.flags.writeable = False
    return first, second, w0, w1


def _interpolate_axis(x, axis: int, taps, backward_to: int | None = None):
    """Along `axis`: out[j] = w0[j]·x[i0[j]] + w1[j]·x[i1[j]]; with `backward_to` (the input's length), that map's
    transpose."""
    first, second, w0, w1 = taps
    if backward_to is not None:  # a dense transpose: for training, exactness and simplicity matter more than speed
        columns = np.arange(len(first))
        matrix = np.zeros((backward_to, len(first)), x.dtype)
        np.add.at(matrix, (first, columns), w0)
        np.add.at(matrix, (second, columns), w1)
        return np.moveaxis(np.tensordot(x, matrix, axes=([axis], [1])), -1, axis)
    trailing = x.shape[axis + 1 :]
    out = np.take(x, first, axis=axis)
    out *= _weights_along(w0, trailing, x.dtype)
    other = np.take(x, second, axis=axis)
    other *= _weights_along(w1, trailing, x.dtype)
    out += other
    return out


_SPREAD = 4096  # elements: a weight array spread over the trailing axes stays this small


def _weights_along(w, trailing, dtype):
    """`w` shaped to broadcast along its axis; repeated over short trailing axes (a few channels), so NumPy's
    multiply runs over contiguous blocks rather than once per few values."""
    block = math.prod(trailing)
    column = w.astype(dtype, copy=False).reshape(-1, *(1,) * len(trailing))
    if 1 < block < 64 and len(w) * block <= _SPREAD:
        return np.ascontiguousarray(np.broadcast_to(column, (len(w), *trailing)))
    return column


class _UpSampling(_Spatial):
    """Each step (or pixel) repeated `size` times along its spatial axes."""

    interpolation = "nearest"  # UpSampling2D's setting; UpSampling1D only repeats

    @property
    def train_call_microseconds(self) -> int:
        """forward_train and backward of a step whatever the batch (measured at batch 1)."""
        return 100 if self.bilinear() else 15

    def sizes(self) -> tuple[int, ...]:
        return (self.size,) if self.rank == 3 else self.size

    def compute_output_shape(self, shape):
        out = list(shape)
        for axis, s in zip(self.spatial_axes(), self.sizes()):
            out[axis] *= s
        return tuple(out)

    def bilinear(self) -> bool:
        return self.interpolation == "bilinear"

    def cost(self, shape, output_shape) -> Cost:
        out = math.prod(output_shape[1:])
        if all(s == 1 for s in self.sizes()):
            return Cost(output_is_view=True)
        if (
            not self.bilinear()
        ):  # one broadcast copy; training sums each block back (a strided sum: ~16 operations a value)
            return Cost(elementwise=out, train_elementwise=16 * out)
        # per scaled axis: two gathers, two products and a sum on that step's output; the second gather's buffer
        # lives beside the output, and (both axes scaled) so does the first axis's result
        steps, current = [], list(shape)
        for axis, s in zip(self.spatial_axes(), self.sizes()):
            if s > 1:
                current[axis] *= s
                steps.append(math.prod(current[1:]))
        return Cost(elementwise=5 * sum(steps), scratch=out + sum(steps[:-1]))

    def call(self, x):
        sizes, axes = self.sizes(), self.spatial_axes()
        if all(s == 1 for s in sizes):
            return x
        if self.bilinear():
            for axis, s in zip(axes, sizes):
                if s > 1:
                    x = _interpolate_axis(x, axis, _bilinear_taps(x.shape[axis], s))
            return x
        # nearest: a broadcast view with a size-s axis after each spatial axis, copied once into the output
        expanded, target = x, list(x.shape)
        for axis, s in sorted(zip(axes, sizes), reverse=True):
            expanded = np.expand_dims(expanded, axis + 1)
            target.insert(axis + 1, s)
        # (reshaping a broadcast copies, except where a spatial axis has size 1: then ascontiguousarray copies instead)
        return np.ascontiguousarray(np.broadcast_to(expanded, target).reshape(self.compute_output_shape(x.shape)))

    def backward(self, cache, dy):
        sizes, axes = self.sizes(), self.spatial_axes()
        if self.bilinear():
            for axis, s in reversed(list(zip(axes, sizes))):
                if s > 1:
                    dy = _interpolate_axis(
                        dy, axis, _bilinear_taps(cache.shape[axis], s), backward_to=cache.shape[axis]
                    )
            return np.ascontiguousarray(dy), []
        split = list(cache.shape)
        for axis, s in sorted(zip(axes, sizes), reverse=True):
            split.insert(axis + 1, s)
        summed = tuple(axis + 1 + k for k, axis in enumerate(sorted(axes)))
        return dy.reshape(split).sum(axis=summed), []

    def label(self) -> str:
        text = "×".join(map(str, self.sizes())) if self.rank == 4 else f"×{self.size:,}"
        if self.rank == 4:
            text += f" {self.interpolation}" + (" channels_first" if self.data_format == "channels_first" else "")
        return text

    def explain_shape(self, shape, output_shape) -> str:
        parts = [
            f"{self.axis_names()[axis]} {shape[axis]:,}×{s:,} = {output_shape[axis]:,}"
            for axis, s in zip(self.spatial_axes(), self.sizes())
        ]
        how = (
            "each new value is interpolated between its two nearest neighbours"
            if self.bilinear()
            else (
                f"each pixel becomes a {times(self.sizes())} block"
                if self.rank == 4
                else f"each step is repeated {self.size:,} times"
            )
        )
        return f"{'; '.join(parts)}: {how} → {format_shape(output_shape)}."

    def torch_code(self, shape) -> list[CodePart]:
        if not self.bilinear():
            pairs = ", ".join(repr((axis, s)) for axis, s in zip(self.spatial_axes(), self.sizes()) if s > 1)
            return [CodePart(f"RepeatAxes({pairs})", {"RepeatAxes": _TORCH_REPEAT_AXES})]
        # torch's bilinear Upsample (align_corners=False) samples as Keras does; it wants channels first
        upsample = CodePart(
            f'nn.Upsample(scale_factor={tuple(float(s) for s in self.sizes())!r}, mode="bilinear", align_corners=False)'
        )
        if self.data_format == "channels_first":
            return [upsample]
        permute = {"KerasPermute": _TORCH_PERMUTE}
        return [CodePart("KerasPermute((3, 1, 2))", permute), upsample, CodePart("KerasPermute((2, 3, 1))", permute)]


@register
class UpSampling1D(_UpSampling):
    settings = (Int("size", 2, "How many times each step is repeated.", high=_BIG),)
    description = "Repeats each step of a sequence, e.g. (None, 10, 8) → (None, 20, 8) with size 2."


@register
class UpSampling2D(_UpSampling):
    settings = (
        Ints("size", (2, 2), "How many times each row and each column is repeated: (height, width).", low=1, high=_BIG),
        DataFormat("data_format", "channels_last", "channels_first: (batch, channels, height, width)."),
        Interpolation("interpolation", "nearest", "nearest repeats pixels; bilinear interpolates between neighbours."),
    )
    rank = 4
    description = (
        "Enlarges each image by repeating (or interpolating) pixels, e.g. (None, 14, 14, 8) → (None, 28, 28, 8)."
    )
