"""Exported Keras and PyTorch scripts run in the real libraries and compute what the engine computes."""

import json

import keras
import numpy as np
import pytest

import netbuilder as nb
from netbuilder import ACTIVATION_NAMES, IncompatibleShapeError, LayerConfigError, LimitError
from netbuilder.engine.activations import canonical_name
from netbuilder.engine.budget import PUBLIC_DEFAULTS
from netbuilder.studio.models import built
from netbuilder.studio.spec import ModelSpec, seed_spec
from netbuilder.views import export
from kind_harness import check_exports, run_keras_code, run_torch_code

TOL = dict(rtol=1e-5, atol=1e-5)


def spec_of(input_shape, *layers) -> ModelSpec:
    """A validated spec from (kind, settings) pairs, ids 0, 1, ... (built_for among the settings)."""
    return ModelSpec.from_dict(
        {
            "input_shape": list(input_shape),
            "seed": 3,
            "layers": [{"id": i, "kind": kind, **settings} for i, (kind, settings) in enumerate(layers)],
        }
    )


def sample(spec: ModelSpec, batch: int = 5, scale: float = 2.0) -> np.ndarray:
    """Inputs spread over about ±2·scale, so thresholds at ±0.5, ±1, ±3 are crossed."""
    return (np.random.default_rng(7).normal(size=(batch, *spec.input_shape)) * scale).astype(np.float32)


def fresh(spec: ModelSpec) -> nb.Sequential:
    """A model of its own (not the shared cache of studio.models), for tests that change its weights."""
    return nb.Sequential([nb.Input(spec.input_shape), *spec.layer_objects()], seed=spec.seed)


def exec_script(code: str) -> dict:
    namespace = {"__name__": "exported"}
    keras.backend.clear_session(free_memory=False)
    exec(compile(code, "<export>", "exec"), namespace)  # our own generated code
    return namespace


CASES = {
    "seed": seed_spec(),
    "channels_first_rank3": spec_of((2, 3, 4), ("Flatten", {"data_format": "channels_first"}), ("Dense", {"units": 5})),
    "channels_first_after_dense": spec_of(
        (2, 3, 4),
        ("Dense", {"units": 3, "activation": "tanh"}),
        ("Flatten", {"data_format": "channels_first"}),
        ("Dense", {"units": 2}),
    ),
    "channels_first_rank2_is_plain": spec_of(
        (3, 4), ("Flatten", {"data_format": "channels_first"}), ("Dense", {"units": 2})
    ),
    "rank1_input": spec_of((5,), ("Dense", {"units": 3, "activation": "relu"}), ("Dense", {"units": 2})),
    "rank0_input": spec_of((), ("Activation", {"activation": "softmax"}), ("Flatten", {}), ("Dense", {"units": 3})),
    "no_bias": spec_of(
        (3, 2), ("Dense", {"units": 4, "use_bias": False}), ("Flatten", {}), ("Dense", {"units": 2, "use_bias": False})
    ),
    "pinned_built_for": spec_of(
        (3, 2),
        ("Dense", {"units": 6, "built_for": [3, 2]}),
        ("Flatten", {}),
        ("Dense", {"units": 2, "built_for": [18]}),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_exports_compute_what_the_engine_computes(name):
    check_exports(CASES[name], sample(CASES[name]), **TOL)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_every_activation_exports(activation):
    name = canonical_name(activation)  # a spec stores the name Keras serializes (swish → silu)
    spec = spec_of(
        (2, 6),
        ("Activation", {"activation": name}),
        ("Dense", {"units": 8, "activation": name}),
        ("Flatten", {}),
        ("Dense", {"units": 3}),
    )
    check_exports(spec, sample(spec, scale=0.5 if name == "exponential" else 2.0), **TOL)  # exp of exp must stay finite


def test_glu_models_keep_their_true_shapes_in_keras():
    spec = spec_of(
        (4,),
        ("Dense", {"units": 8, "activation": "glu"}),
        ("Activation", {"activation": "glu"}),
        ("Dense", {"units": 3}),
    )
    namespace = exec_script(export.keras_code(built(spec)))
    assert namespace["model"].output_shape == built(spec).output_shape == (None, 3)


def test_exports_carry_the_current_weights_not_the_seeded_ones():
    spec = seed_spec()
    model = fresh(spec)
    model.set_weights([w * 3 + 0.25 for w in model.get_weights()])
    x = sample(spec)
    expected = model.predict(x)
    assert not np.allclose(expected, built(spec).predict(x))  # the weights really changed
    np.testing.assert_allclose(run_keras_code(model, x), expected, **TOL)
    np.testing.assert_allclose(run_torch_code(model, x), expected, **TOL)


def test_a_trained_model_exports_its_trained_weights():
    spec = seed_spec()
    weights = [w * -1.5 + np.float32(0.3) for w in built(spec).get_weights()]
    trained = spec.with_weights(weights)
    model = built(trained)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights, strict=True))
    check_exports(trained, sample(trained), **TOL)
    theirs = exec_script(export.keras_code(model))["model"]
    assert all(np.array_equal(a, b) for a, b in zip(theirs.get_weights(), weights, strict=True))


