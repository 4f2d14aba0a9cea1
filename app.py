"""netbuilder: build a network layer by layer and see every shape as Keras computes it.

The model lives in `st.session_state.history` (undo/redo over immutable ModelSpecs) and is the
single source of truth: widgets are keyed by stable layer ids, every change goes through a
callback into `commit`, and the engine (`netbuilder`) does all computing.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import streamlit as st

from netbuilder import NetbuilderError, format_shape
from netbuilder import activations, data, explain, export, graph, heatmap, presets, share
from netbuilder.history import History
from netbuilder.keras_import import spec_from_keras_json
from netbuilder.limits import MAX_SEED
from netbuilder.spec import DATA_FORMATS, KINDS, SETTINGS, ModelSpec, seed_spec
from netbuilder.summary import readable_size, summary_frame

ACTIVATIONS = sorted(activations.ACTIVATIONS)  # the names a spec stores (aliases are stored as these)
HEAT_CELLS = 64  # rows and columns of a tensor drawn as a colored table; more are cut (and said so)
ss = st.session_state


# --- state --------------------------------------------------------------------------------
def spec() -> ModelSpec:
    return ss.history.present


def plain(text) -> str:
    """`text` with Markdown's special characters escaped: messages quote what a visitor typed."""
    return re.sub(r"([\\`*\[\]<>#|~$])", r"\\\1", str(text))  # links, emphasis, HTML, math


def notify(level: str, text: str) -> None:
    """Queue a message for the next run of the page (callbacks run before the page draws)."""
    ss.setdefault("notices", []).append((level, text))


def commit(change: Callable[[ModelSpec], ModelSpec], what: str) -> bool:
    """The one edit path: apply `change`, keep the result for undo, or explain and keep the model."""
    try:
        new = change(spec())
    except NetbuilderError as e:
        notify("error", f"Could not {plain(what)}: {plain(e)} The model was kept as it was.")
        return False
    ss.history.push(new)
    return True


def init_state() -> None:
    """First run of a session: the shared model from `?model=`, else the seed article's model."""
    if "history" in ss:
        return
    model, text = seed_spec(), presets.ARTICLE_INPUT
    token = st.query_params.get("model")
    if token:
        try:
            model, shared_text = share.decode(token)
            text = shared_text if shared_text is not None else data.fill_text("range", model.input_shape)
        except NetbuilderError as e:
            notify("warning", f"The shared link could not be opened ({plain(e)}). Showing the default model instead.")
    ss.history = History(model)
    ss.input_text = text


def sync_link() -> None:
    """Keep `?model=` equal to the current model (and its input, when small), so the URL is the share link."""
    try:
        token = share.encode(spec(), ss.input_text)
        ss.share_has_input = share.input_fits(ss.input_text)
    except NetbuilderError:  # the input (e.g. escaped non-ASCII text) makes the link too long: share the model alone
        token = share.encode(spec())
        ss.share_has_input = False
    if st.query_params.get("model") != token:
        st.query_params["model"] = token
    ss.share_token = token


# --- callbacks ------------------------------------------------------------------------------
def on_layer_setting(layer_id: int, field: str) -> None:
    value = ss[f"{field}_{layer_id}"]
    commit(lambda s: s.update(layer_id, **{field: value}), f"set {field} to {str(value)[:20]}")


def fit_input() -> None:
    """After the input shape changed: refill the input data with a range if it no longer fits, and say so."""
    if isinstance(parse_input(ss.input_text, spec().input_shape), str):
        ss.input_text = data.fill_text("range", spec().input_shape)
        notify("info", f"The input data was refilled with a range for the new shape {format_shape(spec().input_shape)}.")


def on_input_shape() -> None:
    text = ss.input_shape_text
    if commit(lambda s: s.with_input_shape(data.parse_shape(text)), f"set the input shape to {text[:30]!r}"):
        fit_input()


def on_seed() -> None:
    commit(lambda s: s.with_seed(ss.seed), "set the seed")


def on_random_seed() -> None:
    commit(lambda s: s.with_seed(random.randint(0, MAX_SEED)), "draw a new seed")


def on_add() -> None:
    position = ss.add_position
    index = None if position == "at the end" else int(position.split(".")[0]) - 1
    commit(lambda s: s.add(ss.add_kind, index), f"add a {ss.add_kind} layer")


