"""Watching a network learn (studio.inside): each layer's gradient norm, epoch by epoch, equals the norm of Keras's own
gradient on its JAX backend (jax.grad of the model's stateless call) at the same weights, and each layer's output
range equals Keras's; a deep sigmoid chain's gradients are seen to vanish toward the input; what a run keeps is
bounded, and its cost counted before it starts; the Train page draws it and replays it epoch by epoch.

The Keras side runs this file as a script with KERAS_BACKEND=jax (a backend is fixed per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from netbuilder.studio.inside import MOST_SNAPSHOTS, MOST_VALUES, Histogram, kept_epochs, watch_work, probe_samples
from netbuilder.studio.spec import LayerSpec, ModelSpec
from netbuilder.studio.train import Settings, TrainingRun, check

SIGMOID_CHAIN = ModelSpec(
    (2,),
    tuple(LayerSpec.make(i, "Dense", units=4, activation="sigmoid") for i in range(5))
    + (LayerSpec.make(5, "Dense", units=1, activation="sigmoid"),),
    3,
)
EPOCHS, SAMPLES = 4, 16  # one step per epoch: an epoch's mean gradient norm is its one step's


def _data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(SAMPLES, 2)).astype(np.float32)
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.float32)


def _ours():
    x, y = _data()
    settings = Settings(optimizer="sgd", learning_rate=0.5, epochs=EPOCHS, batch_size=SAMPLES)
    run = TrainingRun.start(SIGMOID_CHAIN, settings, x, y)
    start = [w.copy() for w in run.model.get_weights()]
    while not run.done:
        run.piece()
    return start, run.progress().inside


def _keras(start: list) -> dict:
    """Keras on JAX: per epoch, each layer's gradient norm before its step (the epoch's one step) and each layer's
    output range after it."""
    x, y = _data()
    from netbuilder.studio.models import fresh

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        np.savez(folder / "in.npz", x=x, y=y, *start)
        (folder / "model.json").write_text(fresh(SIGMOID_CHAIN).to_json())
        env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, __file__, str(folder)], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads((folder / "out.json").read_text())


def _keras_side(folder: Path) -> None:
    import jax
    import keras

    arrays = np.load(folder / "in.npz")
    x, y = arrays["x"], arrays["y"][:, None]
    model = keras.models.model_from_json((folder / "model.json").read_text())
    model.set_weights([arrays[f"arr_{i}"] for i in range(len(model.weights))])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="binary_crossentropy")
    probe = keras.Model(model.inputs, [layer.output for layer in model.layers])
    paths = [v.path for v in model.trainable_variables]
    owners = [[paths.index(v.path) for v in layer.trainable_variables] for layer in model.layers]

    def loss(trainable, non_trainable):
        out, _ = model.stateless_call(trainable, non_trainable, x, training=True)
        return keras.ops.mean(keras.losses.binary_crossentropy(y, out))

    norms, ranges = [], [[(float(o.min()), float(o.max())) for o in probe(x)]]
    for _ in range(int(EPOCHS)):
        values = [v.value for v in model.trainable_variables]
        grads = jax.grad(loss)(values, [v.value for v in model.non_trainable_variables])
        norms.append([float(np.sqrt(sum(np.sum(np.square(grads[k])) for k in ks))) for ks in owners])
        model.train_on_batch(x, y)
        ranges.append([(float(o.min()), float(o.max())) for o in probe(x)])
    (folder / "out.json").write_text(json.dumps({"norms": norms, "ranges": ranges}))


@pytest.fixture(scope="module")
def runs():
    start, snapshots = _ours()
    return snapshots, _keras(start)


def test_each_layers_gradient_norm_is_the_norm_of_keras_s_gradient_on_jax(runs):
    snapshots, keras = runs
    assert [s.epoch for s in snapshots] == list(range(EPOCHS + 1))
    assert all(layer.gradient_norm is None for layer in snapshots[0].layers)  # before training: no step yet
    for snapshot, expected in zip(snapshots[1:], keras["norms"], strict=True):
        np.testing.assert_allclose([layer.gradient_norm for layer in snapshot.layers], expected, rtol=2e-4)


def test_each_layers_output_range_is_keras_s_at_every_epoch_kept(runs):
    snapshots, keras = runs
    for snapshot, expected in zip(snapshots, keras["ranges"], strict=True):
        got = [(layer.activations.low, layer.activations.high) for layer in snapshot.layers]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
        assert all(sum(layer.activations.counts) == SAMPLES * 4 for layer in snapshot.layers[:-1])


def test_a_deep_sigmoid_chain_s_gradients_are_seen_to_vanish_toward_the_input(runs):
    snapshots, _ = runs
    norms = [layer.gradient_norm for layer in snapshots[1].layers]
    assert all(a < b for a, b in zip(norms, norms[1:]))  # smaller at every layer nearer the input
    assert norms[0] < norms[-1] / 100


def test_what_a_run_keeps_is_bounded_however_long_the_run_and_large_the_model():
    assert kept_epochs(3, 5) == [0, 1, 2, 3]
    long = kept_epochs(10_000, 5)
    assert len(long) == MOST_SNAPSHOTS and long[0] == 0 and long[-1] == 10_000
    assert kept_epochs(10_000, MOST_VALUES // 2) == [0, 10_000]  # a wide model: its start and its end
    histogram = Histogram.of(np.array([0.0, 1.0, 1.0, np.nan, np.inf], np.float32))
    assert (histogram.low, histogram.high, sum(histogram.counts)) == (0.0, 1.0, 3)  # finite values only
    assert histogram.counts[0] == 1 and histogram.counts[-1] == 2 and histogram.bars()[-1] == "█"


def test_a_runs_snapshots_are_counted_in_its_work_before_it_starts():
    x, y = _data()
    settings = Settings(optimizer="sgd", epochs=EPOCHS, batch_size=SAMPLES)
    cost = SIGMOID_CHAIN.analysis.cost
    watching = watch_work(cost, EPOCHS, len(SIGMOID_CHAIN.layers), probe_samples(SAMPLES))
    assert watching > EPOCHS * cost.run_work(SAMPLES)  # a forward pass of the probe and histograms, each epoch kept
    assert check(SIGMOID_CHAIN, settings, x, y) >= watching


if __name__ == "__main__":
    _keras_side(Path(sys.argv[1]))


def test_the_graph_colours_each_layer_by_its_gradient_on_a_log_scale_of_at_least_two_decades():
    from netbuilder.studio.inside import LayerInside, Snapshot
    from netbuilder.views.graph import COLD, HOT, learning_graph

    def fills(*norms):
        layers = tuple(LayerInside(norm, None, None) for norm in norms)
        dot = learning_graph(SIGMOID_CHAIN, Snapshot(1, 4, (None,), layers + layers[-1:] * (6 - len(layers)))).source
        return [dot.split(f"L{k} [")[1].split("fillcolor=")[1][:9].strip('"') for k in range(len(norms))]

    cold, hot = "#%02x%02x%02x" % COLD, "#%02x%02x%02x" % HOT
    vanishing = fills(1e-5, 1e-3, 1e-1)
    assert vanishing[0] == cold and vanishing[-1] == hot and vanishing[1] not in (cold, hot)
    assert fills(0.10, 0.12)[0] != cold  # within a decade of the largest: far from the palest
    assert (
        "∇ 1.00e-05"
        in learning_graph(
            SIGMOID_CHAIN, Snapshot(1, 4, (None,), tuple(LayerInside(1e-5, None, None) for _ in range(6)))
        ).source
    )
