"""The Build page: the dataflow graph and the model's output beside a compact layer editor, and the summary.

The editor lists every layer as one option of a single radio (light at 50 layers) and shows the
settings of the selected layer only, generated from its kind's declarations.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from ..engine.budget import current, readable_bytes
from ..engine.graph import input_name
from ..engine.layer import kind_class
from ..engine.limits import MAX_NAME_CHARS
from ..engine.shapes import format_shape
from ..engine.summary import param_totals, readable_size
from ..studio import data, datasets, run
from ..studio.spec import INPUT_ID, MAX_MODEL_INPUTS, ModelSpec, input_id, kinds_by_group, new_layer
from ..views import heatmap
from ..views.graph import BROWSER_CSS, PICK, SELECTED_FILL, WINDOW_FROM, dataflow
from ..views.table import summary_frame
from . import forward, state, widgets
from .state import INPUT, ss

GRAPH_HEIGHT = 620  # px: the whole of a long model scrolls inside this box, so the output and editor stay in reach
LIST_ROWS, LIST_HEIGHT = (
    10,
    240,
)  # a longer layer list scrolls in a box this high (px): the settings stay near the graph
RADIO_MOST = 100  # options of the layer list drawn as a radio; a longer one is a searchable box


WIDE_FROM = 3  # layers side by side (an Inception module's 4 branches): the graph takes the page's width


def page(spec: ModelSpec) -> None:
    wide = spec.breadth >= WIDE_FROM  # in a third of the page its shapes would be a few pixels high
    if wide:
        with state.guard("graph"):
            graph(spec)
    graph_side, editor_side = st.columns([2, 3], gap="medium")
    with graph_side:
        if not wide:
            with state.guard("graph"):
                graph(spec)
        with state.guard("problem"):
            issue_panel(spec)
        with state.guard("output"):
            output(spec)
    with editor_side:
        with state.guard("layer editor"):
            editor(spec)
    with state.guard("summary"):
        summary(spec)


# Clicking a node of the graph selects its layer: one listener on the page reads the clicked node's id (views.graph's
# `pick_7`) and sends it to Python as a trigger value, whichever drawing of the graph is on screen. A graph wider than
# its box (a phone) scrolls so that the selected node is in the middle each time it is drawn anew, not at the left.
CLICK_JS = """
export default function(component) {
    window.netbuilderPick = component.setTriggerValue;
    if (window.netbuilderPickListening) return;
    window.netbuilderPickListening = true;
    document.addEventListener("click", (event) => {
        const node = event.target.closest && event.target.closest('[data-testid="stGraphVizChart"] g.node');
        if (node && node.id.startsWith("%(pick)s")) window.netbuilderPick("picked", node.id.slice(%(cut)d));
    });
    const centre = (chart) => {
        const svg = chart.querySelector("svg");
        if (!svg || svg === chart.netbuilderDrawn || !svg.querySelector("g.node")) return;
        chart.netbuilderDrawn = svg;
        requestAnimationFrame(() => {
            if (chart.scrollWidth <= chart.clientWidth) return;
            const picked = svg.querySelector('g.node [fill="%(fill)s"]');
            const box = (picked ? picked.closest("g.node") : svg).getBoundingClientRect();
            const frame = chart.getBoundingClientRect();
            chart.scrollLeft += box.left + box.width / 2 - (frame.left + frame.width / 2);
        });
    };
    new MutationObserver(() => document.querySelectorAll('[data-testid="stGraphVizChart"]').forEach(centre))
        .observe(document.body, {childList: true, subtree: true});
}
""" % {"pick": PICK, "cut": len(PICK), "fill": SELECTED_FILL}
node_clicks = st.components.v2.component("netbuilder_node_clicks", js=CLICK_JS)


def graph(spec: ModelSpec) -> None:
    st.html(f"<style>{BROWSER_CSS}</style>")  # the graph's text at the sizes it was laid out for (no space taken)
    node_clicks(key="graph_pick", on_picked_change=state.on_graph_pick, height=0)
    long = len(spec.layers) > WINDOW_FROM
    whole = long and ss.get("graph_whole", False)  # the toggle under the graph, read before it is drawn
    chart = dataflow(spec, selected=ss.selection, window=not whole)
    # A key of its own per drawing: the browser draws a changed graph afresh instead of animating every node
    # from the old one to the new, which took most of a click's time on a big model.
    drawing = hashlib.blake2s(chart.source.encode(), digest_size=6).hexdigest()
    with st.container(height=GRAPH_HEIGHT if whole else "content", border=False, key=f"graph_{drawing}"):
        st.graphviz_chart(chart, width="content")
    slot = st.empty()  # always there: the toggle coming at 13 layers does not shift (and redraw) the parts below it
    if long:
        slot.toggle(
            "Draw every layer",
            key="graph_whole",
            help=f"Past {WINDOW_FROM} layers the graph shows the layers around the selected one; the others are "
            "folded into a box above and one below, with the shapes going in and out.",
        )


def issue_panel(spec: ModelSpec) -> None:
    issue = spec.analysis.issue
    state.show_notices("fix")
    if (too_large := spec.analysis.cost.budget_problem()) is not None:
        st.warning(
            f"Too large to run on this server: {too_large}. Its shapes, graph, summary and Keras JSON are all here; "
            "its output, the Forward page, training and code with weights need a model within the budgets."
        )
    if issue is None:
        return
    st.error(issue.message)
    st.markdown(issue.explanation)
    if issue.keras_message:
        st.caption(f"Keras 3 says: “{state.plain(issue.keras_message)}”")
    for k, fix in enumerate(issue.fixes):
        st.button(
            f"Fix: {fix.description}",
            key=f"fix_{k}",
            on_click=state.on_fix,
            args=(k,),
            type="primary",
            wrap=True,
            width="stretch",
        )


def output(spec: ModelSpec) -> None:
    if spec.analysis.cost.budget_problem() is not None:  # said above (issue_panel)
        return
    parsed = state.current_input()
    if isinstance(parsed, state.InputProblem):
        st.caption("Output: the input data has a problem (see Input in the layer list).")
        return
    head = st.empty()  # the output's title and shape, above the sample chosen before the run
    k = widgets.sample_index(len(parsed.batch), "output_sample")
    result = run.output(
        spec,
        parsed.batch,
        k,
        heatmap.CUT,
        checkpoint=state.checkpoint,
        waiting=state.Waiting(),
        visitor=state.visitor(),
    )
    if isinstance(result, run.NoRun):
        head.warning(f"No output: {state.plain(state.sentence(result.reason))}")
        return
    label = (
        "Output for your input" if result.complete else f"Output of the layers before {spec.analysis.issue.layer_name}"
    )
    shown = result.shown
    head.markdown(f"**{label}** — shape `{format_shape(shown.shape)}`")
    if shown.image is None:
        widgets.sample_numbers(shown)
        return
    # an image (and its channels): a picture, as on the Forward page; its numbers (up to 512) one click away
    layers_run = len(spec.layers) if result.complete else spec.analysis.issue.layer_index
    layers_run += len(spec.input_shapes) - 1  # the layouts list every input first
    span, scale = widgets.picture_range(shown, None)
    st.caption(f"Sample {k} {span}.")
    widgets.sample_picture(shown, scale, widgets.channels_first(spec)[layers_run])
    with st.expander(f"Numbers of sample {k}"):
        widgets.sample_numbers(shown)


# --- the editor --------------------------------------------------------------------------------------
def _entry(spec: ModelSpec, option) -> str:
    analysis = spec.analysis
    if option == INPUT:
        shapes = ", ".join(format_shape((None, *shape)) for shape in spec.input_shapes)
        return f"Input{'s' if spec.more_inputs else ''} · {shapes}"
    i = spec.index_of(option)
    layer, name = spec.layers[i], analysis.names[i]
    label = layer.label()
    head = f"{i + 1}. {name} · {layer.kind}" + (f"({label})" if label else "")
    if i < len(analysis.layers) and analysis.layers[i].output_shape is not None:
        return f"{head} → {format_shape(analysis.layers[i].output_shape)}"
    return f"{head} ✗" if analysis.issue and analysis.issue.layer_index == i else head


def editor(spec: ModelSpec) -> None:
    options = [INPUT, *(layer.id for layer in spec.layers)]
    state.keep_selection_valid()
    ss.selected = ss.selection
    choose = dict(
        key="selected",
        format_func=lambda option: _entry(spec, option),
        on_change=state.on_select,
        help="Pick a layer to edit it; the graph highlights it (a click on a node picks it too).",
    )
    if len(options) > RADIO_MOST:  # a real model's hundreds of layers: one box to search by name
        st.selectbox("Layers (type a name to find one)", options, **choose)
    else:
        with st.container(
            height=LIST_HEIGHT if len(options) > LIST_ROWS else "content", border=False, key="layer_list"
        ):
            st.radio("Layers", options, **choose)
    _selected_panel(spec)


def _selected_panel(spec: ModelSpec) -> None:
    """The selected layer's (or the input's) settings, then adding, pasting and clearing."""
    with st.container(border=True, key="selected_panel"):
        state.show_notices("editor")  # above the settings: a refused edit's reason stays beside the widget
        if ss.selection == INPUT:
            input_panel(spec)
        else:
            layer_panel(spec, spec.index_of(ss.selection))
    add_panel(spec)
    with st.expander("Paste layers written as Keras code"):
        st.text_area(
            "One layer per line, as in Keras",
            key="paste_text",
            height=140,
            placeholder='Input(shape=(28, 28, 1))\nConv2D(32, 3, activation="relu")\nMaxPooling2D(2)\nFlatten()\n'
            'Dense(10, activation="softmax")',
            help='Dense(64, activation="relu"), model.add(...), keras.layers.X(...) or a whole Sequential([...]); '
            "Input(shape=...) sets the input shape. Functional code makes a graph: x = Conv2D(64, 3)(x), "
            "x = add([x, shortcut]), keras.Model(inputs, outputs). Only plain values are read, never run.",
        )
        with st.container(horizontal=True, gap="small"):
            st.button("Replace all layers", key="paste_replace", on_click=state.on_paste, args=("replace",))
            st.button("Append", key="paste_append", on_click=state.on_paste, args=("append",))
        state.show_notices("paste", toast=True)  # a paste redraws the list and graph above: the page may move
    st.button("Clear all layers", key="clear", on_click=state.on_clear, type="tertiary")


def layer_panel(spec: ModelSpec, i: int) -> None:
    layer, name = spec.layers[i], spec.analysis.names[i]
    # the layer's own shapes in the one header line (the kind's description, with its example shapes, in the tooltip)
    st.markdown(f"**{name}** · {layer.kind} · {_layer_shapes(spec, i)}", help=kind_class(layer.kind).description)
    with st.container(horizontal=True, gap="small", vertical_alignment="bottom", key="layer_actions"):
        st.button(
            "",
            icon=":material/arrow_upward:",
            key=f"up_{layer.id}",
            help="Move up",
            disabled=i == 0,
            on_click=state.on_move,
            args=(layer.id, -1),
        )
        st.button(
            "",
            icon=":material/arrow_downward:",
            key=f"down_{layer.id}",
            help="Move down",
            disabled=i == len(spec.layers) - 1,
            on_click=state.on_move,
            args=(layer.id, 1),
        )
        st.button(
            "Duplicate",
            icon=":material/content_copy:",
            key=f"duplicate_{layer.id}",
            on_click=state.on_duplicate,
            args=(layer.id,),
            help="Copies right after this layer, as many as `copies` says",
        )
        st.number_input(
            "copies",
            min_value=1,
            max_value=50,
            step=1,
            key="duplicate_count",
            width=80,
            help="How many copies Duplicate makes",
        )
        st.button(
            "Delete", icon=":material/delete:", key=f"delete_{layer.id}", on_click=state.on_delete, args=(layer.id,)
        )
    settings = kind_class(layer.kind).settings
    values = layer.values
    for start in range(0, len(settings), 3):
        row = settings[start : start + 3]
        for column, setting in zip(st.columns(3), row):  # three to a row: a last one alone keeps its width
            with column:
                widgets.setting_widget(layer.id, setting, values[setting.name])
    connections(spec, i)  # after its settings, which a refused edit's message above must keep in view
    if layer.built_for is not None:
        st.caption(
            f"Built for input {format_shape((None, *layer.built_for))} (from imported JSON): "
            "its weights have that size."
        )
    if layer.kept:
        st.caption(
            f"Kept from the imported JSON but not applied here: {state.plain(', '.join(key for key, _ in layer.kept))} "
            "(written back in exported JSON; training refuses them by name, as it would differ from Keras's)."
        )


def _tensor(spec: ModelSpec, option: int) -> str:
    """A tensor a layer can take, by what makes it: `Input (None, 8, 8, 3)`, `2. conv2d → (None, 8, 8, 4)`."""
    analysis = spec.analysis
    if option < 0:
        return _input_title(spec, -1 - option)
    i = spec.index_of(option)
    shape = analysis.layers[i].output_shape if i < len(analysis.layers) else None
    return f"{i + 1}. {analysis.names[i]}" + (f" → {format_shape(shape)}" if shape is not None else "")


def connections(spec: ModelSpec, i: int) -> None:
    """Layer `i`'s name, what it takes (one tensor, or several for a merge), and the graph actions from it."""
    layer = spec.layers[i]
    before = spec.takeable(i)
    key = widgets.layer_key(layer.id, "takes")
    cls = kind_class(layer.kind)
    taken = spec.input_ids(i)
    with st.container(horizontal=True, gap="small", vertical_alignment="bottom", key=f"connections_{layer.id}"):
        name_key = widgets.layer_key(layer.id, "name")
        ss[name_key] = layer.name or ""
        st.text_input(
            "Name",
            key=name_key,
            max_chars=MAX_NAME_CHARS,
            placeholder=spec.analysis.names[i],
            on_change=state.on_rename,
            args=(layer.id, name_key),
            width=220,
            help="Keras's name= for this layer (blank: named as Keras names it). Past 12 layers the graph folds layers "
            "whose names share a first word (encoder_conv, encoder_pool → encoder), as it folds Keras's blocks.",
        )
        if cls.takes_list:  # a merge: its tensors, in order
            pick, ss[key] = st.multiselect, list(taken)
            what = f"The tensors {layer.kind} combines, in order; any tensor made before it in the list."
        else:
            pick, ss[key] = st.selectbox, taken[0]
            what = "The tensor this layer computes on: the layer before it (a chain), or any other made before it."
        pick(
            "Takes",
            before,
            key=key,
            format_func=lambda option: _tensor(spec, option),
            on_change=state.on_inputs,
            args=(layer.id, key),
            help=what,
        )
    graph_actions(spec, layer.id)


