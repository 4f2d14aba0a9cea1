"""A layer kind's settings, declared once: type, default, allowed values, one-line help.

A declaration is enough to check a value (and say what is allowed), to read and write it in JSON
(share links, Keras configs), and to draw an editor widget for it (`widget` tells which kind).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATIONS, canonical_name
from .errors import LayerConfigError, LimitError
from .initializers import NAMES as INITIALIZER_NAMES
from .initializers import Initializer, from_text, get_initializer
from .regularizers import ACCEPTED as REGULARIZERS_ACCEPTED
from .regularizers import from_text as regularizer_from_text
from .regularizers import get as get_regularizer


def _is_int(value) -> bool:
    if type(value) is int:  # the usual case, first: every layer read checks its sizes
        return True
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _short(value, n: int = 40) -> str:
    try:
        text = repr(value)
    except RecursionError:  # Python data nested thousands deep (json data is bounded before it comes here)
        return "a value nested too deeply to show"
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True)
class Setting:
    """One constructor argument of a layer kind, as Keras names it."""

    name: str
    default: object
    help: str = ""
    required: bool = False  # Keras has no default for it (Dense's units): the constructor must be given it
    widget = "text"  # how an editor shows it: "number", "float", "checkbox", "select" or "text"
    # a Keras object that code writes as a call (HeNormal(), L2(0.01)), read from that call's text: what it must be
    written_as_call = ""

    def check(self, value):
        """`value` in canonical form, or a LayerConfigError naming the setting and what is allowed."""
        raise NotImplementedError

    def checked_default(self):
        """check(default), kept after the first time when it is immutable (hashable), so no two layers share a mutable
        one."""
        if "_checked_default" in self.__dict__:
            return self.__dict__["_checked_default"]
        value = self.check(self.default)
        try:
            hash(value)
        except TypeError:
            return value
        object.__setattr__(self, "_checked_default", value)
        return value

    def fail(self, value, allowed: str, error=LayerConfigError):
        raise error(f"{self.name} must be {allowed}; received {_short(value)}")

    def to_json(self, value):
        """Plain JSON data for a canonical value (tuples become lists)."""
        return _listify(value)

    def from_json(self, data):
        """A checked value from JSON data (lists are read back as tuples)."""
        return self.check(_tuplify(data, self.name))

    def format_text(self, value) -> str:
        """The value as an editor's text field shows it."""
        return str(value)

    @property
    def placeholder(self) -> str:
        """What an editor's empty text field shows (what empty means), or ""."""
        return ""

    def parse_text(self, text: str):
        """A checked value from an editor's text field."""
        return self.check(text)

    @property
    def allowed(self) -> str:
        """What values are allowed, in words (for help texts)."""
        return ""


def _listify(value):
    return [_listify(v) for v in value] if isinstance(value, tuple) else value


_MAX_NESTING = 8  # lists in a setting's JSON value; the deepest setting (cropping's pairs) nests 2


def _tuplify(value, name: str, depth: int = 0):
    """Lists as tuples; lists nested more than _MAX_NESTING deep are refused before the recursion could overflow."""
    if not isinstance(value, list):
        return value
    if depth == _MAX_NESTING:
        raise LayerConfigError(
            f"{name} must be a number, text or lists of them nested at most {_MAX_NESTING} deep; "
            "received lists nested deeper."
        )
    return tuple(_tuplify(v, name, depth + 1) for v in value)


@dataclass(frozen=True)
class Int(Setting):
    low: int = 1
    high: int = 1 << 20
    widget = "number"

    def check(self, value):
        if not _is_int(value):
            self.fail(value, f"an integer from {self.low:,} to {self.high:,}")
        if not self.low <= value <= self.high:
            self.fail(
                value,
                f"an integer from {self.low:,} to {self.high:,}",
                LimitError if value > self.high else LayerConfigError,
            )
        return int(value)

    @property
    def allowed(self) -> str:
        return f"{self.low:,} to {self.high:,}"


