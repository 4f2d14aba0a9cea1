"""The editable description of a model (what the app keeps in session state): plain data, edits, checks.

A ModelSpec is immutable; every edit returns a new one, so undo is keeping old ones. It holds no
weights: `analysis` reads shapes only, and `studio.models.built(spec)` makes the weights from the
seed when a model is shown. Layers carry stable ids for widget keys. A LayerSpec is generic — its
kind's settings, checked by the kind's own declarations — so no kind is spelled out here.

A model is a graph written as a list: each layer takes the output of the layer before it (a chain, Keras's
Sequential), unless it names its `inputs` (layer ids, or `input_id(k)` for the model's input k: INPUT_ID for the
first), which must come before it in the list. Every layer no other layer takes is an output of the model (Keras's
functional API); a model may have several inputs (Keras's input_layer, input_layer_1, ...).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from ..engine.analysis import Analysis, analyze, analyze_calls
from ..engine.budget import current, over
from ..engine.errors import Fix, LayerConfigError, LimitError, issue_error
from ..engine.graph import input_name
from ..engine.initializers import check_seed
from ..engine.layer import GROUPS, KINDS, Layer, check_name, kind_class, snake_case
from ..engine.limits import MAX_LAYERS
from ..engine.shapes import check_input_shape, format_shape

MAX_LAYER_ID = 10**6
INPUT_ID = -1  # in a layer's `inputs`: the model's (first) input; input k is input_id(k)
MAX_INPUTS = 64  # tensors one layer may take (a Concatenate of many branches)
MAX_MODEL_INPUTS = 16  # Input layers of one model
MAX_KEPT_CHARS = 2_000  # JSON of the Keras arguments one layer keeps without applying them


def input_id(k: int) -> int:
    """The id a layer's `inputs` names the model's input `k` by (0: INPUT_ID); its position in `sources` too."""
    return -1 - k


@dataclass(frozen=True)
class LayerSpec:
    """One layer: a stable id, its kind (Keras class name), every setting of that kind, and the
    per-sample input shape its weights were made for when it came built (imported JSON), else None."""

    id: int
    kind: str
    settings: tuple[tuple[str, object], ...] = ()  # (name, canonical value) in the kind's declared order
    built_for: tuple[int, ...] | None = None
    inputs: tuple[int, ...] | None = None  # ids of the layers it takes (INPUT_ID: the model's); None: the one before
    name: str | None = None  # its Keras name when given (an imported model's); None: named as Keras names it
    # Keras arguments an imported JSON set that netbuilder keeps without applying them (a constraint, a regularizer it
    # does not apply): (key, its value as JSON text), written back in JSON; training refuses them by name
    kept: tuple[tuple[str, str], ...] = ()

    @classmethod
    def make(
        cls, layer_id: int, kind: str, /, built_for=None, inputs=None, name=None, kept=(), **settings
    ) -> LayerSpec:
        """A checked layer: `settings` over the kind's defaults, every value in canonical form."""
        if not _is_id(layer_id):
            raise LayerConfigError(f"layer id must be an integer from 0 to {MAX_LAYER_ID - 1}")
        if inputs is not None:
            inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else ()
            if not 1 <= len(inputs) <= MAX_INPUTS or not all(_is_input(k) or _is_id(k) for k in inputs):
                raise LayerConfigError(
                    f"a layer's inputs are 1 to {MAX_INPUTS} layer ids (integers from 0 to {MAX_LAYER_ID - 1}), or "
                    f"{INPUT_ID} to {input_id(MAX_MODEL_INPUTS - 1)} for the model's inputs"
                )
        declared = kind_class(kind).settings
        unknown = set(settings) - {s.name for s in declared}
        if unknown:
            raise LayerConfigError(
                f"{kind} has no setting(s) {', '.join(sorted(map(str, unknown)))[:80]}; it has "
                f"{', '.join(s.name for s in declared) or 'none'}"
            )
        # each setting checked once, by its declaration (a required one starts at the kind's example), then across them
        layer = kind_class(kind)(**{s.name: settings.get(s.name, s.default) for s in declared}, name=check_name(name))
        if built_for is not None:
            built_for = check_input_shape(built_for)
            layer.built_shape = (None, *built_for)
        kept = _checked_kept(kind, kept)
        layer.keras_kept = {key: json.loads(text) for key, text in kept}
        spec = cls(layer_id, kind, tuple(layer.values.items()), built_for, inputs, name, kept)
        spec.__dict__["layer"] = layer  # the layer it was checked as, kept (an immutable spec describes it for good)
        return spec

    def remade(self, **changes) -> LayerSpec:
        """This layer made (and checked) again with `changes` to its id (`layer_id`), inputs, name or settings."""
        fields = {"layer_id": self.id, "built_for": self.built_for, "inputs": self.inputs, "name": self.name}
        settings = dict(self.values)
        for key, value in changes.items():
            (fields if key in fields else settings)[key] = value
        return LayerSpec.make(fields.pop("layer_id"), self.kind, **fields, kept=self.kept, **settings)

    @property
    def values(self) -> dict:
        return dict(self.settings)

    def __getattr__(self, name):
        """A setting by name: `layer.units`."""
        for key, value in self.__dict__.get("settings", ()):
            if key == name:
                return value
        raise AttributeError(name)

    def with_settings(self, **changes) -> LayerSpec:
        reserved = set(changes) & {"id", "layer_id", "kind", "built_for", "inputs", "name", "kept"}
        if reserved:
            raise LayerConfigError(
                f"{', '.join(sorted(reserved))} is not a setting of a layer (a kind's settings are "
                f"{', '.join(s.name for s in kind_class(self.kind).settings) or 'none'})"
            )
        return self.remade(**changes)

    @cached_property
    def layer(self) -> Layer:
        """The engine layer this spec describes, for its shapes and words; never built (a model builds its own)."""
        return self.to_layer()

    @property
    def checked(self) -> bool:
        """Whether it came through `make`, which checked every setting."""
        return "layer" in self.__dict__

    def to_layer(self) -> Layer:
        """A new unbuilt engine layer (weights are made only when a model is built)."""
        layer = kind_class(self.kind)(**self.values, name=self.name)
        if self.built_for is not None:
            layer.built_shape = (None, *self.built_for)
        layer.keras_kept = {key: json.loads(text) for key, text in self.kept}
        return layer

    def label(self) -> str:
        return self._label

    @cached_property
    def _label(self) -> str:  # the graph asks on every page run: made once per (immutable) layer
        return self.layer.label()

    # --- plain data (share links) ---------------------------------------------------------------
    def to_dict(self) -> dict:
        """id, kind, the settings that differ from the kind's defaults, and built_for, inputs and name when set."""
        out = {"id": self.id, "kind": self.kind}
        for setting in kind_class(self.kind).settings:
            value = self.values[setting.name]
            if value != setting.default:
                out[setting.name] = setting.to_json(value)
        if self.built_for is not None:
            out["built_for"] = list(self.built_for)
        if self.inputs is not None:
            out["inputs"] = list(self.inputs)
        if self.name is not None:
            out["name"] = self.name
        if self.kept:
            out["keras_kept"] = {key: json.loads(text) for key, text in self.kept}
        return out

    @classmethod
    def from_dict(cls, data) -> LayerSpec:
        if not isinstance(data, dict) or "id" not in data or "kind" not in data:
            raise LayerConfigError("each layer needs an id and a kind")
        cls_ = kind_class(data["kind"])
        declared = {s.name: s for s in cls_.settings}
        rest = {k: v for k, v in data.items() if k not in ("id", "kind", "built_for", "inputs", "name", "keras_kept")}
        unknown = set(rest) - set(declared)
        if unknown:
            raise LayerConfigError(f"{data['kind']} has no setting(s) {', '.join(sorted(map(str, unknown)))[:80]}")
        settings = {k: declared[k].from_json(v) for k, v in rest.items()}
        built = data.get("built_for")
        if built is not None and not isinstance(built, list):
            raise LayerConfigError("built_for must be a list of positive integers")
        inputs = data.get("inputs")
        if inputs is not None and not isinstance(inputs, list):
            raise LayerConfigError("a layer's inputs must be a list of layer ids")
        return cls.make(
            data["id"], data["kind"], built, inputs, data.get("name"), data.get("keras_kept", ()), **settings
        )


