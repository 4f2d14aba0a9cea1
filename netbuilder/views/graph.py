"""The model's dataflow as a `graphviz.Digraph` (for st.graphviz_chart), and SVG/PNG through Graphviz's `dot`.

The graphviz package writes the DOT and quotes every attribute. Labels are HTML-like, which the
package passes through as they are, so every piece of user-influenced text (layer names, settings,
messages) is escaped here by `html_text` first: no name can add nodes, edges or attributes. Node
ids are the layers' stable ids (`L7`), never their names.
"""

from __future__ import annotations

import html
import math
import re
import shutil
import subprocess

import graphviz

from ..engine.errors import NetbuilderError
from ..engine.layer import snake_case
from ..engine.shapes import format_shape

RENDER_TIMEOUT_S = 30
MAX_LABEL_NAME = 40  # characters of a layer name shown in a node; longer names are cut with "…"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_NOT_XML = re.compile(
    r"[\ud800-\udfff\ufffe\uffff]"
)  # lone surrogates cannot be UTF-8; Graphviz's XML parser rejects these
# Graphviz expands \N, \G, \L ... even inside HTML-like labels (entities are decoded first), so no
# backslash may reach it; U+2216 SET MINUS looks like one and means nothing to Graphviz.
_BACKSLASH_LOOKALIKE = "\u2216"

# Monospace: Graphviz (in the browser, viz.js) lays text out with Courier's metrics, 0.6 em per ASCII character, and the
# browser draws it in Streamlit's own monospace web font (BROWSER_CSS), also 0.6 em: lines stay centred on any machine.
FONT = "Courier"
EDGE_PT, NODE_PT, SMALL_PT = 12, 11, 10  # ×4/3 on screen: shapes 16 px in bold, node text 14.7 px and 13.3 px
# st.graphviz_chart's own CSS sets every SVG text to its body font at 9.6 px; this puts back the sizes laid out here.
# A node's SVG id says what clicking it selects (`pick_7`: layer 7, `pick_input`): the page turns a click into a choice.
PICK = "pick_"
BROWSER_CSS = "".join(
    [
        '[data-testid="stGraphVizChart"] svg text {font-family: "Source Code Pro", monospace;}',
        f'[data-testid="stGraphVizChart"] g.node[id^="{PICK}"] {{cursor: pointer;}}',
        # on a phone a graph wider than the screen keeps its size and scrolls sideways: shrunk to fit, a residual
        # block's shapes were 8 px high (on a desktop the page gives a wide graph its whole width: ui/build.py)
        '[data-testid="stGraphVizChart"] {overflow-x: auto;}',
        '@media (max-width: 640px) {[data-testid="stGraphVizChart"] svg {max-width: none;}}',
    ]
    + [
        f'[data-testid="stGraphVizChart"] svg text[font-size="{pt}.00"] {{font-size: {pt}px;}}'
        for pt in (EDGE_PT, NODE_PT, SMALL_PT)
    ]
)
WINDOW_FROM = 12  # a longer model is drawn as a window around the selected layer (see `dataflow`)
WINDOW_AROUND = 2  # layers drawn before and after the selected one
INK, MUTED, LINE, SHAPE_INK = "#111827", "#4b5563", "#475569", "#0f172a"
LAYER_FILL, IO_FILL, SELECTED_FILL, SELECTED_LINE = "#f8fafc", "#e0f2fe", "#fef3c7", "#d97706"
ERROR_FILL, ERROR_INK = "#fee2e2", "#b91c1c"
GREY_INK, GREY_LINE = "#9ca3af", "#cbd5e1"


class GraphvizError(NetbuilderError):
    """Graphviz's `dot` failed to render a graph."""


class GraphvizMissingError(GraphvizError):
    """Graphviz's `dot` program is not installed."""


# --- escaping ---------------------------------------------------------------------------------
def _plain(text) -> str:
    """`text` on one line with no control characters, no backslashes, and only characters XML allows."""
    text = _NOT_XML.sub("\ufffd", _CONTROL.sub(" ", str(text)))
    return text.replace("\\", _BACKSLASH_LOOKALIKE)


