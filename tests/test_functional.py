"""Keras's functional API in the engine, against real Keras 3.15 (NumPy backend): random graphs built the same way in
both — several inputs and outputs, branches, merges of every kind, shared layers — then their layer order and names,
summary text, shapes, parameters, weights' order, outputs (our weights copied into Keras) and JSON both ways; random
merges of shapes that agree, broadcast or clash, refused where Keras refuses. Expected values are Keras's."""

from __future__ import annotations

import json
import random
import re
import warnings

import keras
import numpy as np
import pytest

import netbuilder as nb
from netbuilder.engine.summary import summary_text

MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")


def recipe(r: random.Random) -> dict:
    """A random graph as data: inputs, then calls that read earlier tensors, then which tensors are outputs."""
    shapes = [tuple(r.randint(2, 5) for _ in range(r.randint(1, 2))) for _ in range(r.randint(1, 2))]
    tensors = [*shapes]  # tensor k's per-sample shape
    calls, dense_count = [], 0
    for _ in range(r.randint(3, 9)):
        pick = r.random()
        t = r.randrange(len(tensors))
        if pick < 0.35 or len(tensors) < 2:
            units = r.choice([tensors[r.randrange(len(tensors))][-1], r.randint(2, 5)])
            calls.append(("Dense", {"units": units, "activation": r.choice(["linear", "relu", "tanh"])}, [t]))
            dense_count += 1
            tensors.append((*tensors[t][:-1], units))
            continue
        same = [k for k, s in enumerate(tensors) if s == tensors[t]]
        if pick < 0.65 and len(same) >= 2:
            kind = r.choice(MERGES)
            chosen = r.sample(same, 2 if kind == "Subtract" else r.randint(2, min(3, len(same))))
            calls.append((kind, {}, chosen))
            tensors.append(tensors[t])
        elif pick < 0.8:
            rank = [k for k, s in enumerate(tensors) if len(s) == len(tensors[t]) and s[:-1] == tensors[t][:-1]]
            chosen = r.sample(rank, min(len(rank), r.randint(1, 3)))
            calls.append(("Concatenate", {"axis": -1}, chosen))
            tensors.append((*tensors[t][:-1], sum(tensors[k][-1] for k in chosen)))
        elif pick < 0.9 and dense_count:
            owners = [i for i, c in enumerate(calls) if c[0] == "Dense" and not c[1].get("shared_from")]
            i = r.choice(owners)
            source = tensors[calls[i][2][0]]
            fits = [k for k, s in enumerate(tensors) if s[-1] == source[-1]]
            k = r.choice(fits)
            calls.append(("shared", {"of": i}, [k]))
            tensors.append((*tensors[k][:-1], calls[i][1]["units"]))
        else:
            two = [k for k, s in enumerate(tensors) if len(s) == 1 and s == tensors[t]]
            if len(tensors[t]) == 1 and len(two) >= 1:
                calls.append(("Dot", {"axes": 1}, [t, r.choice(two)]))
                tensors.append((1,))
            else:
                calls.append(("Activation", {"activation": "sigmoid"}, [t]))
                tensors.append(tensors[t])
    # every call reaches an output (Keras names the layers it made, used or not; netbuilder names a model's own)
    read = {k for _, _, reads in calls for k in reads}
    outputs = [k for k in range(len(shapes), len(tensors)) if k not in read][::-1]
    return {"inputs": shapes, "calls": calls, "outputs": outputs, "list_outputs": len(outputs) > 1 or r.random() < 0.2}


def build(api, rec: dict):
    """The recipe's model in netbuilder (api = nb) or Keras (api = keras.layers, with keras.Input/keras.Model)."""
    is_keras = api is keras
    layers = keras.layers if is_keras else nb
    tensors = [(keras.Input if is_keras else nb.Input)(shape) for shape in rec["inputs"]]
    made = []
    for kind, settings, reads in rec["calls"]:
        if kind == "shared":
            layer = made[settings["of"]]
        else:
            layer = getattr(layers, kind)(**settings)
        made.append(layer)
        args = [tensors[k] for k in reads]
        tensors.append(layer(args) if kind in MERGES + ("Concatenate", "Dot") else layer(args[0]))
    inputs = tensors[: len(rec["inputs"])]
    outputs = [tensors[k] for k in rec["outputs"]]
    inputs = inputs if len(inputs) > 1 else inputs[0]
    outputs = outputs if rec["list_outputs"] else outputs[0]
    return keras.Model(inputs, outputs) if is_keras else nb.Model(inputs, outputs, seed=3)


