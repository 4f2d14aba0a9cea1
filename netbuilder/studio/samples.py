"""One sample of a tensor as the pages draw it: its range, and only the corner that is drawn.

A run (in a worker when heavy) hands back these, not its tensors: a batch at the run-memory budget stays where it was
computed, and the server holds a few kilobytes per tensor shown, whatever the model's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CHUNK = 1 << 18  # values read at a time for a range: temporaries stay ~2 MB whatever the tensor's size


def matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, columns) of as_matrix for an array of `shape`."""
    return (math.prod(shape[:-1]), shape[-1]) if shape else (1, 1)


def as_matrix(sample: np.ndarray) -> np.ndarray:
    """One sample as a 2-D array: one row per position of the leading axes, one column per feature."""
    sample = np.asarray(sample)
    return sample.reshape(matrix_shape(sample.shape))


def finite_range(array) -> tuple[float, float] | None:
    """The smallest and largest finite value of `array` (None when none is finite), read in chunks."""
    flat = np.asarray(array).reshape(-1)  # a view for the contiguous tensors of a run
    low, high = np.inf, -np.inf
    for start in range(0, flat.size, CHUNK):
        part = flat[start : start + CHUNK].astype(np.float64)
        part = part[np.isfinite(part)]
        if part.size:
            low, high = min(low, float(part.min())), max(high, float(part.max()))
    return (low, high) if low <= high else None


@dataclass(frozen=True)
class Cut:
    """How much of one sample a page draws at most: `rows` × `columns` of its matrix (numbers, flat pictures), and
    `cells` of each axis of an image-shaped (rank-3) sample."""

    rows: int
    columns: int
    cells: int


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value
class Shown:
    """One sample of a tensor as a page draws it: the tensor's shape (batch first), the sample's finite range, its
    matrix cut to the page's rows and columns, and of an image-shaped sample its image cut on every axis."""

    shape: tuple[int, ...]
    finite: tuple[float, float] | None
    matrix: np.ndarray
    image: np.ndarray | None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.shape[1:]

    @property
    def magnitude(self) -> float:
        """The sample's largest finite |value| (0 when none is finite)."""
        return max(-self.finite[0], self.finite[1]) if self.finite else 0.0


def shown(tensor: np.ndarray, sample: int, cut: Cut) -> Shown:
    """Sample `sample` of `tensor`, cut as `cut` says (copies: the tensor itself is not kept)."""
    values = tensor[sample]
    image = values[: cut.cells, : cut.cells, : cut.cells].copy() if values.ndim == 3 else None
    matrix = as_matrix(values)[: cut.rows, : cut.columns].copy()
    return Shown(tuple(tensor.shape), finite_range(values), matrix, image)
