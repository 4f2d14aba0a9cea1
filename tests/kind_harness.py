"""One declarative harness for every layer kind: the same model in netbuilder and in real Keras 3 (NumPy backend).

A `Case` names a kind, its settings (Keras's constructor arguments, which are ours too) and a
per-sample input shape. `check_case` then proves, against Keras itself:
  * rejection: where Keras refuses the layer or the shape (at construction, build or predict),
    netbuilder refuses too (a LayerConfigError, or an analysis issue) — unless the case says why not;
  * output shape, trainable and non-trainable parameter counts, weight names' shapes in get_weights order;
  * outputs equal after copying our weights into Keras, on random input;
  * initial weights equal when Keras's initializers get the seed ours use (`Case.initializers`);
  * Keras JSON both ways (Keras's to_json read by us, ours read by Keras) with equal shapes and params.
`check_exports` runs the generated Keras and PyTorch scripts and compares their outputs with ours;
`check_gradients` compares `backward` with finite differences.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field

import keras
import numpy as np
import torch

import netbuilder as nb
from netbuilder.engine.layer import kind_class
from netbuilder.studio.models import built
from netbuilder.studio.spec import LayerSpec, ModelSpec
from netbuilder.views import export


@dataclass(frozen=True)
class Case:
    kind: str
    settings: dict
    input_shape: tuple
    initializers: dict = field(default_factory=dict)  # Keras argument → initializer class our weights are drawn like
    integer_input: int | None = None  # Embedding: inputs are integers in [0, integer_input)
    rtol: float = 1e-6
    atol: float = 1e-6
    keras_accepts_we_reject: str = ""  # a deliberate difference, in words ("" when we follow Keras)
    seed: int = 3

    @property
    def id(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.settings.items())
        return f"{self.kind}({args})@{self.input_shape}"


def sample(case: Case, batch: int = 4, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if case.integer_input is not None:
        return rng.integers(0, case.integer_input, size=(batch, *case.input_shape)).astype(np.float32)
    return rng.normal(size=(batch, *case.input_shape)).astype(np.float32) * 2


def keras_model(case: Case, seeded: bool = False):
    """The case as a Keras Sequential; with `seeded`, its initializers draw with our layer seed."""
    settings = dict(case.settings)
    if seeded:
        for argument, initializer in case.initializers.items():
            settings[argument] = keras.initializers.get(
                {"class_name": initializer, "config": {"seed": nb.layer_seed(case.seed, 0)}}
            )
    keras.backend.clear_session(free_memory=False)  # gc.collect in a big test process takes ~0.6 s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return keras.Sequential([keras.Input(case.input_shape), getattr(keras.layers, case.kind)(**settings)])


def ours_model(case: Case):
    return nb.Sequential([nb.Input(case.input_shape), kind_class(case.kind)(**case.settings)], seed=case.seed)


def keras_outcome(case: Case):
    """(model, None) when Keras builds and runs the case, else (None, the exception)."""
    try:
        model = keras_model(case)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.predict(sample(case, 2), verbose=0)
        return model, None
    except Exception as e:  # Keras raises many types; any refusal counts
        return None, e


def check_case(case: Case) -> None:
    """Everything the module docstring lists, for one case."""
    theirs, refusal = keras_outcome(case)
    if refusal is not None:
        try:
            ours = ours_model(case)
        except nb.NetbuilderError:
            return  # refused by both
        raise AssertionError(
            f"Keras refuses {case.id} ({type(refusal).__name__}: {refusal}) but netbuilder builds {ours}"
        )
    if case.keras_accepts_we_reject:
        try:
            ours_model(case)
        except nb.NetbuilderError:
            return
        raise AssertionError(f"{case.id} should be refused on purpose ({case.keras_accepts_we_reject})")
    ours = ours_model(case)
    assert ours.output_shape == tuple(theirs.output_shape), (ours.output_shape, theirs.output_shape)
    assert ours.count_params() == theirs.count_params()
    layer_k = theirs.layers[0]
    assert ours.cost.trainable_params == sum(int(np.prod(w.shape)) for w in layer_k.trainable_weights)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    check_outputs(case, ours, theirs)
    if case.initializers:
        seeded = keras_model(case, seeded=True)
        for mine, keras_w in zip(ours_model(case).get_weights(), seeded.get_weights()):
            np.testing.assert_array_equal(mine, np.asarray(keras_w))
    check_json(case, ours, theirs)


def check_outputs(case: Case, ours, theirs) -> None:
    """Our weights into Keras (perturbed where Keras starts them at 0 or 1, so each weight matters), equal outputs."""
    rng = np.random.default_rng(11)
    layer = ours.layers[0]
    names = [w.name for w in layer.weight_specs(layer.built_shape)]
    weights = [w + rng.normal(size=w.shape).astype(np.float32) * 0.1 for w in ours.get_weights()]
    weights = [
        np.abs(w) + 0.5 if "variance" in name else w for name, w in zip(names, weights)
    ]  # variances stay positive
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = sample(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.asarray(theirs.predict(x, verbose=0))
    got = ours.predict(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=case.rtol, atol=case.atol)


def check_json(case: Case, ours, theirs) -> None:
    ours_entry, keras_entry = (json.loads(m.to_json())["config"]["layers"][1] for m in (ours, theirs))
    assert ours_entry == keras_entry
    assert list(ours_entry["config"]) == list(keras_entry["config"]), (
        f"{case.kind} keys, Keras's order: {list(keras_entry['config'])}"
    )
    mine = nb.model_from_json(theirs.to_json(), seed=0)
    assert mine.output_shape == ours.output_shape and mine.count_params() == ours.count_params()
    keras.backend.clear_session(free_memory=False)  # gc.collect in a big test process takes ~0.6 s
    back = keras.models.model_from_json(ours.to_json())
    assert tuple(back.output_shape) == ours.output_shape and back.count_params() == ours.count_params()


def spec_of(input_shape, *layers, seed: int = 3) -> ModelSpec:
    """A validated spec from (kind, settings) pairs, ids 0, 1, ..."""
    return ModelSpec(
        tuple(input_shape), tuple(LayerSpec.make(i, kind, **s) for i, (kind, s) in enumerate(layers)), seed
    ).validate()


def run_keras_code(model, x: np.ndarray) -> np.ndarray:
    namespace = {"__name__": "exported_keras"}
    keras.backend.clear_session(free_memory=False)  # gc.collect in a big test process takes ~0.6 s
    exec(compile(export.keras_code(model), "<keras export>", "exec"), namespace)  # our own generated code
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(namespace["model"].predict(x, verbose=0))


def run_torch_code(model, x: np.ndarray) -> np.ndarray:
    namespace = {"__name__": "exported_torch"}
    exec(compile(export.pytorch_code(model), "<torch export>", "exec"), namespace)  # our own generated code
    with torch.no_grad():
        return namespace["model"](torch.from_numpy(x)).numpy()


def check_exports(spec: ModelSpec, x: np.ndarray | None = None, rtol: float = 1e-5, atol: float = 1e-5) -> None:
    """The generated Keras and PyTorch scripts compute what netbuilder computes."""
    model = built(spec)
    if x is None:
        x = (np.random.default_rng(7).normal(size=(5, *spec.input_shape)) * 2).astype(np.float32)
    expected = model.predict(x)
    assert np.isfinite(expected).all()  # a comparison of infs or NaNs would prove nothing
    np.testing.assert_allclose(run_keras_code(model, x), expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(run_torch_code(model, x), expected, rtol=rtol, atol=atol)


def json_roundtrip_equal(spec: ModelSpec) -> None:
    """Our JSON read by Keras and Keras's JSON read by us describe the same model."""
    model = built(spec)
    keras.backend.clear_session(free_memory=False)  # gc.collect in a big test process takes ~0.6 s
    theirs = keras.models.model_from_json(model.to_json())
    assert tuple(theirs.output_shape) == model.output_shape and theirs.count_params() == model.count_params()
    again = nb.model_from_json(theirs.to_json(), seed=spec.seed)
    assert again.output_shape == model.output_shape and again.count_params() == model.count_params()
    assert json.loads(again.to_json())["config"]["layers"][1:] == json.loads(model.to_json())["config"]["layers"][1:]


