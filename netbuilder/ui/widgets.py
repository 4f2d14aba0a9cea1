"""Page pieces several pages use: a setting's editor widget, number tables, heatmaps with their scale, and each
tensor's layout (channels first or last)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ..engine.settings import Setting
from ..engine.shapes import format_shape
from ..studio.samples import Shown, as_matrix, matrix_shape
from ..studio.spec import ModelSpec
from ..views import heatmap
from . import state

HEAT_CELLS = 64  # rows and columns of a tensor drawn as a picture or written as numbers; more are cut (and said so)
MAX_NUMBERS = 512  # numbers of one tensor written out: a page of numbers stays light, whatever the tensor's size
# Number grids: cells at least as wide as the widest "{:.4g}" (-1.234e-05), as many per row as the width holds.
GRID_CSS = (
    "<style>.nb-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(7.2em,1fr));gap:2px;"
    "font-size:0.875rem;font-variant-numeric:tabular-nums;margin-bottom:0.5rem}"
    ".nb-c{display:flex;flex-direction:column;padding:0 6px;border-radius:3px;white-space:nowrap;line-height:1.25}"
    ".nb-c small{font-size:0.7rem;color:#4b5563}.nb-c span{text-align:right}"
    ".nb-row{font-size:0.8rem;color:#4b5563;margin-top:2px}</style>"
)


def layer_key(layer_id: int, name: str) -> str:
    """The key of a layer's widget `name` (a setting, or what it takes): from its stable id, the same on every run."""
    return f"{name}_{layer_id}"


def setting_widget(layer_id: int, setting: Setting, value) -> None:
    """The editor widget a setting declares, keyed by the layer's stable id; the model is the truth, so a
    refused edit snaps back to the model's value."""
    key = layer_key(layer_id, setting.name)
    st.session_state[key] = setting.format_text(value) if setting.widget == "text" else value
    help_text = " ".join(
        part for part in (setting.help, f"Allowed: {setting.allowed}." if setting.allowed else "") if part
    )
    kwargs = dict(key=key, on_change=state.on_setting, args=(layer_id, setting, key), help=help_text or None)
    if setting.widget == "number":
        st.number_input(setting.name, step=1, **kwargs)
    elif setting.widget == "float":
        st.number_input(setting.name, step=0.01, format="%g", **kwargs)
    elif setting.widget == "checkbox":
        st.checkbox(setting.name, **kwargs)
    elif setting.widget == "select":
        st.selectbox(setting.name, setting.choices, **kwargs)
    else:
        st.text_input(setting.name, placeholder=setting.placeholder or None, **kwargs)


def sample_index(samples: int, key: str) -> int:
    """Which of a batch's `samples` to show: chosen with a number input when there is more than one."""
    if samples <= 1:
        return 0
    return int(
        st.number_input(
            f"Sample (0 to {samples - 1})",
            min_value=0,
            max_value=samples - 1,
            step=1,
            key=key,
            help="Which sample of the batch the numbers and pictures show.",
        )
    )


