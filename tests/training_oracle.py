"""The training oracle: real Keras 3 on its JAX backend, in a process of its own (a backend is fixed per process).

Keras's NumPy backend cannot train. `run_jobs(jobs)` writes each job's model JSON, initial weights and
data to a temporary folder, runs this file as a script with KERAS_BACKEND=jax, and reads back, for each
job: the History of fit(shuffle=False), the final weights, evaluate() and train_on_batch() results, or
only predict() for a job with "predict": True. Callbacks are given as (Keras class name, config), a
LearningRateScheduler's schedule by its name in SCHEDULES (the same function in both processes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# data: fit's, validation_data's, train_on_batch's, and the sample weights of fit, validation_data, evaluate and
# train_on_batch
ARRAYS = ("x", "y", "vx", "vy", "bx", "by", "sw", "vsw", "esw", "bsw")
DATA_BY_OUTPUT = ("y", "vy", "by", "sw", "vsw", "esw", "bsw")  # a list of arrays, one per output (or "keys")
SCHEDULES = {  # LearningRateScheduler's schedules, by name
    "halve_from_2": lambda epoch, lr: lr if epoch < 2 else lr * 0.5,
    "by_epoch": lambda epoch: 0.05 / (1 + epoch),  # Keras's older form, schedule(epoch)
}
STATE = ("wait", "best", "best_epoch", "stopped_epoch", "cooldown_counter")  # what callbacks keep, those they have
HOOKS = ("train", "epoch", "train_batch", "test", "test_batch")


def recorder(base):
    """A callback class on `base` (Keras's Callback, or netbuilder's): `calls` notes fit's params and every hook
    called, as [hook, its epoch or batch, its logs]; with `stop` = [epoch, batch] it sets model.stop_training there, in
    on_train_batch_end."""

    class Recorder(base):
        def __init__(self, stop=None):
            super().__init__()
            self.calls, self.stop, self.epoch = [], stop, None

    def hook(name: str, indexed: bool):
        def called(self, *args, logs=None):
            logs = args[-1] if len(args) > indexed else logs
            if name == "on_train_begin":
                self.calls.append(["params", None, dict(self.params)])
            if name == "on_epoch_begin":
                self.epoch = args[0]
            self.calls.append([name, args[0] if indexed else None, {k: float(v) for k, v in (logs or {}).items()}])
            if name == "on_train_batch_end" and self.stop == [self.epoch, args[0]]:
                self.model.stop_training = True

        return called

    for name in HOOKS:
        for end in ("begin", "end"):
            setattr(Recorder, f"on_{name}_{end}", hook(f"on_{name}_{end}", name not in ("train", "test")))
    return Recorder


def run_jobs(jobs: list[dict], timeout: int = 600) -> list[dict]:
    """Each job: {"model_json", "weights": [arrays], "x", "y", "optimizer": (class name, config), "loss" (a name, or
    (class name, config) such as ("Huber", {"delta": 0.3}), or a list of names per output), "loss_weights", "metrics",
    "batch_size", "epochs", "validation_split"} — x and y one array each, or a list of arrays (several inputs, outputs)
    and optionally "vx", "vy" (validation_data) and "bx", "by" (after fit and evaluate, one train_on_batch, then one
    with return_dict=True); "weighted_metrics", "callbacks" [(class name, config)], "sample_weight"'s arrays as
    "sw" (fit), "vsw" (validation_data's third), "esw" (evaluate), "bsw" (train_on_batch), "class_weight" and
    "batch_class_weight" as [(class, weight)] pairs, "keys" (DATA_BY_OUTPUT's lists are dicts by these keys);
    returns [{"history", "weights" (after fit), "evaluate",
    "evaluate_list", "train_on_batch", "train_on_batch_dict", "batch_weights" (after both steps), "callbacks" (each
    one's STATE), "learning_rate" and "stop_training" (after fit), "printed" (fit's standard output), "calls" (each
    Recorder's)}].
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
        if "keys" in job:  # a model whose outputs are a dict: its targets and weights by these keys
            data.update({key: dict(zip(job["keys"], data[key])) for key in DATA_BY_OUTPUT if key in data})
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
    import contextlib
    import io

    name, config = job["optimizer"]
    optimizer = keras.optimizers.get({"class_name": name, "config": config})
    loss = job["loss"]
    if isinstance(loss, list) and len(loss) == 2 and isinstance(loss[0], str) and isinstance(loss[1], dict):
        loss = keras.losses.get({"class_name": loss[0], "config": loss[1]})  # a (class name, config) pair
    model.compile(
        optimizer=optimizer,
        loss=loss,
        loss_weights=job.get("loss_weights"),
        metrics=job["metrics"] or None,
        weighted_metrics=job.get("weighted_metrics"),
    )
    validation = (data["vx"], data["vy"], *([data["vsw"]] if "vsw" in data else [])) if "vx" in data else None
    callbacks = [_callback(keras, *c) for c in job.get("callbacks", [])]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        history = model.fit(
            data["x"],
            data["y"],
            batch_size=job["batch_size"],
            epochs=job["epochs"],
            shuffle=False,
            verbose=0,
            validation_split=job.get("validation_split", 0.0),
            validation_data=validation,
            callbacks=callbacks,
            sample_weight=data.get("sw"),
            class_weight=_classes(job.get("class_weight")),
        )
    weighed = {"batch_size": job["batch_size"], "verbose": 0, "sample_weight": data.get("esw")}
    evaluate = model.evaluate(data["x"], data["y"], return_dict=True, **weighed)
    result = {
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "evaluate": {key: float(v) for key, v in evaluate.items()},
        "evaluate_list": json.loads(json.dumps(model.evaluate(data["x"], data["y"], **weighed), default=float)),
        "callbacks": [{a: _plain(getattr(c, a)) for a in STATE if hasattr(c, a)} for c in callbacks],
        "calls": [c.calls for c in callbacks if hasattr(c, "calls")],
        "learning_rate": float(model.optimizer.learning_rate),
        "stop_training": bool(model.stop_training),
        "printed": printed.getvalue(),
    }
    if "bx" in data:  # what Keras returns, kept as returned: a float, or a list of floats with metrics
        fitted = model.get_weights()
        batch = {"sample_weight": data.get("bsw"), "class_weight": _classes(job.get("batch_class_weight"))}
        result["train_on_batch"] = json.loads(
            json.dumps(model.train_on_batch(data["bx"], data["by"], **batch), default=float)
        )
        result["train_on_batch_dict"] = {
            key: float(v) for key, v in model.train_on_batch(data["bx"], data["by"], return_dict=True, **batch).items()
        }
        for i, w in enumerate(model.get_weights()):
            out[f"{k}_b{i}"] = np.asarray(w)
        model.set_weights(fitted)  # "weights" stay fit's
    return result


def _callback(keras, name: str, config: dict):
    if name == "Recorder":
        return recorder(keras.callbacks.Callback)(**config)
    if "schedule" in config:
        config = {**config, "schedule": SCHEDULES[config["schedule"]]}
    return getattr(keras.callbacks, name)(**config)


def _classes(pairs):
    return None if pairs is None else {int(c): w for c, w in pairs}


def _plain(value):
    return None if value is None else float(value)


if __name__ == "__main__":
    _main(Path(sys.argv[1]))
