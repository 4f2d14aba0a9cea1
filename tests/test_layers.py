"""The core kinds (engine/kinds: Dense, Flatten, Activation) with hand-set weights: shapes, params, configs, checks.

Where Keras is the oracle (error messages, what it accepts), the test asks Keras itself (NumPy backend).
"""

import re

import keras
import numpy as np
import pytest

import netbuilder as nb
from netbuilder.engine.layer import check_name
from netbuilder.engine.shapes import check_input_shape

f32 = np.float32


def dense_with(kernel, bias=None, activation=None):
    """A Dense built for the kernel's input size (as in Keras, weights are set on a built layer)."""
    kernel = np.asarray(kernel, f32)
    layer = nb.Dense(kernel.shape[1], activation=activation, use_bias=bias is not None)
    layer.build((None, kernel.shape[0]), seed=0)
    layer.set_weights([kernel] if bias is None else [kernel, bias])
    return layer


# --- Dense ------------------------------------------------------------------------------------
def test_dense_ones_kernel_and_bias():
    layer = dense_with(np.ones((2, 3)), bias=[1, 2, 3])
    np.testing.assert_array_equal(layer.call(np.array([[1, 2]], f32)), [[4, 5, 6]])


def test_dense_arange_kernel():
    layer = dense_with(np.arange(6).reshape(2, 3), bias=[0, 0, -1])
    # [1, 2] @ [[0, 1, 2], [3, 4, 5]] = [6, 9, 12]
    np.testing.assert_array_equal(layer.call(np.array([[1, 2]], f32)), [[6, 9, 11]])


def test_dense_without_bias_has_one_weight():
    layer = dense_with(np.arange(6).reshape(3, 2))
    assert layer.bias is None and len(layer.get_weights()) == 1
    np.testing.assert_array_equal(layer.call(np.array([[1, 1, 1]], f32)), [[6, 9]])


def test_dense_applies_kernel_to_last_axis_of_3d_input():
    """(batch, 3, 2) → (batch, 3, units): each of the 3 rows goes through the same kernel."""
    layer = dense_with([[1, 0, 1], [0, 1, 1]], bias=[0, 0, 10])
    x = np.array([[[1, 2], [3, 4], [5, 6]]], f32)
    np.testing.assert_array_equal(layer.call(x), [[[1, 2, 13], [3, 4, 17], [5, 6, 21]]])


def test_dense_activation_after_bias():
    layer = dense_with([[1, -1]], bias=[-2, 0], activation="relu")
    np.testing.assert_array_equal(layer.call(np.array([[1], [3]], f32)), [[0, 0], [1, 0]])


def test_dense_glu_halves_units():
    layer = dense_with(np.eye(4), bias=[0, 0, 0, 0], activation="glu")
    assert layer.output_units == 2
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 2)
    y = layer.call(np.array([[1, 2, 0, 0]], f32))
    np.testing.assert_allclose(y, [[0.5, 1.0]])


@pytest.mark.parametrize(
    "input_dim, units, use_bias, params, formula",
    [
        (2, 16, True, 48, "2×16 + 16 = 48"),
        (48, 4, True, 196, "48×4 + 4 = 196"),
        (2, 16, False, 32, "2×16 = 32"),
        (784, 512, True, 401_920, "784×512 + 512 = 401,920"),
    ],
)
def test_dense_params_formula(input_dim, units, use_bias, params, formula):
    layer = nb.Dense(units, use_bias=use_bias)
    assert layer.count_params_for((None, 3, input_dim)) == (params, 0)  # (trainable, non-trainable), from shapes alone
    assert layer.formula((None, 3, input_dim)) == formula
    assert layer.get_weights() == []  # counting made nothing
    layer.build((None, 3, input_dim), seed=0)
    assert layer.count_params() == params
    assert layer.kernel.shape == (input_dim, units) and layer.kernel.dtype == f32
    assert layer.weight("kernel") is layer.kernel
    assert layer.has_weight("bias") == use_bias


