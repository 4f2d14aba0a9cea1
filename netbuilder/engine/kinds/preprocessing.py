"""Rescaling and Normalization: fixed affine maps of the input, as keras.applications puts first.

Both compute in Keras's order of operations, so their outputs are Keras's bit for bit: Rescaling is
`x·scale + offset` with scale and offset rounded to float32 first; Normalization is
`(x − mean) / max(√variance, 1e-7)` (Keras's `backend.epsilon()`), or `mean + x·max(√variance, 1e-7)`
with invert=True, its mean and variance either given as settings or kept as non-trainable weights.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import LayerConfigError, LimitError
from ..initializers import ones, zeros
from ..layer import CodePart, Cost, Layer, Problem, WeightSpec, register
from ..limits import MAX_UNITS
from ..settings import Bool, Setting, _ints_from_text, _is_int, _short
from ..shapes import format_shape, times

EPSILON = 1e-7  # keras.backend.epsilon(): the smallest standard deviation Normalization divides by
MAX_VALUES = MAX_UNITS  # numbers in one setting (a scale per channel, a mean per position of the kept axes)
_MAX_TEXT = 200_000  # characters of a setting's editor text
_ARRAY_DTYPES = (
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
)


# --- settings ---------------------------------------------------------------------------------------------
def _shape_of(value) -> tuple[int, ...]:
    """The shape of a canonical value: () for a number, (3,) for three numbers, (2, 3) for two rows of three."""
    shape = []
    while isinstance(value, tuple):
        shape.append(len(value))
        value = value[0]
    return tuple(shape)


@dataclass(frozen=True)
class Values(Setting):
    """A number, or numbers in lists nested at most `max_rank` deep (rectangular), as Keras's Rescaling scale and
    Normalization mean take them. Numbers are kept as given (an int stays an int, as Keras writes it back), lists as
    tuples; NumPy arrays are read as their lists, and Keras's JSON of an array ({"class_name": "__tensor__" or
    "__numpy__", "config": {"value", "dtype"}}) too."""

    max_rank: int = 1
    optional: bool = False  # None allowed
    low: float = -math.inf  # the smallest number allowed (a variance: 0)
    widget = "text"

    @property
    def allowed(self) -> str:
        number = "a number" if self.low == -math.inf else f"a number ≥ {self.low:g}"
        if self.max_rank == 0:
            what = number
        elif self.max_rank == 1:
            what = f"{number}, or a list of them (one per position of the last axis)"
        else:
            what = f"{number}, or lists of them nested at most {self.max_rank} deep"
        return what + (", or empty for none" if self.optional else "")

    def check(self, value):
        if value is None:
            if self.optional:
                return None
            self.fail(value, self.allowed)
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "iuf":
                self.fail(value, self.allowed)
            if value.size > MAX_VALUES:
                self.fail(f"{value.size:,} numbers", f"at most {MAX_VALUES:,} numbers", LimitError)
            value = value.tolist()
        canonical, _ = self._walk(value, 0)
        return canonical

    def _walk(self, value, depth: int):
        """(canonical value, its shape); a LayerConfigError for anything but numbers in rectangular lists."""
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number) or number < self.low:
                self.fail(value, self.allowed)
            return (
                int(value) if isinstance(value, (int, np.integer)) else number
            ), ()  # Keras writes an int back as one
        if not isinstance(value, (list, tuple)):
            self.fail(value, self.allowed)
        if depth == self.max_rank:
            self.fail(value, self.allowed if self.max_rank else "a number (not a list)")
        if not value:
            self.fail(value, f"{self.allowed}; an empty list has no numbers")
        if len(value) > MAX_VALUES:
            self.fail(f"a list of {len(value):,}", f"at most {MAX_VALUES:,} numbers", LimitError)
        items = [self._walk(v, depth + 1) for v in value]
        shapes = {shape for _, shape in items}
        if len(shapes) != 1:
            self.fail(value, "lists of equal lengths at each level (a rectangular array)")
        inner = shapes.pop()
        if len(value) * math.prod(inner) > MAX_VALUES:
            self.fail(f"{len(value) * math.prod(inner):,} numbers", f"at most {MAX_VALUES:,} numbers", LimitError)
        return tuple(v for v, _ in items), (len(value), *inner)

    def from_json(self, data):
        if isinstance(data, dict):  # Keras's serialization of a NumPy array or tensor
            config = data.get("config")
            if data.get("class_name") not in ("__tensor__", "__numpy__") or not isinstance(config, dict):
                self.fail(_short(data), self.allowed)
            dtype = config.get("dtype")
            if dtype not in _ARRAY_DTYPES:
                self.fail(dtype, f"an array of one of the types {', '.join(_ARRAY_DTYPES)}")
            value = self.check(config.get("value"))
            try:  # rounded as Keras rounds it when it reads the array (float16 loses digits)
                value = np.asarray(value, dtype=dtype).astype(np.float64)
            except (TypeError, ValueError, OverflowError):
                self.fail(_short(config.get("value")), f"numbers that fit the type {dtype}")
            return self.check(value)
        return super().from_json(data)

    def format_text(self, value) -> str:
        if value is None:
            return ""
        if not isinstance(value, tuple):
            return repr(value)
        if len(_shape_of(value)) == 1 and len(value) > 1:
            return ", ".join(map(repr, value))
        return json.dumps(_plain(value))

    def parse_text(self, text: str):
        if not isinstance(text, str) or len(text) > _MAX_TEXT:
            self.fail(_short(text), f"text of at most {_MAX_TEXT:,} characters")
        body = text.strip()
        if not body or body.lower() == "none":
            return self.check(None)
        if body[0] + body[-1] == "()":
            body = "[" + body[1:-1] + "]"
        if "," in body and not body.startswith("["):
            body = "[" + body + "]"
        body = re.sub(r",\s*\]", "]", body)  # (0.5,) as Python writes a tuple of one
        if set(body) - set("0123456789+-.eE,[] \t\n") or _bracket_depth(body) > self.max_rank:
            self.fail(_short(text), self.allowed)
        try:
            return self.check(json.loads(body))
        except ValueError as e:
            if isinstance(e, LayerConfigError):
                raise
            self.fail(_short(text), self.allowed)


def _plain(value):
    """Tuples as lists (JSON)."""
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    for c in text:
        if c == "[":
            depth += 1
            deepest = max(deepest, depth)
        elif c == "]":
            depth -= 1
    return deepest


@dataclass(frozen=True)
class NormalizationAxis(Setting):
    """Normalization's axis: an int, several axes (kept in the order given, as Keras writes them), or None for one
    mean and variance over everything. Keras reads `[]` as None and `[a]` as a; so do we."""

    low: int = -5
    high: int = 5
    widget = "text"

    @property
    def allowed(self) -> str:
        return (
            f"an axis from {self.low} to {self.high}, several such axes (each once), or empty (None: all values "
            "together)"
        )

    def check(self, value):
        if value is None:
            return None
        if _is_int(value):
            value = (value,)
        if (
            not isinstance(value, (tuple, list))
            or len(value) > 5
            or not all(_is_int(v) and self.low <= v <= self.high for v in value)
        ):
            self.fail(value, self.allowed)
        if len(set(value)) != len(value):
            self.fail(value, "different axes (each at most once)")
        if not value:
            return None
        return int(value[0]) if len(value) == 1 else tuple(int(v) for v in value)

    def format_text(self, value) -> str:
        if value is None:
            return ""
        return ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)

    def parse_text(self, text: str):
        if isinstance(text, str) and text.strip().lower() in ("", "none", "[]", "()"):
            return None
        numbers = _ints_from_text(self.name, text)
        return self.check(numbers[0] if len(numbers) == 1 and "," not in text else numbers)


def _float32(value, dtype) -> np.ndarray:
    """A setting's numbers as Keras casts them: straight to float32 (then to the input's type, for float64 checks)."""
    return np.asarray(value, dtype=np.float32).astype(dtype, copy=False)


def _numpy_shape(shape) -> str:
    """A shape as NumPy's broadcast errors print it: (1,1,3)."""
    return "(" + ",".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