def measured_predict_bytes(model, x: np.ndarray) -> int:
    """Peak bytes NumPy allocates while `model.predict(x)` runs (tracemalloc sees every NumPy buffer)."""
    import tracemalloc

    model.predict(x)  # warm: first calls may allocate caches of their own
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        y = model.predict(x)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    del y
    return peak


def batches_to_check(model, largest: int) -> tuple[int, ...]:
    """1, 64 and the largest batch (up to `largest`) whose run the app's public budgets allow."""
    with nb.budget.using(nb.budget.PUBLIC_DEFAULTS):
        return 1, 64, min(largest, model.cost.max_batch())


def check_cost(model, x: np.ndarray, slack_bytes: int = 64 * 1024) -> None:
    """The cost model's predict peak holds what predict really allocates, and is not far above it:
    measured ≤ predicted ≤ measured + the larger of the largest tensor of one layer and half the measured
    peak, + `slack_bytes` (small fixed buffers). (NumPy reuses temporaries in place for large arrays but not
    for small ones, so one factor per layer kind cannot be exact at every size: it is the bound for all.)"""
    batch = x.shape[0]
    predicted = model.cost.predict_bytes(batch)
    measured = measured_predict_bytes(model, x)
    largest = 4 * batch * max((int(np.prod(r.output_shape[1:])) for r in model.analysis.layers), default=0)
    assert measured <= predicted + slack_bytes, (
        f"predict allocated {measured:,} bytes; the cost model said {predicted:,}"
    )
    assert predicted <= measured + max(largest, measured // 2) + slack_bytes, (
        f"the cost model said {predicted:,} bytes; predict allocated {measured:,}"
    )


def check_gradients(
    layer, x: np.ndarray, eps: float = 1e-6, rtol: float = 1e-4, atol: float = 1e-6, seed: int = 0
) -> None:
    """`layer.backward` against central finite differences, in float64 (the layer must be built).

    The loss is sum(output · r) for a fixed random r, so ∂loss/∂output = r."""
    weights = [w.astype(np.float64) for w in layer.weights]
    layer._weights = weights
    x = x.astype(np.float64)
    rng = np.random.default_rng(seed)
    y, cache = layer.forward_train(x, np.random.default_rng(1))
    r = rng.normal(size=y.shape)
    dx, dws = layer.backward(cache, r)

    def loss() -> float:
        out, _ = layer.forward_train(x, np.random.default_rng(1))
        return float(np.sum(out * r))

    def numeric(array: np.ndarray) -> np.ndarray:
        grad = np.zeros_like(array)
        for i in np.ndindex(array.shape):
            old = array[i]
            array[i] = old + eps
            up = loss()
            array[i] = old - eps
            down = loss()
            array[i] = old
            grad[i] = (up - down) / (2 * eps)
        return grad

    np.testing.assert_allclose(dx, numeric(x), rtol=rtol, atol=atol)
    trainable = [w for w, spec in zip(weights, layer.weight_specs(layer.built_shape)) if spec.trainable]
    assert len(dws) == len(trainable)
    for w, dw in zip(trainable, dws):
        np.testing.assert_allclose(dw, numeric(w), rtol=rtol, atol=atol)
