"""The session's state and every callback that changes it: the one place the model is edited.

The model lives in `st.session_state.history` (undo/redo over immutable ModelSpecs) and is the
single source of truth; the input data (`input_data`) and the selected layer (`selection`) are kept
apart from the widgets that edit them, because Streamlit forgets a widget's state on a page where
it is not drawn. Widgets are keyed by stable layer ids; a widget's callback goes through
`commit`, which keeps the last good model when an edit is refused and leaves a message in the
area of the page where the visitor acted (`notify(area, ...)`, shown there by `show_notices`).

Every entry from Streamlit into netbuilder — the page run (app.py), a callback (`callback`), a fragment's rerun
(`visitor_work`) — runs under the public budgets (`public_budget`; engine/budget.py): the library has none of its own.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from ..engine.blas import set_blas_threads
from ..engine.errors import NetbuilderError
from ..engine.budget import public, using
from ..engine.limits import MAX_SEED
from ..engine.shapes import format_shape
from ..studio import data, presets, share, workers
from ..studio.history import History
from ..studio.keras_import import spec_from_keras_json
from ..studio.layer_list import parse_layers
from ..studio.spec import ModelSpec, seed_spec

ss = st.session_state
INPUT = "input"  # the layer list's entry for the model input (its shape and data)
# Page runs, the health check and heavy NumPy work share one interpreter: switching threads every millisecond
# (not 5) keeps a light visitor's run and /_stcore/health from waiting behind another visitor's Python work.
sys.setswitchinterval(0.001)
# Visitors' work shares the cores in threads of one process: a BLAS thread pool of its own fights them, and an LSTM
# step took 5-7 times longer at the median with 2 BLAS threads than with 1 beside another visitor (bench/bench_blas.py).
set_blas_threads(1)


def spec() -> ModelSpec:
    return ss.history.present


def plain(text) -> str:
    """`text` with Markdown's special characters escaped: messages quote what a visitor typed.

    Bare URLs and e-mail addresses would be auto-linked and `:name:` shortcodes drawn as icons, so a
    zero-width joiner breaks a scheme-like word, each `@`, and each `:` that a shortcode's name could follow
    (`(None, 3): 5` stays as typed); `&` is escaped so that an HTML entity (`&colon;`) cannot write a `:` back."""
    text = re.sub(r"([\\`*_\[\]<>#|~$&])", r"\\\1", str(text))  # emphasis, links, HTML and its entities, math
    text = re.sub(r"(?i)\b(https?|ftp|mailto|www)(:|\.)", "\\1\u200d\\2", text)  # no auto-links
    text = re.sub(r":(?=[\w/+-])", ":\u200d", text)  # no :material/icon:, :smile:, :+1: or javascript:
    return text.replace("@", "@\u200d")  # no e-mail links


# --- messages next to their cause ----------------------------------------------------------------
@dataclass(frozen=True)
class Notice:
    area: str  # "toolbar", "editor", "input", "fix", "import", "paste"
    level: str  # "error", "warning", "info", "success"
    text: str


def notify(area: str, level: str, text: str) -> None:
    """Queue a message for the next run, shown in `area` (callbacks run before the page draws)."""
    ss.setdefault("notices", []).append(Notice(area, level, text))


def show_notices(area: str, toast: bool = False) -> None:
    """The messages left for `area`; with `toast`, a success also as a toast, in view wherever the page moved."""
    for notice in [n for n in ss.get("notices", []) if n.area == area]:
        getattr(st, notice.level)(notice.text)
        if toast and notice.level == "success":
            st.toast(notice.text, icon=":material/check_circle:")


def clear_notices() -> None:
    """At the end of a run: every message has had its place on the page."""
    ss.notices = []


def commit(change: Callable[[ModelSpec], ModelSpec], what: str, area: str, loads: bool = False) -> bool:
    """The one edit path: apply `change`, keep the result for undo, or explain and keep the model. An edit that
    makes a loaded puzzle build says it is solved; one that `loads` another model leaves the puzzle."""
    try:
        new = change(spec())
    except NetbuilderError as e:
        notify(area, "error", f"Could not {plain(what)}: {plain(sentence(str(e)))} The model was kept as it was.")
        return False
    ss.history.push(new)
    if loads:
        ss.puzzle = None
    elif ss.get("puzzle") and new.layers and new.analysis.issue is None:  # the loaded puzzle builds now: once
        notify(area, "success", f"Solved: **{plain(ss.puzzle)}** builds now: every shape fits, as Keras builds it.")
        ss.puzzle = None
    return True


def sentence(text: str) -> str:
    """`text` ending with a full stop."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


