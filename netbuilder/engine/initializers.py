"""Keras 3.15's initializers, drawing exactly what Keras's NumPy backend draws from an integer seed, and what drawing
them costs.

Every initializer takes (shape, seed) and returns float32; `cost(shape)` tells its work and memory beforehand. Keras
seeds NumPy's generator with the pair [seed, 0] (keras.random.draw_seed) for each draw, so the same seed gives the same
bits here and there: uniform and normal draws are `default_rng([seed, 0]).uniform/normal(...)` cast to float32, and a
truncated normal is Keras's own resampling (normal draws, those beyond two standard deviations thrown away, the first
ones kept in stream order).

The seed rule: netbuilder draws every weight of a model from the model's seed — every weight of layer i of a model
seeded s from the integer seed 1000·s + i (`layer_seed`; past the thousandth layer, 10⁹ + 1000·s + i − 1000), as a
Keras initializer given that seed draws it. A
`seed` written in a Keras initializer's config is accepted and ignored: it is read, not kept, and written back as null.

Initializers are immutable and compared by value (frozen dataclasses), so layer settings can hold them.
`get_initializer` reads what Keras's `keras.initializers.get` reads: a name with every alias Keras has ("he_normal",
"HeNormal", "uniform", "zero", ...), a config dict
(`{"module": "keras.initializers", "class_name": "HeNormal", "config": {"seed": null}, ...}` or the short
`{"class_name": ..., "config": ...}`), an Initializer, or a Keras initializer object.

Deliberately not Keras: numbers must be finite and within ±1e30 (every drawn weight stays finite in float32); what Keras
only fails on when it builds the weight is refused when the initializer is made (a negative stddev, minval > maxval, a
non-scalar Constant); `input_axes`/`output_axes` (EinsumDense's fans) are refused, as are `None` (Keras then draws
glorot_uniform even for a bias) and STFT (a spectrogram's kernel); Identity writes its gain in its config when it is not
1 (Keras writes `{}` and loses it).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from .errors import LayerConfigError
from .limits import MAX_LAYERS, MAX_SEED
from .literals import NotACall, call_arguments, split_call
from .literals import literal as _literal
from .literals import short as _short


def layer_seed(model_seed: int, index: int) -> int:
    """The initializer seed of the layer at `index` in a model seeded with `model_seed`: 1000·s + i for the first
    thousand layers (as ever: a link keeps its weights), 10⁹ + 1000·s + (i − 1000) for the next ones, so no two layers
    of any models share a seed and every seed fits Keras's uint32."""
    return 1000 * model_seed + index if index < 1000 else 10**9 + 1000 * model_seed + index - 1000