@dataclass(frozen=True)
class Float(Setting):
    low: float = 0.0
    high: float = 1.0
    low_open: bool = False  # True: low itself is not allowed
    high_open: bool = False
    widget = "float"

    def check(self, value):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            self.fail(value, f"a number {self.allowed}")
        value = float(value)
        below = value < self.low or (self.low_open and value == self.low)
        above = value > self.high or (self.high_open and value == self.high)
        if not math.isfinite(value) or below or above:
            self.fail(value, f"a number {self.allowed}")
        return value

    @property
    def allowed(self) -> str:
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


@dataclass(frozen=True)
class Bool(Setting):
    widget = "checkbox"

    def check(self, value):
        if not isinstance(value, (bool, np.bool_)):
            self.fail(value, "true or false")
        return bool(value)


@dataclass(frozen=True)
class Choice(Setting):
    choices: tuple = ()
    widget = "select"

    def check(self, value):
        if value not in self.choices or not isinstance(value, type(self.default)):
            self.fail(value, f"one of {', '.join(map(str, self.choices))}")
        return value

    @property
    def allowed(self) -> str:
        return ", ".join(map(str, self.choices))


@dataclass(frozen=True)
class DataFormat(Choice):
    """Keras's data_format: channels_last (default) or channels_first; None and any letter case accepted."""

    choices: tuple = ("channels_last", "channels_first")

    def check(self, value):
        fmt = "channels_last" if value is None else str(value).lower()
        if fmt not in self.choices:
            raise LayerConfigError(
                "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                f"Received: data_format={str(value)[:40]}"
            )
        return fmt


@dataclass(frozen=True)
class Ints(Setting):
    """A fixed-length tuple of integers; one integer means the same value on every axis (as Keras takes it)."""

    length: int = 2
    low: int = 1
    high: int = 1024

    def check(self, value):
        if (
            type(value) is tuple
            and len(value) == self.length
            and all(type(v) is int and self.low <= v <= self.high for v in value)
        ):
            return value  # already canonical (a layer's own values, read again when it is made)
        if _is_int(value):
            value = (value,) * self.length
        if not isinstance(value, (tuple, list)) or len(value) != self.length or not all(_is_int(v) for v in value):
            self.fail(value, self._what())
        if not all(self.low <= v <= self.high for v in value):
            self.fail(value, self._what(), LimitError if max(value) > self.high else LayerConfigError)
        return tuple(int(v) for v in value)

    def _what(self) -> str:
        """What check accepts, in words (made only for a refusal: check runs for every layer read)."""
        return f"an integer from {self.low:,} to {self.high:,}" + (
            f", or {self.length} of them" if self.length > 1 else ""
        )

    def format_text(self, value) -> str:
        return ", ".join(map(str, value))

    def parse_text(self, text: str):
        return self.check(_ints_from_text(self.name, text))

    @property
    def allowed(self) -> str:
        return f"{self.length} integer(s) from {self.low:,} to {self.high:,}"


@dataclass(frozen=True)
class OptionalInts(Ints):
    """Ints, or None meaning "the same as another setting" (Keras's pooling strides)."""

    same_as: str = ""  # the setting that None stands for

    @property
    def placeholder(self) -> str:
        return f"= {self.same_as}" if self.same_as else ""

    def check(self, value):
        return None if value is None else super().check(value)

    def format_text(self, value) -> str:
        return "" if value is None else super().format_text(value)

    def parse_text(self, text: str):
        return None if not text.strip() else super().parse_text(text)


@dataclass(frozen=True)
class IntList(Setting):
    """A tuple of integers of any length from min_length to max_length (Reshape's target, Permute's dims)."""

    min_length: int = 1
    max_length: int = 4
    low: int = -1
    high: int = 1 << 20

    def check(self, value):
        if _is_int(value):
            value = (value,)
        if (
            not isinstance(value, (tuple, list))
            or not self.min_length <= len(value) <= self.max_length
            or not all(_is_int(v) and self.low <= v <= self.high for v in value)
        ):
            self.fail(value, f"{self.min_length} to {self.max_length} integers from {self.low:,} to {self.high:,}")
        return tuple(int(v) for v in value)

    def format_text(self, value) -> str:
        return ", ".join(map(str, value))

    def parse_text(self, text: str):
        return self.check(_ints_from_text(self.name, text))


