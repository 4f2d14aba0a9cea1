"""The dataflow graph (views.graph): a graphviz.Digraph for the seed and broken models, escaping of every name,
and real `dot` renders. What the graph means is read back through Graphviz itself (`dot -Tjson0`)."""

import json
from dataclasses import replace
import re

import graphviz
import pytest

from netbuilder import Activation, Dense, Flatten, Input, Sequential
from netbuilder.studio.spec import LayerSpec, ModelSpec, seed_spec
from netbuilder.views import graph

needs_dot = pytest.mark.skipif(not graph.dot_available(), reason="Graphviz's dot is not installed")


def drawn(g: graphviz.Digraph) -> tuple[dict, list]:
    """What the real `dot` reads from the graph: {node name: attributes} and [(tail, head, attributes)] in order."""
    doc = json.loads(graph.render(g, "json0"))
    objects = doc.get("objects", [])
    nodes = {o["name"]: o for o in objects}
    edges = [(objects[e["tail"]]["name"], objects[e["head"]]["name"], e) for e in doc.get("edges", [])]
    return nodes, edges


def edge_shapes(g: graphviz.Digraph) -> list[tuple[str, str, str | None]]:
    """(tail, head, the shape on the edge or None), the shape read from its bold HTML label."""
    out = []
    for tail, head, attrs in drawn(g)[1]:
        label = attrs.get("label") or None  # dot reports an edge without a label as ""
        if label is not None:
            assert label.startswith("<b>") and label.endswith("</b>"), label  # shapes are bold: the clearest text
            label = label[3:-4]
        out.append((tail, head, label))
    return out


def svg_counts(g: graphviz.Digraph) -> tuple[int, int]:
    """Nodes and edges that the real `dot` drew."""
    svg = graph.svg(g).decode()
    return svg.count('class="node"'), svg.count('class="edge"')


def broken_spec() -> ModelSpec:
    """Seed-like model on (4, 2) whose 4th layer was built for 48 inputs but gets 64; one layer after it."""
    return ModelSpec.from_dict(
        {
            "input_shape": [4, 2],
            "layers": [
                {"id": 0, "kind": "Dense"},
                {"id": 1, "kind": "Activation"},
                {"id": 2, "kind": "Flatten"},
                {"id": 5, "kind": "Dense", "units": 4, "built_for": [48]},
                {"id": 7, "kind": "Activation", "activation": "softmax"},
            ],
        }
    )


def chain(n: int) -> ModelSpec:
    """n layers alternating Dense(8) and relu on input (8,)."""
    layers = tuple(
        LayerSpec.make(i, "Dense", units=8) if i % 2 == 0 else LayerSpec.make(i, "Activation", activation="relu")
        for i in range(n)
    )
    return ModelSpec(input_shape=(8,), layers=layers)


def test_the_graph_is_a_graphviz_digraph_whose_source_is_dot():
    g = graph.dataflow(seed_spec())
    assert isinstance(g, graphviz.Digraph)
    assert g.source.startswith("digraph netbuilder {") and "L0 -> L1" in g.source


@needs_dot
def test_seed_edges_carry_the_shapes_from_input_to_output():
    assert edge_shapes(graph.dataflow(seed_spec())) == [
        ("input", "L0", "(None, 3, 2)"),
        ("L0", "L1", "(None, 3, 16)"),
        ("L1", "L2", "(None, 3, 16)"),
        ("L2", "L3", "(None, 48)"),
        ("L3", "output", "(None, 4)"),
    ]


@needs_dot
def test_seed_has_one_node_per_layer_plus_input_and_output():
    nodes, _ = drawn(graph.dataflow(seed_spec()))
    assert list(nodes) == ["input", "L0", "L1", "L2", "L3", "output"]
    assert (
        nodes["L3"]["label"]
        == '<b>dense_1</b><br/>Dense · 4 units<br/><font point-size="10" color="#4b5563">196 params</font>'
    )
    assert nodes["L1"]["label"] == "<b>activation</b><br/>Activation · relu"  # no params line without weights
    assert nodes["L2"]["label"] == "<b>flatten</b><br/>Flatten · channels_last"
    assert "shape=(3, 2)" in nodes["input"]["label"] and "(None, 4)" in nodes["output"]["label"]
    assert nodes["L0"]["tooltip"] == "2×16 + 16 = 48 params"  # the formula as a hover tooltip


