"""Page pieces several pages use: a setting's editor widget, number tables, heatmaps with their scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ..engine.settings import Setting
from ..engine.shapes import format_shape
from ..views import heatmap
from . import state

HEAT_CELLS = 64  # rows and columns of a tensor shown as numbers; more are cut (and said so)


def setting_widget(layer_id: int, setting: Setting, value) -> None:
    """The editor widget a setting declares, keyed by the layer's stable id; the model is the truth, so a
    refused edit snaps back to the model's value."""
    key = f"{setting.name}_{layer_id}"
    st.session_state[key] = setting.format_text(value) if setting.widget == "text" else value
    help_text = " ".join(part for part in (setting.help, f"Allowed: {setting.allowed}." if setting.allowed else "") if part)
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
        st.text_input(setting.name, **kwargs)


def sample_of(tensor: np.ndarray, key: str) -> tuple[np.ndarray, int]:
    """One sample of a batch, chosen with a number input when the batch has more than one."""
    if len(tensor) > 1:
        sample = st.number_input(f"Sample (0 to {len(tensor) - 1})", min_value=0, max_value=len(tensor) - 1, step=1,
                                 key=key, help="Which sample of the batch the numbers and pictures show.")
    else:
        sample = 0
    return tensor[int(sample)], int(sample)


def as_rows(sample: np.ndarray) -> np.ndarray:
    """One sample as rows × features, cut to HEAT_CELLS each way."""
    return heatmap.as_matrix(sample)[:HEAT_CELLS, :HEAT_CELLS]


def number_table(sample: np.ndarray, scale: float | None = None) -> None:
    """One sample's numbers as an HTML table colored like its heatmap: every digit and sign visible
    (cells grow with their text, the table scrolls sideways), NaN written as nan."""
    matrix = as_rows(sample)
    pale = 255 - (255 - heatmap.colors(matrix, scale).astype(int)) // 2  # half strength keeps the numbers readable
    css = [[f"background-color: rgb{tuple(int(c) for c in rgb)}; white-space: nowrap" for rgb in row] for row in pale]
    frame = pd.DataFrame(matrix)
    styled = frame.style.apply(lambda _: pd.DataFrame(css, index=frame.index, columns=frame.columns), axis=None)
    st.table(styled.format("{:.4g}", na_rep="nan"))
    full = heatmap.as_matrix(sample).shape
    if full != matrix.shape:
        st.caption(f"Showing {matrix.shape[0]} × {matrix.shape[1]} of {full[0]:,} × {full[1]:,} numbers.")


def heatmap_legend(scale: float) -> None:
    """The color scale the pictures below share."""
    left, middle, right = st.columns([1, 3, 1], vertical_alignment="center")
    left.caption(f"−{scale:.3g}")
    middle.image(heatmap.legend(), width="stretch")
    right.caption(f"+{scale:.3g}")


def tensor_picture(title: str, tensor: np.ndarray, sample: int, scale: float) -> None:
    """A tensor's shape and one sample as a picture: one row per position, one column per feature."""
    values = tensor[sample]
    finite = values[np.isfinite(values)]
    span = f"from {finite.min():.4g} to {finite.max():.4g}" if finite.size else "no finite values"
    st.markdown(f"**{state.plain(title)}** — `{format_shape(tensor.shape)}` · sample {sample} {span}")
    st.image(heatmap.image(heatmap.as_matrix(values), scale=scale), clamp=True)
