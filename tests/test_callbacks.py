"""Callbacks, sample weights and class weights against real Keras 3 on its JAX backend (tests/training_oracle.py runs it
apart).

The same model, initial weights and data, shuffle=False: the History (its length and "learning_rate" included), the
final weights, evaluate (dict and list), train_on_batch, each callback's state (wait, best, stopped epoch, cooldown)
and what the callbacks print equal Keras's, values within 1e-3 relative. A recorder callback notes every hook Keras
calls, in order, with its logs: ours must call the same. Where a callback's decision compares two values (min_delta,
a baseline), the cases check that Keras's values are not within the tolerance of the decision, so the comparison
tests the rule and not rounding.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
import pytest

import netbuilder as nb
import netbuilder.callbacks as nb_callbacks
import netbuilder.losses as nb_losses
import netbuilder.optimizers as nb_optimizers
from netbuilder.engine import training
from test_training import MLP, RTOL, assert_fit_equals, assert_train_on_batch_equals, data
from training_oracle import SCHEDULES, STATE, recorder, run_jobs

Recorder = recorder(nb_callbacks.Callback)


def sequence_model():
    """(None, 7 time steps, 4 values) per sample: a loss's values are one per time step."""
    return nb.Sequential([nb.Input((7, 3)), nb.Dense(10, activation="tanh"), nb.Dense(4)], seed=3)


def two_heads():
    """A regression head and a classifier of three classes, on one trunk."""
    x = nb.Input((6,))
    h = nb.Dense(8, activation="tanh")(x)
    return nb.Model(x, [nb.Dense(1, name="reg")(h), nb.Dense(3, activation="softmax", name="cls")(h)], seed=6)


def keyed_heads():
    """two_heads with its outputs as a dict: targets, losses and weights go by key."""
    x = nb.Input((6,))
    h = nb.Dense(8, activation="tanh")(x)
    return nb.Model(x, {"zz": nb.Dense(1)(h), "aa": nb.Dense(3, activation="softmax")(h)}, seed=6)


def mlp(head: str, out: int):
    spec = MLP(head, out)
    return lambda: nb.Sequential([nb.Input(spec.input_shape), *spec.layer_objects()], seed=spec.seed)


MODELS = {
    "regression": mlp("linear", 1),
    "binary": mlp("sigmoid", 1),
    "classes": mlp("softmax", 3),
    "labels": mlp("softmax", 3),
    "sequence": sequence_model,
    "two-heads": two_heads,
    "keyed-heads": keyed_heads,
}


def inputs_and_targets(model: str, n: int, seed: int):
    """(x, y) for a model of MODELS: y one array, or a list (a dict for keyed-heads) of one per output."""
    if model in ("regression", "binary"):
        return data(model, n, (6,), seed=seed)
    if model in ("classes", "labels"):
        return data("onehot" if model == "classes" else "sparse", n, (6,), classes=3, seed=seed)
    rng = np.random.default_rng(seed)
    if model == "sequence":
        x = rng.normal(size=(n, 7, 3)).astype(np.float32)
        return x, np.tanh(x[..., :1] + x.sum(axis=2, keepdims=True) / 3 * np.ones((1, 1, 4))).astype(np.float32)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    reg = np.tanh(x.sum(axis=1, keepdims=True) / 3).astype(np.float32)
    cls = rng.integers(0, 3, size=n).astype(np.float32)
    return x, ({"zz": reg, "aa": cls} if model == "keyed-heads" else [reg, cls])


def sample_weights(kind: str, n: int, seed: int):
    """Positive weights and a few zeros: one per sample, as a column, one per time step, or one array per head."""
    rng = np.random.default_rng(100 + seed)
    w = rng.uniform(0.2, 3.0, size=n).astype(np.float32)
    w[::5] = 0
    if kind == "column":
        return w[:, None]
    if kind == "steps":
        return (w[:, None] * rng.uniform(0, 2, size=(1, 7))).astype(np.float32)
    if kind == "heads":
        return [w, rng.uniform(0.5, 1.5, size=n).astype(np.float32)]
    if kind == "keyed":
        return {"zz": w, "aa": rng.uniform(0.5, 1.5, size=n).astype(np.float32)}
    return w


