"""Big functional graphs (keras.applications JSONs): reading, analysis + summary, predict speed and peak memory.

The Keras JSONs are `netbuilder/studio/data/applications/<Name>.json.gz` (Keras 3.15's own `model.to_json()`, no
weights).
(a) analysis + summary for MobileNet (91 layers), ResNet50 (177), DenseNet121 (429), NASNetMobile (771) and
    NASNetLarge (1,041) on a model already read: `analyze_graph(model.graph)` (every call's shapes, parameters, cost
    and the tensors alive at each call, `graph_flow`) + `model.summary(print_fn=...)` (Keras's table, character for
    character). Target: NASNetLarge ≤ 50 ms, time per layer flat (baseline: MobileNet's time per layer × 1,041).
    `nb.model_from_json` and its steps (depth check, json.loads, layers and calls, Graph, analysis) are timed beside it.
(b) `nb.model_from_json` of ResNet50 against Keras's `keras.models.model_from_json` (NumPy backend, same process):
    Keras builds every variable (25.6 M weights); ours draws weights at first use, which the bench checks (tracemalloc
    peak of model_from_json against the weights' bytes). Target ≥ 20× faster.
(c) predict of ResNet50 and MobileNetV2 at 224×224, batch 1, against PyTorch CPU running the same network with
    the same weights: our own PyTorch export (`views.export.pytorch_code`, weights handed over as arrays instead of
    literals) under `torch.inference_mode()`, outputs checked allclose first; at 1 thread (as the app runs) and at
    NumPy's default BLAS threads, `torch.set_num_threads` equal to ours each time. Targets: ResNet50 ≤ 1.5×,
    MobileNetV2 ≤ 2.5× PyTorch.
(d) tracemalloc peak of predict (same two models, 224 px, batch 1, weights drawn before) against the floor: weights +
    the largest set of tensors that must be alive at once (a tensor lives from the call that makes it until its last
    reader has run; the input and the model's outputs to the end), derived here from the graph of calls. Target ≤ 1.2×
    the floor. predict's `checkpoint` hook (called before each call) finds the call where the peak happens.
    BLAS's own scratch buffers are not NumPy allocations and are not counted (as in bench_memory.py).
Run alone: python bench/bench_graphs.py
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "numpy"  # before anything imports keras

import gc
import math
import statistics
import tracemalloc

import numpy as np

from _common import blas_threads, cli, compare, emit, figure, timer

import netbuilder as nb
from netbuilder.engine.analysis import analyze_graph, graph_flow
from netbuilder.engine.blas import blas_threads as blas_thread_count, set_blas_threads
from netbuilder.engine.graph import Graph
from netbuilder.engine.serialization import functional_from_json, json_too_deep, read_json
from netbuilder.engine.limits import MAX_JSON_DEPTH
from netbuilder.studio.presets import application_json

SIZES = ("MobileNet", "ResNet50", "DenseNet121", "NASNetMobile", "NASNetLarge")
PREDICT = (("ResNet50", 1.5), ("MobileNetV2", 2.5))
MEMORY = ("ResNet50", "MobileNetV2")
BATCH, PIXELS = 1, 224


def graph_only(text: str):
    """JSON → graph + analysis: model_from_json's steps without the Functional model's own bookkeeping."""
    doc = read_json(text)
    _, inputs, outputs = functional_from_json(doc, None)
    graph = Graph(inputs, outputs)
    return analyze_graph(graph)


def weight_bytes(model) -> int:
    """float32 bytes of every weight, from shapes (draws nothing)."""
    return 4 * model.count_params()


def draw_weights(model) -> int:
    """Draw every weight now (the engine draws them lazily, at first use) and return their bytes."""
    return sum(w.nbytes for layer in model.layers for w in layer.weights)


def traced_peak(fn) -> int:
    """Peak traced bytes (NumPy's arrays and Python's objects) while fn runs, its result dropped."""
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        tracemalloc.stop()
    return peak


def stages(text: str, repeat: int = 7) -> dict:
    """Median seconds of each step of nb.model_from_json's path (functional model), run one after another."""
    times: dict[str, list[float]] = {}
    for _ in range(repeat):
        gc.collect()
        marks = [("start", timer())]
        json_too_deep(text, MAX_JSON_DEPTH)
        marks.append(("depth check (json_too_deep)", timer()))
        doc = read_json(text)
        marks.append(("read_json (its own depth check + json.loads)", timer()))
        _, inputs, outputs = functional_from_json(doc, None)
        marks.append(("functional_from_json (layers + calls)", timer()))
        graph = Graph(inputs, outputs)
        marks.append(("Graph", timer()))
        analysis = analyze_graph(graph)
        marks.append(("analyze_graph", timer()))
        graph_flow(graph, [n for n in graph.nodes if not n.is_input], analysis.layers)
        marks.append(("of which graph_flow (timed again)", timer()))
        nb.model_from_json(text)
        marks.append(("whole nb.model_from_json", timer()))
        for (_, a), (name, b) in zip(marks, marks[1:]):
            times.setdefault(name, []).append(b - a)
    return {k: statistics.median(v) for k, v in times.items()}


