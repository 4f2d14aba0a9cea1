"""Where to lay the graph out (issue 19): in the browser, as st.graphviz_chart does today (Graphviz in WebAssembly),
or on the server with `dot`, sending finished SVG (st.html; cached by the DOT text). Measured on graphs the Build page
draws, from a residual block (9 nodes) to Inception-ResNet-v2 folded (183 nodes).

Two real servers of `bench/svg_app.py` (the same drawing as the Build page: `views.graph.dataflow`, window on), one
per mode, and Debian's Chromium at 1440×900, each trial a fresh browser context, the modes alternating:
- navigation → first graph: `performance.now()` when the first `svg g.node` is attached;
- click → settled: Redraw (the next layer selected, so a changed graph) until the graph named for the new drawing is
  on screen, Streamlit's script has stopped and one frame has painted. In server mode this includes `dot`.
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

MODELS = ("residual-block", "keras-mobilenetv2", "keras-resnet152", "keras-inceptionresnetv2")
MODES = ("browser", "server")
VIEWPORT = {"width": 1440, "height": 900}
TIMEOUT_MS = 60_000
REDRAWS = 3

INIT_SCRIPT = """
(() => {
  window.__firstGraph = null;
  const seen = () => {
    if (window.__firstGraph === null && document.querySelector('svg g.node')) {
      window.__firstGraph = performance.now();
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(seen);
  document.addEventListener('DOMContentLoaded', () => {
    observer.observe(document.body, {childList: true, subtree: true}); seen(); });
})();
"""
IDLE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stStatusWidget"]');
}"""
# t0 now; t1 at the first frame after the graph named `name` is drawn and the page is idle, plus one frame
ARM = (
    """
(name) => {
  const bench = {t0: performance.now(), t1: null};
  window.__bench = bench;
  const drawn = () => [...document.querySelectorAll('svg > g > title')].some(t => t.textContent === name);
  const idle = %s;
  const loop = () => {
    if (drawn() && idle()) requestAnimationFrame(() => { bench.t1 = performance.now(); });
    else requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
}
"""
    % IDLE
)


def visit(browser, url: str) -> dict:
    """A fresh context: navigate, wait until settled, then REDRAWS clicks; seconds in the page's clock."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(INIT_SCRIPT)
    try:
        page = context.new_page()
        page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
        page.wait_for_function("() => window.__firstGraph !== null", timeout=TIMEOUT_MS, polling=50)
        page.wait_for_function(IDLE, timeout=TIMEOUT_MS, polling=50)
        first = page.evaluate("() => window.__firstGraph") / 1e3
        clicks = []
        for k in range(1, REDRAWS + 1):
            page.evaluate(ARM, f"draw{k}")
            page.locator(".st-key-redraw button").click()
            page.wait_for_function("() => window.__bench.t1 !== null", timeout=TIMEOUT_MS, polling=50)
            b = page.evaluate("() => window.__bench")
            clicks.append((b["t1"] - b["t0"]) / 1e3)
        return {"first": first, "click": statistics.median(clicks)}
    finally:
        context.close()


def dot_seconds(key: str) -> tuple[float, int]:
    """`dot -Tsvg` of the app's drawings 1..REDRAWS of `key` (median seconds), and the first drawing's nodes."""
    from netbuilder.studio.presets import preset
    from netbuilder.views.graph import dataflow, render

    spec = preset(key).spec
    times, nodes = [], 0
    for draw in range(REDRAWS + 1):
        chart = dataflow(spec, selected=spec.layers[(1 + 7 * draw) % len(spec.layers)].id, window=True)
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
                visit(browser, f"{servers[mode].url}?model={MODELS[0]}&mode={mode}")
            for trial in range(args.trials):
                for key in MODELS:
                    for mode in MODES if trial % 2 == 0 else MODES[::-1]:
                        r = visit(browser, f"{servers[mode].url}?model={key}&mode={mode}")
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