@dataclass(frozen=True)
class Case:
    """One fit, evaluate and train_on_batch, run by Keras and by netbuilder alike."""

    model: str
    loss: object  # a name, or (Keras class, config), or a list of them (one per output)
    optimizer: tuple  # (Keras class, config): netbuilder's optimizers take the same
    epochs: int = 4
    batch: int = 8
    metrics: object = ()
    weighted: object = None  # weighted_metrics
    callbacks: tuple = ()  # ((Keras class, config), ...); "Recorder" is training_oracle's
    split: float = 0.0
    sample_weight: str | None = None  # a kind of sample_weights(): fit's
    class_weight: tuple | None = None  # ((class, weight), ...)
    validation: str | None = None  # validation_data=(x, y, weights of this kind), or (x, y) with "plain"
    evaluate_weight: str | None = None
    batch_weight: str | None = None  # train_on_batch's sample_weight, or "class" for class_weight=class_weight
    n: int = 40


SGD = ("SGD", {"learning_rate": 0.05})
ADAM = ("Adam", {"learning_rate": 0.01})
CASES = {
    # EarlyStopping: each argument, on runs whose decisions are not knife-edge (see test_decisions_are_not_knife_edge)
    "early-stopping-patience-val-loss": Case(
        "regression",
        "mse",
        ("SGD", {"learning_rate": 0.1}),
        epochs=40,
        split=0.25,
        callbacks=(("EarlyStopping", {"patience": 2, "min_delta": 0.002, "verbose": 1}),),
    ),
    "early-stopping-val-accuracy-auto-max": Case(
        "binary",
        "binary_crossentropy",
        ADAM,
        epochs=30,
        metrics=("accuracy",),
        validation="plain",
        callbacks=(("EarlyStopping", {"monitor": "val_accuracy", "patience": 3}),),
    ),
    "early-stopping-mode-max-on-a-falling-loss": Case(
        "regression", "mse", SGD, epochs=10, callbacks=(("EarlyStopping", {"monitor": "loss", "mode": "max"}),)
    ),
    "early-stopping-baseline-restores-the-best": Case(
        "regression",
        "mse",
        SGD,
        epochs=20,
        callbacks=(
            (
                "EarlyStopping",
                {
                    "monitor": "loss",
                    "min_delta": 0.005,
                    "baseline": 0.01,
                    "patience": 3,
                    "restore_best_weights": True,
                    "verbose": 1,
                },
            ),
        ),
    ),
    "early-stopping-restores-the-best-when-training-runs-to-the-end": Case(
        "regression",
        "mse",
        SGD,
        epochs=5,
        callbacks=(
            ("EarlyStopping", {"monitor": "loss", "mode": "max", "patience": 50, "restore_best_weights": True}),
        ),
    ),
    "early-stopping-start-from-epoch": Case(
        "regression",
        "mse",
        SGD,
        epochs=12,
        callbacks=(("EarlyStopping", {"monitor": "loss", "mode": "max", "start_from_epoch": 3, "verbose": 1}),),
    ),
    "early-stopping-monitor-not-logged-warns-and-runs-on": Case(
        "regression", "mse", SGD, epochs=3, callbacks=(("EarlyStopping", {"patience": 0}),)
    ),
    # ReduceLROnPlateau: the rate logged before it is reduced, cooldown, and min_lr compared in float32 (0.05 halved
    # three times is 0.00625 in float32: equal to min_lr there, above it in float64)
    "reduce-lr-cooldown-min-lr": Case(
        "regression",
        "mse",
        SGD,
        epochs=12,
        callbacks=(
            (
                "ReduceLROnPlateau",
                {
                    "monitor": "loss",
                    "mode": "max",
                    "factor": 0.5,
                    "patience": 1,
                    "cooldown": 1,
                    "min_lr": 0.00625,
                    "verbose": 1,
                },
            ),
        ),
    ),
    "reduce-lr-on-val-loss": Case(
        "classes",
        "categorical_crossentropy",
        ("Adam", {"learning_rate": 0.05}),
        epochs=14,
        metrics=("accuracy",),
        split=0.3,
        callbacks=(("ReduceLROnPlateau", {"factor": 0.3, "patience": 2, "min_delta": 0.01}),),
    ),
    "reduce-lr-and-early-stopping-together": Case(
        "binary",
        "binary_crossentropy",
        ("RMSprop", {"learning_rate": 0.02}),
        epochs=30,
        split=0.25,
        callbacks=(
            ("ReduceLROnPlateau", {"factor": 0.5, "patience": 1, "min_delta": 0.005}),
            ("EarlyStopping", {"patience": 3, "min_delta": 0.001, "restore_best_weights": True}),
        ),
    ),
    # LearningRateScheduler: schedule(epoch, lr), and Keras's older schedule(epoch)
    "learning-rate-scheduler": Case(
        "regression",
        "mse",
        ("SGD", {"learning_rate": 0.08, "momentum": 0.5}),
        epochs=5,
        callbacks=(("LearningRateScheduler", {"schedule": "halve_from_2", "verbose": 1}),),
    ),
    "learning-rate-scheduler-by-epoch-adam": Case(
        "binary",
        "binary_crossentropy",
        ADAM,
        epochs=4,
        callbacks=(("LearningRateScheduler", {"schedule": "by_epoch"}),),
    ),
    # every hook, in Keras's order with its logs; a stop set in on_train_batch_end ends that epoch there
    "hooks-in-order": Case(
        "classes",
        "categorical_crossentropy",
        ADAM,
        epochs=2,
        batch=16,
        metrics=("accuracy",),
        weighted=("mae",),
        sample_weight="samples",
        validation="samples",
        callbacks=(("Recorder", {}),),
    ),
    "stop-in-a-batch": Case(
        "regression",
        "mse",
        SGD,
        epochs=4,
        split=0.2,
        callbacks=(("Recorder", {"stop": [1, 2]}),),
    ),
    # sample weights: Σ wᵢ lᵢ / batch size, each reduction, weighted metrics over Σ w, validation and evaluate
    "sample-weight-weighted-metrics": Case(
        "binary",
        "binary_crossentropy",
        ADAM,
        metrics=("mae", "accuracy"),
        weighted=("mae", "mse"),
        split=0.25,
        sample_weight="samples",
        evaluate_weight="samples",
        batch_weight="samples",
    ),
    "sample-weight-column-sum": Case(
        "regression",
        ("MeanSquaredError", {"reduction": "sum"}),
        ("SGD", {"learning_rate": 0.005}),
        weighted=("mae",),
        sample_weight="column",
        validation="column",
        evaluate_weight="column",
    ),
    "sample-weight-mean-with-sample-weight": Case(
        "classes",
        ("CategoricalCrossentropy", {"reduction": "mean_with_sample_weight"}),
        ADAM,
        weighted=("accuracy",),
        sample_weight="samples",
        evaluate_weight="samples",
        batch_weight="samples",
    ),
    "sample-weight-masked-loss": Case(
        "labels",
        ("SparseCategoricalCrossentropy", {"ignore_class": 1}),
        ADAM,
        weighted=("accuracy",),
        sample_weight="samples",
    ),
    "sample-weight-batch-loss": Case("binary", ("Dice", {}), ADAM, sample_weight="samples", evaluate_weight="samples"),
    "sample-weight-per-time-step": Case(
        "sequence", "mse", ADAM, weighted=("mae",), sample_weight="steps", evaluate_weight="steps"
    ),
    "sample-weight-two-heads-one-array": Case(
        "two-heads",
        ["mse", "sparse_categorical_crossentropy"],
        ADAM,
        metrics=[["mae"], ["accuracy"]],
        weighted=[["mae"], ["accuracy"]],
        sample_weight="samples",
        evaluate_weight="samples",
    ),
    "sample-weight-two-heads-one-per-head": Case(
        "two-heads",
        ["mse", "sparse_categorical_crossentropy"],
        SGD,
        weighted=[["mse"], ["accuracy"]],
        sample_weight="heads",
        validation="heads",
        evaluate_weight="heads",
    ),
    "sample-weight-keyed-heads": Case(
        "keyed-heads",
        {"zz": "mse", "aa": "sparse_categorical_crossentropy"},
        SGD,
        weighted={"aa": ["accuracy"]},
        sample_weight="keyed",
        evaluate_weight="keyed",
    ),
    # class weights: by label, by one-hot row, a class left out weighs 1; train_on_batch's too
    "class-weight-binary": Case(
        "binary",
        "binary_crossentropy",
        ADAM,
        metrics=("accuracy",),
        weighted=("accuracy",),
        class_weight=((0, 0.5), (1, 3.0)),
        split=0.2,
        batch_weight="class",
    ),
    "class-weight-one-hot-a-class-left-out": Case(
        "classes",
        "categorical_crossentropy",
        SGD,
        weighted=("accuracy",),
        class_weight=((0, 2.0), (2, 0.25)),
        batch_weight="class",
    ),
}