def keras_summary(model, line_length: int) -> str:
    out = []
    model.summary(line_length=line_length, print_fn=lambda text, **kw: out.append(text))
    return "".join(out)


def feed(rec: dict, seed: int = 0):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=(3, *shape)).astype(np.float32) for shape in rec["inputs"]]
    return arrays if len(arrays) > 1 else arrays[0]


def both(rec: dict):
    keras.backend.clear_session(free_memory=False)  # Keras names layers from a per-session counter, as a fresh session
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = build(keras, rec)
    return build(nb, rec), theirs


def outputs_of(value) -> list[np.ndarray]:
    return [np.asarray(v) for v in value] if isinstance(value, list) else [np.asarray(value)]


RECIPES = [recipe(random.Random(seed)) for seed in range(60)]


def test_the_recipes_cover_every_merge_and_shared_layers():
    kinds = {kind for rec in RECIPES for kind, _, _ in rec["calls"]}
    assert set(MERGES) | {"Concatenate", "Dot", "shared", "Dense"} <= kinds
    assert any(len(rec["inputs"]) > 1 for rec in RECIPES) and any(rec["list_outputs"] for rec in RECIPES)


@pytest.mark.parametrize("index", range(len(RECIPES)))
def test_a_random_graph_equals_keras(index):
    rec = RECIPES[index]
    ours, theirs = both(rec)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert [layer.kind for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers]
    assert ours.output_shape == theirs.output_shape and ours.input_shape == theirs.input_shape
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    for length in (100, 140):
        assert summary_text(ours, length) == keras_summary(theirs, length)
    theirs.set_weights(ours.get_weights())
    x = feed(rec)
    for mine, keras_out in zip(outputs_of(ours.predict(x)), outputs_of(theirs.predict(x, verbose=0))):
        np.testing.assert_allclose(mine, keras_out, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("index", range(0, len(RECIPES), 3))
def test_json_both_ways_equals_keras(index):
    rec = RECIPES[index]
    ours, theirs = both(rec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rebuilt = keras.models.model_from_json(ours.to_json())  # Keras reads ours
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in theirs.layers]
    assert keras_summary(rebuilt, 120) == keras_summary(theirs, 120)
    read = nb.model_from_json(theirs.to_json(), seed=3)  # we read Keras's
    assert [layer.name for layer in read.layers] == [layer.name for layer in theirs.layers]
    assert summary_text(read, 120) == keras_summary(theirs, 120)
    rebuilt.set_weights(read.get_weights())
    x = feed(rec, 1)
    for mine, keras_out in zip(outputs_of(read.predict(x)), outputs_of(rebuilt.predict(x, verbose=0))):
        np.testing.assert_allclose(mine, keras_out, rtol=1e-6, atol=1e-6)
    assert json.loads(read.to_json())["config"] == json.loads(ours.to_json())["config"] | {"name": read.name}


def test_inputs_by_list_and_by_dict_and_one_element_lists():
    a, b = nb.Input((3,), name="a"), nb.Input((2,), name="b")
    out = nb.Dense(2)(nb.concatenate([a, b]))
    model = nb.Model({"a": a, "b": b}, [out], seed=0)
    x = {"a": np.ones((2, 3), np.float32), "b": np.zeros((2, 2), np.float32)}
    assert model.output_shape == (None, 2)  # Model([x], [y]) behaves as Model(x, y)
    np.testing.assert_array_equal(model.predict(x), model.predict([x["a"], x["b"]]))
    with pytest.raises(nb.InputDataError, match="the input dict must have the keys"):
        model.predict({"a": x["a"]})
    one = nb.Model([a], [nb.Dense(1)(a)], seed=0)
    assert one.output_shape == (None, 1) and one.predict(np.ones((4, 3), np.float32)).shape == (4, 1)


def test_dicts_of_inputs_and_outputs_go_by_their_keys_as_in_keras():
    """A dict of inputs is fed by its keys (not the Input names); a dict of outputs comes back under its keys."""
    x, y = nb.Input((3,), name="first"), nb.Input((2,), name="second")
    kx, ky = keras.Input((3,), name="first"), keras.Input((2,), name="second")
    h, kh = nb.concatenate([x, y]), keras.layers.concatenate([kx, ky])
    score, kscore = nb.Dense(1, name="s")(h), keras.layers.Dense(1, name="s")(kh)
    prob, kprob = (
        nb.Dense(2, activation="softmax", name="p")(h),
        keras.layers.Dense(2, activation="softmax", name="p")(kh),
    )
    ours = nb.Model({"zeta": x, "alpha": y}, {"score": score, "prob": prob}, seed=0)
    theirs = keras.Model({"zeta": kx, "alpha": ky}, {"score": kscore, "prob": kprob})
    theirs.set_weights(ours.get_weights())
    data = {"zeta": np.arange(6, dtype=np.float32).reshape(2, 3), "alpha": np.ones((2, 2), np.float32)}
    got, want = ours.predict(data), theirs.predict(data, verbose=0)
    assert list(got) == ["score", "prob"] and got["score"].shape == (2, 1) and got["prob"].shape == (2, 2)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6)
    with pytest.raises(
        nb.InputDataError, match=r"the input dict must have the keys \['alpha', 'zeta'\]; missing \['zeta'\]"
    ):
        ours.predict({"first": data["zeta"], "alpha": data["alpha"]})
    with pytest.raises(nb.InputDataError, match="give a dict"):
        ours.predict([data["zeta"], data["alpha"]])
    ours.compile("sgd", {"score": "mse", "prob": "sparse_categorical_crossentropy"})
    logs = ours.evaluate(data, {"score": np.zeros((2, 1)), "prob": np.array([0, 1])}, return_dict=True)
    assert set(logs) == {"loss", "score_loss", "prob_loss"}