# --- Rescaling ------------------------------------------------------------------------------------------------
_TORCH_RESCALING = '''class KerasRescaling(nn.Module):
    """Keras's Rescaling: x * scale + offset, each a number or one per position of the last axis (float32)."""

    def __init__(self, scale, offset=0.0):
        super().__init__()
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32))

    def forward(self, x):
        return x * self.scale + self.offset
'''


def _count(value) -> int:
    return math.prod(_shape_of(value))


def _short_values(value) -> str:
    if not isinstance(value, tuple):
        return f"{value:g}"
    return f"[{', '.join(f'{v:g}' for v in value)}]" if len(value) <= 4 else f"{len(value):,} values"


@register
class Rescaling(Layer):
    """`x·scale + offset` on every value; scale and offset are numbers or one per position of the last axis."""

    train_call_microseconds = 8  # forward_train and backward of a step whatever the batch (measured at batch 1: 4-7 µs)

    settings = (
        Values(
            "scale",
            1.0 / 255.0,
            "Every value is multiplied by this (1/255 takes pixels 0-255 to 0-1); a list gives "
            "one factor per position of the last axis.",
            required=True,
        ),
        Values(
            "offset",
            0.0,
            "Then this is added (-1 with scale 1/127.5 takes pixels to -1..1); a list gives one per "
            "position of the last axis.",
        ),
    )
    group = "Preprocessing"
    description = "Multiplies every value by a fixed scale and adds an offset, e.g. pixels 0-255 to 0-1."
    keeps_shape = True

    def _lengths(self) -> list[tuple[str, int]]:
        """(setting, length) of scale and offset when they are lists of more than one number."""
        return [
            (name, len(v))
            for name, v in (("scale", self.scale), ("offset", self.offset))
            if isinstance(v, tuple) and len(v) > 1
        ]

    # --- shapes ---------------------------------------------------------------------------------
    def check_shape(self, shape, name: str) -> Problem | None:
        for setting, length in self._lengths():
            if len(shape) < 2:
                return Problem(
                    f"a last axis of size {length} (the batch axis and one more)",
                    f"Layer {name!r} (Rescaling) has {length} values of {setting}, one per position of the last axis, "
                    f"but its input {format_shape(shape)} has no axis besides the batch.",
                    f"A list of {setting} values lines up with the input's last axis; here the only axis is the batch, "
                    "whose size changes from run to run, so the values would be matched to samples instead of "
                    "features.",
                    "operands could not be broadcast together with shapes",
                )
            if shape[-1] == length:
                continue
            grows = shape[-1] == 1
            return Problem(
                f"last axis of size {length}",
                f"Layer {name!r} (Rescaling) has {length} values of {setting}, one per position of the last axis, "
                f"but its input {format_shape(shape)} has {shape[-1]:,} there.",
                f"Each of the {length} values of {setting} applies to one position of the last axis (a colour channel, "
                f"a feature), so that axis must have {length} positions. "
                + (
                    "Keras would spread the single position into all of them, making an output it does not report "
                    "(its shape says the input's); netbuilder refuses that."
                    if grows
                    else f"{shape[-1]:,} positions cannot be matched with {length} values."
                ),
                "" if grows else "operands could not be broadcast together with shapes",
            )
        return None

    def suggest_fixes(self, shape, problem, context) -> list:
        fixes = []
        for setting, length in self._lengths():
            if len(shape) >= 2:
                fixes += [context.upstream_fix(length), context.input_shape_fix((*shape[1:-1], length))]
            else:
                fixes.append(context.input_shape_fix((*shape[1:], length)))
            value = getattr(self, setting)
            if len(set(value)) == 1:
                fixes.append(
                    context.set_setting(
                        setting,
                        value[0],
                        description=f"set {setting} of {context.name} to the one number {value[0]:g} its list repeats",
                    )
                )
        return fixes

    # --- numbers --------------------------------------------------------------------------------
    def cost(self, shape, output_shape) -> Cost:
        # x·scale is the output's buffer; + offset in place. Backward: dy·scale, the input's gradient. Beside them,
        # scale and offset as float32 arrays, whatever the batch
        values = _count(self.scale) + _count(self.offset)
        return Cost(elementwise=2 * math.prod(shape[1:]), capped_scratch=values, scratch_cap=values, train_scratch=0)

    def call(self, x):
        y = x * _float32(self.scale, x.dtype)  # Keras: cast(inputs)·cast(scale) + cast(offset), in that order
        y += _float32(self.offset, x.dtype)  # always added: x·scale = −0.0 plus 0.0 is +0.0, as in Keras
        return y

    def forward_train(self, x, rng):
        return self.call(x), None

    def backward(self, cache, dy):
        return dy * _float32(self.scale, dy.dtype), []

    # --- description ----------------------------------------------------------------------------
    def label(self) -> str:
        return f"×{_short_values(self.scale)} + {_short_values(self.offset)}"

    def explain_shape(self, shape, output_shape) -> str:
        per = [f"{name} one per position of the last axis ({n})" for name, n in self._lengths()]
        how = f" ({'; '.join(per)})" if per else ""
        return (
            f"Every value becomes x·{_short_values(self.scale)} + {_short_values(self.offset)}{how}, the same in "
            f"training and at inference; nothing is learned. The shape {format_shape(shape)} is unchanged."
        )

    def torch_code(self, shape) -> list[CodePart]:
        return [CodePart(f"KerasRescaling({self.scale!r}, {self.offset!r})", {"KerasRescaling": _TORCH_RESCALING})]


