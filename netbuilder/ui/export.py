"""The Export page: code that rebuilds the model with its current weights, its Keras JSON, and the graph."""

from __future__ import annotations

import streamlit as st

from ..engine.errors import NetbuilderError
from ..engine.budget import UNBOUNDED, using
from ..studio.models import built, fresh, heavy_slot
from ..studio.spec import ModelSpec
from ..views import export, graph
from . import state

PREVIEW_CHARS = 6_000  # code shown on the page; the download has all of it


def page(spec: ModelSpec) -> None:
    chart = graph.dataflow(spec)
    if not spec.analysis.ok:
        st.warning("Fix the model first (see the Build page): code and JSON need a model that fits together.")
        st.download_button("Graph (DOT)", chart.source, "netbuilder.dot", key="dl_dot")
        return
    formats = {"Keras JSON": ("model.json", lambda m, checkpoint=None: export.keras_json(m))}
    if (too_large := spec.analysis.cost.budget_problem()) is None:
        keras_model = built(spec)
        st.markdown("Code that rebuilds this model **with its current weights**, its Keras JSON, and the graph.")
        formats = {
            "Keras code": ("netbuilder_keras.py", export.keras_code),
            "PyTorch code": ("netbuilder_torch.py", export.pytorch_code),
            **formats,
        }
    else:
        # a model object of its own, never run or cached: its JSON is written from settings, drawing no weight
        with using(UNBOUNDED):
            keras_model = fresh(spec)
        st.warning(f"Code with its weights needs a model within the budgets: {state.plain(too_large)}. Its Keras JSON:")
    choice = st.segmented_control("Show", list(formats), key="export_format", default=next(iter(formats)))
    if choice is None:
        return
    file_name, make = formats[choice]
    try:
        with heavy_slot(export.CHARS_PER_WEIGHT * keras_model.count_params()):
            text = make(keras_model, checkpoint=state.checkpoint)
    except NetbuilderError as e:
        st.warning(f"{choice}: {state.plain(e)}")
        text = None
    if text is not None:
        st.download_button(f"Download {file_name}", text, file_name, key="dl_code", icon=":material/download:")
        st.code(
            text[:PREVIEW_CHARS] + ("\n# … (the download has the rest)" if len(text) > PREVIEW_CHARS else ""),
            language="json" if file_name.endswith(".json") else "python",
            line_numbers=True,
            height=420,
        )
    with st.container(horizontal=True, gap="small"):
        st.download_button("Graph (DOT)", chart.source, "netbuilder.dot", key="dl_dot")
        if graph.dot_available():
            st.download_button("Graph (SVG)", lambda: graph.svg(chart), "netbuilder.svg", key="dl_svg")
            st.download_button("Graph (PNG)", lambda: graph.png(chart), "netbuilder.png", key="dl_png")
        else:
            st.info(
                "SVG and PNG need Graphviz's `dot` on the server: `apt-get install graphviz` "
                "(or `brew install graphviz`). The DOT file renders anywhere Graphviz runs."
            )