MERGE_KINDS = kinds_by_group()["Merging"]
QUICK_KINDS = ("Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dropout", "Activation")  # the kinds most models chain


def graph_actions(spec: ModelSpec, layer_id: int) -> None:
    """Branch from, merge with, or wrap in a residual block the selected layer's output (or the input), in a popover:
    its widgets are drawn only when it is opened, so a click elsewhere on the page stays as quick as without them."""
    with st.popover("Branch, merge, residual block", icon=":material/account_tree:", key="graph_actions"):
        _graph_action_widgets(spec, layer_id)


def _graph_action_widgets(spec: ModelSpec, layer_id: int) -> None:
    others = spec.takeable(len(spec.layers))
    others.remove(layer_id)
    if ss.get("merge_with") not in others:  # the choice of an earlier model (undo, a preset): a tensor of this one
        ss.merge_with = others[0]
    row = dict(horizontal=True, gap="small", vertical_alignment="bottom")
    with st.container(key="graph_branch", **row):  # each row narrow enough for a phone's width
        _action(
            "Branch",
            "call_split",
            state.on_branch,
            layer_id,
            "A new layer (the kind chosen under Add a layer) taking this output: a second path, an open end that is "
            "another output of the model until it is merged.",
        )
        _action(
            "Residual block",
            "line_start_arrow",
            state.on_residual,
            layer_id,
            "Two layers (3×3 Conv2D on images, Dense otherwise) added to this output, then relu; what took this "
            "output takes the block's. `width` and `stride 2` change the shape: the shortcut then gets a projection "
            "(a 1×1 Conv2D or a Dense).",
        )
        st.number_input(
            "width",
            min_value=1,
            max_value=4096,
            value=None,
            key="residual_width",
            width=100,
            placeholder="same",
            help="Units or filters of the residual block (empty: the same as this output)",
        )
        st.checkbox("stride 2", key="residual_stride", help="The residual block halves height and width (images)")
    with st.container(key="graph_merge", **row):
        st.selectbox(
            "Merge with", others, key="merge_with", width=200, format_func=lambda option: _tensor(spec, option)
        )
        st.selectbox("as", MERGE_KINDS, key="merge_kind", width=130)
        _action(
            "Merge",
            "call_merge",
            state.on_merge,
            layer_id,
            "A merge layer at the end taking this output and the one chosen: Add needs equal shapes, Concatenate "
            "joins them on the last axis.",
        )