# --- Normalization --------------------------------------------------------------------------------------------
_KERAS_NORMALIZATION = """# keras.layers.Normalization reads its mean and variance weights only when it is built, \
adapted or loaded from a
# weights file: after model.set_weights alone it goes on computing with the ones from before (Keras 3.15).
# This subclass reads them at every call, so the weights set below are the ones used.
class NormalizationWithWeights(keras.layers.Normalization):
    def call(self, inputs):
        self.finalize_state()
        return super().call(inputs)
"""

_TORCH_NORMALIZATION = '''class KerasNormalization(nn.Module):
    """Keras's Normalization: (x - mean) / max(sqrt(variance), 1e-7), or mean + x * max(sqrt(variance), 1e-7) with
    invert=True; mean and variance are reshaped onto the input's axes as Keras broadcasts them."""

    def __init__(self, shape, broadcast, invert=False):
        super().__init__()
        self.broadcast, self.invert = list(broadcast), invert
        # not learned: buffers, as torch keeps BatchNorm's running statistics
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("variance", torch.ones(shape))

    def forward(self, x):
        mean = self.mean.reshape(self.broadcast)
        std = torch.clamp(torch.sqrt(self.variance.reshape(self.broadcast)), min=1e-7)
        return mean + x * std if self.invert else (x - mean) / std
'''


