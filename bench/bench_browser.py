"""The page in a real browser (issue 11): navigation → first graph SVG and click → settled, for 1, 5, 30 and 50
layers, next to a one-chart baseline app, at 1440×900 and at 390×844.

Two real servers on loopback, both started from the repo root (so both read .streamlit/config.toml):
`streamlit run app.py`, and `streamlit run bench/baseline_app.py` (one 5-node st.graphviz_chart and a
Redraw button). Debian's Chromium through Playwright; every trial opens a fresh browser context (cold
cache, its own Streamlit session) at the viewport, rotating the order of the apps round by round.

- navigation → first graph: `performance.now()` (the page's clock, 0 = navigation start) when the
  first `stGraphVizChart svg g.node` is attached (a MutationObserver from an init script). The app is
  opened with a share link (`?model=` from netbuilder.studio.share.encode) of Input (8,) → N × Dense(16).
- click → settled, in the page's clock: from the click (or the Enter that commits a typed number) to the
  first animation frame after the page shows the change and is idle — the graph SVG shows it (the new
  edge shape `(None, 17)`; one more node; the baseline's new label), Streamlit's script state is
  `notRunning` and no status widget is left — plus one frame (painted). Clicks on netbuilder: type new
  units for the selected layer (the first Dense; Enter) and the Add button (a Dense after the selected
  layer: N grows by one per click). Baseline: its Redraw button.
- Where a click's time goes: the same clicks are sent to the same server over Streamlit's websocket
  protocol (`_live.WsSession`, no browser), after the Chromium trials: that is the server's part (rerun +
  transfer); the rest of click → settled is the browser's (applying ~70 deltas, React, Graphviz layout in
  WebAssembly, d3-graphviz's transition from the previous graph, painting). (Chromium's own websocket
  frame times cannot split it: its network service reads the socket only as fast as a busy page takes
  the frames, so a page busy drawing makes the server look slow.)

Targets (reported): first graph ≤ 1.3× the baseline at 5 layers and ≤ 2× at 50; click → settled ≤ 1.5×
the baseline's redraw at 5 layers and ≤ 2.5× at 50 (each click kind, each viewport).
Run alone: python bench/bench_browser.py [--trials 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _common import ROOT, emit, figure

from _live import Server, WsSession, launch_chromium, server_options
from netbuilder.views import graph  # the window sizes the graph is drawn with

SIZES = (1, 5, 30, 50)
VIEWPORTS = {"1440×900": {"width": 1440, "height": 900}, "390×844": {"width": 390, "height": 844}}
TARGETS = {5: (1.3, 1.5), 50: (2.0, 2.5)}  # layers: (first graph, click → settled) as × the baseline
# real models by preset, each opened by its share link: (the stage box clicked open, its blocks, first graph target,
# opening the stage target) as × the baseline; None: no target
REAL = {"keras-resnet50": ("conv4", 6, 2.5, 2.0), "keras-resnet152": ("conv4", 36, 3.0, None)}
GRAPH = '[data-testid="stGraphVizChart"] svg'
TIMEOUT_MS = 60_000

INIT_TEMPLATE = """
(() => {
  window.__firstGraph = null;
  window.__sent = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    send(data) {
      window.__sent.push(performance.now());
      return super.send(data);
    }
  };
  const seen = () => {
    if (window.__firstGraph === null && document.querySelector('%(graph)s g.node')) {
      window.__firstGraph = performance.now();
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(seen);
  document.addEventListener('DOMContentLoaded', () => { \
observer.observe(document.body, {childList: true, subtree: true}); seen(); });
})();
"""

# Arm a watcher: it records t0 now and t1 at the first frame after `done` (graph shows the change, page idle) + one
# frame.
ARM_TEMPLATE = """
(cond) => {
  const bench = {t0: performance.now(), t1: null, firstSent: null};
  window.__bench = bench;
  const graphShows = () => {
    const svg = document.querySelector('%(graph)s');
    if (!svg) return false;
    if (cond.text !== undefined) return [...svg.querySelectorAll('text')].some(t => t.textContent.trim() === cond.text);
    return svg.querySelectorAll('g.node').length === cond.nodes;
  };
  const idle = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.getAttribute('data-test-script-state') === 'notRunning'
      && !document.querySelector('[data-testid="stStatusWidget"]');
  };
  const loop = () => {
    if (graphShows() && idle()) {
      requestAnimationFrame(() => {
        bench.t1 = performance.now();
        const sent = window.__sent.filter(t => t >= bench.t0 && t <= bench.t1);
        bench.firstSent = sent.length ? sent[0] : null;
      });
    } else {
      requestAnimationFrame(loop);
    }
  };
  requestAnimationFrame(loop);
}
"""

IDLE_TEMPLATE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stStatusWidget"]') && document.querySelector('%(graph)s g.node') !== null;
}"""


