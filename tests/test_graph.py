"""The dataflow graph: DOT text for the seed and broken models, escaping, and real `dot` renders."""

import re
import time

import pytest

from netbuilder import Activation, Dense, Flatten, Input, Sequential, graph
from netbuilder.spec import LayerSpec, ModelSpec, seed_spec

EDGE = re.compile(r"^  (\w+) -> (\w+) \[(.*)\];$", re.M)
NODE = re.compile(r"^  (\w+) \[label=<(.*)>(.*)\];$", re.M)

needs_dot = pytest.mark.skipif(not graph.dot_available(), reason="Graphviz's dot is not installed")


def edges(dot: str) -> list[tuple[str, str, str | None]]:
    """(tail, head, shape label or None) in source order."""
    out = []
    for tail, head, attrs in EDGE.findall(dot):
        label = re.search(r"label=<([^>]*)>", attrs)
        out.append((tail, head, label.group(1) if label else None))
    return out


def nodes(dot: str) -> dict[str, tuple[str, str]]:
    """node id -> (label, other attributes)."""
    return {node_id: (label, attrs) for node_id, label, attrs in NODE.findall(dot)}


def svg_counts(dot: str) -> tuple[int, int]:
    """Nodes and edges that the real `dot` drew."""
    svg = graph.svg(dot).decode()
    return svg.count('class="node"'), svg.count('class="edge"')


def broken_spec() -> ModelSpec:
    """Seed-like model on (4, 2) whose 4th layer was built for 48 inputs but gets 64; one layer after it."""
    return ModelSpec.from_dict({
        "input_shape": [4, 2],
        "layers": [
            {"id": 0, "kind": "Dense"},
            {"id": 1, "kind": "Activation"},
            {"id": 2, "kind": "Flatten"},
            {"id": 5, "kind": "Dense", "units": 4, "input_dim": 48},
            {"id": 7, "kind": "Activation", "activation": "softmax"},
        ],
    })


def chain(n: int) -> ModelSpec:
    """n layers alternating Dense(8) and relu on input (8,)."""
    layers = tuple(LayerSpec(i, "Dense", units=8) if i % 2 == 0 else LayerSpec(i, "Activation", activation="relu") for i in range(n))
    return ModelSpec(input_shape=(8,), layers=layers)


def test_seed_edges_carry_the_shapes_from_input_to_output():
    dot = graph.model_dot(seed_spec())
    assert edges(dot) == [
        ("input", "L0", "(None, 3, 2)"),
        ("L0", "L1", "(None, 3, 16)"),
        ("L1", "L2", "(None, 3, 16)"),
        ("L2", "L3", "(None, 48)"),
        ("L3", "output", "(None, 4)"),
    ]


def test_seed_has_one_node_per_layer_plus_input_and_output():
    found = nodes(graph.model_dot(seed_spec()))
    assert list(found) == ["input", "L0", "L1", "L2", "L3", "output"]
    label = found["L3"][0]
    assert "<b>dense_1</b> · Dense" in label and "4 units" in label and "196 params" in label
    assert "shape=(3, 2)" in found["input"][0] and "(None, 4)" in found["output"][0]
    assert "2×16 + 16 = 48 params" in found["L0"][1]  # the formula as a hover tooltip


def test_node_ids_are_stable_layer_ids_not_names():
    spec = seed_spec().move(3, -3)  # dense_1 goes first and is renamed `dense`; its id stays 3
    assert list(nodes(graph.model_dot(spec)))[1] == "L3"
    assert "<b>dense</b>" in nodes(graph.model_dot(spec))["L3"][0]


def test_broken_model_marks_the_failing_layer_red_and_greys_what_follows():
    dot = graph.model_dot(broken_spec())
    found = nodes(dot)
    label, attrs = found["L5"]
    assert f'fillcolor="{graph.ERROR_FILL}"' in attrs and f'color="{graph.ERROR_INK}"' in attrs
    assert "needs last axis of size 48" in label
    assert "expects an input whose last axis has size 48" in attrs  # the full message as tooltip
    assert "dashed" in found["L7"][1] and "dashed" in found["output"][1]
    assert "(None" not in found["output"][0] and "params" not in found["L7"][0]
    assert edges(dot) == [
        ("input", "L0", "(None, 4, 2)"),
        ("L0", "L1", "(None, 4, 16)"),
        ("L1", "L2", "(None, 4, 16)"),
        ("L2", "L5", "(None, 64)"),  # what the failing layer receives is known
        ("L5", "L7", None),
        ("L7", "output", None),
    ]