@pytest.mark.parametrize(
    "make, keras_make, message",
    [
        (
            lambda: nb.Add()([nb.Input((4, 3)), nb.Input((4, 5))]),
            lambda: keras.layers.Add()([keras.Input((4, 3)), keras.Input((4, 5))]),
            "cannot add (None, 4, 3) and (None, 4, 5): axis -1 has 3 and 5",
        ),
        (
            lambda: nb.Subtract()([nb.Input((3,))] * 3),
            lambda: keras.layers.Subtract()([keras.Input((3,))] * 3),
            "takes exactly 2 inputs",
        ),
        (
            lambda: nb.Concatenate(axis=1)([nb.Input((4, 3)), nb.Input((4, 5))]),
            lambda: keras.layers.Concatenate(axis=1)([keras.Input((4, 3)), keras.Input((4, 5))]),
            "axis -1 has sizes 3 and 5",
        ),
        (
            lambda: nb.Dot(axes=1)([nb.Input((4, 3)), nb.Input((5, 3))]),
            lambda: keras.layers.Dot(axes=1)([keras.Input((4, 3)), keras.Input((5, 3))]),
            "axis 1 of the first has 4 values",
        ),
        (
            lambda: nb.Add()(nb.Input((3,))),
            lambda: keras.layers.Add()(keras.Input((3,))),
            "should be called on a list of inputs",
        ),
    ],
)
def test_merges_refuse_what_keras_refuses_with_our_words(make, keras_make, message):
    with pytest.raises(Exception):
        keras_make()
    with pytest.raises(nb.NetbuilderError, match=re.escape(message)):
        make()


@pytest.mark.parametrize(
    "shapes, expected",
    [
        ([(4, 3), (1, 3)], (None, 4, 3)),
        ([(4, 3), (3,)], (None, 4, 3)),
        ([(6, 1), (7,)], (None, 6, 7)),
        ([(4, 3)], (None, 4, 3)),
    ],
)
def test_elementwise_merges_broadcast_as_keras(shapes, expected):
    """Shapes, and every elementwise merge's values: an input of fewer axes is expanded at axis 1, as Keras does."""
    rng = np.random.default_rng(len(shapes))
    x = [rng.normal(size=(2, *s)).astype(np.float32) for s in shapes]
    for kind in ("Add", "Multiply", "Average", "Maximum", "Minimum", *(("Subtract",) if len(shapes) == 2 else ())):
        ins, keras_ins = [nb.Input(s) for s in shapes], [keras.Input(s) for s in shapes]
        ours, theirs = getattr(nb, kind)()(ins), getattr(keras.layers, kind)()(keras_ins)
        assert ours.shape == tuple(theirs.shape) == expected
        got = nb.Model(ins, ours).predict(x)
        np.testing.assert_allclose(got, keras.Model(keras_ins, theirs).predict(x, verbose=0), rtol=1e-6, err_msg=kind)


