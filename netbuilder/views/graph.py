"""The model's dataflow as a `graphviz.Digraph` (for st.graphviz_chart), and SVG/PNG through Graphviz's `dot`.

The graphviz package writes the DOT and quotes every attribute. Labels are HTML-like, which the
package passes through as they are, so every piece of user-influenced text (layer names, settings,
messages) is escaped here by `html_text` first: no name can add nodes, edges or attributes. Node
ids are the layers' stable ids (`L7`), never their names.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import graphviz

from ..engine.errors import NetbuilderError
from ..engine.shapes import format_shape

RENDER_TIMEOUT_S = 30
MAX_LABEL_NAME = 40  # characters of a layer name shown in a node; longer names are cut with "…"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_NOT_XML = re.compile(r"[\ud800-\udfff\ufffe\uffff]")  # lone surrogates cannot be UTF-8; Graphviz's XML parser rejects these
# Graphviz expands \N, \G, \L ... even inside HTML-like labels (entities are decoded first), so no
# backslash may reach it; U+2216 SET MINUS looks like one and means nothing to Graphviz.
_BACKSLASH_LOOKALIKE = "\u2216"

FONT = "Helvetica"
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
    return f'<font point-size="15" color="{color}">{text}</font>'


def _html(label: str) -> str:
    """An HTML-like label as the graphviz package recognises one (it passes `<...>` through unquoted)."""
    return f"<{label}>"


# --- the graph ----------------------------------------------------------------------------------
def _new_graph() -> graphviz.Digraph:
    # A white background, not transparent: labels stay readable under a dark app theme too.
    return graphviz.Digraph(
        "netbuilder",
        graph_attr={"rankdir": "TB", "ranksep": "0.35", "nodesep": "0.3", "bgcolor": "white", "fontname": FONT},
        node_attr={"shape": "box", "style": "rounded,filled", "fillcolor": LAYER_FILL, "color": LINE, "fontname": FONT,
                   "fontsize": "18", "fontcolor": INK, "margin": "0.18,0.08", "height": "0.4", "width": "2.6"},
        edge_attr={"fontname": FONT, "fontsize": "18", "fontcolor": SHAPE_INK, "color": LINE, "arrowsize": "0.7"},
    )


def _edge(graph, tail: str, head: str, shape=None, **attrs) -> None:
    """An edge, labelled in bold with the tensor shape it carries when that is known."""
    label = _html(f"<b>{html_text(format_shape(shape))}</b>") if shape is not None else None
    graph.edge(tail, head, label=label, **attrs)


def _issue_note(issue) -> str:
    """A few words under the failing layer: what it needs."""
    return "✗ exceeds a netbuilder limit" if issue.category == "limit" else f"✗ needs {issue.expected}"


def dataflow(spec, selected: int | None = None) -> graphviz.Digraph:
    """`spec` top to bottom: Input, one node per layer (the `selected` layer id highlighted), Output; edges carry shapes."""
    analysis = spec.analysis
    rows = [(layer.id, name, layer.kind, layer.label()) for layer, name in zip(spec.layers, analysis.names)]
    return _graph(analysis, rows, selected)


def sequential_graph(model) -> graphviz.Digraph:
    """A built engine Sequential, its layers named as they were given (`name=`)."""
    return _graph(model.analysis, [(i, layer.name, layer.kind, layer.label()) for i, layer in enumerate(model.layers)], None)


def _graph(analysis, rows, selected) -> graphviz.Digraph:
    """The digraph for `rows` of (layer id, name, kind, label) analysed as `analysis`."""
    issue = analysis.issue
    fail_at = len(rows) if issue is None else issue.layer_index
    reports = analysis.layers
    graph = _new_graph()
    graph.node("input", _html(f"<b>Input</b><br/>{_small('shape=' + html_text(format_shape(analysis.input_shape[1:])))}"),
               fillcolor=IO_FILL)
    prev, shape = "input", analysis.input_shape
    for i, (layer_id, name, kind, settings) in enumerate(rows):
        node = f"L{int(layer_id)}"
        head = f"<b>{html_text(_short(name))}</b><br/>{html_text(kind)}" + (f" · {html_text(settings)}" if settings else "")
        report = reports[i] if i < len(reports) else None
        mark = {"fillcolor": SELECTED_FILL, "color": SELECTED_LINE, "penwidth": "2.5"} if layer_id == selected else {}
        if i < fail_at:
            params = "<br/>" + _small(f"{report.params:,} params") if report and report.params else ""
            tooltip = f"{report.formula} params" if report and report.formula else f"{name} ({kind})"
            graph.node(node, _html(head + params), tooltip=attribute_text(tooltip), **mark)
            _edge(graph, prev, node, shape)
        elif i == fail_at:
            note = _small(html_text(_issue_note(issue)), ERROR_INK)
            graph.node(node, _html(f"{head}<br/>{note}"), fillcolor=ERROR_FILL, color=ERROR_INK, penwidth="2.5",
                       tooltip=attribute_text(issue.message))
            _edge(graph, prev, node, shape, color=ERROR_INK)
        else:  # after the failure nothing is known: greyed, dashed, no shapes
            graph.node(node, _html(head), **{"style": "rounded,dashed", "color": GREY_LINE, "fontcolor": GREY_INK, **mark})
            _edge(graph, prev, node, None, style="dashed", color=GREY_LINE)
        prev = node
        shape = report.output_shape if report else None
    if issue is None:
        graph.node("output", _html(f"<b>Output</b><br/>{_small(html_text(format_shape(shape)))}"), fillcolor=IO_FILL)
        _edge(graph, prev, "output", shape)
    else:
        graph.node("output", _html("<b>Output</b>"), style="rounded,dashed", color=GREY_LINE, fontcolor=GREY_INK)
        _edge(graph, prev, "output", None, style="dashed", color=GREY_LINE)
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
        done = subprocess.run([exe, f"-T{fmt}", *options], input=graph.source.encode("utf-8"), capture_output=True,
                              timeout=RENDER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise GraphvizError(f"Graphviz took longer than {RENDER_TIMEOUT_S} s to draw this graph") from None
    if done.returncode != 0 or not done.stdout:
        raise GraphvizError(f"Graphviz could not draw this graph: {done.stderr.decode('utf-8', 'replace').strip()[:300]}")
    return done.stdout


def svg(graph: graphviz.Digraph) -> bytes:
    """The graph as an SVG document."""
    return render(graph, "svg")


def png(graph: graphviz.Digraph) -> bytes:
    """The graph as a PNG image."""
    return render(graph, "png", "-Gdpi=144")  # twice the default resolution: crisp on HiDPI screens
