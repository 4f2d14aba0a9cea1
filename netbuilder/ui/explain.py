"""The Explain page: each layer's shape arithmetic written out, and why Dense reads only the last axis."""

from __future__ import annotations

import streamlit as st

from ..engine.shapes import format_shape
from ..studio import explain
from ..studio.spec import ModelSpec
from . import state


def page(spec: ModelSpec) -> None:
    analysis = spec.analysis
    st.markdown("How each layer turns the shape it receives into the shape it gives, and what its parameters count.")
    for i, report in enumerate(analysis.layers):
        layer = spec.layers[i]
        if report.output_shape is None:
            issue = analysis.issue
            st.markdown(f"#### {i + 1}. {report.name} · {report.kind} — does not fit")
            st.error(issue.message)
            st.markdown(issue.explanation)
            continue
        st.markdown(
            f"#### {i + 1}. {report.name} · {report.kind}: "
            f"{format_shape(report.input_shape)} → {format_shape(report.output_shape)}"
        )
        text = layer.layer.explain_shape(report.input_shape, report.output_shape)
        if text:
            st.markdown(state.plain(text))
        steps = layer.layer.explain_steps(report.input_shape, report.output_shape)
        if steps:
            st.markdown("\n".join(f"- {state.plain(what)}: `{format_shape(shape)}`" for what, shape in steps))
        if report.formula:
            st.caption(f"Parameters: {report.formula}")
        last_axis = explain.last_axis_explanation(spec, i)
        if last_axis is not None:
            st.code(last_axis.equation, language=None)
            st.markdown(
                f"{last_axis.sentence}\n\n{last_axis.formula} parameters, reused {last_axis.positions:,} times. "
                f"Contrast: {last_axis.contrast}."
            )
    if not spec.layers:
        st.info("No layers yet: add one on the Build page.")
    elif not any(explain.last_axis_explanation(spec, i) for i in range(len(analysis.layers))):
        st.caption(
            "No Dense here receives more than one axis per sample, so each Dense is fully connected. Load the "
            "preset “Without Flatten” to see a kernel reused along the leading axes."
        )
