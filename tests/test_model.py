"""netbuilder.Sequential / Input / Model: building, names, limits and budgets, predict and forward on hand-set
weights."""

import numpy as np
import pytest

import netbuilder as nb

f32 = np.float32


def public(make):
    """`make()` under the app's public budgets (the library has none of its own)."""
    with nb.budget.using(nb.budget.PUBLIC_DEFAULTS):
        return make()


def seed_model(seed=0):
    return nb.Sequential([nb.Input((3, 2)), nb.Dense(16), nb.Activation("relu"), nb.Flatten(), nb.Dense(4)], seed=seed)


def hand_model():
    """Input (3, 2) → Dense(2) identity → relu → Flatten → Dense(1) of ones, bias 1: sum(relu(x)) + 1."""
    model = nb.Sequential([nb.Input((3, 2)), nb.Dense(2), nb.Activation("relu"), nb.Flatten(), nb.Dense(1)])
    model.set_weights([np.eye(2), np.zeros(2), np.ones((6, 1)), np.ones(1)])
    return model


X = [[[1, -2], [3, 4], [-5, 6]]]


def test_hand_model_output():
    np.testing.assert_array_equal(hand_model().predict(X), [[15]])  # 1 + 3 + 4 + 6 + 1


def test_forward_returns_every_intermediate():
    tensors = hand_model().forward(X)
    assert [t.shape for t in tensors] == [(1, 3, 2), (1, 3, 2), (1, 3, 2), (1, 6), (1, 1)]
    assert all(t.dtype == f32 for t in tensors)
    np.testing.assert_array_equal(tensors[2], [[[1, 0], [3, 4], [0, 6]]])
    np.testing.assert_array_equal(tensors[3], [[1, 0, 3, 4, 0, 6]])
    np.testing.assert_array_equal(tensors[-1], hand_model().predict(X))


@pytest.mark.parametrize("run,stop_at", [("forward", 3), ("predict", 2)])
def test_a_run_calls_checkpoint_before_each_layer_and_stops_when_it_raises(run, stop_at):
    """The Build page's output is a predict, the Forward page's a forward: a long one stops when the visitor leaves."""
    calls = []
    result = getattr(hand_model(), run)(X, checkpoint=lambda: calls.append(1))
    np.testing.assert_array_equal(result[-1] if run == "forward" else result, [[15]])
    assert len(calls) == 4

    class Stop(Exception):
        pass

    def stop():
        calls.append(1)
        if len(calls) == stop_at:
            raise Stop

    calls.clear()
    with pytest.raises(Stop):
        getattr(hand_model(), run)(X, checkpoint=stop)
    assert len(calls) == stop_at


def test_forward_keeps_the_output_even_when_nothing_else_fits():
    tensors = hand_model().forward(X, keep_bytes=0)
    assert tensors[1:-1] == [None, None, None]
    np.testing.assert_array_equal(tensors[-1], [[15]])


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint8, np.float16, np.float64, bool])
def test_predict_any_numeric_dtype_returns_float32(dtype):
    x = np.array([[[1, 0], [3, 4], [0, 6]]]).astype(dtype)  # non-negative: fits every dtype
    y = hand_model().predict(x)
    assert y.dtype == f32
    np.testing.assert_array_equal(y, [[5 if dtype is bool else 15]])  # bool: four True + bias 1


def test_predict_accepts_nested_lists_and_tuples():
    y = hand_model().predict([((1, 2), (3, 4), (5, 6))])
    np.testing.assert_array_equal(y, [[22]])  # 1 + 2 + ... + 6 + 1


def test_call_is_predict():
    model = hand_model()
    np.testing.assert_array_equal(model(X), model.predict(X))


def test_predict_batch_of_zero():
    """Keras's predict crashes on 0 samples; we return an empty batch."""
    assert seed_model().predict(np.zeros((0, 3, 2))).shape == (0, 4)


def test_predict_wrong_per_sample_shape_names_layer_and_shapes():
    with pytest.raises(nb.IncompatibleShapeError) as info:
        seed_model().predict(np.ones((5, 3, 3)))
    message = str(info.value)
    assert "'dense'" in message and "expects input of shape (3, 2) per sample, received (3, 3)" in message
    assert info.value.issue.layer_name == "dense" and info.value.issue.received == (5, 3, 3)


def test_predict_wrong_non_last_dims_rejected():
    """Deliberate: Keras silently accepts (5, 4, 2) for (3, 2); we reject it."""
    with pytest.raises(nb.IncompatibleShapeError, match=r"\(3, 2\) per sample, received \(4, 2\)"):
        seed_model().predict(np.ones((5, 4, 2)))


