"""Dropout against real Keras (tests/kind_harness.py): the identity at inference, Keras's masks and scaling in
training."""

import keras
import numpy as np
import pytest

import netbuilder as nb
from kind_harness import (
    Case,
    check_case,
    check_cost,
    check_exports,
    check_gradients,
    json_roundtrip_equal,
    ours_model,
    sample,
    spec_of,
)
from netbuilder.engine.analysis import analyze
from netbuilder.engine.layer import kind_class

Dropout = kind_class("Dropout")

CASES = [
    Case("Dropout", {"rate": 0.5}, (5, 4)),
    Case("Dropout", {"rate": 0}, (3,)),
    Case("Dropout", {"rate": 1}, (2, 3)),
    Case("Dropout", {"rate": 0.3}, ()),
    Case("Dropout", {"rate": 0.25}, (2, 3, 4, 2)),
    Case("Dropout", {"rate": 0.3, "noise_shape": (None, 1, 4)}, (5, 4)),
    Case("Dropout", {"rate": 0.3, "noise_shape": [None, 1]}, (5,)),
    Case("Dropout", {"rate": 0.3, "seed": 42}, (5, 4)),
    Case("Dropout", {"rate": 0.3, "seed": 2**32 - 1}, (5,)),
    Case("Dropout", {"rate": 1.5}, (5,)),
    Case("Dropout", {"rate": -0.1}, (5,)),
    Case("Dropout", {"rate": "0.5"}, (5,)),
    Case("Dropout", {"rate": 0.3, "seed": -1}, (5,)),
    Case("Dropout", {"rate": 0.3, "seed": 2**32}, (5,)),
    Case("Dropout", {"rate": 0.3, "seed": 2.5}, (5,)),
    Case("Dropout", {"rate": 0.3, "noise_shape": "abc"}, (5,)),
    Case("Dropout", {"rate": 0.3, "noise_shape": (None, 0)}, (5,)),
    Case("Dropout", {"rate": 0.3, "noise_shape": (None, 1.5)}, (5,)),
    Case(
        "Dropout",
        {"rate": 0, "seed": -1},
        (5,),
        keras_accepts_we_reject="a seed is checked even at rate 0, where Keras makes no generator and ignores it",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_dropout_matches_keras(case):
    check_case(case)


BUILT = [c for c in CASES[:9]]


@pytest.mark.parametrize("case", BUILT, ids=lambda c: c.id)
def test_dropout_is_the_identity_at_inference_and_allocates_nothing(case):
    model = ours_model(case)
    x = sample(case, 8)
    y = model.predict(x)
    assert y is x or np.shares_memory(x, y)
    assert model.analysis.layers[0].cost.output_is_view
    for batch in (1, 64, 4096):
        check_cost(model, sample(case, batch))


def _seed_rng(seed: int) -> np.random.Generator:
    """The generator Keras's NumPy backend uses for an integer seed (keras.random.draw_seed: [seed, 0] as uint32)."""
    return np.random.default_rng(np.array([seed, 0], dtype="uint32"))


@pytest.mark.parametrize(
    "rate,noise_shape,shape",
    [
        (0.5, None, (6, 5)),
        (0.3, None, (4, 3, 2)),
        (0.9, None, (7,)),
        (0.3, (None, 1, 4), (3, 5, 4)),
        (0.5, (1, 5), (3, 5)),
        (0.0, None, (3, 2)),
        (1.0, None, (3, 2)),
    ],
)
def test_training_masks_are_keras_masks(rate, noise_shape, shape):
    """With the generator Keras draws from a seed, our training output is Keras's, bit for bit (layer and backend
    op)."""
    x = (np.random.default_rng(1).normal(size=shape) * 2).astype(np.float32)
    layer = Dropout(rate, noise_shape=noise_shape)
    ours, _ = layer.forward_train(x, _seed_rng(5))
    theirs = keras.random.dropout(x, rate, noise_shape=noise_shape, seed=5)
    np.testing.assert_array_equal(ours, np.asarray(theirs))
    assert ours.dtype == np.float32
    keras_layer = keras.layers.Dropout(rate, noise_shape=noise_shape, seed=9)  # its generator starts at [seed, 0]
    np.testing.assert_array_equal(layer.forward_train(x, _seed_rng(9))[0], np.asarray(keras_layer(x, training=True)))


def test_training_zeroes_about_rate_and_scales_the_rest():
    x = np.ones((200, 50), np.float32)
    y, _ = Dropout(0.3).forward_train(x, np.random.default_rng(0))
    kept = y != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01
    np.testing.assert_allclose(y[kept], np.float32(1) / np.float32(0.7))
    shared, _ = Dropout(0.5, noise_shape=(None, 1)).forward_train(x, np.random.default_rng(0))
    assert all(len(set(row)) == 1 for row in shared.tolist())  # one draw per sample


def test_noise_shape_that_cannot_broadcast_is_refused_when_training():
    layer = Dropout(0.5, noise_shape=(None, 3))
    assert analyze([layer], (5,)).ok  # Keras accepts it at inference, and so do we
    with pytest.raises(nb.NetbuilderError, match="do not broadcast"):
        layer.forward_train(np.ones((2, 5), np.float32), np.random.default_rng(0))


@pytest.mark.parametrize(
    "settings,shape",
    [
        ({"rate": 0.4}, (3, 4)),
        ({"rate": 0.0}, (5,)),
        ({"rate": 1.0}, (2, 2)),
        ({"rate": 0.5, "noise_shape": (None, 1, 3)}, (2, 3)),
    ],
)
def test_dropout_gradients(settings, shape):
    layer = ours_model(Case("Dropout", settings, shape)).layers[0]
    check_gradients(layer, np.random.default_rng(2).normal(size=(4, *shape)))


def test_dropout_exports_and_json():
    spec = spec_of(
        (3, 4),
        ("Dense", {"units": 6}),
        ("Dropout", {"rate": 0.5, "seed": 7}),
        ("Flatten", {}),
        ("Dropout", {"rate": 0.2, "noise_shape": (None, 1)}),
        ("Dense", {"units": 2}),
    )
    check_exports(spec)
    json_roundtrip_equal(spec)


def test_dropout_keeps_the_shape_for_fixes_upstream():
    """Dropout passes shapes through, so a Dense after it can still be fixed by resizing the Dense before it."""
    layers = [kind_class("Dense")(4), Dropout(0.5), kind_class("Dense")(3)]
    layers[2].built_shape = (None, 6)
    issue = analyze(layers, (2,)).issue
    assert ("units", 6) in [f.value for f in issue.fixes if f.action == "set_setting"]


def test_dropout_describes_itself():
    layer = Dropout(0.25)
    assert layer.label() == "rate 0.25" and layer.group == "Core" and layer.description
    text = layer.explain_shape((None, 8), (None, 8))
    assert "unchanged" in text and "1/(1 − 0.25) = 1.333" in text
    for setting in Dropout.settings[1:]:  # rate is edited as a number, not as text
        for value in (setting.default, *({"noise_shape": [(None, 1, 4)], "seed": [0, 123]}.get(setting.name, []))):
            assert setting.parse_text(setting.format_text(value)) == value
            assert setting.from_json(setting.to_json(value)) == value


def test_fit_with_dropout_is_reproducible_and_drops():
    """In fit, masks come from the trainer's generator (seeded by the model seed): two runs agree, and a rate
    above 0 changes the result (Keras on JAX draws other masks, so only rate 0 can be compared with it)."""
    from netbuilder.optimizers import SGD

    x = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)

    def fit(rate):
        model = nb.Sequential(
            [nb.Input((5,)), kind_class("Dense")(8, activation="tanh"), Dropout(rate), kind_class("Dense")(1)], seed=4
        )
        model.compile(optimizer=SGD(learning_rate=0.05), loss="mse")
        return model.fit(x, y, batch_size=8, epochs=2, shuffle=True).history["loss"], model.get_weights()

    first, second, none = fit(0.5), fit(0.5), fit(0.0)
    assert first[0] == second[0] and all(np.array_equal(a, b) for a, b in zip(first[1], second[1]))
    assert first[0] != none[0]
