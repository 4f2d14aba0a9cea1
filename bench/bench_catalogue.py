"""The layer catalogue's heavy kinds: predict of the MNIST convnet and of an LSTM text model (batch 32), next to
PyTorch CPU and Keras 3 (NumPy backend) on the same weights, in the same run.

Targets (issue 12): ≤ 3× PyTorch CPU, ≥ 10× faster than Keras's NumPy backend.
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "numpy")

import numpy as np  # noqa: E402

from _common import cli, compare, emit, figure  # noqa: E402

BATCH = 32
VOCABULARY = 20_000


def models():
    import netbuilder as nb

    convnet = nb.Sequential(
        [
            nb.Input((28, 28, 1)),
            nb.Conv2D(32, 3, activation="relu"),
            nb.MaxPooling2D(2),
            nb.Conv2D(64, 3, activation="relu"),
            nb.MaxPooling2D(2),
            nb.Flatten(),
            nb.Dropout(0.5),
            nb.Dense(10, activation="softmax"),
        ],
        seed=0,
    )
    text = nb.Sequential(
        [nb.Input((100,)), nb.Embedding(VOCABULARY, 32), nb.LSTM(64), nb.Dense(1, activation="sigmoid")], seed=0
    )  # an IMDB-style text model: word ids → vectors → LSTM
    rng = np.random.default_rng(0)
    return {
        "MNIST convnet": (convnet, rng.normal(size=(BATCH, 28, 28, 1)).astype(np.float32)),
        "Embedding → LSTM(64) text model, 100 steps": (
            text,
            rng.integers(0, VOCABULARY, (BATCH, 100)).astype(np.float32),
        ),
    }


def torch_twin(model):
    """The exported PyTorch script's model: the same weights in torch's layouts."""
    import torch
    from netbuilder.views import export

    namespace = {"__name__": "bench"}
    exec(compile(export.pytorch_code(model), "<torch export>", "exec"), namespace)  # our own generated code
    torch.set_grad_enabled(False)
    return namespace["model"]


def keras_twin(model):
    import keras

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        twin = keras.models.model_from_json(model.to_json())
    twin.set_weights(model.get_weights())
    return twin


def main():
    args = cli(__doc__)
    import torch

    figures, notes = [], []
    for name, (model, x) in models().items():
        torch_model, keras_model = torch_twin(model), keras_twin(model)
        tx = torch.from_numpy(x)
        np.testing.assert_allclose(torch_model(tx).numpy(), model.predict(x), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(keras_model(x)), model.predict(x), rtol=1e-4, atol=1e-5)
        times = compare(
            {"ours": lambda: model.predict(x), "torch": lambda: torch_model(tx), "keras": lambda: keras_model(x)},
            repeat=9,
            min_time=0.05,
        )
        ours, theirs, kers = (times[k]["median"] for k in ("ours", "torch", "keras"))
        figures.append(
            figure(
                f"catalogue-{name}-torch",
                f"{name} predict, batch {BATCH}, vs PyTorch CPU",
                ours,
                theirs,
                f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)",
                "s",
                "≤ 3× PyTorch",
                ours <= 3 * theirs,
            )
        )
        figures.append(
            figure(
                f"catalogue-{name}-keras",
                f"{name} predict, batch {BATCH}, vs Keras 3 model(x)",
                ours,
                kers,
                "Keras (NumPy backend)",
                "s",
                "≥ 10× faster (ratio ≤ 0.1)",
                ours <= 0.1 * kers,
            )
        )
        notes.append(
            f"{name}: minimums ours {times['ours']['min'] * 1e3:.2f} ms, torch {times['torch']['min'] * 1e3:.2f} ms, "
            f"keras {times['keras']['min'] * 1e3:.2f} ms; outputs agree within 1e-4"
        )
    emit(args, "catalogue", figures, notes=notes)


if __name__ == "__main__":
    main()