@dataclass(frozen=True)
class Axis(Setting):
    """An axis index of the layer's input, counted Keras's way: -1 is the last, 1 the first after the batch."""

    low: int = -5
    high: int = 5

    widget = "number"

    def check(self, value):
        if not _is_int(value) or not self.low <= value <= self.high:
            self.fail(value, f"an axis from {self.low} to {self.high}")
        return int(value)


@dataclass(frozen=True)
class Axes(Setting):
    """One axis or a list of axes (LayerNormalization's axis): an int stays an int, a list a tuple."""

    low: int = -5
    high: int = 5

    def check(self, value):
        if _is_int(value):
            if not self.low <= value <= self.high:
                self.fail(value, self._what())
            return int(value)
        if (
            not isinstance(value, (tuple, list))
            or not 1 <= len(value) <= 5
            or not all(_is_int(v) and self.low <= v <= self.high for v in value)
        ):
            self.fail(value, self._what())
        return tuple(int(v) for v in value)

    def _what(self) -> str:
        """What check accepts, in words (made only for a refusal)."""
        return f"an axis from {self.low} to {self.high}, or a list of such axes"

    def format_text(self, value) -> str:
        return ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)

    def parse_text(self, text: str):
        numbers = _ints_from_text(self.name, text)
        return self.check(numbers[0] if len(numbers) == 1 and "," not in text else numbers)


_INT_TEXT = re.compile(r"-?\d{1,9}")


def _ints_from_text(name: str, text) -> tuple[int, ...]:
    """Integers from editor text such as `3, 3`, `(3, 3)`, `3x3` or `-1, 8`."""
    if not isinstance(text, str) or len(text) > 200:
        raise LayerConfigError(f"{name} must be text of at most 200 characters")
    inner = text.strip().strip("()[]").strip().rstrip(",")
    parts = [p.strip() for p in re.split(r"[,x×\s]+", inner) if p.strip()] if inner else []
    if not parts or not all(_INT_TEXT.fullmatch(p) for p in parts):
        raise LayerConfigError(f"{name} must be integers separated by commas, such as `3, 3`; received {_short(text)}")
    return tuple(int(p) for p in parts)


@dataclass(frozen=True)
class ActivationName(Setting):
    """An activation by name; aliases are stored by the name Keras serializes (swish → silu)."""

    widget = "select"

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(sorted(ACTIVATIONS))

    def check(self, value):
        return canonical_name(value)

    @property
    def allowed(self) -> str:
        return "an activation name; swish and hard_swish are stored as silu and hard_silu"


@dataclass(frozen=True)
class Init(Setting):
    """A Keras initializer argument (kernel_initializer, bias_initializer, ...): its canonical value is the Initializer
    (immutable, compared by value). Written in JSON as Keras serializes it; read from Keras's config dict or a name.
    An editor shows and takes it as text: a Keras name (`he_normal`) or a class with its arguments
    (`VarianceScaling(scale=2.0, mode="fan_out", distribution="truncated_normal")`), parsed from literals only.

    `default` may be given as a Keras name; it is kept as the Initializer it names. `ndim` is the number of axes of the
    weight it draws, when the kind fixes it (a bias: 1): an initializer Keras cannot draw at that rank (Identity needs
    2 axes, Orthogonal at least 2) is refused when the layer is made, as Keras fails when it builds the weight."""

    ndim: int | None = None
    written_as_call = "a Keras initializer such as he_normal or HeNormal()"

    def __post_init__(self):
        object.__setattr__(self, "default", get_initializer(self.default, self.name))

    def check(self, value):
        initializer = get_initializer(value, self.name)
        if self.ndim is not None and not initializer.fits_rank(self.ndim):
            raise LayerConfigError(rank_refusal(self.name, initializer, self.ndim))
        return initializer

    def to_json(self, value):
        return value.to_keras()

    def from_json(self, data):
        return self.check(data)

    def format_text(self, value) -> str:
        return value.text()

    def parse_text(self, text: str):
        initializer = from_text(text, self.name)
        return self.check(initializer)

    @property
    def choices(self) -> tuple[str, ...]:
        return INITIALIZER_NAMES

    @property
    def allowed(self) -> str:
        return (
            "a Keras initializer: "
            + ", ".join(n for n in INITIALIZER_NAMES if n != "constant")
            + ", or one with arguments: Constant(value=0.5), RandomNormal(mean=0.0, stddev=0.05), "
            "RandomUniform(minval=-0.05, maxval=0.05), TruncatedNormal(mean=0.0, stddev=0.05), "
            'VarianceScaling(scale=2.0, mode="fan_out", distribution="truncated_normal"), Orthogonal(gain=1.0), '
            "Identity(gain=1.0)"
        )


