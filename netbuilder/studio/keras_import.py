"""A Keras 3 model JSON (`model.to_json()`) as an editable ModelSpec: a Sequential's chain, or a Functional's graph."""

from __future__ import annotations

from collections import Counter

from ..engine.errors import InputDataError, LayerConfigError
from ..engine.graph import Graph
from ..engine.serialization import chain_document, functional_from_json, read_json
from .spec import MAX_MODEL_INPUTS, LayerSpec, ModelSpec, input_id

EDITOR = (
    f"netbuilder's editor holds up to {MAX_MODEL_INPUTS} inputs and layers each called once "
    "(netbuilder.model_from_json reads it whole)"
)


def spec_from_keras_json(text, seed: int = 0) -> ModelSpec:
    """Read the JSON with the engine's bounded parser; layers keep their settings (and the shape they were
    built for), and the Keras arguments netbuilder keeps without applying them (a constraint: training then refuses
    them by name); weights come from `seed`. Nothing is built before the spec's budgets are checked.

    A Functional's layers keep their names, as Keras's model_from_json keeps them (a block's prefix, `conv2_block1_`,
    says where a layer belongs); a Sequential's are named as Keras names them in a fresh session.
    """
    doc = read_json(text)
    if isinstance(doc, dict) and doc.get("class_name") in ("Functional", "Model"):
        return _graph_spec(doc, seed)
    document = chain_document(doc)
    input_shape, layers = document.input_shape, document.layers
    if input_shape is None:
        raise LayerConfigError(
            "the JSON has no input shape (no InputLayer and no build_input_shape); "
            "build the Keras model on an input before calling to_json()"
        )
    specs = tuple(
        LayerSpec.make(
            i,
            layer.kind,
            layer.built_shape[1:] if layer.built_shape is not None else None,
            kept=layer.keras_kept,
            **layer.values,
        )
        for i, layer in enumerate(layers)
    )
    return ModelSpec(input_shape=input_shape, layers=specs, seed=seed).validate()


def _graph_spec(doc: dict, seed: int) -> ModelSpec:
    """A Functional model's calls as a list in the order Keras runs them, each layer taking what its call took; its
    outputs must be the layers no other takes (the editor's outputs)."""
    _, inputs, outputs = functional_from_json(doc)  # rebuilt as Keras rebuilds it: a call that does not fit fails here
    graph = Graph(inputs, outputs)
    if len(graph.inputs) > MAX_MODEL_INPUTS:
        _refuse(f"this Functional model has {len(graph.inputs)} inputs")
    calls = [node for node in graph.nodes if not node.is_input]
    for node in calls:
        if not node.layer.is_layer:
            _refuse(f"{node.layer.name!r} is an operation ({node.layer.kind}), not a layer")
    shared = [name for name, n in Counter(node.layer.name for node in calls).items() if n > 1]
    if shared:
        _refuse(
            f"layer {shared[0][:40]!r} is used several times (a shared layer: one set of weights at several places)"
        )
    made = {id(t): input_id(k) for k, t in enumerate(graph.inputs)} | {id(n.outputs[0]): k for k, n in enumerate(calls)}
    layers = [
        LayerSpec.make(
            k,
            node.layer.kind,
            None,
            tuple(made[id(t)] for t in node.inputs),
            node.layer.name,
            node.layer.keras_kept,
            **node.layer.values,
        )
        for k, node in enumerate(calls)
    ]
    taken = {k for layer in layers for k in layer.inputs}
    for tensor in graph.outputs:
        if made[id(tensor)] in taken:
            _refuse(
                f"its output {tensor.node.layer.name!r} is also taken by another layer (the editor's outputs are "
                "the layers no other takes)"
            )
    first, *more = (tuple(t.shape[1:]) for t in graph.inputs)
    return ModelSpec(first, (), seed, more_inputs=tuple(more)).replace_layers(layers)


def _refuse(why: str):
    raise InputDataError(f"Cannot read this Keras JSON: {why}; {EDITOR}")