def our_callbacks(case: Case) -> list:
    made = []
    for name, config in case.callbacks:
        if name == "Recorder":
            made.append(Recorder(**config))
            continue
        config = {**config, "schedule": SCHEDULES[config["schedule"]]} if "schedule" in config else config
        made.append(getattr(nb_callbacks, name)(**config))
    return made


def our_loss(loss):
    if isinstance(loss, tuple):
        return getattr(nb_losses, loss[0])(**loss[1])
    return loss


def _ours(case: Case) -> dict:
    """Our run, as the oracle runs Keras's: fit, evaluate (dict and list), then train_on_batch twice."""
    model = MODELS[case.model]()
    start = model.get_weights()
    name, config = case.optimizer
    model.compile(
        optimizer=getattr(nb_optimizers, name)(**config),
        loss=our_loss(case.loss),
        metrics=list(case.metrics) or None,
        weighted_metrics=case.weighted,
    )
    x, y = inputs_and_targets(case.model, case.n, seed=0)
    weights = {key: sample_weights(kind, case.n, 0) for key, kind in _weights(case).items() if kind != "class"}
    validation = None
    if case.validation:
        vx, vy = inputs_and_targets(case.model, 13, seed=1)
        validation = (vx, vy) if case.validation == "plain" else (vx, vy, sample_weights(case.validation, 13, 1))
    callbacks = our_callbacks(case)
    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
        warnings.simplefilter("ignore")  # a monitor not logged: Keras's warning, tested apart
        history = model.fit(
            x,
            y,
            batch_size=case.batch,
            epochs=case.epochs,
            shuffle=False,
            verbose=0,
            validation_split=case.split,
            validation_data=validation,
            callbacks=callbacks,
            sample_weight=weights.get("sw"),
            class_weight=_classes(case.class_weight),
        )
    weighed = {"batch_size": case.batch, "sample_weight": weights.get("esw")}
    run = {
        "start": start,
        "json": model.to_json(),
        "x": x,
        "y": y,
        "validation": validation,
        "weights_given": weights,
        "history": history.history,
        "weights": model.get_weights(),
        "evaluate": model.evaluate(x, y, return_dict=True, **weighed),
        "evaluate_list": model.evaluate(x, y, **weighed),
        "callbacks": [{a: getattr(c, a) for a in STATE if hasattr(c, a)} for c in callbacks],
        "calls": [c.calls for c in callbacks if isinstance(c, Recorder)],
        "learning_rate": float(model.optimizer.current_learning_rate()),
        "stop_training": model.stop_training,
        "printed": printed.getvalue(),
    }
    fitted = model.get_weights()
    batch = {
        "sample_weight": _rows(weights.get("bsw"), 8),
        "class_weight": _classes(case.class_weight) if case.batch_weight == "class" else None,
    }
    run["train_on_batch"] = model.train_on_batch(_rows(x, 8), _rows(y, 8), **batch)
    run["train_on_batch_dict"] = model.train_on_batch(_rows(x, 8), _rows(y, 8), return_dict=True, **batch)
    run["batch_weights"] = model.get_weights()
    model.set_weights(fitted)
    return run


