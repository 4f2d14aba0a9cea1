"""The activation layers with settings of their own: ReLU, LeakyReLU, Softmax, ELU and PReLU (which learns its
slopes)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import activations
from ..errors import LayerConfigError
from ..layer import CodePart, Cost, InputSpec, Layer, Problem, WeightSpec, register
from ..settings import Axis, Init, Setting, _ints_from_text, _is_int, _short
from ..shapes import format_shape, times


# --- settings these kinds need beyond the shared ones ---------------------------------------------------
@dataclass(frozen=True)
class Number(Setting):
    """A finite number ≥ `low` with no upper bound (Keras checks only the sign); `optional` also allows None."""

    low: float = -math.inf
    optional: bool = False

    @property
    def widget(self) -> str:
        return "text" if self.optional else "float"

    def check(self, value):
        if value is None and self.optional:
            return None
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            self.fail(value, self.allowed)
        value = float(value)
        if not math.isfinite(value) or value < self.low:
            self.fail(value, self.allowed)
        return value

    def format_text(self, value) -> str:
        return "" if value is None else f"{value:g}"

    def parse_text(self, text: str):
        text = str(text).strip()
        if not text and self.optional:
            return None
        try:
            return self.check(float(text[:40]))
        except ValueError:
            return self.fail(text, self.allowed)

    @property
    def allowed(self) -> str:
        what = "a number" if self.low == -math.inf else f"a number ≥ {self.low:g}"
        return what + (", or empty for none" if self.optional else "")


@dataclass(frozen=True)
class SoftmaxAxis(Axis):
    """One axis; a one-element list is that axis, kept as a one-element tuple (Keras writes back what it was given).
    Several axes are refused (see Softmax)."""

    def check(self, value):
        if isinstance(value, (tuple, list)) and len(value) == 1:
            return (super().check(value[0]),)
        if isinstance(value, (tuple, list)):
            raise LayerConfigError(
                f"axis must be one axis; received {_short(value)}. Keras runs a softmax over several axes only when "
                "they are given as a tuple in code: its own JSON turns them into a list it then cannot call, so "
                "netbuilder takes one axis (flatten those axes together first to normalise over them)."
            )
        return super().check(value)

    widget = "text"  # an int, or [int] as Keras keeps it

    def format_text(self, value) -> str:
        return f"[{value[0]}]" if isinstance(value, tuple) else str(value)

    def parse_text(self, text: str):
        text = str(text).strip()
        inner = text[1:-1].strip() if text[:1] == "[" and text[-1:] == "]" else None
        try:
            axis = int(text if inner is None else inner)
        except ValueError:
            self.fail(text[:40], f"an axis from {self.low} to {self.high}, as a number or a one-element list")
        return self.check(axis if inner is None else [axis])


@dataclass(frozen=True)
class SharedAxes(Setting):
    """None, or axes (an int or a list) along which PReLU shares one alpha; counted as Keras's build counts them."""

    low: int = -5
    high: int = 5

    def check(self, value):
        if value is None:
            return None
        if _is_int(value):
            value = (value,)
        what = f"empty (no sharing), or axes from {self.low} to {self.high} such as 1, 2"
        if (
            not isinstance(value, (tuple, list))
            or len(value) > 6
            or not all(_is_int(v) and self.low <= v <= self.high for v in value)
        ):
            self.fail(value, what)
        return tuple(int(v) for v in value)

    def format_text(self, value) -> str:
        return "" if value is None else ", ".join(map(str, value))

    def parse_text(self, text: str):
        return None if not str(text).strip() else self.check(_ints_from_text(self.name, text))

    @property
    def allowed(self) -> str:
        return f"empty, or axes from {self.low} to {self.high} (1 is the first after the batch)"


def _fmt(value: float) -> str:
    return f"{value:g}"


class _ElementwiseLayer(Layer):
    """What the five kinds share: the shape passes through; built when made (Keras writes no build_config)."""

    group = "Activations"
    keeps_shape = True
    builds_at_init = True


