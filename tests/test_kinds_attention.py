"""MultiHeadAttention against real Keras 3.15 (NumPy backend): functional models calling it as Keras does
(cross-attention, self-attention `mha(x, x)`, a key of its own, by position or keyword), then output shape, parameters,
weights' order, outputs on the same weights (bit for bit), weights drawn from the same seed, summary text, refusals,
JSON both ways, the Keras constructor and the PyTorch module run on our weights, gradients against finite differences,
and the cost model's predict peak against what predict allocates."""

from __future__ import annotations

import json
import tracemalloc
import warnings

import keras
import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import ROOT
import netbuilder as nb
from kind_harness import measured_predict_bytes, run_keras_code
from netbuilder.engine.kinds.attention import Operands
from netbuilder.engine.layer import kind_class
from netbuilder.engine.summary import summary_text
from netbuilder.views import export

MHA = "MultiHeadAttention"

# (settings, input shapes per sample, call form): "pos" mha(q, v[, k]); "kw" by keyword; "self" mha(x, x) on one input;
# "self3" mha(x, x, x); "keykw" mha(q, v, key=k)
CASES = [
    ({"num_heads": 2, "key_dim": 3}, [(5, 4), (3, 6)], "pos"),
    ({"num_heads": 2, "key_dim": 3}, [(5, 4), (3, 6), (3, 2)], "pos"),
    ({"num_heads": 2, "key_dim": 3}, [(5, 4), (3, 6), (3, 2)], "keykw"),
    ({"num_heads": 2, "key_dim": 3}, [(5, 4), (3, 6)], "kw"),
    ({"num_heads": 4, "key_dim": 2}, [(6, 8)], "self"),
    ({"num_heads": 1, "key_dim": 5}, [(3, 3)], "self3"),
    ({"num_heads": 3, "key_dim": 2, "value_dim": 5}, [(4, 4), (7, 3)], "pos"),
    ({"num_heads": 2, "key_dim": 4, "output_shape": 7}, [(4, 4), (2, 3)], "pos"),
    ({"num_heads": 2, "key_dim": 4, "output_shape": (2, 3)}, [(4, 4), (2, 3)], "pos"),
    ({"num_heads": 2, "key_dim": 3, "use_bias": False}, [(5, 4), (3, 6)], "pos"),
    ({"num_heads": 2, "key_dim": 3, "dropout": 0.25}, [(5, 4), (3, 6)], "pos"),  # Keras's own path (query scaled first)
    ({"num_heads": 2, "key_dim": 3, "use_gate": True}, [(5, 4), (3, 6)], "pos"),
    ({"num_heads": 2, "key_dim": 3, "use_gate": True, "use_bias": False, "value_dim": 2}, [(5, 4)], "self"),
    ({"num_heads": 2, "key_dim": 3, "attention_axes": 1}, [(5, 4), (3, 6)], "pos"),
    ({"num_heads": 2, "key_dim": 3, "attention_axes": [-2], "dropout": 0.1}, [(5, 4), (3, 6)], "pos"),  # resolved as 1
    ({"num_heads": 1, "key_dim": 1}, [(1, 1), (1, 1)], "pos"),
    (
        {"num_heads": 2, "key_dim": 3, "kernel_initializer": "he_normal", "bias_initializer": "ones"},
        [(5, 4), (3, 6)],
        "pos",
    ),
]
IDS = [f"{','.join(f'{k}={v}' for k, v in s.items())}@{shapes}:{form}" for s, shapes, form in CASES]


def build(api, settings, shapes, form, seed=3):
    """The case as a functional model of `api` (netbuilder or keras)."""
    inputs = [api.Input(shape) for shape in shapes]
    layer = getattr(api.layers, MHA)(**settings) if api is keras else nb.MultiHeadAttention(**settings)
    x = inputs[0]
    if form == "pos":
        y = layer(*inputs)
    elif form == "kw":
        y = layer(query=inputs[0], value=inputs[1])
    elif form == "keykw":
        y = layer(inputs[0], inputs[1], key=inputs[2])
    elif form == "self":
        y = layer(x, x)
    else:
        y = layer(x, x, x)
    model_inputs = inputs if len(inputs) > 1 else x
    return keras.Model(model_inputs, y) if api is keras else nb.Model(model_inputs, y, seed=seed)


