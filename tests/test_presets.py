"""studio.presets: hand-computed shapes and params, Keras as the oracle, broken ones repaired by their first fix."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from netbuilder.engine.shapes import format_shape
from netbuilder.studio.explain import variants
from netbuilder.studio.models import built
from netbuilder.studio.run import fed
from netbuilder.studio import data
from netbuilder.engine.errors import InputDataError
from netbuilder.engine.summary import param_totals
from netbuilder.studio.keras_import import spec_from_keras_json
from netbuilder.studio.presets import ARCHITECTURE_KEYS, MENU, PRESETS, Preset, application_json, preset, title
from netbuilder.studio.spec import seed_spec
from spec_oracle import keras_model

FITTING = [name for name, p in PRESETS.items() if not p.broken]
APPLICATIONS = {"keras-mobilenet": "MobileNet", "keras-mobilenetv2": "MobileNetV2"}  # checked against Keras's own
BROKEN = [name for name, p in PRESETS.items() if p.broken]
# Keras's own facts about every keras.applications architecture, recorded by tests/data/applications/make.py
KERAS_FACTS = json.loads((Path(__file__).parent / "data" / "applications" / "manifest.json").read_text())


def x_of(preset: Preset) -> np.ndarray:
    """The preset's input as the app reads it (a nested list, or a fill word such as random:1)."""
    return data.parse_array(preset.input_text, preset.spec.input_shape).array


def test_names_titles_and_order():
    assert list(PRESETS)[:5] == [
        "flatten-after-dense",
        "without-flatten",
        "flatten-first",
        "flatten-10x64",
        "channels-first",
    ]
    assert PRESETS["flatten-after-dense"].title == "Flatten after Dense"
    assert len(BROKEN) >= 2
    assert len({p.title for p in PRESETS.values()}) == len(PRESETS)


def test_the_menu_groups_lessons_puzzles_real_models_and_models_to_train():
    """The menu's order: each group together, in this order (a 22-title list a newcomer can scan)."""

    def group(preset) -> int:
        if preset.training is not None:
            return 3
        if preset.broken or preset.title.startswith("Puzzle"):
            return 1
        real = preset.spec.is_graph or any(
            layer.kind not in ("Dense", "Flatten", "Activation") for layer in preset.spec.layers
        )
        return 2 if real else 0

    groups = [group(p) for p in PRESETS.values()]
    assert groups == sorted(groups) and set(groups) == {0, 1, 2, 3}


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_is_valid_and_its_input_fits_the_input_shape(name):
    preset = PRESETS[name]
    assert preset.spec.validate() is preset.spec
    x = x_of(preset)
    assert x.shape[1:] == preset.spec.input_shape and x.shape[0] >= 1
    assert preset.lesson.strip() and preset.lesson.count(".") <= 3  # one or two sentences, not an essay
    assert (preset.spec.analysis.issue is not None) == preset.broken


def test_seed_preset_is_the_seed_article_model_and_input():
    preset = PRESETS["flatten-after-dense"]
    assert preset.spec == seed_spec()
    assert json.loads(preset.input_text) == [[[1, 2], [3, 4], [5, 6]]]


