"""Training against real Keras 3 on its JAX backend (tests/training_oracle.py runs it in its own process).

The same model, initial weights and data, shuffle=False: per-epoch loss and metric history and the
final weights equal Keras's within 1e-3 relative, across optimizers × losses × models, including a batch
size that does not divide the sample count and validation data. Then the bookkeeping Keras users rely on:
train_on_batch, evaluate, budgets, and reproducible shuffling.
"""

from __future__ import annotations

import numpy as np
import pytest

import netbuilder as nb
from netbuilder.engine.kinds import dense  # noqa: F401
from netbuilder.losses import BinaryCrossentropy, CategoricalCrossentropy, Huber, SparseCategoricalCrossentropy
from netbuilder.optimizers import SGD, Adagrad, Adam, Adamax, AdamW, Nadam, RMSprop
from netbuilder.studio.spec import LayerSpec, ModelSpec
from training_oracle import run_jobs

RTOL = 1e-3


def spec_of(input_shape, *layers, seed=5) -> ModelSpec:
    return ModelSpec(
        tuple(input_shape), tuple(LayerSpec.make(i, kind, **s) for i, (kind, s) in enumerate(layers)), seed
    ).validate()


def data(kind: str, n: int, input_shape, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *input_shape)).astype(np.float32)
    if kind == "regression":
        y = np.tanh(x.reshape(n, -1).sum(axis=1, keepdims=True) / 3).astype(np.float32)
    elif kind == "binary":
        y = (x.reshape(n, -1).sum(axis=1, keepdims=True) > 0).astype(np.float32)
    elif kind == "sparse":
        y = rng.integers(0, classes, size=(n,)).astype(np.float32)
    else:  # one-hot
        y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, size=n)]
    return x, y


OPTIMIZERS = {
    "sgd": (SGD(learning_rate=0.05), ("SGD", {"learning_rate": 0.05})),
    "sgd-nesterov": (
        SGD(0.03, momentum=0.9, nesterov=True),
        ("SGD", {"learning_rate": 0.03, "momentum": 0.9, "nesterov": True}),
    ),
    "adam": (Adam(learning_rate=0.01), ("Adam", {"learning_rate": 0.01})),
    "rmsprop-momentum": (
        RMSprop(learning_rate=0.005, momentum=0.5),
        ("RMSprop", {"learning_rate": 0.005, "momentum": 0.5}),
    ),
    "adagrad": (Adagrad(learning_rate=0.05), ("Adagrad", {"learning_rate": 0.05})),
    "rmsprop-centered": (RMSprop(0.01, centered=True), ("RMSprop", {"learning_rate": 0.01, "centered": True})),
    "rmsprop-centered-momentum": (
        RMSprop(0.01, rho=0.8, momentum=0.7, centered=True),
        ("RMSprop", {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.7, "centered": True}),
    ),
    "adagrad-accumulator": (
        Adagrad(0.1, initial_accumulator_value=0.5, epsilon=1e-4),
        ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "epsilon": 1e-4}),
    ),
    # issue 21: the rest of Adam's family, weight decay and the three clippings
    "adam-amsgrad": (Adam(0.01, amsgrad=True), ("Adam", {"learning_rate": 0.01, "amsgrad": True})),
    "adamw": (AdamW(0.01, weight_decay=0.1), ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1})),
    "adamax": (Adamax(0.02, beta_2=0.99), ("Adamax", {"learning_rate": 0.02, "beta_2": 0.99})),
    "nadam": (Nadam(0.01), ("Nadam", {"learning_rate": 0.01})),
    "sgd-clipnorm-decay": (
        SGD(0.05, momentum=0.5, clipnorm=0.5, weight_decay=0.01),
        ("SGD", {"learning_rate": 0.05, "momentum": 0.5, "clipnorm": 0.5, "weight_decay": 0.01}),
    ),
    "adam-global-clipnorm": (
        Adam(0.01, global_clipnorm=0.3),
        ("Adam", {"learning_rate": 0.01, "global_clipnorm": 0.3}),
    ),
    "rmsprop-clipvalue": (RMSprop(0.01, clipvalue=0.05), ("RMSprop", {"learning_rate": 0.01, "clipvalue": 0.05})),
}


