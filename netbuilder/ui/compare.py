"""The Compare page: the model beside its variants without Flatten and with Flatten first, on the same input."""

from __future__ import annotations

import streamlit as st

from ..engine.shapes import format_shape
from ..studio import explain
from ..studio.spec import ModelSpec
from ..views import heatmap
from . import state, widgets


def page(spec: ModelSpec) -> None:
    st.markdown(
        "The same input through the current model and its variants with and without `Flatten`. "
        "Each model draws its weights from the same seed, layer by layer position."
    )
    parsed = state.current_input()
    if isinstance(parsed, state.InputProblem):
        st.warning("The input data has a problem (see Input in the Build page's layer list); showing shapes only.")
    batch = None if isinstance(parsed, state.InputProblem) else parsed.batch
    sample = 0 if batch is None else widgets.sample_index(len(batch), "compare_sample")  # as elsewhere
    rows = explain.compare(explain.variants(spec), batch, sample, heatmap.CUT)
    for column, row in zip(st.columns(len(rows)), rows):
        with column:
            st.markdown(f"**{row.name}**")
            st.caption(
                " → ".join(
                    [format_shape(spec.analysis.input_shape)]
                    + [format_shape(r.output_shape) for r in row.layers if r.output_shape]
                )
            )
            st.metric("Output shape", format_shape(row.output_shape) if row.output_shape else "does not fit")
            st.metric("Parameters", f"{row.total_params:,}" if row.total_params is not None else "—")
            if row.output is not None:
                widgets.sample_numbers(row.output)
            elif row.error:
                st.warning(state.plain(row.error))
            if row.difference:
                st.markdown(row.difference)
    if spec.is_graph:
        st.info("The variants with and without Flatten are made for chains of layers; this model is a graph.")
    elif len(rows) == 1:
        st.info("This model has no Flatten to remove or move. Add one, or load the preset “Flatten after Dense”.")
