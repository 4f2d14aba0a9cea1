"""Whole models against real Keras 3.15 (NumPy backend): the seed article's code, Flatten, random models.

Deliberate differences (each is asserted below, never silently skipped):
* glu halves the last axis in netbuilder's output_shape; Keras's `compute_output_shape` keeps it,
  so a Dense after a glu is built for the wrong size in Keras and fails when called.
* glu on a rank-1 tensor (only the batch axis) is rejected: Keras splits the batch in two.
* predict checks every per-sample axis; Keras checks only the last one, and also squeezes or
  adds a trailing axis of size 1 (rank ±1); netbuilder rejects both.
* Layer names are counted per model (as in a fresh Keras session), not per session; collisions raise as in Keras.
"""

import contextlib
import io
import random
import warnings

import keras
import numpy as np
import pytest

import netbuilder as nb

# The seed article's code, verbatim (prose removed), one model per snippet.
SEED_SNIPPETS = [
    """import numpy as np
from keras.models import Sequential
from keras.layers import Dense, Flatten, Activation
# Model with Flatten layer
model_with_flatten = Sequential()
model_with_flatten.add(Dense(16, input_shape=(3, 2)))
model_with_flatten.add(Activation('relu'))
model_with_flatten.add(Flatten())
model_with_flatten.add(Dense(4))
model_with_flatten.compile(loss='mean_squared_error', optimizer='SGD')
# Test data
x = np.array([[[1, 2], [3, 4], [5, 6]]])
y_with_flatten = model_with_flatten.predict(x)
print("Output shape with Flatten: ", y_with_flatten.shape) # Output: (1, 4)
""",
    """# Model without Flatten layer
model_without_flatten = Sequential()
model_without_flatten.add(Dense(16, input_shape=(3, 2)))
model_without_flatten.add(Activation('relu'))
model_without_flatten.add(Dense(4))
model_without_flatten.compile(loss='mean_squared_error', optimizer='SGD')
y_without_flatten = model_without_flatten.predict(x)
print("Output shape without Flatten: ", y_without_flatten.shape) # Output: (1, 3, 4)
""",
    """# Correct model structure
correct_model = Sequential()
correct_model.add(Flatten(input_shape=(3, 2))) # Flatten (3, 2) to 6
correct_model.add(Dense(16))
correct_model.add(Activation('relu'))
correct_model.add(Dense(4))
correct_model.compile(loss='mean_squared_error', optimizer='SGD')
# Model structure analysis
correct_model.summary()
""",
    """from keras.layers import Input
from keras.models import Model
# Create input layer
x_input = Input(shape=(10, 64))
# Apply Flatten layer
flatten_layer = Flatten()(x_input)
# Build model
model = Model(inputs=x_input, outputs=flatten_layer)
print("Flatten layer output shape: ", model.output_shape) # Output: (None, 640)
""",
]
SEED_MODELS = ["model_with_flatten", "model_without_flatten", "correct_model", "model"]
SEED_SHAPES = {
    "model_with_flatten": (None, 4),
    "model_without_flatten": (None, 3, 4),
    "correct_model": (None, 4),
    "model": (None, 640),
}


def as_netbuilder(code: str) -> str:
    """The only change: import from netbuilder instead of keras."""
    return code.replace("from keras.models import", "from netbuilder import").replace(
        "from keras.layers import", "from netbuilder import"
    )


def run_seed(framework: str):
    """Run the four snippets in one namespace (Keras: a fresh session per model); return it and the printed lines."""
    namespace, printed = {}, []
    for code in SEED_SNIPPETS:
        out = io.StringIO()
        if framework == "keras":
            keras.backend.clear_session(free_memory=False)
        else:
            code = as_netbuilder(code)
        with warnings.catch_warnings(), contextlib.redirect_stdout(out):
            warnings.simplefilter("ignore")  # Keras warns about input_shape= on a layer
            exec(code, namespace)
        printed += [line for line in out.getvalue().splitlines() if line.startswith(("Output shape ", "Flatten layer"))]
    return namespace, printed