def check_seed(seed) -> int:
    """`seed` as an int in 0..MAX_SEED, or a LayerConfigError saying what is allowed."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise LayerConfigError(f"seed must be an integer from 0 to {MAX_SEED:,}; received {str(seed)[:40]!r}")
    assert MAX_LAYERS < 2000 and 10**9 + 1000 * MAX_SEED + 999 < 2**32  # layer_seed keeps every layer's seed apart
    return int(seed)


def resolve_seed(seed) -> int:
    """A checked seed; None draws a fresh one (unseeded, as Keras is by default)."""
    return int(np.random.default_rng().integers(0, MAX_SEED + 1)) if seed is None else check_seed(seed)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.array([seed, 0], dtype="uint32"))


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras's (fan_in, fan_out): a conv kernel (..., in, out) counts its receptive field in both."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


WORK_PER_NANOSECOND = 40  # MAX_WORK (40 G) is about a second of this server: 40 work units a nanosecond
DRAW_CHUNK = 1 << 16  # values drawn at a time: a generator's stream is the same in pieces as in one call
_BOUND = 1e30  # numbers an initializer takes: within ±_BOUND, so every value it draws is finite in float32
# Nanoseconds per value drawn, measured on the 2-core server (one BLAS thread) and rounded up: building a Dense of 4 M
# weights in a fresh process (as bench/bench_training_cost.py's build_ratios does), predicted ÷ measured time 1.25-1.3
# for a uniform draw (4-6.4 ns a value), 1.3-1.7 for a normal one (14-16), 1.15-1.4 for a truncated normal (13-19.6:
# 1.05 draws a value, the test, the copy), 1.9-2.6 for a constant (0.8-1.1) and 1.7-2 for Identity (eye, then product).
_UNIFORM_NS, _NORMAL_NS, _TRUNCATED_NS, _CONSTANT_NS, _IDENTITY_NS = 8, 20, 32, 2, 3
# Each draw's fixed calls whatever its size (a generator made, a few NumPy calls): a random draw 16-28 µs at the median
# of 200 small ones, a constant 1.5-4 µs.
_GENERATOR_NS, _CALL_NS = 30_000, 5_000
# Bytes a drawn value of a chunk holds beside the weight: a chunk in float64 (8; a fresh process building a Dense of
# 2 M values peaked 0.44-0.50 MB above its weights per 64 K chunk, 6.7-7.6 bytes a value, counted as 12); a truncated
# normal's chunk, its two masks and their product, the kept values' indices and their copy (8 + 3 + 8 + 8 = 27;
# measured 1.2-2.0 MB a chunk, 18-30 bytes a value, counted as 36).
_CHUNK_BYTES, _TRUNCATED_CHUNK_BYTES = 12, 36


# --- how values are drawn, as Keras's NumPy backend draws them ---------------------------------------------------
def _uniform(shape, seed: int, low: float, high: float) -> np.ndarray:
    """keras.random.uniform: default_rng([seed, 0]).uniform(low, high, shape) in float64, cast to float32 — in chunks
    (the same stream as one draw, without its float64 copy of the weight)."""
    rng, out = _rng(seed), np.empty(math.prod(shape), np.float32)
    for start in range(0, out.size, DRAW_CHUNK):
        out[start : start + DRAW_CHUNK] = rng.uniform(size=min(DRAW_CHUNK, out.size - start), low=low, high=high)
    return out.reshape(shape)


def _normal(shape, seed: int, mean: float, stddev: float) -> np.ndarray:
    """keras.random.normal: default_rng([seed, 0]).normal(mean, stddev, shape) in float64, cast to float32 (in
    chunks)."""
    rng, out = _rng(seed), np.empty(math.prod(shape), np.float32)
    for start in range(0, out.size, DRAW_CHUNK):
        out[start : start + DRAW_CHUNK] = rng.normal(loc=mean, scale=stddev, size=min(DRAW_CHUNK, out.size - start))
    return out.reshape(shape)


def _truncated_normal(shape, seed: int, mean: float, stddev: float) -> np.ndarray:
    """keras.random.truncated_normal on NumPy: normal draws, those outside [mean − 2·stddev, mean + 2·stddev] thrown
    away, the first prod(shape) kept in stream order, cast to float32. Keras draws prod(shape) values a batch until it
    has enough; drawing in chunks keeps the same values (the stream and the test are the same, value by value)."""
    n = math.prod(shape)
    lower, upper = mean - 2 * stddev, mean + 2 * stddev  # Keras's bounds, computed as Keras computes them
    rng, out, filled = _rng(seed), np.empty(n, np.float32), 0
    while filled < n:
        batch = rng.normal(loc=mean, scale=stddev, size=min(DRAW_CHUNK, n))
        valid = batch[(batch >= lower) & (batch <= upper)][: n - filled]
        out[filled : filled + valid.size] = valid
        filled += valid.size
    return out.reshape(shape)


def _draw_cost(shape, nanoseconds: int, chunk_bytes: int, fixed: int = _GENERATOR_NS) -> tuple[int, int]:
    """(work, temporaries' bytes) of a draw of `nanoseconds` a value and `fixed` nanoseconds whatever its size, with a
    chunk of `chunk_bytes` a value alive beside the weight."""
    n = math.prod(shape)
    return WORK_PER_NANOSECOND * (nanoseconds * n + fixed), chunk_bytes * min(n, DRAW_CHUNK)


# --- the base class ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Initializer:
    """How a weight starts: `init(shape, seed)` draws it as Keras's NumPy backend does (float32), and `cost(shape)`
    says beforehand what drawing it takes: (work in multiply-add equivalents, bytes of temporaries beside the weight).

    Times were measured on the 2-core server (one BLAS thread) and rounded up: building a model answers to the budgets
    of a run like any other work. A subclass's fields are its Keras constructor arguments (the seed apart), in Keras's
    order, and it draws in `draw(shape, seed)`; `keras_name` is its Keras class name."""

    keras_name: ClassVar[str] = ""
    seeded: ClassVar[bool] = False  # a Keras RandomInitializer: its config has a seed (written null)
    scales_by_fans: ClassVar[bool] = False  # VarianceScaling and its named forms: the draw depends on the fans

    def __call__(self, shape: tuple[int, ...], seed: int | None = None, dtype=None) -> np.ndarray:
        """The weight of `shape` drawn from `seed` (float32). Keras can call it too, as it calls any initializer
        (`init(shape, dtype=...)`): a layer's settings are its Keras constructor's arguments. Without a seed it draws
        from a fresh one, as an unseeded Keras initializer does."""
        seed = int(np.random.default_rng().integers(0, 2**31)) if seed is None else int(seed)
        out = self.draw(tuple(int(d) for d in shape), seed)
        return out if dtype is None or np.dtype(dtype) == np.float32 else out.astype(dtype)

    def draw(self, shape: tuple[int, ...], seed: int) -> np.ndarray:
        raise NotImplementedError

    def cost(self, shape: tuple[int, ...]) -> tuple[int, int]:
        return 0, 0

    # --- what Keras writes, and how it is shown ------------------------------------------------------------------
    def arguments(self) -> dict:
        """The constructor arguments, in Keras's order (the seed apart)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def get_config(self) -> dict:
        """The config Keras's get_config writes (the seed null: netbuilder draws from the model's seed)."""
        return {**({"seed": None} if self.seeded else {}), **self.arguments()}

    def to_keras(self) -> dict:
        """Keras's serialized form, as a layer's config holds it."""
        return {
            "module": "keras.initializers",
            "class_name": self.keras_name,
            "config": self.get_config(),
            "registered_name": None,
        }

    def text(self) -> str:
        """How an editor shows it: the Keras name when it takes no arguments (`he_normal`), else the class with every
        argument (`VarianceScaling(scale=2.0, mode="fan_out", distribution="truncated_normal")`)."""
        arguments = self.arguments()
        if not arguments:
            return _SNAKE[self.keras_name]
        return f"{self.keras_name}({', '.join(f'{k}={_literal(v)}' for k, v in arguments.items())})"

    def keras_code(self) -> str:
        """A Keras expression that makes it: `keras.initializers.HeNormal()`."""
        arguments = ", ".join(f"{k}={_literal(v)}" for k, v in self.arguments().items())
        return f"keras.initializers.{self.keras_name}({arguments})"

    __repr__ = keras_code  # a layer's generic keras_code writes a setting's value with repr

    def fits_rank(self, ndim: int) -> bool:
        """Whether it draws weights of `ndim` axes (Identity: 2 only; Orthogonal: 2 or more; the others: any)."""
        return True

    def rank_problem(self, shape: tuple[int, ...]) -> str | None:
        """Keras's message when it cannot draw a weight of `shape`'s rank, else None."""
        return None


def _number(cls: str, name: str, value, low: float = -_BOUND, high: float = _BOUND, positive: bool = False) -> float:
    """A checked float argument (bools and non-numbers refused, as are numbers out of [low, high])."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise LayerConfigError(f"{cls}'s {name} must be a number; received {_short(value)}")
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high or (positive and value <= 0):
        within = f"a positive number up to {high:g}" if positive else f"a finite number from {low:g} to {high:g}"
        raise LayerConfigError(f"{cls}'s {name} must be {within}; received {_short(value)}")
    return value


# --- constants --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Zeros(Initializer):
    """Keras's Zeros."""

    keras_name = "Zeros"

    def draw(self, shape, seed):
        return np.zeros(shape, np.float32)

    def cost(self, shape):
        return _draw_cost(shape, _CONSTANT_NS, 0, _CALL_NS)


@dataclass(frozen=True, repr=False)
class Ones(Initializer):
    """Keras's Ones."""

    keras_name = "Ones"

    def draw(self, shape, seed):
        return np.ones(shape, np.float32)

    def cost(self, shape):
        return _draw_cost(shape, _CONSTANT_NS, 0, _CALL_NS)


@dataclass(frozen=True, repr=False)
class Constant(Initializer):
    """Keras's Constant(value): every value float32(value) (a scalar only, as Keras's docstring asks)."""

    keras_name = "Constant"
    value: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "value", _number("Constant", "value", self.value))

    def draw(self, shape, seed):
        return np.full(shape, self.value, np.float32)  # float32(value) · 1, as Keras's cast and multiply give

    def cost(self, shape):
        return _draw_cost(shape, _CONSTANT_NS, 0, _CALL_NS)