def test_dense_build_draws_seeded_kernel_and_zero_bias_once():
    layer = nb.Dense(3)
    layer.build((None, 2), seed=5)
    kernel = layer.kernel.copy()
    np.testing.assert_array_equal(layer.bias, np.zeros(3, f32))
    layer.build((None, 2), seed=6)  # already built: kept, as Keras keeps a built layer
    np.testing.assert_array_equal(layer.kernel, kernel)
    assert layer.input_dim == 2


def test_dense_get_weights_are_copies():
    layer = dense_with(np.ones((2, 2)), bias=[0, 0])
    layer.get_weights()[0][0, 0] = 99
    assert layer.kernel[0, 0] == 1


@pytest.mark.parametrize("units", [0, -1, 2.0, "3", None])
def test_dense_invalid_units(units):
    with pytest.raises(ValueError, match="expected a positive integer"):
        keras.layers.Dense(units)  # the oracle refuses them too
    with pytest.raises(
        nb.LayerConfigError, match=f"^units must be an integer from 1 to 65,536; received {re.escape(repr(units))}$"
    ):
        nb.Dense(units)


def test_dense_bool_units_rejected():
    """Deliberate: Keras takes units=True as 1; a checkbox value is not a size."""
    assert keras.layers.Dense(True).units == 1
    with pytest.raises(nb.LayerConfigError, match="units must be an integer from 1 to 65,536; received True"):
        nb.Dense(True)


def test_dense_units_bound():
    assert nb.Dense(65_536).units == 65_536
    with pytest.raises(nb.LimitError, match="^units must be an integer from 1 to 65,536; received 65537$"):
        nb.Dense(65_537)


def test_unknown_keyword_rejected_as_keras_words_it():
    with pytest.raises(ValueError, match="^Unrecognized keyword arguments passed to Dense: ") as theirs:
        keras.layers.Dense(3, foo=1)
    with pytest.raises(nb.LayerConfigError, match="^Unrecognized keyword arguments passed to Dense: foo") as ours:
        nb.Dense(3, foo=1)
    assert "foo" in str(theirs.value) and "units, activation, use_bias" in str(ours.value)


def test_dense_numpy_int_units_accepted():
    assert nb.Dense(np.int64(3)).units == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"use_bias": 1}, "use_bias must be true or false; received 1"),
        ({"activation": "Relu"}, "unknown activation 'Relu'"),
        ({"activation": "threshold"}, "threshold"),
    ],
)
def test_dense_invalid_options(kwargs, match):
    with pytest.raises(nb.LayerConfigError, match=match):
        nb.Dense(3, **kwargs)


@pytest.fixture(scope="module")
def keras_dense():
    """Keras's Dense(3) built for 2 inputs, in a model (a refused set_weights leaves it unchanged)."""
    keras.backend.clear_session(free_memory=False)
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)]).layers[0]


@pytest.mark.parametrize(
    "weights",
    [
        [np.ones((2, 3))],
        [np.ones((2, 4)), np.zeros(3)],
        [np.ones((2, 3)), np.zeros(4)],
        [np.ones(3), np.zeros(3)],
        [np.ones((5, 3)), np.zeros(3)],  # a kernel for another input size: the built size is kept
    ],
    ids=["count", "kernel-units", "bias", "kernel-rank", "kernel-inputs"],
)
def test_dense_set_weights_errors_are_keras_messages(keras_dense, weights):
    """A built layer in a model (named `dense` on both sides) refuses wrong weights with Keras's own message."""
    ours = nb.Sequential([nb.Input((2,)), nb.Dense(3)]).layers[0]
    with pytest.raises(ValueError) as keras_error:
        keras_dense.set_weights(weights)
    with pytest.raises(nb.LayerConfigError) as our_error:
        ours.set_weights(weights)
    assert str(our_error.value) == str(keras_error.value)