@pytest.fixture(scope="module")
def seed_runs():
    return run_seed("keras"), run_seed("netbuilder")


def test_seed_code_changes_only_imports():
    for code in SEED_SNIPPETS:
        changed = [(a, b) for a, b in zip(code.splitlines(), as_netbuilder(code).splitlines()) if a != b]
        assert all(a.startswith("from keras.") and b.startswith("from netbuilder import") for a, b in changed)


def test_seed_printed_lines_equal(seed_runs):
    (_, keras_printed), (_, our_printed) = seed_runs
    assert keras_printed == [
        "Output shape with Flatten:  (1, 4)",
        "Output shape without Flatten:  (1, 3, 4)",
        "Flatten layer output shape:  (None, 640)",
    ]
    assert our_printed == keras_printed


@pytest.mark.parametrize("name", SEED_MODELS)
def test_seed_model_shapes_and_params(seed_runs, name):
    (ks, _), (ns, _) = seed_runs
    assert ks[name].output_shape == SEED_SHAPES[name]
    assert ns[name].output_shape == ks[name].output_shape
    assert ns[name].input_shape == ks[name].input_shape
    assert ns[name].count_params() == ks[name].count_params()
    assert [w.shape for w in ns[name].get_weights()] == [tuple(w.shape) for w in ks[name].get_weights()]


@pytest.mark.parametrize("columns", ["80", "100", "60", "50"])
@pytest.mark.parametrize("name", SEED_MODELS)
def test_seed_model_summary_text(seed_runs, name, columns, monkeypatch):
    """Our summary text is Keras's, for the terminal widths Keras derives its line length from."""
    monkeypatch.setenv("COLUMNS", columns)
    (ks, _), (ns, _) = seed_runs
    keras_text, our_text = [], []
    ks[name].summary(print_fn=lambda text, **kwargs: keras_text.append(text))
    ns[name].summary(print_fn=lambda text, **kwargs: our_text.append(text))
    assert len(keras_text) == 1
    assert our_text == keras_text