@dataclass(frozen=True, repr=False)
class Identity(Initializer):
    """Keras's Identity(gain): gain · eye(rows, columns), for 2-axis weights only."""

    keras_name = "Identity"
    gain: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "gain", _number("Identity", "gain", self.gain))

    def get_config(self):
        return {} if self.gain == 1.0 else {"gain": self.gain}  # Keras writes {} whatever the gain, and loses it

    def draw(self, shape, seed):
        if len(shape) != 2:
            raise LayerConfigError(self.rank_problem(shape))
        return self.gain * np.eye(*shape, dtype=np.float32)

    def cost(self, shape):
        return _draw_cost(shape, _IDENTITY_NS, 0, _CALL_NS)[0], 4 * math.prod(shape)  # the eye, then its product

    def fits_rank(self, ndim):
        return ndim == 2

    def rank_problem(self, shape):
        if len(shape) == 2:
            return None
        return (
            "Identity matrix initializer can only be used for 2D matrices. "
            f"Received: shape={tuple(shape)} of rank {len(shape)}."
        )


# --- random draws -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class RandomNormal(Initializer):
    """Keras's RandomNormal(mean, stddev): normal draws in float64, cast to float32."""

    keras_name = "RandomNormal"
    seeded = True
    mean: float = 0.0
    stddev: float = 0.05

    def __post_init__(self):
        name = self.keras_name
        object.__setattr__(self, "mean", _number(name, "mean", self.mean))
        object.__setattr__(self, "stddev", _number(name, "stddev", self.stddev, low=0.0))

    def draw(self, shape, seed):
        return _normal(shape, seed, self.mean, self.stddev)

    def cost(self, shape):
        return _draw_cost(shape, _NORMAL_NS, _CHUNK_BYTES)


