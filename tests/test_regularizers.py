"""Weight regularizers (kernel_regularizer, bias_regularizer on Dense and the convolutions, gamma_regularizer and
beta_regularizer on the normalisations), against Keras: each
penalty equals Keras's own, each gradient its finite differences, and training with them equals Keras on JAX step for
step (History with val_loss, weights, evaluate) — a zero bias under L1 included, where JAX's derivative of |x| is 1.
Their JSON is Keras's text, their exported code builds the same model in Keras, an editor reads them as text, and a
training run's cost counts them."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import netbuilder as nb
from kind_harness import run_keras_code
from netbuilder.engine import regularizers as R
from netbuilder.engine.budget import current
from netbuilder.engine.errors import LayerConfigError
from netbuilder.engine.kinds.dense import Dense
from netbuilder.studio import share, train
from netbuilder.studio.keras_import import spec_from_keras_json
from netbuilder.studio.models import fresh
from netbuilder.studio.run import packed
from netbuilder.studio.spec import LayerSpec
from netbuilder.studio.workers import Recorder
from training_oracle import run_jobs

PAIRS = {
    "l1": (R.L1(0.1), lambda: keras.regularizers.L1(0.1)),
    "l2": (R.L2(0.2), lambda: keras.regularizers.L2(0.2)),
    "l1_l2": (R.L1L2(0.1, 0.2), lambda: keras.regularizers.L1L2(0.1, 0.2)),
    "orthogonal rows": (R.OrthogonalRegularizer(0.3), lambda: keras.regularizers.OrthogonalRegularizer(0.3)),
}


@pytest.mark.parametrize("name", list(PAIRS))
def test_each_penalty_is_keras_s(name):
    ours, theirs = PAIRS[name]
    w = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(ours.penalty(w), float(theirs()(w)), rtol=1e-6)


@pytest.mark.parametrize(
    "regularizer",
    [*(pair[0] for pair in PAIRS.values()), R.OrthogonalRegularizer(0.3, "columns"), R.L1L2(l2=0.5)],
    ids=[*PAIRS, "orthogonal columns", "l2 only"],
)
def test_each_gradient_is_its_penalty_s_finite_differences(regularizer):
    w = np.random.default_rng(1).normal(size=(5, 4))
    numeric = np.zeros_like(w)
    for index in np.ndindex(w.shape):
        up, down = w.copy(), w.copy()
        up[index] += 1e-3
        down[index] -= 1e-3
        numeric[index] = (_penalty64(regularizer, up) - _penalty64(regularizer, down)) / 2e-3
    np.testing.assert_allclose(regularizer.gradient(w.astype(np.float32)), numeric, rtol=1e-3, atol=1e-4)


def _penalty64(regularizer, w: np.ndarray) -> float:
    """The penalty in float64, so that the finite differences measure the formula, not float32's rounding."""
    if isinstance(regularizer, R.OrthogonalRegularizer):
        v = w if regularizer.mode == "rows" else w.T
        u = v / np.linalg.norm(v, axis=1, keepdims=True)
        product = np.abs(u @ u.T)
        np.fill_diagonal(product, 0)
        return regularizer.factor * 0.5 * product.sum() / (len(u) * (len(u) - 1) / 2)
    l1, l2 = getattr(regularizer, "l1", 0.0), getattr(regularizer, "l2", 0.0)
    return l1 * np.abs(w).sum() + l2 * np.square(w).sum()


CASES = {
    "dense l1_l2 kernel, l1 on a zero bias": (
        (6,),
        [
            nb.Dense(8, activation="tanh", kernel_regularizer=nb.regularizers.L1L2(0.01, 0.02), bias_regularizer="l1"),
            nb.Dense(1),
        ],
    ),
    "dense orthogonal rows and columns": (
        (6,),
        [
            nb.Dense(8, activation="relu", kernel_regularizer=nb.regularizers.OrthogonalRegularizer(0.5)),
            nb.Dense(3, kernel_regularizer=nb.regularizers.OrthogonalRegularizer(0.2, mode="columns")),
            nb.Dense(1),
        ],
    ),
    "normalisations' gamma and beta": (
        (6,),
        [
            nb.Dense(8, activation="relu"),
            nb.BatchNormalization(gamma_regularizer=nb.regularizers.L2(0.3), beta_regularizer="l1"),
            nb.Dense(4),
            nb.LayerNormalization(gamma_regularizer=nb.regularizers.L1L2(0.05, 0.1)),
            nb.Dense(1),
        ],
    ),
    "conv2d l2 kernel and bias": (
        (6, 6, 2),
        [
            nb.Conv2D(3, 3, activation="relu", kernel_regularizer="l2", bias_regularizer=nb.regularizers.L2(0.5)),
            nb.Flatten(),
            nb.Dense(1, kernel_regularizer=nb.regularizers.L1(0.003)),
        ],
    ),
}


