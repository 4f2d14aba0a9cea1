"""Training pictures as arrays: a 2-D model's decision boundary with the data on it."""

from __future__ import annotations

import numpy as np

CLASS_1, CLASS_0 = np.array([220, 38, 38]), np.array([37, 99, 235])  # red, blue: the heatmaps' colors
SCALE = 5  # screen pixels per grid cell


def boundary_image(probabilities: np.ndarray, extent, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """RGB picture: the model's output over the plane (blue 0 → white 0.5 → red 1) and each sample as a dot of its class."""
    p = np.clip(np.nan_to_num(probabilities, nan=0.5), 0, 1)[..., None]
    white = np.array([255, 255, 255])
    strength = np.abs(p - 0.5) * 2 * 0.75  # pale, so the dots stand out
    base = np.where(p >= 0.5, white + (CLASS_1 - white) * strength, white + (CLASS_0 - white) * strength)
    image = np.repeat(np.repeat(base, SCALE, axis=0), SCALE, axis=1).astype(np.uint8)
    x0, x1, y0, y1 = extent
    height, width = image.shape[:2]
    cols = np.clip(((x[:, 0] - x0) / (x1 - x0) * (width - 1)).astype(int), 1, width - 2)
    rows = np.clip(((y1 - x[:, 1]) / (y1 - y0) * (height - 1)).astype(int), 1, height - 2)
    labels = np.asarray(y).reshape(len(x), -1)[:, 0] > 0.5
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            image[rows + dr, cols + dc] = np.where(labels[:, None], CLASS_1 * 0.7, CLASS_0 * 0.7).astype(np.uint8)
    return image