def html_text(text) -> str:
    """Text safe inside an HTML-like label `<...>`: entities for & < > " ' and no backslash or line break."""
    return html.escape(_plain(text), quote=True)


def attribute_text(text) -> str:
    """Text for a plain attribute (a tooltip): the package quotes it, unless it looks like an HTML label `<...>`."""
    text = _plain(text)
    return " " + text if text.startswith("<") else text


def _short(name: str) -> str:
    return name if len(name) <= MAX_LABEL_NAME else name[: MAX_LABEL_NAME - 1] + "…"


def _small(text: str, color: str = MUTED) -> str:
    return f'<font point-size="{SMALL_PT}" color="{color}">{text}</font>'


def _html(label: str) -> str:
    """An HTML-like label as the graphviz package recognises one (it passes `<...>` through unquoted)."""
    return f"<{label}>"


# --- the graph ----------------------------------------------------------------------------------
def _new_graph() -> graphviz.Digraph:
    # A white background, not transparent: labels stay readable under a dark app theme too.
    return graphviz.Digraph(
        "netbuilder",
        graph_attr={"rankdir": "TB", "ranksep": "0.2", "nodesep": "0.3", "bgcolor": "white", "fontname": FONT},
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fillcolor": LAYER_FILL,
            "color": LINE,
            "fontname": FONT,
            "fontsize": str(NODE_PT),
            "fontcolor": INK,
            "margin": "0.14,0.06",
            "height": "0.4",
            "width": "2.4",
        },
        edge_attr={
            "fontname": FONT,
            "fontsize": str(EDGE_PT),
            "fontcolor": SHAPE_INK,
            "color": LINE,
            "arrowsize": "0.7",
        },
    )


def _edge(graph, tail: str, head: str, shape=None, look: dict | None = None, **attrs) -> None:
    """An edge, labelled in bold with the tensor shape it carries when that is known (`look`: more attributes)."""
    attrs.update(look or {})
    label = _html(f"<b>{html_text(format_shape(shape))}</b>") if shape is not None else None
    graph.edge(tail, head, label=label, **attrs)


def _issue_note(issue) -> str:
    """A few words under the failing layer: what it needs."""
    return "✗ exceeds a netbuilder limit" if issue.category == "limit" else f"✗ needs {issue.expected}"


def dataflow(spec, selected=None, window: bool = False) -> graphviz.Digraph:
    """`spec` top to bottom: Input, one node per layer (the `selected` layer id, or "input", highlighted), Output;
    edges carry shapes. With `window`, a model of more than WINDOW_FROM layers shows only the layers around the
    selected one (and the failing one); each run of the others is one node, the shapes on its edges kept."""
    analysis = spec.analysis
    rows = [(layer.id, name, layer.kind, layer.label()) for layer, name in zip(spec.layers, analysis.names)]
    if spec.is_graph or (window and len(rows) > WINDOW_FROM and any(_named_groups(rows))):  # folds by names
        return _dag(spec, rows, selected, window)
    shown = None
    if window and len(rows) > WINDOW_FROM:
        ids = [layer.id for layer in spec.layers]
        at = ids.index(selected) if selected in ids else 0
        shown = {
            *range(at - WINDOW_AROUND, at + WINDOW_AROUND + 1),
            *([analysis.issue.layer_index] if analysis.issue else []),
        }
        shown |= {i for i in range(len(rows)) if i - 1 in shown and i + 1 in shown}  # one layer is drawn, not folded
        shown |= {0} if 1 in shown else set()
        shown |= {len(rows) - 1} if len(rows) - 2 in shown else set()
    return _graph(analysis, rows, selected, shown)


