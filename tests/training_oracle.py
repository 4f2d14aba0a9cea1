"""The training oracle: real Keras 3 on its JAX backend, in a process of its own (a backend is fixed per process).

Keras's NumPy backend cannot train. `run_jobs(jobs)` writes each job's model JSON, initial weights and
data to a temporary folder, runs this file as a script with KERAS_BACKEND=jax, and reads back, for each
job: the History of fit(shuffle=False), the final weights, evaluate() and train_on_batch() results, or
only predict() for a job with "predict": True.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ARRAYS = ("x", "y", "vx", "vy", "bx", "by")  # data: fit's, validation_data's, train_on_batch's


def run_jobs(jobs: list[dict], timeout: int = 600) -> list[dict]:
    """Each job: {"model_json", "weights": [arrays], "x", "y", "optimizer": (class name, config), "loss" (a name, or
    (class name, config) such as ("Huber", {"delta": 0.3}), or a list of names per output), "loss_weights", "metrics",
    "batch_size", "epochs", "validation_split"} — x and y one array each, or a list of arrays (several inputs, outputs)
    and optionally "vx", "vy" (validation_data) and "bx", "by" (after fit and evaluate, one train_on_batch, then one
    with return_dict=True); returns [{"history", "weights" (after fit), "evaluate", "train_on_batch",
    "train_on_batch_dict", "batch_weights" (after both steps)}].
    A job {"model_json", "weights", "x", "predict": True} returns {"predict": Keras's output}."""
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        arrays, plain = {}, []
        for k, job in enumerate(jobs):
            for i, w in enumerate(job["weights"]):
                arrays[f"{k}_w{i}"] = w
            counts = {}
            for key in ARRAYS:  # one array, or a list of them (a model with several inputs or outputs)
                value = job.get(key)
                if value is not None:
                    parts = value if isinstance(value, list) else [value]
                    counts[key] = len(parts) if isinstance(value, list) else 0
                    for i, part in enumerate(parts):
                        arrays[f"{k}_{key}_{i}"] = part
            plain.append(
                {key: value for key, value in job.items() if key not in ("weights", *ARRAYS)}
                | {"n_weights": len(job["weights"]), "arrays": counts}
            )
        np.savez(folder / "in.npz", **arrays)
        (folder / "jobs.json").write_text(json.dumps(plain))
        env = {
            **os.environ,
            "KERAS_BACKEND": "jax",
            "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
        }
        done = subprocess.run(
            [sys.executable, __file__, str(folder)], env=env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"the Keras (JAX) oracle failed:\n{done.stderr[-4000:]}")
        results = json.loads((folder / "out.json").read_text())
        out = np.load(folder / "out.npz")
        for k, result in enumerate(results):
            result["weights"] = [out[f"{k}_w{i}"] for i in range(result.pop("n_weights"))]
            if f"{k}_predict" in out:
                result["predict"] = out[f"{k}_predict"]
            if "train_on_batch" in result:
                result["batch_weights"] = [out[f"{k}_b{i}"] for i in range(len(result["weights"]))]
        return results


def _main(folder: Path) -> None:
    import keras

    assert keras.backend.backend() == "jax"
    jobs = json.loads((folder / "jobs.json").read_text())
    arrays = np.load(folder / "in.npz")
    results, out = [], {}
    for k, job in enumerate(jobs):
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        model = keras.models.model_from_json(job["model_json"])
        model.set_weights([arrays[f"{k}_w{i}"] for i in range(job["n_weights"])])
        data = {
            key: [arrays[f"{k}_{key}_{i}"] for i in range(n)] if n else arrays[f"{k}_{key}_0"]
            for key, n in job["arrays"].items()
        }
        result = {}
        if job.get("predict"):
            out[f"{k}_predict"] = np.asarray(model.predict(data["x"], verbose=0))
        else:
            result = _train(keras, model, job, data, out, k)
        weights = model.get_weights()  # after fit (and the train_on_batch steps, whose weights are "batch_weights")
        result["n_weights"] = len(weights)
        results.append(result)
        for i, w in enumerate(weights):
            out[f"{k}_w{i}"] = np.asarray(w)
    np.savez(folder / "out.npz", **out)
    (folder / "out.json").write_text(json.dumps(results))


def _train(keras, model, job: dict, data: dict, out: dict, k: int) -> dict:
    name, config = job["optimizer"]
    optimizer = keras.optimizers.get({"class_name": name, "config": config})
    loss = job["loss"]
    if isinstance(loss, list) and len(loss) == 2 and isinstance(loss[0], str) and isinstance(loss[1], dict):
        loss = keras.losses.get({"class_name": loss[0], "config": loss[1]})  # a (class name, config) pair
    model.compile(optimizer=optimizer, loss=loss, loss_weights=job.get("loss_weights"), metrics=job["metrics"] or None)
    validation = (data["vx"], data["vy"]) if "vx" in data else None
    history = model.fit(
        data["x"],
        data["y"],
        batch_size=job["batch_size"],
        epochs=job["epochs"],
        shuffle=False,
        verbose=0,
        validation_split=job.get("validation_split", 0.0),
        validation_data=validation,
    )
    evaluate = model.evaluate(data["x"], data["y"], batch_size=job["batch_size"], verbose=0, return_dict=True)
    result = {
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "evaluate": {key: float(v) for key, v in evaluate.items()},
    }
    if "bx" in data:  # what Keras returns, kept as returned: a float, or a list of floats with metrics
        fitted = model.get_weights()
        result["train_on_batch"] = json.loads(json.dumps(model.train_on_batch(data["bx"], data["by"]), default=float))
        result["train_on_batch_dict"] = {
            key: float(v) for key, v in model.train_on_batch(data["bx"], data["by"], return_dict=True).items()
        }
        for i, w in enumerate(model.get_weights()):
            out[f"{k}_b{i}"] = np.asarray(w)
        model.set_weights(fitted)  # "weights" stay fit's
    return result


if __name__ == "__main__":
    _main(Path(sys.argv[1]))
