"""Exported Keras and PyTorch scripts run in the real libraries and compute what the engine computes."""

import json

import keras
import numpy as np
import pytest
import torch

from netbuilder import ACTIVATION_NAMES, IncompatibleShapeError, LayerConfigError, export
from netbuilder.activations import canonical_name
from netbuilder.spec import ModelSpec, seed_spec

TOL = dict(rtol=1e-5, atol=1e-5)


def spec_of(input_shape, *layers) -> ModelSpec:
    """A validated spec from (kind, settings) pairs, ids 0, 1, ..."""
    return ModelSpec.from_dict({
        "input_shape": list(input_shape), "seed": 3,
        "layers": [{"id": i, "kind": kind, **settings} for i, (kind, settings) in enumerate(layers)],
    })


def sample(spec: ModelSpec, batch: int = 5, scale: float = 2.0) -> np.ndarray:
    """Inputs spread over about ±2·scale, so thresholds at ±0.5, ±1, ±3 are crossed."""
    return (np.random.default_rng(7).normal(size=(batch, *spec.input_shape)) * scale).astype(np.float32)


def run_keras(spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    namespace = {"__name__": "exported_keras"}
    exec(compile(export.keras_code(spec), "<keras export>", "exec"), namespace)  # our own generated code
    return np.asarray(namespace["model"].predict(x, verbose=0))


def run_torch(spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    namespace = {"__name__": "exported_torch"}
    exec(compile(export.pytorch_code(spec), "<torch export>", "exec"), namespace)  # our own generated code
    with torch.no_grad():
        return namespace["model"](torch.from_numpy(x)).numpy()


def assert_exports_match(spec: ModelSpec, batch: int = 5, scale: float = 2.0) -> None:
    x = sample(spec, batch, scale)
    expected = spec.model().predict(x)
    assert np.isfinite(expected).all()  # a comparison of infs or NaNs would prove nothing
    np.testing.assert_allclose(run_keras(spec, x), expected, **TOL)
    np.testing.assert_allclose(run_torch(spec, x), expected, **TOL)


CASES = {
    "seed": seed_spec(),
    "channels_first_rank3": spec_of((2, 3, 4), ("Flatten", {"data_format": "channels_first"}), ("Dense", {"units": 5})),
    "channels_first_after_dense": spec_of(
        (2, 3, 4), ("Dense", {"units": 3, "activation": "tanh"}), ("Flatten", {"data_format": "channels_first"}), ("Dense", {"units": 2})
    ),
    "channels_first_rank2_is_plain": spec_of((3, 4), ("Flatten", {"data_format": "channels_first"}), ("Dense", {"units": 2})),
    "rank1_input": spec_of((5,), ("Dense", {"units": 3, "activation": "relu"}), ("Dense", {"units": 2})),
    "rank0_input": spec_of((), ("Activation", {"activation": "softmax"}), ("Flatten", {}), ("Dense", {"units": 3})),
    "no_bias": spec_of((3, 2), ("Dense", {"units": 4, "use_bias": False}), ("Flatten", {}), ("Dense", {"units": 2, "use_bias": False})),
    "pinned_input_dim": spec_of((3, 2), ("Dense", {"units": 6, "input_dim": 2}), ("Flatten", {}), ("Dense", {"units": 2, "input_dim": 18})),
}


@pytest.mark.parametrize("name", list(CASES))
def test_exports_compute_what_the_engine_computes(name):
    assert_exports_match(CASES[name])


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_every_activation_exports(activation):
    name = canonical_name(activation)  # a spec stores the name Keras serializes (swish → silu)
    spec = spec_of((2, 6), ("Activation", {"activation": name}), ("Dense", {"units": 8, "activation": name}), ("Flatten", {}), ("Dense", {"units": 3}))
    assert_exports_match(spec, scale=0.5 if name == "exponential" else 2.0)  # exp of exp must stay finite


def test_glu_models_keep_their_true_shapes_in_keras():
    spec = spec_of((4,), ("Dense", {"units": 8, "activation": "glu"}), ("Activation", {"activation": "glu"}), ("Dense", {"units": 3}))
    namespace = {}
    exec(export.keras_code(spec), namespace)
    assert namespace["model"].output_shape == spec.model().output_shape == (None, 3)


def test_exports_carry_the_current_weights_not_the_seeded_ones():
    spec = seed_spec()
    model = spec.model()
    original = model.get_weights()
    try:
        model.set_weights([w * 3 + 0.25 for w in original])
        assert_exports_match(spec)
    finally:
        model.set_weights(original)


def test_keras_script_rebuilds_names_and_exact_weights():
    spec = CASES["no_bias"]
    namespace = {}
    exec(export.keras_code(spec), namespace)
    model = namespace["model"]
    assert [layer.name for layer in model.layers] == [layer.name for layer in spec.model().layers]
    for got, want in zip(model.get_weights(), spec.model().get_weights()):
        assert got.dtype == np.float32 and np.array_equal(got, want)


def test_torch_script_uses_plain_modules_and_transposed_kernels():
    code = export.pytorch_code(seed_spec())
    assert "nn.Linear(2, 16, bias=True)" in code and "nn.Flatten()" in code and "KerasFunction" not in code
    namespace = {}
    exec(code, namespace)
    kernel = spec_kernel = seed_spec().model().get_weights()[0]
    assert np.array_equal(namespace["model"][0].weight.detach().numpy(), spec_kernel.T) and kernel.shape == (2, 16)


def test_large_weights_stay_exact():
    spec = spec_of((400,), ("Dense", {"units": 300}))  # 120,300 values: past the shortest-repr limit
    namespace = {}
    exec(export.keras_code(spec), namespace)
    assert all(np.array_equal(a, b) for a, b in zip(namespace["model"].get_weights(), spec.model().get_weights()))


def test_float_literals_are_float32_exact():
    bits = np.random.default_rng(0).integers(0, 2**32, size=20_000, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    values = values[np.isfinite(values)]
    special = np.array([0.0, -0.0, 1e-45, -1e-45, 3.4028235e38, 1.1754942e-38, 0.1, 1 / 3], np.float32)
    for arr in (values, special):
        back = np.array(eval(export.array_literal(arr)), dtype=np.float32)
        assert np.array_equal(back.view(np.uint32), arr.view(np.uint32))  # bit for bit, signed zeros included


def test_non_finite_weights_become_float_calls():
    text = export.array_literal(np.array([[np.nan, np.inf], [-np.inf, 1.5]], np.float32))
    back = np.array(eval(text), np.float32)
    assert np.isnan(back[0, 0]) and back[0, 1] == np.inf and back[1, 0] == -np.inf and back[1, 1] == 1.5


def test_keras_json_loads_in_keras():
    text = export.keras_json(seed_spec())
    assert json.loads(text)["class_name"] == "Sequential" and "\n  " in text
    model = keras.models.model_from_json(text)
    assert model.output_shape == (None, 4) and model.count_params() == 244


def test_an_empty_model_exports_to_torch_but_not_keras():
    spec = spec_of((3,))
    x = sample(spec)
    np.testing.assert_array_equal(run_torch(spec, x), spec.model().predict(x))
    with pytest.raises(LayerConfigError, match="without layers"):
        export.keras_code(spec)  # Keras's own Sequential([Input((3,))]) fails when called


def test_a_model_that_does_not_fit_cannot_be_exported():
    broken = ModelSpec.from_dict({"input_shape": [3], "layers": [{"id": 0, "kind": "Dense", "units": 2, "input_dim": 5}]})
    for exporter in (export.keras_code, export.pytorch_code, export.keras_json):
        with pytest.raises(IncompatibleShapeError):
            exporter(broken)
