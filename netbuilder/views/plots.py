"""Training pictures as data: a 2-D model's decision boundary with the data on it (an RGB array), and the charts of a
run as Vega-Lite specifications (lines with their points, so a one-epoch run still shows its point)."""

from __future__ import annotations

import numpy as np

CLASS_1, CLASS_0 = np.array([220, 38, 38]), np.array([37, 99, 235])  # red, blue: the heatmaps' colors
DOT_1, DOT_0 = np.array([127, 17, 17]), np.array([23, 37, 110])  # the samples: dark, so they stand out on either side
SCALE = 6  # screen pixels per grid cell
DOT_RADIUS = 4  # pixels: a sample's dot, with a white ring one pixel wide around it


def boundary_image(probabilities: np.ndarray, extent, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """RGB picture: the model's output over the plane (blue 0 → white 0.5 → red 1), each sample a dark dot of its class
    ringed in white."""
    p = np.clip(np.nan_to_num(probabilities, nan=0.5), 0, 1)[..., None]
    white = np.array([255, 255, 255])
    strength = np.abs(p - 0.5) * 2 * 0.6  # pale, so the dots stand out
    base = np.where(p >= 0.5, white + (CLASS_1 - white) * strength, white + (CLASS_0 - white) * strength)
    image = np.repeat(np.repeat(base, SCALE, axis=0), SCALE, axis=1).astype(np.uint8)
    x0, x1, y0, y1 = extent
    height, width = image.shape[:2]
    r = DOT_RADIUS + 1
    cols = np.clip(((x[:, 0] - x0) / (x1 - x0) * (width - 1)).astype(int), r, width - 1 - r)
    rows = np.clip(((y1 - x[:, 1]) / (y1 - y0) * (height - 1)).astype(int), r, height - 1 - r)
    labels = np.asarray(y).reshape(len(x), -1)[:, 0] > 0.5
    colors = np.where(labels[:, None], DOT_1, DOT_0).astype(np.uint8)
    offsets = [(dr, dc) for dr in range(-r, r + 1) for dc in range(-r, r + 1) if dr * dr + dc * dc <= r * r]
    for dr, dc in offsets:  # the ring first, then the dot over it
        image[rows + dr, cols + dc] = 255
    for dr, dc in offsets:
        if dr * dr + dc * dc <= DOT_RADIUS * DOT_RADIUS:
            image[rows + dr, cols + dc] = colors
    return image


MAX_POINTS = 400  # points of one series a chart draws: the page re-sends its charts after every piece of a run


def lines_chart(xs: list, series: dict[str, list], x_title: str, y_title: str) -> dict:
    """A Vega-Lite line chart of one or more series over `xs`, each point marked, with its own y axis title; a long
    series is drawn at MAX_POINTS evenly spaced points, its first and last among them."""
    keep = (
        sorted(set(np.linspace(0, len(xs) - 1, MAX_POINTS).round().astype(int).tolist()))
        if len(xs) > MAX_POINTS
        else range(len(xs))
    )
    values = [
        {x_title: xs[i], "series": name, y_title: ys[i]}
        for name, ys in series.items()
        for i in keep
        if ys[i] is not None and np.isfinite(ys[i])
    ]
    legend = {"orient": "top", "title": None} if len(series) > 1 else None  # one series: its axis title names it
    return {
        "data": {"values": values},
        "mark": {"type": "line", "point": {"size": 30}, "tooltip": True},
        "encoding": {
            "x": {"field": x_title, "type": "quantitative", "axis": {"tickMinStep": 1, "format": "d"}},
            "y": {"field": y_title, "type": "quantitative", "scale": {"zero": False}, "axis": {"titlePadding": 8}},
            "color": {"field": "series", "type": "nominal", "legend": legend},
        },
    }


def curve_chart(xs: list, ys: list) -> dict:
    """The batch-by-batch loss: one line (points only when there are few)."""
    spec = lines_chart(xs, {"loss": ys}, "batch", "loss")
    spec["mark"]["point"] = {"size": 30} if len(xs) <= 40 else False
    return spec