def _action(label: str, icon: str, callback, layer_id: int, help_text: str) -> None:
    """A graph action's button, keyed by its own name (`Residual block` → `residual`): one popover holds each."""
    key = label.split()[0].lower()
    st.button(label, icon=f":material/{icon}:", key=key, on_click=callback, args=(layer_id,), help=help_text)


def _layer_shapes(spec: ModelSpec, i: int) -> str:
    """`(None, 28, 28, 1)` → `(None, 26, 26, 8)`, as the analysis computed them for layer i (its own, not an
    example)."""
    reports = spec.analysis.layers
    if i >= len(reports):
        return "not reached (a layer before it does not fit)"
    report = reports[i]
    if report.output_shape is None:
        return f"`{format_shape(report.input_shape)}` does not fit it (see under the graph)"
    return f"`{format_shape(report.input_shape)}` → `{format_shape(report.output_shape)}`"


def add_panel(spec: ModelSpec) -> None:
    groups = kinds_by_group()
    kinds = [kind for group in groups.values() for kind in group]
    group_of = {kind: group for group, members in groups.items() for kind in members}
    with st.container(horizontal=True, gap="small", vertical_alignment="bottom", key="add_row"):
        st.selectbox(
            "Add a layer", kinds, key="add_kind", width=260, format_func=lambda kind: f"{group_of[kind]} · {kind}"
        )
        st.number_input("How many", min_value=1, max_value=50, step=1, key="add_count", width=90)
        st.selectbox("Where", ["after the selected layer", "at the end"], key="add_where", width=200)
        st.button("Add", icon=":material/add:", key="add", on_click=state.on_add, type="primary")
    kind = ss.get("add_kind") or kinds[0]
    st.caption(f"{kind}: {kind_class(kind).description}")  # the whole description, wrapped, not cut in the box
    with st.container(horizontal=True, gap="small", vertical_alignment="center", key="quick_add"):
        # a convnet or an MLP layer by layer, without opening the Add box each time
        _button_row(
            "One click:",
            QUICK_KINDS,
            "quick",
            state.on_add,
            lambda quick: (
                f"Add {quick}({new_layer(quick, 0).label()}) after the selected layer; change its settings there"
            ),
        )


