"""Exported Keras and PyTorch scripts of functional models (any graph) run in the real libraries and compute what the
engine computes, with the same weights: residual blocks, several inputs and outputs (lists and dicts), shared layers,
every merge, a conv residual block on channels_last images, and random graphs."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import torch
from torch import nn

import netbuilder as nb
from netbuilder.views import export
from test_functional import RECIPES, build

TOL = dict(rtol=1e-5, atol=1e-5)


# --- running the generated scripts ------------------------------------------------------------------------------------
def keras_namespace(model) -> dict:
    namespace = {"__name__": "exported_keras"}
    keras.backend.clear_session(free_memory=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(export.keras_code(model), "<keras export>", "exec"), namespace)  # our own generated code
    return namespace


def torch_namespace(model) -> dict:
    namespace = {"__name__": "exported_torch"}
    exec(compile(export.pytorch_code(model), "<torch export>", "exec"), namespace)  # our own generated code
    return namespace


def keras_predict(theirs, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return theirs.predict(x, verbose=0)


def torch_predict(module, x):
    """`x` as predict takes it (one array, a list, or a dict by the inputs' names) given to the torch model."""
    with torch.no_grad():
        if isinstance(x, dict):
            out = module({k: torch.from_numpy(v) for k, v in x.items()})
        elif isinstance(x, list):
            out = module(*(torch.from_numpy(v) for v in x))
        else:
            out = module(torch.from_numpy(x))
    return _numpy(out)


def _numpy(value):
    if isinstance(value, dict):
        return {k: _numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_numpy(v) for v in value]
    return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def leaves(value) -> list:
    if isinstance(value, dict):
        return [v for key in value for v in leaves(value[key])]
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in leaves(item)]
    return [value]


def assert_same(got, want, **tol):
    """The same structure (one array, a list, a dict with the same keys) and values within `tol`."""
    got, want = _numpy(got), _numpy(want)
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (type(got), want.keys())
        for key in want:
            assert_same(got[key], want[key], **tol)
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for a, b in zip(got, want):
            assert_same(a, b, **tol)
    else:
        assert not isinstance(got, (list, dict)) and got.shape == want.shape, (
            getattr(got, "shape", type(got)),
            want.shape,
        )
        np.testing.assert_allclose(got, want, **(tol or TOL))


def torch_weights(ours) -> list[tuple[str, np.ndarray]]:
    """Every (parameter path, array in torch's layout) each layer's torch_code gives, layer by layer (first call's)."""
    seen, found = set(), []
    for node in ours.graph.nodes:
        if node.is_input or id(node.layer) in seen or node.layer.takes_list:
            continue
        seen.add(id(node.layer))
        parts = node.layer.torch_code(node.layer.call_shape(node.args, node.kwargs))
        for j, part in enumerate(parts):
            found += [(f"{node.layer.name}[{j}].{name}", array) for name, array in part.weights.items()]
    return found


def check_model(ours, x, tol=None) -> tuple:
    """Both scripts: outputs equal to ours (and in our structure), the Keras model's weights ours bit for bit, the torch
    model's parameters and buffers ours in torch's layouts (as each kind's torch_code gives them), each shared layer's
    once. Returns (the Keras model, the torch model)."""
    tol = tol or TOL
    expected = ours.predict(x)
    for value in leaves(expected):
        assert np.isfinite(value).all()  # a comparison of infs or NaNs would prove nothing
    theirs = keras_namespace(ours)["model"]
    assert_same(keras_predict(theirs, x), expected, **tol)
    assert [layer.name for layer in theirs.layers] == [layer.name for layer in ours.layers]
    assert theirs.name == ours.name and theirs.count_params() == ours.count_params()
    mine = ours.get_weights()
    for got, want in zip(theirs.get_weights(), mine, strict=True):
        assert got.dtype == np.float32 and np.array_equal(got, want)
    module = torch_namespace(ours)["model"]
    assert_same(torch_predict(module, x), expected, **tol)
    state = module.state_dict(keep_vars=True)
    unique = {id(v): v for v in state.values()}
    # each layer's weights once (a shared layer's shared, not copied), every one of them in torch's layout
    arrays = sorted(np.asarray(v.detach()).ravel().tobytes() for v in unique.values())
    assert arrays == sorted(np.ascontiguousarray(a, np.float32).ravel().tobytes() for _, a in torch_weights(ours))
    return theirs, module


