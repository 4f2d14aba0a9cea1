"""Initial weights drawn exactly as Keras's NumPy backend draws them from an integer seed.

Every initializer takes (shape, seed) and returns float32. Keras seeds NumPy's generator with
the pair [seed, 0] (keras.random.draw_seed), so the same seed gives the same bits here and there.
"""

from __future__ import annotations

import math

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


def glorot_uniform(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Keras's GlorotUniform(seed=seed)(shape), bit for bit."""
    fan_in, fan_out = fans(shape)
    scale = 1.0 / max(1.0, (fan_in + fan_out) / 2.0)  # Keras's order of operations, for equal bits
    limit = math.sqrt(3.0 * scale)
    return _rng(seed).uniform(size=shape, low=-limit, high=limit).astype(np.float32)


def random_uniform(low: float, high: float):
    """Keras's RandomUniform(low, high, seed) (Embedding's "uniform" is -0.05 to 0.05)."""

    def draw(shape: tuple[int, ...], seed: int) -> np.ndarray:
        return _rng(seed).uniform(size=shape, low=low, high=high).astype(np.float32)

    return draw


def orthogonal(shape: tuple[int, ...], seed: int, gain: float = 1.0) -> np.ndarray:
    """Keras's Orthogonal(seed=seed)(shape): QR of a normal matrix, signs fixed by R's diagonal."""
    rows, cols = math.prod(shape[:-1]), shape[-1]
    a = _rng(seed).normal(size=(max(rows, cols), min(rows, cols))).astype(np.float32)
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape).astype(np.float32)


def zeros(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.zeros(shape, np.float32)


def ones(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.ones(shape, np.float32)


def constant(value: float):
    def fill(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
        return np.full(shape, value, np.float32)

    return fill