def MLP(head, out):  # noqa: N802 — read as a model's name in the table below
    return spec_of(
        (6,),
        ("Dense", {"units": 12, "activation": "tanh"}),
        ("Dense", {"units": 8, "activation": "relu"}),
        ("Dense", {"units": out, "activation": head}),
    )


CASES = {
    # name: (spec, data kind, loss, metrics, optimizer, batch size, epochs, validation split)
    "mse-adam-amsgrad": (MLP("linear", 1), "regression", "mse", ["mae"], "adam-amsgrad", 8, 4, 0.0),
    "bce-adamw": (MLP("sigmoid", 1), "binary", "binary_crossentropy", ["accuracy"], "adamw", 8, 4, 0.25),
    "sparse-cce-adamax": (MLP("softmax", 3), "sparse", "sparse_categorical_crossentropy", [], "adamax", 9, 3, 0.0),
    "cce-nadam": (MLP("softmax", 3), "onehot", "categorical_crossentropy", ["accuracy"], "nadam", 10, 4, 0.0),
    "mse-sgd-clipnorm-decay": (MLP("linear", 1), "regression", "mse", [], "sgd-clipnorm-decay", 8, 3, 0.0),
    "huber-adam-global-clipnorm": (MLP("linear", 1), "regression", "huber", [], "adam-global-clipnorm", 7, 3, 0.0),
    "bce-rmsprop-clipvalue": (MLP("sigmoid", 1), "binary", "binary_crossentropy", [], "rmsprop-clipvalue", 8, 3, 0.0),
    "mse-sgd": (MLP("linear", 1), "regression", "mse", ["mae"], "sgd", 16, 4, 0.0),
    "mae-adam-partial-batch": (MLP("linear", 1), "regression", "mean_absolute_error", ["mse"], "adam", 7, 3, 0.0),
    "huber-rmsprop": (MLP("linear", 1), "regression", "huber", [], "rmsprop-momentum", 10, 3, 0.2),
    "bce-adagrad": (MLP("sigmoid", 1), "binary", "binary_crossentropy", ["accuracy"], "adagrad", 8, 4, 0.0),
    "cce-sgd-nesterov": (
        MLP("softmax", 3),
        "onehot",
        "categorical_crossentropy",
        ["accuracy"],
        "sgd-nesterov",
        12,
        3,
        0.25,
    ),
    "sparse-cce-adam": (
        MLP("softmax", 3),
        "sparse",
        "sparse_categorical_crossentropy",
        ["accuracy"],
        "adam",
        9,
        3,
        0.0,
    ),
    "convnet-adam": (
        spec_of(
            (8, 8, 1),
            ("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "relu"}),
            ("MaxPooling2D", {"pool_size": 2}),
            ("Conv2D", {"filters": 6, "kernel_size": 2, "padding": "same"}),
            ("GlobalAveragePooling2D", {}),
            ("Dense", {"units": 3, "activation": "softmax"}),
        ),
        "sparse",
        "sparse_categorical_crossentropy",
        ["accuracy"],
        "adam",
        6,
        3,
        0.0,
    ),
    "rank3-dense-flatten": (
        spec_of(
            (3, 2),
            ("Dense", {"units": 16, "activation": "gelu"}),
            ("Flatten", {}),
            ("Dense", {"units": 4, "activation": "softmax"}),
        ),
        "onehot4",
        "categorical_crossentropy",
        ["accuracy"],
        "adam",
        5,
        3,
        0.0,
    ),
    # logits (a linear last layer), Keras's loss classes, the rarer optimizer settings, validation_data
    "bce-logits-sgd": (
        MLP("linear", 1),
        "binary",
        BinaryCrossentropy(from_logits=True),
        ["accuracy"],
        "sgd",
        8,
        3,
        0.2,
    ),
    "cce-logits-rmsprop-centered-validation-data": (
        MLP("linear", 3),
        "onehot",
        CategoricalCrossentropy(from_logits=True),
        ["accuracy", "mae"],
        "rmsprop-centered",
        10,
        3,
        "data",
    ),
    "sparse-logits-adagrad-accumulator": (
        MLP("linear", 3),
        "sparse",
        SparseCategoricalCrossentropy(from_logits=True),
        ["accuracy"],
        "adagrad-accumulator",
        7,
        3,
        0.0,
    ),
    "huber-delta-rmsprop-centered-momentum-validation-data": (
        MLP("linear", 1),
        "regression",
        Huber(delta=0.3),
        [],
        "rmsprop-centered-momentum",
        8,
        3,
        "data",
    ),
}
KERAS_LOSSES = {
    "mean_squared_error": "MeanSquaredError",
    "huber": "Huber",
    "binary_crossentropy": "BinaryCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
}


def _keras_loss(loss):
    """A loss as the oracle gives it to Keras: its name, or (Keras class, config) for a loss object."""
    if isinstance(loss, str):
        return loss
    config = {"delta": loss.delta} if loss.name == "huber" else {"from_logits": loss.from_logits}
    return KERAS_LOSSES[loss.name], config


def _case_data(spec, kind, n=50, seed=0):
    classes = spec.analysis.output_shape[-1]
    return data("onehot" if kind.startswith("onehot") else kind, n, spec.input_shape, classes=classes, seed=seed)


def _ours(spec, kind, loss, metrics, optimizer, batch, epochs, split):
    """Our run, as the oracle runs Keras's: fit, evaluate, then train_on_batch twice (plain, then return_dict=True)."""
    model = nb.Sequential([nb.Input(spec.input_shape), *spec.layer_objects()], seed=spec.seed)  # a fresh copy to train
    start = model.get_weights()
    model.compile(optimizer=OPTIMIZERS[optimizer][0], loss=loss, metrics=metrics)
    x, y = _case_data(spec, kind)
    validation = _case_data(spec, kind, n=13, seed=1) if split == "data" else None
    history = model.fit(
        x,
        y,
        batch_size=batch,
        epochs=epochs,
        shuffle=False,
        validation_split=0.0 if validation else split,
        validation_data=validation,
    )
    return {"validation": validation, **results(model, start, x, y, history, batch)}


def results(model, start: list, x, y, history, batch: int, on_batch: int | None = 6) -> dict:
    """Our run as the oracle records Keras's: the starting weights and data, the History, the weights after fit and
    evaluate; then (unless `on_batch` is None) train_on_batch twice on the first `on_batch` samples, plain then
    return_dict=True, and the weights after both."""
    run = {
        "start": start,
        "x": x,
        "y": y,
        "history": history.history,
        "weights": model.get_weights(),
        "evaluate": model.evaluate(x, y, batch_size=batch, return_dict=True),
    }
    if on_batch is not None:
        run["train_on_batch"] = model.train_on_batch(x[:on_batch], y[:on_batch])
        run["train_on_batch_dict"] = model.train_on_batch(x[:on_batch], y[:on_batch], return_dict=True)
        run["batch_weights"] = model.get_weights()
    return run


@pytest.fixture(scope="module")
def keras_results():
    jobs, ours = [], {}
    for name, (spec, kind, loss, metrics, optimizer, batch, epochs, split) in CASES.items():
        run = ours[name] = _ours(spec, kind, loss, metrics, optimizer, batch, epochs, split)
        vx, vy = run["validation"] or (None, None)
        jobs.append(
            {
                "model_json": spec_model_json(spec),
                "weights": run["start"],
                "x": run["x"],
                "y": run["y"],
                "optimizer": OPTIMIZERS[optimizer][1],
                "loss": _keras_loss(loss),
                "metrics": metrics,
                "batch_size": batch,
                "epochs": epochs,
                "validation_split": 0.0 if split == "data" else split,
                "vx": vx,
                "vy": vy,
                "bx": run["x"][:6],
                "by": run["y"][:6],
            }
        )
    return dict(zip(CASES, run_jobs(jobs))), ours


def spec_model_json(spec) -> str:
    return nb.Sequential([nb.Input(spec.input_shape), *spec.layer_objects()], seed=spec.seed).to_json()


def assert_fit_equals(run: dict, expected: dict) -> None:
    """Our fit's History, final weights and evaluate equal Keras's (the oracle's run of the same job)."""
    assert set(run["history"]) == set(expected["history"])
    for key, values in expected["history"].items():
        np.testing.assert_allclose(run["history"][key], values, rtol=RTOL, atol=1e-6, err_msg=key)
    for mine, keras_w in zip(run["weights"], expected["weights"], strict=True):
        np.testing.assert_allclose(mine, keras_w, rtol=RTOL, atol=1e-5)
    assert set(run["evaluate"]) == set(expected["evaluate"])
    for key, value in expected["evaluate"].items():
        np.testing.assert_allclose(run["evaluate"][key], value, rtol=RTOL, atol=1e-6, err_msg=key)


def assert_train_on_batch_equals(run: dict, expected: dict) -> None:
    """What Keras's train_on_batch returns, value and kind (a float without metrics, [loss, *metrics] with them, or a
    dict), and the weights after it."""
    assert type(run["train_on_batch"]) is type(expected["train_on_batch"])  # float, or list
    np.testing.assert_allclose(run["train_on_batch"], expected["train_on_batch"], rtol=RTOL, atol=1e-6)
    assert set(run["train_on_batch_dict"]) == set(expected["train_on_batch_dict"])
    for key, value in expected["train_on_batch_dict"].items():
        np.testing.assert_allclose(run["train_on_batch_dict"][key], value, rtol=RTOL, atol=1e-6, err_msg=key)
    for mine, keras_w in zip(run["batch_weights"], expected["batch_weights"], strict=True):
        np.testing.assert_allclose(mine, keras_w, rtol=RTOL, atol=1e-5)


@pytest.mark.parametrize("name", list(CASES))
def test_training_equals_keras_on_jax(keras_results, name):
    theirs, ours = keras_results
    assert_fit_equals(ours[name], theirs[name])


@pytest.mark.parametrize("name", list(CASES))
def test_train_on_batch_returns_keras_s_values(keras_results, name):
    theirs, ours = keras_results
    assert_train_on_batch_equals(ours[name], theirs[name])


def test_fit_is_reproducible_from_the_model_seed_and_shuffles():
    spec, kind, loss, metrics, optimizer, batch, epochs, split = CASES["mse-sgd"]
    runs = []
    for _ in range(2):
        model = nb.Sequential([nb.Input(spec.input_shape), *spec.layer_objects()], seed=spec.seed)
        model.compile(optimizer="sgd", loss=loss)
        x, y = _case_data(spec, kind)
        runs.append(model.fit(x, y, batch_size=batch, epochs=2).history["loss"])
    assert runs[0] == runs[1]
    model = nb.Sequential([nb.Input(spec.input_shape), *spec.layer_objects()], seed=spec.seed)
    model.compile(optimizer="sgd", loss=loss)
    assert model.fit(x, y, batch_size=batch, epochs=2, shuffle=False).history["loss"] != runs[0]


def test_train_on_batch_and_evaluate_return_what_keras_returns():
    spec = MLP("sigmoid", 1)
    model = nb.Sequential([nb.Input(spec.input_shape), *spec.layer_objects()], seed=1)
    x, y = data("binary", 20, (6,))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    assert isinstance(model.train_on_batch(x, y), float) and isinstance(model.evaluate(x, y), float)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    loss, accuracy = model.evaluate(x, y)
    assert 0 <= accuracy <= 1 and loss > 0
    assert set(model.train_on_batch(x, y, return_dict=True)) == {"loss", "accuracy"}


def test_compile_refuses_unknown_names_and_fit_checks_its_data():
    model = nb.Sequential([nb.Input((2,)), nb.Dense(1)], seed=0)
    with pytest.raises(nb.LayerConfigError, match="unknown optimizer"):
        model.compile(optimizer="adamm", loss="mse")
    with pytest.raises(nb.LayerConfigError, match="unknown loss"):
        model.compile(optimizer="sgd", loss="kl")
    with pytest.raises(nb.LayerConfigError, match="unknown metric"):
        model.compile(optimizer="sgd", loss="mse", metrics=["auc"])
    with pytest.raises(nb.LayerConfigError, match="call `compile"):
        model.fit(np.zeros((4, 2)), np.zeros((4, 1)))
    model.compile(optimizer="SGD", loss="mean_squared_error")
    with pytest.raises(nb.InputDataError, match="one target per sample"):
        model.fit(np.zeros((4, 2)), np.zeros((3, 1)))
    with pytest.raises(nb.IncompatibleShapeError):
        model.fit(np.zeros((4, 3)), np.zeros((4, 1)))


@pytest.mark.usefixtures("public_budget")
def test_a_training_run_over_its_work_budget_is_refused_before_it_starts():
    model = nb.Sequential([nb.Input((1024,)), nb.Dense(1024), nb.Dense(1)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((1000, 1024), np.float32), np.zeros((1000, 1), np.float32)
    before = model.get_weights()
    with pytest.raises(nb.LimitError, match="the budget per training run is .*: train at most"):
        model.fit(x, y, epochs=1000)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # nothing was trained
    wide = nb.Sequential([nb.Input((1024,)), nb.Dense(8192), nb.Dense(1)], seed=0)
    wide.compile(optimizer="adam", loss="mse")
    with pytest.raises(nb.LimitError, match="memory budget per run is 96.0 MB: use a smaller batch size"):
        wide.fit(x, y, batch_size=1000, epochs=1)


def test_a_run_in_pieces_equals_a_run_in_one_go():
    spec, kind, loss, metrics, optimizer, batch, epochs, split = CASES["bce-adagrad"]
    x, y = _case_data(spec, kind)
    whole = nb.Sequential([nb.Input(spec.input_shape), *spec.layer_objects()], seed=spec.seed)
    whole.compile(optimizer="adam", loss=loss, metrics=metrics)
    expected = whole.fit(x, y, batch_size=batch, epochs=epochs).history
    pieces = nb.Sequential([nb.Input(spec.input_shape), *spec.layer_objects()], seed=spec.seed)
    pieces.compile(optimizer="adam", loss=loss, metrics=metrics)
    run = pieces.trainer(x, y, batch_size=batch, epochs=epochs)
    while not run.done:
        run.run(max_batches=3)
    assert run.history.history == expected
    for a, b in zip(whole.get_weights(), pieces.get_weights()):
        np.testing.assert_array_equal(a, b)


def _dropout_model():
    model = nb.Sequential([nb.Input((6,)), nb.Dense(16, activation="relu"), nb.Dropout(0.5), nb.Dense(1)], seed=4)
    model.compile(optimizer=SGD(learning_rate=0.05), loss="mse")
    return model


def test_the_random_stream_goes_on_across_fit_calls():
    """Keras's SeedGenerator lives with the model: fit(epochs=1) three times shuffles and drops out as fit(epochs=3)
    does, not the first epoch's order and masks three times over."""
    x, y = data("regression", 30, (6,))
    whole = _dropout_model()
    expected = whole.fit(x, y, batch_size=8, epochs=3).history["loss"]
    parts = _dropout_model()
    losses = [parts.fit(x, y, batch_size=8, epochs=1).history["loss"][0] for _ in range(3)]
    assert losses == expected
    for a, b in zip(whole.get_weights(), parts.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_train_on_batch_draws_new_dropout_masks_and_a_fresh_compile_repeats_them():
    x, y = data("regression", 8, (6,))
    runs = []
    for _ in range(2):
        model = _dropout_model()
        model.compile(optimizer=SGD(learning_rate=0.0), loss="mse")  # no update: each loss differs by its mask only
        runs.append([model.train_on_batch(x, y) for _ in range(3)])
    assert len(set(runs[0])) == 3  # a new mask each step
    assert runs[0] == runs[1]  # reproducible from the model seed


@pytest.mark.parametrize(
    "call,kwargs",
    [
        ("fit", {"callbacks": [object()]}),
        ("fit", {"initial_epoch": 3, "epochs": 4}),
        ("fit", {"validation_split": 0.2, "validation_freq": 2}),
        ("fit", {"steps_per_epoch": 1}),
        ("fit", {"validation_steps": 1}),
        ("fit", {"bogus": 1}),
        ("evaluate", {"steps": 1}),
        ("evaluate", {"callbacks": [object()]}),
        ("evaluate", {"bogus": 1}),
        ("compile", {"bogus": 1}),
        ("predict", {"steps": 1}),
        ("predict", {"callbacks": [object()]}),
    ],
)
def test_keras_arguments_netbuilder_does_not_honour_are_refused_by_name(call, kwargs):
    model = nb.Sequential([nb.Input((6,)), nb.Dense(1)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    x, y = data("regression", 10, (6,))
    before = model.get_weights()
    args = {"compile": (), "predict": (x,)}.get(call, (x, y))
    name = next(k for k in kwargs if k not in ("epochs", "validation_split"))
    with pytest.raises(
        nb.LayerConfigError, match=rf"{call}\(.*{name}.*(not supported by netbuilder|netbuilder's {call} takes)"
    ):
        getattr(model, call)(*args, **kwargs)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # nothing was trained


def test_keras_defaults_are_accepted_and_batch_size_none_is_32():
    x, y = data("regression", 70, (6,))
    runs = []
    for batch_size in (None, 32):
        model = nb.Sequential([nb.Input((6,)), nb.Dense(1)], seed=0)
        model.compile(
            optimizer="sgd", loss="mse", loss_weights=None, weighted_metrics=[], run_eagerly=True, jit_compile=False
        )
        history = model.fit(
            x,
            y,
            batch_size=batch_size,
            epochs=2,
            verbose=1,
            callbacks=[],
            class_weight=None,
            sample_weight=None,
            initial_epoch=0,
            steps_per_epoch=None,
            validation_steps=None,
            validation_freq=1,
            validation_data=(x[:5], y[:5], None),
        )
        runs.append(
            (history.history, model.evaluate(x, y, batch_size=batch_size, sample_weight=None, steps=None, callbacks=[]))
        )
    assert runs[0] == runs[1]
    model.train_on_batch(x, y, sample_weight=None, class_weight=None)
    model.predict(x, steps=None, callbacks=None)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Adagrad(loss_scale_factor=128.0),
        lambda: RMSprop(loss_scale_factor=2.0),
    ],
)
def test_optimizer_arguments_netbuilder_does_not_implement_are_refused_by_name(make):
    with pytest.raises(
        nb.LayerConfigError,
        match=r"\(loss_scale_factor=.*not supported by netbuilder \(it computes what Keras's default .*\); "
        r"netbuilder's \w+ takes learning_rate",
    ):
        make()


def test_optimizers_take_keras_defaults_and_refuse_unknown_or_wrong_values():
    assert Adam(amsgrad=False, weight_decay=None, clipnorm=None, use_ema=False, name="my_adam") == Adam()
    with pytest.raises(
        nb.LayerConfigError,
        match="is not an argument of SGD; netbuilder's SGD takes learning_rate, momentum, nesterov, weight_decay, clip",
    ):
        SGD(decay=0.1)
    with pytest.raises(nb.LayerConfigError, match=r"learning_rate=...\) must be a number of at least 0"):
        Adam(learning_rate=lambda step: 0.1)  # a schedule
    with pytest.raises(nb.LayerConfigError, match=r"centered=...\) must be True or False"):
        RMSprop(centered="yes")
    with pytest.raises(nb.LayerConfigError, match="only one of clipnorm, clipvalue and global_clipnorm can be set"):
        SGD(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(nb.LayerConfigError, match=r"AdamW\(weight_decay=...\) must be a number"):
        AdamW(weight_decay=None)