def on_fix(k: int) -> None:
    issue = spec().analyze().issue
    if issue is not None and k < len(issue.fixes):
        commit(lambda s: s.apply_fix(issue.fixes[k]), issue.fixes[k].description)


def on_history(step: Callable[[], ModelSpec]) -> None:
    """Undo or redo; if that changed the input shape (e.g. undoing a preset), make the input fit again."""
    shape = spec().input_shape
    step()
    if spec().input_shape != shape:
        fit_input()


def on_preset() -> None:
    preset = presets.PRESETS[ss.preset_name]
    if commit(lambda s: preset.spec, f"load the preset {preset.title!r}"):
        ss.input_text = preset.input_text
        notify("info", f"Loaded **{preset.title}**. {preset.lesson}")


def on_fill(kind: str) -> None:
    ss.input_text = data.fill_text(kind, spec().input_shape, seed=random.randint(0, MAX_SEED))


def on_import() -> None:
    upload = ss.get("import_file")
    text = upload.getvalue().decode("utf-8", errors="replace") if upload is not None else ss.import_text
    if not text.strip():
        notify("error", "Paste a Keras model JSON (the text of `model.to_json()`) or upload a .json file first.")
        return
    if commit(lambda s: spec_from_keras_json(text, seed=s.seed), "import the Keras JSON"):
        ss.input_text = data.fill_text("range", spec().input_shape)
        notify("success", f"Imported a model with {len(spec().layers)} layers; its weights are fresh from seed {spec().seed}.")


# --- page parts -------------------------------------------------------------------------------
def show_notices() -> None:
    for level, text in ss.pop("notices", []):
        getattr(st, level)(text)


def sidebar() -> None:
    with st.sidebar:
        st.header("Model")
        undo, redo = st.columns(2)
        undo.button("Undo", icon=":material/undo:", on_click=on_history, args=(ss.history.undo,), disabled=not ss.history.can_undo, key="undo", width="stretch")
        redo.button("Redo", icon=":material/redo:", on_click=on_history, args=(ss.history.redo,), disabled=not ss.history.can_redo, key="redo", width="stretch")

        ss.input_shape_text = ", ".join(str(d) for d in spec().input_shape)
        st.text_input(
            "Input shape (per sample)", key="input_shape_text", on_change=on_input_shape,
            help="Up to 4 positive integers separated by commas; leave empty for one number per sample. "
            "The batch axis is added in front and shown as None.",
        )
        input_panel(spec())
        ss.seed = spec().seed
        seed_col, dice_col = st.columns([3, 1], vertical_alignment="bottom")
        seed_col.number_input("Weight seed", key="seed", step=1, on_change=on_seed,
                              help=f"0 to {MAX_SEED:,}; the same seed gives the same weights on every machine.")
        dice_col.button("", icon=":material/casino:", key="random_seed", on_click=on_random_seed, help="New random weights")

        st.subheader("Add a layer")
        st.selectbox("Kind", KINDS, key="add_kind")
        positions = ["at the end"] + [f"{i + 1}. before {name}" for i, name in enumerate(spec().analyze().names)]
        if ss.get("add_position") not in positions:
            ss.add_position = "at the end"
        st.selectbox("Position", positions, key="add_position")
        st.button("Add layer", icon=":material/add:", key="add", on_click=on_add, type="primary", width="stretch")
        st.button("Clear all layers", key="clear", on_click=lambda: commit(lambda s: s.clear(), "clear the layers"), width="stretch")

        st.subheader("Presets")
        st.selectbox("Preset", list(presets.PRESETS), key="preset_name",
                     format_func=lambda name: presets.PRESETS[name].title)
        st.button("Load preset", key="load_preset", on_click=on_preset, width="stretch")

        with st.expander("Share link"):
            url = share.share_url(st.context.url or "http://localhost:8501/", ss.share_token)
            st.caption("The address bar always holds this link; it restores the model, its weights and its input.")
            if not ss.share_has_input:
                st.caption("The input data is not in this link (it is too long for one); the link opens with a range as input.")
            st.code(url, language=None, wrap_lines=True)

        with st.expander("Import Keras JSON"):
            st.text_area("Paste `model.to_json()`", key="import_text", height=120)
            st.file_uploader("…or upload a .json file", type=["json"], key="import_file")
            st.button("Import", key="import", on_click=on_import, width="stretch")


