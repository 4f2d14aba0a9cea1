"""The top of every page: what netbuilder is, what to try first, and the model's toolbar
(undo and redo, presets, weight seed, share link, Keras JSON import)."""

from __future__ import annotations

import streamlit as st

from ..engine.limits import MAX_SEED
from ..studio import presets, share
from . import state
from .state import ss

PUZZLE = "broken-built-for-48"  # the first-open suggestion: a model to repair
PRESET_WIDTH = 380  # px: the longest preset title whole (on a phone the box takes the column, which also holds it)


# On a phone each help icon and checkbox is a target of at least 24 × 24 px (WCAG 2.5.8): a 16 px icon centred in
# padding that its margin gives back to the layout, a checkbox's label 24 px high
PAGE_CSS = (
    '@media (max-width: 640px) {[data-testid="stTooltipIcon"] button '
    "{box-sizing: content-box; padding: 4px; margin: -4px;} "
    '[data-testid="stCheckbox"] label {min-height: 24px;}}'
)


def header() -> None:
    st.html(f"<style>{PAGE_CSS}</style>")  # takes no room on the page
    st.markdown("## netbuilder")
    st.markdown(
        "Every tensor shape, parameter and number **exactly as Keras 3 computes them**. "
        "Keras's `Dense` acts on the **last axis** only: watch the shapes on the graph's arrows."
    )


def first_steps() -> None:
    """What to try first, while the visitor has not edited anything yet.

    Its slot stays when it goes: a top-level element coming or going would make the browser draw the tabs anew,
    which lost the page's scroll position and the paste box's open state on a visitor's first edit."""
    with st.container(key="first_steps_slot"):
        if ss.history.can_undo or ss.history.can_redo:
            return
        with st.container(horizontal=True, vertical_alignment="center", gap="small", key="first_steps"):
            st.markdown("**New here?** Pick a layer in the list and change its units, or try a puzzle:")
            st.button(
                presets.PRESETS[PUZZLE].title,
                key="try_puzzle",
                on_click=state.load_preset,
                args=(PUZZLE,),
                type="tertiary",
                icon=":material/build:",
            )


def toolbar() -> None:
    with st.container(horizontal=True, vertical_alignment="bottom", gap="small", key="toolbar"):
        st.button(
            "",
            icon=":material/undo:",
            on_click=state.on_history,
            args=("undo",),
            help="Undo",
            disabled=not ss.history.can_undo,
            key="undo",
        )
        st.button(
            "",
            icon=":material/redo:",
            on_click=state.on_history,
            args=("redo",),
            help="Redo",
            disabled=not ss.history.can_redo,
            key="redo",
        )
        # choosing a preset loads it (never set from code: a value the browser has not seen yet could come back
        # from it as a fresh choice, and load the preset again in the middle of a training run)
        st.selectbox(
            "Preset",
            presets.MENU,
            key="preset_name",
            format_func=presets.title,
            index=None,
            placeholder="Load a preset model…",
            label_visibility="collapsed",
            width=PRESET_WIDTH,
            on_change=state.on_preset,
            help="Lessons, puzzles to repair, real models, models to train: choosing one loads it (Undo brings your "
            "model back)",
        )
        with st.popover("Seed", icon=":material/casino:"):
            ss.seed = state.spec().seed
            st.number_input(
                "Weight seed",
                key="seed",
                step=1,
                on_change=state.on_seed,
                help=f"0 to {MAX_SEED:,}; the same seed gives the same weights on every machine "
                "(as Keras's seeded initializers).",
            )
            st.button("New random weights", icon=":material/casino:", key="random_seed", on_click=state.on_random_seed)
        with st.popover("Share", icon=":material/link:"):
            share_panel()
        with st.popover("Import", icon=":material/upload:", help="Import a Keras model JSON"):
            st.text_area("Paste `model.to_json()`", key="import_text", height=120)
            st.file_uploader("…or upload a .json file", type=["json"], key="import_file")
            st.button("Import", key="import", on_click=state.on_import)
    with st.container(key="toolbar_messages"):  # a slot that stays (see first_steps)
        state.show_notices("toolbar")
        state.show_notices("import")


def share_panel() -> None:
    """The current link and what it leaves out (the address bar holds the same link)."""
    if ss.share_token is None:
        st.warning(
            f"This model cannot be shared as a link: {state.plain(ss.share_problem)} "
            "The Export page's Keras JSON carries it instead."
        )
        return
    st.caption("The address bar always holds this link; it restores the model, its weights and its input.")
    if not ss.share_has_input:
        st.caption("The input data is not in this link (it is too long for one); the link opens with a range as input.")
    if state.spec().trained and not ss.share_has_weights:
        st.caption(
            "The trained weights are too many for a link: it opens the model with its seed's weights. "
            "Export the code (Export page) to carry them."
        )
    st.code(share.share_url(st.context.url or "http://localhost:8501/", ss.share_token), language=None, wrap_lines=True)