def _button_row(caption: str, choices, key: str, on_click, help_of) -> None:
    """A caption, then a small button per choice (keyed `key_choice`) that calls `on_click(choice)`."""
    st.caption(caption)
    for choice in choices:
        st.button(
            choice, key=f"{key}_{choice}", on_click=on_click, args=(choice,), type="tertiary", help=help_of(choice)
        )


def _input_title(spec: ModelSpec, k: int) -> str:
    """Input k as the Takes box and the graph call it: `Input (None, 3, 2)`, or `Input 2 (input_layer_1) (None, 4)`."""
    shape = format_shape((None, *spec.input_shapes[k]))
    return f"Input {shape}" if not spec.more_inputs else f"Input {k + 1} ({input_name(k)}) {shape}"


def input_shapes(spec: ModelSpec) -> None:
    """Each input's shape (a further one with its Remove button), which ones no layer takes, and Add an input."""
    several = bool(spec.more_inputs)
    for k, shape in enumerate(spec.input_shapes):
        key = state.input_shape_key(k)
        ss[key] = ", ".join(str(d) for d in shape)
        with st.container(horizontal=True, gap="small", vertical_alignment="bottom", key=f"input_row_{k}"):
            st.text_input(
                f"Input {k + 1} shape (per sample)" if several else "Input shape (per sample)",
                key=key,
                on_change=state.on_input_shape,
                args=(k,),
                help="Up to 4 positive integers separated by commas; empty for one number per sample. "
                "The batch axis is added in front and shown as None.",
            )
            if k:
                st.button(
                    "Remove",
                    key=f"remove_input_{k}",
                    on_click=state.on_remove_input,
                    args=(k,),
                    icon=":material/delete:",
                )
    taken = {k for source in spec.sources for k in source}
    unused = [f"Input {k + 1}" for k in range(1, len(spec.input_shapes)) if input_id(k) not in taken]
    if unused:
        st.caption(
            f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} taken by no layer yet (Keras keeps such an "
            "input): pick it in a layer's Takes box, or branch from it below."
        )
    st.button(
        "Add an input",
        key="add_input",
        icon=":material/input:",
        on_click=state.on_add_input,
        disabled=len(spec.input_shapes) >= MAX_MODEL_INPUTS,
        help="Another Input (Keras's input_layer_1, ...), of the first input's shape: a model of several inputs, "
        "such as an image and a few numbers about it. A layer takes it when it is picked in its Takes box.",
    )