def fmt_stages(name: str, st: dict) -> str:
    return f"{name} model_from_json steps (medians): " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in st.items())


# --- (a) analysis + summary ---------------------------------------------------------------------
def analysis_case() -> tuple[list[dict], dict, list[str]]:
    """Every size sampled interleaved with the others (one compare per measured step), so load hits them alike."""
    texts = {name: application_json(name) for name in SIZES}
    models = {name: nb.model_from_json(text) for name, text in texts.items()}  # weights are not drawn: cheap to hold
    sink: list[str] = []

    def analysis_summary(model):
        sink.clear()
        analyze_graph(model.graph)
        model.summary(print_fn=sink.append)

    def flow(model):
        return graph_flow(model.graph, [node for node in model.graph.nodes if not node.is_input], model.analysis.layers)

    steps = {
        "analysis_summary": analysis_summary,
        "analysis": lambda model: analyze_graph(model.graph),
        "graph_flow": flow,
    }
    t = {
        step: compare(
            {name: (lambda fn=fn, m=m: fn(m)) for name, m in models.items()}, repeat=9, min_time=0.05, warmup=1
        )
        for step, fn in steps.items()
    }
    t["graph_only"] = compare(
        {name: (lambda text=text: graph_only(text)) for name, text in texts.items()}, repeat=7, min_time=0.05, warmup=1
    )
    t["from_json"] = compare(
        {name: (lambda text=text: nb.model_from_json(text)) for name, text in texts.items()},
        repeat=5,
        min_time=0.0,
        warmup=1,
    )
    curve = {"name": list(SIZES), "layers": [len(models[name].layers) for name in SIZES]}
    for step in t:
        curve[step] = [t[step][name]["median"] for name in SIZES]
    for i, name in enumerate(SIZES):
        n, a = curve["layers"][i], curve["analysis_summary"][i]
        print(
            f"  {name:12s} {n:5d} layers: analysis+summary {a * 1e3:7.1f} ms ({a / n * 1e6:5.1f} µs/layer; "
            f"analyze_graph {curve['analysis'][i] * 1e3:.1f} ms, of which graph_flow "
            f"{curve['graph_flow'][i] * 1e3:.1f} ms); "
            f"JSON → graph + analysis {curve['graph_only'][i] * 1e3:7.1f} ms; "
            f"model_from_json {curve['from_json'][i] * 1e3:7.1f} ms"
        )
    del models

    first, last = 0, len(SIZES) - 1
    n0, n1 = curve["layers"][first], curve["layers"][last]
    t0, t1 = curve["analysis_summary"][first], curve["analysis_summary"][last]
    linear = t0 / n0 * n1
    j0, j1 = curve["from_json"][first], curve["from_json"][last]
    figures = [
        figure(
            "graphs.analysis.nasnetlarge",
            f"analysis + summary, NASNetLarge ({n1:,} layers)",
            t1,
            linear,
            f"MobileNet ({n0} layers) × {n1 / n0:.1f} (linear extrapolation)",
            "s",
            "≤ 50 ms",
            t1 <= 0.050,
        ),
        figure(
            "graphs.analysis.per_layer",
            "analysis + summary per layer, NASNetLarge vs MobileNet",
            t1 / n1,
            t0 / n0,
            f"MobileNet ({n0} layers)",
            "s",
            "ratio ≤ 1.5 (flat time per layer)",
            t1 / n1 <= 1.5 * t0 / n0,
        ),
        figure(
            "graphs.analysis.graph_flow",
            "graph_flow (tensors alive at each call) per layer, NASNetLarge vs MobileNet",
            curve["graph_flow"][last] / n1,
            curve["graph_flow"][first] / n0,
            f"MobileNet ({n0} layers)",
            "s",
            "(informative: ≈ 1 if linear)",
            None,
        ),
        figure(
            "graphs.from_json.nasnetlarge",
            "nb.model_from_json, NASNetLarge, vs MobileNet's time per layer × 1,041",
            j1,
            j0 / n0 * n1,
            f"MobileNet ({n0} layers) × {n1 / n0:.1f}",
            "s",
            "(informative: linear?)",
            None,
        ),
    ]
    notes = [
        "analysis + summary by size: "
        + "; ".join(
            f"{name} {n} layers {a * 1e3:.1f} ms ({a / n * 1e6:.1f} µs/layer; analyze_graph {an * 1e3:.1f} ms, "
            "of which graph_flow "
            f"{gf * 1e3:.1f} ms = {gf / n * 1e6:.1f} µs/layer; summary the rest), model_from_json {j * 1e3:.0f} ms, "
            f"JSON → graph + analysis {g * 1e3:.1f} ms"
            for name, n, a, an, gf, j, g in zip(
                curve["name"],
                curve["layers"],
                curve["analysis_summary"],
                curve["analysis"],
                curve["graph_flow"],
                curve["from_json"],
                curve["graph_only"],
            )
        )
    ]
    text = application_json("NASNetLarge")
    notes.append(fmt_stages("NASNetLarge", stages(text, repeat=3)))
    return figures, curve, notes


