"""The Forward pass page: every tensor from input to output, one chosen sample, on one color scale, and the weights."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ..engine.shapes import format_shape
from ..studio.models import built
from ..studio.run import ForwardRun, forward, runnable_part
from ..studio.spec import ModelSpec
from ..views import heatmap
from . import state, widgets


def page(spec: ModelSpec) -> None:
    parsed = state.current_input()
    if isinstance(parsed, state.InputProblem):
        st.warning(f"The input data has a problem: {state.plain(parsed.message)} Fix it under Input in the Build page's layer list.")
        return
    run = forward(spec, parsed.array, checkpoint=state.checkpoint, waiting=state.waiting)
    if not isinstance(run, ForwardRun):
        st.warning(f"No forward pass: {state.plain(state.sentence(run.reason))}")
        return
    if not run.complete:
        issue = spec.analysis.issue
        st.warning(f"The model stops at {issue.layer_name}: {state.plain(issue.message)} Below: the tensors up to it.")
    if run.note:
        st.info(run.note)
    layouts = _channels_first(spec, len(run.tensors))
    kept = [(title, t, first) for title, t, first in zip(run.titles, run.tensors, layouts) if t is not None]
    _, sample = widgets.sample_of(run.output, "forward_sample")
    st.caption(f"Sample {sample} of each tensor: an image (rows, columns, channels) as one picture per channel; any other "
               f"tensor as one row per position of the leading axes and one column per feature of the last axis (at most "
               f"{widgets.HEAT_CELLS} of each); every picture on the same scale.")
    titles = [title for title, *_ in kept]
    chosen = st.selectbox("Numbers of", range(len(kept)), format_func=lambda i: titles[i], key="tensor_numbers",
                          index=len(kept) - 1)
    st.markdown(f"**{state.plain(titles[chosen])}** — `{format_shape(kept[chosen][1].shape)}`, sample {sample}")
    widgets.number_table(kept[chosen][1][sample])
    st.subheader("Every tensor, input to output")
    scale = heatmap.magnitude(*(t[sample] for _, t, _ in kept))
    widgets.heatmap_legend(scale)
    for title, tensor, first in kept:
        widgets.tensor_picture(title, tensor, sample, scale, first)
    with state.guard("weights"):
        weights(runnable_part(spec))


def _channels_first(spec: ModelSpec, count: int) -> list[bool]:
    """For the input and each layer's output: whether its channels come first. The input as the first layer with a
    data_format reads it; an output as its layer's data_format says (or as its input, through a layer without one);
    a layer that changes the rank starts again from channels_last (Flatten, Reshape)."""
    formats = [layer.values.get("data_format") for layer in spec.layers]
    first = next((f for f in formats if f), "channels_last") == "channels_first"
    layouts = [first]
    for fmt, report in zip(formats, spec.analysis.layers):
        if report.output_shape is None or len(report.output_shape) != len(report.input_shape):
            first = False
        elif fmt:
            first = fmt == "channels_first"
        layouts.append(first)
    return layouts[:count]


def weights(spec: ModelSpec) -> None:
    layers = [layer for layer in built(spec).layers if layer.weights]
    if not layers:
        return
    st.subheader(f"Weights (seed {spec.seed})")
    for layer in layers:
        specs = layer.weight_specs(layer.built_shape)
        with st.expander(f"{layer.name} ({layer.kind}): " + ", ".join(f"{s.name} {format_shape(s.shape)}" for s in specs)):
            for weight_spec, w in zip(specs, layer.weights):
                st.markdown(f"**{weight_spec.name}** `{format_shape(w.shape)}`" + ("" if weight_spec.trainable else " · not trainable"))
                matrix = w.reshape(-1, w.shape[-1]) if w.ndim > 1 else w[None, :]
                st.image(heatmap.image(matrix), clamp=True)
                widgets.number_table(np.asarray(w))