def _weights(case: Case) -> dict:
    """The oracle's sample-weight arrays of a case, by their keys, and the kind of each."""
    kinds = {"sw": case.sample_weight, "esw": case.evaluate_weight, "bsw": case.batch_weight}
    if case.batch_weight and case.batch_weight != "class":
        kinds["bsw"] = case.batch_weight
    return {key: kind for key, kind in kinds.items() if kind}


def _rows(value, n):
    """The first n samples of an array, or of each of a list's or a dict's."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: v[:n] for k, v in value.items()}
    return [v[:n] for v in value] if isinstance(value, list) else value[:n]


def _classes(pairs):
    return None if pairs is None else dict(pairs)


def _job(case: Case, run: dict) -> dict:
    """The oracle's job for a case: what our run was given. Dicts of arrays go as lists in the outputs' key order."""

    def listed(value):
        return [value[k] for k in sorted(value)] if isinstance(value, dict) else value

    name, config = case.optimizer
    job = {
        "model_json": run["json"],
        "weights": run["start"],
        "x": run["x"],
        "y": run["y"],
        "optimizer": (name, config),
        "loss": case.loss,
        "metrics": list(case.metrics) if not isinstance(case.metrics, list) else case.metrics,
        "weighted_metrics": case.weighted,
        "batch_size": case.batch,
        "epochs": case.epochs,
        "validation_split": case.split,
        "callbacks": [list(c) for c in case.callbacks],
        "class_weight": case.class_weight,
        "bx": _rows(run["x"], 8),
        "by": _rows(run["y"], 8),
    }
    if case.batch_weight == "class":
        job["batch_class_weight"] = case.class_weight
    for key, value in run["weights_given"].items():
        job[key] = value if key != "bsw" else _rows(value, 8)
    if run["validation"] is not None:
        job["vx"], job["vy"] = run["validation"][:2]
        if len(run["validation"]) == 3:
            job["vsw"] = run["validation"][2]
    if case.model == "keyed-heads":  # the oracle sends lists: Keras gets them back as dicts by these keys
        job["keys"] = sorted(run["y"])
    return {k: listed(v) if k in ("y", "by", "vy", "sw", "vsw", "esw", "bsw") else v for k, v in job.items()}


@pytest.fixture(scope="module")
def runs():
    """{case: (our run, Keras's)}, Keras's all in one process."""
    ours = {name: _ours(case) for name, case in CASES.items()}
    theirs = run_jobs([_job(case, ours[name]) for name, case in CASES.items()])
    return {name: (ours[name], expected) for name, expected in zip(CASES, theirs)}


def _close(mine, theirs, what: str) -> None:
    """Keras's value, as Keras returns it: a float, or a list of floats."""
    assert type(mine) is type(theirs), what
    np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=1e-6, err_msg=what)


@pytest.mark.parametrize("name", list(CASES))
def test_fit_with_callbacks_and_weights_equals_keras_on_jax(runs, name):
    run, expected = runs[name]
    assert len(run["history"]["loss"]) == len(expected["history"]["loss"]), "epochs run"
    assert_fit_equals(run, expected)
    _close(run["evaluate_list"], expected["evaluate_list"], "evaluate's list")
    assert_train_on_batch_equals(run, expected)
    np.testing.assert_allclose(run["learning_rate"], expected["learning_rate"], rtol=1e-7)
    assert run["stop_training"] == expected["stop_training"]
    assert run["printed"] == expected["printed"]
    for mine, theirs in zip(run["callbacks"], expected["callbacks"], strict=True):
        assert set(mine) == set(theirs)
        for key, value in theirs.items():
            if value is None:
                assert mine[key] is None, key
            else:
                np.testing.assert_allclose(mine[key], value, rtol=RTOL, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case.callbacks[:1] == (("Recorder", {}),)])