def input_panel(model: ModelSpec) -> None:
    """The forward pass's input, with what is wrong with it (or how it was read) right below."""
    st.text_area("Input data", key="input_text", height=110,
                 help="A JSON-style nested list: a batch, or one sample without the batch axis. The words `zeros`, "
                      "`range` and `random:SEED` stand for one sample of the input shape (how a large input is written).")
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        st.caption("Fill:")
        for kind in data.FILL_KINDS:
            st.button(kind, key=f"fill_{kind}", on_click=on_fill, args=(kind,), type="tertiary",
                      help=f"Fill with {kind} for shape {format_shape(model.input_shape)}")
    result = parse_input(ss.input_text, model.input_shape)
    if isinstance(result, str):
        st.error(f"Input data: {plain(result)}")
    elif result.batch_added:
        st.info(f"One sample of shape {format_shape(result.array.shape[1:])} was given; "
                f"a batch axis was added: {format_shape(result.array.shape)}.")
    else:
        st.caption(f"A batch of {len(result.array)}: shape {format_shape(result.array.shape)}.")


@st.cache_data(max_entries=32, show_spinner=False)
def parse_input(text: str, input_shape: tuple[int, ...]) -> data.ParsedInput | str:
    """The parsed input, or the parser's message; cached because every tab and the sidebar ask for it."""
    try:
        return data.parse_array(text, input_shape)
    except NetbuilderError as e:
        return str(e)


def layer_editor(model: ModelSpec) -> None:
    """One bordered row per layer; widget keys carry the layer's stable id, never its position."""
    if not model.layers:
        st.info("No layers yet: add one from the sidebar.")
    for i, (layer, name) in enumerate(zip(model.layers, model.analyze().names)):
        with st.container(border=True, key=f"layer_{layer.id}"):
            head, buttons = st.columns([3, 2], vertical_alignment="center")
            head.markdown(f"**{i + 1}. {name}** · {layer.kind}")
            up, down, dup, delete = buttons.columns(4)
            up.button("", icon=":material/arrow_upward:", key=f"up_{layer.id}", help="Move up", disabled=i == 0,
                      on_click=lambda lid=layer.id: commit(lambda s: s.move(lid, -1), "move the layer"))
            down.button("", icon=":material/arrow_downward:", key=f"down_{layer.id}", help="Move down", disabled=i == len(model.layers) - 1,
                        on_click=lambda lid=layer.id: commit(lambda s: s.move(lid, 1), "move the layer"))
            dup.button("", icon=":material/content_copy:", key=f"duplicate_{layer.id}", help="Duplicate",
                       on_click=lambda lid=layer.id: commit(lambda s: s.duplicate(lid), "duplicate the layer"))
            delete.button("", icon=":material/delete:", key=f"delete_{layer.id}", help="Delete",
                          on_click=lambda lid=layer.id: commit(lambda s: s.remove(lid), "delete the layer"))
            layer_settings(layer)


def layer_settings(layer) -> None:
    fields = SETTINGS[layer.kind]
    for column, field in zip(st.columns(len(fields)), fields):
        key = f"{field}_{layer.id}"
        ss[key] = getattr(layer, field)  # the model is the truth: a rejected edit snaps back
        kwargs = dict(key=key, on_change=on_layer_setting, args=(layer.id, field))
        with column:
            if field == "units":
                st.number_input("units", step=1, **kwargs)
            elif field == "use_bias":
                st.checkbox("use_bias", **kwargs)
            elif field == "data_format":
                st.selectbox("data_format", DATA_FORMATS, **kwargs)
            else:
                st.selectbox("activation", ACTIVATIONS, help="Keras's aliases swish and hard_swish are silu and hard_silu.", **kwargs)


def issue_panel(model: ModelSpec) -> None:
    issue = model.analyze().issue
    if issue is None:
        return
    st.error(issue.message)
    st.markdown(issue.explanation)
    if issue.keras_message:
        st.caption(f"Keras 3 says: “{issue.keras_message}”")
    for k, fix in enumerate(issue.fixes):
        st.button(f"Fix: {fix.description}", key=f"fix_{k}", on_click=on_fix, args=(k,), type="primary")


def summary_panel(model: ModelSpec) -> None:
    analysis = model.analyze()
    st.dataframe(summary_frame(analysis), hide_index=True, width="stretch")
    total = analysis.total_params
    st.markdown(
        f"**Total params: {total:,}** ({readable_size(total)}) · Trainable params: {total:,} "
        f"({readable_size(total)}) · Non-trainable params: 0 ({readable_size(0)})"
    )