def test_failure_at_the_first_layer():
    spec = ModelSpec.from_dict({"input_shape": [3], "layers": [{"id": 4, "kind": "Dense", "units": 2, "input_dim": 5}]})
    dot = graph.model_dot(spec)
    assert f'fillcolor="{graph.ERROR_FILL}"' in nodes(dot)["L4"][1]
    assert edges(dot) == [("input", "L4", "(None, 3)"), ("L4", "output", None)]


def test_empty_model_joins_input_to_output():
    dot = graph.model_dot(ModelSpec(input_shape=(3,)))
    assert edges(dot) == [("input", "output", "(None, 3)")]


def test_over_the_layer_limit_draws_every_layer_without_shapes():
    dot = graph.model_dot(chain(500))
    assert len(nodes(dot)) == 502
    assert [label for _, _, label in edges(dot)][:2] == ["(None, 8)", None]
    assert f'fillcolor="{graph.ERROR_FILL}"' in nodes(dot)["L200"][1]


def test_500_layers_take_well_under_20_ms():
    spec = chain(500)
    spec.analyze()  # cached on the spec, as in the app
    best = min(_timed(graph.model_dot, spec) for _ in range(5))
    assert best < 0.020


def _timed(fn, arg) -> float:
    start = time.perf_counter()
    fn(arg)
    return time.perf_counter() - start


HOSTILE = [
    'a"];x->y[label="',
    "<b>&amp;</b>",
    "\\N\\G\\L\\",
    "}digraph{ z",
    "tab\there\nnew line\r\x00\x7f\u2028end",
    "' & \" < >",
    "ü·→ unicode",
    "lone \ud800 surrogate \ufffe non-character",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_html_text_leaves_no_markup_backslash_or_line_break(text):
    safe = graph.html_text(text)
    assert not set(safe) & set('<>"\'\\\n\r\t\x00\x7f\u2028\ud800\ufffe')
    safe.encode("utf-8")  # no lone surrogate left
    assert "&" not in safe.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").replace("&quot;", "").replace("&#x27;", "")


@pytest.mark.parametrize("text", HOSTILE)
def test_quoted_text_has_only_escaped_quotes(text):
    safe = graph.quoted_text(text)
    assert "\\" not in safe.replace('\\"', "") and "\n" not in safe
    assert '"' not in safe.replace('\\"', "")


@needs_dot
def test_hostile_labels_and_tooltips_cannot_change_the_graph():
    dot = "digraph g {\n" + "".join(
        graph._node(f"n{i}", graph.html_text(text), tooltip=graph.quoted_text(text)) for i, text in enumerate(HOSTILE)
    ) + "  n0 -> n1;\n}\n"
    assert svg_counts(dot) == (len(HOSTILE), 1)


@needs_dot
def test_hostile_layer_names_in_a_sequential_cannot_change_the_graph():
    names = ['a"];x->y[label="', "<b>&amp;<∕b>", "\\N\\G\\", "}digraph{ z", "' & \" < > ü"]  # names may not hold '/'
    layers = [Dense(4, name=names[0]), Activation("relu", name=names[1]), Dense(3, name=names[2]), Flatten(name=names[3]), Dense(2, name=names[4])]
    model = Sequential([Input((3,)), *layers])
    dot = graph.sequential_dot(model)
    assert svg_counts(dot) == (len(layers) + 2, len(layers) + 1)
    svg = graph.svg(dot).decode()
    for shown in ["a&quot;];x&#45;&gt;y[label=&quot;", "&lt;b&gt;&amp;amp;&lt;∕b&gt;", "∖N∖G∖", "}digraph{ z"]:
        assert shown in svg  # drawn as text, literally (backslashes as a look-alike)


@needs_dot
def test_svg_and_png_are_real_images():
    dot = graph.model_dot(seed_spec())
    svg = graph.svg(dot)
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg and b"(None, 48)" in svg
    assert graph.png(dot).startswith(b"\x89PNG\r\n\x1a\n")


@needs_dot
@pytest.mark.parametrize("n", [1, 50])
def test_small_and_long_models_render(n):
    assert svg_counts(graph.model_dot(chain(n))) == (n + 2, n + 1)


@needs_dot
def test_broken_model_renders():
    assert svg_counts(graph.model_dot(broken_spec())) == (7, 6)


@needs_dot
def test_invalid_dot_is_a_graphviz_error():
    with pytest.raises(graph.GraphvizError, match="could not draw"):
        graph.svg("digraph { a -> ")


def test_missing_dot_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no dot to find
    assert not graph.dot_available()
    with pytest.raises(graph.GraphvizMissingError, match="apt-get install graphviz.*brew install graphviz"):
        graph.svg(graph.model_dot(seed_spec()))