def test_every_hook_is_called_at_keras_s_points_with_its_logs(runs, name):
    """params, on_train_begin, each epoch's and batch's hooks, validation's test hooks, on_train_end: in Keras's
    order, each with Keras's logs."""
    (mine,), (theirs,) = runs[name][0]["calls"], runs[name][1]["calls"]
    assert [c[:2] for c in mine] == [c[:2] for c in theirs]
    for (hook, index, logs), (_, _, expected) in zip(mine, theirs):
        assert set(logs) == set(expected), (hook, index)
        for key, value in expected.items():
            np.testing.assert_allclose(logs[key], value, rtol=RTOL, atol=1e-6, err_msg=f"{hook} {index} {key}")


def test_a_stop_set_in_a_batch_ends_that_epoch_there(runs):
    run, expected = runs["stop-in-a-batch"]
    (calls,) = run["calls"]
    assert [c[:2] for c in calls if c[0] == "on_epoch_end"] == [["on_epoch_end", 0], ["on_epoch_end", 1]]
    assert [c[1] for c in calls if c[0] == "on_train_batch_end"][-1] == 2  # the epoch's fourth batch never ran
    assert run["stop_training"] and calls[-1][0] == "on_train_end"


def test_decisions_are_not_knife_edge(runs):
    """Each comparison a callback makes (Keras's values against the best so far and the baseline, min_delta apart) is
    decided by more than the tolerance: so the cases test the rule, not which side rounding falls."""
    for name, case in CASES.items():
        expected = runs[name][1]
        for cls, config in case.callbacks:
            monitor = config.get("monitor", "val_loss")
            values = expected["history"].get(monitor)
            if cls not in ("EarlyStopping", "ReduceLROnPlateau") or values is None or "accuracy" in monitor:
                continue  # accuracies are exact fractions: equal ones are equal in both
            delta = abs(config.get("min_delta", 1e-4 if cls == "ReduceLROnPlateau" else 0))
            sign = 1 if config.get("mode") == "max" else -1  # the direction a better value goes
            best, baseline = None, config.get("baseline")
            for v in values[config.get("start_from_epoch", 0) :]:
                for reference in (r for r in (best, baseline) if r is not None):
                    assert abs(v - sign * delta - reference) > 1e-4 * abs(reference), (name, v, reference)
                if best is None or sign * (v - sign * delta - best) > 0:
                    best = v


