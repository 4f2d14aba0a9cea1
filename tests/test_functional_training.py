"""Training through graphs against real Keras 3 on its JAX backend (tests/training_oracle.py, a process of its own):
a residual block (a tensor read twice: its gradients summed), two inputs and two outputs with a loss and a weight per
output and metrics per output, a shared layer (its calls' weight gradients summed) and every merge's backward. The
same model, initial weights and data, shuffle=False: per-epoch History (every key Keras logs), final weights, evaluate
and train_on_batch within 1e-3 of Keras's."""

from __future__ import annotations

import numpy as np
import pytest

import netbuilder as nb
from netbuilder.optimizers import SGD, Adam, RMSprop
from netbuilder.studio.models import fresh
from netbuilder.studio.spec import LayerSpec, ModelSpec
from netbuilder.studio.train import Settings, compile_for, inputs_of, targets_of
from training_oracle import run_jobs

RTOL = 1e-3


def residual():
    x = nb.Input((6,))
    h = nb.Dense(8, activation="relu")(x)
    h = nb.Dense(6)(h)
    y = nb.add([h, x])  # the shortcut: x is read by the first Dense and by Add
    return nb.Model(x, nb.Dense(1)(nb.Activation("tanh")(y)), seed=4)


def two_in_two_out():
    a, b = nb.Input((3,), name="a"), nb.Input((2,), name="b")
    h = nb.Dense(5, activation="tanh")(nb.concatenate([a, b]))
    reg = nb.Dense(1, name="reg")(h)
    cls = nb.Dense(3, activation="softmax", name="cls")(nb.Dense(4, activation="relu")(h))
    return nb.Model([a, b], [reg, cls], seed=5)


def shared_and_merges():
    a, b = nb.Input((4,), name="a"), nb.Input((4,), name="b")
    shared = nb.Dense(4, activation="tanh")
    sa, sb = shared(a), shared(b)  # one layer, two calls
    mixed = nb.concatenate(
        [nb.subtract([sa, sb]), nb.multiply([sa, sb]), nb.average([sa, b]), nb.maximum([sa, sb]), nb.minimum([sb, a])]
    )
    similarity = nb.Dot(axes=1, normalize=True)([sa, sb])
    return nb.Model({"a": a, "b": b}, nb.Dense(1)(nb.concatenate([mixed, nb.Dot(axes=1)([sa, b]), similarity])), seed=6)


def broadcast_merges():
    """Inputs of fewer axes and of sizes 1, expanded and stretched as Keras does, through every elementwise merge."""
    a, b, c = nb.Input((4, 3), name="a"), nb.Input((3,), name="b"), nb.Input((4, 1), name="c")
    h = nb.add([nb.Dense(3, activation="tanh")(a), b])
    h = nb.subtract([nb.multiply([h, c, b]), b])
    h = nb.minimum([nb.maximum([nb.average([h, b, c]), c]), b])
    return nb.Model([a, b, c], nb.Dense(1)(nb.Flatten()(h)), seed=7)


def operations_and_custom_scale():
    """keras.ops on tensors (MobileNetV3's hard sigmoid: (x + 3) * (1/6), and 2 * x) and InceptionResNetV2's
    CustomScaleLayer (a shortcut plus its branch times 0.17)."""
    x = nb.Input((5,))
    h = nb.Dense(5, activation="tanh")(x)
    gate = nb.ReLU(max_value=6.0)(h + 3.0) * (1 / 6)
    y = nb.CustomScaleLayer(0.17)([x, 2.0 * nb.multiply([h, gate])])
    return nb.Model(x, nb.Dense(1)(y), seed=8)


def nested_models():
    """A Sequential and a Functional model used as layers (keras.applications' ConvNeXt nests Sequentials)."""
    stem = nb.Sequential([nb.Input((4,)), nb.Dense(6, activation="relu"), nb.Dense(5)], name="stem")
    inner_in = nb.Input((5,))
    block = nb.Model(inner_in, nb.Dense(5, activation="tanh")(inner_in), name="block")
    x = nb.Input((4,))
    h = stem(x)
    return nb.Model(x, nb.Dense(1)(nb.add([h, block(h)])), seed=9)


