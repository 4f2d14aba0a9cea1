"""Glorot-uniform kernels drawn exactly as Keras's NumPy backend draws GlorotUniform(seed=s)."""

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
        raise LayerConfigError(f"seed must be an integer from 0 to {MAX_SEED:,}; received {seed!r}")
    assert MAX_LAYERS < 1000  # layer_seed keeps the seeds of different layers apart
    return int(seed)


def resolve_seed(seed) -> int:
    """A checked seed; None draws a fresh one (unseeded, as Keras is by default)."""
    return int(np.random.default_rng().integers(0, MAX_SEED + 1)) if seed is None else check_seed(seed)


def glorot_uniform(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Keras's GlorotUniform(seed=seed)(shape) for a 2-D kernel, bit for bit."""
    fan_in, fan_out = shape
    scale = 1.0 / max(1.0, (fan_in + fan_out) / 2.0)  # Keras's order of operations, for equal bits
    limit = math.sqrt(3.0 * scale)
    rng = np.random.default_rng(np.array([seed, 0], dtype="uint32"))
    return rng.uniform(size=shape, low=-limit, high=limit).astype(np.float32)
