"""The Export page: code that rebuilds the model with its current weights, its Keras JSON, and the graph."""

from __future__ import annotations

import streamlit as st

from ..engine.errors import NetbuilderError
from ..engine.budget import UNBOUNDED, using
from ..studio import run
from ..studio.models import built, fresh, heavy_slot, is_heavy
from ..studio.spec import ModelSpec
from ..views import export, graph
from . import state

PREVIEW_CHARS = 6_000  # code shown on the page; the download has all of it
JSON = "Keras JSON"
FILE_NAMES = {"Keras code": "netbuilder_keras.py", "PyTorch code": "netbuilder_torch.py", JSON: "model.json"}


def page(spec: ModelSpec) -> None:
    chart = graph.dataflow(spec)
    if not spec.analysis.ok:
        st.warning("Fix the model first (see the Build page): code and JSON need a model that fits together.")
        st.download_button("Graph (DOT)", chart.source, "netbuilder.dot", key="dl_dot")
        return
    runnable = (too_large := spec.analysis.cost.budget_problem()) is None
    if runnable:
        st.markdown("Code that rebuilds this model **with its current weights**, its Keras JSON, and the graph.")
    else:
        st.warning(f"Code with its weights needs a model within the budgets: {state.plain(too_large)}. Its Keras JSON:")
    choices = [*export.MAKERS, JSON] if runnable else [JSON]
    choice = st.segmented_control("Show", choices, key="export_format", default=choices[0])
    if choice is None:
        return
    chars = export.CHARS_PER_WEIGHT * spec.analysis.total_params
    try:
        if choice == JSON:
            text = export.keras_json(_model(spec, runnable))
        elif is_heavy(chars, 0):  # a long text: written in a worker process
            text = run.in_worker(export.spec_text, spec, (choice,), state.checkpoint, state.Waiting(), state.visitor())
        else:
            with heavy_slot(chars):
                text = export.MAKERS[choice](built(spec), checkpoint=state.checkpoint)
    except NetbuilderError as e:
        st.warning(f"{choice}: {state.plain(e)}")
        text = None
    if text is not None:
        file_name = FILE_NAMES[choice]
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


def _model(spec: ModelSpec, runnable: bool):
    """The model to write: the shown one (with its weights), or for a model over the budgets one of its own, never run
    or cached, whose JSON is written from settings, drawing no weight."""
    if runnable:
        return built(spec)
    with using(UNBOUNDED):
        return fresh(spec)