@pytest.mark.parametrize("line_length", [60, 76])
def test_seed_summary_explicit_line_length(seed_runs, line_length, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    (ks, _), (ns, _) = seed_runs
    keras_text, our_text = [], []
    ks["model_with_flatten"].summary(line_length=line_length, print_fn=lambda t, **kw: keras_text.append(t))
    ns["model_with_flatten"].summary(line_length=line_length, print_fn=lambda t, **kw: our_text.append(t))
    assert our_text == keras_text


@pytest.mark.parametrize("name", SEED_MODELS)
def test_seed_model_outputs_after_moving_weights(seed_runs, name):
    """Our weights loaded into Keras, and Keras's into ours, give bit-identical outputs."""
    (ks, _), (ns, _) = seed_runs
    kmodel, nmodel = ks[name], ns[name]
    x = np.random.default_rng(7).normal(size=(5, *kmodel.input_shape[1:])).astype(np.float32)
    kmodel.set_weights(nmodel.get_weights())
    np.testing.assert_array_equal(nmodel.predict(x), kmodel.predict(x, verbose=0))
    fresh = keras.models.clone_model(kmodel)  # new random weights, moved the other way
    nmodel.set_weights(fresh.get_weights())
    np.testing.assert_array_equal(nmodel.predict(x), fresh.predict(x, verbose=0))
    seed_x = np.array([[[1, 2], [3, 4], [5, 6]]])
    if kmodel.input_shape == (None, 3, 2):
        np.testing.assert_array_equal(nmodel.predict(seed_x), fresh.predict(seed_x, verbose=0))


@pytest.mark.parametrize("seed", [0, 1, 42, 999_999])
def test_seeded_weights_equal_keras_glorot_uniform(seed):
    """Layer i of a model seeded S draws Keras's GlorotUniform(seed=layer_seed(S, i)); biases are zeros."""
    ours = nb.Sequential(
        [nb.Input((3, 2)), nb.Dense(16), nb.Activation("relu"), nb.Flatten(), nb.Dense(4), nb.Dense(7, use_bias=False)],
        seed=seed,
    )
    init = keras.initializers.GlorotUniform
    theirs = keras.Sequential(
        [
            keras.Input((3, 2)),
            keras.layers.Dense(16, kernel_initializer=init(seed=nb.layer_seed(seed, 0))),
            keras.layers.Activation("relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(4, kernel_initializer=init(seed=nb.layer_seed(seed, 3))),
            keras.layers.Dense(7, use_bias=False, kernel_initializer=init(seed=nb.layer_seed(seed, 4))),
        ]
    )
    ours_w, theirs_w = ours.get_weights(), theirs.get_weights()
    assert len(ours_w) == len(theirs_w) == 5
    for a, b in zip(ours_w, theirs_w):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


# --- layer names: Keras's rule, asked of Keras -----------------------------------------------------
NAMED_MODELS = {
    "explicit-taken-by-auto": lambda m: [m.Dense(3), m.Dense(4, name="dense")],  # issue 10's example
    "auto-after-explicit": lambda m: [m.Dense(4, name="dense"), m.Dense(3)],
    "explicit-dense_1-between": lambda m: [m.Dense(2), m.Dense(2, name="dense_1"), m.Dense(2)],
    "two-explicit": lambda m: [m.Dense(2, name="a"), m.Activation("relu", name="a")],
    "explicit-elsewhere": lambda m: [
        m.Dense(2),
        m.Dense(2, name="dense_5"),
        m.Dense(2),
        m.Activation("relu", name="dense_3"),
    ],
    "explicit-other-prefix": lambda m: [m.Flatten(name="dense_1"), m.Dense(2), m.Activation("relu")],
    "auto-per-prefix": lambda m: [m.Dense(2), m.Activation("relu"), m.Dense(2), m.Flatten(), m.Activation("tanh")],
}


def keras_names(make):
    keras.backend.clear_session(free_memory=False)  # a fresh session counts dense, dense_1, ... as our models do
    try:
        return [layer.name for layer in keras.Sequential([keras.Input((2,)), *make(keras.layers)]).layers]
    except ValueError as e:
        return str(e)


def our_names(make):
    try:
        return [layer.name for layer in nb.Sequential([nb.Input((2,)), *make(nb)]).layers]
    except nb.LayerConfigError as e:
        return str(e)


@pytest.mark.parametrize("name", NAMED_MODELS)
def test_layer_names_and_collisions_as_keras(name):
    """Explicit names are kept, automatic ones count per prefix whatever the explicit ones are, and two layers
    ending up with one name raise Keras's own error (an explicit name="dense" next to an automatic dense too)."""
    assert our_names(NAMED_MODELS[name]) == keras_names(NAMED_MODELS[name])


def test_name_collision_cases_include_refusals():
    refused = [name for name, make in NAMED_MODELS.items() if isinstance(keras_names(make), str)]
    assert {"explicit-taken-by-auto", "auto-after-explicit", "explicit-dense_1-between", "two-explicit"} <= set(refused)
    assert "unique names" in keras_names(NAMED_MODELS["explicit-taken-by-auto"])


# --- Flatten, both data formats -------------------------------------------------------------
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 3, 4), (2, 1, 3, 2)])
def test_flatten_matches_keras(shape, data_format):
    x = np.arange(3 * int(np.prod(shape)), dtype=np.float32).reshape(3, *shape)
    ours = nb.Sequential([nb.Input(shape), nb.Flatten(data_format=data_format)])
    theirs = keras.Sequential([keras.Input(shape), keras.layers.Flatten(data_format=data_format)])
    assert ours.output_shape == theirs.output_shape
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x, verbose=0))