# --- the page boundary -------------------------------------------------------------------------------
def failure(e: Exception) -> str:
    """What an unexpected failure was, in words (its details go to the server's log, never to the visitor)."""
    if isinstance(e, MemoryError):
        return "it needs more memory than this server can give"
    if isinstance(e, RecursionError):
        return "what was given is nested too deeply"
    return "something went wrong"


@contextmanager
def guard(part: str) -> Iterator[None]:
    """Whatever goes wrong inside one part of the page stays there: a short message, the model kept.

    Streamlit's own stop and rerun signals are BaseExceptions and pass through."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 — the boundary: nothing may take the page down
        logging.getLogger("netbuilder").exception("page part %r failed", part)
        st.error(
            f"The {part} could not be shown: {failure(e)}. The model was kept; Undo and every other part still work."
        )


def public_budget() -> AbstractContextManager:
    """The block's work answers to the public budgets, as every visitor's work does (the deployment's,
    engine/budget.py)."""
    return using(public())


def visitor_work(fn):
    """Decorator: `fn` runs under the public budgets (for what Streamlit calls on its own: a fragment's rerun)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with public_budget():
            return fn(*args, **kwargs)

    return run


def callback(area: str):
    """Decorator: a widget's callback behind the page's boundary. Callbacks run before the page is drawn, outside
    any `guard`, so an exception there would reach Streamlit's error box: it becomes a message in `area` instead."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                with public_budget():
                    return fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 — the boundary, as in guard
                logging.getLogger("netbuilder").exception("callback %r failed", fn.__name__)
                notify(area, "error", f"That did not work: {failure(e)}. The model was kept as it was.")

        return run

    return wrap


# --- the session ----------------------------------------------------------------------------------
def init_state() -> None:
    """First run of a session: the shared model from `?model=`, else the seed article's model. The server's first
    session starts the worker pool, so that no visitor's first heavy run waits for workers to start."""
    if "history" in ss:
        return
    workers.pool().start()
    start, text = seed_spec(), presets.ARTICLE_INPUT
    token = st.query_params.get(share.PARAM)
    if token:
        try:
            shared = share.decode(token)
        except NetbuilderError as e:
            notify(
                "toolbar",
                "warning",
                f"The shared link could not be opened ({plain(sentence(str(e)))}) Showing the default model instead.",
            )
        except Exception as e:  # noqa: BLE001 — the boundary: a link must never take the page down (init runs unguarded)
            logging.getLogger("netbuilder").exception("share link failed")
            notify(
                "toolbar",
                "warning",
                f"The shared link could not be opened ({failure(e)}). Showing the default model instead.",
            )
        else:
            start = shared.spec
            text = shared.input_text if shared.input_text is not None else data.fill_text("range", start.input_shape)
            if shared.training is not None:
                ss.train_settings = shared.training
            if shared.typed is not None:
                ss.train_x_text, ss.train_y_text = shared.typed
            ss.loaded_preset = shared.preset
    ss.history = History(
        start, size_of=lambda s: s.weights.nbytes if s.weights is not None else 0, max_bytes=public().weight_bytes
    )  # trained weights held for undo stay within one model's budget
    ss.input_data = text
    ss.selection = start.layers[0].id if start.layers else INPUT


def sync_link() -> None:
    """Keep `?model=` equal to the current model (and its input, when small), so the address bar is the share link.

    A model too large for any link (`share_problem` says why) leaves the address bar without one."""
    ss.share_problem = None
    training, typed = ss.get("train_settings"), (ss.get("train_x_text", ""), ss.get("train_y_text", ""))
    try:
        token, ss.share_has_weights = share.link(spec(), ss.input_data, training, typed)
        ss.share_has_input = share.input_fits(ss.input_data)
    except NetbuilderError:  # the input (e.g. escaped non-ASCII text) makes the link too long: share the model alone
        ss.share_has_input = False
        try:
            token, ss.share_has_weights = share.link(spec(), None, training)
        except NetbuilderError as e:
            token, ss.share_has_weights, ss.share_problem = None, False, sentence(str(e))
            loaded = ss.get("loaded_preset")
            if loaded is not None and spec() == presets.preset(loaded).spec:  # unedited: it goes by its name
                token, ss.share_problem = share.preset_link(loaded), None
    if token is None:
        st.query_params.pop(share.PARAM, None)
    elif st.query_params.get(share.PARAM) != token:
        st.query_params[share.PARAM] = token
    ss.share_token = token


def selected_index() -> int | None:
    """Position of the selected layer, or None when the input is selected (or the layer is gone)."""
    ids = [layer.id for layer in spec().layers]
    return ids.index(ss.selection) if ss.selection in ids else None


def select(layer_id) -> None:
    ss.selection = layer_id


def keep_selection_valid() -> None:
    """After undo, redo or a preset, the selected layer may be gone: select one that exists."""
    ids = [layer.id for layer in spec().layers]
    if ss.selection != INPUT and ss.selection not in ids:
        ss.selection = ids[0] if ids else INPUT


@callback("editor")
def on_select() -> None:
    """The layer list's radio (key "selected") changed: remember the choice beyond this page."""
    ss.selection = ss.selected


@callback("editor")
def on_graph_pick() -> None:
    """A node of the graph was clicked (its id sent by the page, so checked like any visitor's value): select it."""
    picked = str((ss.get("graph_pick") or {}).get("picked"))
    ids = {str(layer.id): layer.id for layer in spec().layers}
    if picked.startswith(INPUT) or picked in ids:  # "input", or "input_1" ... of a model of several inputs
        select(INPUT if picked.startswith(INPUT) else ids[picked])


@callback("input")
def on_input_text() -> None:
    """The input box (key "input_text") changed: it becomes the model's input data."""
    ss.input_data = ss.input_text


# --- input data -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputProblem:
    message: str


@st.cache_data(max_entries=32, show_spinner=False)
def parse_input(text: str, input_shape: tuple[int, ...]) -> data.ParsedInput | InputProblem:
    """The parsed input or what is wrong with it; cached because several page parts ask for it."""
    try:
        return data.parse_array(text, input_shape)
    except NetbuilderError as e:
        return InputProblem(sentence(str(e)))


def current_input() -> data.ParsedInput | InputProblem:
    return parse_input(ss.input_data, spec().input_shape)


def fit_input(area: str) -> None:
    """After the input shape changed: refill the input with a range if it no longer fits, and say so in `area`."""
    if isinstance(current_input(), InputProblem):
        ss.input_data = data.fill_text("range", spec().input_shape)
        notify(
            area,
            "info",
            f"The input data was refilled with a range for the new shape {format_shape(spec().input_shape)}.",
        )


# --- callbacks --------------------------------------------------------------------------------------
@callback("editor")
def on_setting(layer_id: int, setting, key: str) -> None:
    """A generated setting widget changed: its value (text fields parsed by the setting) into the model."""
    raw = ss[key]
    try:
        value = setting.parse_text(raw) if setting.widget == "text" else raw
    except NetbuilderError as e:
        notify(
            "editor", "error", f"Could not set {setting.name}: {plain(sentence(str(e)))} The model was kept as it was."
        )
        return
    commit(lambda s: s.update(layer_id, **{setting.name: value}), f"set {setting.name} to {str(raw)[:30]}", "editor")


def input_shape_key(k: int) -> str:
    """The key of input k's shape text (the first input's is the one it has always been)."""
    return "input_shape_text" if k == 0 else f"input_shape_text_{k}"


@callback("input")
def on_input_shape(k: int = 0) -> None:
    """Input k's shape text changed."""
    text = ss[input_shape_key(k)]
    what = f"set the input shape to {text[:30]!r}" if k == 0 else f"set input {k + 1}'s shape to {text[:30]!r}"
    if commit(lambda s: s.with_input_shape(data.parse_shape(text), k), what, "input") and k == 0:
        fit_input("input")  # the input data feeds the first input


@callback("input")
def on_add_input() -> None:
    commit(lambda s: s.add_input(s.input_shape), "add an input", "input")


@callback("input")
def on_remove_input(k: int) -> None:
    commit(lambda s: s.remove_input(k), f"remove input {k + 1}", "input")


@callback("toolbar")
def on_seed() -> None:
    commit(lambda s: s.with_seed(ss.seed), "set the seed", "toolbar")


@callback("toolbar")
def on_random_seed() -> None:
    commit(lambda s: s.with_seed(random.randint(0, MAX_SEED)), "draw a new seed", "toolbar")


@callback("editor")
def on_add(quick: str | None = None) -> None:
    """Add: the kind, count and place chosen in the Add row; or one layer of the kind `quick` (a quick-add button)
    after the selected layer, as a chain is built layer by layer."""
    kind, count = (ss.add_kind, ss.get("add_count", 1)) if quick is None else (quick, 1)
    index = selected_index()
    position = (
        None
        if quick is None and ss.get("add_where", "after the selected layer") == "at the end"
        else (0 if ss.selection == INPUT else (None if index is None else index + 1))
    )
    if commit_adding(lambda s: s.add(kind, position, count=count), f"add {count} {kind} layer(s)") and quick is None:
        ss.add_count = 1  # a count is for one Add: the next one starts from one layer again


@callback("editor")
def on_inputs(layer_id: int, key: str) -> None:
    """A layer's "Takes" widget changed: one tensor, or a merge's list."""
    chosen = ss[key]
    inputs = list(chosen) if isinstance(chosen, list) else [chosen]
    if not inputs:
        notify("editor", "error", "A layer takes at least one tensor. The model was kept as it was.")
        return
    commit(lambda s: s.set_inputs(layer_id, inputs), "change what the layer takes", "editor")


@callback("editor")
def on_rename(layer_id: int, key: str) -> None:
    commit(lambda s: s.rename(layer_id, ss[key]), f"rename the layer to {str(ss[key])[:30]!r}", "editor")


def commit_adding(change: Callable[[ModelSpec], ModelSpec], what: str) -> bool:
    """`commit` an edit that adds layers in the editor, and select the last layer it made."""
    before = {layer.id for layer in spec().layers}
    if not commit(change, what, "editor"):
        return False
    new = [layer.id for layer in spec().layers if layer.id not in before]
    if new:
        select(new[-1])
    return True


@callback("editor")
def on_branch(layer_id: int) -> None:
    kind = ss.get("add_kind") or "Dense"
    commit_adding(lambda s: s.branch(layer_id, kind), f"branch a {kind} layer")


@callback("editor")
def on_merge(layer_id: int) -> None:
    other, kind = ss.get("merge_with"), ss.get("merge_kind") or "Add"
    if other is None:
        notify("editor", "error", "Choose what to merge with first. The model was kept as it was.")
        return
    commit_adding(lambda s: s.merge([layer_id, other], kind), f"merge with {kind}")


@callback("editor")
def on_residual(layer_id: int) -> None:
    width, stride = ss.get("residual_width"), ss.get("residual_stride", False)
    commit_adding(lambda s: s.residual(layer_id, width, stride), "add a residual block")


@callback("editor")
def on_move(layer_id: int, delta: int) -> None:
    commit(lambda s: s.move(layer_id, delta), "move the layer", "editor")


@callback("editor")
def on_duplicate(layer_id: int) -> None:
    count = ss.get("duplicate_count", 1)
    if commit(lambda s: s.duplicate(layer_id, count), f"duplicate the layer {count} time(s)", "editor"):
        ss.duplicate_count = 1  # as Add's count


@callback("editor")
def on_delete(layer_id: int) -> None:
    index = selected_index()
    if commit(lambda s: s.remove(layer_id), "delete the layer", "editor"):
        layers = spec().layers
        select(layers[min(index or 0, len(layers) - 1)].id if layers else INPUT)


@callback("editor")
def on_clear() -> None:
    if commit(lambda s: s.clear(), "clear the layers", "editor"):
        select(INPUT)


@callback("fix")
def on_fix(k: int) -> None:
    issue = spec().analysis.issue
    if issue is not None and k < len(issue.fixes):
        fix = issue.fixes[k]
        if commit(lambda s: s.apply_fix(fix), fix.description, "fix"):
            notify("fix", "success", f"Done: {plain(fix.description)}. Undo brings the model back.")
            keep_selection_valid()
            if fix.action == "set_input_shape":
                fit_input("fix")


@callback("toolbar")
def on_history(step: str) -> None:
    """Undo or redo; if that changed the input shape (e.g. undoing a preset), make the input fit again."""
    shape = spec().input_shape
    getattr(ss.history, step)()
    keep_selection_valid()
    if spec().input_shape != shape:
        fit_input("toolbar")


@callback("toolbar")
def load_preset(name: str) -> None:
    preset = presets.preset(name)
    if commit(lambda s: preset.spec, f"load the preset {preset.title!r}", "toolbar", loads=True):
        ss.input_data = preset.input_text
        keep_selection_valid()
        if preset.training is not None:  # a preset to train: its data and settings wait on the Train page
            ss.train_settings = preset.training
            ss.pop("training", None)
        notify("toolbar", "info", f"Loaded **{plain(preset.title)}**. {plain(preset.lesson)}")
        ss.loaded_preset = name
        ss.puzzle = preset.title if preset.broken else None  # a repair to do: commit says when it is solved


@callback("toolbar")
def on_preset() -> None:
    if ss.get("preset_name") is not None:
        load_preset(ss.preset_name)


@callback("input")
def on_fill(kind: str) -> None:
    ss.input_data = data.fill_text(kind, spec().input_shape, seed=random.randint(0, MAX_SEED))


@callback("import")
def on_import() -> None:
    upload = ss.get("import_file")
    text = upload.getvalue().decode("utf-8", errors="replace") if upload is not None else ss.get("import_text", "")
    if not text.strip():
        notify(
            "import", "error", "Paste a Keras model JSON (the text of `model.to_json()`) or upload a .json file first."
        )
        return
    if commit(lambda s: spec_from_keras_json(text, seed=s.seed), "import the Keras JSON", "import", loads=True):
        ss.input_data = data.fill_text("range", spec().input_shape)
        keep_selection_valid()
        notify(
            "import",
            "success",
            f"Imported a model with {len(spec().layers)} layers; its weights are fresh from seed {spec().seed}.",
        )


@callback("paste")
def on_paste(mode: str) -> None:
    """Pasted Keras-style layers: replace the model's layers, or append them."""
    try:
        pasted = parse_layers(ss.get("paste_text", ""))
    except NetbuilderError as e:
        notify("paste", "error", f"Could not read the layers: {plain(sentence(str(e)))} The model was kept as it was.")
        return

    if commit(lambda s: pasted.onto(s, mode), f"{mode} the layers", "paste"):
        fit_input("paste")
        keep_selection_valid()
        skipped = (
            f" Left out (netbuilder has no such setting): {plain(', '.join(pasted.ignored))}." if pasted.ignored else ""
        )
        kept = (
            f" No Input line: the input shape {format_shape(spec().input_shape)} was kept (an Input(shape=...) line "
            "sets it)."
            if mode == "replace" and pasted.input_shape is None
            else ""
        )
        unread = f" Not part of the model, so not read: {plain('; '.join(pasted.unread))}." if pasted.unread else ""
        shape = " (a graph: see its arrows)" if spec().is_graph else ""
        notify(
            "paste",
            "success",
            f"{'Replaced the layers with' if mode == 'replace' else 'Appended'} "
            f"{len(pasted.layers)} layer(s){shape}.{kept}{skipped}{unread}",
        )


class Waiting:
    """Says, where a large run's output will appear, that the run waits: for the heavy slot, or with `ahead` runs
    queued before it for a worker. One line, rewritten as the count goes down (it appears only when it waits)."""

    def __init__(self, what: str = "large run"):
        self._line = None
        self._what = what

    def __call__(self, ahead: int | None = None) -> None:
        if self._line is None:
            self._line = st.empty()
        if ahead is None:
            self._line.caption(
                "Waiting for another visitor's large run to finish: "
                "one large run at a time keeps the server quick for everyone."
            )
        else:
            queued = "yours is next" if ahead == 0 else f"{ahead} run{'s' if ahead > 1 else ''} queued before yours"
            self._line.caption(f"Waiting for a free worker for this {self._what}: {queued}.")


def visitor() -> str | None:
    """This visitor's session id: a heavy run in a worker replaces the visitor's own older one."""
    ctx = get_script_run_ctx()
    return None if ctx is None else ctx.session_id


def still_here() -> Callable[[], bool]:
    """A test, which any thread may call, of whether this visitor's session is still open (a closed tab's is not)."""
    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():  # no server (AppTest): the session lasts as long as the test
        return lambda: True
    runtime, session = Runtime.instance(), ctx.session_id
    return lambda: runtime.is_active_session(session)


def checkpoint() -> None:
    """Called between the pieces of long work: stops it when the visitor left or asked for another run.

    Touching session state lets Streamlit raise its stop or rerun signal here; a visitor who closed
    the tab is gone from the runtime's active sessions."""
    "history" in ss  # noqa: B015 — a session-state access is Streamlit's yield point
    if not still_here()():
        raise StopException()
