"""Pasted Keras functional code (studio.layer_list): read with `ast`, never run by netbuilder — and run here, by real
Keras 3.15 (NumPy backend), as the oracle: the graph read has Keras's shapes, parameters, weights' order and outputs.
What is not part of the model is named; what cannot be read is refused with its line."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from netbuilder import LayerConfigError
from netbuilder.studio import models
from netbuilder.studio.layer_list import parse_layers
from netbuilder.studio.spec import INPUT_ID, ModelSpec

RESIDUAL = """
import keras
from keras import layers

inputs = keras.Input(shape=(8, 8, 3))
x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
shortcut = x
x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
x = layers.Conv2D(16, 3, padding="same")(x)
x = layers.add([x, shortcut])
x = layers.Activation("relu")(x)
unused = layers.Dense(3)(shortcut)
x = layers.GlobalAveragePooling2D()(x)
outputs = layers.Dense(10, activation="softmax")(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
"""

INCEPTION = """
from keras import Input, Model
from keras.layers import Concatenate, Conv2D, Dense, Flatten, MaxPooling2D
x = Input((8, 8, 4))
a = Conv2D(4, 1, activation="relu")(x)
b = Conv2D(6, 3, padding="same", activation="relu")(Conv2D(3, 1, activation="relu")(x))
pool = MaxPooling2D(3, strides=1, padding="same")
c = Conv2D(2, 1)(pool(x))
y = Concatenate(axis=-1)([a, b, c])
out = Dense(5)(Flatten()(y))
model = Model(inputs=x, outputs=out)
"""

TRANSFORMER = """
inputs = keras.Input(shape=(6, 16))
attention = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)(inputs, inputs)
x = keras.layers.LayerNormalization()(keras.layers.add([inputs, attention]))
y = keras.layers.Dense(16)(keras.layers.Dense(32, activation="relu")(x))
outputs = keras.layers.LayerNormalization()(keras.layers.Add()([x, y]))
model = keras.Model(inputs, outputs)
"""

TWO_INPUTS = """
image = keras.Input(shape=(8, 8, 1))
meta = keras.Input(shape=(3,))
x = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu")(image))
m = keras.layers.Dense(8, activation="relu")(meta)
outputs = keras.layers.Dense(5)(keras.layers.concatenate([x, m]))
model = keras.Model([image, meta], outputs)
"""


def keras_of(code: str):
    """The model the code builds in real Keras (the test runs its own code; the app never runs what is pasted)."""
    keras.utils.clear_session()
    scope: dict = {"keras": keras}
    exec(code, scope)  # noqa: S102 — the oracle running the test's own, fixed code
    return scope["model"]


@pytest.mark.parametrize(
    "code", [RESIDUAL, INCEPTION, TRANSFORMER, TWO_INPUTS], ids=["residual", "inception", "transformer", "two-inputs"]
)
def test_functional_code_reads_as_the_graph_keras_builds(code):
    pasted = parse_layers(code)
    spec = ModelSpec(pasted.input_shape, (), 0, more_inputs=pasted.more_inputs).replace_layers(pasted.layers)
    theirs = keras_of(code)
    assert spec.analysis.ok and spec.analysis.total_params == theirs.count_params()
    assert spec.analysis.output_shape == theirs.output_shape
    assert spec.weight_shapes() == [w.shape for w in theirs.get_weights()]
    ours = models.fresh(spec)
    theirs.set_weights(ours.get_weights())  # both in Keras's layer order
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(2, *shape)).astype("float32") for shape in spec.input_shapes]
    x = x[0] if len(x) == 1 else x
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_what_is_not_part_of_the_model_is_named_and_left_out():
    pasted = parse_layers(RESIDUAL)
    assert [layer.kind for layer in pasted.layers].count("Dense") == 1  # the unused Dense(3) is not in the model
    assert "line 16 (model.compile(optimizer='adam', loss='sp)" in pasted.unread
    assert "not on the way to the outputs: Dense (line 12)" in pasted.unread
    assert not any("import" in note for note in pasted.unread)
    add = next(layer for layer in pasted.layers if layer.kind == "Add")
    assert add.inputs == (2, 0)  # x, then shortcut: the first convolution's output


def test_a_layer_made_once_and_called_later_and_one_called_inline():
    pasted = parse_layers(INCEPTION)
    kinds = [layer.kind for layer in pasted.layers]
    assert kinds.count("MaxPooling2D") == 1 and pasted.layers[kinds.index("MaxPooling2D")].inputs == (INPUT_ID,)
    concat = pasted.layers[kinds.index("Concatenate")]
    assert len(concat.inputs) == 3


@pytest.mark.parametrize(
    "code, words",
    [
        ("x = keras.Input((3,))\ny = layers.Dense(2)(z)", "line 2: z is not a tensor made above"),
        ("y = layers.Dense(2)(x)", "line 1: x is not a tensor made above"),
        (
            "x = keras.Input((3,))\nd = layers.Dense(2)\ny = d(x)\nz = d(y)",
            "line 4: layer d is called a second time (a shared layer",
        ),
        ("x = keras.Input((3,))\ny = layers.Dense(2)(x, training=True)", "call a layer on its tensors alone"),
        ("x = keras.Input((3,))\ny = layers.Lambda(lambda t: t)(x)", "Lambda"),
        ("x = keras.Input((3,))\ny = layers.add(x, x)", "takes one list of tensors"),
        ("x = keras.Input((3,))\ny = layers.Dense(2, activaton='relu')(x)", "did you mean activation?"),
    ],
)
def test_code_that_cannot_be_read_is_refused_with_its_line(code, words):
    with pytest.raises(LayerConfigError, match=words.replace("?", r"\?").replace("(", r"\(").replace(")", r"\)")):
        parse_layers(code)


def test_pasted_functional_code_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    code = f"x = keras.Input((3,))\ny = layers.Dense(2)(x)\nopen({str(marker)!r}, 'w').write('ran')"
    pasted = parse_layers(code)
    assert not marker.exists() and len(pasted.layers) == 1
    assert any("open(" in note for note in pasted.unread)


def test_pasted_layers_replace_a_models_layers_and_inputs_or_append_after_its_last_layer():
    two = ModelSpec((8, 8, 1), (), 0, more_inputs=((3,),)).validate()
    plain = parse_layers("Dense(4)\nDense(2)")
    kept = plain.onto(two, "replace")  # no Input line: the first input's shape kept, the others gone with the layers
    assert kept.input_shapes == ((8, 8, 1),) and [layer.kind for layer in kept.layers] == ["Dense", "Dense"]
    appended = plain.onto(kept, "append")
    assert len(appended.layers) == 4 and not appended.is_graph
    both = parse_layers(TWO_INPUTS)
    assert both.onto(kept, "replace").input_shapes == ((8, 8, 1), (3,))
    with pytest.raises(LayerConfigError, match="code with several Inputs is a model of its own"):
        both.onto(kept, "append")