def rand(*shape, seed=0, scale=2.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


# --- graphs -------------------------------------------------------------------------------------------------------
def test_a_residual_block():
    x = nb.Input((8,), name="features")
    h = nb.Dense(8, activation="relu")(x)
    h = nb.Dense(8)(h)
    y = nb.Activation("relu")(nb.Add()([x, h]))
    ours = nb.Model(x, nb.Dense(3, activation="softmax")(y), name="residual", seed=2)
    check_model(ours, rand(5, 8))
    code = export.keras_code(ours)
    assert "x0 = keras.Input(shape=(8,), name='features')" in code
    assert "x3 = keras.layers.Add(name='add')([x0, x2])" in code
    assert "model = keras.Model(\n    inputs=x0,\n    outputs=x5,\n    name='residual',\n)" in code
    torch_code = export.pytorch_code(ours)
    assert "        x3 = x0 + x2  # 'add' (Add)\n" in torch_code and "def forward(self, *inputs):" in torch_code


def test_operations_and_a_custom_scale_layer():
    """keras.ops on tensors are written as keras.ops calls (numbers in place) and torch expressions; CustomScaleLayer is
    imported from keras.applications, as Keras's own JSON names it."""
    x = nb.Input((6,), name="x")
    h = nb.Dense(6)(x)
    y = nb.CustomScaleLayer(0.17)([x, (h + 3.0) * (1 / 6)])
    ours = nb.Model(x, 2.0 * y, seed=3)
    check_model(ours, rand(4, 6))
    code = export.keras_code(ours)
    assert "x2 = keras.ops.add(x1, 3.0)\n" in code and "x5 = keras.ops.multiply(2.0, x4)\n" in code
    assert "from keras.src.applications.inception_resnet_v2 import CustomScaleLayer" in code
    assert "        x2 = (x1 + 3.0)  # 'add' (Add)\n" in export.pytorch_code(ours)


def test_a_sequential_inside_a_functional_model():
    """A Sequential used as a layer: keras.Sequential([...]) in the Keras code, its modules in order in PyTorch's."""
    stem = nb.Sequential([nb.Input((5,)), nb.Dense(4, activation="relu"), nb.Dense(3)], name="stem")
    x = nb.Input((5,))
    ours = nb.Model(x, nb.Dense(2)(stem(x)), seed=4)
    check_model(ours, rand(3, 5))
    assert "keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(" in export.keras_code(ours)
    y = nb.Input((5,))
    inner = nb.Model(y, nb.Dense(2)(y), name="inner")  # a Functional inside another: said, not written
    with pytest.raises(nb.LayerConfigError, match="a Functional inside another, cannot be written as code yet"):
        export.keras_code(nb.Model(x, inner(x)))


def two_in_two_out(structure: str):
    a, b = nb.Input((4,), name="left"), nb.Input((3, 2), name="right")
    ha = nb.Dense(6, activation="tanh")(a)
    hb = nb.Flatten()(nb.Dense(2)(b))
    joined = nb.concatenate([ha, hb])
    first, second = nb.Dense(2, name="first")(joined), nb.Dense(1, activation="sigmoid", name="second")(hb)
    if structure == "dict":
        return nb.Model({"left": a, "right": b}, {"prob": second, "score": first}, seed=5)
    if structure == "unsorted dict":  # keys not in sorted order
        return nb.Model({"right": b, "left": a}, {"score": first, "prob": second}, seed=5)
    return nb.Model([a, b], [first, second], seed=5)


@pytest.mark.parametrize("structure", ["list", "dict"])
def test_two_inputs_and_two_outputs(structure):
    ours = two_in_two_out(structure)
    x = [rand(4, 4, seed=1), rand(4, 3, 2, seed=2)]
    if structure == "dict":
        x = {"left": x[0], "right": x[1]}
    check_model(ours, x)
    module = torch_namespace(ours)["model"]
    xs = [torch.from_numpy(v) for v in (x.values() if isinstance(x, dict) else x)]
    with torch.no_grad():  # positional inputs in the inputs' order, a list, or (dict inputs) a dict by their keys
        assert_same(module(*xs), module(xs) if structure == "list" else module(dict(zip(x, xs))))
    code = export.keras_code(ours)
    if structure == "dict":
        assert "inputs={'left': x0, 'right': x1}" in code and "outputs={'prob': x" in code
    else:
        assert "inputs=[x0, x1]" in code


def test_dicts_out_of_sorted_order_keep_each_tensor_under_its_key():
    """Keras and the torch script give each output under its own key whatever the keys' order (netbuilder's predict
    packs a dict's values in sorted-key order into the keys' given order: compared here per tensor, not via predict)."""
    ours = two_in_two_out("unsorted dict")
    x = {"left": rand(4, 4, seed=1), "right": rand(4, 3, 2, seed=2)}
    want = keras_predict(keras_namespace(ours)["model"], x)
    assert want["score"].shape == (4, 2) and want["prob"].shape == (4, 1)
    assert_same(torch_predict(torch_namespace(ours)["model"], x), want)
    values = ours._inference(ours._feed(x))  # the outputs in the graph's (sorted-key) order: prob, score
    assert_same({"prob": values[0], "score": values[1]}, want)


def test_one_element_lists_are_one_tensor_as_in_keras():
    a = nb.Input((3,))
    ours = nb.Model([a], [nb.Dense(2)(a)], seed=0)
    check_model(ours, rand(3, 3))
    assert "        return x1\n" in export.pytorch_code(ours)


def test_a_shared_layer_is_made_once_and_called_at_each_call():
    a, b = nb.Input((5,), name="a"), nb.Input((5,), name="b")
    shared = nb.Dense(4, activation="relu", name="encoder")
    ea, eb = shared(a), shared(b)
    again = shared(nb.Dense(5)(eb))  # a third call, deeper
    ours = nb.Model([a, b], [nb.Subtract()([ea, eb]), again], seed=4)
    theirs, module = check_model(ours, [rand(3, 5, seed=1), rand(3, 5, seed=2)])
    code = export.keras_code(ours)
    assert code.count("keras.layers.Dense(4,") == 1 and "encoder = keras.layers.Dense(4," in code
    assert code.count("= encoder(") == 3
    assert len(theirs.get_layer("encoder")._inbound_nodes) == 3
    torch_code = export.pytorch_code(ours)
    assert torch_code.count("nn.Linear(5, 4") == 1 and torch_code.count("self.encoder(") == 3
    assert sum(p.numel() for p in module.parameters()) == ours.count_params()


def test_a_shared_layer_whose_torch_code_differs_by_call_shares_its_parameters():
    # 'same' padding with stride 2: 8 → pad (0, 1) (an explicit ZeroPad2d), 7 → (1, 1) (the conv's own padding)
    a, b = nb.Input((8, 8, 3)), nb.Input((7, 7, 3))
    conv = nb.Conv2D(4, 3, strides=2, padding="same", name="conv")
    pool = nb.GlobalAveragePooling2D()
    ours = nb.Model([a, b], nb.Add()([pool(conv(a)), pool(conv(b))]), seed=1)
    _, module = check_model(ours, [rand(2, 8, 8, 3, seed=1), rand(2, 7, 7, 3, seed=2)])
    conv_modules = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    assert len(conv_modules) == 2 and conv_modules[0].weight is conv_modules[1].weight
    assert conv_modules[0].bias is conv_modules[1].bias


ELEMENTWISE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]


