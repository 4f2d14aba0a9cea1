"""A new layer kind is one class: defined here, registered, and it works end to end with no other module edited.

`Scale(factor, shift)` computes `x * factor + shift` on every value (no weights, shape kept). Registering it
is all it takes for spec validation, share links, our Keras JSON both ways, the graph, the summary, the cost
model and the generated editor widgets of the app to know it.
"""

from __future__ import annotations

import base64
import json
import math
import zlib

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT
import netbuilder as nb
from netbuilder.engine.layer import KINDS, Cost, Layer, register, unregister
from netbuilder.engine.serialization import layers_from_json
from netbuilder.engine.settings import Float, Int
from netbuilder.studio import share
from netbuilder.studio.keras_import import spec_from_keras_json
from netbuilder.studio.models import built
from netbuilder.studio.spec import LayerSpec, ModelSpec, kinds_by_group, new_layer
from netbuilder.views import graph
from netbuilder.views.table import summary_frame


class Scale(Layer):
    """`x * factor + shift` on every value."""

    settings = (
        Float("factor", 2.0, "Every value is multiplied by this.", low=-1000.0, high=1000.0),
        Int("shift", 0, "Then this is added.", low=-100, high=100),
    )
    group = "Core"
    description = "Multiplies every value by a constant and adds another."
    keeps_shape = True

    def cost(self, shape, output_shape) -> Cost:
        return Cost(elementwise=2 * math.prod(shape[1:]))

    def call(self, x):
        return x * np.float32(self.factor) + np.float32(self.shift)

    def label(self) -> str:
        return f"× {self.factor:g} + {self.shift}"


@pytest.fixture
def scale():
    assert "Scale" not in KINDS
    register(Scale)
    try:
        yield Scale
    finally:
        unregister("Scale")
    assert "Scale" not in KINDS


def scale_spec(factor=3.0, shift=1) -> ModelSpec:
    return ModelSpec(
        (3, 2),
        (
            LayerSpec.make(0, "Dense", units=4),
            LayerSpec.make(1, "Scale", factor=factor, shift=shift),
            LayerSpec.make(2, "Flatten"),
            LayerSpec.make(3, "Scale"),
        ),
    ).validate()


def test_registering_makes_it_a_kind_the_add_choice_lists(scale):
    assert KINDS["Scale"] is Scale and Scale.kind == "Scale"
    assert "Scale" in kinds_by_group()["Core"]
    assert new_layer("Scale", 5) == LayerSpec(5, "Scale", (("factor", 2.0), ("shift", 0)))


def test_unknown_without_registration():
    with pytest.raises(nb.LayerConfigError, match="unknown layer kind 'Scale'"):
        LayerSpec.make(0, "Scale")


# --- spec validation --------------------------------------------------------------------------------
def test_spec_validation_uses_its_declared_settings(scale):
    layer = LayerSpec.make(0, "Scale", factor=3, shift=-2)
    assert (layer.factor, layer.shift) == (3.0, -2) and isinstance(layer.factor, float)
    assert layer.label() == "× 3 + -2"
    for settings, error, match in [
        ({"factor": "3"}, nb.LayerConfigError, "factor must be a number in \\[-1000, 1000\\]; received '3'"),
        ({"factor": 1e6}, nb.LayerConfigError, "factor must be a number in \\[-1000, 1000\\]"),
        ({"factor": float("nan")}, nb.LayerConfigError, "factor must be a number"),
        ({"factor": True}, nb.LayerConfigError, "factor must be a number"),
        ({"shift": 1.5}, nb.LayerConfigError, "shift must be an integer from -100 to 100; received 1.5"),
        ({"shift": 101}, nb.LimitError, "shift must be an integer from -100 to 100; received 101"),
        ({"units": 3}, nb.LayerConfigError, "Scale has no setting"),
    ]:
        with pytest.raises(error, match=match):
            LayerSpec.make(0, "Scale", **settings)
    spec = scale_spec()
    with pytest.raises(nb.LayerConfigError):
        spec.update(1, factor="big")
    assert spec.update(1, factor=-0.5).layers[1].factor == -0.5


def test_shapes_params_cost_and_numbers(scale):
    spec = scale_spec()
    analysis = spec.analysis
    assert analysis.ok and analysis.output_shape == (None, 12)
    assert [r.output_shape for r in analysis.layers] == [(None, 3, 4), (None, 3, 4), (None, 12), (None, 12)]
    assert (
        [r.params for r in analysis.layers] == [12, 0, 0, 0]
        and analysis.names[1] == "scale"
        and analysis.names[3] == "scale_1"
    )
    assert analysis.layers[1].cost.elementwise == 24
    x = np.arange(6, dtype=np.float32).reshape(1, 3, 2)
    kernel, bias = built(spec).get_weights()
    expected = ((x @ kernel + bias) * np.float32(3) + np.float32(1)).reshape(1, 12) * np.float32(2)
    np.testing.assert_array_equal(built(spec).predict(x), expected)
    # a setting that does not fit its range in a hand-made spec is refused by validate
    with pytest.raises(nb.NetbuilderError):
        ModelSpec((2,), (LayerSpec(0, "Scale", (("factor", 1e9), ("shift", 0))),)).validate()


