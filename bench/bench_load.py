"""A shared server under 10 worst-case and 10 light visitors at once: memory, light clicks, health (issue 9).

A real `streamlit run app.py` on loopback (the repo's .streamlit/config.toml), driven over Streamlit's
websocket protocol (`_live.WsSession`: the BackMsg a browser sends for a click, every ForwardMsg read
back until the run is over). Why not 20 Chromium pages: on this 2-core machine each page's renderer
needs ~100–300 MB and burns CPU drawing every rerun (issue 11 measured 0.25–3 s of browser work per
click), so 20 of them would take the very CPUs the server needs and the benchmark would measure the
browser's contention, not the server's. The server's work per click is the same either way; the
browser's drawing is measured separately by bench_browser.py.

Visitors (each in its own thread; light and worst-case visitors in two separate client processes, so
one kind's client work cannot delay the other's clock; health is polled from a thread of a third):
- worst-case (cycling the recipes below): open a share link as heavy as the budgets allow, then click
  things that rerun without pause — the weight dice and the tabs (Build ↔ the recipe's heavy tab);
  A: Dense(u) on 4096 inputs at the weight budget (64 MiB; every dice click builds 64 MiB afresh);
  B: the largest input sample, (250000, 4) given as `random:1`, → Dense(u): one predict at the run-memory budget;
  C: (1024, 1) → Dense(1024) → k × gelu: one run at the work budget;
  D: Dense(u) on 1224 inputs: Keras code export at the export budget (≈ 24 M characters).
  (u and k: the largest the engine's cost model accepts, found by bisection, so they follow the budgets.)
- light: the seed model; change the selected layer's units (16 ↔ 17), 1–2 s apart (0.5–1 s when
  alone), timing click → settled (the server's last message of that run).

Phases, one server: warm-up; **idle** (one light visitor alone: the baseline); **light only** (10 light
visitors); **load** (10 worst-case + 10 light, --seconds); then every tab is closed and the server's RSS
watched for disconnectedSessionTTL + 5 s. RSS = VmRSS of the server's process tree (/proc), every 0.1 s.
Targets (reported, not asserted): peak RSS ≤ 2.5 GB, the server process alone ≤ 400 MB (heavy runs are in its
worker processes); light p95 under load ≤ 2× idle; health p99 ≤ 100 ms;
RSS after the TTL ≤ RSS before the worst-case visitors came + the bounds of the caches all sessions share
(studio.models CACHE_BYTES of weights + server.maxCacheDataSize of st.cache_data; they outlive tabs by design).
Run alone: python bench/bench_load.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, cpu_busy, emit, figure, percentile

from _live import Server, WsSession, config_bytes, config_ttl, health, rss_of, server_options, tree_pids

GB = 1e9
RSS_TARGET = 2.5 * GB
THINK_S = (1.0, 2.0)  # a light visitor's pause between two edits
IDLE_THINK_S = (0.5, 1.0)  # alone on the server, a shorter pause changes nothing but the number of samples
WORST_GAP_S = 0.1  # a worst-case visitor clicks again this soon after a run is over


# --- the recipes --------------------------------------------------------------------------------------
def largest(fits, lo: int, hi: int) -> int:
    """The largest n in [lo, hi] with fits(n) (fits is monotone: true up to some n, false beyond)."""
    assert fits(lo), "even the smallest recipe is over a budget"
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def recipes() -> dict:
    """name -> (spec, input text or None, heavy tab, what it is): each as heavy as the engine's budgets allow,
    found with the engine's own cost model (so the recipes follow the budgets when they change)."""
    from netbuilder.engine import limits
    from netbuilder.engine.budget import public, using
    from netbuilder.studio.spec import LayerSpec, ModelSpec
    from netbuilder.views import export

    def dense(shape, units, **settings):
        return ModelSpec(shape, (LayerSpec.make(0, "Dense", units=units, **settings),), 0)

    def runs(spec) -> bool:
        with using(public()):  # the app's budgets, as a visitor's run is checked
            return spec.analysis.ok and spec.analysis.cost.budget_problem() is None

    def exportable(spec) -> bool:
        chars = spec.analysis.cost.params * export.CHARS_PER_WEIGHT + getattr(export, "_HEADER_CHARS", 20_000)
        return runs(spec) and chars <= public().export_chars

    def gelus(k):
        return ModelSpec(
            (1024, 1),
            (LayerSpec.make(0, "Dense", units=1024),)
            + tuple(LayerSpec.make(i + 1, "Activation", activation="gelu") for i in range(k)),
            0,
        )

    wide = (public().data_elements // 4, 4)  # the largest sample the data budget allows, as `random:1`
    a = largest(lambda u: runs(dense((4096,), u)), 1, limits.MAX_UNITS)
    b = largest(lambda u: runs(dense(wide, u)), 1, limits.MAX_UNITS)
    c = largest(lambda k: runs(gelus(k)), 1, limits.MAX_LAYERS - 1)
    d = largest(lambda u: exportable(dense((1224,), u)), 1, limits.MAX_UNITS)
    return {
        "A": (dense((4096,), a), None, "Forward pass", f"weights at the budget: (4096,) → Dense({a})"),
        "B": (
            dense(wide, b),
            "random:1",
            "Forward pass",
            f"run memory at the budget: {wide} as `random:1` → Dense({b})",
        ),
        "C": (gelus(c), "random:1", "Forward pass", f"work at the budget: (1024, 1) → Dense(1024) → {c} × gelu"),
        "D": (dense((1224,), d), None, "Export", f"Keras code export at the budget: (1224,) → Dense({d})"),
    }


def budget_use(spec, text) -> str:
    """How much of each budget a recipe takes (from the engine's own cost model)."""
    from netbuilder.engine.budget import public
    from netbuilder.views.export import CHARS_PER_WEIGHT

    cost, budget = spec.analysis.cost, public()
    parts = {
        "weights": cost.weight_bytes / budget.weight_bytes,
        "run memory": cost.predict_bytes(1) / budget.run_bytes,
        "work": cost.run_work(1) / budget.work,
        "code export": cost.params * CHARS_PER_WEIGHT / budget.export_chars,
    }
    return (
        "uses "
        + ", ".join(
            f"{k} {v:.0%}" if v <= 1 else f"{k} {v:.0f}× (refused, as it should be)"
            for k, v in parts.items()
            if v >= 0.05
        )
        + " of the budget"
    )


def link(spec, text) -> str:
    from netbuilder.studio import share

    return "model=" + share.encode(spec, text)


# --- the client processes (--role) -------------------------------------------------------------------
def wait_until(t: float) -> None:
    while (left := t - time.time()) > 0:
        time.sleep(min(left, 0.05))


def role_light(port: int, sessions: int, start_at: float, stop_at: float, out: Path, seed: int) -> None:
    """`sessions` seed-model visitors changing units; every click's time to settled."""
    think = IDLE_THINK_S if sessions == 1 else THINK_S
    records, errors, lock = [], [], threading.Lock()

    def visitor(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        try:
            s = WsSession(port)
        except Exception as e:  # noqa: BLE001 - a refused connection is a result
            with lock:
                errors.append(f"connect: {type(e).__name__}: {e}"[:200])
            return
        try:
            s.open()
            wait_until(start_at + rng.uniform(0, think[1]))  # spread the first clicks
            value = 16
            while time.time() < stop_at:
                value = 17 if value == 16 else 16
                t_sent = time.time()
                try:
                    run = s.set_int("units_0", value)
                except Exception as e:  # noqa: BLE001 - a timeout is a measurement result here
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}"[:200])
                    break
                with lock:
                    records.append({"t": t_sent, "s": run.seconds, "status": run.status, "exc": run.exceptions[:1]})
                time.sleep(rng.uniform(*think))
        finally:
            s.close()

    threads = [threading.Thread(target=visitor, args=(k,)) for k in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.write_text(json.dumps({"records": records, "errors": errors}))


def role_worst(port: int, sessions: int, start_at: float, stop_at: float, out: Path) -> None:
    """`sessions` worst-case visitors cycling the recipes; every tab closed at `stop_at` (mid-run or not)."""
    book = recipes()
    names = list(book)
    results, lock = [], threading.Lock()
    opened: list[WsSession] = []

    def visitor(k: int) -> None:
        name = names[k % len(names)]
        spec, text, heavy, _ = book[name]
        r = {"recipe": name, "open": None, "actions": [], "alerts": [], "exceptions": [], "errors": []}
        with lock:
            results.append(r)
        wait_until(start_at)
        try:
            s = WsSession(port, link(spec, text))
        except Exception as e:  # noqa: BLE001
            r["errors"].append(f"connect: {type(e).__name__}: {e}"[:200])
            return
        with lock:
            opened.append(s)
        plan = [("tab", heavy), ("click", "random_seed"), ("tab", "Build"), ("click", "random_seed")]
        try:
            t_open = time.time()
            run = s.open()
            r["open"] = run.seconds
            r["actions"].append(["open", run.seconds, run.bytes, t_open])
            r["alerts"] += run.alerts
            r["exceptions"] += run.exceptions
            i = 0
            while time.time() < stop_at:
                what, arg = plan[i % len(plan)]
                t_action = time.time()
                run = s.tab("page", arg) if what == "tab" else s.click(arg)
                r["actions"].append([f"{what} {arg}", run.seconds, run.bytes, t_action])
                r["alerts"] += [a for a in run.alerts if a not in r["alerts"]]
                r["exceptions"] += run.exceptions
                i += 1
                time.sleep(WORST_GAP_S)
        except Exception as e:  # noqa: BLE001 - the tab closed mid-run at stop_at, or a timeout
            if time.time() < stop_at:
                r["errors"].append(f"{type(e).__name__}: {e}"[:200])

    threads = [threading.Thread(target=visitor, args=(k,), daemon=True) for k in range(sessions)]
    for t in threads:
        t.start()
    wait_until(stop_at)
    with lock:
        for s in opened:
            s.close()  # the tabs are closed, mid-run or not
    closed_at = time.time()
    for t in threads:
        t.join(timeout=30)
    out.write_text(json.dumps({"results": results, "closed_at": closed_at}))


def deploy_env() -> dict[str, str]:
    """The Dockerfile's ENV settings (the allocator's, e.g.): the server is measured as it is deployed."""
    pairs = [
        word.split("=", 1)
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("ENV ")
        for word in line.split()[1:]
    ]
    return {k: v for k, v in pairs}


def spawn_role(
    role: str, port: int, sessions: int, start_at: float, stop_at: float, out: Path, seed: int = 0
) -> subprocess.Popen:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--role",
        role,
        "--port",
        str(port),
        "--sessions",
        str(sessions),
        "--start-at",
        repr(start_at),
        "--stop-at",
        repr(stop_at),
        "--out",
        str(out),
        "--seed",
        str(seed),
    ]
    return subprocess.Popen(cmd, cwd=ROOT)


# --- the watchers (threads of the orchestrating process) -----------------------------------------------
class Watch:
    """RSS of the server tree and /_stcore/health latency, sampled every `every` seconds with wall times."""

    def __init__(self, server: Server, every: float = 0.1):
        self.server, self.every = server, every
        self.rss: list[tuple[float, int]] = []  # the whole tree: the server and its worker processes
        self.own: list[tuple[float, int]] = []  # the server process alone
        self.health: list[tuple[float, float, bool]] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._rss_loop, daemon=True),
            threading.Thread(target=self._health_loop, daemon=True),
        ]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)

    def _rss_loop(self) -> None:
        pids, refreshed = [], 0.0
        while not self._stop.is_set():
            now = time.time()
            if now - refreshed > 1.0:  # the tree changes rarely (a `dot` child); scanning /proc costs a few ms
                pids, refreshed = tree_pids(self.server.proc.pid), now
            self.rss.append((now, sum(rss_of(p) for p in pids)))
            self.own.append((now, rss_of(self.server.proc.pid)))
            self._stop.wait(self.every)

    def _health_loop(self) -> None:
        """One probe every `every` s on its own thread, whatever the earlier probes are waiting for: a server that
        stalls for 5 s fails every probe of those 5 s (as a load balancer's checks do), not just one."""
        lock, outstanding = threading.Lock(), [0]

        def probe(t: float) -> None:
            ok, seconds = health(self.server.port, timeout=10)
            with lock:
                self.health.append((t, seconds if ok else max(seconds, 10.0), ok))
                outstanding[0] -= 1

        tick = time.time()
        while not self._stop.is_set():
            with lock:
                if outstanding[0] < 200:
                    outstanding[0] += 1
                    threading.Thread(target=probe, args=(tick,), daemon=True).start()
            tick += self.every
            self._stop.wait(max(0.0, tick - time.time()))

    def rss_in(self, t0: float, t1: float, series: str = "rss") -> list[int]:
        return [v for t, v in getattr(self, series) if t0 <= t <= t1]

    def health_in(self, t0: float, t1: float) -> list[tuple[float, bool]]:
        return [(s, ok) for t, s, ok in self.health if t0 <= t <= t1]


