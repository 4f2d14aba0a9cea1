"""BLAS threads under contention: an LSTM training step the budgets allow, NumPy's BLAS at 1 thread vs 2.

The issue: on the 2-core server, an allowed LSTM step took 0.25–2.6 s with OpenBLAS's 2 threads while other
visitors worked, against 0.11 s with 1. Here the step is Input((100, 32)) → LSTM(256) → Dense(10, softmax),
`train_on_batch` on a batch of 32 (SGD), timed step by step with the BLAS set by netbuilder.engine.blas
(ctypes, as the server would) to 2 threads (the default on 2 cores) and to 1, (a) alone and (b) while 1 or 2
other threads of the same process run `predict` of 2 × Dense(1024, relu) on batches of 256 without pause,
as other visitors' Forward runs do. The thread switch interval is the server's (1 ms, netbuilder/ui/state.py).
Configurations are sampled interleaved, round by round with a rotating order; medians and p95 of the
steps; the visitors' throughput (predicts per second) is measured in the same windows.
Run alone: python bench/bench_blas.py [--rounds N]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

from _common import emit, figure, fmt_value, percentile, timer

from netbuilder import LSTM, Dense, Input, Sequential
from netbuilder.engine.blas import blas_threads, find_blas, set_blas_threads
from netbuilder.engine.limits import MAX_WORK
from netbuilder.optimizers import SGD

STEPS, FEATURES, UNITS, BATCH = 100, 32, 256, 32
VISITOR_UNITS, VISITOR_BATCH = 1024, 256
THREADS = (2, 1)  # the default on 2 cores first: it is the baseline
VISITORS = (0, 1, 2)


def lstm_step():
    """One training step of the issue's model on one batch (train_on_batch refuses a step over the budgets)."""
    model = Sequential([Input((STEPS, FEATURES)), LSTM(UNITS), Dense(10, activation="softmax")], seed=0)
    model.compile(optimizer=SGD(0.01), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, STEPS, FEATURES)).astype(np.float32)
    y = rng.integers(0, 10, BATCH).astype(np.float32)
    return lambda: model.train_on_batch(x, y)


def visitor_predict():
    """Another visitor's matmul-heavy run: predict of 2 × Dense(1024, relu), batch 256."""
    model = Sequential(
        [Input((VISITOR_UNITS,)), Dense(VISITOR_UNITS, activation="relu"), Dense(VISITOR_UNITS, activation="relu")],
        seed=1,
    )
    x = np.random.default_rng(1).standard_normal((VISITOR_BATCH, VISITOR_UNITS)).astype(np.float32)
    return lambda: model.predict(x, verbose=0)


class Visitors:
    """`n` threads running `work` without pause until the block ends; counts their calls."""

    def __init__(self, n: int, work):
        self.n, self.work, self.counts = n, work, [0] * n  # a count per thread: no increment is lost to a race
        self.stop = threading.Event()

    @property
    def calls(self) -> int:
        return sum(self.counts)

    def _run(self, i: int):
        while not self.stop.is_set():
            self.work()
            self.counts[i] += 1

    def __enter__(self):
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.n)]
        for t in self.threads:
            t.start()
        self.t0 = timer()
        return self

    def __exit__(self, *exc):
        self.seconds = timer() - self.t0
        self.stop.set()
        for t in self.threads:
            t.join()


def timed(step) -> float:
    gc_was = gc.isenabled()
    gc.disable()  # as _common's samples: a collection in one step but not another is noise
    try:
        t0 = timer()
        step()
        return timer() - t0
    finally:
        if gc_was:
            gc.enable()


def run(step, visit, rounds: int, per_round: int) -> tuple[dict, dict]:
    """Per configuration (threads, visitors): every step's seconds, and the visitors' calls per second."""
    configs = [(t, v) for v in VISITORS for t in THREADS]
    times = {c: [] for c in configs}
    rates = {c: [] for c in configs}
    for r in range(rounds):
        for threads, visitors in configs[r % len(configs) :] + configs[: r % len(configs)]:
            set_blas_threads(threads)
            with Visitors(visitors, visit) as crowd:
                time.sleep(0.05)  # the visitors are in their loops before the first timed step
                times[threads, visitors] += [timed(step) for _ in range(per_round)]
            if visitors:
                rates[threads, visitors].append(crowd.calls / crowd.seconds)
    return times, rates