@pytest.fixture(scope="module")
def trained():
    jobs, ours = [], {}
    for name, (shape, layers) in CASES.items():
        model = nb.Sequential([nb.Input(shape), *layers], seed=3)
        start = model.get_weights()
        rng = np.random.default_rng(0)
        x = rng.normal(size=(24, *shape)).astype(np.float32)
        y = np.tanh(x.reshape(24, -1).sum(axis=1, keepdims=True) / 3).astype(np.float32)
        model.compile(optimizer=nb.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
        history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, validation_split=0.25)
        ours[name] = (history.history, model.get_weights(), model.evaluate(x, y, batch_size=8, return_dict=True))
        jobs.append(
            {
                "model_json": model.to_json(),
                "weights": start,
                "x": x,
                "y": y,
                "optimizer": ("SGD", {"learning_rate": 0.05}),
                "loss": "mse",
                "metrics": ["mae"],
                "batch_size": 8,
                "epochs": 3,
                "validation_split": 0.25,
            }
        )
    return ours, dict(zip(CASES, run_jobs(jobs)))


@pytest.mark.parametrize("name", list(CASES))
def test_training_with_regularizers_equals_keras_on_jax(trained, name):
    ours, theirs = trained
    (history, weights, evaluated), expected = ours[name], theirs[name]
    assert set(history) == set(expected["history"]) == {"loss", "mae", "val_loss", "val_mae"}
    for key, values in expected["history"].items():
        np.testing.assert_allclose(history[key], values, rtol=1e-4, atol=1e-6, err_msg=key)
    for mine, keras_w in zip(weights, expected["weights"], strict=True):
        np.testing.assert_allclose(mine, keras_w, rtol=1e-4, atol=1e-6)
    for key, value in expected["evaluate"].items():
        np.testing.assert_allclose(evaluated[key], value, rtol=1e-4, atol=1e-6, err_msg=key)


def test_the_penalty_is_in_the_loss_and_not_in_the_metrics():
    x = np.ones((4, 2), np.float32)
    plain = nb.Sequential([nb.Input((2,)), nb.Dense(1, kernel_initializer="ones")])
    weighed = nb.Sequential([nb.Input((2,)), nb.Dense(1, kernel_initializer="ones", kernel_regularizer="l2")])
    for model in (plain, weighed):
        model.compile(optimizer="sgd", loss="mse", metrics=["mse"])
    before, after = (m.evaluate(x, np.zeros((4, 1), np.float32), return_dict=True) for m in (plain, weighed))
    assert after["loss"] == pytest.approx(before["loss"] + 0.01 * 2) and after["mse"] == before["mse"] == 4.0


def test_keras_json_with_regularizers_reads_and_writes_keras_s_text_and_its_code_builds_them_in_keras():
    theirs = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L2(0.1), bias_regularizer="l1"),
            keras.layers.Reshape((3, 1)),
            keras.layers.Conv1D(2, 2, kernel_regularizer=keras.regularizers.L1L2(0.01, 0.02)),
        ]
    )
    text = theirs.to_json()
    ours = nb.model_from_json(text)
    assert ours.to_json() == text
    assert ours.layers[0].kernel_regularizer == R.L2(0.1) and ours.layers[2].bias_regularizer is None
    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    np.testing.assert_allclose(run_keras_code(ours, x), ours.predict(x), rtol=1e-5, atol=1e-6)
    spec = spec_from_keras_json(text)  # the editor keeps them: the Train page trains with them
    assert spec.layers[0].kernel_regularizer == R.L2(0.1)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", None),
        ("none", None),
        ("l2", R.L2()),
        ("L2(0.5)", R.L2(0.5)),
        ("keras.regularizers.L1L2(l1=0.01)", R.L1L2(l1=0.01)),
        ("l1_l2", R.L1L2(0.0, 0.0)),  # Keras's string gives both factors 0
        ('OrthogonalRegularizer(factor=0.1, mode="columns")', R.OrthogonalRegularizer(0.1, "columns")),
        ('{"class_name": "L1", "config": {"l1": 0.3}}', R.L1(0.3)),
    ],
)
def test_an_editor_reads_a_regularizer_as_text(text, expected):
    setting = next(s for s in Dense.settings if s.name == "kernel_regularizer")
    value = setting.parse_text(text)
    assert value == expected and setting.parse_text(setting.format_text(value)) == value


@pytest.mark.parametrize(
    "text, message",
    [
        ("L3(0.1)", "kernel_regularizer must be a Keras regularizer: l1, l2"),
        ("L2(-1)", "L2's l2 must be a number of at least 0"),
        ("L2(__import__('os'))", "kernel_regularizer must be a Keras regularizer"),
        ("L2(x=1)", "L2 has no argument x"),
        ('OrthogonalRegularizer(mode="diagonal")', 'mode must be "rows" or "columns"'),
    ],
)
def test_an_editor_refuses_what_is_not_a_regularizer_and_says_what_is(text, message):
    setting = next(s for s in Dense.settings if s.name == "kernel_regularizer")
    with pytest.raises(LayerConfigError, match=message.replace("(", r"\(")):
        setting.parse_text(text)