# --- (b) model_from_json vs Keras ----------------------------------------------------------------
def from_json_case() -> tuple[list[dict], list[str]]:
    import keras

    text = application_json("ResNet50")
    ours_model = nb.model_from_json(text)
    theirs_model = keras.models.model_from_json(text)
    assert ours_model.count_params() == theirs_model.count_params()
    assert tuple(ours_model.output_shape) == tuple(theirs_model.output_shape)
    weights = weight_bytes(ours_model)
    theirs_bytes = sum(np.asarray(w).nbytes for w in theirs_model.get_weights())
    del ours_model, theirs_model
    ours_alloc = traced_peak(lambda: nb.model_from_json(text))  # lazy weights: far below the weights' bytes
    lazy = ours_alloc < 0.1 * weights
    t = compare(
        {"ours": lambda: nb.model_from_json(text), "keras": lambda: keras.models.model_from_json(text)},
        repeat=9,
        min_time=0.0,
        warmup=2,
    )
    ours, theirs = t["ours"]["median"], t["keras"]["median"]
    what = (
        f"ours draws no weights (lazy: {ours_alloc / 2**20:.1f} MiB allocated at most, "
        f"weights {weights / 2**20:.0f} MiB), "
        if lazy
        else f"ours allocates {ours_alloc / 2**20:.0f} MiB (weights {weights / 2**20:.0f} MiB drawn eagerly), "
    )
    figures = [
        figure(
            "graphs.from_json.keras",
            "model_from_json(ResNet50 JSON) vs keras.models.model_from_json",
            ours,
            theirs,
            "Keras 3.15 (numpy backend)",
            "s",
            "≥ 20× faster (ratio ≤ 0.05)",
            theirs >= 20 * ours,
            note=what + f"Keras builds every variable ({theirs_bytes / 2**20:.0f} MiB)",
        ),
        figure(
            "graphs.from_json.alloc",
            "model_from_json(ResNet50 JSON): peak traced memory vs the weights' bytes",
            ours_alloc,
            weights,
            "ResNet50's weights (float32)",
            "B",
            "draws no weight (ratio < 0.1)",
            lazy,
        ),
    ]
    st = stages(text)
    notes = [
        f"model_from_json ResNet50 medians: ours {ours * 1e3:.1f} ms (min {t['ours']['min'] * 1e3:.1f}), Keras "
        f"{theirs * 1e3:.0f} ms (min {t['keras']['min'] * 1e3:.0f})",
        fmt_stages("ResNet50", st),
    ]
    return figures, notes