def attention():
    """MultiHeadAttention: self-attention on a Dense's output (the query's and the value's gradients summed into it),
    then cross-attention with a key of its own, a gate and an output_shape (the query's, the value's and the key's
    gradients)."""
    a, b = nb.Input((4, 3), name="a"), nb.Input((5, 2), name="b")
    h = nb.Dense(6, activation="tanh")(a)
    s = nb.MultiHeadAttention(2, 3, name="self_attention")(h, h)
    # (value_dim as key_dim: JAX's dot_product_attention, which Keras calls at dropout 0, needs them equal)
    c = nb.MultiHeadAttention(2, 2, output_shape=4, use_gate=True, name="cross")(s, b, key=nb.Dense(3)(b))
    return nb.Model([a, b], nb.Dense(1)(nb.Flatten()(c)), seed=10)


def data(model, n: int, seed: int):
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(n, *t.shape[1:])).astype(np.float32) for t in model.inputs]
    ys = []
    for t in model.outputs:
        if t.shape[-1] == 3:
            ys.append(rng.integers(0, 3, n).astype(np.float32))
        else:
            ys.append(np.tanh(xs[0].reshape(n, -1)[:, :1] + rng.normal(size=(n, 1)) * 0.1).astype(np.float32))
    return xs, ys


CASES = {  # name: (model maker, loss, loss_weights, metrics, optimizer (ours, Keras's), batch, epochs)
    "residual-sgd": (residual, "mse", None, ["mae"], (lambda: SGD(0.05), ("SGD", {"learning_rate": 0.05})), 8, 3),
    "residual-adam": (residual, "mse", None, [], (lambda: Adam(0.01), ("Adam", {"learning_rate": 0.01})), 5, 2),
    "two-outputs": (
        two_in_two_out,
        ["mse", "sparse_categorical_crossentropy"],
        [1.0, 0.5],
        [["mae"], ["accuracy"]],
        (lambda: SGD(0.05), ("SGD", {"learning_rate": 0.05})),
        8,
        3,
    ),
    "shared-merges": (
        shared_and_merges,
        "mse",
        None,
        ["mae"],
        (lambda: RMSprop(0.01), ("RMSprop", {"learning_rate": 0.01})),
        6,
        3,
    ),
    "operations": (
        operations_and_custom_scale,
        "mse",
        None,
        ["mae"],
        (lambda: Adam(0.01), ("Adam", {"learning_rate": 0.01})),
        6,
        2,
    ),
    "nested-models": (nested_models, "mse", None, [], (lambda: SGD(0.05), ("SGD", {"learning_rate": 0.05})), 6, 2),
    "broadcast-merges": (
        broadcast_merges,
        "mse",
        None,
        [],
        (lambda: SGD(0.05), ("SGD", {"learning_rate": 0.05})),
        4,
        2,
    ),
    # SGD: a key bias's gradient is 0 up to rounding (softmax ignores what it adds to a query's every score), and Adam
    # would turn that rounding noise into steps of its learning rate
    "attention": (attention, "mse", None, ["mae"], (lambda: SGD(0.1), ("SGD", {"learning_rate": 0.1})), 6, 3),
}


def feed(model, xs):
    if isinstance(model.graph.input_structure, dict):
        return {t.node.layer.name: x for t, x in zip(model.inputs, xs)}
    return xs if len(xs) > 1 else xs[0]


def targets(ys):
    return ys if len(ys) > 1 else ys[0]


@pytest.fixture(scope="module")
def results():
    jobs, ours = [], {}
    for name, (make, loss, weights, metrics, (optimizer, keras_optimizer), batch, epochs) in CASES.items():
        model = make()
        start = model.get_weights()
        xs, ys = data(model, 24, 1)
        bx, by = data(model, 6, 2)
        model.compile(optimizer=optimizer(), loss=loss, loss_weights=weights, metrics=metrics)
        history = model.fit(feed(model, xs), targets(ys), batch_size=batch, epochs=epochs, shuffle=False)
        run = {
            "history": history.history,
            "weights": model.get_weights(),
            "evaluate": model.evaluate(feed(model, xs), targets(ys), batch_size=batch, return_dict=True),
        }
        run["train_on_batch"] = model.train_on_batch(feed(model, bx), targets(by))
        run["train_on_batch_dict"] = model.train_on_batch(feed(model, bx), targets(by), return_dict=True)
        run["batch_weights"] = model.get_weights()
        ours[name] = run
        jobs.append(
            {
                "model_json": model.to_json(),
                "weights": start,
                "x": xs,
                "y": ys,
                "optimizer": keras_optimizer,
                "loss": loss,
                "loss_weights": weights,
                "metrics": metrics,
                "batch_size": batch,
                "epochs": epochs,
                "bx": bx,
                "by": by,
            }
        )
    return dict(zip(CASES, run_jobs(jobs))), ours


