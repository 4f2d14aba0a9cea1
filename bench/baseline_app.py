"""The one-chart baseline of bench_browser.py: a minimal Streamlit app with one 5-node st.graphviz_chart.

Its "click → settled" is the Redraw button: one rerun that draws the chart again with a new label on
its last node (so the browser really redraws it). Whatever time this app needs is Streamlit's
frontend and its Graphviz renderer, the floor under any page that shows a graph.
"""

import streamlit as st

st.session_state.setdefault("draws", 0)


def redraw() -> None:
    st.session_state.draws += 1


st.button("Redraw", key="redraw", on_click=redraw)
st.graphviz_chart(f'digraph {{ a -> b -> c -> d -> e; e [label="e {st.session_state.draws}"] }}')
