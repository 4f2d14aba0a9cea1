"""netbuilder: build a network layer by layer and see every shape as Keras computes it.

The composition only: state and callbacks live in netbuilder/ui/state.py, one module per page.
"""

import streamlit as st

from netbuilder.ui import build, compare, explain, export, forward, state, toolbar, train

PAGES = {
    "Build": build.page,
    "Forward pass": forward.page,
    "Train": train.page,
    "Compare": compare.page,
    "Explain": explain.page,
    "Export": export.page,
}

st.set_page_config(page_title="netbuilder", page_icon="🧱", layout="wide", initial_sidebar_state="collapsed")
with state.public_budget():  # each visitor's work answers to them (callbacks and fragments too: ui/state.py)
    state.init_state()
    toolbar.header()
    with state.guard("share link"):
        state.sync_link()
    with state.guard("toolbar"):
        toolbar.toolbar()
    toolbar.first_steps()
    # Only the open tab runs (on_change="rerun"): a 50-layer forward pass is not drawn while building.
    for tab, (name, page) in zip(st.tabs(list(PAGES), key="page", on_change="rerun"), PAGES.items()):
        if tab.open:
            with tab, state.guard(f"{name} page"):
                page(state.spec())
    state.clear_notices()
