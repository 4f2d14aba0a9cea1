"""Shape inference + parameter counts + DOT source, for 10 … 500 layers: the app's per-edit cost.

Layers cycle Dense(32, relu) → Activation(tanh) → Dense(32) → Flatten → Activation(relu) on a (8, 16)
input. Each repeat builds a fresh ModelSpec (its `analysis` cached_property starts empty), then
`spec.analysis`, `.cost.params` and `netbuilder.views.graph.dataflow(spec).source` (the DOT text;
skipped, "n/a", when that module is missing). Time per layer should stay flat (linear growth).
Target: 500 layers ≤ 20 ms.

netbuilder refuses more than limits.MAX_LAYERS (200) layers: the analysis then stops at once with a
limit issue. To measure the curve past it, this script raises the limit in its own process only
(netbuilder.engine.analysis.MAX_LAYERS); the 500-layer point is therefore "what it would cost".
Run alone: python bench/bench_inference.py
"""

from __future__ import annotations

from _common import cli, cycle_layers, emit, figure, measure

import netbuilder.engine.analysis
from netbuilder.engine.limits import MAX_LAYERS
from netbuilder.studio.spec import LayerSpec, ModelSpec

SIZES = (10, 50, 100, 200, 500)


def layers(n: int) -> tuple[LayerSpec, ...]:
    return cycle_layers(n, units=32)


def graph_module():
    try:
        from netbuilder.views import graph
    except ImportError:
        return None
    return graph if hasattr(graph, "dataflow") else None


def main():
    args = cli(__doc__.splitlines()[0])
    netbuilder.engine.analysis.MAX_LAYERS = max(SIZES)  # in this process only; see the docstring
    graph = graph_module()
    curve = {"layers": [], "analyze": [], "total": [], "dot": []}
    for n in SIZES:
        specs = layers(n)

        def analyze_only():
            spec = ModelSpec(input_shape=(8, 16), layers=specs, seed=0)  # fresh: empty cache
            a = spec.analysis
            assert a.ok, a.issue
            return a.cost.params

        def everything():
            spec = ModelSpec(input_shape=(8, 16), layers=specs, seed=0)
            a = spec.analysis
            a.cost.params
            return graph.dataflow(spec).source if graph else None

        repeat = 15 if n <= 200 else 9
        t_an = measure(analyze_only, repeat=repeat, min_time=0.05)["median"]
        t_all = measure(everything, repeat=repeat, min_time=0.05)["median"] if graph else None
        curve["layers"].append(n)
        curve["analyze"].append(t_an)
        curve["total"].append(t_all)
        curve["dot"].append(None if t_all is None else t_all - t_an)
        total_s = (
            "n/a (no netbuilder/views/graph.py)"
            if t_all is None
            else f"{t_all * 1e3:7.2f} ms ({t_all / n * 1e6:5.1f} µs/layer)"
        )
        print(
            f"  {n:4d} layers: analyze+params {t_an * 1e3:7.2f} ms ({t_an / n * 1e6:5.1f} µs/layer); + DOT: {total_s}"
        )

    i10, i500 = curve["layers"].index(10), curve["layers"].index(500)
    key = "total" if graph else "analyze"
    what = "analyze + params + DOT" if graph else "analyze + params (no views/graph.py)"
    t10, t500 = curve[key][i10], curve[key][i500]
    i200 = curve["layers"].index(200)
    figures = [
        figure(
            "inference.500",
            f"{what}, 500 layers (limit lifted in-process)",
            t500,
            50 * t10,
            "10 layers × 50 (linear extrapolation)",
            "s",
            "≤ 20 ms; ratio ≈ 1 means linear",
            t500 <= 0.020,
        ),
        figure(
            "inference.200",
            f"{what}, 200 layers (MAX_LAYERS)",
            curve[key][i200],
            20 * t10,
            "10 layers × 20 (linear extrapolation)",
            "s",
            "≤ 8 ms (20 ms × 200/500)",
            curve[key][i200] <= 0.008,
        ),
        figure(
            "inference.500.analyze",
            "analyze + params only, 500 layers",
            curve["analyze"][i500],
            50 * curve["analyze"][i10],
            "10 layers × 50",
            "s",
            "(informative)",
            None,
        ),
    ]
    notes = [f"limits.MAX_LAYERS = {MAX_LAYERS}; the curve past it is measured with the limit raised in this process"]
    if graph is None:
        notes.append("netbuilder/views/graph.py missing: DOT not measured")
    emit(args, "inference", figures, {"inference": curve}, notes)


if __name__ == "__main__":
    main()