@needs_dot
def test_the_selected_layer_is_highlighted():
    nodes, _ = drawn(graph.dataflow(seed_spec(), selected=1))
    assert (nodes["L1"]["fillcolor"], nodes["L1"]["color"]) == (graph.SELECTED_FILL, graph.SELECTED_LINE)
    assert all(nodes[n].get("fillcolor") != graph.SELECTED_FILL for n in ("L0", "L2", "L3"))
    nodes, _ = drawn(graph.dataflow(seed_spec()))
    assert all(node.get("fillcolor") != graph.SELECTED_FILL for node in nodes.values())


@needs_dot
def test_node_ids_are_stable_layer_ids_not_names():
    spec = seed_spec().move(3, -3)  # dense_1 goes first and is named `dense`; its id stays 3
    nodes, _ = drawn(graph.dataflow(spec))
    assert list(nodes)[1] == "L3" and nodes["L3"]["label"].startswith("<b>dense</b>")


@needs_dot
def test_broken_model_marks_the_failing_layer_red_and_greys_what_follows():
    g = graph.dataflow(broken_spec())
    nodes, _ = drawn(g)
    failing = nodes["L5"]
    assert (failing["fillcolor"], failing["color"]) == (graph.ERROR_FILL, graph.ERROR_INK)
    assert "✗ needs last axis of size 48" in failing["label"] and "built for 48 inputs" in failing["label"]
    assert "expects an input whose last axis has size 48" in failing["tooltip"]  # the full message as tooltip
    assert "dashed" in nodes["L7"]["style"] and "dashed" in nodes["output"]["style"]
    assert "(None" not in nodes["output"]["label"] and "params" not in nodes["L7"]["label"]
    assert edge_shapes(g) == [
        ("input", "L0", "(None, 4, 2)"),
        ("L0", "L1", "(None, 4, 16)"),
        ("L1", "L2", "(None, 4, 16)"),
        ("L2", "L5", "(None, 64)"),  # what the failing layer receives is known
        ("L5", "L7", None),
        ("L7", "output", None),
    ]


@needs_dot
def test_failure_at_the_first_layer():
    spec = ModelSpec.from_dict(
        {"input_shape": [3], "layers": [{"id": 4, "kind": "Dense", "units": 2, "built_for": [5]}]}
    )
    g = graph.dataflow(spec)
    assert drawn(g)[0]["L4"]["fillcolor"] == graph.ERROR_FILL
    assert edge_shapes(g) == [("input", "L4", "(None, 3)"), ("L4", "output", None)]


@needs_dot
def test_a_layer_over_a_limit_is_marked_as_a_limit():
    spec = ModelSpec((32_769, 1), (LayerSpec.make(0, "Dense", units=1), LayerSpec.make(1, "Dense", units=2**16)))
    nodes, _ = drawn(graph.dataflow(spec))
    assert "✗ exceeds a netbuilder limit" in nodes["L1"]["label"] and "at most 2,147,483,648" in nodes["L1"]["tooltip"]


@needs_dot
def test_empty_model_joins_input_to_output():
    assert edge_shapes(graph.dataflow(ModelSpec(input_shape=(3,)))) == [("input", "output", "(None, 3)")]


@needs_dot
def test_over_the_layer_limit_draws_every_layer_without_shapes():
    g = graph.dataflow(chain(1300))
    nodes, _ = drawn(g)
    assert len(nodes) == 1302
    # the first layer beyond the limit is the failing one
    assert nodes["L1200"]["fillcolor"] == graph.ERROR_FILL and nodes["L1199"].get("fillcolor") != graph.ERROR_FILL
    assert [label for _, _, label in edge_shapes(g)][:2] == ["(None, 8)", None]
    assert sum(node.get("fillcolor") == graph.ERROR_FILL for node in nodes.values()) == 1
    assert "at most 1200 layers; this one has 1300" in next(
        n["tooltip"] for n in nodes.values() if n.get("fillcolor") == graph.ERROR_FILL
    )


@needs_dot
def test_sequential_graph_of_an_engine_model():
    model = Sequential([Input((3, 2)), Dense(16), Activation("relu"), Flatten(), Dense(4, name="head")])
    g = graph.sequential_graph(model)
    nodes, _ = drawn(g)
    assert list(nodes) == ["input", "L0", "L1", "L2", "L3", "output"]
    assert nodes["L3"]["label"].startswith("<b>head</b><br/>Dense · 4 units")
    assert edge_shapes(g)[-1] == ("L3", "output", "(None, 4)")