# --- (c) predict vs PyTorch ---------------------------------------------------------------------
def torch_module(model):
    """Our PyTorch export of `model` as a live nn.Module, the weights passed as arrays (literals of 25 M floats would
    take minutes to write and to parse; the generated module code is exactly the exported one)."""
    from netbuilder.views import export

    arrays: list[np.ndarray] = []

    def literal(values, indent="", checkpoint=None):
        arrays.append(np.array(values, dtype=np.float32))
        return f"_W[{len(arrays) - 1}]"

    original = export.array_literal
    export.array_literal = literal
    try:
        code = export.pytorch_code(model)
    finally:
        export.array_literal = original
    namespace = {"__name__": "exported_torch", "_W": arrays}
    exec(compile(code, "<torch export>", "exec"), namespace)  # our own generated code
    return namespace["model"]


def predict_case() -> tuple[list[dict], list[str]]:
    """At 1 thread (what the app sets: ui/state.py calls set_blas_threads(1)) and at NumPy's default BLAS threads,
    torch's thread count equal to ours each time."""
    import torch

    default = blas_thread_count() or os.cpu_count()
    figures, notes = [], []
    for name, target in PREDICT:
        model = nb.model_from_json(application_json(name))
        draw_weights(model)  # before exporting and timing: weights are drawn at first use
        tnet = torch_module(model)
        x = np.random.default_rng(4).standard_normal((BATCH, PIXELS, PIXELS, 3)).astype(np.float32)
        xt = torch.from_numpy(x)  # converted once, outside the timing (in PyTorch's favour)

        def torch_run(tnet=tnet, xt=xt):
            with torch.inference_mode():
                return tnet(xt)

        ref = model.predict(x)
        got = torch_run().numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-7)
        heavy = name == "ResNet50"
        for threads in sorted({1, default}):
            set_blas_threads(threads)
            torch.set_num_threads(threads)
            t = compare(
                {"ours": lambda model=model, x=x: model.predict(x), "torch": torch_run},
                repeat=7 if heavy else 11,
                min_time=0.0 if heavy else 0.1,
                warmup=1 if heavy else 2,
            )
            ours, theirs = t["ours"]["median"], t["torch"]["median"]
            how = "as the app runs" if threads == 1 else "NumPy's default"
            figures.append(
                figure(
                    f"graphs.predict.{name.lower()}.t{threads}",
                    f"{name} predict, {PIXELS}×{PIXELS}, batch {BATCH}, {threads} thread(s) ({how})",
                    ours,
                    theirs,
                    f"PyTorch CPU ({threads} thread(s), our export)",
                    "s",
                    f"≤ {target}×",
                    ours <= target * theirs,
                    note=f"min ours {t['ours']['min'] * 1e3:.0f} ms, torch {t['torch']['min'] * 1e3:.0f} ms; "
                    f"max |Δ| {np.abs(got - ref).max():.1e}",
                )
            )
        set_blas_threads(default)
        del model, tnet
        gc.collect()
    notes.append(
        f"numpy BLAS: {blas_threads()}; torch {torch.__version__}, its threads set equal to BLAS's for each figure; "
        "the PyTorch side is views.export.pytorch_code's module (Keras's channels_last layout kept between layers, "
        "a permute around each convolution, BatchNormalization as elementwise ops), in inference_mode"
    )
    return figures, notes


# --- (d) peak memory ------------------------------------------------------------------------------
def live_floor(model, batch: int) -> tuple[int, int, str]:
    """(the largest bytes of tensors that must be alive at once, the call where it happens, that call's name): a tensor
    lives from the call that makes it until its last reader has run (the model's inputs from the start, its outputs to
    the end); while a call runs, its inputs and its output are all alive. float32 throughout."""
    graph = model.graph
    calls = [node for node in graph.nodes if not node.is_input]
    nbytes = lambda t: batch * math.prod(t.shape[1:]) * 4  # noqa: E731
    end = len(calls)
    born = {id(t): -1 for t in graph.inputs}
    last = {id(t): -1 for t in graph.inputs}
    size = {id(t): nbytes(t) for t in graph.inputs}
    for k, node in enumerate(calls):
        for t in node.inputs:
            last[id(t)] = k
        out = node.outputs[0]
        born[id(out)], last[id(out)], size[id(out)] = k, k, nbytes(out)
    for t in graph.outputs:
        last[id(t)] = end
    for t in graph.inputs:  # the caller's input is held for the whole call
        last[id(t)] = end
    delta = [0] * (end + 1)  # alive while call k runs: made at or before k (inputs at -1), last read at or after k
    for key, b in born.items():
        delta[max(b, 0)] += size[key]
        delta[min(last[key], end - 1) + 1] -= size[key]
    best, where, alive = -1, 0, 0
    for k in range(end):
        alive += delta[k]
        if alive > best:
            best, where = alive, k
    return best, where, calls[where].layer.name