@pytest.mark.parametrize(
    "kind, count", [(kind, count) for kind in ELEMENTWISE for count in (1, 2, 3) if kind != "Subtract" or count == 2]
)  # Subtract takes exactly 2
def test_every_elementwise_merge(kind, count):
    inputs = [nb.Input((3, 4), name=f"in{k}") for k in range(count)]
    branches = [nb.Dense(4, activation="tanh")(t) for t in inputs]
    merged = getattr(nb, kind)()(branches)
    ours = nb.Model(inputs, nb.Dense(2)(merged), seed=count)
    check_model(ours, [rand(4, 3, 4, seed=k) for k in range(count)])


@pytest.mark.parametrize("shapes", [[(4, 3), (1, 3)], [(4, 3), (3,)], [(6, 1), (7,)], [(2, 3, 4), (4,), (3, 1)]])
@pytest.mark.parametrize("kind", ["Add", "Multiply", "Maximum", "Average"])
def test_merges_broadcast_in_torch_as_in_keras(kind, shapes):
    inputs = [nb.Input(s) for s in shapes]
    ours = nb.Model(inputs, getattr(nb, kind)()(inputs), seed=0)
    x = [rand(3, *s, seed=k) for k, s in enumerate(shapes)]
    theirs = keras_namespace(ours)["model"]
    want = keras_predict(theirs, x)
    assert_same(torch_predict(torch_namespace(ours)["model"], x), want)
    if len({len(s) for s in shapes}) == 1:  # (the engine's own predict is compared where the ranks agree)
        assert_same(ours.predict(x), want)


