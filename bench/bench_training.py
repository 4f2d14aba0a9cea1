"""Training throughput (samples per second of fit, batch 32): a 2-layer MLP and the MNIST convnet, next to
PyTorch CPU (the same model, weights and SGD step) and Keras 3 on JAX (in a process of its own), same run.

Targets (issue 13): ≥ 1× PyTorch for the MLP, ≥ 0.3× PyTorch for the convnet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

from _common import ROOT, cli, emit, figure

BATCH, LR = 32, 0.01
KERAS_SCRIPT = r"""
import json, sys, time, warnings
import numpy as np
import keras
spec = json.loads(sys.argv[1])
warnings.simplefilter("ignore")
model = keras.models.model_from_json(spec["json"])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=spec["lr"]), loss="sparse_categorical_crossentropy")
rng = np.random.default_rng(0)
x = rng.normal(size=[spec["n"], *spec["shape"]]).astype("float32")
y = rng.integers(0, 10, size=spec["n"]).astype("float32")
model.fit(x, y, batch_size=spec["batch"], epochs=1, shuffle=False, verbose=0)  # compiles the step
best = 1e9
for _ in range(3):
    t = time.perf_counter()
    model.fit(x, y, batch_size=spec["batch"], epochs=1, shuffle=False, verbose=0)
    best = min(best, time.perf_counter() - t)
print(spec["n"] / best)
"""


def models():
    import netbuilder as nb

    mlp = nb.Sequential([nb.Input((64,)), nb.Dense(128, activation="relu"), nb.Dense(10, activation="softmax")], seed=0)
    convnet = nb.Sequential(
        [
            nb.Input((28, 28, 1)),
            nb.Conv2D(32, 3, activation="relu"),
            nb.MaxPooling2D(2),
            nb.Conv2D(64, 3, activation="relu"),
            nb.MaxPooling2D(2),
            nb.Flatten(),
            nb.Dense(10, activation="softmax"),
        ],
        seed=0,
    )
    return {"2-layer MLP": (mlp, 4096), "MNIST convnet": (convnet, 512)}


def data(model, n):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, *model.input_shape[1:])).astype(np.float32), rng.integers(0, 10, size=n).astype(
        np.float32
    )


def ours_rate(model, x, y) -> float:
    from netbuilder.optimizers import SGD

    model.compile(optimizer=SGD(LR), loss="sparse_categorical_crossentropy")
    model.fit(x[: BATCH * 2], y[: BATCH * 2], batch_size=BATCH, shuffle=False)  # warm
    best = min(_timed(lambda: model.fit(x, y, batch_size=BATCH, shuffle=False)) for _ in range(3))
    return len(x) / best


def torch_rate(model, x, y) -> float:
    import torch
    from netbuilder.views import export

    namespace = {"__name__": "bench"}
    exec(compile(export.pytorch_code(model), "<torch export>", "exec"), namespace)  # our own generated code
    net = namespace["model"]
    net.train()
    # Keras's softmax then cross-entropy, as torch writes it: the log of the softmax output
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y).long()

    def epoch():
        for start in range(0, len(x), BATCH):
            optimizer.zero_grad()
            out = net(tx[start : start + BATCH])
            loss = torch.nn.functional.nll_loss(torch.log(out.clamp_min(1e-7)), ty[start : start + BATCH])
            loss.backward()
            optimizer.step()

    epoch()
    return len(x) / min(_timed(epoch) for _ in range(3))


def keras_rate(model, n) -> float | None:
    spec = {"json": model.to_json(), "lr": LR, "n": n, "shape": list(model.input_shape[1:]), "batch": BATCH}
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", KERAS_SCRIPT, json.dumps(spec)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return float(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    args = cli(__doc__)
    import torch

    figures, notes = [], []
    targets = {"2-layer MLP": 1.0, "MNIST convnet": 0.3}
    for name, (model, n) in models().items():
        x, y = data(model, n)
        theirs = torch_rate(model, x, y)
        kers = keras_rate(model, n)
        ours = ours_rate(model, x, y)
        want = targets[name]
        figures.append(
            figure(
                f"training-{name}-torch",
                f"{name}: training samples/s, batch {BATCH}, vs PyTorch CPU",
                ours,
                theirs,
                f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)",
                "samples/s",
                f"≥ {want}× PyTorch",
                ours >= want * theirs,
            )
        )
        figures.append(
            figure(
                f"training-{name}-keras",
                f"{name}: training samples/s, batch {BATCH}, vs Keras 3 on JAX",
                ours,
                kers,
                "Keras (JAX backend, its own process)",
                "samples/s",
                "(informative)",
                None,
            )
        )
        notes.append(
            f"{name}: {n} samples, SGD(learning_rate={LR}), sparse categorical cross-entropy; best of 3 epochs each"
        )
    emit(args, "training", figures, notes=notes)


if __name__ == "__main__":
    main()