def page_scripts(graph: str) -> tuple[str, str, str]:
    """The init script, the click watcher and the idle test, for a page whose graph is the SVG at `graph`."""
    return tuple(template % {"graph": graph} for template in (INIT_TEMPLATE, ARM_TEMPLATE, IDLE_TEMPLATE))


INIT_SCRIPT, ARM, IDLE = page_scripts(GRAPH)


def share_query(n: int) -> str:
    from netbuilder.studio import share
    from netbuilder.studio.spec import LayerSpec, ModelSpec

    spec = ModelSpec((8,), tuple(LayerSpec.make(i, "Dense", units=16) for i in range(n)), 0)
    return "?model=" + share.encode(spec)


def versus(id_: str, what: str, ours, baseline, target: float | None, note: str = "") -> dict:
    """A time against the one-chart app's (its first graph, or its redraw): at most `target` × it (None: no target)."""
    met = None if target is None or ours is None or baseline is None else ours <= target * baseline
    name = "one-chart app" if "first graph" in what else "one-chart app's redraw"
    return figure(id_, what, ours, baseline, name, "s", f"≤ {target}× baseline" if target else "none", met, note=note)


def real_query(key: str) -> str:
    from netbuilder.studio import presets, share

    return "?model=" + share.encode(presets.preset(key).spec)


def block_clicks(stage: str, blocks: int):
    """Open a stage's box (its first block opens with it): settled when the block's first layer is drawn."""

    def clicks(page):
        box = page.locator(f"{GRAPH} g.node").filter(has_text=stage).filter(has_text=f"{blocks} blocks")
        yield "block", {"text": f"{stage}_block1_1_conv"}, lambda: box.click()

    return clicks


def timed(page, cond: dict, act, arm: str = ARM) -> dict:
    """Arm the watcher, do `act()`, wait until the page settled; seconds in the page's clock: total, and
    input = from the click to the rerun request leaving the page (the rest is the server's and the browser's)."""
    page.evaluate(arm, cond)
    act()
    page.wait_for_function("() => window.__bench.t1 !== null", timeout=TIMEOUT_MS, polling=50)
    b = page.evaluate("() => window.__bench")
    return {
        "total": (b["t1"] - b["t0"]) / 1e3,
        "input": None if b["firstSent"] is None else (b["firstSent"] - b["t0"]) / 1e3,
    }