@pytest.mark.parametrize("axis", [1, 2, -1, -2, 3, -3])
def test_concatenate_on_every_axis(axis):
    base = (2, 3, 4)
    shapes = [tuple(n + k if (axis % 4) - 1 == i else n for i, n in enumerate(base)) for k in range(3)]
    inputs = [nb.Input(s) for s in shapes]
    joined = nb.Concatenate(axis=axis)([nb.Activation("tanh")(t) for t in inputs])
    ours = nb.Model(inputs, nb.Dense(2)(joined), seed=1)
    check_model(ours, [rand(3, *s, seed=k) for k, s in enumerate(shapes)])


DOTS = [
    ((5,), (5,), 1),
    ((5,), (5,), -1),
    ((3, 4), (3, 5), 1),
    ((3, 4), (5, 4), (2, 2)),
    ((3, 4), (4,), (2, 1)),
    ((4,), (4, 3), (1, 1)),
    ((2, 3, 4), (4, 2), (3, 1)),
    ((2, 3, 4), (3, 5), (2, 1)),
    ((3, 4), (3, 4), -1),
]


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("a, b, axes", DOTS)
def test_dot_as_keras_batch_dot(a, b, axes, normalize):
    x, y = nb.Input(a), nb.Input(b)
    ours = nb.Model([x, y], nb.Dot(axes=axes, normalize=normalize)([x, y]), seed=0)
    xs = [rand(4, *a, seed=1), rand(4, *b, seed=2)]
    if normalize:  # a vector of zeros along the axis: Keras's NumPy backend divides it by 1, not by 0
        xs[0][0] = 0
    check_model(ours, xs)