def build_page(model: ModelSpec) -> None:
    left, right = st.columns([5, 4])
    with right:  # drawn first: the graph is what a visitor waits for
        st.graphviz_chart(dot_source(model))
        issue_panel(model)
    with left:
        layer_editor(model)
    summary_panel(model)
    result = forward(model)
    if isinstance(result, str):
        st.caption(f"Output: {result}.")
    else:
        show_output(result[-1])


def forward(model: ModelSpec) -> list[np.ndarray] | str:
    """Every tensor of the forward pass on the typed input, or why it cannot run."""
    parsed = parse_input(ss.input_text, model.input_shape)
    if isinstance(parsed, str):
        return "the input data has a problem (see the sidebar)"
    if not model.analyze().ok:
        return "the model does not fit together yet, so it cannot run"
    return model.model().forward(parsed.array)


def show_output(output: np.ndarray) -> None:
    st.markdown(f"**Output for your input** — shape `{format_shape(output.shape)}` (sample 0 below)")
    st.dataframe(heat_table(output[0]), key="output_table")


@st.cache_data(max_entries=256, show_spinner=False)
def _dot_for(model_json: str) -> str:
    return graph.model_dot(ModelSpec.from_dict(json.loads(model_json)))


def dot_source(model: ModelSpec) -> str:
    """The graph's DOT text, shared across sessions by the model's serialized form."""
    return _dot_for(json.dumps(model.to_dict(), sort_keys=True))


def heat_table(tensor: np.ndarray):
    """One sample's numbers as a table colored like its heatmap, cut to HEAT_CELLS rows and columns."""
    matrix = heatmap.as_matrix(tensor)[:HEAT_CELLS, :HEAT_CELLS]
    pale = 255 - (255 - heatmap.colors(matrix).astype(int)) // 2  # half strength keeps the numbers readable
    css = [[f"background-color: rgb{tuple(int(c) for c in rgb)}" for rgb in row] for row in pale]
    frame = pd.DataFrame(matrix)
    return frame.style.apply(lambda _: pd.DataFrame(css, index=frame.index, columns=frame.columns), axis=None).format("{:.4g}")


def show_heatmap(title: str, tensor: np.ndarray) -> None:
    """A tensor's shape and its first sample as a picture: one row per position, one column per feature."""
    sample = tensor[0]
    finite = sample[np.isfinite(sample)]
    span = f"from {finite.min():.4g} to {finite.max():.4g}" if finite.size else "no finite values"
    st.markdown(f"**{title}** — `{format_shape(tensor.shape)}` · sample 0 {span}")
    st.image(heatmap.image(heatmap.as_matrix(sample)), clamp=True)


def forward_page(model: ModelSpec) -> None:
    tensors = forward(model)
    if isinstance(tensors, str):
        st.warning(tensors[0].upper() + tensors[1:] + ".")
        return
    titles = ["Input"] + [f"{r.name} ({r.class_name})" for r in model.analyze().layers]
    show_output(tensors[-1])
    st.subheader("Every tensor, input to output")
    st.caption("Sample 0 of each tensor: one row per position of the leading axes, one column per feature of the "
               f"last axis (at most 64 rows); blue < 0 < red. Tables show at most {HEAT_CELLS} × {HEAT_CELLS} numbers.")
    chosen = st.selectbox("Numbers of", range(len(tensors)), format_func=lambda i: titles[i], key="tensor_numbers",
                          index=len(tensors) - 1)
    st.dataframe(heat_table(tensors[chosen][0]), key="tensor_table")
    for title, tensor in zip(titles, tensors):
        show_heatmap(title, tensor)
    dense = [(r.name, layer) for r, layer in zip(model.analyze().layers, model.model().layers) if r.class_name == "Dense"]
    if dense:
        st.subheader(f"Weights (seed {model.seed})")
        for name, layer in dense:
            with st.expander(f"{name}: kernel {format_shape(layer.kernel.shape)}"
                             + (f", bias {format_shape(layer.bias.shape)}" if layer.bias is not None else "")):
                st.image(heatmap.image(layer.kernel), clamp=True)
                st.dataframe(layer.kernel[:HEAT_CELLS, :HEAT_CELLS])
                if layer.bias is not None:
                    st.dataframe(layer.bias[None, :HEAT_CELLS])