def _checked_kept(kind: str, kept) -> tuple[tuple[str, str], ...]:
    """Keras arguments kept without being applied, checked as a visitor's data (a share link holds them): keys Keras's
    config of `kind` has, each value plain JSON, all of them at most MAX_KEPT_CHARS of text."""
    if not kept:
        return ()
    if not isinstance(kept, (dict, tuple)):
        raise LayerConfigError("keras_kept must be an object of Keras arguments")
    allowed = {"activity_regularizer", *kind_class(kind).keras_extra_config}
    items = kept.items() if isinstance(kept, dict) else kept
    out = []
    for key, value in items:
        if key not in allowed:
            raise LayerConfigError(f"{kind} has no Keras argument {str(key)[:40]!r} to keep")
        try:
            text = value if isinstance(kept, tuple) and isinstance(value, str) else json.dumps(value, sort_keys=True)
        except (TypeError, ValueError, RecursionError):
            raise LayerConfigError(
                f"{kind}'s kept {str(key)[:40]} must be plain JSON, nested a few levels at most"
            ) from None
        out.append((key, text))
    if sum(len(text) for _, text in out) > MAX_KEPT_CHARS:
        raise LayerConfigError(f"a layer's kept Keras arguments are at most {MAX_KEPT_CHARS:,} characters of JSON")
    return tuple(out)