def test_the_cases_decide_something(runs):
    """The callbacks act in these runs: stops, reductions and restored weights that a no-op would not give."""
    epochs = {name: len(runs[name][1]["history"]["loss"]) for name in CASES}
    for name in (
        "early-stopping-patience-val-loss",
        "early-stopping-val-accuracy-auto-max",
        "early-stopping-mode-max-on-a-falling-loss",
        "early-stopping-baseline-restores-the-best",
        "early-stopping-start-from-epoch",
        "reduce-lr-and-early-stopping-together",
    ):
        assert epochs[name] < CASES[name].epochs, name
    assert epochs["early-stopping-start-from-epoch"] > 2  # later than without the warm-up
    for name in ("reduce-lr-cooldown-min-lr", "reduce-lr-on-val-loss", "learning-rate-scheduler"):
        assert len(set(runs[name][1]["history"]["learning_rate"])) > 2, name
    case = CASES["early-stopping-restores-the-best-when-training-runs-to-the-end"]
    model = MODELS[case.model]()
    model.compile(optimizer=nb_optimizers.SGD(**case.optimizer[1]), loss=case.loss)
    x, y = inputs_and_targets(case.model, case.n, seed=0)
    model.fit(x, y, batch_size=case.batch, epochs=case.epochs, shuffle=False)  # the last epoch's weights
    restored = runs["early-stopping-restores-the-best-when-training-runs-to-the-end"][1]["weights"]
    assert not all(np.allclose(a, b, rtol=RTOL) for a, b in zip(model.get_weights(), restored))


def test_a_monitor_not_logged_warns_as_keras_and_decides_nothing():
    case = CASES["early-stopping-monitor-not-logged-warns-and-runs-on"]
    model = MODELS[case.model]()
    model.compile(optimizer="sgd", loss="mse")
    x, y = inputs_and_targets(case.model, 20, seed=0)
    with pytest.warns(UserWarning, match="Early stopping conditioned on metric `val_loss` which is not available"):
        history = model.fit(x, y, epochs=3, callbacks=[nb_callbacks.EarlyStopping(patience=0)])
    assert len(history.history["loss"]) == 3
    with pytest.warns(UserWarning, match="Learning rate reduction is conditioned on metric `val_loss`"):
        model.fit(x, y, epochs=1, callbacks=[nb_callbacks.ReduceLROnPlateau()])


def test_a_run_in_pieces_stops_as_fit_does():
    """The app's way: trainer(...).run(max_batches=1) until done, with EarlyStopping: the same History and weights as
    fit, done with `stopped_early`, and the best weights restored at the end."""
    case = CASES["early-stopping-patience-val-loss"]
    x, y = inputs_and_targets(case.model, case.n, seed=0)
    runs = []
    for pieces in (False, True):
        model = MODELS[case.model]()
        model.compile(optimizer=nb_optimizers.SGD(**case.optimizer[1]), loss=case.loss)
        stop = nb_callbacks.EarlyStopping(patience=2, min_delta=0.002, restore_best_weights=True)
        if pieces:
            run = model.trainer(x, y, batch_size=8, epochs=40, validation_split=0.25, shuffle=False, callbacks=[stop])
            while not run.done:
                run.run(max_batches=1)
            assert run.stopped_early and run.progress == 1.0 and run.epoch < 40 and model.history is run.history
            history = run.history
        else:
            history = model.fit(x, y, batch_size=8, epochs=40, validation_split=0.25, shuffle=False, callbacks=[stop])
        runs.append((history.history, model.get_weights(), stop.best_epoch))
    assert runs[0][0] == runs[1][0] and runs[0][2] == runs[1][2]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_train_on_batch_leaves_the_model_s_history_and_fit_returns_it():
    model = MODELS["regression"]()
    model.compile(optimizer="sgd", loss="mse")
    x, y = inputs_and_targets("regression", 16, seed=0)
    history = model.fit(x, y, epochs=2)
    assert model.history is history and history.params == {"verbose": "auto", "epochs": 2, "steps": 1}
    model.train_on_batch(x, y, sample_weight=np.ones(16))
    assert model.history is history and history.epoch == [0, 1]