# hand-computed: Dense params = last axis × units + units
EXPECTED = {
    "flatten-after-dense": ((None, 4), 244, [48, 0, 0, 196]),  # 2·16+16, 48·4+4
    "without-flatten": ((None, 3, 4), 116, [48, 0, 68]),  # 16·4+4 = 68 per row, not 196
    "flatten-first": ((None, 4), 180, [0, 112, 0, 68]),  # 6·16+16 = 112
    "flatten-10x64": ((None, 640), 0, [0]),
    "channels-first": ((None, 24), 0, [0]),
    "flatten-scalar": ((None, 1), 0, [0]),
    "dense-rank-3": ((None, 2, 3, 5), 25, [25]),  # 4·5+5, reused at 2·3 positions
    "train-xor": ((None, 1), 105, [24, 72, 9]),  # 2·8+8, 8·8+8, 8·1+1
    "train-spirals": ((None, 1), 337, [48, 272, 17]),  # 2·16+16, 16·16+16, 16·1+1
    "train-sine": ((None, 1), 49, [32, 17]),  # 1·16+16, 16·1+1
    "train-digits": ((None, 10), 2410, [0, 2080, 330]),  # 64·32+32, 32·10+10
    # 3·3·1·32+32; 3·3·32·64+64; (5·5·64 = 1600)·10+10
    "mnist-convnet": ((None, 10), 34_826, [320, 0, 18_496, 0, 0, 0, 16_010]),
    # 1000·32; 5·32·64+64; 64·1+1
    "text-classifier": ((None, 1), 42_369, [32_000, 10_304, 0, 65]),
    # 3·3·1·16+16; 3·3·16·8+8; 3·3·8·8+8; 3·3·8·16+16; 3·3·16·1+1
    "conv-autoencoder": ((None, 28, 28, 1), 3_217, [160, 0, 1_160, 0, 584, 0, 1_168, 0, 145]),
    # 20·64+64; 4·64 (gamma, beta, moving mean and variance); 64·3+3
    "mlp-batchnorm-dropout": ((None, 3), 1_795, [1_344, 256, 0, 0, 195]),
    # 3·3·1·4+4; 4·10+10 at each of the 6·6 positions; 6·6·10 = 360 values
    "puzzle-dense-on-feature-map": ((None, 360), 90, [40, 50, 0]),
    # 4·(8·32+32·32+32); 4·(32·16+16·16+16); 16·1+1
    "lstm-sequence": ((None, 1), 8_401, [5_248, 3_136, 17]),
    # 3·3·8·16+16 (stride 2); 3·3·16·16+16; the shortcut's 1·1·8·16+16; 16·10+10
    "residual-block": ((None, 10), 3_802, [1_168, 2_320, 144, 0, 0, 0, 170]),
    # 1×1: 8·8+8; 8·4+4 then 3·3·4·8+8; 8·2+2 then 5·5·2·4+4; pooling then 8·4+4 — 8 + 8 + 4 + 4 = 24 channels
    "inception-module": ((None, 16, 16, 24), 662, [72, 36, 296, 18, 204, 0, 36, 0]),
    # 3·3·1·8+8; 3·3·8·16+16; Conv2DTranspose 2·2·8·16+8; the 1×1 on 8 + 8 = 16 channels: 16+1
    "small-unet": ((None, 16, 16, 1), 1_785, [80, 0, 1_168, 520, 0, 17]),
    # query, key, value: 64·(4·16) + 4·16 each; output 4·16·64 + 64; LayerNormalization 2·64; 64·128+128; 128·64+64
    "transformer-encoder": ((None, 20, 64), 33_472, [16_640, 0, 128, 8_320, 8_256, 0, 128]),
    # 8·16+16; 16·3+3; 16·1+1 (the model's last output is the second head's)
    "two-outputs": ((None, 1), 212, [144, 51, 17]),
    # 3·3·1·4+4; the second input's 3·8+8; (144 + 8)·3+3
    "two-inputs": ((None, 3), 531, [40, 0, 32, 0, 459]),
}


@pytest.mark.parametrize("name", [name for name in FITTING if name not in APPLICATIONS])
def test_hand_computed_shapes_and_params(name):
    analysis = PRESETS[name].spec.analysis
    shape, total, per_layer = EXPECTED[name]
    assert analysis.output_shape == shape
    assert analysis.total_params == total
    assert [r.params for r in analysis.layers] == per_layer
    if PRESETS[name].training is None and len(shape) < 3:  # a lesson about shapes states the output shape
        assert format_shape(shape) in PRESETS[name].lesson or format_shape(shape[1:]) in PRESETS[name].lesson


def test_channels_first_output_moves_the_channel_axis_last():
    preset = PRESETS["channels-first"]
    out = built(preset.spec).predict(x_of(preset))
    expected = np.arange(24).reshape(2, 3, 4).transpose(1, 2, 0).ravel()
    np.testing.assert_array_equal(out, expected[None])
    assert out[0, :6].tolist() == [0, 12, 1, 13, 2, 14]  # keras-semantics.md §2, worked example


def test_flatten_10x64_keeps_row_major_order():
    preset = PRESETS["flatten-10x64"]
    np.testing.assert_array_equal(built(preset.spec).predict(x_of(preset)), np.arange(640)[None])


@pytest.mark.parametrize("name", FITTING)
def test_fitting_presets_and_their_variants_match_keras(name):
    preset = PRESETS[name]
    x = x_of(preset)
    for label, spec in variants(preset.spec).items():
        analysis = spec.analysis
        if not analysis.ok or not spec.layers:
            continue  # Keras cannot build a Sequential without layers; netbuilder's is the identity
        model = built(spec)
        km = keras_model(spec)
        outputs = km.output_shape if isinstance(km.output_shape, list) else [km.output_shape]
        assert outputs[-1] == analysis.output_shape, label
        assert km.count_params() == analysis.total_params, label
        keras_names = [layer.name for layer in km.layers if not isinstance(layer, keras.layers.InputLayer)]
        assert sorted(keras_names) == sorted(r.name for r in analysis.layers), label
        km.set_weights(model.get_weights())
        feed = fed(spec, x)  # a model of several inputs gets each further input's random batch
        theirs, ours = km.predict(feed, verbose=0), model.predict(feed)
        for a, b in zip(theirs if isinstance(theirs, list) else [theirs], ours if isinstance(ours, list) else [ours]):
            if {layer.kind for layer in spec.layers} - {"Dense", "Flatten", "Activation"}:  # convolutions, recurrences
                # sum their products in another order (XLA, BLAS), so the last bit may differ
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=label)
            else:
                np.testing.assert_array_equal(a, b, err_msg=label)


@pytest.mark.parametrize("name", BROKEN)
def test_broken_presets_fail_in_keras_too(name):
    preset = PRESETS[name]
    with pytest.raises(ValueError):
        keras_model(preset.spec).predict(x_of(preset), verbose=0)


