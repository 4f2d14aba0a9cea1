"""keras.ops on tensors (keras.src.ops.numpy Add and Multiply: calls of the graph that are not layers) and
InceptionResNetV2's CustomScaleLayer, against real Keras 3: shapes, refusals, the summary character for character,
model.layers, outputs with the same weights, and JSON both ways. Training through both is in
test_functional_training."""

import json
import re

import keras
import numpy as np
import pytest
from keras.src.applications.inception_resnet_v2 import CustomScaleLayer as KerasCustomScaleLayer

import netbuilder as nb


def hard_sigmoid_block(api, scale_layer):
    """MobileNetV3's hard sigmoid and an InceptionResNetV2 residual, written the same way in Keras and in netbuilder."""
    layers = api.layers if api is keras else api
    x = api.Input((4, 3), name="x")
    h = layers.Dense(3, name="d")(x)
    gate = layers.ReLU(max_value=6.0, name="relu6")(h + 3.0) * (1 / 6)
    y = scale_layer(scale=0.17, name="scaled")([x, 2.0 * gate])
    return api.Model(x, y + x, name="block")


def both():
    ours = hard_sigmoid_block(nb, nb.CustomScaleLayer)
    keras.backend.clear_session(free_memory=False)
    theirs = hard_sigmoid_block(keras, KerasCustomScaleLayer)
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def summary(model) -> str:
    lines = []
    model.summary(line_length=108, print_fn=lines.append)
    return lines[0]


def test_operations_are_calls_not_layers_as_in_keras(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    ours, theirs = both()
    assert (
        [layer.name for layer in ours.layers]
        == [layer.name for layer in theirs.layers]
        == ["x", "d", "relu6", "scaled"]
    )
    assert summary(ours) == summary(
        theirs
    )  # add, multiply, multiply_1, add_1: rows of the summary, auto-named as Keras
    assert ours.count_params() == theirs.count_params() == 12
    x = np.random.default_rng(0).normal(size=(5, 4, 3)).astype(np.float32) * 4
    np.testing.assert_array_equal(
        ours.predict(x), theirs.predict(x, verbose=0)
    )  # the same float32 operations, in order


def test_json_both_ways():
    ours, theirs = both()
    mine, keras_doc = json.loads(ours.to_json()), json.loads(theirs.to_json())
    operations = [e for e in keras_doc["config"]["layers"] if e["module"] == "keras.src.ops.numpy"]
    assert [e["class_name"] for e in operations] == ["Add", "Multiply", "Multiply", "Add"]
    assert [e for e in mine["config"]["layers"] if e["module"] == "keras.src.ops.numpy"] == operations
    scaled = next(e for e in mine["config"]["layers"] if e["name"] == "scaled")
    assert (scaled["module"], scaled["registered_name"], scaled["config"]["scale"]) == (
        "keras.src.applications.inception_resnet_v2",
        "CustomScaleLayer",
        0.17,
    )
    read = keras.models.model_from_json(ours.to_json())  # Keras reads ours ...
    read.set_weights(ours.get_weights())
    back = nb.model_from_json(theirs.to_json())  # ... and we read Keras's
    back.set_weights(ours.get_weights())
    x = np.random.default_rng(1).normal(size=(3, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(read.predict(x, verbose=0), ours.predict(x))
    np.testing.assert_array_equal(back.predict(x), ours.predict(x))
    assert json.loads(back.to_json())["config"]["layers"] == mine["config"]["layers"]


@pytest.mark.parametrize(
    "make, keras_make, message",
    [
        (
            lambda: nb.Input((4, 3)) + nb.Input((5, 3)),
            lambda: keras.Input((4, 3)) + keras.Input((5, 3)),
            "cannot add (None, 4, 3) and (None, 5, 3)",
        ),
        (
            lambda: nb.Input((3,)) * "two",
            lambda: keras.Input((3,)) * "two",
            "takes two arguments, tensors or finite numbers",
        ),
        (
            lambda: nb.CustomScaleLayer(0.1)([nb.Input((4,)), nb.Input((5,))]),
            lambda: KerasCustomScaleLayer(0.1)([keras.Input((4,)), keras.Input((5,))]),
            "cannot add (None, 4) and (None, 5)",
        ),
        (lambda: nb.CustomScaleLayer(0.1)([nb.Input((4,))] * 3), None, "takes exactly 2 inputs"),
        (lambda: nb.CustomScaleLayer(0.1)([nb.Input((2, 4)), nb.Input((4,))]), None, "different numbers of axes"),
    ],
)
def test_refusals(make, keras_make, message):
    if keras_make is not None:
        with pytest.raises(Exception):
            keras_make()
    with pytest.raises(nb.NetbuilderError, match=re.escape(message)):
        make()


def test_an_operation_is_called_once_and_numbers_are_kept_as_given():
    x = nb.Input((3,))
    y = 0.5 + x
    with pytest.raises(nb.LayerConfigError, match="Keras makes one operation per use"):
        y.node.layer(x, 1.0)
    assert y.node.args == (0.5, x) and nb.Model(x, y).predict(np.zeros((1, 3), np.float32)).tolist() == [[0.5] * 3]