def _dag(spec, rows, selected, window: bool) -> graphviz.Digraph:
    """A graph: every layer a node, an edge from each tensor it takes carrying that tensor's shape (a merge's inputs
    side by side), an Output node under each layer no other takes. With `window`, past WINDOW_FROM layers: layers
    named in Keras's blocks (`conv2_block1_…`, `block_3_…`) or in a group of names (`encoder_…`) fold into one box
    per block, all but the selected layer's (and the failing one's); when such names leave most layers out, only
    the layers within WINDOW_AROUND steps of the selected one (and the failing one) are drawn, the others two nodes,
    before and after. Edges between folded nodes keep
    their shapes; a click on a fold selects a layer in it, which opens it."""
    analysis, sources = spec.analysis, spec.sources
    issue, reports = analysis.issue, analysis.layers
    fail_at = len(rows) if issue is None else issue.layer_index
    at = next((i for i, row in enumerate(rows) if row[0] == selected), -1)
    graph = _new_graph()
    node_of: dict[int, str] = {}  # each position's node (its own, or the fold it is in); input k at -1 - k
    for k, shape in enumerate(spec.input_shapes):
        node_of[-1 - k] = _input_node(graph, shape, selected, k, len(spec.input_shapes))
    if window and len(rows) > WINDOW_FROM:
        blocks = _adopted(_named_groups(rows), rows, sources)
        if 2 * sum(block is not None for block in blocks) >= len(rows):  # blocks fold most of it: NASNet's do not
            node_of |= _fold_blocks(
                graph, rows, reports, blocks, {blocks[at] if at >= 0 else None, blocks[fail_at] if issue else None}
            )
        else:
            shown = _neighbourhood(sources, at, WINDOW_AROUND) | ({fail_at} if issue else set())
            node_of |= _fold_around(graph, rows, [i for i in range(len(rows)) if i not in shown], at)
    for i in range(len(rows)):
        if i not in node_of:
            node_of[i] = _layer_node(graph, i, rows[i], reports, fail_at, issue, selected)
    drawn = set()  # one edge per pair of nodes and shape: a fold's inner edges and repeats are not drawn
    for i, source in enumerate(sources):
        for k in source:
            shape = (
                (None, *spec.input_shapes[-1 - k]) if k < 0 else reports[k].output_shape if k < len(reports) else None
            )
            shape, look = _edge_look(i, fail_at, shape)
            edge = (node_of[k], node_of[i], shape)
            if edge[0] != edge[1] and edge not in drawn:
                drawn.add(edge)
                _edge(graph, *edge, look)
    outputs = spec.output_positions
    for n, k in enumerate(outputs):
        several = len(outputs) > 1
        shape = reports[k].output_shape if issue is None else None
        _output_node(
            graph,
            node_of[k],
            f"output{n}" if several else "output",
            f"Output {n + 1}" if several else "Output",
            shape,
            rows[k][0],
        )
    return graph


_BLOCK = re.compile(r"(.*?block_?\d+[a-z]?)(?:_|$)")  # Keras's block prefixes: conv2_block1, block_3, block1a
_STAGE = re.compile(r"(.+)_block\d+|(block\d+)[a-z]")  # a stage of blocks: conv4_block12 → conv4, block2b → block2
MOST_BOXES = 12  # block boxes past which whole stages fold too: ResNet152's 50 blocks become conv2 … conv5


def block_of(name: str) -> str | None:
    """The Keras block a layer's name puts it in (`conv2_block1_1_conv` → `conv2_block1`), or None."""
    match = _BLOCK.match(name)
    return match.group(1) if match else None


def _automatic(name: str, kind: str) -> bool:
    """Whether `name` is one Keras gives a layer by itself (`conv2d`, `conv2d_10`)."""
    return re.fullmatch(re.escape(snake_case(kind)) + r"(_\d+)?", name) is not None


def _named_groups(rows) -> list[str | None]:
    """Each layer's fold: its Keras block (`conv2_block1`), else the first word of a name it was given, when the
    layers named with that word are two or more, one after another in the list (a user's `encoder_conv`,
    `encoder_pool`; ResNet's stem `conv1_pad` … `conv1_relu`; not NASNet's `normal_…`, spread over every cell)."""
    words = [None if _automatic(name, kind) or "_" not in name else name.split("_")[0] for _, name, kind, _ in rows]
    at: dict[str, list[int]] = {}
    for i, word in enumerate(words):
        at.setdefault(word, []).append(i)
    together = {word for word, where in at.items() if word and 1 < len(where) == where[-1] - where[0] + 1}
    return [block_of(row[1]) or (word if word in together else None) for row, word in zip(rows, words)]


