"""Where to lay the graph out (issue 19): in the browser, as st.graphviz_chart does today (Graphviz in WebAssembly),
or on the server with `dot`, sending finished SVG (st.html; cached by the DOT text). Measured on graphs the Build page
draws, from a residual block (9 nodes) to Inception-ResNet-v2 folded (183 nodes).

Two real servers of `bench/svg_app.py` (the same drawing as the Build page: `views.graph.dataflow`, window on), one
per mode, and Debian's Chromium at 1440×900, each trial a fresh browser context, the modes alternating:
- navigation → first graph: `performance.now()` when the first `svg g.node` is attached;
- click → settled: Redraw (the next layer selected, so a changed graph) until the graph labelled with the new drawing
  is on screen, Streamlit's script has stopped and one frame has painted (bench_browser.py's watcher). In server
  mode this includes `dot`.
- `dot -Tsvg` of the same drawings in this process: the server's part of a server-mode click (a new DOT each click).
Ratios: server-rendered / laid out in the browser (below 1: the server is the cheaper place).
Run alone: python bench/bench_svg.py [--trials 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit, figure

from _live import Server, launch_chromium
from bench_browser import page_scripts, visit

MODELS = ("residual-block", "keras-mobilenetv2", "keras-resnet152", "keras-inceptionresnetv2")
MODES = ("browser", "server")
VIEWPORT = {"width": 1440, "height": 900}
REDRAWS = 3

SCRIPTS = page_scripts('[class*="st-key-graph_"] svg:has(g.node)')  # the graph either way, not a toolbar icon


def redraws(page):
    """bench_browser.visit's clicks: Redraw, until the graph labelled with the next drawing is on screen."""
    button = page.locator(".st-key-redraw button")
    for k in range(1, REDRAWS + 1):
        yield "redraw", {"text": f"draw {k}"}, lambda: button.click()


def dot_seconds(key: str) -> tuple[float, int]:
    """`dot -Tsvg` of the app's drawings 1..REDRAWS of `key` (median seconds), and the first drawing's nodes."""
    from netbuilder.studio.presets import preset
    from netbuilder.views.graph import dataflow, render

    spec = preset(key).spec
    times, nodes = [], 0
    for draw in range(REDRAWS + 1):
        chart = dataflow(spec, selected=spec.layers[(1 + 7 * draw) % len(spec.layers)].id, window=True)
        chart.attr(label=f"draw {draw}")
        t0 = time.perf_counter()
        svg = render(chart, "svg")
        times.append(time.perf_counter() - t0)
        nodes = nodes or svg.count(b'class="node"')
    return statistics.median(times[1:]), nodes


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path)
    p.add_argument("--trials", type=int, default=3, help="page loads per model and mode (default 3)")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    results = {(key, mode): [] for key in MODELS for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        servers = {mode: Server(ROOT / "bench" / "svg_app.py", Path(tmp) / f"{mode}.log").start() for mode in MODES}
        browser = launch_chromium(pw)
        try:
            for mode in MODES:  # warm each server (imports, presets) and Chromium; not counted
                visit(browser, f"{servers[mode].url}?model={MODELS[0]}&mode={mode}", VIEWPORT, redraws, SCRIPTS)
            for trial in range(args.trials):
                for key in MODELS:
                    for mode in MODES if trial % 2 == 0 else MODES[::-1]:
                        page = visit(
                            browser, f"{servers[mode].url}?model={key}&mode={mode}", VIEWPORT, redraws, SCRIPTS
                        )
                        clicks = [click["total"] for click in page["clicks"]["redraw"]]
                        r = {"first": page["first_graph"], "click": statistics.median(clicks)}
                        results[key, mode].append(r)
                        print(
                            f"  {key:24s} {mode:7s} trial {trial}: first {r['first']:.3f} s, click {r['click']:.3f} s"
                        )
        finally:
            browser.close()
            for server in servers.values():
                server.stop()

    figures = []
    for key in MODELS:
        dot_s, nodes = dot_seconds(key)
        for what in ("first", "click"):
            on_server, in_browser = (statistics.median(r[what] for r in results[key, m]) for m in ("server", "browser"))
            figures.append(
                figure(
                    f"svg.{what}.{key}",
                    f"{'navigation → first graph' if what == 'first' else 'Redraw, click → settled'}, {key} "
                    f"({nodes} nodes), SVG from the server's dot",
                    on_server,
                    in_browser,
                    "laid out in the browser",
                    "s",
                    "the cheaper is the app's",
                    None,
                    note=f"dot -Tsvg on the server {dot_s * 1e3:.0f} ms (in the server-side time)",
                )
            )
    notes = [
        f"{args.trials} fresh page loads per model and mode, {REDRAWS} redraws each; medians. Both servers run "
        "bench/svg_app.py, which draws a preset as the Build page does (views.graph.dataflow, window on)"
    ]
    emit(args, "svg", figures, None, notes)


if __name__ == "__main__":
    main()
