"""The editable description of a model (what the app keeps in session state): plain data, edits, checks.

A ModelSpec is immutable; every edit returns a new one, so undo is keeping old ones. It holds no
weights: `analysis` reads shapes only, and `studio.models.built(spec)` makes the weights from the
seed when a model is shown. Layers carry stable ids for widget keys. A LayerSpec is generic — its
kind's settings, checked by the kind's own declarations — so no kind is spelled out here.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from ..engine.analysis import Analysis, analyze, budget_issue
from ..engine.budget import current, over
from ..engine.errors import Fix, LayerConfigError, LimitError, issue_error
from ..engine.initializers import check_seed
from ..engine.layer import GROUPS, KINDS, Layer, kind_class
from ..engine.limits import MAX_EDITOR_LAYERS
from ..engine.shapes import check_input_shape, format_shape

MAX_LAYER_ID = 10**6


@dataclass(frozen=True)
class LayerSpec:
    """One layer: a stable id, its kind (Keras class name), every setting of that kind, and the
    per-sample input shape its weights were made for when it came built (imported JSON), else None."""

    id: int
    kind: str
    settings: tuple[tuple[str, object], ...] = ()  # (name, canonical value) in the kind's declared order
    built_for: tuple[int, ...] | None = None

    @classmethod
    def make(cls, layer_id: int, kind: str, /, built_for=None, **settings) -> LayerSpec:
        """A checked layer: `settings` over the kind's defaults, every value in canonical form."""
        if isinstance(layer_id, bool) or not isinstance(layer_id, int) or not 0 <= layer_id < MAX_LAYER_ID:
            raise LayerConfigError(f"layer id must be an integer from 0 to {MAX_LAYER_ID - 1}")
        declared = kind_class(kind).settings
        unknown = set(settings) - {s.name for s in declared}
        if unknown:
            raise LayerConfigError(
                f"{kind} has no setting(s) {', '.join(sorted(map(str, unknown)))[:80]}; it has "
                f"{', '.join(s.name for s in declared) or 'none'}"
            )
        # each setting checked once, by its declaration (a required one starts at the kind's example), then across them
        layer = kind_class(kind)(**{s.name: settings.get(s.name, s.default) for s in declared})
        if built_for is not None:
            built_for = check_input_shape(built_for)
            layer.built_shape = (None, *built_for)
        spec = cls(layer_id, kind, tuple(layer.values.items()), built_for)
        spec.__dict__["layer"] = layer  # the layer it was checked as, kept (an immutable spec describes it for good)
        return spec

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
        reserved = set(changes) & {"id", "layer_id", "kind", "built_for"}
        if reserved:
            raise LayerConfigError(
                f"{', '.join(sorted(reserved))} is not a setting of a layer (a kind's settings are "
                f"{', '.join(s.name for s in kind_class(self.kind).settings) or 'none'})"
            )
        return LayerSpec.make(self.id, self.kind, self.built_for, **{**self.values, **changes})

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
        layer = kind_class(self.kind)(**self.values)
        if self.built_for is not None:
            layer.built_shape = (None, *self.built_for)
        return layer

    def label(self) -> str:
        return self._label

    @cached_property
    def _label(self) -> str:  # the graph asks on every page run: made once per (immutable) layer
        return self.layer.label()

    # --- plain data (share links) ---------------------------------------------------------------
    def to_dict(self) -> dict:
        """id, kind, the settings that differ from the kind's defaults, and built_for when set."""
        out = {"id": self.id, "kind": self.kind}
        for setting in kind_class(self.kind).settings:
            value = self.values[setting.name]
            if value != setting.default:
                out[setting.name] = setting.to_json(value)
        if self.built_for is not None:
            out["built_for"] = list(self.built_for)
        return out

    @classmethod
    def from_dict(cls, data) -> LayerSpec:
        if not isinstance(data, dict) or "id" not in data or "kind" not in data:
            raise LayerConfigError("each layer needs an id and a kind")
        cls_ = kind_class(data["kind"])
        declared = {s.name: s for s in cls_.settings}
        rest = {k: v for k, v in data.items() if k not in ("id", "kind", "built_for")}
        unknown = set(rest) - set(declared)
        if unknown:
            raise LayerConfigError(f"{data['kind']} has no setting(s) {', '.join(sorted(map(str, unknown)))[:80]}")
        settings = {k: declared[k].from_json(v) for k, v in rest.items()}
        built = data.get("built_for")
        if built is not None and not isinstance(built, list):
            raise LayerConfigError("built_for must be a list of positive integers")
        return cls.make(data["id"], data["kind"], built, **settings)


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
    """Input shape (batch axis excluded), layers in order, the weight seed, and trained weights (None: from the
    seed)."""

    input_shape: tuple[int, ...] = (3, 2)
    layers: tuple[LayerSpec, ...] = ()
    seed: int = 0
    weights: Weights | None = None

    # --- shapes, from settings alone ------------------------------------------------------------
    def layer_objects(self) -> list[Layer]:
        """New engine layers to build a model from."""
        return [layer.to_layer() for layer in self.layers]

    @cached_property
    def analysis(self) -> Analysis:
        """Shapes, params, cost and the first problem; never raises for a spec that passed validate()."""
        return analyze([layer.layer for layer in self.layers], self.input_shape, MAX_EDITOR_LAYERS)

    @property
    def names(self) -> tuple[str, ...]:
        return self.analysis.names

    def validate(self) -> ModelSpec:
        """Raise a NetbuilderError if a setting is invalid or a bound or the current budget is exceeded (shape
        mismatches are allowed): the app edits under the public budgets, so a model it holds can always be built and
        run."""
        check_input_shape(self.input_shape)
        if over(
            elements := math.prod(self.input_shape), bound := current().data_elements
        ):  # its data could never be made
            raise LimitError(
                f"input shape {format_shape(self.input_shape)} has {elements:,} elements per sample; at most "
                f"{bound:,} are allowed"
            )
        check_seed(self.seed)
        if len(self.layers) > MAX_EDITOR_LAYERS:
            raise LimitError(
                f"a model holds at most {MAX_EDITOR_LAYERS} layers; this one would have {len(self.layers)}"
            )
        ids = [layer.id for layer in self.layers]
        if len(set(ids)) != len(ids):
            raise LayerConfigError("layer ids must be unique")
        for layer in (layer for layer in self.layers if not layer.checked):  # a spec may be built by hand
            canonical = LayerSpec.make(layer.id, layer.kind, layer.built_for, **layer.values)
            # compared as plain data: after a live code update, a session holds objects of the old class
            if (canonical.settings, canonical.built_for) != (layer.settings, layer.built_for):
                raise LayerConfigError(f"layer {layer.id} holds a setting that is not in its canonical form")
        issue = self.analysis.issue
        if issue is not None and issue.category == "limit":
            raise issue_error(issue)
        if (crossing := budget_issue(self.analysis)) is not None:
            raise issue_error(crossing)
        if self.weights is not None:
            shapes = self.weight_shapes()
            if shapes is None or [a.shape for a in self.weights.arrays] != shapes:
                raise LayerConfigError(f"the trained weights do not fit this model: it needs arrays of shapes {shapes}")
        return self

    def weight_shapes(self) -> list[tuple[int, ...]] | None:
        """The shapes of the model's weights in get_weights order, from shapes alone (None when it does not fit)."""
        if not self.analysis.ok:
            return None
        return [
            w.shape
            for layer, report in zip((spec.layer for spec in self.layers), self.analysis.layers)
            for w in layer.weight_specs(layer.built_shape or report.input_shape)
        ]

    def with_weights(self, arrays) -> ModelSpec:
        """This model with trained weights (in get_weights order) instead of the seed's."""
        return replace(self, weights=Weights.of(arrays)).validate()

    @property
    def trained(self) -> bool:
        return self.weights is not None

    # --- plain data (share links, undo history) -------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "input_shape": list(self.input_shape),
            "seed": self.seed,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, data) -> ModelSpec:
        """A validated spec from plain data (e.g. a decoded share link); NetbuilderError otherwise."""
        if not isinstance(data, dict) or not set(data) <= {"input_shape", "seed", "layers"}:
            raise LayerConfigError("a model must be an object with input_shape, seed and layers")
        raw_layers = data.get("layers", [])
        if not isinstance(raw_layers, list):
            raise LayerConfigError("layers must be a list")
        if len(raw_layers) > MAX_EDITOR_LAYERS:
            raise LimitError(f"a model holds at most {MAX_EDITOR_LAYERS} layers; this one has {len(raw_layers):,}")
        shape = data.get("input_shape", [])
        if not isinstance(shape, list):
            raise LayerConfigError("input_shape must be a list of positive integers")
        layers = tuple(LayerSpec.from_dict(raw) for raw in raw_layers)
        return cls(input_shape=check_input_shape(shape), layers=layers, seed=check_seed(data.get("seed", 0))).validate()

    # --- edits: each returns a new, validated spec ----------------------------------------------
    def _with(self, **changes) -> ModelSpec:
        """An edited spec; trained weights belong to the model as it was, so an edit starts from the seed's again."""
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
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_EDITOR_LAYERS:
            raise LayerConfigError(f"count must be an integer from 1 to {MAX_EDITOR_LAYERS}")
        layers = list(self.layers)
        index = len(layers) if index is None else max(0, min(int(index), len(layers)))
        layers[index:index] = [LayerSpec.make(i, kind, **settings) for i in self.new_ids(count)]
        return self._with(layers=tuple(layers))

    def remove(self, layer_id: int) -> ModelSpec:
        return self._with(layers=tuple(layer for layer in self.layers if layer.id != layer_id))

    def move(self, layer_id: int, delta: int) -> ModelSpec:
        layers = list(self.layers)
        i = self.index_of(layer_id)
        j = max(0, min(i + delta, len(layers) - 1))
        layers.insert(j, layers.pop(i))
        return self._with(layers=tuple(layers))

    def duplicate(self, layer_id: int, count: int = 1) -> ModelSpec:
        """`count` copies of a layer right after it."""
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_EDITOR_LAYERS:
            raise LayerConfigError(f"count must be an integer from 1 to {MAX_EDITOR_LAYERS}")
        i = self.index_of(layer_id)
        copies = [replace(self.layers[i], id=new) for new in self.new_ids(count)]
        return self._with(layers=self.layers[: i + 1] + tuple(copies) + self.layers[i + 1 :])

    def update(self, layer_id: int, /, **changes) -> ModelSpec:
        """Change settings of one layer; invalid values raise and leave this spec as it was."""
        i = self.index_of(layer_id)
        layer = self.layers[i].with_settings(**changes)
        return self._with(layers=self.layers[:i] + (layer,) + self.layers[i + 1 :])

    def replace_layers(self, layers) -> ModelSpec:
        """All layers at once (a pasted list); ids are given afresh."""
        return self._with(layers=tuple(replace(layer, id=k) for k, layer in enumerate(layers)))

    def clear(self) -> ModelSpec:
        return self._with(layers=())

    def with_input_shape(self, shape) -> ModelSpec:
        return self._with(input_shape=check_input_shape(shape))

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
        raise LayerConfigError(f"unknown fix {str(fix.action)[:40]!r}")


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