def test_keras_script_rebuilds_names_and_exact_weights():
    model = built(CASES["no_bias"])
    theirs = exec_script(export.keras_code(model))["model"]
    assert [layer.name for layer in theirs.layers] == [layer.name for layer in model.layers]
    assert theirs.name == model.name
    for got, want in zip(theirs.get_weights(), model.get_weights(), strict=True):
        assert got.dtype == np.float32 and np.array_equal(got, want)


def test_keras_script_keeps_explicit_names_even_hostile_ones():
    names = ['a"); import os #', "x\\ny", "ü·→", "'''"]
    model = nb.Sequential(
        [
            nb.Input((3,)),
            nb.Dense(4, name=names[0]),
            nb.Activation("relu", name=names[1]),
            nb.Dense(2, name=names[2]),
            nb.Flatten(name=names[3]),
        ],
        seed=1,
        name="my_model",
    )
    code = export.keras_code(model)
    theirs = exec_script(code)["model"]
    assert [layer.name for layer in theirs.layers] == names and theirs.name == "my_model"
    x = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), model.predict(x), **TOL)
    np.testing.assert_allclose(run_torch_code(model, x), model.predict(x), **TOL)


def test_torch_script_uses_plain_modules_and_transposed_kernels():
    model = built(seed_spec())
    code = export.pytorch_code(model)
    assert "nn.Linear(2, 16, bias=True)" in code and "nn.Flatten()" in code and "KerasFunction" not in code
    namespace = exec_script(code)
    kernel = model.get_weights()[0]
    assert kernel.shape == (2, 16) and np.array_equal(namespace["model"][0].weight.detach().numpy(), kernel.T)


def test_large_weights_stay_exact():
    model = built(spec_of((400,), ("Dense", {"units": 300})))  # 120,300 values: several conversion steps
    theirs = exec_script(export.keras_code(model))["model"]
    assert all(np.array_equal(a, b) for a, b in zip(theirs.get_weights(), model.get_weights(), strict=True))


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


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 1, 3), (2, 3, 1, 2), (1, 2, 2, 1, 2)])
def test_array_literal_of_any_rank_reads_back(shape):
    values = (np.random.default_rng(1).normal(size=shape) * 10).astype(np.float32)
    back = np.array(eval(export.array_literal(values, "    ")), dtype=np.float32)
    assert back.shape == values.shape and np.array_equal(back, values)


def test_keras_json_loads_in_keras():
    text = export.keras_json(built(seed_spec()))
    assert json.loads(text)["class_name"] == "Sequential" and "\n  " in text
    keras.backend.clear_session(free_memory=False)
    model = keras.models.model_from_json(text)
    assert model.output_shape == (None, 4) and model.count_params() == 244


def test_an_empty_model_exports_to_torch_but_not_keras():
    spec = spec_of((3,))
    model = built(spec)
    x = sample(spec)
    np.testing.assert_array_equal(run_torch_code(model, x), model.predict(x))
    with pytest.raises(LayerConfigError, match="without layers"):
        export.keras_code(model)  # Keras's own Sequential([Input((3,))]) fails when called


def test_a_model_that_does_not_fit_cannot_be_built_for_export():
    broken = ModelSpec.from_dict(
        {"input_shape": [3], "layers": [{"id": 0, "kind": "Dense", "units": 2, "built_for": [5]}]}
    )
    with pytest.raises(IncompatibleShapeError, match="last axis has size 5"):
        built(broken)  # the exporters take a built model, and this one cannot be built


@pytest.mark.usefixtures("public_budget")
def test_an_export_over_the_budget_is_refused_before_writing():
    model = nb.Sequential([nb.Input((1500,)), nb.Dense(1000)], seed=0)  # 1,501,000 weights ≈ 24 MB of text
    assert model.count_params() * export.CHARS_PER_WEIGHT > PUBLIC_DEFAULTS.export_chars
    for exporter in (export.keras_code, export.pytorch_code, export.check_export):
        with pytest.raises(LimitError, match="export budget"):
            exporter(model)
    assert json.loads(export.keras_json(model))["class_name"] == "Sequential"  # the architecture still exports
    export.check_export(nb.Sequential([nb.Input((100,)), nb.Dense(1000)], seed=0))  # well within: no error


def test_checkpoint_is_called_while_writing_and_can_stop_an_export():
    model = built(spec_of((400,), ("Dense", {"units": 300})))
    calls = []
    export.keras_code(model, checkpoint=lambda: calls.append(1))
    assert len(calls) >= 120_300 // export.TOKEN_STEP

    class Stop(Exception):
        pass

    def stop():
        raise Stop

    for exporter in (export.keras_code, export.pytorch_code):
        with pytest.raises(Stop):
            exporter(model, checkpoint=stop)