def both(settings, shapes, form, seed=3):
    keras.backend.clear_session(free_memory=False)  # Keras names layers from a per-session counter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = build(keras, settings, shapes, form)
    return build(nb, settings, shapes, form, seed), theirs


def samples(shapes, batch=4, seed=7):
    rng = np.random.default_rng(seed)
    arrays = [(rng.normal(size=(batch, *shape)) * 2).astype(np.float32) for shape in shapes]
    return arrays if len(arrays) > 1 else arrays[0]


def perturbed(model, seed=11):
    """The model's weights moved off Keras's zeros and ones, so each one matters."""
    rng = np.random.default_rng(seed)
    return [w + rng.normal(size=w.shape).astype(np.float32) * 0.3 for w in model.get_weights()]


def keras_summary(model, line_length: int) -> str:
    out = []
    model.summary(line_length=line_length, print_fn=lambda text, **kw: out.append(text))
    return "".join(out)


def layer_entry(model) -> dict:
    return next(e for e in json.loads(model.to_json())["config"]["layers"] if e["class_name"] == MHA)


# --- against Keras --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("settings,shapes,form", CASES, ids=IDS)
def test_shapes_params_weights_and_outputs_equal_keras(settings, shapes, form):
    ours, theirs = both(settings, shapes, form)
    assert ours.output_shape == tuple(theirs.output_shape)
    assert ours.count_params() == theirs.count_params() == ours.cost.trainable_params
    mine, keras_layer = ours.layers[-1], theirs.layers[-1]
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    assert [s.name for s in mine.weight_specs(mine.built_shape)] == [
        w.path.split("/", 1)[1] for w in keras_layer.weights
    ]
    weights = perturbed(ours)
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = samples(shapes)
    got = ours.predict(x)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.asarray(theirs.predict(x, verbose=0)))  # the same NumPy calls: the same bits
    assert summary_text(ours, 110) == keras_summary(theirs, 110)


INITIALIZERS = [
    ("GlorotUniform", "Zeros"),
    ("HeNormal", "RandomUniform"),
    ("LecunNormal", "RandomNormal"),
    ("GlorotNormal", "TruncatedNormal"),
    ("Orthogonal", "Zeros"),
    ("RandomNormal", "GlorotUniform"),
    ("VarianceScaling", "Ones"),
]


@pytest.mark.parametrize("kernel,bias", INITIALIZERS)
@pytest.mark.parametrize(
    "settings",
    [
        {"num_heads": 2, "key_dim": 3},
        {"num_heads": 3, "key_dim": 2, "value_dim": 4, "output_shape": (2, 3), "use_gate": True},
    ],
)
def test_weights_drawn_from_the_seed_are_keras_s(kernel, bias, settings):
    """Keras's EinsumDense counts a VarianceScaling kernel's fans over its input and output axes: ours draw the same."""
    seed = nb.layer_seed(5, 0)
    seeded = {
        name: keras.initializers.get({"class_name": cls, "config": {} if cls in ("Zeros", "Ones") else {"seed": seed}})
        for name, cls in (("kernel_initializer", kernel), ("bias_initializer", bias))
    }
    keras_settings = dict(settings, **seeded)
    ours = build(nb, dict(settings, kernel_initializer=kernel, bias_initializer=bias), [(5, 4), (3, 6)], "pos", seed=5)
    keras.backend.clear_session(free_memory=False)
    theirs = build(keras, keras_settings, [(5, 4), (3, 6)], "pos")
    for mine, keras_w in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, np.asarray(keras_w))