def test_predict_one_sample_without_batch_axis_explains():
    with pytest.raises(nb.IncompatibleShapeError) as info:
        seed_model().predict(np.ones((3, 2)))
    assert "wrap it in one more [ ]" in info.value.issue.explanation


@pytest.mark.parametrize(
    "x, match",
    [
        ([[1, 2], [3]], "ragged"),
        (np.array([["a", "b"]]), "real numbers"),
        (np.ones((1, 3, 2), complex), "real numbers"),
    ],
)
def test_predict_bad_data(x, match):
    with pytest.raises(nb.InputDataError, match=match):
        seed_model().predict(x)


@pytest.mark.usefixtures("public_budget")
def test_predict_over_the_memory_budget_names_it_and_the_largest_batch():
    """Dense(65536)'s output is 65,536 × 4 bytes a sample: 96 MiB / 256 KiB = 384 samples fit the run budget."""
    model = nb.Sequential([nb.Input((10,)), nb.Dense(65_536)])
    with pytest.raises(
        nb.LimitError,
        match=r"a forward pass of 1,025 samples needs .* at once; the memory budget per run is "
        r"96\.0 MB: use at most 384 samples",
    ):
        model.predict(np.zeros((1025, 10), f32))
    with pytest.raises(nb.LimitError, match="use at most 384 samples"):
        model.forward(np.zeros((385, 10), f32))


# --- names --------------------------------------------------------------------------------------
def test_auto_names_per_model():
    for _ in range(2):  # a second model starts again at `dense`, unlike a Keras session
        model = seed_model()
        assert [layer.name for layer in model.layers] == ["dense", "activation", "flatten", "dense_1"]
        assert model.name == "sequential"


def test_explicit_names_kept_and_auto_names_count_per_prefix():
    """Keras's rule (proved against Keras in test_conformance_models): automatic names count dense, dense_1, ...
    whatever explicit names there are."""
    model = nb.Sequential(
        [nb.Input((2,)), nb.Dense(2), nb.Dense(2, name="dense_5"), nb.Dense(2), nb.Activation("relu", name="dense_3")]
    )
    assert [layer.name for layer in model.layers] == ["dense", "dense_5", "dense_1", "dense_3"]


@pytest.mark.parametrize(
    "layers, name",
    [
        (lambda: [nb.Dense(3), nb.Dense(4, name="dense")], "dense"),
        (lambda: [nb.Dense(2), nb.Dense(2, name="dense_1"), nb.Dense(2)], "dense_1"),
    ],
)
def test_explicit_name_taken_by_an_automatic_one_raises(layers, name):
    """Deliberate change: this used to rename the automatic layer; Keras raises, and so do we."""
    with pytest.raises(nb.LayerConfigError, match=f"unique names. Name '{name}' is already the name of a layer"):
        nb.Sequential([nb.Input((2,)), *layers()])
    with pytest.raises(nb.LayerConfigError, match=f"Name '{name}'"):
        nb.analyze(layers(), (2,))


def test_analysis_does_not_rename_the_layers_it_is_given():
    layers = [nb.Dense(2), nb.Activation("relu"), nb.Dense(2, name="out")]
    analysis = nb.analyze(layers, (3,))
    assert analysis.names == ("dense", "activation", "out")
    assert [layer.name for layer in layers] == [None, None, "out"]
    assert all(layer.get_weights() == [] for layer in layers)  # nor builds them


def test_duplicate_explicit_names_rejected():
    with pytest.raises(nb.LayerConfigError, match="unique names. Name 'a' is already the name of a layer"):
        nb.Sequential([nb.Input((2,)), nb.Dense(2, name="a"), nb.Activation("relu", name="a")])


def test_model_name():
    assert nb.Sequential(name="net").name == "net"
    with pytest.raises(nb.LayerConfigError):
        nb.Sequential(name="a/b")


# --- building -----------------------------------------------------------------------------------
def test_shapes_params_weights_of_seed_model():
    model = seed_model()
    assert model.input_shape == (None, 3, 2) and model.output_shape == (None, 4)
    assert model.count_params() == 244
    assert [w.shape for w in model.get_weights()] == [(2, 16), (16,), (48, 4), (4,)]
    assert [layer.output_shape for layer in model.layers] == [(None, 3, 16), (None, 3, 16), (None, 48), (None, 4)]


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = seed_model(3).get_weights(), seed_model(3).get_weights(), seed_model(4).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("seed", [-1, 1_000_000, 1.5, True, "0"])
def test_bad_seed_rejected(seed):
    with pytest.raises(nb.LayerConfigError, match="seed must be an integer"):
        nb.Sequential(seed=seed)