def test_set_weights_needs_a_built_layer():
    """As in Keras: an unbuilt layer has no weights to set (Keras: "expecting 0 weights")."""
    with pytest.raises(ValueError, match="expecting 0 weights"):
        keras.layers.Dense(3).set_weights([np.ones((2, 3)), np.zeros(3)])
    with pytest.raises(nb.LayerConfigError, match="not built yet"):
        nb.Dense(3).set_weights([np.ones((2, 3)), np.zeros(3)])


def test_dense_set_weights_casts_to_float32():
    layer = dense_with(np.ones((1, 1), np.float64), bias=np.zeros(1, np.float64))
    assert layer.kernel.dtype == f32 and layer.bias.dtype == f32


def test_dense_config_keys_in_keras_order():
    config = nb.Dense(4, activation="swish", name="out").get_config()
    assert list(config) == [
        "name",
        "trainable",
        "dtype",
        "units",
        "activation",
        "use_bias",
        "kernel_initializer",
        "bias_initializer",
        "kernel_regularizer",
        "bias_regularizer",
        "kernel_constraint",
        "bias_constraint",
        "quantization_config",
    ]
    assert config["name"] == "out" and config["units"] == 4 and config["activation"] == "silu"
    assert config["kernel_initializer"]["class_name"] == "GlorotUniform"


# --- Flatten ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape, out", [((None,), (None, 1)), ((None, 5), (None, 5)), ((None, 3, 16), (None, 48)), ((4, 2, 3, 4), (4, 24))]
)
def test_flatten_output_shape(shape, out):
    assert nb.Flatten().compute_output_shape(shape) == out
    assert nb.Flatten(data_format="channels_first").compute_output_shape(shape) == out


def test_flatten_rank1_adds_feature_axis():
    np.testing.assert_array_equal(nb.Flatten().call(np.arange(3, dtype=f32)), [[0], [1], [2]])


def test_flatten_channels_first_rank4():
    x = np.arange(24, dtype=f32).reshape(1, 2, 3, 4)
    np.testing.assert_array_equal(nb.Flatten().call(x), [list(range(24))])
    want = [0, 12, 1, 13, 2, 14, 3, 15, 4, 16, 5, 17, 6, 18, 7, 19, 8, 20, 9, 21, 10, 22, 11, 23]
    np.testing.assert_array_equal(nb.Flatten(data_format="channels_first").call(x), [want])


def test_flatten_channels_first_rank3_and_rank2():
    x = np.arange(24, dtype=f32).reshape(2, 3, 4)
    want = [[0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11], [12, 16, 20, 13, 17, 21, 14, 18, 22, 15, 19, 23]]
    np.testing.assert_array_equal(nb.Flatten(data_format="channels_first").call(x), want)
    np.testing.assert_array_equal(
        nb.Flatten(data_format="channels_first").call(np.arange(6, dtype=f32).reshape(1, 2, 3)), [[0, 3, 1, 4, 2, 5]]
    )
    x2 = np.arange(6, dtype=f32).reshape(2, 3)
    np.testing.assert_array_equal(nb.Flatten(data_format="channels_first").call(x2), x2)


def test_flatten_data_format():
    assert nb.Flatten().data_format == "channels_last"
    assert nb.Flatten(data_format="Channels_First").data_format == "channels_first"
    assert nb.Flatten(data_format="channels_first").get_config()["data_format"] == "channels_first"
    with pytest.raises(
        nb.LayerConfigError, match=r"must be one of \{'channels_first', 'channels_last'\}. Received: data_format=foo"
    ):
        nb.Flatten(data_format="foo")


def test_flatten_has_no_weights():
    layer = nb.Flatten()
    assert layer.count_params() == 0 and layer.get_weights() == []
    assert layer.count_params_for((None, 3, 4)) == (0, 0) and layer.formula((None, 3, 4)) == ""
    built = nb.Sequential([nb.Input((3, 4)), nb.Flatten()]).layers[0]
    built.set_weights([])
    with pytest.raises(nb.LayerConfigError, match="expect.* 0 weights"):
        built.set_weights([np.ones(1)])