def test_a_shared_layer_and_attention_after_other_layers():
    """One layer called twice (its weights made once, for its first call's features), between Dense layers; a call
    whose value has other features than it was built for is refused, as Keras refuses it."""
    models = {}
    for api in (nb, keras):
        keras.backend.clear_session(free_memory=False)
        a, b = api.Input((4, 3)), api.Input((6, 5))
        mha = keras.layers.MultiHeadAttention(2, 4) if api is keras else nb.MultiHeadAttention(2, 4)
        h = (keras.layers.Dense(3) if api is keras else nb.Dense(3))(b)
        outputs = [mha(a, h), mha(h, a)]  # the second call: a query of 6 steps, a value of 4 (3 features each)
        models[api] = keras.Model([a, b], outputs) if api is keras else nb.Model([a, b], outputs, seed=2)
    ours, theirs = models[nb], models[keras]
    assert ours.count_params() == theirs.count_params() and summary_text(ours, 110) == keras_summary(theirs, 110)
    weights = perturbed(ours)
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = samples([(4, 3), (6, 5)])
    for mine, keras_out in zip(ours.predict(x), theirs.predict(x, verbose=0), strict=True):
        np.testing.assert_array_equal(mine, np.asarray(keras_out))
    mha = ours.layers[-1]
    with pytest.raises(nb.IncompatibleShapeError, match="was built for a value of 3 features"):
        mha(*ours.inputs)  # a value of 5 features
    keras.backend.clear_session(free_memory=False)
    a, b = keras.Input((4, 3)), keras.Input((6, 5))
    mha = keras.layers.MultiHeadAttention(2, 4)
    mha(a, a)
    bad = keras.Model([a, b], mha(a, b))  # Keras makes the call, and fails when it runs
    with pytest.raises(ValueError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bad.predict(samples([(4, 3), (6, 5)]), verbose=0)


# --- refusals -------------------------------------------------------------------------------------------------------
def keras_error(make) -> Exception:
    keras.backend.clear_session(free_memory=False)
    try:
        make()
    except Exception as e:  # Keras raises several types
        return e
    raise AssertionError("Keras accepted it")


def test_key_and_value_of_different_steps_are_refused_with_keras_s_message():
    theirs = keras_error(
        lambda: keras.layers.MultiHeadAttention(2, 3)(keras.Input((5, 4)), keras.Input((3, 6)), keras.Input((4, 6)))
    )
    with pytest.raises(nb.IncompatibleShapeError) as caught:
        nb.MultiHeadAttention(2, 3)(nb.Input((5, 4)), nb.Input((3, 6)), nb.Input((4, 6)))
    assert caught.value.issue.keras_message == str(theirs)
    assert "different steps" in str(caught.value)


def test_missing_value_and_masks_and_flags_are_refused():
    x = nb.Input((5, 4))
    theirs = keras_error(lambda: keras.layers.MultiHeadAttention(2, 3)(keras.Input((5, 4))))
    assert "missing a required argument: 'value'" in str(theirs)
    with pytest.raises(nb.LayerConfigError, match="missing a required argument: 'value'"):
        nb.MultiHeadAttention(2, 3)(x)
    for kwargs, match in [
        ({"attention_mask": x}, "takes no masks: attention_mask must be None"),
        ({"query_mask": x}, "takes no masks"),
        ({"use_causal_mask": True}, "use_causal_mask=False only"),
        ({"return_attention_scores": True}, "return_attention_scores=False only"),
        ({"bias": x}, "unexpected keyword argument 'bias'"),
    ]:
        with pytest.raises(nb.LayerConfigError, match=match):
            nb.MultiHeadAttention(2, 3)(x, x, **kwargs)
    with pytest.raises(nb.LayerConfigError, match="at most 3"):
        nb.MultiHeadAttention(2, 3)(x, x, x, x)
    with pytest.raises(nb.LayerConfigError, match="called on tensors"):
        nb.MultiHeadAttention(2, 3)(x, np.zeros((1, 5, 4)))
    # the defaults of the refused arguments are accepted, as Keras writes and takes them
    y = nb.MultiHeadAttention(2, 3)(
        x, x, attention_mask=None, use_causal_mask=False, return_attention_scores=False, training=None
    )
    assert y.shape == (None, 5, 4)


@pytest.mark.parametrize(
    "settings,match",
    [
        ({"num_heads": 0, "key_dim": 3}, "num_heads must be an integer"),
        ({"num_heads": 2, "key_dim": 0}, "key_dim must be an integer"),
        ({"num_heads": 2, "key_dim": 3, "value_dim": 0}, "value_dim must be None or an integer"),
        ({"num_heads": 2.0, "key_dim": 3}, "num_heads must be an integer"),
        ({"num_heads": 2, "key_dim": 3, "attention_axes": "1"}, "`attention_axes` must be an int, list, or tuple"),
        ({"num_heads": 2, "key_dim": 3, "output_shape": "x"}, "output_shape must be None"),
        ({"num_heads": 2, "key_dim": 3, "dropout": 1.5}, "dropout must be a number in \\[0, 1\\]"),
    ],
)
def test_settings_keras_refuses_are_refused(settings, match):
    keras_error(lambda: keras.layers.MultiHeadAttention(**settings)(keras.Input((5, 4)), keras.Input((5, 4))))
    with pytest.raises(nb.LayerConfigError, match=match):
        nb.MultiHeadAttention(**settings)


@pytest.mark.parametrize(
    "settings,shapes,match",
    [
        ({"sliding_window": 2}, [(5, 4)], "sliding_window must be None in netbuilder"),
        (
            {"kernel_initializer": "identity"},
            [(5, 4)],
            "kernel_initializer: Identity draws only weights of exactly 2 axes",
        ),
        ({"attention_axes": 2}, [(5, 4)], "steps axis only"),
        ({"attention_axes": -3}, [(5, 4)], "steps axis only"),  # Keras resolves it as 0, the batch axis
        ({"attention_axes": (1, 1)}, [(5, 4)], "steps axis only"),
        ({}, [(2, 5, 4)], "takes \\(batch, steps, features\\) tensors"),
        ({}, [(4,)], "takes \\(batch, steps, features\\) tensors"),
    ],
)
def test_what_netbuilder_leaves_out_is_refused_clearly(settings, shapes, match):
    with pytest.raises(nb.NetbuilderError, match=match):
        x = nb.Input(shapes[0])
        nb.MultiHeadAttention(2, 3, **settings)(x, x)


def test_in_a_chain_it_is_refused_as_keras_refuses_it_in_a_sequential():
    theirs = keras_error(lambda: keras.Sequential([keras.Input((5, 4)), keras.layers.MultiHeadAttention(2, 3)]))
    issue = nb.analyze([nb.MultiHeadAttention(2, 3)], (5, 4)).issue
    assert issue is not None and issue.keras_message == str(theirs)
    assert "functional API" in issue.explanation and issue.message.startswith("Layer 'multi_head_attention'")


def test_group_description_label_formula_and_explanation():
    cls = kind_class(MHA)
    assert cls.group == "Attention" and cls.description
    model = build(nb, {"num_heads": 2, "key_dim": 3}, [(5, 4), (3, 6)], "pos")
    report = model.analysis.layers[-1]
    assert report.formula == "4×2×3 + 2×3 (query) + 6×2×3 + 2×3 (key) + 6×2×3 + 2×3 (value) + 2×3×4 + 4 (output) = 142"
    layer = model.layers[-1]
    assert layer.label() == "2 heads × 3"
    assert (
        nb.MultiHeadAttention(2, 3, value_dim=4, output_shape=5, dropout=0.1, use_gate=True).label()
        == "2 heads × 3, values 4, out 5, dropout 0.1, gated"
    )
    assert "softmax" in layer.explain_shape([(None, 5, 4), (None, 3, 6)], (None, 5, 4))


# --- JSON -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("index", [0, 1, 2, 3, 4, 7, 8, 11, 13, 14])
def test_json_both_ways(index):
    settings, shapes, form = CASES[index]
    ours, theirs = both(settings, shapes, form)
    mine, keras_entry = layer_entry(ours), layer_entry(theirs)
    assert mine == keras_entry
    assert list(mine["config"]) == list(keras_entry["config"])
    # Keras's JSON read by us: the same summary, parameters and (on the same weights) outputs
    read = nb.model_from_json(theirs.to_json(), seed=0)
    assert summary_text(read, 120) == keras_summary(theirs, 120)
    weights = perturbed(read)
    read.set_weights(weights)
    theirs.set_weights(weights)
    x = samples(shapes)
    np.testing.assert_array_equal(read.predict(x), np.asarray(theirs.predict(x, verbose=0)))
    # ours read by Keras
    keras.backend.clear_session(free_memory=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = keras.models.model_from_json(ours.to_json())
    assert keras_summary(back, 120) == summary_text(ours, 120)
    back.set_weights(weights)
    ours.set_weights(weights)
    np.testing.assert_array_equal(ours.predict(x), np.asarray(back.predict(x, verbose=0)))


# --- exports --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("index", [1, 4, 7, 8, 9, 11, 12])
def test_keras_constructor_and_torch_module_compute_our_outputs(index):
    """The layer's Keras code (the constructor the exporter writes) and its PyTorch module, each given our weights."""
    settings, shapes, form = CASES[index]
    ours = build(nb, settings, shapes, form)
    ours.set_weights(perturbed(ours))
    x = samples(shapes, batch=3)
    expected = ours.predict(x)
    layer, node = ours.layers[-1], ours.graph.calls(ours.layers[-1])[0]
    arrays = x if isinstance(x, list) else [x]
    by_input = {id(t): a for t, a in zip(ours.inputs, arrays)}
    operands = layer.call_arguments(node, [by_input[id(t)] for t in node.inputs])

    namespace = {"keras": keras}
    keras.backend.clear_session(free_memory=False)
    exec(compile(f"layer = {layer.keras_code().code}", "<keras code>", "exec"), namespace)  # our own generated code
    theirs = namespace["layer"]
    inputs = [keras.Input(t.shape[1:]) for t in node.inputs]
    call = dict(zip(operands.slots, inputs))
    model = keras.Model(inputs, theirs(call["query"], call["value"], call.get("key")))
    model.set_weights(ours.get_weights())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = model.predict([by_input[id(t)] for t in node.inputs], verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)

    (part,) = layer.torch_code(layer.built_shape)
    namespace = {"torch": torch, "nn": torch.nn}
    exec(compile(f"{part.helpers['KerasMultiHeadAttention']}\nmodule = {part.code}", "<torch code>", "exec"), namespace)
    module = namespace["module"]
    with torch.no_grad():
        for name, array in part.weights.items():
            getattr(module, name).copy_(torch.from_numpy(np.ascontiguousarray(array)))
        key = None if operands.key is None else torch.from_numpy(operands.key)
        got = module(torch.from_numpy(operands.query), torch.from_numpy(operands.value), key).numpy()
    assert {name for name, _ in module.named_parameters()} == set(part.weights)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("index", [1, 2, 3, 4, 11])
def test_exported_scripts_run(index):
    """The whole exported Keras and PyTorch scripts compute our outputs (every call form: positional, keyword, x, x)."""
    settings, shapes, form = CASES[index]
    ours = build(nb, settings, shapes, form)
    ours.set_weights(perturbed(ours))
    x = samples(shapes)
    expected = ours.predict(x)
    np.testing.assert_allclose(run_keras_code(ours, x), expected, rtol=1e-6, atol=1e-6)
    namespace = {"__name__": "exported_torch"}
    exec(compile(export.pytorch_code(ours), "<torch export>", "exec"), namespace)  # our own generated code
    with torch.no_grad():
        got = namespace["model"](*[torch.from_numpy(a) for a in (x if isinstance(x, list) else [x])]).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


# --- gradients ------------------------------------------------------------------------------------------------------
def numeric_check(layer, operands: Operands, eps=1e-6, rtol=1e-4, atol=1e-6):
    """backward against central differences in float64, for each of the call's tensors and each trainable weight."""
    layer._weights = [w.astype(np.float64) for w in layer._weights]
    arrays = {
        role: getattr(operands, role).astype(np.float64)
        for role in ("query", "value", "key")
        if getattr(operands, role) is not None
    }
    x = Operands(arrays["query"], arrays["value"], arrays.get("key"), operands.slots)
    y, cache = layer.forward_train(x, np.random.default_rng(1))
    r = np.random.default_rng(0).normal(size=y.shape)
    dxs, dws = layer.backward(cache, r)

    def loss() -> float:
        return float(np.sum(layer.forward_train(x, np.random.default_rng(1))[0] * r))

    def numeric(array):
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

    assert len(dxs) == len(x.slots)
    seen = {}
    for slot, dx in zip(x.slots, dxs):
        seen[slot] = seen.get(slot, 0) + dx
    for role, total in seen.items():  # a tensor given in two slots (x, x) gets the sum of both, as the model sums them
        np.testing.assert_allclose(total, numeric(arrays[role]), rtol=rtol, atol=atol, err_msg=role)
    assert len(dws) == len(layer._weights)
    for w, dw in zip(layer._weights, dws):
        np.testing.assert_allclose(dw, numeric(w), rtol=rtol, atol=atol)


GRADIENT_CASES = [
    ({"num_heads": 2, "key_dim": 3}, [(3, 4), (2, 3)], "pos"),
    ({"num_heads": 2, "key_dim": 2}, [(3, 4), (2, 3), (2, 2)], "keykw"),
    ({"num_heads": 2, "key_dim": 2, "value_dim": 3, "output_shape": (2, 2), "use_gate": True}, [(3, 2), (2, 3)], "kw"),
    ({"num_heads": 1, "key_dim": 2, "use_bias": False, "dropout": 0.4}, [(3, 2), (4, 3)], "pos"),
    ({"num_heads": 2, "key_dim": 2, "dropout": 1.0}, [(3, 2), (4, 3)], "pos"),
]


@pytest.mark.parametrize("settings,shapes,form", GRADIENT_CASES)
def test_backward_equals_finite_differences(settings, shapes, form):
    model = build(nb, settings, shapes, form)
    model.set_weights(perturbed(model))
    layer, node = model.layers[-1], model.graph.calls(model.layers[-1])[0]
    x = samples(shapes, batch=2, seed=3)
    arrays = x if isinstance(x, list) else [x]
    by_input = {id(t): a * 0.5 for t, a in zip(model.inputs, arrays)}
    numeric_check(layer, layer.call_arguments(node, [by_input[id(t)] for t in node.inputs]))


def test_self_attention_gradients_reach_the_tensor_read_twice():
    """mha(h, h): the model sums the query's and the value's gradients into h (a Dense before it is trained by both)."""
    x = nb.Input((3, 2))
    h = nb.Dense(4)(x)
    model = nb.Model(x, nb.MultiHeadAttention(2, 2)(h, h), seed=1)
    operands = model.layers[-1].call_arguments(model.graph.calls(model.layers[-1])[0], [np.zeros((1, 3, 4))] * 2)
    assert operands.slots == ("query", "value")
    model.compile(optimizer="sgd", loss="mse")
    xs = samples([(3, 2)], batch=6)
    before = model.get_weights()[0].copy()
    model.fit(xs, np.zeros((6, 3, 4), np.float32), epochs=1, batch_size=6, shuffle=False)
    assert not np.allclose(model.get_weights()[0], before)


# --- cost -----------------------------------------------------------------------------------------------------------
COST_CASES = [
    ({"num_heads": 4, "key_dim": 16}, [(32, 24), (48, 20)], "pos"),
    ({"num_heads": 2, "key_dim": 8, "value_dim": 12, "output_shape": 10}, [(64, 16)], "self"),
    ({"num_heads": 8, "key_dim": 4, "use_gate": True}, [(16, 32), (16, 8), (16, 6)], "pos"),
    ({"num_heads": 2, "key_dim": 8, "dropout": 0.1, "use_bias": False}, [(20, 8), (30, 8)], "pos"),
]


@pytest.mark.parametrize("settings,shapes,form", COST_CASES)
def test_cost_holds_what_predict_allocates(settings, shapes, form):
    """As the harness's check_cost (for a model of several inputs): measured ≤ predicted ≤ measured + the larger of the
    largest tensor and half the measured peak, + 64 KiB of small buffers."""
    model = build(nb, settings, shapes, form)
    slack = 64 * 1024
    for batch in (1, 64, 512):
        x = samples(shapes, batch=batch)
        predicted, measured = model.cost.predict_bytes(batch), measured_predict_bytes(model, x)
        largest = 4 * batch * max(int(np.prod(r.output_shape[1:])) for r in model.analysis.layers)
        assert measured <= predicted + slack, f"predict allocated {measured:,} bytes; the cost model said {predicted:,}"
        assert predicted <= measured + max(largest, measured // 2) + slack, (
            f"the cost model said {predicted:,}; predict allocated {measured:,}"
        )


@pytest.mark.parametrize("settings,shapes,form", COST_CASES)
def test_a_training_steps_memory_is_what_the_kind_declares(settings, shapes, form):
    """As tests/test_cost.py checks every kind: a step's measured peak (forward, loss, backward: Model._gradients) is
    within what the cost model says and half again."""
    model = build(nb, settings, shapes, form)
    model.compile(optimizer="sgd", loss="mse")
    for batch in (16, 128):
        xs = samples(shapes, batch=batch)
        xs, y = (xs if isinstance(xs, list) else [xs]), [np.zeros((batch, *model.output_shape[1:]), np.float32)]
        model._gradients(xs, y, np.random.default_rng(0))  # warm: first calls may allocate caches of their own
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            grads = model._gradients(xs, y, np.random.default_rng(0))
            measured = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        del grads
        predicted = model.cost.backprop_bytes(batch) + 4 * model.cost.trainable_params
        assert measured <= predicted + 64 * 1024, (
            f"a step allocated {measured:,} bytes; the cost model said {predicted:,}"
        )
        assert predicted <= measured + measured // 2 + 64 * 1024, (
            f"the cost model said {predicted:,}; a step allocated {measured:,}"
        )


# --- the app ----------------------------------------------------------------------------------------------------------
def test_the_app_offers_it_and_explains_why_a_chain_cannot_hold_it():
    """As a merge: listed under its group, added to the chain, then refused there with Keras's words; its text
    settings are edited through their generated widgets."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert "Attention · MultiHeadAttention" in at.selectbox(key="add_kind").options
    at.selectbox(key="add_kind").set_value(MHA)
    at.selectbox(key="add_where").set_value("at the end")
    at.button(key="add").click().run()
    assert not at.exception, [e.message for e in at.exception]
    spec = at.session_state.history.present
    new = spec.layers[-1]
    assert new.kind == MHA and not spec.analysis.ok and "functional API" in spec.analysis.issue.explanation
    at.radio(key="selected").set_value(new.id).run()
    assert not at.exception, [e.message for e in at.exception]
    at.text_input(key=f"output_shape_{new.id}").set_value("4, 2").run()
    at.text_input(key=f"value_dim_{new.id}").set_value("5").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state.history.present.layers[-1].values["output_shape"] == (4, 2)
    assert at.session_state.history.present.layers[-1].values["value_dim"] == 5


@pytest.mark.parametrize("settings,shapes,form", CASES, ids=IDS)
def test_the_explain_pages_steps_are_the_tensors_keras_computes_head_by_head(settings, shapes, form):
    """Keras's call, step by step on its own sublayers: the projections, the scores, the mix (gated), the output."""
    query = np.zeros((2, *shapes[0]), np.float32)
    value = np.zeros((2, *shapes[1]), np.float32) if len(shapes) > 1 else query
    key = np.zeros((2, *shapes[2]), np.float32) if len(shapes) > 2 else value
    mha = keras.layers.MultiHeadAttention(**settings)
    output = mha(query, value, key)
    projected = mha._query_dense(query), mha._key_dense(key), mha._value_dense(value)
    mix, scores = mha._compute_attention(*projected, return_attention_scores=True)
    theirs = [*projected, scores, mix, *([mix] if settings.get("use_gate") else []), output]
    given = [(None, *a.shape[1:]) for a in (query, value, key)[: max(len(shapes), 2)]]
    ours = nb.MultiHeadAttention(**settings)
    steps = ours.explain_steps(given, ours.compute_output_shape(given))
    assert [shape for _, shape in steps] == [(None, *a.shape[1:]) for a in theirs]
    assert "scores" in steps[3][0] and f"√{settings['key_dim']}" in steps[3][0]