def _is_id(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 0 <= value < MAX_LAYER_ID


def _is_input(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and input_id(MAX_MODEL_INPUTS - 1) <= value < 0


def new_layer(kind: str, layer_id: int) -> LayerSpec:
    """A layer of `kind` with its declared defaults (what a learner would pick first)."""
    return LayerSpec.make(layer_id, kind)


@dataclass(frozen=True, eq=False)
class Weights:
    """Trained weights in get_weights order: read-only float32 arrays, compared by their content."""

    arrays: tuple[np.ndarray, ...]
    digest: str

    @classmethod
    def of(cls, arrays) -> Weights:
        """Frozen float32 copies of `arrays`; every path to a trained spec comes here, so here they must be finite."""
        frozen = []
        digest = hashlib.sha256()
        for a in arrays:
            with np.errstate(over="ignore"):  # a number too large for float32 becomes inf, refused below
                a = np.array(a, dtype=np.float32)
            a.flags.writeable = False
            digest.update(repr(a.shape).encode())
            digest.update(a.tobytes())
            frozen.append(a)
        bad = sum(int(a.size - np.count_nonzero(np.isfinite(a))) for a in frozen)
        if bad:  # a link or a diverged run could carry them; every later output would be NaN
            total = sum(a.size for a in frozen)
            raise LayerConfigError(f"trained weights must be finite numbers; {bad:,} of {total:,} are NaN or infinite.")
        return cls(tuple(frozen), digest.hexdigest())

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)

    def __eq__(self, other) -> bool:
        return isinstance(other, Weights) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)