# --- refused by name, as Keras refuses, or where Keras would fail or ignore --------------------------------------
@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: nb_callbacks.ReduceLROnPlateau(factor=1.0), r"does not support a factor >= 1.0. Received factor=1.0"),
        (lambda: nb_callbacks.ReduceLROnPlateau(epsilon=0.1), r"ReduceLROnPlateau\(epsilon=...\) is not an argument"),
        (lambda: nb_callbacks.EarlyStopping(patience="3"), r"EarlyStopping\(patience=...\) must be a number"),
        (lambda: nb_callbacks.EarlyStopping(restore_best_weights="no"), r"restore_best_weights=...\) must be True"),
        (lambda: nb_callbacks.EarlyStopping(monitor=None), r"monitor=...\) must be the name of a logged value"),
        (lambda: nb_callbacks.LearningRateScheduler(0.1), r"schedule=...\) must be a function"),
    ],
)
def test_callback_arguments_keras_cannot_compute_with_are_refused(make, match):
    with pytest.raises(nb.LayerConfigError, match=match):
        make()


def test_an_unknown_mode_falls_back_to_auto_with_keras_s_warning():
    with pytest.warns(UserWarning, match="EarlyStopping mode 'lowest' is unknown, fallback to auto mode."):
        assert nb_callbacks.EarlyStopping(mode="lowest").mode == "auto"


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (
            {"callbacks": [nb_callbacks.LearningRateScheduler(lambda e, lr: lr)], "optimizer": None},
            nb.LayerConfigError,
            "created with a `LearningRateSchedule` object as its `learning_rate`.*not settable",
        ),
        (
            {"callbacks": [nb_callbacks.LearningRateScheduler(lambda e, lr: 1)]},
            nb.LayerConfigError,
            r"The output of the `schedule` function should be a float. Got: 1",
        ),
        (
            {"callbacks": [nb_callbacks.EarlyStopping(monitor="reg_mae")], "model_name": "two-heads"},
            nb.LayerConfigError,
            "callback received monitor=reg_mae, but Keras isn't able to automatically determine",
        ),
        ({"callbacks": [object()]}, nb.LayerConfigError, r"fit\(callbacks=...\): a object is not a netbuilder"),
        ({"sample_weight": np.ones(15)}, nb.InputDataError, "x holds 16 samples but sample_weight holds 15"),
        ({"sample_weight": np.full(16, np.nan)}, nb.InputDataError, "sample_weight holds 16 NaN"),
        (
            {"sample_weight": np.ones(16), "class_weight": {0: 1.0}},
            nb.LayerConfigError,
            "You cannot `class_weight` and `sample_weight` at the same time.",
        ),
        ({"class_weight": [1.0, 2.0]}, nb.LayerConfigError, "class_weight must be a dict"),
        ({"class_weight": {"1": 2.0}}, nb.LayerConfigError, "class_weight's keys must be class indices"),
        ({"class_weight": {1: "2"}}, nb.LayerConfigError, r"class_weight\[1\] must be a finite number"),
        (
            {"class_weight": {0: 1.0}, "model_name": "two-heads"},
            nb.LayerConfigError,
            "`class_weight` is only supported for Models with a single output.",
        ),
        ({"class_weight": {0: 2.0}, "model_name": "sequence"}, nb.InputDataError, "class_weight needs one class"),
        (
            {"sample_weight": np.ones(16), "model_name": "sequence"},
            nb.InputDataError,
            r"sample weights of shape \(\) per sample cannot weigh a loss whose values have shape \(7,\) per sample",
        ),
        (
            {"sample_weight": np.ones((16, 2)), "model_name": "two-heads"},
            nb.LayerConfigError,
            "when providing a single `sample_weight` array, it should only have one scalar score per sample",
        ),
        (
            {"sample_weight": (np.ones(16), np.ones(16)), "model_name": "two-heads"},
            nb.LayerConfigError,
            "You should provide one `sample_weight` array per output in `y`",
        ),
        (
            {"sample_weight": [np.ones(16), None], "model_name": "two-heads"},
            nb.LayerConfigError,
            "must give every output an array",
        ),
        (
            {"sample_weight": np.ones(16), "model_name": "two-heads", "y": "dict"},
            nb.LayerConfigError,
            "y given as a dict for a model whose outputs are a list: Keras 3.15 fails on it",
        ),
        (
            {"sample_weight": np.ones(16), "model_name": "keyed-heads", "y": "list"},
            nb.LayerConfigError,
            "y given as a list for a model whose outputs are a dict: Keras 3.15 fails on it",
        ),
    ],
)
def test_what_keras_refuses_or_fails_on_is_refused_by_name_before_a_step(kwargs, error, match):
    model_name = kwargs.pop("model_name", "regression")
    model = MODELS[model_name]()
    optimizer = kwargs.pop("optimizer", "sgd")
    if optimizer is None:  # an optimizer built with a schedule
        optimizer = nb_optimizers.SGD(nb_optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))
    model.compile(
        optimizer=optimizer, loss=["mse", "sparse_categorical_crossentropy"] if "heads" in model_name else "mse"
    )
    x, y = inputs_and_targets(model_name, 16, seed=0)
    shape = kwargs.pop("y", None)
    if shape == "dict":
        y = dict(zip(["reg", "cls"], y))
    elif shape == "list":
        y = [y[k] for k in ("aa", "zz")]
    before = model.get_weights()
    with pytest.raises(error, match=match):
        model.fit(x, y, batch_size=8, epochs=2, **kwargs)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # nothing was trained


