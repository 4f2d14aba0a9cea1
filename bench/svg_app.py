"""bench_svg.py's app: one preset's graph as the Build page draws it, laid out in the browser (st.graphviz_chart,
Graphviz in WebAssembly) or as SVG that `dot` rendered on the server (cached by the DOT text), and a Redraw
button that selects the next layer (a changed graph). The graph's label says which drawing is on screen."""

import hashlib
import sys
from functools import lru_cache
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # streamlit puts bench/ first: netbuilder is above it
from netbuilder.studio.presets import preset
from netbuilder.views.graph import BROWSER_CSS, dataflow, render


@lru_cache(maxsize=64)
def server_svg(source: str) -> str:
    """`dot -Tsvg` of a DOT text, from its <svg> on (the XML prolog and doctype are not HTML)."""
    import graphviz

    text = render(graphviz.Source(source), "svg").decode()
    return text[text.index("<svg") :]


# Streamlit's st.html drops <svg> (it sanitises to HTML): a component puts the server's SVG into the page as it is
SHOW_SVG = "export default function(component) { component.parentElement.innerHTML = component.data; }"
show_svg = st.components.v2.component("bench_svg", js=SHOW_SVG, isolate_styles=False)

spec = preset(st.query_params.get("model", "residual-block")).spec
st.session_state.setdefault("draws", 0)


def redraw() -> None:
    st.session_state.draws += 1


st.button("Redraw", key="redraw", on_click=redraw)
draw = st.session_state.draws
chart = dataflow(spec, selected=spec.layers[(1 + 7 * draw) % len(spec.layers)].id, window=True)
chart.attr(label=f"draw {draw}")  # the text that says which drawing is on screen
st.html(f"<style>{BROWSER_CSS}</style>")
# a key of its own per drawing, as the Build page gives it: the browser draws a changed graph afresh, not animated
drawing = hashlib.blake2s(chart.source.encode(), digest_size=6).hexdigest()
with st.container(key=f"graph_{drawing}"):  # either drawing in it: bench_svg.py waits for the SVG in it
    if st.query_params.get("mode", "browser") == "browser":
        st.graphviz_chart(chart, width="content")
    else:
        show_svg(data=server_svg(chart.source), key="svg")