def test_flatten_set_weights_error_is_keras_message():
    keras.backend.clear_session(free_memory=False)
    with pytest.raises(ValueError) as keras_error:
        keras.Sequential([keras.Input((3, 4)), keras.layers.Flatten()]).layers[0].set_weights([np.ones(1)])
    with pytest.raises(nb.LayerConfigError) as our_error:
        nb.Sequential([nb.Input((3, 4)), nb.Flatten()]).layers[0].set_weights([np.ones(1)])
    assert str(our_error.value) == str(keras_error.value)


# --- Activation -------------------------------------------------------------------------------
def test_activation_layer():
    layer = nb.Activation("relu")
    assert layer.compute_output_shape((None, 3, 16)) == (None, 3, 16)
    assert layer.get_config()["activation"] == "relu" and layer.count_params() == 0
    assert layer.count_params_for((None, 3, 16)) == (0, 0)
    layer.build((None, 2), seed=0)
    np.testing.assert_array_equal(layer.call(np.array([[-1, 2]], f32)), [[0, 2]])


def test_activation_layer_computes_as_soon_as_made_as_in_keras():
    """Keras builds an Activation when it is made (no build_config in its JSON); ours says so too (builds_at_init)."""
    theirs = keras.layers.Activation("relu")
    assert theirs.built
    np.testing.assert_array_equal(np.asarray(theirs.call(np.array([[-1, 2]], f32))), [[0, 2]])
    assert nb.Activation.builds_at_init
    np.testing.assert_array_equal(nb.Activation("relu").call(np.array([[-1, 2]], f32)), [[0, 2]])


def test_activation_layer_alias_is_stored_canonical():
    assert nb.Activation("swish").activation == "silu"


def test_activation_glu_output_shape_is_halved():
    """Deliberate difference: Keras reports (None, 4) but returns (batch, 2)."""
    assert nb.Activation("glu").compute_output_shape((None, 4)) == (None, 2)


def test_activation_requires_a_known_name():
    with pytest.raises(nb.LayerConfigError):
        nb.Activation("softmax2")


# --- names, input shapes, calls ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["", "a/b", "x" * 65, "tab\there", 3])
def test_invalid_names(name):
    with pytest.raises(nb.LayerConfigError, match="name must be 1 to 64 printable characters"):
        check_name(name)


def test_valid_names():
    assert check_name(None) is None
    assert check_name("my layer_1") == "my layer_1"
    assert nb.Dense(2, name="x" * 64).name == "x" * 64


@pytest.mark.parametrize(
    "shape, out", [((), ()), ((3, 2), (3, 2)), ([4], (4,)), ((np.int64(2), 3), (2, 3)), ((1000, 1000), (1000, 1000))]
)
def test_input_shape_accepted(shape, out):
    assert check_input_shape(shape) == out


@pytest.mark.parametrize(
    "shape, error, match",
    [
        (3, nb.LayerConfigError, r"must be a tuple such as \(3,\)"),
        ((0,), nb.LayerConfigError, "positive integers"),
        ((-1, 2), nb.LayerConfigError, "positive integers"),
        ((2.0,), nb.LayerConfigError, "positive integers"),
        ((None, 3), nb.LayerConfigError, "positive integers"),
        ((True,), nb.LayerConfigError, "positive integers"),
        ((1, 1, 1, 1, 1), nb.LimitError, "5 axes; at most 4"),
        ((65_536, 32_769), nb.LimitError, "2,147,549,184 elements per sample; at most 2,147,483,648"),
        (None, nb.LayerConfigError, "tuple of positive integers"),
    ],
)
def test_input_shape_rejected(shape, error, match):
    with pytest.raises(error, match=match):
        check_input_shape(shape)


def test_layer_call_needs_a_symbolic_tensor():
    with pytest.raises(nb.LayerConfigError, match="model.predict"):
        nb.Dense(2)(np.ones((1, 2)))
    assert nb.Flatten()(nb.Input((10, 64))).shape == (None, 640)
