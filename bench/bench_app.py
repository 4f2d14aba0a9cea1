"""The app's speed: one rerun of app.py (AppTest) for 1, 10, 50 layers, and a real server start.

1. `streamlit.testing.v1.AppTest.from_file("app.py")`: run once (warm), put a model of N layers into
   session state, run again (warm for that model), then time `at.run()`:
   - "rerun": the same model again (what a widget interaction without an edit costs);
   - "edit": a new ModelSpec each run (the seed changes), so no cache in the app or the spec hits.
   Target: 50 layers ≤ 300 ms.
2. `python -m streamlit run app.py` on a free loopback port (from the repo root, so with the repo's
   .streamlit/config.toml; `_live.Server`): time from spawn to `/_stcore/health` = "ok", then time from
   Chromium's navigation to the first Graphviz SVG on the page. Baseline: the same for a two-line app
   that only draws `st.graphviz_chart("digraph { a -> b }")`. Targets: each ≤ 3 s. The server is always
   stopped (finally). bench_browser.py measures the page in more detail (sizes, clicks, phone width).

The model goes where the app keeps it (`st.session_state.history`, an undo History); the
1/10/50-layer specs use the app's default (3, 2) input so its default input data stays valid.
Run alone: python bench/bench_app.py [--skip-server]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
from pathlib import Path

from _common import ROOT, cycle_layers, emit, figure, timer

from _live import Server, launch_chromium
from netbuilder.studio.history import History
from netbuilder.studio.spec import ModelSpec

APP = ROOT / "app.py"
SIZES = (1, 10, 50)
GRAPH_SVG = '[data-testid="stGraphVizChart"] svg'
APP_ERROR = '[data-testid="stException"]'
HELLO_APP = 'import streamlit as st\nst.graphviz_chart("digraph { a -> b }")\n'
TRIALS = 3


def model_of(n: int, seed: int = 0) -> ModelSpec:
    return ModelSpec(input_shape=(3, 2), layers=cycle_layers(n, units=16), seed=seed).validate()


# --- 1. AppTest reruns ------------------------------------------------------------------------
def install_model(at, spec: ModelSpec) -> None:
    """Put `spec` where the app keeps its model: a fresh undo history in session state."""
    at.session_state["history"] = History(spec)


def quiet(at) -> None:
    """at.run() without Streamlit's rich traceback on stdout when the app raises (it is collected instead)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        at.run()


def errors_of(at) -> list[str]:
    return [str(getattr(e, "message", "") or getattr(e, "value", ""))[:200] for e in at.exception]


def apptest_rerun(repeat: int = 7) -> tuple[list[dict], dict, list[str]]:
    from streamlit.testing.v1 import AppTest

    notes, curve = [], {"layers": [], "rerun": [], "edit": []}
    errors: set[str] = set()
    for n in SIZES:
        at = AppTest.from_file(str(APP), default_timeout=60)
        quiet(at)  # warm: imports, first-run state
        errors.update(errors_of(at))
        install_model(at, model_of(n))
        quiet(at)  # warm for this model (fills st.cache_data)
        errors.update(errors_of(at))
        samples = []
        for _ in range(repeat):
            t0 = timer()
            quiet(at)
            samples.append(timer() - t0)
        errors.update(errors_of(at))
        edits = []
        for k in range(repeat):  # a new model each time: every cache misses
            install_model(at, model_of(n, seed=100 + k))
            t0 = timer()
            quiet(at)
            edits.append(timer() - t0)
        errors.update(errors_of(at))
        curve["layers"].append(n)
        curve["rerun"].append(statistics.median(samples))
        curve["edit"].append(statistics.median(edits) if edits else None)
        print(
            f"  AppTest {n:3d} layers: rerun {statistics.median(samples) * 1e3:7.1f} ms (min {min(samples) * 1e3:.1f})"
            + (f", edit {statistics.median(edits) * 1e3:7.1f} ms (min {min(edits) * 1e3:.1f})" if edits else "")
        )
    if errors:
        notes.append(
            "app.py raised during AppTest runs (timings cover a partial page): " + " | ".join(sorted(errors))[:400]
        )
    ok = not errors
    i1, i50 = curve["layers"].index(1), curve["layers"].index(50)
    r50, e50 = curve["rerun"][i50], curve["edit"][i50]
    figures = [
        figure(
            "app.rerun.50",
            "AppTest rerun, 50-layer model (same model)",
            r50,
            curve["rerun"][i1],
            "1-layer model",
            "s",
            "≤ 300 ms",
            (r50 <= 0.300) if ok else None,
            "" if ok else "app error: see notes",
        ),
        figure(
            "app.edit.50",
            "AppTest rerun after an edit, 50-layer model (caches miss)",
            e50,
            curve["edit"][i1],
            "1-layer model",
            "s",
            "≤ 300 ms",
            (e50 is not None and e50 <= 0.300) if ok else None,
            "" if ok else "app error: see notes",
        ),
    ]
    return figures, curve, notes