def summary(times: dict, rates: dict) -> dict:
    return {
        c: {
            "median": statistics.median(ts),
            "p95": percentile(ts, 95),
            "max": max(ts),
            "n": len(ts),
            "visitor_rate": statistics.median(rates[c]) if rates[c] else None,
        }
        for c, ts in times.items()
    }


def figures_from(s: dict) -> list[dict]:
    figs = []
    for visitors in VISITORS:
        one, two = s[1, visitors], s[2, visitors]
        where = (
            "alone" if not visitors else f"with {visitors} other visitor{'s' if visitors > 1 else ''} running predict"
        )
        target = "(the price of 1 thread when alone)" if not visitors else "≤ 1× (1 thread no slower)"
        for stat in ("median", "p95"):
            ratio = one[stat] / two[stat]
            figs.append(
                figure(
                    f"blas.lstm_step.{visitors}.{stat}",
                    f"LSTM(256) training step, batch 32, {where}: {stat}, BLAS 1 thread",
                    one[stat],
                    two[stat],
                    "BLAS 2 threads",
                    "s",
                    target,
                    None if not visitors else ratio <= 1,
                    note=f"{one['n']} steps each",
                )
            )
        if visitors:
            whose = "the other visitor's" if visitors == 1 else f"the {visitors} other visitors'"
            figs.append(
                figure(
                    f"blas.visitors.{visitors}",
                    f"{whose} predicts per second meanwhile, BLAS 1 thread",
                    one["visitor_rate"],
                    two["visitor_rate"],
                    "BLAS 2 threads",
                    "/s",
                    "≥ 1× (the others no slower)",
                    one["visitor_rate"] >= two["visitor_rate"],
                )
            )
    return figs


def table(s: dict) -> list[str]:
    lines = [
        "| other visitors | BLAS threads | median | p95 | max | visitors' predicts/s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for (threads, visitors), v in sorted(s.items(), key=lambda kv: (kv[0][1], -kv[0][0])):
        rate = "—" if v["visitor_rate"] is None else f"{v['visitor_rate']:.1f}"
        lines.append(
            f"| {visitors} | {threads} | {fmt_value(v['median'], 's')} | {fmt_value(v['p95'], 's')} | "
            f"{fmt_value(v['max'], 's')} | {rate} |"
        )
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, help="also write the figures as JSON (run_all.py uses it)")
    p.add_argument("--rounds", type=int, default=5, help="rounds over the 6 configurations (default 5)")
    p.add_argument("--per-round", type=int, default=3, help="timed steps per configuration and round (default 3)")
    args = p.parse_args()
    blas = find_blas()
    if blas is None:
        sys.exit("no settable BLAS under NumPy here: nothing to compare")
    sys.setswitchinterval(0.001)  # the server's (netbuilder/ui/state.py)
    before = blas_threads()
    step = lstm_step()
    visit = visitor_predict()
    for threads in THREADS:  # warm-up at each count: pools started, buffers allocated
        set_blas_threads(threads)
        for _ in range(2):
            step()
            visit()
    try:
        times, rates = run(step, visit, args.rounds, args.per_round)
    finally:
        set_blas_threads(before)
    s = summary(times, rates)
    notes = [
        f"BLAS: {blas.api} at {blas.library} (default {before} threads); "
        f"the step passed the engine's budget checks (work per run ≤ {MAX_WORK / 1e9:.0f} G); "
        f"{args.rounds} rounds × {args.per_round} steps per configuration",
        *table(s),
    ]
    emit(args, "blas", figures_from(s), {}, notes)


if __name__ == "__main__":
    main()