def test_long_names_are_cut_in_the_node():
    name = "n" * 64
    nodes_source = graph.sequential_graph(Sequential([Input((2,)), Dense(2, name=name)])).source
    assert "n" * (graph.MAX_LABEL_NAME - 1) + "…" in nodes_source and name not in nodes_source


HOSTILE = [
    'a"];x->y[label="',
    "<b>&amp;</b>",
    "\\N\\G\\L\\",
    "}digraph{ z",
    "tab\there\nnew line\r\x00\x7f\u2028end",
    "' & \" < >",
    "ü·→ unicode",
    "lone \ud800 surrogate \ufffe non-character",
    "<not a label>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_html_text_leaves_no_markup_backslash_or_line_break(text):
    safe = graph.html_text(text)
    assert not set(safe) & set("<>\"'\\\n\r\t\x00\x7f\u2028\ud800\ufffe")
    safe.encode("utf-8")  # no lone surrogate left
    assert "&" not in safe.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").replace("&quot;", "").replace(
        "&#x27;", ""
    )


@pytest.mark.parametrize("text", HOSTILE)
def test_attribute_text_is_one_line_without_backslashes_and_never_an_html_label(text):
    safe = graph.attribute_text(text)
    assert "\\" not in safe and not set(safe) & set("\n\r\x00\u2028\ud800")
    assert not safe.startswith("<")  # the graphviz package would pass `<...>` through as an HTML label
    safe.encode("utf-8")


@needs_dot
def test_hostile_labels_and_tooltips_cannot_change_the_graph():
    g = graphviz.Digraph("g")
    for i, text in enumerate(HOSTILE):
        g.node(f"n{i}", f"<{graph.html_text(text)}>", tooltip=graph.attribute_text(text))
    g.edge("n0", "n1")
    assert svg_counts(g) == (len(HOSTILE), 1)
    nodes, edges = drawn(g)
    assert list(nodes) == [f"n{i}" for i in range(len(HOSTILE))] and [(t, h) for t, h, _ in edges] == [("n0", "n1")]
    assert all(set(node) & {"label", "tooltip"} == {"label", "tooltip"} for node in nodes.values())
    assert nodes["n0"]["tooltip"] == 'a"];x->y[label="'  # a plain attribute keeps its text, quoted by the package


@needs_dot
def test_hostile_layer_names_in_a_sequential_cannot_change_the_graph():
    names = ['a"];x->y[label="', "<b>&amp;<∕b>", "\\N\\G\\", "}digraph{ z", "' & \" < > ü"]  # names may not hold '/'
    layers = [
        Dense(4, name=names[0]),
        Activation("relu", name=names[1]),
        Dense(3, name=names[2]),
        Flatten(name=names[3]),
        Dense(2, name=names[4]),
    ]
    g = graph.sequential_graph(Sequential([Input((3,)), *layers]))
    assert svg_counts(g) == (len(layers) + 2, len(layers) + 1)
    nodes, edges = drawn(g)
    assert list(nodes) == ["input", "L0", "L1", "L2", "L3", "L4", "output"]
    assert [(t, h) for t, h, _ in edges] == [
        ("input", "L0"),
        ("L0", "L1"),
        ("L1", "L2"),
        ("L2", "L3"),
        ("L3", "L4"),
        ("L4", "output"),
    ]
    svg = graph.svg(g).decode()
    for shown in ["a&quot;];x&#45;&gt;y[label=&quot;", "&lt;b&gt;&amp;amp;&lt;∕b&gt;", "∖N∖G∖", "}digraph{ z"]:
        assert shown in svg  # drawn as text, literally (backslashes as a look-alike)


@needs_dot
def test_hostile_names_in_a_spec_cannot_change_the_graph():
    spec = ModelSpec((3,), (LayerSpec.make(0, "Dense", units=4), LayerSpec.make(1, "Activation", activation="relu")))
    spec = ModelSpec(spec.input_shape, spec.layers + (LayerSpec.make(2, "Dense", units=5, built_for=(7,)),))
    nodes, edges = drawn(graph.dataflow(spec, selected=2))  # a failing layer: the message goes into a tooltip
    assert list(nodes) == ["input", "L0", "L1", "L2", "output"] and len(edges) == 4