def _adopted(blocks: list[str | None], rows, sources) -> list[str | None]:
    """`blocks`, with each layer named as Keras names one by itself (`conv2d_10`) in the block of the first layer
    that takes it, when that one is in a block: Inception-ResNet's branches fold with their block's named merge."""
    first_taker: dict[int, int] = {}
    for i, source in enumerate(sources):
        for k in source:
            first_taker.setdefault(k, i)
    blocks = list(blocks)
    for i in reversed(range(len(rows))):  # a taker comes later in the list: its block is settled first
        _, name, kind, _ = rows[i]
        if blocks[i] is None and _automatic(name, kind) and i in first_taker:
            blocks[i] = blocks[first_taker[i]]
    return blocks


def stage_of(block: str) -> str | None:
    """The stage a Keras block is in (`conv4_block12` → `conv4`, `block2b` → `block2`), or None (`block_13`)."""
    match = _STAGE.fullmatch(block)
    return (match.group(1) or match.group(2)) if match else None


def fold_groups(blocks: list[str | None], opened: set) -> list[str | None]:
    """The box each position folds into (None: drawn itself): its block's, but in the `opened` blocks. Past
    MOST_BOXES boxes, its stage's, but in the stages of the opened blocks; there, the blocks more than WINDOW_AROUND
    blocks from an opened one fold into runs (`conv4_block1 … conv4_block17`)."""
    groups = [None if block is None or block in opened else block for block in blocks]
    if len(set(groups) - {None}) <= MOST_BOXES:
        return groups
    open_stages = {stage_of(block) for block in opened if block} - {None}
    in_stage: dict[str, list[str]] = {}
    for block in dict.fromkeys(block for block in blocks if block and stage_of(block) in open_stages):
        in_stage.setdefault(stage_of(block), []).append(block)
    run_of = {}
    for names in in_stage.values():
        near = {
            k + d for k, name in enumerate(names) if name in opened for d in range(-WINDOW_AROUND, WINDOW_AROUND + 1)
        }
        runs = [[]]
        for k, name in enumerate(names):
            if k in near:
                runs.append([])
            else:
                runs[-1].append(name)
        run_of |= {name: f"{run[0]} … {run[-1]}" if len(run) > 1 else run[0] for run in runs for name in run}

    def fold(group: str | None) -> str | None:
        if group is None or stage_of(group) in open_stages:
            return run_of.get(group, group)
        return stage_of(group) or group

    return [fold(group) for group in groups]


def _fold_blocks(graph, rows, reports, blocks, opened: set) -> dict[int, str]:
    """One dashed box per fold (`fold_groups`), with its blocks, layers and parameters; {position: its box}."""
    members: dict[str, list[int]] = {}
    for i, group in enumerate(fold_groups(blocks, opened)):
        if group is not None:
            members.setdefault(group, []).append(i)
    node_of = {}
    for group, part in members.items():
        node = f"B{int(rows[part[0]][0])}"
        params = sum(reports[i].params for i in part if i < len(reports))
        inner = list(dict.fromkeys(blocks[i] for i in part))
        count = (f"{len(inner)} blocks · " if len(inner) > 1 else "") + f"{len(part)} layers · {params:,} params"
        names = ", ".join(inner if len(inner) > 1 else [rows[i][1] for i in part])
        graph.node(
            node,
            _html(f"<b>{html_text(_short(group))}</b><br/>{_small(count)}"),
            style="rounded,dashed",
            tooltip=attribute_text(names[:300]),
            id=_pick(rows[part[0]][0]),
        )
        node_of |= {i: node for i in part}
    return node_of