@dataclass(frozen=True, repr=False)
class TruncatedNormal(RandomNormal):
    """Keras's TruncatedNormal(mean, stddev): normal draws beyond two standard deviations drawn again."""

    keras_name = "TruncatedNormal"

    def draw(self, shape, seed):
        return _truncated_normal(shape, seed, self.mean, self.stddev)

    def cost(self, shape):
        return _draw_cost(shape, _TRUNCATED_NS, _TRUNCATED_CHUNK_BYTES)


@dataclass(frozen=True, repr=False)
class RandomUniform(Initializer):
    """Keras's RandomUniform(minval, maxval) (Embedding's "uniform" is -0.05 to 0.05): a float64 draw, rounded."""

    keras_name = "RandomUniform"
    seeded = True
    minval: float = -0.05
    maxval: float = 0.05

    def __post_init__(self):
        object.__setattr__(self, "minval", _number("RandomUniform", "minval", self.minval))
        object.__setattr__(self, "maxval", _number("RandomUniform", "maxval", self.maxval))
        if self.maxval < self.minval:  # NumPy's uniform refuses it: Keras fails when it builds the weight
            raise LayerConfigError(
                f"RandomUniform's maxval must be at least its minval; received minval={self.minval:g}, "
                f"maxval={self.maxval:g}"
            )

    def draw(self, shape, seed):
        return _uniform(shape, seed, self.minval, self.maxval)

    def cost(self, shape):
        return _draw_cost(shape, _UNIFORM_NS, _CHUNK_BYTES)


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class _Scaling(Initializer):
    """What VarianceScaling and its named forms (Glorot, He, Lecun) draw: a variance scaled by the weight's fans."""

    seeded = True
    scales_by_fans = True

    def variance(self) -> tuple[float, str, str]:
        """(scale, mode, distribution)."""
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "input_axes": None, "output_axes": None}

    def draw(self, shape, seed):
        scale, mode, distribution = self.variance()
        fan_in, fan_out = fans(shape)
        if mode == "fan_in":  # Keras's order of operations, for equal bits
            scale /= max(1.0, fan_in)
        elif mode == "fan_out":
            scale /= max(1.0, fan_out)
        else:
            scale /= max(1.0, (fan_in + fan_out) / 2.0)
        if distribution == "truncated_normal":
            return _truncated_normal(shape, seed, 0.0, math.sqrt(scale) / 0.87962566103423978)
        if distribution == "untruncated_normal":
            return _normal(shape, seed, 0.0, math.sqrt(scale))
        limit = math.sqrt(3.0 * scale)
        return _uniform(shape, seed, -limit, limit)

    def cost(self, shape):
        distribution = self.variance()[2]
        if distribution == "truncated_normal":
            return _draw_cost(shape, _TRUNCATED_NS, _TRUNCATED_CHUNK_BYTES)
        return _draw_cost(shape, _NORMAL_NS if distribution == "untruncated_normal" else _UNIFORM_NS, _CHUNK_BYTES)


