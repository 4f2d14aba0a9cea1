"""Peak memory of the big forward pass (8 × Dense(1024, relu), batch 4096), measured with tracemalloc.

NumPy reports its array allocations to tracemalloc, so the traced peak during `predict` (with the
weights and input already held) is the real high-water mark of array memory. The floor any
implementation needs: weights + input + two activations (one layer's input and its output).
Target: predict's peak ≤ 1.5 × the floor. Also: `forward` keeps every layer's output (the app
shows them), `predict` keeps none, so forward's peak should be about weights + input + 8 activations.
BLAS's own scratch buffers are not NumPy allocations and are not counted.
Run alone: python bench/bench_memory.py
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

from _common import cli, emit, figure

from netbuilder import Dense, Input, Sequential

LAYERS, UNITS, BATCH = 8, 1024, 4096


def traced_peak(fn) -> int:
    """Peak traced bytes while `fn` runs (what is already held counts, as it must)."""
    gc.collect()
    tracemalloc.reset_peak()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    del result
    gc.collect()
    return peak


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
    p_forward = traced_peak(lambda: model.forward(x)) - held_extra
    p_hand = traced_peak(hand) - held_extra
    tracemalloc.stop()
    forward_expected = weights + x.nbytes + LAYERS * act
    figures = [
        figure("memory.predict", f"peak memory, predict {LAYERS}×Dense({UNITS}, relu), batch {BATCH}", p_predict, floor,
               "floor: weights + input + 2 activations", "B", "≤ 1.5× floor", p_predict <= 1.5 * floor),
        figure("memory.forward", "peak memory, forward (keeps all outputs) vs predict", p_predict, p_forward,
               "forward", "B", "predict keeps no intermediates (< forward)",
               p_predict < p_forward and p_forward >= 0.95 * forward_expected,
               note=f"forward expected ≈ weights + input + {LAYERS} activations = {forward_expected / 2**20:,.1f} MiB"),
        figure("memory.hand", "peak memory, predict vs the hand NumPy chain (`matmul + b`, then maximum)", p_predict, p_hand,
               "hand NumPy", "B", "(informative)", None),
    ]
    notes = [f"weights {weights / 2**20:.1f} MiB, input {x.nbytes / 2**20:.1f} MiB, one activation {act / 2**20:.1f} MiB"]
    emit(args, "memory", figures, {}, notes)


if __name__ == "__main__":
    main()
