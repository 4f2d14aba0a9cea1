"""Data sets to train on: small 2-D toys made from a seed (the TensorFlow Playground's), a noisy sine,
and one small real image set shipped with the project (8×8 handwritten digits). No downloads.

Each is (x, y, task): task says which loss fits ("binary", "sparse" or "regression").
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.errors import InputDataError

DIGITS_FILE = Path(__file__).with_name("data") / "digits.csv.gz"


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    x: np.ndarray  # float32, (samples, *input shape)
    y: np.ndarray  # float32, (samples, 1) for binary and regression, (samples,) class labels for sparse
    task: str  # "binary", "sparse" or "regression"
    about: str


def _noise(rng, shape, scale):
    return rng.normal(scale=scale, size=shape)


def xor(n: int = 200, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.float32)[:, None]
    return Dataset(
        "XOR",
        x.astype(np.float32),
        y,
        "binary",
        "Class 1 where both coordinates have the same sign: no straight line separates it.",
    )


def circles(n: int = 200, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    radius = np.where(np.arange(n) % 2 == 0, rng.uniform(0, 0.45, n), rng.uniform(0.65, 1.0, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1) + _noise(rng, (n, 2), 0.04)
    y = (np.arange(n) % 2 == 0).astype(np.float32)[:, None]
    return Dataset("Circles", x.astype(np.float32), y, "binary", "An inner disc (class 1) inside a ring (class 0).")


def moons(n: int = 200, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    upper = np.arange(n) % 2 == 0
    x = np.where(upper[:, None], np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    x = (x - [0.5, 0.25]) / 1.2 + _noise(rng, (n, 2), 0.06)
    return Dataset(
        "Moons", x.astype(np.float32), upper.astype(np.float32)[:, None], "binary", "Two interleaving half circles."
    )


def spirals(n: int = 200, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.25, 1.0, n) * 3 * np.pi
    arm = np.arange(n) % 2
    angle = t + arm * np.pi
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], 1) / (3 * np.pi) + _noise(rng, (n, 2), 0.02)
    return Dataset(
        "Spirals",
        x.astype(np.float32),
        arm.astype(np.float32)[:, None],
        "binary",
        "Two spiral arms wound around each other: the hardest of the toys.",
    )


def sine(n: int = 200, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi, np.pi, size=(n, 1))
    y = np.sin(x) + _noise(rng, (n, 1), 0.1)
    return Dataset(
        "Noisy sine",
        x.astype(np.float32),
        y.astype(np.float32),
        "regression",
        "y = sin(x) plus noise: a curve to fit (regression).",
    )


def digits(n: int | None = None, seed: int = 0) -> Dataset:
    """The 8×8 handwritten digits, pixels scaled to 0..1, shape (8, 8, 1) per sample; `n` samples taken in order."""
    with gzip.open(DIGITS_FILE, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    table = table if n is None else table[:n]
    x = (table[:, :64] / 16.0).reshape(-1, 8, 8, 1)
    return Dataset(
        "Digits 8×8",
        x.astype(np.float32),
        table[:, 64].astype(np.float32),
        "sparse",
        "1,797 real handwritten digits (UCI, CC BY 4.0), 8×8 pixels: 10 classes.",
    )


DATASETS = {"xor": xor, "circles": circles, "moons": moons, "spirals": spirals, "sine": sine, "digits": digits}
TITLES = {
    "xor": "XOR",
    "circles": "Circles",
    "moons": "Moons",
    "spirals": "Two spirals",
    "sine": "Noisy sine (regression)",
    "digits": "Handwritten digits 8×8",
}


def get(name: str, seed: int = 0) -> Dataset:
    if name not in DATASETS:
        raise InputDataError(f"unknown data set {str(name)[:40]!r}; there are {', '.join(DATASETS)}")
    return DATASETS[name](seed=seed)
