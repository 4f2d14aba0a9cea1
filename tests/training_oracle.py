"""The training oracle: real Keras 3 on its JAX backend, in a process of its own (a backend is fixed per process).

Keras's NumPy backend cannot train. `run_jobs(jobs)` writes each job's model JSON, initial weights and
data to a temporary folder, runs this file as a script with KERAS_BACKEND=jax, and reads back, for each
job: the History of fit(shuffle=False), the final weights, evaluate() and train_on_batch() results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def run_jobs(jobs: list[dict], timeout: int = 600) -> list[dict]:
    """Each job: {"model_json", "weights": [arrays], "x", "y", "optimizer": (class name, config), "loss",
    "metrics", "batch_size", "epochs", "validation_split"}; returns [{"history", "weights", "evaluate"}]."""
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        arrays, plain = {}, []
        for k, job in enumerate(jobs):
            for i, w in enumerate(job["weights"]):
                arrays[f"{k}_w{i}"] = w
            arrays[f"{k}_x"], arrays[f"{k}_y"] = job["x"], job["y"]
            plain.append({key: value for key, value in job.items() if key not in ("weights", "x", "y")} | {"n_weights": len(job["weights"])})
        np.savez(folder / "in.npz", **arrays)
        (folder / "jobs.json").write_text(json.dumps(plain))
        env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
        done = subprocess.run([sys.executable, __file__, str(folder)], env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"the Keras (JAX) oracle failed:\n{done.stderr[-4000:]}")
        results = json.loads((folder / "out.json").read_text())
        out = np.load(folder / "out.npz")
        for k, result in enumerate(results):
            result["weights"] = [out[f"{k}_w{i}"] for i in range(result.pop("n_weights"))]
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
        name, config = job["optimizer"]
        optimizer = keras.optimizers.get({"class_name": name, "config": config})
        model.compile(optimizer=optimizer, loss=job["loss"], metrics=job["metrics"] or None)
        x, y = arrays[f"{k}_x"], arrays[f"{k}_y"]
        history = model.fit(x, y, batch_size=job["batch_size"], epochs=job["epochs"], shuffle=False, verbose=0,
                            validation_split=job.get("validation_split", 0.0))
        weights = model.get_weights()
        evaluate = model.evaluate(x, y, batch_size=job["batch_size"], verbose=0, return_dict=True)
        results.append({"history": {key: [float(v) for v in values] for key, values in history.history.items()},
                        "evaluate": {key: float(v) for key, v in evaluate.items()}, "n_weights": len(weights)})
        for i, w in enumerate(weights):
            out[f"{k}_w{i}"] = np.asarray(w)
    np.savez(folder / "out.npz", **out)
    (folder / "out.json").write_text(json.dumps(results))


if __name__ == "__main__":
    _main(Path(sys.argv[1]))
