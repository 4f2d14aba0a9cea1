"""Engine `predict` against the same network written by hand in NumPy, in Keras 3 and in PyTorch.

(a) the seed model Input(3, 2) → Dense(16) → Activation(relu) → Flatten → Dense(4), one sample:
    per-call overhead is everything here. Targets: ≤ 2× the hand chain, ≥ 50× faster than Keras's
    `model(x)` (NumPy backend), ≥ 3× faster than PyTorch under `torch.no_grad()`.
(b) 8 × Dense(1024, relu) on a batch of 4096: the matmuls are everything. Target ≤ 1.05× the hand
    chain; GFLOP/s for ours, hand NumPy and PyTorch. Also a batch sweep (1 … 4096) for the plot.

Same weights everywhere (copied from our model); outputs are checked equal before timing.
Run alone: python bench/bench_predict.py
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "numpy"  # before anything imports keras

import numpy as np

from _common import blas_threads, cli, compare, emit, figure

from netbuilder import Activation, Dense, Flatten, Input, Sequential

BIG_LAYERS, BIG_UNITS, BIG_BATCH = 8, 1024, 4096
SWEEP_BATCHES = (1, 16, 256)  # 4096 comes from the main measurement


def seed_case() -> tuple[list[dict], dict]:
    import keras
    import torch

    model = Sequential([Input(shape=(3, 2)), Dense(16), Activation("relu"), Flatten(), Dense(4)], seed=0)
    w1, b1, w2, b2 = model.get_weights()
    x = np.random.default_rng(1).standard_normal((1, 3, 2)).astype(np.float32)

    def hand():
        h = np.matmul(x, w1) + b1
        h = np.maximum(h, 0)
        h = h.reshape(h.shape[0], -1)
        return np.matmul(h, w2) + b2

    kmodel = keras.Sequential(
        [
            keras.Input(shape=(3, 2)),
            keras.layers.Dense(16),
            keras.layers.Activation("relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(4),
        ]
    )
    kmodel.set_weights([w1, b1, w2, b2])

    tnet = torch.nn.Sequential(
        torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Flatten(1), torch.nn.Linear(48, 4)
    ).eval()
    with torch.no_grad():
        tnet[0].weight.copy_(torch.from_numpy(w1.T.copy()))
        tnet[0].bias.copy_(torch.from_numpy(b1))
        tnet[3].weight.copy_(torch.from_numpy(w2.T.copy()))
        tnet[3].bias.copy_(torch.from_numpy(b2))
    xt = torch.from_numpy(x)  # converted once, outside the timing (in PyTorch's favour)

    def torch_run():
        with torch.no_grad():
            return tnet(xt)

    ref = model.predict(x)
    np.testing.assert_allclose(hand(), ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(kmodel(x)), ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(torch_run().numpy(), ref, rtol=1e-5, atol=1e-5)

    t = compare(
        {"ours": lambda: model.predict(x), "hand": hand, "keras": lambda: kmodel(x), "torch": torch_run},
        repeat=25,
        min_time=0.02,
    )
    ours, hand_t, keras_t, torch_t = (t[k]["median"] for k in ("ours", "hand", "keras", "torch"))
    figures = [
        figure(
            "predict.seed.hand",
            "seed model predict, 1 sample, vs hand NumPy chain",
            ours,
            hand_t,
            "hand NumPy",
            "s",
            "ours ≤ 2× hand",
            ours <= 2 * hand_t,
        ),
        figure(
            "predict.seed.keras",
            "seed model predict, 1 sample, vs Keras 3 model(x)",
            ours,
            keras_t,
            "Keras 3.15 (numpy backend)",
            "s",
            "≥ 50× faster (ratio ≤ 0.02)",
            keras_t >= 50 * ours,
        ),
        figure(
            "predict.seed.torch",
            "seed model predict, 1 sample, vs PyTorch no_grad",
            ours,
            torch_t,
            "PyTorch CPU",
            "s",
            "≥ 3× faster (ratio ≤ 0.333)",
            torch_t >= 3 * ours,
        ),
    ]
    return figures, t


def big_weights():
    model = Sequential(
        [Input(shape=(BIG_UNITS,))] + [Dense(BIG_UNITS, activation="relu") for _ in range(BIG_LAYERS)], seed=0
    )
    return model, model.get_weights()


def big_case() -> tuple[list[dict], dict, list[str]]:
    import torch

    torch.set_num_threads(2)
    model, weights = big_weights()
    pairs = list(zip(weights[::2], weights[1::2]))
    tnet = torch.nn.Sequential(
        *[m for _ in range(BIG_LAYERS) for m in (torch.nn.Linear(BIG_UNITS, BIG_UNITS), torch.nn.ReLU())]
    ).eval()
    with torch.no_grad():
        for i, (w, b) in enumerate(pairs):
            tnet[2 * i].weight.copy_(torch.from_numpy(w.T.copy()))
            tnet[2 * i].bias.copy_(torch.from_numpy(b))

    def make(batch):
        x = np.random.default_rng(2).standard_normal((batch, BIG_UNITS)).astype(np.float32)
        xt = torch.from_numpy(x)

        def hand():
            h = x
            for w, b in pairs:
                h = np.maximum(np.matmul(h, w) + b, 0)
            return h

        def torch_run():
            with torch.no_grad():
                return tnet(xt)

        return x, hand, torch_run

    x, hand, torch_run = make(BIG_BATCH)
    ref = model.predict(x)
    np.testing.assert_array_equal(hand(), ref)  # same ops in the same order: same bits
    np.testing.assert_allclose(torch_run().numpy(), ref, rtol=1e-3, atol=1e-3)

    t = compare({"ours": lambda: model.predict(x), "hand": hand, "torch": torch_run}, repeat=9, min_time=0.0, warmup=1)
    flops = BIG_LAYERS * 2 * BIG_BATCH * BIG_UNITS * BIG_UNITS
    gf = {k: flops / v["median"] / 1e9 for k, v in t.items()}
    ours, hand_t = t["ours"]["median"], t["hand"]["median"]
    figures = [
        figure(
            "predict.big.hand",
            f"{BIG_LAYERS}×Dense({BIG_UNITS}, relu), batch {BIG_BATCH}, vs hand NumPy chain",
            ours,
            hand_t,
            "hand NumPy",
            "s",
            "ours ≤ 1.05× hand",
            ours <= 1.05 * hand_t,
            note=f"min ours {t['ours']['min']:.3f} s, hand {t['hand']['min']:.3f} s",
        ),
        figure(
            "predict.big.gflops",
            "same, throughput: ours vs hand NumPy",
            gf["ours"],
            gf["hand"],
            "hand NumPy",
            "GFLOP/s",
            "(informative)",
            None,
        ),
        figure(
            "predict.big.gflops_torch",
            "same, throughput: ours vs PyTorch no_grad",
            gf["ours"],
            gf["torch"],
            "PyTorch CPU (2 threads)",
            "GFLOP/s",
            "(informative)",
            None,
        ),
    ]

    curves = {"batch": [], "ours": [], "hand": [], "torch": []}
    for batch in SWEEP_BATCHES:
        xb, hand_b, torch_b = make(batch)
        tb = compare(
            {"ours": lambda: model.predict(xb), "hand": hand_b, "torch": torch_b}, repeat=7, min_time=0.05, warmup=2
        )
        curves["batch"].append(batch)
        for k in ("ours", "hand", "torch"):
            curves[k].append(tb[k]["median"])
    curves["batch"].append(BIG_BATCH)
    for k in ("ours", "hand", "torch"):
        curves[k].append(t[k]["median"])
    notes = [
        f"numpy BLAS: {blas_threads()}; torch threads: {torch.get_num_threads()}",
        "big case GFLOP/s: " + ", ".join(f"{k} {v:.1f}" for k, v in gf.items()),
        "batch sweep (median per call): "
        + "; ".join(
            f"b={b}: ours {o * 1e3:.3g} ms, hand {h * 1e3:.3g} ms, torch {p * 1e3:.3g} ms"
            for b, o, h, p in zip(curves["batch"], curves["ours"], curves["hand"], curves["torch"])
        ),
    ]
    return figures, curves, notes


def main():
    args = cli(__doc__.splitlines()[0])
    seed_figures, seed_t = seed_case()
    seed_notes = [
        "seed model medians: "
        + ", ".join(f"{k} {v['median'] * 1e6:.2f} µs (min {v['min'] * 1e6:.2f})" for k, v in seed_t.items())
    ]
    big_figures, curves, big_notes = big_case()
    emit(args, "predict", seed_figures + big_figures, {"predict_batch": curves}, seed_notes + big_notes)


if __name__ == "__main__":
    main()