# --- ReLU -----------------------------------------------------------------------------------------------
@register
class ReLU(_ElementwiseLayer):
    """max(x, 0), optionally capped at max_value, with a slope below a threshold: Keras's ReLU layer."""

    settings = (
        Number(
            "max_value",
            None,
            "The largest value the layer returns (empty: no cap). 6 gives ReLU6.",
            low=0.0,
            optional=True,
        ),
        Number("negative_slope", 0.0, "Slope below the threshold (0: values there become 0).", low=0.0),
        Number(
            "threshold", 0.0, "Values at or below it are damped: they become negative_slope × (x − threshold).", low=0.0
        ),
    )
    description = "max(x, 0), with an optional cap (max_value), slope below zero and threshold."

    @property
    def _leaky_only(self) -> bool:
        """Keras takes its leaky_relu shortcut: max(x, slope·x)."""
        return self.negative_slope != 0 and self.max_value is None and self.threshold == 0

    def cost(self, shape, output_shape) -> Cost:
        n = math.prod(shape[1:])
        if self.negative_slope == 0 and self.threshold == 0:
            return Cost(elementwise=2 * n if self.max_value is None else 4 * n)
        if self.negative_slope == 0:
            return Cost(elementwise=40 * n + (2 * n if self.max_value is not None else 0), scratch=n // 4 + 1)
        if self._leaky_only:
            return Cost(elementwise=3 * n)
        # the damped part relu(threshold − x) is one temporary; a threshold adds Keras's np.where on the
        # mask `x > threshold`, which costs ~25 to 50 adds per element on random signs
        if self.threshold == 0:
            return Cost(elementwise=12 * n, scratch=n)
        return Cost(elementwise=45 * n, scratch=n + n // 4 + 1)

    def call(self, x):
        zero = np.array(0.0, x.dtype)
        slope = np.array(self.negative_slope, x.dtype)
        if self._leaky_only:
            y = slope * x
            return np.maximum(x, y, out=y)
        if self.threshold != 0:
            t = np.array(self.threshold, x.dtype)
            y = np.where(x > t, x, zero)
        else:
            y = np.maximum(x, zero)
        if self.max_value is not None:
            np.minimum(y, np.array(self.max_value, x.dtype), out=y)  # Keras clips to [0, max_value]: y ≥ 0 already
        if self.negative_slope != 0:
            damped = (
                np.subtract(t, x) if self.threshold != 0 else np.negative(x)
            )  # Keras's `-x + threshold`, the same bits
            np.maximum(damped, zero, out=damped)
            damped *= slope
            y -= damped
        return y

    def forward_train(self, x, rng):
        return self.call(x), x

    def backward(self, x, dy):
        t, cap, slope = self.threshold, math.inf if self.max_value is None else self.max_value, self.negative_slope
        if self._leaky_only:  # max(x, slope·x): which side wins decides the slope (x at 0 counts as the x side, as JAX)
            return dy * np.where(x >= slope * x, 1.0, slope).astype(x.dtype), []
        slopes = ((x > t) & (x < cap)) + slope * (x < t)
        if self.max_value is not None and not (self.threshold == 0 and self.max_value == 6):
            slopes = slopes + 0.5 * ((x == cap) & (x > t))  # JAX's clip splits the slope at its bound (relu6 does not)
        return dy * slopes.astype(x.dtype), []

    def label(self) -> str:
        parts = []
        if self.max_value is not None:
            parts.append(f"max {_fmt(self.max_value)}")
        if self.negative_slope:
            parts.append(f"slope {_fmt(self.negative_slope)}")
        if self.threshold:
            parts.append(f"threshold {_fmt(self.threshold)}")
        return ", ".join(parts)

    def explain_shape(self, shape, output_shape) -> str:
        t = _fmt(self.threshold)
        rule = f"x above {t} passes" if self.threshold else "positive x passes"
        if self.max_value is not None:
            rule += f" (capped at {_fmt(self.max_value)})"
        below = f"{_fmt(self.negative_slope)} × (x − {t})" if self.threshold else f"{_fmt(self.negative_slope)} × x"
        rule += f"; below, {below}" if self.negative_slope else "; the rest becomes 0"
        return f"Every value on its own: {rule}. The shape {format_shape(shape)} is unchanged."

    def torch_code(self, shape) -> list[CodePart]:
        if self.threshold == 0 and self.negative_slope == 0:
            if self.max_value is None:
                return [CodePart("nn.ReLU()")]
            if self.max_value == 6:
                return [CodePart("nn.ReLU6()")]
            if self.max_value > 0:
                return [CodePart(f"nn.Hardtanh(0.0, {self.max_value!r})")]  # clamp to [0, max_value]
        if self._leaky_only and self.negative_slope <= 1:
            return [CodePart(f"nn.LeakyReLU(negative_slope={self.negative_slope!r})")]
        args = f"max_value={self.max_value!r}, negative_slope={self.negative_slope!r}, threshold={self.threshold!r}"
        return [CodePart(f"KerasReLU({args})", {"KerasReLU": _TORCH_RELU})]


_TORCH_RELU = '''class KerasReLU(nn.Module):
    """Keras's ReLU layer: x above threshold passes (capped at max_value); below, negative_slope * (x - threshold)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0):
        super().__init__()
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def forward(self, x):
        if self.negative_slope and self.max_value is None and not self.threshold:
            return torch.maximum(x, self.negative_slope * x)  # Keras's leaky_relu, also for slopes above 1
        y = torch.where(x > self.threshold, x, torch.zeros_like(x))
        if self.max_value is not None:
            y = torch.clamp(y, max=self.max_value)
        if self.negative_slope:
            y = y - self.negative_slope * torch.relu(self.threshold - x)
        return y
'''


# --- LeakyReLU ------------------------------------------------------------------------------------------
@register
class LeakyReLU(_ElementwiseLayer):
    """max(x, negative_slope·x) (Keras 3 renamed Keras 2's `alpha` to negative_slope)."""

    settings = (Number("negative_slope", 0.3, "Slope for negative values (Keras 2 called it alpha).", low=0.0),)
    description = "Negative values scaled by a small slope (0.3) instead of set to 0."

    def __init__(self, *args, **kwargs):
        if "alpha" in kwargs:  # Keras 3 still accepts Keras 2's name, and it wins over negative_slope
            kwargs["negative_slope"] = kwargs.pop("alpha")
            args = args[1:]
        super().__init__(*args, **kwargs)

    @classmethod
    def settings_from_config(cls, config: dict) -> dict:
        if "negative_slope" not in config and "alpha" in config:  # a Keras 2 config
            config = {**config, "negative_slope": config["alpha"]}
        return super().settings_from_config(config)

    def cost(self, shape, output_shape) -> Cost:
        return Cost(elementwise=3 * math.prod(shape[1:]))  # a product and a max

    def call(self, x):
        y = np.array(self.negative_slope, x.dtype) * x
        return np.maximum(x, y, out=y)

    def forward_train(self, x, rng):
        return self.call(x), x

    def backward(self, x, dy):
        return dy * np.where(x >= self.negative_slope * x, 1.0, self.negative_slope).astype(x.dtype), []

    def label(self) -> str:
        return f"slope {_fmt(self.negative_slope)}"

    def explain_shape(self, shape, output_shape) -> str:
        return (
            f"Every value on its own: max(x, {_fmt(self.negative_slope)} × x), so negative values keep a small slope. "
            f"The shape {format_shape(shape)} is unchanged."
        )

    def torch_code(self, shape) -> list[CodePart]:
        if self.negative_slope <= 1:
            return [CodePart(f"nn.LeakyReLU(negative_slope={self.negative_slope!r})")]
        # above 1, max(x, slope·x) takes slope·x for positive x: not torch's LeakyReLU
        return [CodePart(f"KerasReLU(negative_slope={self.negative_slope!r})", {"KerasReLU": _TORCH_RELU})]


# --- Softmax --------------------------------------------------------------------------------------------
@register
class Softmax(_ElementwiseLayer):
    """exp(x − max) / Σ exp(x − max) along one axis: each slice along it becomes probabilities summing to 1."""

    train_call_microseconds = 30  # forward_train and backward of a step whatever the batch (measured at batch 1)

    settings = (SoftmaxAxis("axis", -1, "The axis whose values become probabilities (-1: the last)."),)
    description = "Turns the values along one axis (the last by default) into probabilities that sum to 1."

    @property
    def _axis(self) -> int:
        """The axis, written as one int or (as Keras keeps it) a one-element list."""
        return self.axis[0] if isinstance(self.axis, tuple) else self.axis

    def _resolved(self, shape) -> int | None:
        """The axis as a non-negative index of `shape`, or None when it is out of range."""
        axis = self._axis + len(shape) if self._axis < 0 else self._axis
        return axis if 0 <= axis < len(shape) else None

    def check_shape(self, shape, name: str) -> Problem | None:
        axis = self._resolved(shape)
        if axis is None:
            return Problem(
                f"an axis from {-len(shape)} to {len(shape) - 1}",
                f"Layer {name!r} (Softmax) normalises along axis {self._axis}, but its input {format_shape(shape)} has "
                f"only {len(shape)} axes (0 to {len(shape) - 1}, or -{len(shape)} to -1 counting from the end).",
                "axis says which axis holds the values that become probabilities. Keras accepts the layer and fails "
                "only when it runs; netbuilder says so up front. -1 (the last axis) is the usual choice.",
                f"axis {self._axis} is out of bounds for array of dimension {len(shape)}",
            )
        if axis == 0:
            return Problem(
                "an axis other than the batch axis",
                f"Layer {name!r} (Softmax) normalises along axis {self._axis}, which is the batch axis of "
                f"{format_shape(shape)}.",
                "Axis 0 counts samples. Normalising across it makes each sample's output depend on which other "
                "samples share its batch (Keras runs it on batches of 32), so netbuilder refuses it. Pick an axis "
                "of the sample itself, usually -1.",
            )
        return None

    def suggest_fixes(self, shape, problem, context) -> list:
        # on a batch-only tensor no axis is left: a softmax over one value would always give 1, so no fix but removal
        return [context.set_setting("axis", -1)] if len(shape) >= 2 else []

    def cost(self, shape, output_shape) -> Cost:
        n = math.prod(shape[1:])
        return Cost(
            elementwise=activations.COST["softmax"].ops * n, scratch=2 * (n // shape[self._resolved(shape)]) + 1
        )

    def call(self, x):
        # Keras's formula, in place on one buffer: x − max, exp, then ÷ the sum (the same bits as Keras's)
        with np.errstate(invalid="ignore", over="ignore"):
            y = np.subtract(x, np.max(x, axis=self._axis, keepdims=True))
            np.exp(y, out=y)
            y /= np.sum(y, axis=self._axis, keepdims=True)
        return y

    def forward_train(self, x, rng):
        y = self.call(x)
        return y, y

    def backward(self, y, dy):
        return y * (dy - np.sum(dy * y, axis=self._axis, keepdims=True)), []

    def label(self) -> str:
        return "" if self._axis == -1 else f"axis {self._axis}"

    def explain_shape(self, shape, output_shape) -> str:
        axis = self._resolved(shape)
        where = "the last axis" if axis == len(shape) - 1 else f"axis {axis}"
        return (
            f"Along {where} ({shape[axis]:,} values), exp(x − max) is divided by its sum, so each of the "
            f"{math.prod(d for i, d in enumerate(shape[1:], 1) if i != axis):,} slices per sample sums to 1. "
            f"The shape {format_shape(shape)} is unchanged."
        )

    def keras_code(self) -> CodePart:
        return CodePart(f"keras.layers.Softmax(axis={self.axis!r}, name={self.name!r})")

    def torch_code(self, shape) -> list[CodePart]:
        return [CodePart(f"nn.Softmax(dim={self._resolved(shape)})")]


# --- ELU ------------------------------------------------------------------------------------------------
@register
class ELU(_ElementwiseLayer):
    """x for x ≥ 0, alpha·(exp(x) − 1) below: a smooth negative side that saturates at −alpha."""

    keras_config_order = ("name", "alpha")

    settings = (Number("alpha", 1.0, "Scale of the negative side: it approaches −alpha."),)
    description = "x for positive values, alpha·(exp(x) − 1) for negative ones: smooth, saturating at −alpha."

    def cost(self, shape, output_shape) -> Cost:
        n = math.prod(shape[1:])
        return Cost(elementwise=10 * n, scratch=n)  # max(x, 0) beside the output

    def call(self, x):
        # Keras's np.where(x >= 0, x, alpha * expm1(x)) without a mask (a random-sign mask costs ~25 to 50 adds
        # per element): alpha·expm1(min(x, 0)) is Keras's value below 0 and 0 above, and max(x, 0) adds x there
        zero = np.array(0.0, x.dtype)
        y = np.minimum(x, zero)
        np.expm1(y, out=y)
        y *= np.array(self.alpha, x.dtype)
        y += np.maximum(x, zero)
        return y

    def forward_train(self, x, rng):
        return self.call(x), x

    def backward(self, x, dy):
        # x > 0: slope 1; at and below 0 (JAX's side at 0): alpha·exp(x), not y + alpha, which cancels far out
        below = np.exp(np.minimum(x, np.array(0.0, x.dtype))) * np.array(self.alpha, x.dtype)
        return dy * np.where(x > 0, np.array(1.0, x.dtype), below), []

    def label(self) -> str:
        return "" if self.alpha == 1 else f"alpha {_fmt(self.alpha)}"

    def explain_shape(self, shape, output_shape) -> str:
        return (
            f"Every value on its own: x if x ≥ 0, else {_fmt(self.alpha)} × (exp(x) − 1). "
            f"The shape {format_shape(shape)} is unchanged."
        )

    def torch_code(self, shape) -> list[CodePart]:
        return [CodePart(f"nn.ELU(alpha={self.alpha!r})")]


# --- PReLU ----------------------------------------------------------------------------------------------
_TORCH_PRELU = '''class ElementwisePReLU(nn.Module):
    """Keras's PReLU: one learned slope per element of a sample (size-1 axes shared), not per channel as nn.PReLU."""

    def __init__(self, *alpha_shape):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(alpha_shape))

    def forward(self, x):
        return torch.relu(x) - self.alpha * torch.relu(-x)
'''


@register
class PReLU(_ElementwiseLayer):
    """max(x, 0) + alpha·min(x, 0) with a learned alpha per element (shared along `shared_axes`)."""

    keras_config_order = (
        "name",
        "trainable",
        "dtype",
        "alpha_initializer",
        "alpha_regularizer",
        "alpha_constraint",
        "shared_axes",
    )

    settings = (
        Init("alpha_initializer", "zeros", "How the slopes start (zeros: as relu until training)."),
        SharedAxes(
            "shared_axes",
            None,
            "Axes along which one slope is shared (e.g. 1, 2 for one per channel "
            "of an image); empty: one slope per element.",
        ),
    )
    description = "Like LeakyReLU, but the negative slope is learned: one per element, or shared along some axes."
    builds_at_init = False
    keras_extra_config = {
        "alpha_regularizer": None,
        "alpha_constraint": None,
    }

    def __init__(self, *args, **kwargs):
        if (
            len(args) > 1
        ):  # Keras's positional arguments: alpha_initializer, alpha_regularizer, alpha_constraint, shared_axes
            raise LayerConfigError(
                "PReLU takes alpha_initializer positionally and shared_axes by name "
                "(PReLU(shared_axes=[1, 2])): Keras's second and third positional arguments are "
                "alpha_regularizer and alpha_constraint"
            )
        super().__init__(*args, **kwargs)

    def _alpha_shape(self, shape) -> tuple[int, ...] | None:
        """Keras's build: input_shape[1:] with `param_shape[i - 1] = 1` for each shared axis i (None: out of range)."""
        dims = list(shape[1:])
        for i in self.shared_axes or ():
            if not -len(dims) <= i - 1 < len(dims):
                return None
            dims[i - 1] = 1
        return tuple(dims)

    def input_spec(self) -> InputSpec:
        if self.built_shape is None:
            return InputSpec()
        alpha = self._alpha_shape(self.built_shape)
        if alpha is None:  # built for fewer axes than it shares along: the shared-axes check explains it
            return InputSpec(ndim=len(self.built_shape))
        fixed = tuple((i, d) for i, d in enumerate(self.built_shape[1:], 1) if alpha[i - 1] != 1)
        return InputSpec(ndim=len(self.built_shape), axes=fixed)

    def axis_explanation(self, shape, axis: int, size: int, name: str) -> str:
        return (
            f"{name} learned one slope per position along axis {axis} ({size} of them); an input with "
            f"{shape[axis]} there has no slope for some positions."
        )

    def check_shape(self, shape, name: str) -> Problem | None:
        alpha = self._alpha_shape(shape)
        if alpha is not None:
            why = self.alpha_initializer.rank_problem(alpha)
            if why is None:
                return None
            return Problem(
                f"an input with {'3' if self.alpha_initializer.keras_name == 'Identity' else '3 or more'} axes",
                f"Layer {name!r} (PReLU) starts its slopes with {self.alpha_initializer.keras_name}, which cannot draw "
                f"slopes of shape {format_shape(alpha)}.",
                f"PReLU's slopes have the input's shape without the batch axis ({len(alpha)} axes here); "
                f"{self.alpha_initializer.keras_name} draws only matrices"
                f"{'' if self.alpha_initializer.keras_name == 'Identity' else ' or more axes'}. Choose another "
                "alpha_initializer (zeros, Keras's default).",
                why,
            )
        bad = next(i for i in self.shared_axes if not -(len(shape) - 1) <= i - 1 < len(shape) - 1)
        return Problem(
            f"an input with an axis {bad}",
            f"Layer {name!r} (PReLU) shares its slopes along axis {bad}, but its input {format_shape(shape)} has no "
            "such axis.",
            f"shared_axes names axes of the input (1 is the first after the batch); {format_shape(shape)} has "
            f"{len(shape) - 1} axes besides the batch.",
            "list assignment index out of range",
        )

    def suggest_fixes(self, shape, problem, context) -> list:
        alpha = self._alpha_shape(shape)
        if alpha is not None and self.alpha_initializer.rank_problem(alpha):
            return [
                context.set_setting(
                    "alpha_initializer",
                    self.settings[0].default,
                    description=f"start the slopes of {context.name} at zeros (Keras's default)",
                )
            ]
        fixes = [
            context.set_setting(
                "shared_axes", None, description=f"share no axes (one slope per element of {context.name})"
            )
        ]
        kept = tuple(i for i in self.shared_axes or () if -(len(shape) - 1) <= i - 1 < len(shape) - 1)
        if kept:
            fixes.append(context.set_setting("shared_axes", kept))
        if self.built_shape is not None and self.built_shape != shape:
            fixes.append(context.unbuild(f"rebuild {context.name} for its input {format_shape(shape)}"))
        return fixes

    def weight_specs(self, shape) -> list[WeightSpec]:
        return [WeightSpec("alpha", self._alpha_shape(shape), self.alpha_initializer)]

    def formula(self, shape) -> str:
        alpha = self._alpha_shape(shape)
        total = math.prod(alpha)
        if len(alpha) < 2:
            return f"{total:,}"
        return f"{times(alpha)} = {total:,}"

    def cost(self, shape, output_shape) -> Cost:
        n = math.prod(shape[1:])
        # torchinfo counts a weight's elements once per sample; max(x, 0) is the one temporary
        return Cost(mult_adds=math.prod(self._alpha_shape(shape)), elementwise=9 * n, scratch=n)

    def call(self, x):
        # Keras's relu(x) − alpha·relu(−x) without a mask: alpha·min(x, 0) is the same product as
        # −alpha·relu(−x), and adding max(x, 0) gives relu(x) + that
        zero = np.array(0.0, x.dtype)
        y = np.minimum(x, zero)
        y *= self._weights[0]
        y += np.maximum(x, zero)
        return y

    def forward_train(self, x, rng):
        return self.call(x), x

    def backward(self, x, dy):
        alpha = self._weights[0]
        slope = np.where(x > 0, np.array(1.0, x.dtype), np.where(x < 0, alpha, np.array(0.0, x.dtype)))
        d_alpha = dy * np.minimum(x, 0)
        summed = tuple(i for i, (a, d) in enumerate(zip(alpha.shape, x.shape[1:]), 1) if a == 1 and d != 1)
        d_alpha = d_alpha.sum(axis=(0, *summed), keepdims=True)[0]  # shared positions add up
        return dy * slope, [d_alpha.reshape(alpha.shape)]

    def label(self) -> str:
        if self.built_shape is not None:
            alpha = self._alpha_shape(self.built_shape)
            if alpha is not None:
                return f"{math.prod(alpha):,} slopes" + (
                    f", shared on {', '.join(map(str, self.shared_axes))}" if self.shared_axes else ""
                )
        return "per element" if not self.shared_axes else f"shared on {', '.join(map(str, self.shared_axes))}"

    def explain_shape(self, shape, output_shape) -> str:
        alpha = self._alpha_shape(shape)
        text = (
            f"Every value on its own: x if x > 0, else alpha × x, with alpha learned: shape {format_shape(alpha)} "
            f"({math.prod(alpha):,} slopes)"
        )
        if self.shared_axes:
            text += (
                f", size 1 along the shared axes {', '.join(map(str, self.shared_axes))} so one slope serves them all"
            )
        return text + f". The shape {format_shape(shape)} is unchanged."

    def keras_code(self) -> CodePart:
        init = (
            ""
            if self.alpha_initializer == self.settings[0].default
            else f"alpha_initializer={self.alpha_initializer!r}, "
        )
        shared = "" if self.shared_axes is None else f"shared_axes={list(self.shared_axes)}, "
        return CodePart(f"keras.layers.PReLU({init}{shared}name={self.name!r})")

    def torch_code(self, shape) -> list[CodePart]:
        alpha = self._weights[0] if self._weights else np.zeros(self._alpha_shape(shape), np.float32)
        if alpha.size == 1 or alpha.ndim == 1:
            # one slope, or one per feature of a (batch, features) input: torch's PReLU shares along axis 1's others
            return [CodePart(f"nn.PReLU(num_parameters={alpha.size})", weights={"weight": alpha.reshape(-1)})]
        dims = ", ".join(map(str, alpha.shape))
        return [CodePart(f"ElementwisePReLU({dims})", {"ElementwisePReLU": _TORCH_PRELU}, {"alpha": alpha})]
