"""Tensors as pictures: one sample laid out as rows × features, or an image's channels as tiles, colored blue (< 0),
white (0), red (> 0)."""

from __future__ import annotations

import numpy as np

from ..studio.samples import Cut, finite_range

NAN_RGB = (160, 160, 160)  # grey: NaN is no value at all


def magnitude(*arrays) -> float:
    """The largest finite |value| of all `arrays` (0 when none is finite): one scale for pictures shown together."""
    ranges = [r for r in map(finite_range, arrays) if r is not None]
    return max((max(-low, high) for low, high in ranges), default=0.0)


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


MAX_ROWS, MAX_COLUMNS = 64, 256  # of a matrix drawn as a picture: more are cut


def image(
    matrix: np.ndarray,
    max_rows: int = MAX_ROWS,
    max_cols: int = MAX_COLUMNS,
    width: int = 480,
    scale: float | None = None,
) -> np.ndarray:
    """An RGB picture of `matrix` (cut to max_rows × max_cols), each value a square block of pixels."""
    part = np.asarray(matrix)[:max_rows, :max_cols]
    cell = max(2, min(24, width // max(1, part.shape[1])))
    return np.repeat(np.repeat(colors(part, scale), cell, axis=0), cell, axis=1)


MAX_MAPS = 32  # channels drawn of one image-shaped sample
MAP_CELLS = 64  # rows and columns drawn of each channel
CUT = Cut(MAX_ROWS, MAX_COLUMNS, max(MAP_CELLS, MAX_MAPS))  # what a run hands back of a sample: all that is drawn of it
GAP = 2  # pixels between tiles, dark: white and pale grey are values (0, NaN)
GAP_RGB = (60, 60, 60)
MAX_CELL = 24  # pixels per value at most: an 8×8 digit and its 6×6 feature maps are big enough to read strokes in


def feature_maps(
    sample: np.ndarray, channels_first: bool = False, scale: float | None = None, width: int = 960, per_row: int = 8
) -> np.ndarray:
    """An RGB picture of an image-shaped sample ((rows, columns, channels), or (channels, rows, columns) with
    channels_first): one tile per channel, left to right in rows of `per_row`, dark lines between them (at most MAX_MAPS
    channels, each cut to MAP_CELLS × MAP_CELLS)."""
    maps = np.moveaxis(np.asarray(sample), 0, -1) if channels_first else np.asarray(sample)
    maps = maps[:MAP_CELLS, :MAP_CELLS, :MAX_MAPS]
    h, w, n = maps.shape
    per_row = max(1, min(per_row, n))
    cell = max(1, min(MAX_CELL, (width // per_row - GAP) // max(1, w)))
    tile_h, tile_w = h * cell, w * cell
    rows = -(-n // per_row)
    out = np.empty((rows * (tile_h + GAP) - GAP, per_row * (tile_w + GAP) - GAP, 3), np.uint8)
    out[...] = GAP_RGB  # and where a last row of tiles ends early
    rgb = colors(maps, scale)  # (h, w, n, 3)
    for k in range(n):
        top, left = (k // per_row) * (tile_h + GAP), (k % per_row) * (tile_w + GAP)
        out[top : top + tile_h, left : left + tile_w] = np.repeat(np.repeat(rgb[:, :, k], cell, axis=0), cell, axis=1)
    return out


def legend(width: int = 240, height: int = 14) -> np.ndarray:
    """The color scale as a picture: full blue (-scale) through white (0) to full red (+scale)."""
    row = colors(np.linspace(-1.0, 1.0, width)[None, :], 1.0)
    return np.repeat(row, height, axis=0)