@dataclass(frozen=True)
class ModelSpec:
    """Input shape (batch axis excluded), layers in order, the weight seed, trained weights (None: from the seed),
    and the shapes of the model's further inputs (input_layer_1, ...), if it has several."""

    input_shape: tuple[int, ...] = (3, 2)
    layers: tuple[LayerSpec, ...] = ()
    seed: int = 0
    weights: Weights | None = None
    more_inputs: tuple[tuple[int, ...], ...] = ()

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Every input's shape per sample, in order (input_id(k) takes input k)."""
        return (self.input_shape, *self.more_inputs)

    # --- shapes, from settings alone ------------------------------------------------------------
    def layer_objects(self) -> list[Layer]:
        """New engine layers to build a model from."""
        return [layer.to_layer() for layer in self.layers]

    @cached_property
    def analysis(self) -> Analysis:
        """Shapes, params, cost and the first problem; never raises for a spec that passed validate()."""
        if self.is_graph:
            return analyze_calls(self.layer_objects(), self.input_shapes, self.sources)
        return analyze([layer.layer for layer in self.layers], self.input_shape, MAX_LAYERS)

    def in_list_order(self, outputs: list) -> list:
        """The layers' outputs of a forward pass (a graph runs in Keras's order) in the list's order."""
        order = self.analysis.run_order
        return list(outputs) if order is None else [outputs[order.index(k)] for k in range(len(outputs))]

    # --- the graph ------------------------------------------------------------------------------
    @property
    def is_graph(self) -> bool:
        """Whether some layer takes another tensor than the one before it, or there are several inputs (Keras's
        functional API, not Sequential)."""
        return bool(self.more_inputs) or any(layer.inputs is not None for layer in self.layers)

    @cached_property
    def sources(self) -> list[tuple[int, ...]]:
        """For each layer, the positions of the layers it takes (input_id(k): the model's input k); LayerConfigError
        for an input that is not before it in the list, or a count its kind does not take."""
        at = {layer.id: i for i, layer in enumerate(self.layers)}
        found = []
        for i, layer in enumerate(self.layers):
            if layer.inputs is None:
                found.append((i - 1,))
                continue
            missing = [k for k in layer.inputs if k < 0 and -1 - k >= len(self.input_shapes)]
            if missing:
                raise LayerConfigError(
                    f"layer {i + 1} ({layer.kind}) takes {input_name(-1 - missing[0])}, but the model has "
                    f"{len(self.input_shapes)} input{'s' if len(self.input_shapes) > 1 else ''}"
                )
            source = tuple(k if k < 0 else at.get(k, len(self.layers)) for k in layer.inputs)
            late = [k for k in source if k >= i]
            if late:
                what = f"layer {late[0] + 1}" if late[0] < len(self.layers) else "a layer this model does not have"
                raise LayerConfigError(
                    f"layer {i + 1} ({layer.kind}) takes the output of {what}; a layer can only take the input or "
                    "the output of a layer before it in the list"
                )
            cls = kind_class(layer.kind)
            most = 3 if cls.separate_arguments else MAX_INPUTS if cls.takes_list else 1
            if len(source) > most:
                raise LayerConfigError(
                    f"layer {i + 1} ({layer.kind}) takes at most {most} tensor{'s' if most > 1 else ''}; it was given "
                    f"{len(source)} (merge layers such as Add or Concatenate take several)"
                )
            found.append(source)
        return found

    @property
    def output_positions(self) -> list[int]:
        """The layers no other layer takes, in list order: the model's outputs."""
        taken = {k for source in self.sources for k in source}
        return [i for i in range(len(self.layers)) if i not in taken]

    @property
    def breadth(self) -> int:
        """The most layers side by side: at one distance (the longest path) from the inputs; 1 for a chain."""
        depth = dict.fromkeys(range(-len(self.input_shapes), 0), 0)
        for i, source in enumerate(self.sources):
            depth[i] = 1 + max(depth[k] for k in source)
        return max(Counter(d for i, d in depth.items() if i >= 0).values(), default=0)

    def takeable(self, i: int) -> list[int]:
        """The ids of the tensors a layer at position `i` may take: every input, then the layers before it."""
        return [*map(input_id, range(len(self.input_shapes))), *(layer.id for layer in self.layers[:i])]

    def input_ids(self, i: int) -> tuple[int, ...]:
        """The ids of what layer `i` takes (input_id(k): the model's input k)."""
        return tuple(k if k < 0 else self.layers[k].id for k in self.sources[i])

    @property
    def names(self) -> tuple[str, ...]:
        return self.analysis.names

    def validate(self) -> ModelSpec:
        """Raise a NetbuilderError if a setting is invalid or a structural bound is exceeded (shape mismatches are
        allowed). The run budgets are not checked: shapes are arithmetic, so the editor holds ResNet152 as it holds
        a 3-layer MLP; building or running a model over the current budget is refused by the engine before anything
        is allocated (ModelCost.budget_problem says why beforehand)."""
        if len(self.input_shapes) > MAX_MODEL_INPUTS:
            raise LimitError(f"a model has at most {MAX_MODEL_INPUTS} inputs; this one has {len(self.input_shapes)}")
        for shape in self.input_shapes:
            check_input_shape(shape)
            if over(elements := math.prod(shape), bound := current().data_elements):  # its data could never be made
                raise LimitError(
                    f"input shape {format_shape(shape)} has {elements:,} elements per sample; at most "
                    f"{bound:,} are allowed"
                )
        check_seed(self.seed)
        if len(self.layers) > MAX_LAYERS:
            raise LimitError(f"a model holds at most {MAX_LAYERS} layers; this one would have {len(self.layers)}")
        ids = [layer.id for layer in self.layers]
        if len(set(ids)) != len(ids):
            raise LayerConfigError("layer ids must be unique")
        self.sources  # every layer's inputs come before it, as many as its kind takes
        for layer in (layer for layer in self.layers if not layer.checked):  # a spec may be built by hand
            canonical = layer.remade()
            # compared as plain data: after a live code update, a session holds objects of the old class
            if (canonical.settings, canonical.built_for, canonical.inputs, canonical.name) != (
                layer.settings,
                layer.built_for,
                layer.inputs,
                layer.name,
            ):
                raise LayerConfigError(f"layer {layer.id} holds a setting that is not in its canonical form")
        issue = self.analysis.issue
        if issue is not None and issue.category == "limit":
            raise issue_error(issue)
        if self.weights is not None:
            shapes = self.weight_shapes()
            if shapes is None or [a.shape for a in self.weights.arrays] != shapes:
                raise LayerConfigError(f"the trained weights do not fit this model: it needs arrays of shapes {shapes}")
        return self

    def weight_shapes(self) -> list[tuple[int, ...]] | None:
        """The shapes of the model's weights in get_weights order, from shapes alone (None when it does not fit)."""
        if not self.analysis.ok:
            return None
        order = self.analysis.keras_order or range(len(self.layers))  # a graph's weights go in Keras's layer order
        return [
            w.shape
            for k in order
            for w in self.layers[k].layer.weight_specs(
                self.layers[k].layer.built_shape or self.analysis.layers[k].input_shape
            )
        ]

    def with_weights(self, arrays) -> ModelSpec:
        """This model with trained weights (in get_weights order) instead of the seed's."""
        return replace(self, weights=Weights.of(arrays)).validate()

    @property
    def trained(self) -> bool:
        return self.weights is not None

    # --- plain data (share links, undo history) -------------------------------------------------
    def to_dict(self) -> dict:
        """Plain data; `more_inputs` only when there are several inputs (a one-input model reads as it always did)."""
        more = {"more_inputs": [list(shape) for shape in self.more_inputs]} if self.more_inputs else {}
        return {
            "input_shape": list(self.input_shape),
            **more,
            "seed": self.seed,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, data) -> ModelSpec:
        """A validated spec from plain data (e.g. a decoded share link); NetbuilderError otherwise."""
        if not isinstance(data, dict) or not set(data) <= {"input_shape", "more_inputs", "seed", "layers"}:
            raise LayerConfigError("a model must be an object with input_shape, seed and layers (and more_inputs)")
        raw_layers = data.get("layers", [])
        if not isinstance(raw_layers, list):
            raise LayerConfigError("layers must be a list")
        if len(raw_layers) > MAX_LAYERS:
            raise LimitError(f"a model holds at most {MAX_LAYERS} layers; this one has {len(raw_layers):,}")
        shape = data.get("input_shape", [])
        if not isinstance(shape, list):
            raise LayerConfigError("input_shape must be a list of positive integers")
        more = data.get("more_inputs", [])
        if not isinstance(more, list) or len(more) >= MAX_MODEL_INPUTS or not all(isinstance(m, list) for m in more):
            raise LayerConfigError(f"more_inputs must be a list of at most {MAX_MODEL_INPUTS - 1} input shapes")
        layers = tuple(LayerSpec.from_dict(raw) for raw in raw_layers)
        return cls(
            input_shape=check_input_shape(shape),
            layers=layers,
            seed=check_seed(data.get("seed", 0)),
            more_inputs=tuple(check_input_shape(m) for m in more),
        ).validate()

    # --- edits: each returns a new, validated spec ----------------------------------------------
    def _with(self, **changes) -> ModelSpec:
        """An edited spec; trained weights belong to the model as it was, so an edit starts from the seed's again.
        A layer whose inputs name just the layer before it takes it as a chain does (inputs None)."""
        if "layers" in changes:
            changes["layers"] = _named_apart(_as_chain_where_it_is(changes["layers"]))
        return replace(self, weights=None, **changes).validate()

    def next_id(self) -> int:
        return self.new_ids(1)[0]

    def new_ids(self, count: int) -> list[int]:
        """`count` ids no layer has: after the largest, or (a link may hold ids up to MAX_LAYER_ID - 1) the smallest
        free ones."""
        taken = {layer.id for layer in self.layers}
        first = max(taken, default=-1) + 1
        if first + count <= MAX_LAYER_ID:
            return list(range(first, first + count))
        return [i for i in range(len(taken) + count) if i not in taken][:count]

    def index_of(self, layer_id: int) -> int:
        for i, layer in enumerate(self.layers):
            if layer.id == layer_id:
                return i
        raise LayerConfigError(f"no layer with id {str(layer_id)[:20]}")

    def add(self, kind: str, index: int | None = None, count: int = 1, **settings) -> ModelSpec:
        """Insert `count` new `kind` layers at `index` (None: at the end)."""
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_LAYERS:
            raise LayerConfigError(f"count must be an integer from 1 to {MAX_LAYERS}")
        layers = list(self.layers)
        index = len(layers) if index is None else max(0, min(int(index), len(layers)))
        layers[index:index] = [LayerSpec.make(i, kind, **settings) for i in self.new_ids(count)]
        return self._with(layers=tuple(layers))

    def remove(self, layer_id: int) -> ModelSpec:
        """The model without a layer; what took its output takes what it took (its first input)."""
        i = self.index_of(layer_id)
        taken = self.input_ids(i)[0]
        layers = list(self.layers)
        if i + 1 < len(layers) and layers[i + 1].inputs is None and self.layers[i].inputs is not None:
            layers[i + 1] = replace(layers[i + 1], inputs=(layer_id,))  # it took the removed one: rewired below
        layers = [_rewired(layer, layer_id, (taken,)) for layer in layers]
        del layers[i]
        return self._with(layers=tuple(layers))

    def move(self, layer_id: int, delta: int) -> ModelSpec:
        layers = list(self.layers)
        i = self.index_of(layer_id)
        j = max(0, min(i + delta, len(layers) - 1))
        layers.insert(j, layers.pop(i))
        return self._with(layers=tuple(layers))

    def duplicate(self, layer_id: int, count: int = 1) -> ModelSpec:
        """`count` copies of a layer right after it."""
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_LAYERS:
            raise LayerConfigError(f"count must be an integer from 1 to {MAX_LAYERS}")
        i = self.index_of(layer_id)
        copies = [replace(self.layers[i], id=new, inputs=None, name=None) for new in self.new_ids(count)]
        return self._with(layers=self.layers[: i + 1] + tuple(copies) + self.layers[i + 1 :])

    def update(self, layer_id: int, /, **changes) -> ModelSpec:
        """Change settings of one layer; invalid values raise and leave this spec as it was."""
        i = self.index_of(layer_id)
        layer = self.layers[i].with_settings(**changes)
        return self._with(layers=self.layers[:i] + (layer,) + self.layers[i + 1 :])

    def rename(self, layer_id: int, name: str | None) -> ModelSpec:
        """Give a layer a Keras name of its own (None or blank: named as Keras names it); a name another layer has is
        refused, as Keras refuses it."""
        i = self.index_of(layer_id)
        name = name.strip() or None if isinstance(name, str) else name
        clash = [k for k, other in enumerate(self.names) if other == name and k != i]
        if clash:
            raise LayerConfigError(
                f"layer {clash[0] + 1} is already named {name!r}; Keras needs a name for each layer of its own"
            )
        old = self.layers[i]
        layer = old.remade(name=name)
        return self._with(layers=self.layers[:i] + (layer,) + self.layers[i + 1 :])

    def replace_layers(self, layers) -> ModelSpec:
        """All layers at once (a pasted list); ids are given afresh (inputs follow them)."""
        new = {layer.id: k for k, layer in enumerate(layers)} | {
            input_id(k): input_id(k) for k in range(MAX_MODEL_INPUTS)
        }
        return self._with(
            layers=tuple(
                replace(
                    layer,
                    id=k,
                    inputs=None if layer.inputs is None else tuple(new.get(i, MAX_LAYER_ID) for i in layer.inputs),
                )
                for k, layer in enumerate(layers)
            )
        )

    def set_inputs(self, layer_id: int, inputs) -> ModelSpec:
        """What one layer takes: ids of layers before it (input_id(k): the model's input k)."""
        i = self.index_of(layer_id)
        old = self.layers[i]
        layer = old.remade(inputs=tuple(inputs))
        return self._with(layers=self.layers[:i] + (layer,) + self.layers[i + 1 :])

    def branch(self, layer_id: int, kind: str, **settings) -> ModelSpec:
        """A new `kind` layer at the end taking the output of `layer_id` (input_id(k): input k): a second path."""
        return self._with(layers=self.layers + (LayerSpec.make(self.next_id(), kind, inputs=(layer_id,), **settings),))

    def merge(self, layer_ids, kind: str = "Add", **settings) -> ModelSpec:
        """A new merge layer at the end taking the outputs of `layer_ids`."""
        return self._with(
            layers=self.layers + (LayerSpec.make(self.next_id(), kind, inputs=tuple(layer_ids), **settings),)
        )

    def residual(self, layer_id: int, width: int | None = None, downsample: bool = False) -> ModelSpec:
        """A residual block after `layer_id` (input_id(k): input k): two layers (3×3 convolutions on images, Dense
        otherwise) added to a shortcut — projected by a 1×1 Conv2D or a Dense when the width or the stride changes
        the shape — then relu; what took `layer_id`'s output takes the block's."""
        at = -1 if layer_id < 0 else self.index_of(layer_id)
        reports = self.analysis.layers
        if at >= 0 and (at >= len(reports) or reports[at].output_shape is None):
            raise LayerConfigError("a residual block goes after a layer whose output shape is known (one that fits)")
        shape = self.input_shapes[-1 - layer_id] if at < 0 else reports[at].output_shape[1:]  # per sample
        if not shape:
            raise LayerConfigError("a residual block needs a feature axis to add on; one number per sample has none")
        images = len(shape) == 3
        width = shape[-1] if width is None else width
        strides = 2 if downsample and images else 1
        a, b, projection, add, relu = self.new_ids(5)
        if images:
            block = [
                LayerSpec.make(
                    a, "Conv2D", filters=width, kernel_size=3, strides=strides, padding="same", activation="relu"
                ),
                LayerSpec.make(b, "Conv2D", filters=width, kernel_size=3, padding="same"),
            ]
            project = LayerSpec.make(
                projection, "Conv2D", inputs=(layer_id,), filters=width, kernel_size=1, strides=strides
            )
        else:
            block = [
                LayerSpec.make(a, "Dense", units=width, activation="relu"),
                LayerSpec.make(b, "Dense", units=width),
            ]
            project = LayerSpec.make(projection, "Dense", inputs=(layer_id,), units=width)
        needs_projection = width != shape[-1] or strides != 1
        shortcut = projection if needs_projection else layer_id
        block += [
            *([project] if needs_projection else []),
            LayerSpec.make(add, "Add", inputs=(b, shortcut)),
            LayerSpec.make(relu, "Activation", activation="relu"),
        ]
        after = [_rewired(layer, layer_id, (relu,)) for layer in self.layers[at + 1 :]]
        return self._with(layers=self.layers[: at + 1] + tuple(block) + tuple(after))

    def clear(self) -> ModelSpec:
        return self._with(layers=())

    def with_input_shape(self, shape, k: int = 0) -> ModelSpec:
        """Input `k` of shape `shape`."""
        shape = check_input_shape(shape)
        if k == 0:
            return self._with(input_shape=shape)
        more = list(self.more_inputs)
        more[k - 1] = shape
        return self._with(more_inputs=tuple(more))

    def add_input(self, shape) -> ModelSpec:
        """One more model input (Keras's input_layer_1, ...), taken by no layer yet: Keras keeps such an input."""
        return self._with(more_inputs=(*self.more_inputs, check_input_shape(shape)))

    def remove_input(self, k: int) -> ModelSpec:
        """The model without its input `k` (not the first); what took it takes the first input, later inputs move up."""
        if not 1 <= k < len(self.input_shapes):
            raise LayerConfigError(f"there is no input {k + 1} to remove (the first input stays)")

        def moved(i: int) -> int:
            return INPUT_ID if i == input_id(k) else i + 1 if i < input_id(k) else i

        layers = tuple(
            layer if layer.inputs is None else replace(layer, inputs=tuple(moved(i) for i in layer.inputs))
            for layer in self.layers
        )
        return self._with(layers=layers, more_inputs=self.more_inputs[: k - 1] + self.more_inputs[k:])

    def with_seed(self, seed) -> ModelSpec:
        return self._with(seed=check_seed(seed))

    def apply_fix(self, fix: Fix) -> ModelSpec:
        """Carry out a Fix suggested by the analysis (indices refer to this spec's layers)."""
        if fix.action == "insert_layer":
            kind, settings = fix.value
            return self.add(kind, fix.layer_index, **settings)
        if fix.action == "set_setting":
            setting, value = fix.value
            return self.update(self.layers[fix.layer_index].id, **{setting: value})
        if fix.action == "unbuild":
            layers = list(self.layers)
            layers[fix.layer_index] = replace(layers[fix.layer_index], built_for=None)
            return self._with(layers=tuple(layers))
        if fix.action == "set_input_shape":
            return self.with_input_shape(fix.value)
        if fix.action == "remove_layer":
            return self.remove(self.layers[fix.layer_index].id)
        if fix.action == "project_input":  # a layer between one input of a merge and the merge
            k, kind, settings = fix.value
            i = fix.layer_index
            inputs = list(self.input_ids(i))
            new = LayerSpec.make(self.next_id(), kind, inputs=(inputs[k],), **settings)
            inputs[k] = new.id
            merge = replace(self.layers[i], inputs=tuple(inputs))
            return self._with(layers=self.layers[:i] + (new, merge) + self.layers[i + 1 :])
        raise LayerConfigError(f"unknown fix {str(fix.action)[:40]!r}")