def merge_case(r: random.Random) -> tuple[str, dict, list[tuple]]:
    """A random merge call: a kind, its settings, and 2 or 3 input shapes that often agree and often do not."""
    kind = r.choice([*MERGES, "Concatenate", "Dot"])
    rank = r.randint(1, 3)
    first = tuple(r.randint(1, 4) for _ in range(rank))
    count = 2 if kind in ("Subtract", "Dot") else r.randint(2, 3)
    shapes = [first]
    for _ in range(count - 1):  # the first shape with an axis changed, dropped or set to 1, or kept
        shape = list(first)
        change = r.random()
        if change < 0.3:
            shape[r.randrange(rank)] = r.randint(1, 4)
        elif change < 0.45 and rank > 1:
            shape.pop(0)
        elif change < 0.6:
            shape[r.randrange(rank)] = 1
        shapes.append(tuple(shape))
    settings = {}
    if kind == "Concatenate":
        settings = {"axis": r.choice([-1, 1, rank, -rank])}
    elif kind == "Dot":
        settings = {"axes": r.choice([1, rank, -1, [1, rank]])}
    return kind, settings, shapes


def outcome(make) -> tuple | str:
    """The output shape a call makes, or "refused"."""
    try:
        return tuple(make().shape)
    except Exception:  # Keras raises ValueError and others; ours raise NetbuilderError (checked below)
        return "refused"


@pytest.mark.parametrize("index", range(120))
def test_a_random_merge_is_refused_or_shaped_as_keras_does(index):
    """Shapes that agree, broadcast or do not, on every merge kind: Keras's outcome, and ours is a NetbuilderError
    whenever it refuses."""
    kind, settings, shapes = merge_case(random.Random(index))
    theirs = outcome(lambda: getattr(keras.layers, kind)(**settings)([keras.Input(s) for s in shapes]))
    try:
        ours = tuple(getattr(nb, kind)(**settings)([nb.Input(s) for s in shapes]).shape)
    except nb.NetbuilderError:
        ours = "refused"
    assert ours == theirs, (kind, settings, shapes)


def test_random_merges_cover_both_outcomes():
    cases = [merge_case(random.Random(index)) for index in range(120)]
    results = [
        outcome(lambda: getattr(keras.layers, kind)(**settings)([keras.Input(s) for s in shapes]))
        for kind, settings, shapes in cases
    ]
    assert 20 <= sum(r == "refused" for r in results) <= 100
    assert {kind for kind, _, _ in cases} == {*MERGES, "Concatenate", "Dot"}


def test_a_missing_input_and_a_repeated_name_are_refused():
    a, b = nb.Input((3,)), nb.Input((3,))
    with pytest.raises(nb.LayerConfigError, match="is not connected to `inputs`"):
        nb.Model(a, nb.Add()([a, b]))
    x = nb.Input((3,))
    with pytest.raises(nb.LayerConfigError, match='The name "d" is used 2 times in the model'):
        nb.Model(x, nb.Dense(2, name="d")(nb.Dense(3, name="d")(x)))


def test_an_unused_input_is_kept_and_an_input_name_survives_json():
    a, unused = nb.Input((3,), name="aux"), nb.Input((2,), name="spare")
    model = nb.Model([a, unused], nb.Dense(1)(a), seed=0)
    assert [layer.name for layer in model.layers][:2] == ["spare", "aux"] or "spare" in [
        layer.name for layer in model.layers
    ]
    read = nb.model_from_json(model.to_json())
    assert [layer.name for layer in read.layers] == [layer.name for layer in model.layers]


# --- models used as layers -------------------------------------------------------------------------------------
def nested_models(api):
    """A Sequential stem and a Functional block inside a Functional model, written the same way in both."""
    layers = api.layers if api is keras else api
    stem = api.Sequential(
        [api.Input((8, 8, 3)), layers.Conv2D(4, 2, strides=2), layers.LayerNormalization(epsilon=1e-6)], name="stem"
    )
    x = api.Input((8, 8, 3))
    h = stem(x)
    inner = api.Input((4, 4, 4))
    block = api.Model(inner, layers.Dense(4)(inner), name="block")
    y = layers.Add()([h, block(h), block(h)])  # the block called twice: one set of weights
    return api.Model(x, layers.Dense(2)(layers.GlobalAveragePooling2D()(y)), name="outer")


