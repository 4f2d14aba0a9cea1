"""Budgets: what one run may allocate and do, known from shapes before it starts.

Used as a library, netbuilder has no budget, as Keras has none: `current()` is UNBOUNDED unless the caller runs its
work inside `using(budget)`. The app runs each visitor's work under `public()`, the budgets that let one small server
serve many visitors at once; a deployment changes them with the environment variables in PUBLIC_ENVIRONMENT (the
README's limits table). Only what allocates or runs answers to a budget (building weights, predict and forward,
training, export with weights); what is arithmetic on shapes (analysis, summary, the graph, JSON) never does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from functools import cache

FLOAT32 = 4
# work units (multiply-adds, weighted elementwise operations) in a second of this server
WORK_PER_SECOND = 40_000_000_000
MICROSECOND = WORK_PER_SECOND // 1_000_000  # (measured: bench/bench_training_cost.py)


@dataclass(frozen=True)
class Budget:
    """The most one run may hold and do; None: no bound."""

    weight_bytes: int | None = None  # float32 weights of one model
    run_bytes: int | None = None  # peak bytes of the tensors one run holds at once (weights not counted)
    work: int | None = None  # work of one run (predict, one training step, drawing weights), batch included
    train_work: int | None = None  # work of one training run (fit): every epoch, the backward pass included
    export_chars: int | None = None  # characters of one generated file (Keras or PyTorch code with its weights)
    data_elements: int | None = None  # values in one array given to predict, fit or evaluate


UNBOUNDED = Budget()

PUBLIC_DEFAULTS = Budget(
    weight_bytes=64 * 2**20,  # 16,777,216 parameters
    run_bytes=96 * 2**20,
    work=WORK_PER_SECOND,  # about a second
    train_work=25 * WORK_PER_SECOND,
    export_chars=24_000_000,
    data_elements=64 * 2**20,
)
PUBLIC_ENVIRONMENT = {field.name: f"NETBUILDER_MAX_{field.name.upper()}" for field in fields(Budget)}

_current: ContextVar[Budget] = ContextVar("netbuilder_budget", default=UNBOUNDED)


def current() -> Budget:
    """The budget the work running now answers to (UNBOUNDED unless inside `using`)."""
    return _current.get()


@contextmanager
def using(budget: Budget) -> Iterator[Budget]:
    """Run the block's work under `budget` (in this thread and context only: other visitors' runs are untouched)."""
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def from_environment(environ: Mapping[str, str]) -> Budget:
    """PUBLIC_DEFAULTS with each budget a deployment sets in `environ` (a positive whole number, or `none` for no
    bound); a malformed value is a ValueError naming the variable, so a misconfigured server stops before serving
    anyone."""
    values = {}
    for name, variable in PUBLIC_ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is None:
            values[name] = getattr(PUBLIC_DEFAULTS, name)
        elif raw.strip().lower() == "none":
            values[name] = None
        elif raw.strip().isdigit() and int(raw) > 0:
            values[name] = int(raw)
        else:
            raise ValueError(f"{variable} must be a positive whole number or 'none'; it is {raw[:40]!r}")
    return Budget(**values)


@cache
def public() -> Budget:
    """The budgets the app gives each visitor's run: PUBLIC_DEFAULTS, changed by the deployment's environment."""
    return from_environment(os.environ)


def readable_bytes(n: float) -> str:
    """`976 B`, `1.6 MB`, `96 MB`: what a person reads (1 MB = 2**20 bytes, as Keras prints sizes)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError


def readable_count(n: float) -> str:
    """`950`, `1.2 K`, `3.4 M`, `2.1 G`: torchinfo's way of writing large counts."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f}"


def over(value: int, bound: int | None) -> bool:
    """Whether `value` exceeds `bound` (None: no bound)."""
    return bound is not None and value > bound


def weights_problem(params: int) -> str | None:
    """Why `params` float32 weights are over the current weight budget, or None."""
    bound = current().weight_bytes
    if not over(FLOAT32 * params, bound):
        return None
    return (
        f"its weights would take {readable_bytes(FLOAT32 * params)} ({params:,} parameters); the budget is "
        f"{readable_bytes(bound)} ({bound // FLOAT32:,} parameters)"
    )


def build_problem(work: int, nbytes: int) -> str | None:
    """Why drawing weights with this much work and these temporaries is over the current run budgets, or None (an
    initializer runs in one NumPy call that cannot be stopped, as an Orthogonal kernel's QR)."""
    budget = current()
    if over(nbytes, budget.run_bytes):
        return (
            f"drawing its initial weights needs {readable_bytes(nbytes)} at once (an Orthogonal initializer's QR runs "
            f"in float64); the memory budget per run is {readable_bytes(budget.run_bytes)}: use fewer units or "
            "another initializer"
        )
    if over(work, budget.work):
        return (
            f"drawing its initial weights is {readable_count(work)} multiply-adds of work (an Orthogonal initializer's "
            f"QR grows as the cube of its size); the budget per run is {readable_count(budget.work)}: use fewer units "
            "or another initializer"
        )
    return None