def number_table(sample: np.ndarray, scale: float | None = None, shape: tuple[int, ...] | None = None) -> None:
    """One sample's numbers as an HTML grid that wraps to its column's width (no hidden sideways scrolling):
    each number in a cell with its index, colored like its heatmap, sign and exponent shown (every digit on
    hover), NaN as nan. A sample with leading axes gets a line per position (`[0, 1, :]`), or, when its last
    axis is short, one grid indexed in full; at most HEAT_CELLS each way and MAX_NUMBERS in all are written.
    With `shape`, `sample` is the top-left corner (as samples.as_matrix lays it out) of an array of that shape."""
    shape = np.shape(sample) if shape is None else shape
    full = as_matrix(sample)  # a view: nothing is copied
    columns = min(full.shape[1], HEAT_CELLS)
    matrix = full[: max(1, min(full.shape[0], HEAT_CELLS, MAX_NUMBERS // columns)), :columns]
    pale = 255 - (255 - heatmap.colors(matrix, scale).astype(int)) // 2  # half strength keeps the numbers readable
    leading = shape[:-1]
    lines = [GRID_CSS]
    cells = []
    for r, (row, tints) in enumerate(zip(matrix, pale)):
        position = ", ".join(map(str, np.unravel_index(r, leading))) if leading else ""
        per_line = leading and columns >= 4
        cells += [
            _cell(v, t, j if per_line or not leading else f"{position}, {j}")
            for j, (v, t) in enumerate(zip(row, tints))
        ]
        if per_line:
            lines += [f'<div class="nb-row">[{position}, :]</div>', f'<div class="nb-grid">{"".join(cells)}</div>']
            cells = []
    if cells:
        lines.append(f'<div class="nb-grid">{"".join(cells)}</div>')
    st.html("".join(lines))
    whole = matrix_shape(shape)
    if whole != matrix.shape:
        st.caption(f"Showing {matrix.shape[0]:,} × {matrix.shape[1]:,} of {whole[0]:,} × {whole[1]:,} numbers.")


def _cell(value, tint, index) -> str:
    """One number's cell: its index above it, its heatmap tint, and every digit in its title (shown on hover)."""
    return (
        f'<div class="nb-c" style="background:rgb({tint[0]},{tint[1]},{tint[2]})" title="{value!s}">'
        f"<small>{index}</small><span>{_number(value)}</span></div>"
    )


def _number(value) -> str:
    """A value as the tables write it: four significant digits, NaN as nan."""
    return "nan" if np.isnan(value) else f"{value:.4g}"


def heatmap_legend(scale: float | None) -> None:
    """The color scale the pictures below share, its ±value at its ends; with None, the colors of pictures each on
    its own scale (each one's value written above it)."""
    left, middle, right = st.columns([1, 3, 1], vertical_alignment="center")
    left.caption("−its max" if scale is None else f"−{scale:.3g}")
    middle.image(heatmap.legend(), width="stretch")
    right.caption("+its max" if scale is None else f"+{scale:.3g}")


def channels_first(spec: ModelSpec) -> list[bool]:
    """For the input and each layer's output: whether its channels come first. The input as the first layer with a
    data_format reads it; an output as its layer's data_format says (or as its input, through a layer without one);
    a layer that changes the rank starts again from channels_last (Flatten, Reshape)."""
    formats = [layer.values.get("data_format") for layer in spec.layers]
    first = next((f for f in formats if f), "channels_last") == "channels_first"
    layouts = [first] * len(spec.input_shapes)  # each input as the first
    for fmt, report in zip(formats, spec.analysis.layers):
        if report.output_shape is None or len(report.output_shape) != len(report.input_shape):
            first = False
        elif fmt:
            first = fmt == "channels_first"
        layouts.append(first)
    return layouts


def picture_range(shown: Shown, scale: float | None) -> tuple[str, float]:
    """A sample's range in words and the scale to draw it on: `scale`, or with None its own (its largest finite
    |value| in full color), which the words then give too."""
    finite = shown.finite
    span = f"from {finite[0]:.4g} to {finite[1]:.4g}" if finite else "no finite values"
    if scale is not None:
        return span, scale
    return f"{span} · colors on its own scale ±{shown.magnitude:.3g}", shown.magnitude


def tensor_picture(title: str, shown: Shown, sample: int, scale: float | None, channels_first: bool = False) -> None:
    """A tensor's shape, one sample's range and its picture (on `scale`, or with None on its own)."""
    span, scale = picture_range(shown, scale)
    st.markdown(f"**{state.plain(title)}** — `{format_shape(shown.shape)}` · sample {sample} {span}")
    sample_picture(shown, scale, channels_first)


def sample_numbers(shown: Shown, scale: float | None = None) -> None:
    """The numbers of the sample shown (number_table of its matrix)."""
    number_table(shown.matrix, scale, shape=shown.sample_shape)


def sample_picture(shown: Shown, scale: float, channels_first: bool = False) -> None:
    """One sample as a picture: an image's channels as tiles, anything else one row per position and one column
    per feature."""
    if shown.image is None:
        st.image(heatmap.image(shown.matrix, scale=scale), clamp=True)
        return
    shape = shown.sample_shape
    channels, rows, columns = shape if channels_first else (shape[2], shape[0], shape[1])
    st.image(heatmap.feature_maps(shown.image, channels_first, scale), clamp=True)
    axis = "the first axis, channels_first" if channels_first else "the last axis"
    notes = [f"One {rows}×{columns} picture per channel ({axis}), channel 0 first, left to right"]
    if channels > heatmap.MAX_MAPS:
        notes.append(f"{heatmap.MAX_MAPS} of {channels} channels")
    if rows > heatmap.MAP_CELLS or columns > heatmap.MAP_CELLS:
        notes.append(f"each cut to its first {heatmap.MAP_CELLS}×{heatmap.MAP_CELLS}")
    st.caption("; ".join(notes) + ".")