def _rewired(layer: LayerSpec, old: int, new: tuple[int, ...]) -> LayerSpec:
    """`layer` taking `new` where it took `old`."""
    if layer.inputs is None or old not in layer.inputs:
        return layer
    return replace(layer, inputs=tuple(i for k in layer.inputs for i in (new if k == old else (k,))))


def _named_apart(layers: tuple[LayerSpec, ...]) -> tuple[LayerSpec, ...]:
    """The layers, each one whose automatic name (dense, dense_1, ... as Keras counts them) is a name kept from an
    imported model given the next free one of its own: adding a Dense beside an imported `dense` is not refused."""
    taken = {layer.name for layer in layers if layer.name is not None}
    if not taken:
        return layers
    counters: dict[str, int] = {}
    out = []
    for layer in layers:
        if layer.name is None:
            prefix = snake_case(layer.kind)
            n = counters[prefix] = counters.get(prefix, -1) + 1
            if (prefix if n == 0 else f"{prefix}_{n}") in taken:
                n = max(n, 1)
                while f"{prefix}_{n}" in taken:
                    n += 1
                layer = replace(layer, name=f"{prefix}_{n}")
                taken.add(layer.name)
        out.append(layer)
    return tuple(out)


def _as_chain_where_it_is(layers) -> tuple[LayerSpec, ...]:
    """Each layer whose inputs are just the one before it (the input, for the first) as a chain layer."""
    out = []
    for i, layer in enumerate(layers):
        before = layers[i - 1].id if i else INPUT_ID
        out.append(replace(layer, inputs=None) if layer.inputs == (before,) else layer)
    return tuple(out)


def seed_spec() -> ModelSpec:
    """The seed article's first model: Input (3, 2) → Dense(16) → relu → Flatten → Dense(4)."""
    return ModelSpec(
        input_shape=(3, 2),
        layers=(
            LayerSpec.make(0, "Dense", units=16),
            LayerSpec.make(1, "Activation", activation="relu"),
            LayerSpec.make(2, "Flatten"),
            LayerSpec.make(3, "Dense", units=4),
        ),
        seed=0,
    )


def kinds_by_group() -> dict[str, list[str]]:
    """Registered kinds by group, groups in GROUPS order (for the Add-layer choice)."""
    return {group: kinds for group in GROUPS if (kinds := [k for k, cls in KINDS.items() if cls.group == group])}