@register
class Normalization(Layer):
    """`(x − mean) / max(√variance, 1e-7)` per position of the kept axes; mean and variance given, or weights."""

    keras_config_order = ("name", "trainable", "dtype", "axis", "invert")

    # forward_train and backward of a step whatever the batch (measured at batch 1: 7-14 µs)
    train_call_microseconds = 15

    settings = (
        NormalizationAxis(
            "axis",
            -1,
            "The axis (or axes) that keep their own mean and variance per position; -1 is the "
            "last axis, empty (None) one mean and variance for all values.",
        ),
        Values(
            "mean",
            None,
            "The mean(s) subtracted, lined up with the kept axes from the right; empty: a weight "
            "(set it, or read it from Keras with its JSON and weights).",
            max_rank=4,
            optional=True,
        ),
        Values(
            "variance",
            None,
            "The variance(s): values are divided by their square root; given together with mean.",
            max_rank=4,
            optional=True,
            low=0.0,
        ),
        Bool("invert", False, "Undo a normalisation instead: mean + x·√variance."),
    )
    group = "Preprocessing"
    description = "Shifts and scales each feature by a fixed mean and variance: (x − mean) / √variance."
    keeps_shape = True

    def validate(self) -> None:
        if (self.mean is None) != (self.variance is None):
            raise LayerConfigError(
                "When setting values directly, both `mean` and `variance` must be set. "
                f"Received: mean={_short(self.mean)} and variance={_short(self.variance)}"
            )
        if self.mean is None:
            return
        mean_shape, variance_shape = _shape_of(self.mean), _shape_of(self.variance)
        if mean_shape != variance_shape:
            raise LayerConfigError(
                "When setting values directly, `mean` and `variance` must have the same shape. "
                f"Received: mean shape {mean_shape} and variance shape {variance_shape}"
            )
        if len(mean_shape) > len(self.axes):
            raise LayerConfigError(
                f"The rank of `mean` must be less than or equal to the number of axes ({len(self.axes)}). "
                f"Received: mean shape {mean_shape} for axis {self.axes}"
            )

    @property
    def axes(self) -> tuple[int, ...]:
        """The axes as Keras standardises them: () for None, (a,) for an int."""
        if self.axis is None:
            return ()
        return (self.axis,) if isinstance(self.axis, int) else self.axis

    @property
    def from_weights(self) -> bool:
        return self.mean is None

    def _kept(self, ndim: int) -> tuple[int, ...]:
        """The kept axes as indices, sorted (Keras's `_keep_axis`); the axes must fit `ndim`."""
        return tuple(sorted(a % ndim for a in self.axes))

    def _broadcast_shape(self, shape) -> tuple[int, ...]:
        kept = self._kept(len(shape))
        return tuple(shape[d] if d in kept else 1 for d in range(len(shape)))

    def _expanded_shape(self, shape) -> tuple[int, ...]:
        """The given mean's shape lined up with the kept axes from the right, 1 elsewhere (Keras's expanded_shape)."""
        kept, mean_shape = self._kept(len(shape)), _shape_of(self.mean)
        out = [1] * len(shape)
        for i in range(1, len(mean_shape) + 1):
            out[kept[-i]] = mean_shape[-i]
        return tuple(out)

    # --- shapes ---------------------------------------------------------------------------------
    def _axes_problem(self, shape, name: str, built: bool = False) -> Problem | None:
        ndim = len(shape)
        axes = self.axes
        if any(not -ndim <= a < ndim for a in axes):
            return Problem(
                f"axes from {-ndim} to {ndim - 1}",
                f"Layer {name!r} (Normalization) keeps axis {self.axis}, "
                f"but {'it was built for' if built else 'its input'} "
                f"{format_shape(shape)} has only {ndim} axes ({-ndim} to {ndim - 1}, the batch axis included).",
                "axis counts the input's axes, the batch axis included: 0 is the batch and -1 the last. Each kept axis "
                "gets its own mean and variance per position; this one does not exist here.",
                "All `axis` values must be in the range [-ndim, ndim). "
                f"Received inputs with ndim={ndim}, while axis={axes}",
            )
        kept = [a % ndim for a in axes]
        if 0 in kept:
            return Problem(
                "an axis other than the batch axis",
                f"Layer {name!r} (Normalization) would keep axis {self.axis}, the batch axis of {format_shape(shape)}.",
                "Normalization keeps one mean and variance per position of its axes, and the batch axis has no fixed "
                "size (None). Features usually sit on the last axis, -1"
                + (
                    " — but this input has no axis besides the batch: give each sample a feature axis of size 1, or "
                    "use axis=None (one mean and variance for all values)."
                    if ndim < 2
                    else "."
                ),
                f"All `axis` values to be kept must have a known shape. Received axis={axes}, "
                f"inputs.shape={format_shape(shape)}, with unknown axis at index 0",
            )
        if len(set(kept)) != len(kept):
            broadcast = [shape[d] if d in kept else 1 for d in range(ndim)]
            return Problem(
                "different axes",
                f"Layer {name!r} (Normalization) names the same axis twice: axis={self.axis} on {format_shape(shape)}.",
                f"On an input with {ndim} axes, {' and '.join(str(a) for a in axes if kept.count(a % ndim) > 1)} are "
                "the same axis (negative axes count from the end). Name each axis once.",
                ""
                if not self.from_weights
                else f"cannot reshape array of size {math.prod(shape[d] for d in kept)} into shape "
                f"{_numpy_shape(broadcast)}",
            )
        return None

    def check_shape(self, shape, name: str) -> Problem | None:
        built = self.built_shape if self.from_weights else None
        if built is not None:
            problem = self._axes_problem(built, name, built=True)
            if problem is not None:
                return Problem(
                    problem.expected,
                    problem.message,
                    problem.explanation + " Its weights were made for that shape: rebuild it for this input.",
                    problem.keras_message,
                )
        problem = self._axes_problem(shape, name)
        if problem is not None:
            return problem
        if built is not None:
            kept = self._kept(len(built))
            want = tuple(built[a] for a in kept)
            if len(shape) != len(built) or tuple(shape[a] for a in kept) != want:
                grows = len(shape) == len(built) and all(shape[a] in (1, built[a]) for a in kept)
                return Problem(
                    f"{len(built)} axes, sizes {want} on axes {kept}",
                    f"Layer {name!r} (Normalization) was built for {format_shape(built)} (its mean and variance have "
                    f"shape {want}), but received {format_shape(shape)}.",
                    f"Its mean and variance weights hold one number per position of the kept axes, {times(want) or 1} "
                    "of them, made for the input it was built for; this input has a different number of axes or "
                    "positions there.",
                    "" if grows else "operands could not be broadcast together with shapes",
                )
            return None
        if not self.from_weights:
            kept = self._kept(len(shape))
            expanded = self._expanded_shape(shape)
            target = self._broadcast_shape(shape)
            if any(e not in (1, t) for e, t in zip(expanded, target)):
                sizes = _shape_of(self.mean)
                return Problem(
                    f"sizes {tuple(e for e, t in zip(expanded, target) if e != 1)} on the kept axes",
                    f"Layer {name!r} (Normalization) has a mean and variance of shape {sizes}, lined up with its kept "
                    f"axes {tuple(kept[-len(sizes) :])}, but its input {format_shape(shape)} has sizes "
                    f"{tuple(shape[a] for a in kept[-len(sizes) :])} there.",
                    "A list of means gives one mean per position of a kept axis, matched from the last axis backwards, "
                    "so each list's length must be that axis's size (or 1, shared by all its positions).",
                    "operands could not be broadcast together with remapped shapes [original->remapped]: "
                    f"{_numpy_shape(expanded)}  and requested shape {_numpy_shape(target)}",
                )
        return None

    def suggest_fixes(self, shape, problem, context) -> list:
        name, ndim = context.name, len(shape)
        fixes = []
        if ndim < 2:
            fixes.append(
                context.insert(
                    "Flatten", {}, f"insert Flatten before {name} (it turns {format_shape(shape)} into (None, 1))"
                )
            )
            fixes.append(context.input_shape_fix((1,)))
        elif self.axis != -1:
            fixes.append(
                context.set_setting(
                    "axis", -1, description=f"set axis of {name} to -1 (the last axis, size {shape[-1]:,})"
                )
            )
        if self.axis is not None and (self.from_weights or not _shape_of(self.mean)):
            fixes.append(
                context.set_setting(
                    "axis", None, description=f"set axis of {name} to None (one mean and variance for all values)"
                )
            )
        built = self.built_shape if self.from_weights else None
        wanted = None
        if built is not None and self._axes_problem(built, name) is None and len(built) == ndim:
            wanted = tuple(built[1:])
        elif not self.from_weights and ndim >= 2 and self._axes_problem(shape, name) is None:
            expanded = self._expanded_shape(shape)
            wanted = tuple(e if e != 1 else d for e, d in zip(expanded[1:], shape[1:]))
        if wanted is not None and wanted != tuple(shape[1:]):
            if wanted[:-1] == tuple(shape[1:-1]):
                fixes.append(context.upstream_fix(wanted[-1]))
            fixes.append(context.input_shape_fix(wanted))
        if built is not None:
            fixes.append(context.unbuild(f"rebuild {name} for the input {format_shape(shape)} it receives"))
        return fixes

    # --- weights --------------------------------------------------------------------------------
    def _weight_shape(self, shape) -> tuple[int, ...]:
        ndim = len(shape)
        if any(not -ndim <= a < ndim for a in self.axes) or any(a % ndim == 0 for a in self.axes):
            raise LayerConfigError(
                f"Normalization with axis={self.axis} cannot keep statistics for inputs of shape "
                f"{format_shape(shape)}: the axis does not exist there or is the batch axis"
            )
        return tuple(shape[a] for a in self._kept(ndim))

    def weight_specs(self, shape) -> list[WeightSpec]:
        if not self.from_weights:
            return []
        size = self._weight_shape(shape)
        return [
            WeightSpec("mean", size, zeros, trainable=False),
            WeightSpec("variance", size, ones, trainable=False),
            WeightSpec("count", (), zeros, trainable=False),
        ]  # Keras's count is an int32 (kept for old files); here float32

    def formula(self, shape) -> str:
        """`2×3 + 1 = 7 (none trainable)`: a mean and a variance per kept position, and Keras's count."""
        if not self.from_weights:
            return ""
        size = math.prod(self._weight_shape(shape))
        return f"2×{size:,} + 1 = {2 * size + 1:,} (none trainable)"

    def cost(self, shape, output_shape) -> Cost:
        # x − mean is the output's buffer, ÷ std in place; √variance (then its maximum, in place) is one buffer of the
        # kept axes' size whatever the batch (given mean and variance are two more, as float32 arrays); training keeps
        # it for backward, whose dy ÷ std is the input's gradient
        if self.from_weights:
            buffers = math.prod(self._broadcast_shape(shape)[1:])
        else:
            buffers = 3 * math.prod(self._expanded_shape(shape))
        return Cost(elementwise=2 * math.prod(shape[1:]), capped_scratch=buffers, scratch_cap=buffers, train_scratch=0)

    # --- numbers --------------------------------------------------------------------------------
    def _statistics(self, shape, dtype) -> tuple[np.ndarray, np.ndarray]:
        """mean and max(√variance, ε), shaped to broadcast onto an input of `shape`, as Keras computes them."""
        if self.from_weights:
            broadcast = self._broadcast_shape(shape)
            mean = self._weights[0].astype(dtype, copy=False).reshape(broadcast)
            variance = self._weights[1].astype(dtype, copy=False).reshape(broadcast)
        else:
            expanded = self._expanded_shape(shape)
            mean = _float32(self.mean, dtype).reshape(expanded)
            variance = _float32(self.variance, dtype).reshape(expanded)
        std = np.sqrt(variance)
        return mean, np.maximum(std, np.array(EPSILON, dtype), out=std)

    def _apply(self, x, mean, std):
        if self.invert:
            y = x * std  # Keras: add(mean, multiply(x, std)); addition is commutative, bit for bit
            y += mean
            return y
        y = x - mean  # Keras: divide(subtract(x, mean), std)
        y /= std
        return y

    def call(self, x):
        return self._apply(x, *self._statistics(x.shape, x.dtype))

    def forward_train(self, x, rng):
        mean, std = self._statistics(x.shape, x.dtype)
        return self._apply(x, mean, std), std

    def backward(self, std, dy):
        return (dy * std if self.invert else dy / std), []  # mean and variance are not trained

    # --- description ----------------------------------------------------------------------------
    def _where(self) -> str:
        if self.axis is None:
            return "all values together"
        return f"axis {self.axis}" if isinstance(self.axis, int) else f"axes {', '.join(map(str, self.axis))}"

    def label(self) -> str:
        parts = ["axis None" if self.axis is None else self._where()]
        if self.from_weights:
            parts.append("mean, variance as weights")
            if self.built_shape is not None and self._axes_problem(self.built_shape, "") is None:
                size = self._weight_shape(self.built_shape)
                parts.append(f"built for {times(size) if size else 'one'} value{'s' if math.prod(size) != 1 else ''}")
        else:
            parts.append(f"mean {_short_values(self.mean)}, variance {_short_values(self.variance)}")
        return ", ".join(parts + (["invert"] if self.invert else []))

    def explain_shape(self, shape, output_shape) -> str:
        kept = self._kept(len(shape))
        sizes = tuple(shape[a] for a in kept)
        per = (
            f"one mean and variance per position of {self._where()} ({times(sizes)} of them)"
            if sizes
            else "one mean and variance for all values together"
        )
        source = (
            "weights (set, or read from Keras; training leaves them as they are)" if self.from_weights else "settings"
        )
        how = "mean + x·√variance (invert)" if self.invert else "(x − mean)/√variance"
        return (
            f"Every value becomes {how}, with {per}, from its {source}; a standard deviation below 1e-7 counts as "
            f"1e-7. The shape {format_shape(shape)} is unchanged."
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = list(self.axes)  # Keras writes its standardised tuple: [-1], [1, 2], [] for None
        return config

    def keras_code(self) -> CodePart:
        code = super().keras_code()
        if not self.from_weights:
            return code
        return CodePart(
            "NormalizationWithWeights" + code.code[len("keras.layers.Normalization") :],
            {"NormalizationWithWeights": _KERAS_NORMALIZATION},
        )

    def torch_code(self, shape) -> list[CodePart]:
        if self.from_weights:
            mean, variance = self._weights[0], self._weights[1]
            broadcast = self._broadcast_shape(shape)
        else:
            broadcast = self._expanded_shape(shape)
            mean = _float32(self.mean, np.float32).reshape(broadcast)
            variance = _float32(self.variance, np.float32).reshape(broadcast)
        broadcast = (1, *broadcast[1:])
        code = f"KerasNormalization({tuple(mean.shape)!r}, {broadcast!r}, invert={self.invert})"
        return [CodePart(code, {"KerasNormalization": _TORCH_NORMALIZATION}, {"mean": mean, "variance": variance})]
