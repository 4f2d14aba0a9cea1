"""Initial weights drawn exactly as Keras's NumPy backend draws them from an integer seed, and what drawing them costs.

Every initializer takes (shape, seed) and returns float32; `cost(shape)` tells its work and memory beforehand. Keras seeds NumPy's generator with
the pair [seed, 0] (keras.random.draw_seed), so the same seed gives the same bits here and there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import LayerConfigError
from .limits import MAX_LAYERS, MAX_SEED


def layer_seed(model_seed: int, index: int) -> int:
    """The initializer seed of the layer at `index` in a model seeded with `model_seed`."""
    return 1000 * model_seed + index


def check_seed(seed) -> int:
    """`seed` as an int in 0..MAX_SEED, or a LayerConfigError saying what is allowed."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise LayerConfigError(f"seed must be an integer from 0 to {MAX_SEED:,}; received {str(seed)[:40]!r}")
    assert MAX_LAYERS < 1000  # layer_seed keeps the seeds of different layers apart
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


class Initializer:
    """How a weight starts: `init(shape, seed)` draws it as Keras's NumPy backend does (float32), and `cost(shape)`
    says beforehand what drawing it takes: (work in multiply-add equivalents, bytes of temporaries beside the weight).

    Times were measured on the 2-core server (one BLAS thread, another process busy) and rounded up: building a model
    answers to the budgets of a run like any other work (engine/cost.py)."""

    def __call__(self, shape: tuple[int, ...], seed: int) -> np.ndarray:
        raise NotImplementedError

    def cost(self, shape: tuple[int, ...]) -> tuple[int, int]:
        return 0, 0


WORK_PER_NANOSECOND = 40  # MAX_WORK (40 G) is about a second of this server: 40 work units a nanosecond
DRAW_CHUNK = 1 << 16  # values drawn at a time: a generator's stream is the same in pieces as in one call


@dataclass(frozen=True)
class RandomUniform(Initializer):
    """Keras's RandomUniform(low, high, seed) (Embedding's "uniform" is -0.05 to 0.05): a float64 draw, rounded."""

    low: float
    high: float

    def __call__(self, shape, seed):
        rng, out = _rng(seed), np.empty(math.prod(shape), np.float32)
        for start in range(0, out.size, DRAW_CHUNK):  # the same stream as one draw, without its float64 copy of the weight
            out[start : start + DRAW_CHUNK] = rng.uniform(size=min(DRAW_CHUNK, out.size - start), low=self.low, high=self.high)
        return out.reshape(shape)

    def cost(self, shape):
        n = math.prod(shape)
        return 8 * WORK_PER_NANOSECOND * n, 8 * min(n, DRAW_CHUNK)  # ~5-7 ns a value; one chunk drawn in float64


class GlorotUniform(Initializer):
    """Keras's GlorotUniform(seed=seed)(shape), bit for bit."""

    def __call__(self, shape, seed):
        fan_in, fan_out = fans(shape)
        scale = 1.0 / max(1.0, (fan_in + fan_out) / 2.0)  # Keras's order of operations, for equal bits
        limit = math.sqrt(3.0 * scale)
        return RandomUniform(-limit, limit)(shape, seed)

    def cost(self, shape):
        return RandomUniform(0, 1).cost(shape)


@dataclass(frozen=True)
class Orthogonal(Initializer):
    """Keras's Orthogonal(seed=seed)(shape): QR of a normal matrix, signs fixed by R's diagonal.

    Its cost is the QR's: NumPy's linalg computes a float32 matrix's QR in float64 (LAPACK's geqrf, then orgqr), so a
    recurrent kernel of 2,048 × 2,048 takes about a second and ~150 MB at once (measured: 9.5 copies of the float32
    matrix in the process's peak memory; 0.085 ns per multiply-add of the QR and ~80 ns per value for the draw, the
    float64 copies and the panel factorisation)."""

    gain: float = 1.0

    def __call__(self, shape, seed):
        rows, cols = _matrix(shape)
        a = _rng(seed).normal(size=(max(rows, cols), min(rows, cols))).astype(np.float32)
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(np.float32)

    def cost(self, shape):
        rows, cols = _matrix(shape)
        m, k = max(rows, cols), min(rows, cols)
        mult_adds = 2 * m * k * k - 2 * k**3 // 3  # Householder QR of an m × k matrix (geqrf); orgqr about the same again
        # LAPACK's calls and workspace whatever the size: up to 20 ms and 8 MB (measured at 512 × 512) beyond what scales
        return 4 * mult_adds + 4_000 * m * k + 20_000_000 * WORK_PER_NANOSECOND, 40 * m * k + 8 * 2**20


@dataclass(frozen=True)
class Constant(Initializer):
    """Keras's Zeros, Ones and Constant(value)."""

    value: float

    def __call__(self, shape, seed=0):
        return np.full(shape, self.value, np.float32)

    def cost(self, shape):
        return WORK_PER_NANOSECOND * math.prod(shape), 0  # under a nanosecond a value, written in place


def _matrix(shape: tuple[int, ...]) -> tuple[int, int]:
    """A weight as Orthogonal sees it: every axis but the last are rows."""
    return math.prod(shape[:-1]), shape[-1]


glorot_uniform = GlorotUniform()
orthogonal = Orthogonal()
zeros = Constant(0.0)
ones = Constant(1.0)
random_uniform = RandomUniform
constant = Constant