@pytest.mark.parametrize("name", BROKEN)
def test_broken_presets_are_repaired_by_their_first_fix(name):
    preset = PRESETS[name]
    issue = preset.spec.analysis.issue
    assert issue is not None and issue.category == "shape" and issue.fixes
    fixed = preset.spec.apply_fix(issue.fixes[0])
    assert fixed.analysis.ok
    x = x_of(preset)
    out = built(fixed).predict(x)
    assert out.shape == (x.shape[0], *fixed.analysis.output_shape[1:])
    # and the repaired model is what Keras builds and computes
    km = keras_model(fixed)
    assert km.count_params() == fixed.analysis.total_params
    km.set_weights(built(fixed).get_weights())
    # the real output, not km.output_shape: Keras's symbolic shape ignores glu's halving (a documented deviation)
    if {layer.kind for layer in fixed.layers} - {"Dense", "Flatten", "Activation", "Add", "Concatenate"}:
        np.testing.assert_allclose(km.predict(x, verbose=0), out, rtol=1e-5, atol=1e-6)  # convolutions: another order
    else:
        np.testing.assert_array_equal(km.predict(x, verbose=0), out)


def test_the_classic_48_message():
    issue = PRESETS["broken-built-for-48"].spec.analysis.issue
    assert issue.layer_name == "dense_1" and issue.received == (None, 3, 16)
    assert "expected axis -1 of input shape to have value 48" in issue.keras_message
    assert (issue.fixes[0].action, issue.fixes[0].layer_index, issue.fixes[0].value) == (
        "insert_layer",
        2,
        ("Flatten", {}),
    )


@pytest.mark.parametrize("name", APPLICATIONS)
def test_the_keras_applications_presets_are_keras_own_architectures_at_their_size(name):
    preset = PRESETS[name]
    spec = preset.spec
    keras.backend.clear_session(free_memory=False)
    theirs = getattr(keras.applications, APPLICATIONS[name])(input_shape=spec.input_shape, weights=None)
    analysis = spec.analysis
    assert analysis.ok and analysis.total_params == theirs.count_params()
    assert analysis.output_shape == theirs.output_shape
    shapes = {layer.name: layer.output.shape for layer in theirs.layers[1:]}
    assert {name: report.output_shape for name, report in zip(analysis.names, analysis.layers)} == shapes
    assert spec.weight_shapes() == [w.shape for w in theirs.get_weights()]
    assert "no pretrained" in preset.lesson


@pytest.mark.parametrize("key", ARCHITECTURE_KEYS)
def test_every_architecture_opens_in_the_editor_with_keras_numbers(key):
    """Layers, parameters (trainable and not), input and output as Keras 3.15.1 counted them at the published
    input; the layer names are Keras's own (a block's prefix folds the graph)."""
    facts, chosen = KERAS_FACTS[ARCHITECTURE_KEYS[key]], preset(key)
    spec, analysis = chosen.spec, chosen.spec.analysis
    assert analysis.ok and len(spec.layers) + 1 == facts["layers"]
    assert dict(param_totals(analysis)) == {
        "Total params": facts["params"],
        "Trainable params": facts["trainable"],
        "Non-trainable params": facts["non_trainable"],
    }
    assert [list(spec.input_shape), list(analysis.output_shape)] == [facts["input_shape"], facts["output_shape"]]
    names = [
        layer["config"]["name"] for layer in json.loads(application_json(ARCHITECTURE_KEYS[key]))["config"]["layers"]
    ]
    assert list(analysis.names) == names[1:]
    assert f"{facts['params']:,} parameters" in chosen.lesson and "no pretrained" in chosen.lesson
    assert chosen.title == title(key) and preset(key) is chosen  # read once, then kept


def test_the_menu_holds_every_keras_application_and_says_why_the_others_are_not_there():
    """Every architecture Keras has is in the menu, but ConvNeXt (Sequential models inside it) and MobileNetV3
    (keras.ops calls), which the editor refuses by name (netbuilder.model_from_json reads them:
    tests/test_applications.py)."""
    recorded = {name for name, facts in KERAS_FACTS.items() if "json_file" in facts and "." not in name}
    in_menu = set(ARCHITECTURE_KEYS.values()) | {"MobileNet", "MobileNetV2"}
    refused = recorded - in_menu
    assert len(recorded) == 40 and refused == {f"ConvNeXt{s}" for s in ("Tiny", "Small", "Base", "Large", "XLarge")} | {
        "MobileNetV3Small",
        "MobileNetV3Large",
    }
    for name in sorted(refused):
        text = application_json(f"{name}.224" if name.startswith("MobileNetV3") else name)
        with pytest.raises(InputDataError, match="a whole Sequential model inside|is an operation"):
            spec_from_keras_json(text)
    assert len(MENU) == len(set(MENU)) == len(PRESETS) + len(ARCHITECTURE_KEYS)
    assert MENU.index("keras-mobilenetv2") + 1 == MENU.index("keras-vgg16") and MENU[-1] == list(PRESETS)[-1]