def traced_predict(model, x) -> tuple[int, int, list[tuple[int, int]]]:
    """(peak traced bytes predict adds, bytes still held after it, and for each call (what was held when it started, its
    peak) — predict's `checkpoint` runs before every call, so the peak between two checkpoints is that call's)."""
    marks: list[tuple[int, int]] = []

    def checkpoint():
        marks.append(tracemalloc.get_traced_memory())
        tracemalloc.reset_peak()

    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = model.predict(x, checkpoint=checkpoint)
        marks.append(tracemalloc.get_traced_memory())
        peak = max(p for _, p in marks) - before
        del result
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    per_call = [(held - before, nxt_peak - before) for (held, _), (_, nxt_peak) in zip(marks, marks[1:])]
    return peak, after, per_call


def memory_case() -> tuple[list[dict], list[str]]:
    figures, notes = [], []
    for name in MEMORY:
        model = nb.model_from_json(application_json(name))
        x = np.random.default_rng(5).standard_normal((BATCH, PIXELS, PIXELS, 3)).astype(np.float32)
        weights = draw_weights(model)  # held before the run, as a model that has predicted once holds them
        alive, at, at_name = live_floor(model, BATCH)
        floor = weights + alive
        run_peak, retained, per_call = traced_predict(model, x)
        peak = weights + x.nbytes + run_peak  # the weights and the input were held before the run (not traced)
        calls = [node for node in model.graph.nodes if not node.is_input]
        k = max(range(len(per_call)), key=lambda i: per_call[i][1])
        held, top = per_call[k]
        out = BATCH * math.prod(calls[k].outputs[0].shape[1:]) * 4
        figures.append(
            figure(
                f"graphs.memory.{name.lower()}",
                f"peak memory, {name} predict, {PIXELS}×{PIXELS}, batch {BATCH}",
                peak,
                floor,
                "floor: weights + most tensors alive at once",
                "B",
                "≤ 1.2× floor",
                peak <= 1.2 * floor,
                note=f"weights {weights / 2**20:.1f} MiB, tensors alive at most {alive / 2**20:.2f} MiB "
                f"(at call {at}, {at_name!r}); predict's peak is at call {k}, {calls[k].layer.name!r} "
                f"({calls[k].layer.kind}): {held / 2**20:.2f} MiB of tensors held + its output "
                f"{out / 2**20:.2f} MiB + {(top - held - out) / 2**20:.2f} MiB of scratch; {retained} B kept after",
            )
        )
        flow = model.analysis.flow
        if flow is not None:
            outs = [math.prod(r.output_shape[1:]) for r in model.analysis.layers]
            engine_alive = max(a + o for a, o in zip(flow.alive, outs)) * 4 * BATCH
            notes.append(
                f"{name}: the floor's live tensors {alive / 2**20:.2f} MiB (input included) vs the engine's own "
                f"analysis.flow {engine_alive / 2**20:.2f} MiB "
                "(alive while a call runs + its output, input not counted)"
            )
        worst = sorted(range(len(per_call)), key=lambda i: per_call[i][1] - per_call[i][0], reverse=True)[:3]
        notes.append(
            f"{name}: calls adding the most over what they hold: "
            + "; ".join(
                f"{calls[i].layer.name} ({calls[i].layer.kind}) +{(per_call[i][1] - per_call[i][0]) / 2**20:.2f} MiB"
                for i in worst
            )
        )
        del model
        gc.collect()
    return figures, notes


def main():
    args = cli(__doc__.splitlines()[0])
    a_fig, curve, a_notes = analysis_case()
    m_fig, m_notes = memory_case()  # before Keras and torch load: only our arrays are traced
    j_fig, j_notes = from_json_case()
    p_fig, p_notes = predict_case()
    emit(args, "graphs", a_fig + j_fig + p_fig + m_fig, {"graphs": curve}, a_notes + j_notes + p_notes + m_notes)


if __name__ == "__main__":
    main()