@needs_dot
def test_svg_and_png_are_real_images():
    g = graph.dataflow(seed_spec())
    svg = graph.svg(g)
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg and b"(None, 48)" in svg
    assert graph.png(g).startswith(b"\x89PNG\r\n\x1a\n")


@needs_dot
@pytest.mark.parametrize("n", [1, 50])
def test_small_and_long_models_render(n):
    assert svg_counts(graph.dataflow(chain(n))) == (n + 2, n + 1)


@needs_dot
def test_broken_model_renders():
    assert svg_counts(graph.dataflow(broken_spec())) == (7, 6)


@needs_dot
def test_invalid_dot_is_a_graphviz_error():
    bad = graphviz.Digraph("g", body=["\ta -> \n"])
    with pytest.raises(graph.GraphvizError, match="could not draw"):
        graph.svg(bad)


def test_dot_gets_a_timeout(monkeypatch):
    import subprocess

    seen = {}

    def run(*args, **kwargs):
        seen.update(kwargs)
        raise subprocess.TimeoutExpired(args[0], kwargs["timeout"])

    monkeypatch.setattr(graph.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(graph.subprocess, "run", run)
    with pytest.raises(graph.GraphvizError, match=f"longer than {graph.RENDER_TIMEOUT_S} s"):
        graph.svg(graph.dataflow(seed_spec()))
    assert seen["timeout"] == graph.RENDER_TIMEOUT_S


def test_missing_dot_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no dot to find
    assert not graph.dot_available()
    with pytest.raises(graph.GraphvizMissingError, match="apt-get install graphviz.*brew install graphviz"):
        graph.svg(graph.dataflow(seed_spec()))


# --- a long model: a window around the selected layer -----------------------------------------------
@needs_dot
def test_a_long_model_is_drawn_as_a_window_around_the_selected_layer_with_every_shape_kept():
    spec = chain(30)
    nodes, edges = drawn(graph.dataflow(spec, selected=15, window=True))
    assert list(nodes) == ["input", "more0", "L13", "L14", "L15", "L16", "L17", "more18", "output"]
    assert nodes["L15"]["fillcolor"] == graph.SELECTED_FILL
    assert "13 layers above" in nodes["more0"]["label"] and "12 layers below" in nodes["more18"]["label"]
    assert "1 to 13 in the list" in nodes["more0"]["label"] and nodes["more0"]["style"] == "rounded,dashed"
    shapes = ["(None, 8)"] * 8  # into the fold, out of it, between the layers drawn, into the output
    assert [label for _, _, label in edge_shapes(graph.dataflow(spec, selected=15, window=True))] == shapes
    assert len(drawn(graph.dataflow(spec, selected=15))[0]) == 32  # no window asked (Export): every layer


@needs_dot
def test_the_window_shows_the_failing_layer_and_greys_what_comes_after_it():
    layers = tuple(
        LayerSpec.make(i, "Dense", units=4 if i == 20 else 8, built_for=(5,) if i == 20 else None) for i in range(30)
    )
    spec = ModelSpec((8,), layers)
    nodes, edges = drawn(graph.dataflow(spec, selected=3, window=True))
    assert list(nodes) == ["input", "L0", "L1", "L2", "L3", "L4", "L5", "more6", "L20", "more21", "output"]
    assert nodes["L20"]["fillcolor"] == graph.ERROR_FILL
    assert nodes["more21"]["color"] == graph.GREY_LINE and "9 layers below" in nodes["more21"]["label"]
    labels = {(tail, head): label for tail, head, label in edge_shapes(graph.dataflow(spec, selected=3, window=True))}
    assert (
        labels[("more6", "L20")] == "(None, 8)" and labels[("L20", "more21")] is None
    )  # nothing known past the failure


def test_a_window_never_folds_a_single_layer_and_short_models_are_whole():
    nodes = lambda g: re.findall(r"^\t(\w+) \[label", g.source, re.M)  # noqa: E731
    assert nodes(graph.dataflow(chain(30), selected=2, window=True))[:6] == ["input", "L0", "L1", "L2", "L3", "L4"]
    assert nodes(graph.dataflow(chain(30), selected=27, window=True))[-5:] == ["L26", "L27", "L28", "L29", "output"]
    assert len(nodes(graph.dataflow(chain(graph.WINDOW_FROM), selected=0, window=True))) == graph.WINDOW_FROM + 2
    assert nodes(graph.dataflow(chain(30), selected="input", window=True))[:5] == ["input", "L0", "L1", "L2", "more3"]
    assert "input [label=<<b>Input</b>" in graph.dataflow(chain(3), selected="input").source
    assert (
        graph.SELECTED_FILL in graph.dataflow(chain(3), selected="input").source.split("\n\tinput [")[1].split("\n")[0]
    )


def test_every_text_size_of_the_graph_has_a_browser_rule_and_shapes_are_the_largest():
    """st.graphviz_chart's CSS would draw every text at 9.6 px: BROWSER_CSS puts back each size the DOT uses."""
    source = graph.dataflow(broken_spec(), selected=1).source + graph.dataflow(chain(30), window=True).source
    sizes = {float(s) for s in re.findall(r'(?:point-size="|fontsize=)([0-9.]+)', source)}
    assert sizes == {graph.EDGE_PT, graph.NODE_PT, graph.SMALL_PT} and graph.EDGE_PT == max(sizes)
    for pt in sizes:
        assert f'text[font-size="{pt:.2f}"] {{font-size: {pt:g}px;}}' in graph.BROWSER_CSS
    assert graph.FONT == "Courier" and '"Source Code Pro", monospace' in graph.BROWSER_CSS  # both 0.6 em a character


# --- graphs (layers that name their inputs) ---------------------------------------------------------------------------
def residual_spec() -> ModelSpec:
    conv = LayerSpec.make(0, "Conv2D", filters=4, kernel_size=3, padding="same")
    return ModelSpec((8, 8, 3), (conv,)).validate().residual(0, width=8, downsample=True)


@needs_dot
def test_a_graph_draws_an_edge_from_each_tensor_a_layer_takes_with_its_shape_and_an_output_per_open_end():
    spec = residual_spec().branch(0, "Flatten")
    nodes, _ = drawn(graph.dataflow(spec))
    labels = {(tail, head): label for tail, head, label in edge_shapes(graph.dataflow(spec))}
    assert labels[("L2", "L4")] == labels[("L3", "L4")] == "(None, 4, 4, 8)"  # the two shapes meeting at the Add
    assert labels[("L0", "L3")] == labels[("L0", "L1")] == labels[("L0", "L6")] == "(None, 8, 8, 4)"
    assert labels[("L5", "output0")] == "(None, 4, 4, 8)" and labels[("L6", "output1")] == "(None, 256)"
    assert "Output 1" in nodes["output0"]["label"] and "Output 2" in nodes["output1"]["label"]


@needs_dot
def test_a_merge_that_does_not_fit_is_red_with_both_of_its_shapes_and_what_follows_is_grey():
    spec = residual_spec()
    bad = ModelSpec((8, 8, 3), spec.layers[:1]).validate().merge([0, -1], "Add").add("Dense", units=3)
    nodes, _ = drawn(graph.dataflow(bad))
    assert nodes["L1"]["fillcolor"] == graph.ERROR_FILL and "needs shapes that are equal" in nodes["L1"]["label"]
    labels = {(tail, head): label for tail, head, label in edge_shapes(graph.dataflow(bad))}
    assert labels[("L0", "L1")] == "(None, 8, 8, 4)" and labels[("input", "L1")] == "(None, 8, 8, 3)"
    assert labels[("L1", "L2")] is None and nodes["output"]["style"] == "rounded,dashed"


@needs_dot
def test_a_long_graph_draws_the_neighbourhood_of_the_selected_layer_joined_to_the_rest_by_its_shapes():
    spec = residual_spec()
    for _ in range(5):
        spec = spec.residual(spec.layers[-1].id)
    assert len(spec.layers) > graph.WINDOW_FROM
    selected = spec.layers[12].id
    nodes, _ = drawn(graph.dataflow(spec, selected=selected, window=True))
    assert nodes[f"L{selected}"]["fillcolor"] == graph.SELECTED_FILL
    assert {"more_before", "more_after", "input", "output"} <= set(nodes)
    assert len([n for n in nodes if n.startswith("L")]) < len(spec.layers)
    hidden = len(spec.layers) - len([n for n in nodes if n.startswith("L")])
    counts = [int(re.search(r"(\d+) layers", nodes[n]["label"]).group(1)) for n in ("more_before", "more_after")]
    assert sum(counts) == hidden
    labels = edge_shapes(graph.dataflow(spec, selected=selected, window=True))
    assert ("input", "more_before", "(None, 8, 8, 3)") in labels  # the input joins what is not drawn
    assert all(label is not None for _, _, label in labels)  # every edge that crosses keeps its shape
    assert svg_counts(graph.dataflow(spec, selected=selected, window=True))[0] == len(nodes)


@needs_dot
def test_a_long_graph_with_keras_block_names_folds_each_block_but_the_selected_ones_into_a_box():
    from netbuilder.studio.presets import PRESETS

    spec = PRESETS["keras-mobilenetv2"].spec  # 155 layers, named as Keras names them: block_1_expand, ...
    names = spec.analysis.names
    selected = spec.layers[names.index("block_3_depthwise")].id
    g = graph.dataflow(spec, selected=selected, window=True)
    nodes, _ = drawn(g)
    boxes = {n: a for n, a in nodes.items() if n.startswith("B")}
    # block_1 … block_16 but the open block_3, and two groups of names: expanded_conv_… (5) and Conv_1, Conv_1_bn
    assert len(nodes) < 60 and len(boxes) == 17
    assert all(a["style"] == "rounded,dashed" for a in boxes.values())
    assert "block_1" in boxes[f"B{spec.layers[names.index('block_1_expand')].id}"]["label"]
    assert f"L{selected}" in nodes and f"L{spec.layers[names.index('block_3_project_BN')].id}" in nodes  # open
    folded = sum(int(re.search(r"(\d+) layers", a["label"]).group(1)) for a in boxes.values())
    assert folded + len([n for n in nodes if n.startswith("L")]) == len(spec.layers)
    labels = edge_shapes(g)
    assert all(label is not None for _, _, label in labels)  # every edge, into and out of a box, keeps its shape
    assert (
        "B" + str(spec.layers[names.index("block_15_expand")].id),
        "B" + str(spec.layers[names.index("block_16_expand")].id),
        "(None, 3, 3, 160)",
    ) in labels
    assert graph.block_of("conv2_block1_1_conv") == "conv2_block1" and graph.block_of("block1a_dwconv") == "block1a"
    assert graph.block_of("dense_3") is None


def test_stages_and_runs_of_blocks_fold_past_a_dozen_boxes():
    assert [graph.stage_of(b) for b in ("conv4_block12", "block2b", "block_13", "block35")] == [
        "conv4",
        "block2",
        None,
        None,
    ]
    blocks = [None, *(f"conv2_block{k}" for k in range(1, 4)), *(f"conv3_block{k}" for k in range(1, 13)), None]
    assert graph.fold_groups(blocks, {None}) == [None, *["conv2"] * 3, *["conv3"] * 12, None]  # 15 boxes: stages
    opened = graph.fold_groups(blocks, {"conv3_block6"})
    assert opened == [
        None,
        *["conv2"] * 3,
        "conv3_block1 … conv3_block3",
        *["conv3_block1 … conv3_block3"] * 2,
        "conv3_block4",
        "conv3_block5",
        None,  # the opened block: its layers are drawn
        "conv3_block7",
        "conv3_block8",
        *["conv3_block9 … conv3_block12"] * 4,
        None,
    ]
    assert graph.fold_groups(blocks[:8], {None}) == blocks[:8]  # 7 boxes: each block its own


def resnet152_drawing(selected_name: str | None):
    from netbuilder.studio.presets import preset

    spec = preset("keras-resnet152").spec
    names = spec.analysis.names
    selected = spec.layers[names.index(selected_name)].id if selected_name else "input"
    g = graph.dataflow(spec, selected=selected, window=True)
    nodes, _ = drawn(g)
    boxes = {re.search(r"<b>([^<]*)</b>", a["label"]).group(1): a["label"] for n, a in nodes.items() if n[0] == "B"}
    layers = [n for n in nodes if n.startswith("L")]
    folded = sum(int(re.search(r"(\d+) layers", label).group(1)) for label in boxes.values())
    assert folded + len(layers) == len(spec.layers) == 516  # every layer drawn or in one box
    assert all(
        label is not None for _, _, label in edge_shapes(g)
    )  # every edge, into and out of a box, keeps its shape
    assert svg_counts(g)[0] == len(nodes)
    return boxes, layers


@needs_dot
def test_resnet152_reads_on_one_screen_as_its_stem_four_stages_and_its_head():
    boxes, layers = resnet152_drawing(None)
    counts = {name: re.search(r"((\d+) blocks · )?(\d+) layers", label).group(2, 3) for name, label in boxes.items()}
    assert counts == {
        "conv1": (None, "4"),  # the stem's conv1_pad, conv1_conv, conv1_bn, conv1_relu: a group of names
        "pool1": (None, "2"),
        "conv2": ("3", "32"),
        "conv3": ("8", "82"),
        "conv4": ("36", "362"),
        "conv5": ("3", "32"),
    }
    assert len(layers) == 2  # avg_pool and predictions


@needs_dot
def test_a_layer_deep_in_a_stage_opens_its_block_and_the_blocks_beside_it_and_folds_the_rest_into_runs():
    boxes, layers = resnet152_drawing("conv4_block20_2_conv")
    assert set(boxes) == {
        "conv1",
        "pool1",
        "conv2",
        "conv3",
        "conv4_block1 … conv4_block17",
        *(f"conv4_block{k}" for k in (18, 19, 21, 22)),
        "conv4_block23 … conv4_block36",
        "conv5",
    }
    # 10 layers a block; conv4_block1 has 2 more, its projected shortcut's 1×1 convolution and normalization
    assert "17 blocks · 172 layers" in boxes["conv4_block1 … conv4_block17"]
    assert len(layers) == 2 + 10  # the head, and conv4_block20's 10 layers


@needs_dot
def test_layers_keras_named_by_themselves_fold_with_the_block_that_takes_them():
    """InceptionResNetV2's branches are conv2d_N, batch_normalization_N, activation_N; only each block's merge, its
    1×1 convolution and its scale are named block35_1_…: the branches fold into the block too."""
    from netbuilder.studio.presets import preset

    spec = preset("keras-inceptionresnetv2").spec
    nodes, _ = drawn(graph.dataflow(spec, selected="input", window=True))
    assert len(spec.layers) == 781 and len(nodes) < 200
    boxes = [a["label"] for n, a in nodes.items() if n[0] == "B"]
    assert any("block35" in label and "10 blocks" not in label for label in boxes)


@needs_dot
def test_layers_a_user_names_with_one_first_word_fold_into_a_box_of_that_word():
    names = [*(f"encoder_{k}" for k in range(5)), None, None, *(f"decoder_{k}" for k in range(5)), None, None]
    layers = tuple(
        LayerSpec.make(i, "Dense", units=8, name=name) if i % 2 == 0 else LayerSpec.make(i, "Activation", name=name)
        for i, name in enumerate(names)
    )
    spec = ModelSpec((8,), layers).validate()
    g = graph.dataflow(spec, selected=8, window=True)  # decoder_1: its group is open
    nodes, _ = drawn(g)
    assert "<b>encoder</b>" in nodes["B0"]["label"] and "5 layers" in nodes["B0"]["label"]
    assert {f"L{i}" for i in range(5, 14)} <= set(nodes) and not [n for n in nodes if n.startswith("B") and n != "B0"]
    assert all(label is not None for _, _, label in edge_shapes(g))
    nodes, _ = drawn(graph.dataflow(spec, selected=0, window=True))
    # the two layers named as Keras names them by itself fold with the group that takes them
    assert "<b>decoder</b>" in nodes["B5"]["label"] and "7 layers" in nodes["B5"]["label"] and "L0" in nodes
    spread = ModelSpec(
        (8,), tuple(replace(layer, name=n) for layer, n in zip(layers, [f"{w}_{k}" for k in range(7) for w in "ab"]))
    ).validate()
    nodes, _ = drawn(graph.dataflow(spread, selected=0, window=True))  # names that interleave are no group
    assert not [n for n in nodes if n.startswith("B")] and any(n.startswith("more") for n in nodes)


def test_a_tensor_a_layer_takes_twice_is_one_edge():
    attention = LayerSpec.make(0, "MultiHeadAttention", inputs=(-1, -1), num_heads=2, key_dim=4)  # mha(x, x)
    spec = ModelSpec((5, 8), (attention,)).validate()
    assert graph.dataflow(spec).source.count("input -> L0") == 1