def compare_page(model: ModelSpec) -> None:
    st.markdown("The same input through the current model and its variants with and without `Flatten`. "
                "Each model draws its weights from the same seed, layer by layer position.")
    parsed = parse_input(ss.input_text, model.input_shape)
    if isinstance(parsed, str):
        st.warning("The input data has a problem (see the sidebar); showing shapes only.")
    rows = explain.compare(explain.variants(model), None if isinstance(parsed, str) else parsed.array)
    for column, row in zip(st.columns(len(rows)), rows):
        with column:
            st.markdown(f"**{row.name}**")
            st.caption(" → ".join([format_shape(model.analyze().input_shape)] +
                                  [format_shape(r.output_shape) for r in row.layers if r.output_shape]))
            st.metric("Output shape", format_shape(row.output_shape) if row.output_shape else "does not fit")
            st.metric("Parameters", f"{row.total_params:,}" if row.total_params is not None else "—")
            if row.output is not None:
                st.dataframe(heat_table(row.output[0]))
            elif row.error:
                st.warning(plain(row.error))
            if row.difference:
                st.markdown(row.difference)
    if len(rows) == 1:
        st.info("This model has no Flatten to remove or move. Add one, or load the preset “Flatten after Dense”.")


def explain_page(model: ModelSpec) -> None:
    explanations = [e for i in range(len(model.layers)) if (e := explain.last_axis_explanation(model, i))]
    for e in explanations:
        st.markdown(f"#### {e.layer_name}: one kernel {format_shape(e.kernel_shape)}, reused at {e.positions:,} positions")
        st.code(e.equation, language=None)
        st.markdown(f"{e.sentence}\n\n{e.formula} parameters, reused {e.positions:,} times. Contrast: {e.contrast}.")
    if not explanations:
        st.info("No Dense here receives more than one axis per sample, so each Dense is fully connected. "
                "Load the preset “Without Flatten” to see a kernel reused along the leading axes.")


def export_page(model: ModelSpec) -> None:
    if not model.analyze().ok:
        st.warning("Fix the model first (see the Build tab): code and JSON need a model that fits together.")
        st.download_button("Graph (DOT)", dot_source(model), "netbuilder.dot", key="dl_dot")
        return
    st.markdown("Code that rebuilds this model **with its current weights**, and the graph.")
    cols = st.columns(3)
    cols[0].download_button("Keras code (.py)", lambda: export.keras_code(model), "netbuilder_keras.py", key="dl_keras")
    cols[1].download_button("PyTorch code (.py)", lambda: export.pytorch_code(model), "netbuilder_torch.py", key="dl_torch")
    cols[2].download_button("Keras JSON", lambda: export.keras_json(model), "model.json", key="dl_json")
    cols = st.columns(3)
    cols[0].download_button("Graph (DOT)", dot_source(model), "netbuilder.dot", key="dl_dot")
    if graph.dot_available():
        cols[1].download_button("Graph (SVG)", lambda: graph.svg(dot_source(model)), "netbuilder.svg", key="dl_svg")
        cols[2].download_button("Graph (PNG)", lambda: graph.png(dot_source(model)), "netbuilder.png", key="dl_png")
    else:
        cols[1].info("SVG and PNG need Graphviz's `dot` on the server: `apt-get install graphviz` "
                     "(or `brew install graphviz`). The DOT file renders anywhere Graphviz runs.")
    with st.expander("Keras JSON"):
        st.code(export.keras_json(model), language="json")


def main() -> None:
    st.set_page_config(page_title="netbuilder", page_icon="🧱", layout="wide")
    init_state()
    model = spec()
    sync_link()
    st.title("netbuilder")
    st.caption("Build a network layer by layer and see every tensor shape, parameter and number exactly as "
               "Keras 3 computes them. Keras's Dense acts on the **last axis** only.")
    show_notices()
    # Only the open tab runs (on_change="rerun"): a 50-layer forward pass is not drawn while building.
    tabs = st.tabs(list(PAGES), key="page", on_change="rerun")
    for tab, page in zip(tabs, PAGES.values()):
        if tab.open:
            with tab:
                page(model)
    sidebar()  # after the page, so the graph reaches the browser first


PAGES = {"Build": build_page, "Forward pass": forward_page, "Compare": compare_page, "Explain": explain_page,
         "Export": export_page}
main()