# --- predict input checks -------------------------------------------------------------------
def test_wrong_non_last_dims_keras_accepts_we_reject():
    """Deliberate: Keras runs (5, 4, 2) through a model for (3, 2); we name the layer and both shapes."""
    x = np.ones((5, 4, 2), np.float32)
    theirs = keras.Sequential([keras.Input((3, 2)), keras.layers.Dense(16), keras.layers.Dense(4)])
    assert theirs.predict(x, verbose=0).shape == (5, 4, 4)
    ours = nb.Sequential([nb.Input((3, 2)), nb.Dense(16), nb.Dense(4)])
    with pytest.raises(nb.IncompatibleShapeError, match=r"'dense'.*\(3, 2\) per sample, received \(4, 2\)"):
        ours.predict(x)


@pytest.mark.parametrize("shape", [(5, 3, 2, 1), (5, 3)])
def test_rank_plus_minus_one_keras_adjusts_we_reject(shape):
    """Deliberate: Keras squeezes a trailing 1 (or adds one when the model's last axis is 1)."""
    model_shape = (3, 2) if len(shape) == 4 else (3, 1)
    theirs = keras.Sequential([keras.Input(model_shape), keras.layers.Dense(4)])
    theirs.predict(np.ones(shape, np.float32), verbose=0)
    ours = nb.Sequential([nb.Input(model_shape), nb.Dense(4)])
    with pytest.raises(nb.IncompatibleShapeError, match="per sample"):
        ours.predict(np.ones(shape, np.float32))


# --- randomized models ------------------------------------------------------------------------
RANDOM_MODELS = 300


def random_model(r: random.Random):
    """A per-sample shape of rank 0-4 and 1-6 layers, as (kind, kwargs) pairs."""
    shape = tuple(r.randint(1, 4) for _ in range(r.randint(0, 4)))
    specs = []
    for _ in range(r.randint(1, 6)):
        kind = r.choice(["Dense", "Dense", "Flatten", "Activation"])
        if kind == "Dense":
            activation = r.choice([*nb.ACTIVATION_NAMES, None, None, None])
            specs.append(("Dense", {"units": r.randint(1, 6), "activation": activation, "use_bias": r.random() < 0.7}))
        elif kind == "Flatten":
            specs.append(("Flatten", {"data_format": r.choice(["channels_last", "channels_first"])}))
        else:
            specs.append(("Activation", {"activation": r.choice(nb.ACTIVATION_NAMES)}))
    return shape, specs


def _is_glu(spec):
    return spec[1].get("activation") == "glu"


def glu_before_dense(specs) -> bool:
    """Keras's output shape for glu is not halved, so a later Dense is built wrong there."""
    first_glu = next((i for i, s in enumerate(specs) if _is_glu(s)), None)
    return first_glu is not None and any(k == "Dense" for k, _ in specs[first_glu + 1 :])


def glu_on_batch_axis(shape, specs) -> bool:
    """A glu Activation while the tensor is rank 1 (before any Flatten or Dense)."""
    if shape:
        return False
    for kind, kwargs in specs:
        if kind != "Activation":
            return False
        if kwargs["activation"] == "glu":
            return True
    return False


def keras_layer_by_layer(specs, weights, x):
    """Keras layers called eagerly on real arrays: each is built for what it really receives."""
    y, weights = x, list(weights)
    for kind, kwargs in specs:
        layer = getattr(keras.layers, kind)(**kwargs)
        if kind == "Dense":
            layer.build(y.shape)
            n = 2 if kwargs["use_bias"] else 1
            layer.set_weights(weights[:n])
            weights = weights[n:]
        y = np.asarray(layer(y))
    return y


def run_ours(shape, specs, seed, x):
    try:
        model = nb.Sequential([nb.Input(shape)] + [getattr(nb, k)(**kw) for k, kw in specs], seed=seed)
        return model, model.predict(x)
    except nb.NetbuilderError as e:
        return e, None