def input_panel(spec: ModelSpec) -> None:
    """The model's inputs: their shapes, and the data of the forward pass, with what is wrong right below."""
    several = bool(spec.more_inputs)
    input_shapes(spec)
    if several:
        st.caption(run.FED)
    ss.input_text = ss.input_data
    st.text_area(
        "Input data",
        key="input_text",
        height=110,
        on_change=state.on_input_text,
        help="A nested list such as [[1, 2], [3, 4]] (NumPy's print format works too): a batch, or one sample "
        "without the batch axis. The words `zeros`, `range` and `random:SEED` stand for one sample of the "
        "input shape (how a large input is written).",
    )
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        _button_row(
            "Fill:",
            data.FILLS,
            "fill",
            state.on_fill,
            lambda kind: f"Fill with {kind} for shape {format_shape(spec.input_shape)}",
        )
        source = forward.next_source(spec)
        if source is not None:  # a real sample, e.g. a handwritten digit (the Forward pass page picks any)
            st.button(
                "digit" if source == forward.DIGITS else f"{source} sample",
                key="fill_dataset",
                on_click=forward.on_next_sample,
                type="tertiary",
                help=f"Fill with a sample of {datasets.TITLES[source]} (each click the next one), shaped "
                f"{format_shape(spec.input_shape)}",
            )
    if several:  # the graph actions start from the input chosen here
        if ss.get("input_from") not in spec.takeable(0):
            ss.input_from = INPUT_ID
        st.selectbox(
            "Branch or merge from",
            spec.takeable(0),
            key="input_from",
            format_func=lambda option: _input_title(spec, -1 - option),
        )
        graph_actions(spec, ss.input_from)
    elif spec.layers:  # branching from the input of an empty model would be adding its first layer
        graph_actions(spec, INPUT_ID)
    state.show_notices("input")
    result = state.current_input()
    if isinstance(result, state.InputProblem):
        st.error(f"Input data: {state.plain(result.message)}")
        return
    batch = result.batch  # its shape: a large fill is made where it runs
    if result.batch_added:
        st.info(
            f"One sample of shape {format_shape(batch.shape[1:])} was given; "
            f"a batch axis was added: {format_shape(batch.shape)}."
        )
    else:
        st.caption(f"A batch of {len(batch)}: shape {format_shape(batch.shape)}.")
    if result.non_finite:
        st.warning(
            f"The input holds {result.non_finite:,} NaN or infinite value(s); they spread through the model "
            "(NaN is shown as nan, and grey in pictures)."
        )


