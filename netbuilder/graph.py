"""The model's dataflow as Graphviz DOT text (for st.graphviz_chart), and SVG/PNG through the `dot` program.

Every piece of user-influenced text (layer names, settings, messages) goes through `html_text` or
`quoted_text` before it reaches the DOT source, so no name can add nodes, edges or attributes.
Node ids are the layers' stable ids (`L7`), never their names.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess

from .analysis import format_shape
from .errors import NetbuilderError

RENDER_TIMEOUT_S = 30
MAX_LABEL_NAME = 40  # characters of a layer name shown in a node; longer names are cut with "…"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_NOT_XML = re.compile(r"[\ud800-\udfff\ufffe\uffff]")  # lone surrogates cannot be UTF-8; Graphviz's XML parser rejects these
# Graphviz expands \N, \G, \L ... even inside HTML-like labels (entities are decoded first), so no
# backslash may reach it; U+2216 SET MINUS looks like one and means nothing to Graphviz.
_BACKSLASH_LOOKALIKE = "\u2216"

FONT = "Helvetica"
INK, MUTED, LINE = "#1f2937", "#6b7280", "#64748b"
LAYER_FILL, IO_FILL = "#f8fafc", "#e0f2fe"
ERROR_FILL, ERROR_INK = "#fee2e2", "#b91c1c"
GREY_INK, GREY_LINE = "#9ca3af", "#cbd5e1"

# A white background, not transparent: edge labels stay readable under a dark app theme too.
_HEADER = f"""digraph netbuilder {{
  graph [rankdir=TB, ranksep=0.22, nodesep=0.3, bgcolor="white", fontname="{FONT}"];
  node [shape=box, style="rounded,filled", fillcolor="{LAYER_FILL}", color="{LINE}", fontname="{FONT}", fontsize=10, fontcolor="{INK}", margin="0.12,0.04", height=0.3];
  edge [fontname="{FONT}", fontsize=9, fontcolor="{MUTED}", color="{LINE}", arrowsize=0.6];
"""


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


def quoted_text(text) -> str:
    """Text safe inside a DOT double-quoted string (an attribute such as tooltip)."""
    return _plain(text).replace('"', '\\"')


def _short(name: str) -> str:
    return name if len(name) <= MAX_LABEL_NAME else name[: MAX_LABEL_NAME - 1] + "…"


# --- DOT --------------------------------------------------------------------------------------
def _node(node_id: str, label: str, **attrs: str) -> str:
    """One node line; `label` is already HTML-escaped, attribute values already quoted-escaped."""
    extra = "".join(f', {key}="{value}"' for key, value in attrs.items())
    return f"  {node_id} [label=<{label}>{extra}];\n"


def _edge(tail: str, head: str, shape=None, **attrs: str) -> str:
    """One edge line, labelled with `shape` when it is known."""
    items = [f"label=<{html_text(format_shape(shape))}>"] if shape is not None else []
    items += [f'{key}="{value}"' for key, value in attrs.items()]
    return f"  {tail} -> {head} [{', '.join(items)}];\n"


def _small(text: str, color: str = MUTED) -> str:
    return f'<font point-size="9" color="{color}">{text}</font>'


def _issue_note(issue) -> str:
    """A few words under the failing layer: what it needs."""
    if issue.kind == "limit":
        return "✗ exceeds a netbuilder limit"
    return f"✗ needs {issue.expected}"


def model_dot(spec) -> str:
    """DOT source of `spec` top to bottom: Input, one node per layer, Output; edges carry tensor shapes."""
    analysis = spec.analyze()
    names = analysis.names
    rows = [(f"L{int(layer.id)}", names[i], layer.kind, layer.describe()) for i, layer in enumerate(spec.layers)]
    return _dot(analysis, rows)


def sequential_dot(model) -> str:
    """DOT source of a built engine Sequential, its layers named as they were given (`name=`)."""
    rows = [(f"L{i}", layer.name, type(layer).__name__, _describe(layer)) for i, layer in enumerate(model.layers)]
    return _dot(model.analysis, rows)


def _describe(layer) -> str:
    """An engine layer's key settings, worded as LayerSpec.describe() words them."""
    from .spec import LayerSpec  # spec imports the engine; importing it lazily keeps graph importable alone

    kind = type(layer).__name__
    fields = {"activation": getattr(layer, "activation", "linear")}
    if kind == "Dense":
        fields.update(units=layer.units, use_bias=layer.use_bias)
    if kind == "Flatten":
        fields.update(data_format=layer.data_format)
    return LayerSpec(0, kind, **fields).describe()


def _dot(analysis, rows) -> str:
    """The digraph for `rows` of (node id, name, kind, settings) analysed as `analysis`."""
    issue = analysis.issue
    fail_at = len(rows) if issue is None else issue.layer_index
    reports = analysis.layers
    parts = [_HEADER]
    input_label = f"<b>Input</b><br/>{_small('shape=' + html_text(format_shape(analysis.input_shape[1:])))}"
    parts.append(_node("input", input_label, fillcolor=IO_FILL))
    prev, shape = "input", analysis.input_shape
    for i, (node_id, name, kind, settings) in enumerate(rows):
        head = f"<b>{html_text(_short(name))}</b> · {html_text(kind)}<br/>{_small(html_text(settings))}"
        report = reports[i] if i < len(reports) else None
        if i < fail_at:
            params = "<br/>" + _small(f"{report.params:,} params") if report else ""
            tooltip = f"{report.formula} params" if report and report.formula else f"{name} ({kind})"
            parts.append(_node(node_id, head + params, tooltip=quoted_text(tooltip)))
            parts.append(_edge(prev, node_id, shape))
        elif i == fail_at:
            note = _small(html_text(_issue_note(issue)), ERROR_INK)
            attrs = {"fillcolor": ERROR_FILL, "color": ERROR_INK, "penwidth": "2", "tooltip": quoted_text(issue.message)}
            parts.append(_node(node_id, f"{head}<br/>{note}", **attrs))
            parts.append(_edge(prev, node_id, shape, color=ERROR_INK))
        else:  # after the failure nothing is known: greyed, dashed, no shapes
            parts.append(_node(node_id, head, style="rounded,dashed", color=GREY_LINE, fontcolor=GREY_INK))
            parts.append(_edge(prev, node_id, None, style="dashed", color=GREY_LINE))
        prev = node_id
        shape = report.output_shape if report else None
    if issue is None:
        parts.append(_node("output", f"<b>Output</b><br/>{_small(html_text(format_shape(shape)))}", fillcolor=IO_FILL))
        parts.append(_edge(prev, "output", shape))
    else:
        parts.append(_node("output", "<b>Output</b>", style="rounded,dashed", color=GREY_LINE, fontcolor=GREY_INK))
        parts.append(_edge(prev, "output", None, style="dashed", color=GREY_LINE))
    parts.append("}\n")
    return "".join(parts)


# --- rendering with the real `dot` --------------------------------------------------------------
def dot_available() -> bool:
    """Whether Graphviz's `dot` program is on PATH."""
    return shutil.which("dot") is not None


def render(dot_source: str, fmt: str, *options: str) -> bytes:
    """`dot_source` rendered by `dot -T<fmt>`; GraphvizMissingError when dot is not installed."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissingError(
            "Graphviz's `dot` program is needed to make SVG or PNG files but is not installed. "
            "Install it with `apt-get install graphviz` (Debian/Ubuntu) or `brew install graphviz` (macOS)."
        )
    try:
        done = subprocess.run([exe, f"-T{fmt}", *options], input=dot_source.encode("utf-8"), capture_output=True, timeout=RENDER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise GraphvizError(f"Graphviz took longer than {RENDER_TIMEOUT_S} s to draw this graph") from None
    if done.returncode != 0 or not done.stdout:
        raise GraphvizError(f"Graphviz could not draw this graph: {done.stderr.decode('utf-8', 'replace').strip()[:300]}")
    return done.stdout


def svg(dot_source: str) -> bytes:
    """The graph as an SVG document."""
    return render(dot_source, "svg")


def png(dot_source: str) -> bytes:
    """The graph as a PNG image."""
    return render(dot_source, "png", "-Gdpi=144")  # twice the default resolution: crisp on HiDPI screens