def run_keras(shape, specs, weights, x):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # softmax over an axis of size 1, overflow in sigmoid...
            model = keras.Sequential([keras.Input(shape)] + [getattr(keras.layers, k)(**kw) for k, kw in specs])
            if weights is not None:
                model.set_weights(weights)
            return model, model.predict(x, verbose=0)
    except (ValueError, TypeError) as e:  # build-time shape errors; call-time ones are wrapped ValueErrors
        return e, None


def assert_outputs_close(ours, theirs):
    assert ours.dtype == np.float32
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs.astype(np.float32), rtol=1e-5, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize("index", range(RANDOM_MODELS))
def test_random_model_matches_keras(index):
    r = random.Random(1000 + index)
    shape, specs = random_model(r)
    x = np.random.default_rng(index).normal(scale=2.0, size=(2, *shape)).astype(np.float32)
    ours, y = run_ours(shape, specs, index, x)
    ours_ok = not isinstance(ours, Exception)
    theirs, ky = run_keras(shape, specs, ours.get_weights() if ours_ok else None, x)
    keras_ok = not isinstance(theirs, Exception)

    if glu_on_batch_axis(shape, specs):  # deliberate: we reject; Keras halves the batch (odd batches fail)
        assert not ours_ok and "batch axis" in str(ours)
        return
    if glu_before_dense(specs):  # deliberate: Keras's unhalved glu shape breaks the next Dense
        assert not keras_ok
        if ours_ok:
            assert_outputs_close(y, keras_layer_by_layer(specs, ours.get_weights(), x))
        return
    assert ours_ok == keras_ok, f"netbuilder: {ours!r}\nkeras: {theirs!r}"
    if not ours_ok:
        assert isinstance(ours, nb.IncompatibleShapeError) and ours.issue is not None
        return
    assert ours.count_params() == theirs.count_params()
    assert ours.output_shape[1:] == ky.shape[1:]
    if not any(_is_glu(s) for s in specs):
        assert ours.output_shape == theirs.output_shape
    assert_outputs_close(y, ky)


def test_random_models_cover_both_outcomes():
    """The generator is not degenerate: many models run, some are rejected, some use glu."""
    outcomes = {"ok": 0, "rejected": 0, "glu": 0}
    for index in range(RANDOM_MODELS):
        shape, specs = random_model(random.Random(1000 + index))
        ours, _ = run_ours(shape, specs, index, np.ones((2, *shape), np.float32))
        outcomes["rejected" if isinstance(ours, Exception) else "ok"] += 1
        outcomes["glu"] += any(_is_glu(s) for s in specs)
    assert outcomes["ok"] > 150 and outcomes["rejected"] > 20 and outcomes["glu"] > 10


def test_get_layer_finds_a_layer_by_name_in_a_sequential_and_a_functional_as_keras_does():
    def sequential(Sequential, Input, Model, Dense):
        return Sequential([Input((3,)), Dense(2), Dense(1)])

    def functional(Sequential, Input, Model, Dense):
        x = Input((3,))
        hidden = Dense(2)(x)
        return Model(x, Dense(1)(hidden))

    for make in (sequential, functional):
        keras.backend.clear_session(free_memory=False)  # names as a fresh session gives them, as ours
        theirs = make(keras.Sequential, keras.Input, keras.Model, keras.layers.Dense)
        ours = make(nb.Sequential, nb.Input, nb.Model, nb.Dense)
        assert ours.get_layer("dense_1").get_config()["units"] == theirs.get_layer("dense_1").get_config()["units"]
        with pytest.raises(ValueError) as keras_error:
            theirs.get_layer("nope")
        with pytest.raises(nb.LayerConfigError) as our_error:
            ours.get_layer("nope")
        assert str(our_error.value) == str(keras_error.value)