def server_runs(port: int, query: str | None, n: int | None, repeat: int = 5) -> dict:
    """The same clicks over the websocket protocol (`_live.WsSession`, no drawing): the server's rerun + transfer."""
    s = WsSession(port, query or "")
    try:
        s.open()
        if n is None:
            return {"redraw": med([s.click("redraw").seconds for _ in range(repeat)])}
        units = [s.set_int("units_0", 17 + k % 2).seconds for k in range(repeat + 1)][1:]
        adds = [s.click("add").seconds for _ in range(max(2, repeat // 2))]
        return {"units": med(units), "add": med(adds)}
    finally:
        s.close()


def visit(browser, url: str, viewport: dict, clicks, scripts=(INIT_SCRIPT, ARM, IDLE)) -> dict:
    """One fresh context: navigate, wait for the page to settle, then the clicks; every time measured."""
    init, arm, idle = scripts
    context = browser.new_context(viewport=viewport)
    context.add_init_script(init)
    try:
        page = context.new_page()
        page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
        page.wait_for_function("() => window.__firstGraph !== null", timeout=TIMEOUT_MS, polling=50)
        page.wait_for_function(idle, timeout=TIMEOUT_MS, polling=50)
        first = page.evaluate("() => window.__firstGraph") / 1e3
        settled_nav = page.evaluate("() => performance.now()") / 1e3
        if page.locator('[data-testid="stException"]').count():
            raise RuntimeError(
                "the page shows an exception: " + page.locator('[data-testid="stException"]').first.inner_text()[:300]
            )
        out = {"first_graph": first, "nav_settled": settled_nav, "clicks": {}}
        for name, cond, act in clicks(page):
            out["clicks"].setdefault(name, []).append(timed(page, cond, act, arm))
        return out
    finally:
        context.close()


def app_clicks(n: int, units_clicks: int, add_clicks: int):
    def clicks(page):
        box = page.locator(".st-key-units_0 input")
        for k in range(units_clicks):
            value = 17 + k
            box.scroll_into_view_if_needed()
            box.fill(str(value))
            yield "units", {"text": f"(None, {value})"}, lambda: box.press("Enter")
        button = page.locator(".st-key-add button")
        for k in range(add_clicks):
            layers = n + k + 1  # one more
            # input + layers + output; past WINDOW_FROM layers a window: the new (selected, second) layer, the one
            # before it and WINDOW_AROUND after it, then one folded node for the rest, input and output
            nodes = layers + 2 if layers <= graph.WINDOW_FROM else (2 + graph.WINDOW_AROUND) + 1 + 2
            button.scroll_into_view_if_needed()
            yield "add", {"nodes": nodes}, lambda: button.click()

    return clicks


def baseline_clicks(redraws: int):
    def clicks(page):
        button = page.locator(".st-key-redraw button")
        for k in range(redraws):
            yield "redraw", {"text": f"e {k + 1}"}, lambda: button.click()

    return clicks


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path)
    p.add_argument("--trials", type=int, default=3, help="page loads per app, size and viewport (default 3)")
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument(
        "--server-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Streamlit option for both servers, e.g. runner.postScriptGC=false (what-if runs)",
    )
    args = p.parse_args()
    extra = server_options(args.server_option)
    from playwright.sync_api import sync_playwright

    units_clicks, add_clicks = 2, 1
    targets = [("baseline", None)] + [(f"{n} layers", n) for n in args.sizes] + [(key, key) for key in REAL]
    results = {vp: {name: [] for name, _ in targets} for vp in VIEWPORTS}
    notes, errors = [], []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        app = Server(ROOT / "app.py", Path(tmp) / "app.log", extra).start()
        base = Server(ROOT / "bench" / "baseline_app.py", Path(tmp) / "baseline.log", extra).start()
        browser = launch_chromium(pw)
        try:
            queries = {n: real_query(n) if n in REAL else share_query(n) for _, n in targets if n is not None}
            # warm both servers (imports, first-run caches) and Chromium; not counted
            visit(browser, base.url, VIEWPORTS["1440×900"], baseline_clicks(1))
            visit(browser, app.url + queries[args.sizes[0]], VIEWPORTS["1440×900"], app_clicks(args.sizes[0], 1, 0))
            for vp_name, viewport in VIEWPORTS.items():
                for trial in range(args.trials):
                    order = targets[trial % len(targets) :] + targets[: trial % len(targets)]
                    for name, n in order:
                        try:
                            if n is None:
                                r = visit(browser, base.url, viewport, baseline_clicks(units_clicks))
                            elif n in REAL:
                                r = visit(browser, app.url + queries[n], viewport, block_clicks(*REAL[n][:2]))
                            else:
                                r = visit(
                                    browser, app.url + queries[n], viewport, app_clicks(n, units_clicks, add_clicks)
                                )
                        except Exception as e:  # noqa: BLE001 - a timeout is a measurement result here
                            errors.append(
                                f"{vp_name} {name} trial {trial}: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
                            )
                            print("  !! " + errors[-1])
                            continue
                        results[vp_name][name].append(r)
                        clicks = ", ".join(
                            f"{k} " + "/".join(f"{c['total'] * 1e3:.0f}" for c in v) + " ms"
                            for k, v in r["clicks"].items()
                        )
                        print(
                            f"  {vp_name} {name:9s} trial {trial}: first graph {r['first_graph']:.2f} s, settled "
                            f"{r['nav_settled']:.2f} s; {clicks}"
                        )
            # the server's part of the same clicks, same servers, no browser
            server = {None: server_runs(base.port, None, None)}
            for n in args.sizes:
                server[n] = server_runs(app.port, queries[n][1:], n)
            print(
                "  server part (websocket client): "
                + "; ".join(
                    f"{'baseline' if n is None else f'{n} layers'} "
                    + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in d.items())
                    for n, d in server.items()
                )
            )
        finally:
            browser.close()
            app.stop()
            base.stop()

    def stat(vp, name, key, part="total"):
        runs = results[vp][name]
        if key == "first_graph":
            return med([r["first_graph"] for r in runs])
        return med([c[part] for r in runs for c in r["clicks"].get(key, [])])

    def ms(v):
        return "n/a" if v is None else f"{v * 1e3:.0f} ms"

    figures, curve = [], {"viewports": list(VIEWPORTS), "layers": list(args.sizes), "rows": []}
    for vp in VIEWPORTS:
        b_first, b_redraw = stat(vp, "baseline", "first_graph"), stat(vp, "baseline", "redraw")
        curve["rows"].append(
            {
                "viewport": vp,
                "name": "baseline",
                "first_graph": b_first,
                "redraw": b_redraw,
                "redraw_server": server[None]["redraw"],
                "nav_settled": med([r["nav_settled"] for r in results[vp]["baseline"]]),
            }
        )
        for n in args.sizes:
            name = f"{n} layers"
            first, units, add = stat(vp, name, "first_graph"), stat(vp, name, "units"), stat(vp, name, "add")
            row = {
                "viewport": vp,
                "name": name,
                "first_graph": first,
                "units": units,
                "add": add,
                "units_server": server[n]["units"],
                "add_server": server[n]["add"],
                "nav_settled": med([r["nav_settled"] for r in results[vp][name]]),
            }
            curve["rows"].append(row)
            if n not in TARGETS:
                continue
            t_first, t_click = TARGETS[n]
            figures += [
                versus(
                    f"browser.first.{n}.{vp}",
                    f"navigation → first graph SVG, {n} layers, {vp}",
                    first,
                    b_first,
                    t_first,
                ),
                versus(
                    f"browser.units.{n}.{vp}",
                    f"change units, click → settled, {n} layers, {vp}",
                    units,
                    b_redraw,
                    t_click,
                    note=f"server part {ms(row['units_server'])}; baseline's {ms(server[None]['redraw'])}",
                ),
                versus(
                    f"browser.add.{n}.{vp}",
                    f"Add layer, click → settled, {n} layers, {vp}",
                    add,
                    b_redraw,
                    t_click,
                    note=f"server part {ms(row['add_server'])}",
                ),
            ]
        for key, (stage, blocks, t_first, t_block) in REAL.items():
            first, block = stat(vp, key, "first_graph"), stat(vp, key, "block")
            figures += [
                versus(
                    f"browser.first.{key}.{vp}",
                    f"navigation → first graph SVG, {key} (folded), {vp}",
                    first,
                    b_first,
                    t_first,
                ),
                versus(
                    f"browser.block.{key}.{vp}",
                    f"open {stage} ({blocks} blocks), click → settled, {key}, {vp}",
                    block,
                    b_redraw,
                    t_block,
                ),
            ]
    notes.append(
        f"{args.trials} fresh page loads per app, size and viewport; per load {units_clicks} unit edits and "
        f"{add_clicks} Add "
        f"(baseline: {units_clicks} redraws); medians. The share link is Input (8,) → N × Dense(16); "
        "Add puts a Dense(16) after the selected (first) layer"
    )
    notes.append(
        "server part of a click = the same click sent by a websocket client to the same server (rerun + transfer, "
        "no drawing); the rest of click → settled is the browser's (deltas, React, Graphviz layout and transition, "
        "paint)"
    )
    if extra:
        notes.append("server options (what-if run): " + " ".join(extra))
    if errors:
        notes.append(f"{len(errors)} visits failed: " + " | ".join(errors)[:500])
    emit(args, "browser", figures, {"browser": curve}, notes)


if __name__ == "__main__":
    main()