# --- share links ----------------------------------------------------------------------------------------
def test_share_link_round_trip(scale):
    spec = scale_spec(factor=-1.25, shift=7)
    assert spec.to_dict()["layers"][1] == {"id": 1, "kind": "Scale", "factor": -1.25, "shift": 7}
    assert spec.to_dict()["layers"][3] == {"id": 3, "kind": "Scale"}  # defaults are left out
    token = share.encode(spec, "[[1, 2], [3, 4], [5, 6]]")
    assert token.startswith("2.") and share.decode(token)[:2] == (spec, "[[1, 2], [3, 4], [5, 6]]")
    # a link's settings are checked by the declarations too
    bad = {"model": {"input_shape": [2], "layers": [{"id": 0, "kind": "Scale", "factor": 5000}]}}
    token = "2." + base64.urlsafe_b64encode(zlib.compress(json.dumps(bad).encode())).rstrip(b"=").decode()
    with pytest.raises(nb.LayerConfigError, match="factor must be a number"):
        share.decode(token)


# --- Keras JSON, written and read by us -------------------------------------------------------------------
def test_keras_json_out_and_back_in(scale):
    spec = scale_spec(factor=0.5, shift=-3)
    model = built(spec)
    doc = json.loads(model.to_json())
    entry = doc["config"]["layers"][2]
    assert (entry["class_name"], entry["module"]) == ("Scale", "keras.layers")
    assert entry["config"]["factor"] == 0.5 and entry["config"]["shift"] == -3 and entry["config"]["name"] == "scale"
    assert entry["build_config"] == {"input_shape": [None, 3, 4]}
    again = nb.model_from_json(model.to_json(), seed=spec.seed)  # Keras itself cannot read an unknown class
    assert [layer.kind for layer in again.layers] == ["Dense", "Scale", "Flatten", "Scale"]
    assert again.output_shape == model.output_shape and again.count_params() == model.count_params()
    assert json.loads(again.to_json()) == doc
    x = np.random.default_rng(0).normal(size=(2, 3, 2)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    # and into the app's spec, as an import
    imported = spec_from_keras_json(model.to_json(), seed=spec.seed)
    assert [layer.values for layer in imported.layers] == [layer.values for layer in spec.layers]
    assert all(layer.built_for is None for layer in imported.layers[1:])  # Scale has no weights to be built for
    # the settings' declarations check what a JSON document holds
    bad = {
        **doc,
        "config": {
            **doc["config"],
            "layers": [doc["config"]["layers"][0], {**entry, "config": {**entry["config"], "shift": 500}}],
        },
    }
    with pytest.raises(nb.LimitError, match="shift must be an integer from -100 to 100; received 500"):
        layers_from_json(json.dumps(bad))


# --- graph and summary -------------------------------------------------------------------------------------
def test_graph_node_and_summary_row(scale):
    spec = scale_spec()
    source = graph.dataflow(spec, selected=1).source
    assert "<b>scale</b><br/>Scale · × 3 + 1" in source and "<b>scale_1</b><br/>Scale · × 2 + 0" in source
    if graph.dot_available():
        nodes = {o["name"]: o for o in json.loads(graph.render(graph.dataflow(spec), "json0"))["objects"]}
        assert nodes["L1"]["label"] == "<b>scale</b><br/>Scale · × 3 + 1"
    lines = []
    built(spec).summary(line_length=80, print_fn=lines.append)
    (text,) = lines
    row = next(line for line in text.splitlines() if "scale (Scale)" in line)
    assert "(None, 3, 4)" in row and row.rstrip("│ ").endswith("0")
    assert "Total params: 12" in text
    frame = summary_frame(spec.analysis)
    assert list(frame["Layer (type)"]) == ["dense (Dense)", "scale (Scale)", "flatten (Flatten)", "scale_1 (Scale)"]


# --- the app's generated editor widgets ---------------------------------------------------------------------
def test_the_app_adds_it_and_edits_its_settings_with_generated_widgets(scale):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    before = at.session_state.history.present
    assert "Core · Scale" in at.selectbox(key="add_kind").options
    at.selectbox(key="add_kind").set_value("Scale")
    at.selectbox(key="add_where").set_value("at the end")
    at.button(key="add").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any(
        scale.description in c.value for c in at.caption
    )  # the chosen kind's one-line help, from its declaration
    spec = at.session_state.history.present
    assert [layer.kind for layer in spec.layers] == [layer.kind for layer in before.layers] + ["Scale"]
    new = spec.layers[-1]
    assert new.values == {"factor": 2.0, "shift": 0}

    at.radio(key="selected").set_value(new.id).run()
    assert not at.exception, [e.message for e in at.exception]
    factor, shift = at.number_input(key=f"factor_{new.id}"), at.number_input(key=f"shift_{new.id}")
    assert (factor.value, shift.value) == (2.0, 0) and factor.label == "factor"
    assert "Every value is multiplied by this." in factor.help and "[-1000, 1000]" in factor.help

    factor.set_value(-4.5).run()
    assert not at.exception, [e.message for e in at.exception]
    at.number_input(key=f"shift_{new.id}").set_value(9).run()
    spec = at.session_state.history.present
    assert spec.layers[-1].values == {"factor": -4.5, "shift": 9}
    assert "Scale · × -4.5 + 9" in at.get("graphviz_chart")[0].proto.spec  # the graph redrawn with the new label

    # a value its declaration refuses is explained beside the editor, and the model is kept
    at.number_input(key=f"shift_{new.id}").set_value(1000).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state.history.present == spec
    assert any("shift must be an integer from -100 to 100" in e.value for e in at.error)
    assert at.number_input(key=f"shift_{new.id}").value == 9  # the widget shows the model's value again