@dataclass(frozen=True)
class Regularize(Setting):
    """A Keras regularizer argument (kernel_regularizer, bias_regularizer): None, or the Regularizer (immutable,
    compared by value) whose penalty training adds for the weight it names. Written in JSON as Keras serializes it;
    an editor shows and takes it as text (`L2(l2=0.01)`; empty for none). `ndim` is the rank of that weight when the
    kind fixes it: a regularizer that cannot weigh it (OrthogonalRegularizer needs a matrix) is refused when the layer
    is made, as Keras fails when it first computes the loss."""

    default: object = None
    ndim: int | None = None
    written_as_call = "a Keras regularizer such as l2 or L2(0.01)"

    @property
    def weight(self) -> str:
        """The weight it weighs: its name without `_regularizer` (kernel_regularizer: kernel)."""
        return self.name.removesuffix("_regularizer")

    def check(self, value):
        regularizer = get_regularizer(value, self.name)
        if self.ndim is not None:
            check_regularizer_rank(self.name, regularizer, self.ndim)
        return regularizer

    def to_json(self, value):
        return None if value is None else value.to_keras()

    def from_json(self, data):
        return self.check(data)

    def format_text(self, value) -> str:
        return "" if value is None else value.text()

    @property
    def placeholder(self) -> str:
        return "none"

    def parse_text(self, text: str):
        return self.check(regularizer_from_text(text, self.name))

    @property
    def allowed(self) -> str:
        return REGULARIZERS_ACCEPTED


def check_regularizer_rank(name: str, regularizer, ndim: int) -> None:
    """LayerConfigError when the regularizer `name` holds cannot weigh a weight of `ndim` axes (Keras fails when it
    first computes the loss)."""
    if regularizer is not None and (why := regularizer.rank_problem(ndim)):
        raise LayerConfigError(f"{name}: {why}; Keras fails when it first computes the loss")


def kernel_and_bias_regularizers(kernel_ndim: int) -> tuple[Regularize, Regularize]:
    """kernel_regularizer and bias_regularizer, as Dense and the convolutions take them."""
    return (
        Regularize(
            "kernel_regularizer",
            None,
            "A penalty on the kernel that training adds to the loss, such as L2(0.01) (Keras's L1, L2, L1L2, "
            "OrthogonalRegularizer); empty: none.",
            ndim=kernel_ndim,
        ),
        Regularize("bias_regularizer", None, "A penalty on the biases that training adds to the loss.", ndim=1),
    )


def beta_and_gamma_regularizers(ndim: int | None) -> tuple[Regularize, Regularize]:
    """beta_regularizer and gamma_regularizer, as the normalisations take them (Keras's order)."""
    return (
        Regularize("beta_regularizer", None, "A penalty on the offsets β that training adds to the loss.", ndim=ndim),
        Regularize("gamma_regularizer", None, "A penalty on the scales γ that training adds to the loss.", ndim=ndim),
    )


def rank_refusal(name: str, initializer: Initializer, ndim: int) -> str:
    """Why `initializer`, given as `name`, cannot draw a weight of `ndim` axes (Keras fails when it builds the
    weight)."""
    need = "exactly 2 axes (a matrix)" if initializer.keras_name == "Identity" else "at least 2 axes"
    return (
        f"{name}: {initializer.keras_name} draws only weights of {need}, and this weight has {ndim}; Keras fails when "
        "it builds the layer. Choose another initializer."
    )
