"""Models people actually build, from the Keras examples, built in Keras, exported with to_json() and imported
here: the same summary text, parameters, and outputs on the same weights (Keras is the oracle)."""

import warnings

import keras
import numpy as np
import pytest

import netbuilder as nb
from netbuilder.studio.keras_import import spec_from_keras_json


def mnist_convnet():
    """keras.io/examples/vision/mnist_convnet."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def imdb_bidirectional_free_lstm():
    """keras.io/examples/nlp/bidirectional_lstm_imdb, with its LSTMs one-directional."""
    inputs = keras.Input(shape=(200,), dtype="int32")
    x = keras.layers.Embedding(20000, 128)(inputs)
    x = keras.layers.LSTM(64, return_sequences=True)(x)
    x = keras.layers.LSTM(64)(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


def imdb_conv1d():
    """The classic IMDB convnet: Embedding → Dropout → Conv1D → GlobalMaxPooling1D → Dense."""
    return keras.Sequential(
        [
            keras.Input(shape=(400,)),
            keras.layers.Embedding(5000, 50),
            keras.layers.Dropout(0.2),
            keras.layers.Conv1D(250, 3, padding="valid", activation="relu", strides=1),
            keras.layers.GlobalMaxPooling1D(),
            keras.layers.Dense(250, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )


def timeseries_gru():
    """keras.io/examples/timeseries/timeseries_weather_forecasting, with a GRU beside its LSTM."""
    return keras.Sequential(
        [
            keras.Input(shape=(120, 7)),
            keras.layers.GRU(32, return_sequences=True),
            keras.layers.LSTM(32),
            keras.layers.Dense(1),
        ]
    )


def vgg_block():
    """Two VGG blocks: 3×3 same convolutions, then max pooling, then a classifier head."""
    return keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3)),
            keras.layers.Conv2D(32, (3, 3), activation="relu", padding="same"),
            keras.layers.Conv2D(32, (3, 3), activation="relu", padding="same"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Conv2D(64, (3, 3), activation="relu", padding="same"),
            keras.layers.Conv2D(64, (3, 3), activation="relu", padding="same"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


MODELS = {
    "mnist_convnet": mnist_convnet,
    "imdb_lstm": imdb_bidirectional_free_lstm,
    "imdb_conv1d": imdb_conv1d,
    "timeseries_gru": timeseries_gru,
    "vgg_block": vgg_block,
}
INTEGER_INPUT = {"imdb_lstm": 20000, "imdb_conv1d": 5000}


def sample(name, model, batch=3):
    rng = np.random.default_rng(0)
    shape = (batch, *model.input_shape[1:])
    if name in INTEGER_INPUT:
        return rng.integers(0, INTEGER_INPUT[name], size=shape).astype(np.float32)
    return rng.normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("name", list(MODELS))
def test_a_published_model_imports_with_equal_summary_params_and_outputs(name, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    keras.backend.clear_session(free_memory=False)
    theirs = MODELS[name]()
    ours = nb.model_from_json(theirs.to_json(), seed=0)
    assert ours.count_params() == theirs.count_params()
    assert ours.output_shape == tuple(theirs.output_shape)
    keras_text, our_text = [], []
    theirs.summary(print_fn=lambda text, **kwargs: keras_text.append(text))
    ours.summary(print_fn=lambda text, **kwargs: our_text.append(text))
    assert our_text == keras_text
    rng = np.random.default_rng(1)
    weights = [np.asarray(w) + rng.normal(size=w.shape).astype(np.float32) * 0.05 for w in theirs.get_weights()]
    weights = [np.abs(w) + 0.5 if "variance" in v.path else w for w, v in zip(weights, theirs.weights)]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = sample(name, theirs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.asarray(theirs.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x), expected, rtol=1e-4, atol=1e-5)
    spec = spec_from_keras_json(theirs.to_json(), seed=0)  # and as the app imports it: an editable model
    assert spec.analysis.ok and spec.analysis.total_params == theirs.count_params()