# --- orchestration -----------------------------------------------------------------------------------------
def light_phase(
    server: Server, sessions: int, seconds: float, tmp: Path, tag: str, seed: int
) -> tuple[dict, float, float]:
    start_at = time.time() + 4.0  # time for the client process to import and open its sessions
    stop_at = start_at + seconds
    out = tmp / f"light-{tag}.json"
    proc = spawn_role("light", server.port, sessions, start_at, stop_at, out, seed)
    proc.wait(timeout=seconds + 300)
    return json.loads(out.read_text()), start_at, stop_at


def warm_up(server: Server) -> None:
    """Imports and first-run caches, with the seed model: every page once."""
    s = WsSession(server.port)
    try:
        run = s.open()
        for tab in s.tabs.get("page", [])[1:] + ["Build"]:
            s.tab("page", tab)
        s.set_int("units_0", 17)
        s.set_int("units_0", 16)
        assert run.status == 0 and not run.exceptions, run
    finally:
        s.close()


def summarize(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path)
    p.add_argument("--seconds", type=float, default=60, help="length of the load phase (default 60)")
    p.add_argument("--light", type=int, default=10)
    p.add_argument("--worst", type=int, default=10)
    p.add_argument("--idle-seconds", type=float, default=25)
    p.add_argument(
        "--server-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Streamlit option for the server, e.g. runner.postScriptGC=false (what-if runs)",
    )
    p.add_argument("--role", choices=("light", "worst"), help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--sessions", type=int, help=argparse.SUPPRESS)
    p.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    p.add_argument("--stop-at", type=float, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.role == "light":
        return role_light(args.port, args.sessions, args.start_at, args.stop_at, args.out, args.seed)
    if args.role == "worst":
        return role_worst(args.port, args.sessions, args.start_at, args.stop_at, args.out)

    book = recipes()
    notes = [
        "clients speak Streamlit's websocket protocol (no browser): 20 Chromium pages would compete with the server "
        "for the 2 cores; bench_browser.py measures drawing"
    ]
    for name, (spec, text, heavy, what) in book.items():
        notes.append(f"recipe {name}: {what}; heavy tab {heavy}; {budget_use(spec, text)}")
    ttl = config_ttl()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        extra = server_options(args.server_option)
        if extra:
            notes.append("server options (what-if run): " + " ".join(extra))
        env = deploy_env()
        notes.append("server environment as the Dockerfile sets it: " + " ".join(f"{k}={v}" for k, v in env.items()))
        server = Server(ROOT / "app.py", tmp / "server.log", extra, env=env).start()
        try:
            with Watch(server) as watch:
                warm_up(server)
                print(f"  server up in {server.health_s:.2f} s, warm; RSS {server.rss() / 2**20:,.0f} MiB")
                idle, i0, i1 = light_phase(server, 1, args.idle_seconds, tmp, "idle", seed=1)
                print(f"  idle: {len(idle['records'])} clicks by one light visitor alone")
                light_only, l0, l1 = light_phase(server, args.light, min(30.0, args.seconds / 2), tmp, "only", seed=2)
                print(f"  light only: {len(light_only['records'])} clicks by {args.light} light visitors")
                time.sleep(2.0)
                before_t = time.time()
                rss_before = statistics.median(watch.rss_in(before_t - 2.0, before_t))
                start_at = time.time() + 4.0
                stop_at = start_at + args.seconds
                light_out, worst_out = tmp / "light-load.json", tmp / "worst.json"
                procs = [
                    spawn_role("light", server.port, args.light, start_at, stop_at, light_out, 3),
                    spawn_role("worst", server.port, args.worst, start_at, stop_at, worst_out),
                ]
                for proc in procs:
                    proc.wait(timeout=args.seconds + 300)
                loaded, worst = json.loads(light_out.read_text()), json.loads(worst_out.read_text())
                closed_at = worst["closed_at"]
                print(
                    f"  load: {len(loaded['records'])} light clicks, "
                    f"{sum(len(r['actions']) - 1 for r in worst['results'] if r['actions'])} "
                    "worst-case clicks after the opens; tabs closed"
                )
                settle_until = closed_at + ttl + 5.0
                while time.time() < settle_until:
                    time.sleep(0.2)
                time.sleep(0.5)
                rss_after = statistics.median(watch.rss_in(settle_until - 2.0, settle_until))
                rss_peak_load = max(watch.rss_in(start_at, closed_at + 1.0), default=0)
                own_peak_load = max(watch.rss_in(start_at, closed_at + 1.0, "own"), default=0)
                rss_peak_all = max(v for _, v in watch.rss)
                rss_at_close = max(watch.rss_in(closed_at - 1.0, closed_at + 1.0), default=0)
                rss_at_close_1 = statistics.median(watch.rss_in(closed_at + 1.0, closed_at + 2.0) or [rss_at_close])
                # when did RSS fall to (and stay at) its final level?
                tail = [(t, v) for t, v in watch.rss if t >= closed_at]
                freed_s = next(
                    (t - closed_at for t, v in tail if all(w <= rss_after * 1.05 for u, w in tail if u >= t)), None
                )
                health_idle = watch.health_in(i0, i1)
                health_load = watch.health_in(start_at, stop_at)
        finally:
            server.stop()
    busy_note = f"CPU busy just after the run (other processes included): {cpu_busy(0.5):.0%}"

    def ok_seconds(data):
        return [r["s"] for r in data["records"] if r["status"] == 0]

    s_idle, s_only, s_load = (summarize(ok_seconds(d)) for d in (idle, light_only, loaded))
    h_idle = summarize([s for s, _ in health_idle])
    h_load = summarize([s for s, _ in health_load])
    h_fail = sum(1 for _, ok in health_load if not ok)
    for label, s in (
        ("idle (1 visitor)", s_idle),
        (f"{args.light} light only", s_only),
        (f"load ({args.worst} + {args.light})", s_load),
    ):
        print(
            f"  light click → settled, {label}: n={s['n']} p50 {s['p50'] * 1e3:.0f} ms, p95 {s['p95'] * 1e3:.0f} ms, "
            f"max {s['max'] * 1e3:.0f} ms"
        )
    print(
        f"  health: idle p99 {h_idle['p99'] * 1e3:.0f} ms (n={h_idle['n']}), load p99 {h_load['p99'] * 1e3:.0f} ms "
        f"(n={h_load['n']}, max {h_load['max'] * 1e3:.0f} ms, {h_fail} failed)"
    )
    print(
        f"  RSS: before {rss_before / 2**20:,.0f} MiB, peak under load {rss_peak_load / 2**20:,.0f} MiB, at close "
        f"{rss_at_close / 2**20:,.0f} MiB, {ttl:.0f}+5 s after close {rss_after / 2**20:,.0f} MiB"
    )

    from netbuilder.studio.models import CACHE_BYTES

    cache_data = config_bytes("server", "maxCacheDataSize", 0)
    shared = CACHE_BYTES + cache_data  # caches every session shares, bounded by design: they outlive the tabs

    errors = loaded["errors"] + [e for r in worst["results"] for e in r["errors"]]
    exceptions = [e for r in worst["results"] for e in r["exceptions"]] + [
        x for r in loaded["records"] for x in r["exc"]
    ]
    by_recipe = {}
    for r in worst["results"]:
        d = by_recipe.setdefault(r["recipe"], {"sessions": 0, "opens": [], "actions": {}})
        d["sessions"] += 1
        if r["open"] is not None:
            d["opens"].append(r["open"])
        for what, seconds, _, _ in r["actions"]:
            if what != "open":
                d["actions"].setdefault(what, []).append(seconds)
    for name, d in by_recipe.items():
        acts = "; ".join(
            f"{what} ×{len(v)} median {statistics.median(v):.2f} s max {max(v):.2f} s"
            for what, v in d["actions"].items()
        )
        opens = f"open median {statistics.median(d['opens']):.2f} s" if d["opens"] else "never opened"
        notes.append(f"worst-case {name} ({d['sessions']} visitors): {opens}; {acts}")
    alerts = sorted({a[:160] for r in worst["results"] for a in r["alerts"]})
    if alerts:
        notes.append("messages the worst-case visitors saw: " + " | ".join(alerts)[:600])
    notes.append(
        f"light click → settled: idle (1 visitor) p50 {s_idle['p50'] * 1e3:.0f} / "
        f"p95 {s_idle['p95'] * 1e3:.0f} ms (n={s_idle['n']}); "
        f"{args.light} light only p50 {s_only['p50'] * 1e3:.0f} / p95 {s_only['p95'] * 1e3:.0f} ms (n={s_only['n']}); "
        f"under load p50 {s_load['p50'] * 1e3:.0f} / p95 {s_load['p95'] * 1e3:.0f} / "
        f"max {s_load['max'] * 1e3:.0f} ms (n={s_load['n']})"
    )
    notes.append(
        f"health under load: n={h_load['n']}, p50 {h_load['p50'] * 1e3:.0f} ms, p99 {h_load['p99'] * 1e3:.0f} ms, "
        f"max {h_load['max'] * 1e3:.0f} ms, {h_fail} not ok (counted as ≥ 10 s)"
    )
    notes.append(
        f"the server process alone peaked at {own_peak_load / 2**20:,.0f} MiB under load; its worker processes "
        f"(studio.workers) make up the rest of the tree's RSS"
    )
    notes.append(
        f"RSS before the worst-case visitors {rss_before / 2**20:,.0f} MiB; peak {rss_peak_load / 2**20:,.0f} MiB "
        f"(whole run {rss_peak_all / 2**20:,.0f} MiB); at close {rss_at_close / 2**20:,.0f} MiB; "
        f"{ttl:.0f} s TTL + 5 s later {rss_after / 2**20:,.0f} MiB"
        + (f" (reached {freed_s:.1f} s after the close)" if freed_s is not None else "")
    )
    if errors:
        notes.append(f"{len(errors)} client errors (timeouts, refused connections): " + " | ".join(errors)[:400])
    if exceptions:
        notes.append(f"{len(exceptions)} exception boxes: " + " | ".join(sorted(set(exceptions)))[:400])
    notes.append(busy_note)

    ok = not exceptions
    figures = [
        figure(
            "load.rss_peak",
            f"server RSS peak, {args.worst} worst-case + {args.light} light visitors ({args.seconds:.0f} s)",
            rss_peak_load,
            rss_before,
            "RSS before the worst-case visitors",
            "B",
            "≤ 2.5 GB",
            rss_peak_load <= RSS_TARGET,
        ),
        figure(
            "load.server_rss_peak",
            "the server process's own RSS peak under load (its workers apart)",
            own_peak_load,
            rss_peak_load,
            "the whole tree's peak (server and workers)",
            "B",
            "≤ 400 MB",
            own_peak_load <= 400e6,
        ),
        figure(
            "load.light_p95",
            "light visitor: change units, click → settled, p95 under load",
            s_load["p95"],
            s_idle["p95"],
            "p95 with the server idle",
            "s",
            "≤ 2× idle",
            s_load["p95"] <= 2 * s_idle["p95"] if ok else None,
        ),
        figure(
            "load.light_p50",
            "light visitor: change units, click → settled, p50 under load",
            s_load["p50"],
            s_idle["p50"],
            "p50 with the server idle",
            "s",
            "(informative)",
            None,
        ),
        figure(
            "load.light_only_p95",
            f"light visitor p95, {args.light} light visitors and no worst-case",
            s_only["p95"],
            s_idle["p95"],
            "p95 with the server idle",
            "s",
            "(informative)",
            None,
        ),
        figure(
            "load.health_p99",
            "/_stcore/health latency p99 under load (polled every 0.1 s)",
            h_load["p99"],
            h_idle["p99"],
            "p99 with the server idle",
            "s",
            "≤ 100 ms",
            h_load["p99"] <= 0.100 and h_fail == 0,
        ),
        figure(
            "load.rss_after_close",
            f"RSS kept {ttl:.0f} s (TTL) + 5 s after the worst-case tabs closed, minus before they opened",
            rss_after - rss_before,
            shared,
            "shared caches' bounds (weights + st.cache_data)",
            "B",
            "≤ the shared caches' bounds",
            rss_after - rss_before <= shared,
            note=f"at close + 1 s: {(rss_at_close_1 - rss_before) / 2**20:,.0f} MiB",
        ),
    ]
    emit(args, "load", figures, {}, notes)


if __name__ == "__main__":
    main()