def test_models_used_as_layers_equal_keras(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    ours = nested_models(nb)
    keras.backend.clear_session(free_memory=False)
    theirs = nested_models(keras)
    assert [layer.name for layer in ours.layers] == [
        layer.name for layer in theirs.layers
    ]  # auto-names counted inside too
    assert ours.count_params() == theirs.count_params() == 60 + 20 + 10
    theirs.set_weights(ours.get_weights())
    assert keras_summary(ours, 108) == keras_summary(theirs, 108)  # "stem (Sequential)", "block (Functional)" rows
    x = np.random.default_rng(0).normal(size=(3, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert json.loads(ours.to_json())["config"]["layers"] == json.loads(theirs.to_json())["config"]["layers"]
    back = nb.model_from_json(theirs.to_json())
    back.set_weights(ours.get_weights())
    np.testing.assert_allclose(back.predict(x), ours.predict(x), rtol=1e-6)
    assert [layer.name for layer in back.layers[1].layers] == [layer.name for layer in theirs.layers[1].layers]


def test_a_sequential_without_an_input_is_built_by_its_first_call():
    stem = nb.Sequential([nb.Dense(3)], name="stem")
    assert not stem.built
    x = nb.Input((5,))
    y = stem(x)
    assert stem.built and stem.input_shape == (None, 5) and y.shape == (None, 3)
    assert stem.predict(np.ones((2, 5), np.float32)).shape == (2, 3)  # called on data: predict, as Keras's model(x)


def test_a_model_used_as_a_layer_takes_one_tensor_of_its_input_shape():
    a, b = nb.Input((3,)), nb.Input((2,))
    two = nb.Model([a, b], nb.concatenate([a, b]), name="two")
    with pytest.raises(nb.IncompatibleShapeError, match="netbuilder uses a model as a layer when it has one of each"):
        two(nb.Input((3,)))
    one = nb.Model(a, nb.Dense(2)(a), name="one")
    with pytest.raises(nb.IncompatibleShapeError, match=r"expects input of shape \(None, 3\), received \(None, 4\)"):
        one(nb.Input((4,)))


def layers_of(api):
    """Where the layer classes live: keras.layers, or netbuilder itself."""
    return keras.layers if api is keras else nb


def mismatched(api, case: str) -> list:
    """Two tensors a merge cannot take as they are."""
    layers = layers_of(api)
    if case == "residual":  # a shortcut around a block that halved the size and doubled the channels
        x = api.Input((8, 8, 16))
        return [x, layers.Conv2D(32, 3, strides=2, padding="same")(x)]
    if case == "sequence":
        x = api.Input((10, 4))
        return [x, layers.Conv1D(8, 3, strides=2, padding="same")(x)]
    return [api.Input((5,)), layers.Dense(3)(api.Input((4,)))]


MISMATCHES = [("residual", "add"), ("residual", "concatenate"), ("sequence", "add"), ("vectors", "multiply")]


@pytest.mark.parametrize("case, merge", MISMATCHES)
def test_a_merge_that_does_not_fit_offers_fixes_that_keras_builds(case, merge):
    """A shortcut that skipped the main path's stride or width: the refusal offers projections (a 1×1 convolution
    with the main path's stride, a Dense) and, for Concatenate, the axis to join on; each one, applied, builds in
    Keras with the shape our analysis said."""
    with pytest.raises(nb.IncompatibleShapeError) as refused:
        getattr(nb, merge)(mismatched(nb, case))
    fixes = refused.value.issue.fixes
    assert any(f.action == "project_input" for f in fixes)
    for fix in fixes:
        ours, theirs, kwargs = mismatched(nb, case), mismatched(keras, case), {}
        if fix.action == "project_input":
            k, kind, settings = fix.value
            ours[k], theirs[k] = nb.KINDS[kind](**settings)(ours[k]), getattr(keras.layers, kind)(**settings)(theirs[k])
            assert fix.description.endswith(nb.format_shape(ours[k].shape))  # what it said the input would become
        else:
            kwargs = dict([fix.value])
        made = getattr(nb, merge)(ours, **kwargs)
        assert made.shape == tuple(getattr(keras.layers, merge)(theirs, **kwargs).shape)


def test_concatenate_offers_the_axis_the_inputs_differ_on():
    a, b = nb.Input((4, 3)), nb.Input((4, 5))
    with pytest.raises(nb.IncompatibleShapeError) as refused:
        nb.concatenate([a, b], axis=1)
    assert [(f.action, f.value) for f in refused.value.issue.fixes] == [("set_setting", ("axis", -1))]