# --- 2. real server + Chromium ----------------------------------------------------------------
def first_svg(browser, port: int, timeout_s: float = 20) -> tuple[float | None, str]:
    """Seconds from navigation to the first Graphviz SVG, or (None, why)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        t0 = timer()
        page.goto(f"http://127.0.0.1:{port}/", wait_until="commit")
        page.wait_for_selector(f"{GRAPH_SVG}, {APP_ERROR}", state="attached", timeout=timeout_s * 1000)
        elapsed = timer() - t0
        if page.query_selector(GRAPH_SVG) is None:
            return None, "the app showed an exception before any graph"
        return elapsed, ""
    except Exception as e:  # noqa: BLE001 - a timeout is a measurement result here
        return None, f"no graph SVG within {timeout_s:.0f} s ({type(e).__name__})"
    finally:
        context.close()


def server_start() -> tuple[list[dict], list[str]]:
    from playwright.sync_api import sync_playwright

    notes = []
    results = {"app": {"health": [], "svg": []}, "hello": {"health": [], "svg": []}}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        hello = Path(tmp) / "hello_graph.py"
        hello.write_text(HELLO_APP)
        t0 = timer()
        browser = launch_chromium(pw)
        notes.append(f"Chromium launch {timer() - t0:.2f} s (not counted)")
        try:
            for trial in range(TRIALS):
                for which, path in (
                    (("app", APP), ("hello", hello)) if trial % 2 == 0 else (("hello", hello), ("app", APP))
                ):
                    server = Server(path, Path(tmp) / f"{which}-{trial}.log")
                    try:
                        health = server.start(timeout=60).health_s
                        svg, why = first_svg(browser, server.port)
                    finally:
                        server.stop()
                    results[which]["health"].append(health)
                    results[which]["svg"].append(svg)
                    print(
                        f"  server {which:5s} trial {trial}: health {health:.2f} s, first graph SVG "
                        + (f"{svg:.2f} s" if svg is not None else f"n/a: {why}")
                    )
                    if svg is None:
                        notes.append(f"{which}: {why}")
        finally:
            browser.close()

    def med(xs):
        xs = [x for x in xs if x is not None]
        return statistics.median(xs) if len(xs) == len(results["app"]["health"]) else None

    h_app, h_hello = med(results["app"]["health"]), med(results["hello"]["health"])
    s_app, s_hello = med(results["app"]["svg"]), med(results["hello"]["svg"])
    figures = [
        figure(
            "app.server.health",
            f"server spawn → /_stcore/health ok (median of {TRIALS})",
            h_app,
            h_hello,
            "two-line graphviz app",
            "s",
            "≤ 3 s",
            h_app is not None and h_app <= 3.0,
        ),
        figure(
            "app.server.svg",
            f"Chromium navigation → first graph SVG (median of {TRIALS})",
            s_app,
            s_hello,
            "two-line graphviz app",
            "s",
            "≤ 3 s",
            None if s_app is None else s_app <= 3.0,
            "" if s_app is not None else "no graph appeared: see notes",
        ),
    ]
    return figures, notes


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path)
    p.add_argument("--skip-server", action="store_true", help="only the AppTest reruns")
    args = p.parse_args()
    figures, curve, notes = apptest_rerun()
    if not args.skip_server:
        f2, n2 = server_start()
        figures += f2
        notes += n2
    emit(args, "app", figures, {"app": curve}, notes)


if __name__ == "__main__":
    main()
