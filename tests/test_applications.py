"""Every keras.applications architecture as Keras 3.15.1 wrote it (tests/data/applications, recorded by make.py there;
the JSON in netbuilder/studio/data/applications):
read by model_from_json with Keras's parameters, layers, output shape, summary text and JSON; and the small models
predicting what Keras predicted, on weights redrawn from the seeds Keras drew them with."""

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import netbuilder as nb
from netbuilder.engine.initializers import get_initializer
from netbuilder.engine.summary import param_totals, summary_text
from netbuilder.studio.presets import application_json

DATA = Path(__file__).parent / "data" / "applications"
MANIFEST = json.loads((DATA / "manifest.json").read_text())
ARCHITECTURES = sorted(
    name for name, entry in MANIFEST.items() if "json_file" in entry and None not in entry["input_shape"]
)
FREE_SIZE = sorted(name for name, entry in MANIFEST.items() if "json_file" in entry and None in entry["input_shape"])
SMALL = sorted(name for name, entry in MANIFEST.items() if "npz_file" in entry)


def difference(ours: str, theirs: str) -> str | None:
    """Where two long texts first differ, in a few words (pytest's own diff of texts this long takes many minutes)."""
    if ours == theirs:
        return None
    at = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
    return f"from character {at:,}: ours {ours[at - 60 : at + 60]!r}, Keras's {theirs[at - 60 : at + 60]!r}"


@pytest.fixture
def wide_terminal(monkeypatch):
    """The terminal the summaries were recorded in (Keras's table is cut at the console's width)."""
    monkeypatch.setenv("COLUMNS", "200")


def test_the_recorded_facts_cover_every_architecture():
    assert len(ARCHITECTURES) == 40 and FREE_SIZE == ["MobileNetV3Large", "MobileNetV3Small"] and len(SMALL) == 5
    assert {MANIFEST[name]["keras_version"] for name in MANIFEST} == {"3.15.1"}


def leaves(model) -> list:
    """Every layer of a model, those of the models inside it too (ConvNeXt nests four Sequentials)."""
    return [leaf for layer in model.layers for leaf in (leaves(layer) if layer.is_model else [layer])]


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_an_architecture_reads_as_keras_built_it(name, wide_terminal):
    facts, text = MANIFEST[name], application_json(name)
    model = nb.model_from_json(text)
    assert model.name == facts["model_name"]
    assert [tuple(model.input_shape[1:]), model.output_shape] == [
        tuple(facts["input_shape"]),
        tuple(facts["output_shape"]),
    ]
    assert len(model.layers) == facts["layers"]
    assert dict(param_totals(model.analysis)) == {
        "Total params": facts["params"],
        "Trainable params": facts["trainable"],
        "Non-trainable params": facts["non_trainable"],
    }
    assert model.count_params() == facts["params"]
    summary = summary_text(model, facts["summary_line_length"])
    assert len(summary.splitlines()) == facts["summary_lines"]
    if "summary_file" in facts:
        assert difference(summary, gzip.decompress((DATA / facts["summary_file"]).read_bytes()).decode()) is None
    assert hashlib.sha256(summary.encode()).hexdigest() == facts["summary_sha256"]
    assert difference(model.to_json(), text) is None  # Keras's text, character for character
    assert not any(layer._drawn for layer in leaves(model))  # shapes, parameters, summary and JSON drew no weight


@pytest.mark.parametrize("name", FREE_SIZE)
def test_an_input_of_free_size_is_refused_with_what_to_do(name):
    with pytest.raises(nb.NetbuilderError, match=r"unknown \(null\) dimension"):
        nb.model_from_json(application_json(name))
    assert MANIFEST[f"{name}.224"]["params"] == MANIFEST[name]["params"]  # the published size reads (above)


def redrawn(entry: dict) -> np.ndarray:
    """A weight as Keras drew it: its initializer, called with the seed Keras gave it."""
    if entry["how"] == "constant":
        return np.full(entry["shape"], entry["constant"], np.float32)
    return get_initializer(entry["initializer"])(tuple(entry["shape"]), entry["seed"] or 0)


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


@pytest.mark.parametrize("name", SMALL)
def test_a_small_model_predicts_as_keras_on_keras_weights(name):
    data = np.load(DATA / MANIFEST[name]["npz_file"], allow_pickle=False)
    model = nb.model_from_json(str(data["json"]))
    entries = json.loads(str(data["weights_json"]))
    weights = [redrawn(entry) for entry in entries]
    assert [hashlib.sha256(w.tobytes()).hexdigest() for w in weights] == [e["sha256"] for e in entries]
    model.set_weights(weights)
    outputs = model.forward(data["x"])  # the inputs, then every call's output in the order the calls run
    by_layer = {node.layer.name: y for node, y in zip(model._calls, outputs[len(model.inputs) :])}
    assert relative_error(outputs[-1], data["y"]) < 1e-4
    names = [str(data["features_layer"]), *(str(n) for n in data["probe_layers"])]
    for name_, want in zip(names, [data["features"], *(data[f"probe_{i}"] for i in range(5))]):
        assert relative_error(by_layer[name_], want) < 1e-3, name_