def _fold_around(graph, rows, hidden: list[int], at: int) -> dict[int, str]:
    """The layers not drawn as two dashed nodes, before and after position `at`; {position: its node}."""
    node_of = {}
    for where, part in (("before", [i for i in hidden if i < at]), ("after", [i for i in hidden if i > at])):
        if part:
            label = f"<b>{len(part)} layers {where}</b><br/>{_small('not drawn: pick a layer there to see it')}"
            nearest = rows[part[-1] if where == "before" else part[0]][
                0
            ]  # a click selects the layer next to the window
            names = ", ".join(rows[i][1] for i in part)
            graph.node(
                f"more_{where}",
                _html(label),
                style="rounded,dashed",
                tooltip=attribute_text(names[:300]),
                id=_pick(nearest),
            )
            node_of |= {i: f"more_{where}" for i in part}
    return node_of


def _neighbourhood(sources, at: int, steps: int) -> set[int]:
    """The layer positions within `steps` edges of position `at` (-1 - k: input k), either way along the edges."""
    near: dict[int, set[int]] = {}
    for i, source in enumerate(sources):
        for k in source:
            near.setdefault(i, set()).add(k)
            near.setdefault(k, set()).add(i)
    found, edge = {at}, {at}
    for _ in range(steps):
        edge = {j for k in edge for j in near.get(k, ())} - found
        found |= edge
    return {k for k in found if k >= 0}


def sequential_graph(model) -> graphviz.Digraph:
    """A built engine Sequential, its layers named as they were given (`name=`)."""
    return _graph(
        model.analysis, [(i, layer.name, layer.kind, layer.label()) for i, layer in enumerate(model.layers)], None
    )


_MARK = {"fillcolor": SELECTED_FILL, "color": SELECTED_LINE, "penwidth": "2.5"}
_GREY = {"style": "dashed", "color": GREY_LINE}


def _graph(analysis, rows, selected, shown=None) -> graphviz.Digraph:
    """The digraph for `rows` of (layer id, name, kind, label) analysed as `analysis`; only the positions in
    `shown` (every one when None), each run of the others drawn as one node."""
    issue = analysis.issue
    fail_at = len(rows) if issue is None else issue.layer_index
    reports = analysis.layers
    graph = _new_graph()
    prev, shape, hidden = _input_node(graph, analysis.input_shape[1:], selected), analysis.input_shape, []
    for i, (layer_id, name, kind, settings) in enumerate(rows):
        if shown is not None and i not in shown:
            hidden.append(i)
            continue
        if hidden:
            prev, shape, hidden = *_more(graph, prev, shape, hidden, rows, reports, fail_at, selected), []
        node = _layer_node(graph, i, rows[i], reports, fail_at, issue, selected)
        _edge(graph, prev, node, *_edge_look(i, fail_at, shape))
        prev = node
        shape = reports[i].output_shape if i < len(reports) else None
    if hidden:
        prev, shape = _more(graph, prev, shape, hidden, rows, reports, fail_at, selected)
    _output_node(graph, prev, "output", "Output", shape if issue is None else None, rows[-1][0] if rows else "input")
    return graph


def _output_node(graph, tail: str, node: str, title: str, shape, target) -> None:
    """An output and its edge from `tail`, with the `shape` it carries (None: unknown past a failure, greyed); a
    click selects `target`, the layer it comes from."""
    if shape is not None:
        label = _html(f"<b>{title}</b> {_small(html_text(format_shape(shape)))}")
        graph.node(node, label, fillcolor=IO_FILL, id=_pick(target))
        _edge(graph, tail, node, shape)
    else:
        look = {"style": "rounded,dashed", "color": GREY_LINE, "fontcolor": GREY_INK}
        graph.node(node, _html(f"<b>{title}</b>"), id=_pick(target), **look)
        _edge(graph, tail, node, None, _GREY)


