"""Tensors as pictures: one sample laid out as rows × features, colored blue (< 0), white (0), red (> 0)."""

from __future__ import annotations

import math

import numpy as np

NAN_RGB = (160, 160, 160)  # grey: NaN is no value at all


def as_matrix(sample: np.ndarray) -> np.ndarray:
    """One sample as a 2-D array: one row per position of the leading axes, one column per feature."""
    sample = np.asarray(sample)
    if sample.ndim == 0:
        return sample.reshape(1, 1)
    return sample.reshape(math.prod(sample.shape[:-1]), sample.shape[-1])


def magnitude(*arrays) -> float:
    """The largest finite |value| of all `arrays` (0 when none is finite): one scale for pictures shown together."""
    return max((float(np.abs(a[np.isfinite(a)]).max(initial=0.0)) for a in map(np.asarray, arrays)), default=0.0)


def colors(matrix: np.ndarray, scale: float | None = None) -> np.ndarray:
    """RGB (uint8) per value: -scale is full blue, 0 white, +scale full red (default scale: the largest
    finite magnitude of `matrix`); ±inf take the extreme colors, NaN is grey."""
    values = np.asarray(matrix, dtype=np.float64)
    scale = magnitude(values) if scale is None else scale
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.clip(values / (scale or 1.0), -1.0, 1.0)  # ±inf → ±1; NaN stays NaN
    fade = np.rint(255 * (1 - np.abs(np.nan_to_num(v)))).astype(np.uint8)
    full = np.full_like(fade, 255)
    rgb = np.where((v >= 0)[..., None], np.stack([full, fade, fade], -1), np.stack([fade, fade, full], -1))
    rgb[np.isnan(v)] = NAN_RGB
    return rgb


def image(matrix: np.ndarray, max_rows: int = 64, max_cols: int = 256, width: int = 480, scale: float | None = None) -> np.ndarray:
    """An RGB picture of `matrix` (cut to max_rows × max_cols), each value a square block of pixels."""
    part = np.asarray(matrix)[:max_rows, :max_cols]
    cell = max(2, min(24, width // max(1, part.shape[1])))
    return np.repeat(np.repeat(colors(part, scale), cell, axis=0), cell, axis=1)


def legend(width: int = 240, height: int = 14) -> np.ndarray:
    """The color scale as a picture: full blue (-scale) through white (0) to full red (+scale)."""
    row = colors(np.linspace(-1.0, 1.0, width)[None, :], 1.0)
    return np.repeat(row, height, axis=0)
