"""Shared by the bench scripts: timeit-style measurement, figure records, machine facts, JSON output.

Every figure is a dict that run_all.py turns into one row of results.md:
    {"id", "figure", "ours", "baseline", "baseline_name", "unit", "ratio", "target", "met", "note"}
`ratio` is always ours / baseline in the figure's unit; `target` says in words which way is good.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

timer = time.perf_counter


# --- measuring --------------------------------------------------------------------------------
def _autorange(fn, min_time: float) -> int:
    """Calls per sample so that one sample lasts at least `min_time` seconds (as timeit.autorange)."""
    number = 1
    while True:
        t0 = timer()
        for _ in range(number):
            fn()
        if timer() - t0 >= min_time or number >= 10**7:
            return number
        number *= 2 if timer() - t0 > min_time / 10 else 10


def _sample(fn, number: int) -> float:
    gc_was = gc.isenabled()
    gc.disable()  # as timeit does: a collection in one sample but not another is noise
    try:
        t0 = timer()
        for _ in range(number):
            fn()
        return (timer() - t0) / number
    finally:
        if gc_was:
            gc.enable()


def stats(samples: list[float], number: int) -> dict:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "repeat": len(samples),
        "number": number,
    }


def compare(fns: dict, repeat: int = 15, min_time: float = 0.02, warmup: int = 3) -> dict:
    """Time several callables fairly: warm each up, then interleave their samples round by round
    (rotating the order), so drift in CPU clock or load hits all of them alike.

    Returns {name: {"median", "min", "max", "repeat", "number"}} in seconds per call.
    """
    numbers = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        numbers[name] = _autorange(fn, min_time)
    samples = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeat):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            samples[name].append(_sample(fns[name], numbers[name]))
    return {name: stats(samples[name], numbers[name]) for name in fns}


def measure(fn, repeat: int = 15, min_time: float = 0.02, warmup: int = 3) -> dict:
    return compare({"x": fn}, repeat, min_time, warmup)["x"]


def percentile(values, p: float) -> float | None:
    """The p-th percentile (0..100) by linear interpolation between order statistics (numpy's default)."""
    xs = sorted(values)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


# --- figures ----------------------------------------------------------------------------------
def figure(id, figure, ours, baseline, baseline_name, unit, target, met, note="", ratio=None) -> dict:
    if ratio is None and isinstance(ours, (int, float)) and isinstance(baseline, (int, float)) and baseline:
        ratio = ours / baseline
    return {
        "id": id,
        "figure": figure,
        "ours": ours,
        "baseline": baseline,
        "baseline_name": baseline_name,
        "unit": unit,
        "ratio": ratio,
        "target": target,
        "met": met,
        "note": note,
    }


def fmt_value(value, unit: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if unit == "s":
        for scale, suffix in ((1, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
            if abs(value) >= scale or scale == 1e-9:
                return f"{value / scale:.3g} {suffix}"
    if unit == "B":
        return f"{value / 2**20:,.1f} MiB"
    if unit == "GFLOP/s":
        return f"{value:.1f} GFLOP/s"
    return f"{value:.4g} {unit}".strip()


def fmt_ratio(ratio) -> str:
    """ours/baseline; below 0.5 also as 1/N (N = how many times ours fits in the baseline)."""
    if ratio is None:
        return "n/a"
    if ratio < 0.5:
        return f"{ratio:.3g}× (= 1/{1 / ratio:.3g})"
    return f"{ratio:.3g}×"


def fmt_met(met) -> str:
    return {True: "yes", False: "**NO**", None: "—"}[met]


def print_figures(figures: list[dict]) -> None:
    for f in figures:
        print(
            f"  {f['figure']}: ours {fmt_value(f['ours'], f['unit'])} | {f['baseline_name']} "
            f"{fmt_value(f['baseline'], f['unit'])} | ratio {fmt_ratio(f['ratio'])} | target {f['target']} "
            f"→ {fmt_met(f['met']).strip('*')}" + (f"  ({f['note']})" if f["note"] else "")
        )


def cli(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", type=Path, help="also write the figures and curves here (run_all.py uses it)")
    return p.parse_args()


def emit(args, name: str, figures: list[dict], curves: dict | None = None, notes: list[str] | None = None) -> None:
    """Print the figures; write them (and curves for the plot) as JSON when --json was given."""
    print(f"== {name}")
    print_figures(figures)
    for n in notes or []:
        print(f"  note: {n}")
    if args.json:
        args.json.write_text(
            json.dumps({"name": name, "figures": figures, "curves": curves or {}, "notes": notes or []}, indent=1)
        )


# --- machine ----------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            return ", ".join(
                f"{i['internal_api']} {i.get('version', '')} ({i.get('architecture', '?')}), {i['num_threads']} threads"
                for i in info
            )
    except ImportError:
        pass
    env = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    return f"unknown (threadpoolctl not installed; env {env or 'unset'})"


def cpu_busy(interval: float = 1.0) -> float:
    """Fraction of all CPUs busy over `interval` seconds (from /proc/stat); the caller is asleep meanwhile."""

    def snap():
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    try:
        t1, i1 = snap()
        time.sleep(interval)
        t2, i2 = snap()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return 1 - (i2 - i1) / max(1, t2 - t1)


def cycle_layers(n: int, units: int) -> tuple:
    """n layers cycling Dense(relu), tanh, Dense, Flatten, relu: every kind, shapes that keep fitting."""
    from netbuilder.studio.spec import LayerSpec

    cycle = (
        dict(kind="Dense", units=units, activation="relu"),
        dict(kind="Activation", activation="tanh"),
        dict(kind="Dense", units=units),
        dict(kind="Flatten"),
        dict(kind="Activation", activation="relu"),
    )

    def make(i: int) -> LayerSpec:
        settings = dict(cycle[i % len(cycle)])
        return LayerSpec.make(i, settings.pop("kind"), **settings)

    return tuple(make(i) for i in range(n))