@dataclass(frozen=True, repr=False)
class VarianceScaling(_Scaling):
    """Keras's VarianceScaling(scale, mode, distribution): stddev (after truncation) or limit from scale / n, n the
    fan_in, fan_out or their mean; "normal" is read as "truncated_normal", the distribution in any letter case."""

    keras_name = "VarianceScaling"
    scale: float = 1.0
    mode: str = "fan_in"
    distribution: str = "truncated_normal"

    def __post_init__(self):
        object.__setattr__(self, "scale", _number("VarianceScaling", "scale", self.scale, positive=True))
        if not isinstance(self.mode, str) or self.mode not in _MODES:
            raise LayerConfigError(
                f"VarianceScaling's mode must be one of {', '.join(_MODES)}; received {_short(self.mode)}"
            )
        distribution = self.distribution.lower() if isinstance(self.distribution, str) else self.distribution
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in _DISTRIBUTIONS:
            raise LayerConfigError(
                f"VarianceScaling's distribution must be one of {', '.join(_DISTRIBUTIONS)} (or normal, "
                f"read as truncated_normal); received {_short(self.distribution)}"
            )
        object.__setattr__(self, "distribution", distribution)

    def variance(self):
        return self.scale, self.mode, self.distribution


def _named_scaling(name: str, scale: float, mode: str, distribution: str, doc: str) -> type:
    cls = type(
        name,
        (_Scaling,),
        {
            "keras_name": name,
            "__doc__": doc,
            "__module__": __name__,
            "__qualname__": name,
            "variance": lambda self: (scale, mode, distribution),
        },
    )
    return dataclass(frozen=True, repr=False)(cls)


