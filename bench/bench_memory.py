"""Peak memory of the big forward pass (8 × Dense(1024, relu), batch 4096), measured with tracemalloc.

NumPy reports its array allocations to tracemalloc, so the traced peak during `predict` (with the
weights and input already held) is the real high-water mark of array memory. The floor any
implementation needs: weights + input + two activations (one layer's input and its output).
Target: predict's peak ≤ 1.5 × the floor. Also: `forward(x, keep_bytes=∞)` keeps every layer's output,
`predict` keeps none, so forward's peak should be about weights + input + 8 activations; with its
default `keep_bytes` (limits.MAX_FORWARD_BYTES, what the app's Forward tab uses) forward keeps outputs
only while they fit in that budget; limits.py defines the budget as the peak bytes of the tensors one
forward pass holds at once, so what the run adds at its peak (the traced peak minus everything held
before it: weights, input, the model's Python objects) should stay ≤ the budget, plus the run's own
small Python objects (about 35 KB measured; 64 KiB allowed, as the tests allow).
BLAS's own scratch buffers are not NumPy allocations and are not counted.
Run alone: python bench/bench_memory.py
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

from _common import cli, emit, figure

from netbuilder import Dense, Input, Sequential
from netbuilder.engine.limits import MAX_FORWARD_BYTES

PYTHON_OBJECTS = (
    64 * 1024
)  # the budget bounds the tensors' bytes; a run's lists and array headers come beside them (as in tests/test_cost.py)

LAYERS, UNITS, BATCH = 8, 1024, 4096


def traced_peak(fn, held: bool = True) -> int:
    """Peak traced bytes while `fn` runs: with what is already held (the weights, the input, the model's Python
    objects), or, with held=False, only what the run adds to it."""
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    del result
    gc.collect()
    return peak if held else peak - before


def main():
    args = cli(__doc__.splitlines()[0])
    tracemalloc.start()
    model = Sequential([Input(shape=(UNITS,))] + [Dense(UNITS, activation="relu") for _ in range(LAYERS)], seed=0)
    x = np.random.default_rng(3).standard_normal((BATCH, UNITS)).astype(np.float32)
    pairs = list(zip(model.get_weights()[::2], model.get_weights()[1::2]))  # a copy, for the hand chain
    weights = sum(w.nbytes for layer in model.layers for w in layer.weights)
    act = BATCH * UNITS * 4
    floor = weights + x.nbytes + 2 * act
    held_extra = sum(w.nbytes + b.nbytes for w, b in pairs)  # the hand chain's weight copy, also traced

    def hand():
        h = x
        for w, b in pairs:
            h = np.maximum(np.matmul(h, w) + b, 0)
        return h

    p_predict = traced_peak(lambda: model.predict(x)) - held_extra
    p_forward = traced_peak(lambda: model.forward(x, keep_bytes=2**62)) - held_extra
    p_budget_tensors = traced_peak(lambda: model.forward(x), held=False)  # the tensors the run itself holds at its peak
    kept = model.cost.kept_layers(BATCH)
    p_hand = traced_peak(hand) - held_extra
    tracemalloc.stop()
    forward_expected = weights + x.nbytes + LAYERS * act
    figures = [
        figure(
            "memory.predict",
            f"peak memory, predict {LAYERS}×Dense({UNITS}, relu), batch {BATCH}",
            p_predict,
            floor,
            "floor: weights + input + 2 activations",
            "B",
            "≤ 1.5× floor",
            p_predict <= 1.5 * floor,
        ),
        figure(
            "memory.forward",
            "peak memory, predict vs forward keeping all outputs",
            p_predict,
            p_forward,
            "forward",
            "B",
            "predict keeps no intermediates (< forward)",
            p_predict < p_forward and p_forward >= 0.95 * forward_expected,
            note=f"forward expected ≈ weights + input + {LAYERS} activations = {forward_expected / 2**20:,.1f} MiB",
        ),
        figure(
            "memory.forward_budget",
            "forward with the app's keep_bytes: peak tensors held (weights and input not counted)",
            p_budget_tensors,
            MAX_FORWARD_BYTES,
            "MAX_FORWARD_BYTES",
            "B",
            "≤ the run budget (+ 64 KiB of Python objects)",
            p_budget_tensors <= MAX_FORWARD_BYTES + PYTHON_OBJECTS,
            note=f"keeps {kept} of {LAYERS} layer outputs ({kept * act / 2**20:.0f} MiB) + the model's output; "
            "the layers past them still run while the kept ones are held",
        ),
        figure(
            "memory.hand",
            "peak memory, predict vs the hand NumPy chain (`matmul + b`, then maximum)",
            p_predict,
            p_hand,
            "hand NumPy",
            "B",
            "(informative)",
            None,
        ),
    ]
    notes = [
        f"weights {weights / 2**20:.1f} MiB, input {x.nbytes / 2**20:.1f} MiB, one activation {act / 2**20:.1f} MiB"
    ]
    emit(args, "memory", figures, {}, notes)


if __name__ == "__main__":
    main()