# --- the summary -----------------------------------------------------------------------------------
def summary(spec: ModelSpec) -> None:
    analysis = spec.analysis
    st.subheader("Summary")
    connected = None
    if spec.is_graph:  # Keras's functional summary names what each layer takes
        connected = [
            ", ".join(input_name(-1 - k) if k < 0 else analysis.names[k] for k in source) for source in spec.sources
        ]
    st.table(summary_frame(analysis, connected), hide_index=True)  # plain HTML: light to draw, every cell readable
    totals = " · ".join(f"{label}: {n:,} ({readable_size(n)})" for label, n in param_totals(analysis))
    st.markdown(f"**{totals}**")
    if analysis.issue is not None:
        st.caption(
            f"The totals count the rows above, up to {analysis.issue.layer_name!r}, where the model stops: it cannot "
            "be built until that is fixed."
        )
    cost = analysis.cost
    parsed = state.current_input()
    batch = len(parsed.batch) if isinstance(parsed, data.ParsedInput) else 1
    budget = current()
    bounds = [
        f"{what} ≤ {readable_bytes(n)}"
        for what, n in (("weights", budget.weight_bytes), ("a run's tensors", budget.run_bytes))
        if n is not None
    ]
    st.caption(
        f"{cost.summary(batch)} (batch of {batch})." + (f" Budgets per visitor: {', '.join(bounds)}." if bounds else "")
    )