GlorotUniform = _named_scaling(
    "GlorotUniform", 1.0, "fan_avg", "uniform", "Keras's GlorotUniform: uniform within ±sqrt(6 / (fan_in + fan_out))."
)
GlorotNormal = _named_scaling(
    "GlorotNormal",
    1.0,
    "fan_avg",
    "truncated_normal",
    "Keras's GlorotNormal: truncated normal, stddev sqrt(2 / (fan_in + fan_out)).",
)
HeUniform = _named_scaling(
    "HeUniform", 2.0, "fan_in", "uniform", "Keras's HeUniform: uniform within ±sqrt(6 / fan_in)."
)
HeNormal = _named_scaling(
    "HeNormal", 2.0, "fan_in", "truncated_normal", "Keras's HeNormal: truncated normal, stddev sqrt(2 / fan_in)."
)
LecunUniform = _named_scaling(
    "LecunUniform", 1.0, "fan_in", "uniform", "Keras's LecunUniform: uniform within ±sqrt(3 / fan_in)."
)
LecunNormal = _named_scaling(
    "LecunNormal", 1.0, "fan_in", "truncated_normal", "Keras's LecunNormal: truncated normal, stddev sqrt(1 / fan_in)."
)


@dataclass(frozen=True, repr=False)
class Orthogonal(Initializer):
    """Keras's Orthogonal(gain): QR of a normal matrix, signs fixed by R's diagonal, times gain (2 axes or more: every
    axis but the last are rows).

    Its cost is the QR's: NumPy's linalg computes a float32 matrix's QR in float64 (LAPACK's geqrf, then orgqr), so a
    recurrent kernel of 2,048 × 2,048 takes about a second and ~150 MB at once (measured: 9.5 copies of the float32
    matrix in the process's peak memory; 0.085 ns per multiply-add of the QR and ~80 ns per value for the draw, the
    float64 copies and the panel factorisation)."""

    keras_name = "Orthogonal"
    seeded = True
    gain: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "gain", _number("Orthogonal", "gain", self.gain))

    def draw(self, shape, seed):
        if len(shape) < 2:
            raise LayerConfigError(self.rank_problem(shape))
        rows, cols = _matrix(shape)
        a = _rng(seed).normal(size=(max(rows, cols), min(rows, cols))).astype(np.float32)
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(np.float32, copy=False)

    def cost(self, shape):
        rows, cols = _matrix(shape)
        m, k = max(rows, cols), min(rows, cols)
        mult_adds = (
            2 * m * k * k - 2 * k**3 // 3
        )  # Householder QR of an m × k matrix (geqrf); orgqr about the same again
        # LAPACK's calls and workspace whatever the size: up to 20 ms and 8 MB (measured at 512 × 512) beyond what
        # scales
        return 4 * mult_adds + 4_000 * m * k + 20_000_000 * WORK_PER_NANOSECOND, 40 * m * k + 8 * 2**20

    def fits_rank(self, ndim):
        return ndim >= 2

    def rank_problem(self, shape):
        if len(shape) >= 2:
            return None
        return (
            "The tensor to initialize must be at least two-dimensional. "
            f"Received: shape={tuple(shape)} of rank {len(shape)}."
        )


def _matrix(shape: tuple[int, ...]) -> tuple[int, int]:
    """A weight as Orthogonal sees it: every axis but the last are rows."""
    return math.prod(shape[:-1]), shape[-1]