def test_evaluate_and_train_on_batch_check_their_weights_as_fit():
    model = MODELS["binary"]()
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    x, y = inputs_and_targets("binary", 16, seed=0)
    with pytest.raises(nb.InputDataError, match="x holds 16 samples but sample_weight holds 3"):
        model.evaluate(x, y, sample_weight=np.ones(3))
    with pytest.raises(nb.LayerConfigError, match=r"evaluate\(callbacks=...\): a str is not a netbuilder"):
        model.evaluate(x, y, callbacks=["EarlyStopping"])
    with pytest.raises(nb.LayerConfigError, match="You cannot `class_weight` and `sample_weight` at the same time."):
        model.train_on_batch(x, y, sample_weight=np.ones(16), class_weight={0: 2.0})


def test_weighted_metrics_are_keras_s_names_and_refuse_what_compile_refuses():
    model = MODELS["two-heads"]()
    with pytest.raises(nb.LayerConfigError, match="Expected `weighted_metrics` argument to be a list, tuple, or dict"):
        model.compile(loss="mse", weighted_metrics="mae")
    with pytest.raises(nb.LayerConfigError, match="unknown metric 'auc'"):
        model.compile(loss="mse", weighted_metrics={"reg": ["auc"]})
    model.compile(loss="mse", metrics=[["mae"], ["mae"]], weighted_metrics=[["mae", "mse"], []])
    assert model.metrics_names == ["reg_loss", "cls_loss", "cls_mae", "reg_mae", "reg_mse", "reg_weighted_mae"]


# --- what a step costs -----------------------------------------------------------------------------------------
def test_a_step_counts_its_schedule_and_its_sample_weights():
    loss = nb_losses.MeanSquaredError()
    plain = training.step_cost(loss, ["mae"], nb_optimizers.SGD())
    scheduled = nb_optimizers.SGD(nb_optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))
    assert (
        training.step_cost(loss, ["mae"], scheduled).microseconds == plain.microseconds + scheduled.step_microseconds()
    )
    weighed = training.step_cost(loss, ["mae"], nb_optimizers.SGD(), ["mae"], sample_weighted=True)
    assert weighed.microseconds > training.step_cost(loss, ["mae"], nb_optimizers.SGD(), ["mae"]).microseconds
    assert weighed.output_operations > plain.output_operations