def test_input_shape_on_first_layer_and_add():
    model = nb.Sequential()
    model.add(nb.Dense(16, input_shape=(3, 2)))
    model.add(nb.Activation("relu"))
    model.add(nb.Flatten())
    model.add(nb.Dense(4))
    model.compile(loss="mean_squared_error", optimizer="SGD")
    assert model.output_shape == (None, 4) and model.count_params() == 244
    assert {k: model.compile_config[k] for k in ("loss", "optimizer")} == {
        "loss": "mean_squared_error",
        "optimizer": "SGD",
    }


def test_incompatible_model_raises_with_issue():
    dense = nb.Dense(4)
    dense.build((None, 48), seed=0)
    with pytest.raises(nb.IncompatibleShapeError) as info:
        nb.Sequential([nb.Input((3, 2)), nb.Dense(16), dense])
    assert isinstance(info.value, ValueError)
    assert info.value.issue.layer_name == "dense_1" and info.value.issue.received == (None, 3, 16)
    assert "(None, 3, 16)" in str(info.value) and "48" in str(info.value)


def test_add_of_unfit_layer_keeps_model():
    model = nb.Sequential([nb.Input(())])
    with pytest.raises(nb.IncompatibleShapeError, match="'dense'"):
        model.add(nb.Dense(3))
    assert model.layers == [] and model.output_shape == (None,)
    model.add(nb.Flatten())
    model.add(nb.Dense(3))
    assert model.output_shape == (None, 3)


def test_pop():
    model = seed_model()
    assert isinstance(model.pop(), nb.Dense)
    assert model.output_shape == (None, 48)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (
            lambda: nb.Sequential([nb.Input((2,))] + [nb.Activation("relu") for _ in range(1201)]),
            nb.LimitError,
            "at most 1200 layers; this one has 1201",
        ),
        (
            lambda: public(lambda: nb.Sequential([nb.Input((1000,)), nb.Dense(60_000)])),
            nb.LimitError,
            r"60,060,000 parameters\); the budget is 64\.0 MB \(16,777,216 parameters\)",
        ),
        (lambda: nb.Sequential([nb.Input((65_536, 32_769))]), nb.LimitError, "at most 2,147,483,648"),
        (lambda: nb.Dense(65_537), nb.LimitError, "65,536"),
        (lambda: nb.Sequential([nb.Input((2,)), nb.Input((2,))]), nb.LayerConfigError, "Input can only come first"),
        (lambda: nb.Sequential([nb.Input((2,)), "relu"]), nb.LayerConfigError, "Received: relu \\(of type str\\)"),
        (lambda: nb.Input(3), nb.LayerConfigError, "not the number 3"),
    ],
)
def test_bounds_and_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_unbuilt_model_builds_on_first_predict():
    model = nb.Sequential([nb.Dense(3), nb.Dense(2)], seed=0)
    assert not model.built
    with pytest.raises(AttributeError, match="no defined output shape yet"):
        model.output_shape
    assert model.predict(np.ones((4, 5))).shape == (4, 2)
    assert model.built and model.input_shape == (None, 5) and model.count_params() == 5 * 3 + 3 + 3 * 2 + 2


def test_set_weights_count_error():
    with pytest.raises(nb.LayerConfigError, match="weight list of length 3, but the layer was expecting 4 weights"):
        seed_model().set_weights([np.ones((2, 16)), np.zeros(16), np.ones((48, 4))])


def test_set_weights_then_get_weights():
    model = hand_model()
    np.testing.assert_array_equal(model.get_weights()[2], np.ones((6, 1)))
    assert all(w.dtype == f32 for w in model.get_weights())


def test_functional_model():
    x = nb.Input(shape=(10, 64))
    y = nb.Flatten()(x)
    z = nb.Dense(3)(y)
    model = nb.Model(inputs=x, outputs=z)
    assert model.output_shape == (None, 3) and model.name == "functional"
    assert [layer.name for layer in model.layers] == ["input_layer", "flatten", "dense"]  # Keras lists its InputLayer
    with pytest.raises(nb.LayerConfigError):
        nb.Model(inputs=y, outputs=z)
    with pytest.raises(nb.LayerConfigError):
        nb.Model(inputs=x, outputs=nb.Flatten()(nb.Input((3,))))


def test_symbolic_call_checks_shapes():
    with pytest.raises(nb.IncompatibleShapeError, match="'dense'"):
        nb.Dense(3)(nb.Input(()))


def test_a_failed_first_predict_leaves_an_unbuilt_model_ready_for_the_right_input():
    model = nb.Sequential([nb.Dense(4)])
    with pytest.raises(nb.IncompatibleShapeError):
        model.predict(np.ones(5))  # rank 1: Dense needs a feature axis
    assert not model.built
    assert model.predict(np.ones((5, 3))).shape == (5, 4)
