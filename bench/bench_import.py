"""`import netbuilder` in a fresh interpreter, minus the bare interpreter's start; and what it drags in.

Each sample is one fresh `python -c ...` process timed from spawn to exit; bare `python -c pass`,
`import numpy` and `import netbuilder` are interleaved, medians taken, and the bare start
subtracted. `import numpy` is the floor (netbuilder computes with it). Target: ≤ 150 ms.
`-X importtime` gives the heaviest modules; pandas must not be imported by `import netbuilder`.
Run alone: python bench/bench_import.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from _common import ROOT, cli, emit, figure, timer

RUNS = 12
HEAVY = ("pandas", "scipy", "streamlit", "matplotlib", "keras", "torch", "jax")
SNIPPETS = {"bare": "pass", "numpy": "import numpy", "netbuilder": "import netbuilder"}


def spawn(code: str) -> float:
    t0 = timer()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return timer() - t0


def importtime_top(n: int = 8) -> list[tuple[str, int]]:
    """The modules with the largest cumulative import time (µs) under `import netbuilder`."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import netbuilder"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2  # nesting is shown by two spaces a level
        if depth == 0 or name.strip().startswith("netbuilder."):  # top level, and netbuilder's own at any depth
            rows.append((name.strip(), int(cumulative)))
    return sorted(rows, key=lambda r: -r[1])[:n]


def main():
    args = cli(__doc__.splitlines()[0])
    for code in SNIPPETS.values():
        spawn(code)  # warm the file cache
    samples = {k: [] for k in SNIPPETS}
    for r in range(RUNS):
        order = list(SNIPPETS) if r % 2 == 0 else list(reversed(SNIPPETS))
        for k in order:
            samples[k].append(spawn(SNIPPETS[k]))
    med = {k: statistics.median(v) for k, v in samples.items()}
    net_nb, net_np = med["netbuilder"] - med["bare"], med["numpy"] - med["bare"]
    print("  fresh processes (median of %d): " % RUNS + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in med.items()))

    probe = "import sys, netbuilder; print(','.join(m for m in %r if m in sys.modules))" % (HEAVY,)
    heavy = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    top = importtime_top()
    figures = [
        figure(
            "import.netbuilder",
            f"`import netbuilder`, fresh process minus bare start (median of {RUNS})",
            net_nb,
            net_np,
            "`import numpy` (the floor)",
            "s",
            "≤ 150 ms",
            net_nb <= 0.150,
            note=f"bare interpreter {med['bare'] * 1e3:.0f} ms",
        ),
        figure(
            "import.pandas",
            "pandas imported by `import netbuilder`?",
            "yes" if "pandas" in heavy.split(",") else "no",
            "no",
            "expected",
            "",
            "no pandas",
            "pandas" not in heavy.split(","),
            ratio=None,
        ),
    ]
    notes = [
        "heavy modules present after `import netbuilder`: " + (heavy or "none of " + ", ".join(HEAVY)),
        "-X importtime, largest cumulative: " + ", ".join(f"{name} {us / 1e3:.1f} ms" for name, us in top),
    ]
    emit(args, "import", figures, {}, notes)


if __name__ == "__main__":
    main()