# --- the registry: what keras.initializers.get reads ---------------------------------------------------------------
CLASSES: dict[str, type[Initializer]] = {
    cls.keras_name: cls
    for cls in (
        Zeros,
        Ones,
        Constant,
        RandomNormal,
        RandomUniform,
        TruncatedNormal,
        VarianceScaling,
        GlorotNormal,
        GlorotUniform,
        HeNormal,
        HeUniform,
        LecunNormal,
        LecunUniform,
        Orthogonal,
        Identity,
    )
}
_SNAKE = {name: re.sub("([a-z])([A-Z])", r"\1_\2", name).lower() for name in CLASSES}  # Keras's to_snake_case
# Every name keras.initializers.get takes for these classes: the class name, its snake_case, and Keras's aliases.
ALIASES: dict[str, type[Initializer]] = {
    **CLASSES,
    **{_SNAKE[name]: cls for name, cls in CLASSES.items()},
    "normal": RandomNormal,
    "uniform": RandomUniform,
    "one": Ones,
    "zero": Zeros,
    "OrthogonalInitializer": Orthogonal,
    "IdentityInitializer": Identity,
}
# Keras's constructor arguments of each class in its positional order (the seed where Keras has it), for text parsing.
_POSITIONAL = {
    "Constant": ("value",),
    "Identity": ("gain",),
    "Zeros": (),
    "Ones": (),
    "RandomNormal": ("mean", "stddev", "seed"),
    "TruncatedNormal": ("mean", "stddev", "seed"),
    "RandomUniform": ("minval", "maxval", "seed"),
    "Orthogonal": ("gain", "seed"),
    "VarianceScaling": ("scale", "mode", "distribution", "seed", "input_axes", "output_axes"),
    **{
        name: ("seed", "input_axes", "output_axes")
        for name in ("GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform")
    },
}
_REFUSED = {  # names Keras has that netbuilder does not take, with the reason
    "STFT": "STFT is the kernel of Keras's STFTSpectrogram layer, which netbuilder does not have",
    "Initializer": "Initializer is Keras's base class: it draws nothing",
}
_REFUSED.update({"stft": _REFUSED["STFT"], "STFTInitializer": _REFUSED["STFT"], "initializer": _REFUSED["Initializer"]})
NAMES = tuple(sorted(_SNAKE.values()))  # the names an editor lists
ACCEPTED = (
    "a Keras initializer: a name (zeros, ones, random_normal, random_uniform, truncated_normal, variance_scaling, "
    "glorot_normal, glorot_uniform, he_normal, he_uniform, lecun_normal, lecun_uniform, orthogonal, identity; the "
    "class names such as HeNormal and Keras's aliases uniform, normal, zero, one too), a class with its arguments "
    'such as Constant(value=0.5) or VarianceScaling(scale=2.0, mode="fan_out"), a Keras config dict such as '
    '{"class_name": "HeNormal", "config": {}}, or an Initializer'
)
MAX_TEXT_CHARS = 300  # an initializer written as text (`VarianceScaling(...)`) in an editor or a pasted layer


