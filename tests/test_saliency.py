"""Saliency (studio.run.saliency): the gradient of a chosen output unit with respect to one sample's input, in inference
mode, equals jax.grad of Keras's own model(x, training=False) on its JAX backend — Dropout acting as inference has it
(the identity) — and a model it cannot be computed for is said in words. The Keras side runs this file as a script
with KERAS_BACKEND=jax (a backend is fixed per process)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from conftest import ROOT
from netbuilder.studio.models import fresh
from netbuilder.studio.run import NoRun, saliency
from netbuilder.studio.spec import LayerSpec, ModelSpec
from netbuilder.views.heatmap import CUT

CONVNET = ModelSpec(
    (8, 8, 1),
    (
        LayerSpec.make(0, "Conv2D", filters=4, kernel_size=3, activation="relu"),
        LayerSpec.make(1, "Dropout", rate=0.5),
        LayerSpec.make(2, "Flatten"),
        LayerSpec.make(3, "Dense", units=10, activation="softmax"),
    ),
    7,
)
UNITS = (3, 8)


def _keras(x: np.ndarray) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        np.savez(folder / "in.npz", x, *fresh(CONVNET).get_weights())
        (folder / "model.json").write_text(fresh(CONVNET).to_json())
        env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, __file__, str(folder)], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return np.load(folder / "out.npy")


def _keras_side(folder: Path) -> None:
    import jax
    import keras

    arrays = np.load(folder / "in.npz")
    model = keras.models.model_from_json((folder / "model.json").read_text())
    model.set_weights([arrays[f"arr_{i + 1}"] for i in range(len(model.weights))])
    x = arrays["arr_0"]
    grads = [jax.grad(lambda v, k=k: model(v, training=False)[0, k])(x[1:2])[0] for k in UNITS]
    np.save(folder / "out.npy", np.stack([np.asarray(g) for g in grads]))


def test_saliency_is_the_gradient_keras_on_jax_gives_in_inference_mode():
    x = np.random.default_rng(2).normal(size=(3, 8, 8, 1)).astype(np.float32)
    expected = _keras(x)
    for k, keras_grad in zip(UNITS, expected, strict=True):
        ours = saliency(CONVNET, x, 1, k, CUT)
        assert ours.shape == (1, 8, 8, 1)
        np.testing.assert_allclose(ours.image, keras_grad, rtol=1e-4, atol=1e-7)
    assert np.abs(expected).max() > 1e-3  # the case moves its outputs


def test_a_model_saliency_cannot_be_computed_for_is_said_in_words():
    x = np.zeros((1, 8, 8, 1), np.float32)
    layers = (CONVNET.layers[0], LayerSpec.make(9, "BatchNormalization"), *CONVNET.layers[1:])
    normed = ModelSpec(CONVNET.input_shape, layers, 7)
    said = saliency(normed, x, 0, 0, CUT)
    assert isinstance(said, NoRun) and "BatchNormalization" in said.reason
    said = saliency(CONVNET, x, 0, 10, CUT)
    assert isinstance(said, NoRun) and "units 0 to 9" in said.reason


if __name__ == "__main__":
    _keras_side(Path(sys.argv[1]))