def test_conv_residual_block_on_channels_last_images_with_a_projection_shortcut():
    image = nb.Input((10, 10, 3), name="image")
    h = nb.Conv2D(8, 3, padding="same", activation="relu")(image)
    h = nb.BatchNormalization()(nb.Conv2D(8, 3, padding="same")(h))
    shortcut = nb.Conv2D(8, 1)(image)  # 1×1 projection: 3 channels → 8
    block = nb.Activation("relu")(nb.Add()([h, shortcut]))
    down = nb.MaxPooling2D(2)(block)
    wide = nb.Concatenate(axis=-1)([down, nb.AveragePooling2D(2)(shortcut)])  # channels, last as Keras keeps them
    out = nb.Dense(4)(nb.GlobalAveragePooling2D()(wide))
    ours = nb.Model(image, out, name="resnet_block", seed=6)
    weights = ours.get_weights()  # BatchNormalization's statistics moved off 0 and 1, so they matter
    ours.set_weights(
        [w + np.float32(0.1) * rand(*w.shape, seed=k, scale=1) if w.ndim == 1 else w for k, w in enumerate(weights)]
    )
    names = [w.name for layer in ours.layers for w in layer.weight_specs(layer.built_shape) if layer.built_shape]
    ours.set_weights([np.abs(w) + 0.5 if "variance" in n else w for n, w in zip(names, ours.get_weights())])
    check_model(ours, rand(3, 10, 10, 3))
    code = export.pytorch_code(ours)
    assert "ChannelsLastToFirst()" in code and "torch.cat([x" in code and "dim=-1)" in code


def test_a_text_model_with_recurrent_branches():
    tokens = nb.Input((6,), name="tokens")
    embedded = nb.Embedding(12, 4)(tokens)
    seq = nb.LSTM(5, return_sequences=True)(embedded)
    last = nb.GRU(5)(nb.Dropout(0.3)(embedded))
    pooled = nb.GlobalAveragePooling1D()(seq)
    joined = nb.Concatenate()([pooled, last, nb.SimpleRNN(3, go_backwards=True)(seq)])
    ours = nb.Model(tokens, [nb.Dense(2, activation="softmax")(joined), seq], seed=8)
    ids = np.random.default_rng(3).integers(0, 12, size=(4, 6)).astype(np.float32)
    check_model(ours, ids)


def structures():
    a, b = nb.Input((3,), name="a"), nb.Input((3,), name="b")
    d = nb.Dense(2)
    return {
        "no calls": (nb.Model(a, a), 1),
        "an input among the outputs": (nb.Model(a, [a, d(a)], seed=0), 1),
        "nested outputs": (nb.Model([a, b], [d(a), {"p": nb.Add()([a, b]), "q": d(b)}], seed=0), 2),
        "an input no output needs": (nb.Model([a, b], d(a), seed=0), 2),
        "tuples": (nb.Model((a, b), (d(a), b), seed=0), 2),
    }


@pytest.mark.parametrize("name", list(structures()))
def test_structures_keras_takes(name):
    ours, count = structures()[name]
    x = [rand(2, 3, seed=k) for k in range(count)]
    check_model(ours, x if count > 1 else x[0])


@pytest.mark.parametrize("index", range(0, len(RECIPES), 6))
def test_random_graphs(index):
    ours = build(nb, RECIPES[index])
    rng = np.random.default_rng(index)
    x = [rng.normal(size=(3, *shape)).astype(np.float32) for shape in RECIPES[index]["inputs"]]
    check_model(ours, x if len(x) > 1 else x[0])


def test_weights_after_training_are_the_ones_exported():
    ours = two_in_two_out("list")
    ours.set_weights([w * np.float32(-1.5) + np.float32(0.25) for w in ours.get_weights()])
    check_model(ours, [rand(4, 4, seed=3), rand(4, 3, 2, seed=4)])


# --- names ------------------------------------------------------------------------------------------------------------
def test_torch_module_names_cover_nn_module_s_own():
    assert {n for n in dir(nn.Module) if not n.startswith("_")} | set(
        vars(nn.Module())
    ) <= export.TORCH_MODULE_NAMES | {n for n in vars(nn.Module()) if n.startswith("_")}