@pytest.mark.parametrize("name", list(CASES))
def test_training_through_a_graph_equals_keras_on_jax(results, name):
    theirs, ours = results
    run, expected = ours[name], theirs[name]
    assert set(run["history"]) == set(expected["history"])  # the keys Keras logs: each output's loss and metrics
    for key, values in expected["history"].items():
        np.testing.assert_allclose(run["history"][key], values, rtol=RTOL, atol=1e-6, err_msg=key)
    for mine, keras_w in zip(run["weights"], expected["weights"], strict=True):
        np.testing.assert_allclose(mine, keras_w, rtol=RTOL, atol=1e-5)
    for key, value in expected["evaluate"].items():
        np.testing.assert_allclose(run["evaluate"][key], value, rtol=RTOL, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(run["train_on_batch"], expected["train_on_batch"], rtol=RTOL, atol=1e-6)
    for mine, keras_w in zip(run["batch_weights"], expected["batch_weights"], strict=True):
        np.testing.assert_allclose(mine, keras_w, rtol=RTOL, atol=1e-5)


def test_a_graph_trains_within_its_budgets_and_says_what_targets_it_needs():
    model = two_in_two_out()
    model.compile(optimizer="sgd", loss=["mse", "sparse_categorical_crossentropy"])
    xs, ys = data(model, 8, 0)
    with pytest.raises(nb.InputDataError, match="the model has 2 outputs .reg, cls.: give a list of 2 target arrays"):
        model.fit(xs, ys[0])
    with pytest.raises(
        nb.LayerConfigError, match="`loss_weights` must match the number of losses, got 1 losses and 2 weights"
    ):
        model.compile(optimizer="sgd", loss="mse", loss_weights=[1.0, 2.0])
    with pytest.raises(nb.LayerConfigError, match="Invalid `metrics`"):
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.compile(optimizer="sgd", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    history = model.fit(xs, {"reg": ys[0], "cls": ys[1]}, epochs=1)
    assert list(history.history) == ["loss", "reg_loss", "cls_loss"]


def test_the_train_pages_run_of_two_inputs_and_two_outputs_equals_keras_on_jax():
    """The Train page's way with several inputs and outputs: each sample's values fill the inputs in order, every
    output learns the same targets with the one loss (summed), and each output gets the page's metrics. The same
    compile and fit (shuffle=False) in Keras on JAX gives the same History and weights."""
    layers = (
        LayerSpec.make(0, "Dense", units=4, activation="tanh"),
        LayerSpec.make(1, "Dense", units=4, activation="tanh", inputs=(-2,)),
        LayerSpec.make(2, "Concatenate", inputs=(0, 1)),
        LayerSpec.make(3, "Dense", units=1, activation="sigmoid"),
        LayerSpec.make(4, "Dense", units=1, activation="sigmoid", inputs=(2,)),  # an auxiliary head
    )
    spec = ModelSpec((1,), layers, seed=3, more_inputs=((1,),)).validate()
    settings = Settings(loss="binary_crossentropy", optimizer="adam", learning_rate=0.05, epochs=3, batch_size=8)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 2)).astype(np.float32)
    y = (x[:, :1] * x[:, 1:] > 0).astype(np.float32)
    model = fresh(spec)
    start = model.get_weights()
    compile_for(model, spec, settings)
    xs, ys = inputs_of(spec, x), targets_of(spec, y)
    np.testing.assert_array_equal(xs[1], x[:, 1:])
    history = model.fit(xs, ys, batch_size=8, epochs=3, shuffle=False).history
    (theirs,) = run_jobs(
        [
            {
                "model_json": model.to_json(),
                "weights": start,
                "x": xs,
                "y": ys,
                "optimizer": ("Adam", {"learning_rate": 0.05}),
                "loss": "binary_crossentropy",
                "loss_weights": None,
                "metrics": [settings.metrics] * 2,
                "batch_size": 8,
                "epochs": 3,
            }
        ]
    )
    assert set(history) == set(theirs["history"])  # loss, each output's loss and accuracy
    for key, values in theirs["history"].items():
        np.testing.assert_allclose(history[key], values, rtol=RTOL, atol=1e-6, err_msg=key)
    for mine, keras_w in zip(model.get_weights(), theirs["weights"], strict=True):
        np.testing.assert_allclose(mine, keras_w, rtol=RTOL, atol=1e-5)