def get_initializer(identifier, what: str = "an initializer") -> Initializer:
    """The Initializer `identifier` names, as keras.initializers.get reads it; a LayerConfigError saying what is
    accepted otherwise. A seed in a config is accepted and ignored (see the module docstring)."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _class_named(identifier, what)
        if cls is Constant:  # Keras's get("constant") fails too: Constant.from_config needs its value
            raise LayerConfigError(
                f"{what}: Constant needs its value, such as Constant(value=0.5) or "
                '{"class_name": "Constant", "config": {"value": 0.5}}'
            )
        return cls()
    if isinstance(identifier, dict):
        return _from_config(identifier, what)
    keras_like = type(identifier).__name__
    if keras_like in CLASSES and callable(getattr(identifier, "get_config", None)):  # a Keras initializer object
        config = identifier.get_config()
        if keras_like == "Identity" and hasattr(
            identifier, "gain"
        ):  # Keras's Identity leaves its gain out of its config
            config = {"gain": identifier.gain}
        return _from_config({"class_name": keras_like, "config": config}, what)
    if identifier is None:
        raise LayerConfigError(
            f"{what} cannot be None in netbuilder: Keras then draws glorot_uniform for every float "
            'weight, biases too; name it ("glorot_uniform", "zeros", ...)'
        )
    raise LayerConfigError(f"{what} must be {ACCEPTED}; received {_short(identifier)}")


def _class_named(name: str, what: str) -> type[Initializer]:
    if name in ALIASES:
        return ALIASES[name]
    if name in _REFUSED:
        raise LayerConfigError(f"{what}: {_REFUSED[name]}")
    raise LayerConfigError(f"{what} must be {ACCEPTED}; received {_short(name)}")


def _from_config(data: dict, what: str) -> Initializer:
    """An Initializer from Keras's serialized form (full or short); unknown config keys are refused, as Keras refuses
    them."""
    name, config = data.get("class_name"), data.get("config")
    if not isinstance(name, str):
        raise LayerConfigError(f'{what}: a config dict needs a class_name such as "HeNormal"; received {_short(data)}')
    cls = _class_named(name, what)
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise LayerConfigError(f"{what}: the config of {name} must be an object; received {_short(config)}")
    config = dict(config)
    allowed = _POSITIONAL[cls.keras_name]
    unknown = [str(k) for k in config if k not in allowed]
    if unknown:
        raise LayerConfigError(
            f"{what}: {cls.keras_name} takes {', '.join(allowed) or 'no arguments'}; received {', '.join(unknown)[:80]}"
        )
    seed = config.pop("seed", None)
    if not (seed is None or isinstance(seed, dict) or (isinstance(seed, int) and not isinstance(seed, bool))):
        raise LayerConfigError(
            f"{what}: {cls.keras_name}'s seed must be an integer or null (netbuilder ignores it: "
            f"every weight is drawn from the model's seed); received {_short(seed)}"
        )
    for axes in ("input_axes", "output_axes"):
        if config.pop(axes, None) is not None:
            raise LayerConfigError(
                f"{what}: {cls.keras_name}'s {axes} is not supported by netbuilder (it sets the fans of "
                "EinsumDense's kernels); its kinds' fans come from the weight's shape, as Keras's do "
                "when input_axes and output_axes are null"
            )
    if cls is Constant and "value" not in config:
        raise LayerConfigError(
            f'{what}: Constant needs its value, such as {{"class_name": "Constant", "config": {{"value": 0.5}}}}'
        )
    try:
        return cls(**config)
    except LayerConfigError as e:
        raise LayerConfigError(f"{what}: {e}") from None


def from_text(text, what: str = "an initializer") -> Initializer:
    """An Initializer from an editor's text: a Keras name (`he_normal`, `HeNormal`), a class with literal arguments
    (`VarianceScaling(scale=2.0, mode="fan_out")`, `keras.initializers.Constant(0.5)`), or a Keras config as JSON.
    Read with `ast` literals and `json` only, never evaluated."""
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
        raise LayerConfigError(f"{what} must be text of at most {MAX_TEXT_CHARS} characters, such as he_normal")
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise LayerConfigError(f"{what}: {_short(text)} is not a valid JSON config") from None
        return get_initializer(data, what)
    try:
        name, call = split_call(text, "initializers")
    except NotACall:
        raise LayerConfigError(f"{what} must be {ACCEPTED}; received {_short(text)}") from None
    if call is None:
        return get_initializer(name, what)
    cls = _class_named(name, what)
    try:
        positional, keywords = call_arguments(call)
    except NotACall:
        raise LayerConfigError(
            f"{what}: the arguments of {name} must be plain values, such as "
            f"{cls.keras_name}({', '.join(f'{a}=…' for a in _POSITIONAL[cls.keras_name][:2])}); "
            f"received {_short(text)}"
        ) from None
    if None in keywords:  # **{...}
        raise LayerConfigError(f"{what}: write {name}'s arguments by name, such as scale=2.0")
    order = _POSITIONAL[cls.keras_name]
    if len(positional) > len(order):
        raise LayerConfigError(
            f"{what}: {cls.keras_name} takes at most {len(order)} arguments ({', '.join(order) or 'none'}); "
            f"received {len(positional)}"
        )
    config = dict(zip(order, positional))
    twice = set(config) & set(keywords)
    if twice:
        raise LayerConfigError(f"{what}: {cls.keras_name} received {', '.join(sorted(twice))} twice")
    config.update(keywords)
    if cls is Constant and "value" not in config:
        config["value"] = 0.0  # Constant() in code is Constant(value=0.0), as in Keras
    return _from_config({"class_name": cls.keras_name, "config": config}, what)


glorot_uniform = GlorotUniform()
orthogonal = Orthogonal()
zeros = Zeros()
ones = Ones()
random_uniform = RandomUniform
constant = Constant