def test_a_regularizer_that_cannot_weigh_the_weight_is_refused_when_the_layer_is_made():
    with pytest.raises(LayerConfigError, match="gamma_regularizer: OrthogonalRegularizer weighs matrices only"):
        nb.LayerNormalization(gamma_regularizer=nb.regularizers.OrthogonalRegularizer())  # one axis: a vector
    assert nb.LayerNormalization(axis=(1, 2), gamma_regularizer="orthogonal_regularizer").gamma_regularizer
    with pytest.raises(LayerConfigError, match="bias_regularizer: OrthogonalRegularizer weighs matrices only"):
        nb.Dense(3, bias_regularizer=nb.regularizers.OrthogonalRegularizer())
    with pytest.raises(LayerConfigError, match="kernel_regularizer: OrthogonalRegularizer weighs matrices only"):
        nb.Conv2D(3, 3, kernel_regularizer="orthogonal_regularizer")


def test_a_training_step_s_cost_counts_the_penalties():
    """An orthogonal penalty on a (512, 256) kernel: a 512 × 512 product and its gradient, whatever the batch."""
    plain = nb.analyze([nb.Dense(256)], (512,)).cost
    weighed = nb.analyze([nb.Dense(256, kernel_regularizer=nb.regularizers.OrthogonalRegularizer())], (512,)).cost
    assert weighed.train_fixed - plain.train_fixed >= 2 * 512 * 512 * 256
    assert weighed.penalty_bytes >= 4 * 512 * 512 and plain.penalty_bytes == 0


def _nested(depth: int) -> list:
    value = 1
    for _ in range(depth):
        value = [value]
    return value


def _keras_json_with_a_constraint() -> str:
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L2(0.1), name="hidden"),
            keras.layers.Dense(1, kernel_constraint=keras.constraints.MaxNorm(2.0), name="out"),
        ]
    ).to_json()


def test_the_editor_keeps_what_netbuilder_does_not_apply_writes_it_back_and_training_refuses_it_by_name():
    text = _keras_json_with_a_constraint()
    spec = spec_from_keras_json(text)
    assert spec.layers[0].kernel_regularizer == R.L2(0.1) and spec.layers[0].kept == ()
    assert [key for key, _ in spec.layers[1].kept] == ["kernel_constraint"]
    ours, theirs = (
        [layer["config"] for layer in json.loads(t)["config"]["layers"][1:]] for t in (fresh(spec).to_json(), text)
    )
    for config in (*ours, *theirs):
        config.pop("name")  # a Sequential's layers are named as Keras names them in a fresh session
    assert ours == theirs  # exported JSON is Keras's, the constraint in it
    again = share.decode(share.encode(spec)).spec
    assert again == spec and again.layers[1].kept == spec.layers[1].kept  # a share link carries it
    x = np.zeros((8, 4), np.float32)
    with pytest.raises(LayerConfigError, match=r"keeps but does not apply in training \(dense_1: kernel_constraint\)"):
        train.check(spec, train.Settings("mean_squared_error", data="typed"), x, np.zeros((8, 1), np.float32))


@pytest.mark.parametrize(
    "kept, message",
    [
        ({"units": 3}, "Dense has no Keras argument 'units' to keep"),
        ({"kernel_constraint": "x" * 3000}, "at most 2,000 characters of JSON"),
        ([1, 2], "keras_kept must be an object of Keras arguments"),
        ({"kernel_constraint": _nested(100_000)}, "kept kernel_constraint must be plain JSON, nested a few levels"),
    ],
)
def test_a_share_link_s_kept_arguments_are_checked_as_a_visitor_s_data(kept, message):
    data = {"id": 0, "kind": "Dense", "units": 2, "keras_kept": kept}
    with pytest.raises(LayerConfigError, match=message):
        LayerSpec.from_dict(data)


def test_the_train_page_s_run_applies_an_imported_model_s_regularizers_as_the_library_does():
    text = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L1L2(0.05, 0.1))]
    ).to_json()
    spec = spec_from_keras_json(text)
    settings = train.Settings("mean_squared_error", "sgd", 0.1, epochs=3, batch_size=4, data="typed")
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    y = x[:, :1] * 2
    progress, learned = train._train(Recorder(), *packed(spec), settings, x, y, current())
    library = fresh(spec)
    library.compile(optimizer=nb.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    history = library.fit(x, y, batch_size=4, epochs=3, shuffle=True)
    assert progress.history == history.history and progress.history["loss"][0] > progress.history["mae"][0] ** 2 / 10
    for ours, theirs in zip(learned, library.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