def _layer_node(graph, i: int, row, reports, fail_at: int, issue, selected) -> str:
    """The node of the layer at position `i` (row: id, name, kind, label): its params when it fits, red with what it
    needs when it fails, greyed after the failure; its id."""
    layer_id, name, kind, settings = row
    node = f"L{int(layer_id)}"
    head = f"<b>{html_text(_short(name))}</b><br/>{html_text(kind)}" + (f" · {html_text(settings)}" if settings else "")
    report = reports[i] if i < len(reports) else None
    mark = _MARK if layer_id == selected else {}
    if i < fail_at:
        params = "<br/>" + _small(f"{report.params:,} params") if report and report.params else ""
        tooltip = f"{report.formula} params" if report and report.formula else f"{name} ({kind})"
        graph.node(node, _html(head + params), tooltip=attribute_text(tooltip), id=_pick(layer_id), **mark)
    elif i == fail_at:
        note = _small(html_text(_issue_note(issue)), ERROR_INK)
        graph.node(
            node,
            _html(f"{head}<br/>{note}"),
            fillcolor=ERROR_FILL,
            color=ERROR_INK,
            penwidth="2.5",
            tooltip=attribute_text(issue.message),
            id=_pick(layer_id),
        )
    else:  # after the failure nothing is known: greyed, dashed, no shapes
        look = {"style": "rounded,dashed", "color": GREY_LINE, "fontcolor": GREY_INK, **mark}
        graph.node(node, _html(head), id=_pick(layer_id), **look)
    return node


def _pick(target) -> str:
    """The SVG id of a node whose click selects `target` (a layer id, or "input", "input_1", ... for the inputs)."""
    return f"{PICK}{target if str(target).startswith('input') else int(target)}"


def _input_node(graph, shape, selected, k: int = 0, count: int = 1) -> str:
    """The model's input `k` (of `count`) with its per-sample `shape`; its node's name. A click selects the inputs'
    panel."""
    node = "input" if k == 0 else f"input_{k}"
    title = "Input" if count == 1 else f"Input {k + 1}"
    graph.node(
        node,
        _html(f"<b>{title}</b> {_small('shape=' + html_text(format_shape(shape)))}"),
        **{"fillcolor": IO_FILL, "id": _pick(node), **(_MARK if selected == "input" else {})},
    )
    return node


def _edge_look(i: int, fail_at: int, shape) -> tuple:
    """The shape and look of an edge into the layer at position `i`: plain, red into the failing layer, grey and
    without a shape after it."""
    if i < fail_at:
        return shape, None
    if i == fail_at:
        return shape, {"color": ERROR_INK}
    return None, _GREY


def _more(graph, prev: str, shape, hidden: list[int], rows, reports, fail_at: int, selected):
    """One dashed node for the layers at positions `hidden` (a run wholly before or after the failing layer),
    with the shape going in and coming out on its edges; returns the node and the shape it gives."""
    first, last = hidden[0], hidden[-1]
    node = f"more{first}"
    names = ", ".join(rows[i][1] for i in hidden)
    where = "below" if any(row[0] == selected for row in rows[:first]) or selected == "input" else "above"
    label = f"<b>{len(hidden)} layers {where}</b><br/>{_small(f'{first + 1} to {last + 1} in the list')}"
    known = last < fail_at  # past the failure nothing is known: greyed, no shapes
    look = {"fillcolor": "white"} if known else {"color": GREY_LINE, "fontcolor": GREY_INK}
    nearest = rows[last if where == "above" else first][0]  # a click selects the layer next to the window
    graph.node(
        node, _html(label), style="rounded,dashed", tooltip=attribute_text(names[:300]), id=_pick(nearest), **look
    )
    if not known:
        _edge(graph, prev, node, None, **_GREY)
        return node, None
    _edge(graph, prev, node, shape)
    return node, reports[last].output_shape if last < len(reports) else None


# --- a network as it learns -----------------------------------------------------------------------
MOST_LEARNING_LAYERS = 60  # a model with more layers shows the inside of its training as a table (ui/train.py)
COLD, HOT = (248, 250, 252), (234, 88, 12)  # fills from the smallest gradient norm of a snapshot to the largest


LEAST_DECADES = 2  # decades below the largest norm the colours span at least: near-equal norms look alike


def _spread(values: list[float]) -> tuple[float, float]:
    """The log10 range of the positive `values`, at least LEAST_DECADES wide."""
    logs = [math.log10(v) for v in values if v > 0]
    if not logs:
        return 0.0, 1.0
    high = max(logs)
    return min(min(logs), high - LEAST_DECADES), high