def test_hostile_and_clashing_names_are_kept_as_literals_and_never_shadow():
    names = [
        "eval",
        "training",
        'a"); import os #',
        "x1",
        "keras",
        "print",
        "ü",
        "forward",
        "_private",
        "class",
        "model",
    ]
    a = nb.Input((3,), name="inputs")
    b = nb.Input((3,), name='b"\\n')
    t = a
    made = []
    for name in names:
        layer = nb.Dense(3, activation="tanh", name=name)
        made.append(layer)
        t = layer(t)
    shared = made[0](b)  # 'eval' is shared: a Python name in the Keras script
    ours = nb.Model({"inputs": a, 'b"\\n': b}, {"out'": t, "print": shared}, name="weird'name", seed=0)
    theirs, module = check_model(ours, {"inputs": rand(2, 3, seed=1), 'b"\\n': rand(2, 3, seed=2)})
    assert [layer.name for layer in theirs.layers] == [layer.name for layer in ours.layers]
    assert theirs.name == "weird'name"
    assert not any(name in {"eval", "training", "forward", "class", "_private"} for name, _ in module.named_children())


# --- budgets, checkpoints, and a fresh Python ------------------------------------------------------------------------
def test_the_export_budget_is_checked_before_writing(monkeypatch):
    """A functional model's scripts answer to the same check as a Sequential's (check_export: the size from the
    parameter count), before any text is made."""
    a, b = nb.Input((3,)), nb.Input((3,))
    ours = nb.Model([a, b], nb.Add()([nb.Dense(2)(a), nb.Dense(2)(b)]), seed=0)
    checked = []

    class Refused(Exception):
        pass

    def refuse(model):
        checked.append(model)
        raise Refused

    monkeypatch.setattr(export, "check_export", refuse)
    monkeypatch.setattr(export, "array_literal", lambda *a, **k: pytest.fail("weights written before the check"))
    for exporter in (export.keras_code, export.pytorch_code):
        with pytest.raises(Refused):
            exporter(ours)
    assert checked == [ours, ours]


def test_checkpoint_is_called_while_writing_and_can_stop_an_export():
    a = nb.Input((300,))
    shared = nb.Dense(200)
    ours = nb.Model(a, nb.Add()([shared(a), shared(nb.Dense(300)(a))]), seed=0)
    calls = []
    export.keras_code(ours, checkpoint=lambda: calls.append(1))
    assert len(calls) >= (300 * 200 + 300 * 300) // export.TOKEN_STEP

    class Stop(Exception):
        pass

    def stop():
        raise Stop

    for exporter in (export.keras_code, export.pytorch_code):
        with pytest.raises(Stop):
            exporter(ours, checkpoint=stop)


def test_the_scripts_run_in_a_fresh_python(tmp_path):
    """Each script alone (no netbuilder imported), as a user runs it; its `model` then predicts our outputs."""
    ours = two_in_two_out("dict")
    x = {"left": rand(3, 4, seed=1), "right": rand(3, 3, 2, seed=2)}
    np.savez(tmp_path / "x.npz", **x)
    expected = ours.predict(x)
    (tmp_path / "keras_model.py").write_text(export.keras_code(ours))
    (tmp_path / "torch_model.py").write_text(export.pytorch_code(ours))
    runner = (
        "import runpy, sys, numpy as np\n"
        "x = dict(np.load('x.npz'))\n"
        "ns = runpy.run_path(sys.argv[1], run_name='__main__')\n"  # the script's own demo runs too
        "if 'keras' in sys.argv[1]:\n"
        "    out = ns['model'].predict(x, verbose=0)\n"
        "else:\n"
        "    import torch\n"
        "    with torch.no_grad():\n"
        "        out = {k: v.numpy() for k, v in ns['model']({k: torch.from_numpy(v) for k, v in x.items()}).items()}\n"
        "np.savez('out.npz', **{k: np.asarray(v) for k, v in out.items()})\n"
        "assert not any(name.startswith('netbuilder') for name in sys.modules)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "numpy", "PYTHONPATH": ""}
    for script in ("keras_model.py", "torch_model.py"):
        done = subprocess.run(
            [sys.executable, "-c", runner, script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        got = dict(np.load(tmp_path / "out.npz"))
        assert_same(got, expected)