def _heat(norm: float | None, spread: tuple[float, float]) -> float:
    """Where a gradient norm sits on the snapshot's log scale, 0 (smallest) to 1 (largest); 0 for none."""
    if not norm or norm <= 0:
        return 0.0
    low, high = spread
    return min(1.0, max(0.0, (math.log10(norm) - low) / (high - low)))


def _histogram_line(title: str, histogram) -> str:
    if histogram is None:
        return ""
    span = f"{histogram.low:.2g} … {histogram.high:.2g}"
    return "<br/>" + _small(html_text(f"{title} {histogram.bars()} {span}"))


def learning_graph(spec, snapshot) -> graphviz.Digraph:
    """`spec` as it was at one epoch of a training run (`snapshot`, studio.inside): each layer's node filled by its
    gradient norm on the snapshot's log scale (pale: smallest, orange: largest) with its activations' and weights'
    histograms, and each edge into a layer carrying that layer's gradient norm (thicker: larger)."""
    graph = _new_graph()
    spread = _spread([layer.gradient_norm or 0 for layer in snapshot.layers])
    names = spec.analysis.names
    for k, histogram in enumerate(snapshot.inputs):
        title = "Input" if len(snapshot.inputs) == 1 else f"Input {k + 1}"
        node = "input" if k == 0 else f"input_{k}"
        graph.node(node, _html(f"<b>{title}</b>" + _histogram_line("x", histogram)), fillcolor=IO_FILL)
    for i, (layer, inside) in enumerate(zip(spec.layers, snapshot.layers)):
        heat = _heat(inside.gradient_norm, spread)
        fill = "#%02x%02x%02x" % tuple(round(c + (h - c) * heat) for c, h in zip(COLD, HOT))
        label = f"<b>{html_text(_short(names[i]))}</b><br/>{html_text(layer.kind)}"
        label += _histogram_line("out", inside.activations) + _histogram_line("w", inside.weights)
        graph.node(f"L{int(layer.id)}", _html(label), fillcolor=fill)
        norm = "" if inside.gradient_norm is None else f"∇ {inside.gradient_norm:.2e}"
        for k in spec.sources[i]:
            tail = ("input" if k == -1 else f"input_{-1 - k}") if k < 0 else f"L{int(spec.layers[k].id)}"
            graph.edge(tail, f"L{int(layer.id)}", label=norm, penwidth=f"{0.8 + 3.2 * heat:.2f}")
    for n, k in enumerate(spec.output_positions):
        node = f"output{n}"
        graph.node(node, _html("<b>Output</b>"), fillcolor=IO_FILL)
        graph.edge(f"L{int(spec.layers[k].id)}", node)
    return graph


# --- rendering with the real `dot` --------------------------------------------------------------
def dot_available() -> bool:
    """Whether Graphviz's `dot` program is on PATH."""
    return shutil.which("dot") is not None


def render(graph: graphviz.Digraph, fmt: str, *options: str) -> bytes:
    """`graph` rendered by `dot -T<fmt>` within RENDER_TIMEOUT_S; GraphvizMissingError when dot is not installed.

    The graphviz package's own `pipe` has no timeout, so its DOT source goes to `dot` here."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissingError(
            "Graphviz's `dot` program is needed to make SVG or PNG files but is not installed. "
            "Install it with `apt-get install graphviz` (Debian/Ubuntu) or `brew install graphviz` (macOS)."
        )
    try:
        done = subprocess.run(
            [exe, f"-T{fmt}", *options],
            input=graph.source.encode("utf-8"),
            capture_output=True,
            timeout=RENDER_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise GraphvizError(f"Graphviz took longer than {RENDER_TIMEOUT_S} s to draw this graph") from None
    if done.returncode != 0 or not done.stdout:
        raise GraphvizError(
            f"Graphviz could not draw this graph: {done.stderr.decode('utf-8', 'replace').strip()[:300]}"
        )
    return done.stdout


def svg(graph: graphviz.Digraph) -> bytes:
    """The graph as an SVG document."""
    return render(graph, "svg")


def png(graph: graphviz.Digraph) -> bytes:
    """The graph as a PNG image."""
    return render(graph, "png", "-Gdpi=144")  # twice the default resolution: crisp on HiDPI screens
