"""The editable description of a model (what the app keeps in session state): plain data, edits, checks.

A ModelSpec is immutable; every edit returns a new one, so undo is keeping old ones. Layers carry
stable ids for widget keys; `model()` and `analyze()` turn a spec into engine objects.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from .activations import canonical_name
from .analysis import Analysis, analyze
from .errors import Fix, LayerConfigError, LimitError, issue_error
from .initializers import check_seed, layer_seed
from .layers import Activation, Dense, Flatten, Layer, check_input_shape
from .limits import MAX_LAYERS, MAX_UNITS

KINDS = ("Dense", "Flatten", "Activation")
SETTINGS = {"Dense": ("units", "activation", "use_bias"), "Flatten": ("data_format",), "Activation": ("activation",)}
DATA_FORMATS = ("channels_last", "channels_first")
MAX_LAYER_ID = 10**6


@dataclass(frozen=True)
class LayerSpec:
    """One layer's settings; fields that do not apply to its kind are ignored."""

    id: int
    kind: str
    units: int = 16  # Dense
    activation: str = "linear"  # Dense's activation, or the Activation layer's function
    use_bias: bool = True  # Dense
    data_format: str = "channels_last"  # Flatten
    input_dim: int | None = None  # Dense: input features it was built for (a loaded layer); None = infer

    def to_layer(self) -> Layer:
        if self.kind == "Dense":
            return Dense(self.units, activation=self.activation, use_bias=self.use_bias)
        if self.kind == "Flatten":
            return Flatten(data_format=self.data_format)
        return Activation(self.activation)

    def describe(self) -> str:
        """Key settings in a few words: `16 units, relu`, `channels_first`, `relu`."""
        if self.kind == "Dense":
            parts = [f"{self.units:,} units"]
            if self.activation != "linear":
                parts.append(self.activation)
            if not self.use_bias:
                parts.append("no bias")
            if self.input_dim is not None:
                parts.append(f"built for {self.input_dim:,} inputs")
            return ", ".join(parts)
        if self.kind == "Flatten":
            return self.data_format
        return self.activation


def new_layer(kind: str, layer_id: int) -> LayerSpec:
    """A layer of `kind` with the defaults a learner would pick first."""
    if kind not in KINDS:
        raise LayerConfigError(f"layer kind must be one of {', '.join(KINDS)}; received {str(kind)[:40]!r}")
    return LayerSpec(id=layer_id, kind=kind, activation="relu" if kind == "Activation" else "linear")


@dataclass(frozen=True)
class ModelSpec:
    """Input shape (batch axis excluded), layers in order, and the weight seed."""

    input_shape: tuple[int, ...] = (3, 2)
    layers: tuple[LayerSpec, ...] = ()
    seed: int = 0
    _cache: dict = field(default_factory=dict, repr=False, compare=False, hash=False)

    # --- turning into engine objects --------------------------------------------------------
    def layer_objects(self) -> list[Layer]:
        layers = [spec.to_layer() for spec in self.layers]
        for i, (spec, layer) in enumerate(zip(self.layers, layers)):
            if spec.input_dim is not None:
                layer.build((None, spec.input_dim), layer_seed(self.seed, i))
        return layers

    def analyze(self) -> Analysis:
        """Shapes, params and the first problem; never raises for a spec that passed validate()."""
        if "analysis" not in self._cache:
            self._cache["analysis"] = analyze(self.layer_objects(), self.input_shape)
        return self._cache["analysis"]

    def model(self):
        """The Sequential, with weights from the seed; raises when the layers do not fit."""
        from .model import Input, Sequential

        if "model" not in self._cache:
            self._cache["model"] = Sequential([Input(self.input_shape), *self.layer_objects()], seed=self.seed)
        return self._cache["model"]

    def validate(self) -> ModelSpec:
        """Raise a NetbuilderError if a setting is invalid or a bound is exceeded (shape mismatches are allowed)."""
        check_input_shape(self.input_shape)
        check_seed(self.seed)
        if len(self.layers) > MAX_LAYERS:
            raise LimitError(f"a model holds at most {MAX_LAYERS} layers; this one would have {len(self.layers)}")
        for layer in self.layers:  # ids first: an unhashable id must not reach set() below
            if isinstance(layer.id, bool) or not isinstance(layer.id, int) or not 0 <= layer.id < MAX_LAYER_ID:
                raise LayerConfigError(f"layer id must be an integer from 0 to {MAX_LAYER_ID - 1}")
        ids = [layer.id for layer in self.layers]
        if len(set(ids)) != len(ids):
            raise LayerConfigError("layer ids must be unique")
        for layer in self.layers:
            _check_layer_fields(layer)
        issue = self.analyze().issue
        if issue is not None and issue.kind == "limit":
            raise issue_error(issue)
        return self

    # --- plain data (share links, undo history) ---------------------------------------------
    def to_dict(self) -> dict:
        return {
            "input_shape": list(self.input_shape),
            "seed": self.seed,
            "layers": [_compact(layer) for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, data) -> ModelSpec:
        """A validated spec from plain data (e.g. a decoded share link); NetbuilderError otherwise."""
        if not isinstance(data, dict):
            raise LayerConfigError("a model must be an object with input_shape, seed and layers")
        raw_layers = data.get("layers", [])
        if not isinstance(raw_layers, list):
            raise LayerConfigError("layers must be a list")
        if len(raw_layers) > MAX_LAYERS:
            raise LimitError(f"a model holds at most {MAX_LAYERS} layers; this one has {len(raw_layers):,}")
        allowed = set(LayerSpec.__dataclass_fields__)
        layers = []
        for raw in raw_layers:
            if not isinstance(raw, dict) or not set(raw) <= allowed or "id" not in raw or "kind" not in raw:
                raise LayerConfigError(f"each layer needs id and kind, and only these keys: {', '.join(sorted(allowed))}")
            layers.append(_canonical(replace(new_layer(raw["kind"], raw["id"]), **raw)))
        shape = data.get("input_shape", [])
        if not isinstance(shape, list):
            raise LayerConfigError("input_shape must be a list of positive integers")
        spec = cls(input_shape=check_input_shape(shape), layers=tuple(layers), seed=data.get("seed", 0))
        return spec.validate()

    # --- edits: each returns a new, validated spec ------------------------------------------
    def _with(self, **changes) -> ModelSpec:
        return replace(self, _cache={}, **changes).validate()

    def next_id(self) -> int:
        return max((layer.id for layer in self.layers), default=-1) + 1

    def index_of(self, layer_id: int) -> int:
        for i, layer in enumerate(self.layers):
            if layer.id == layer_id:
                return i
        raise LayerConfigError(f"no layer with id {layer_id}")

    def add(self, kind: str, index: int | None = None) -> ModelSpec:
        """Insert a new `kind` layer at `index` (None: at the end)."""
        layers = list(self.layers)
        index = len(layers) if index is None else max(0, min(int(index), len(layers)))
        layers.insert(index, new_layer(kind, self.next_id()))
        return self._with(layers=tuple(layers))

    def remove(self, layer_id: int) -> ModelSpec:
        return self._with(layers=tuple(layer for layer in self.layers if layer.id != layer_id))

    def move(self, layer_id: int, delta: int) -> ModelSpec:
        layers = list(self.layers)
        i = self.index_of(layer_id)
        j = max(0, min(i + delta, len(layers) - 1))
        layers.insert(j, layers.pop(i))
        return self._with(layers=tuple(layers))

    def duplicate(self, layer_id: int) -> ModelSpec:
        i = self.index_of(layer_id)
        layers = list(self.layers)
        layers.insert(i + 1, replace(layers[i], id=self.next_id()))
        return self._with(layers=tuple(layers))

    def update(self, layer_id: int, **changes) -> ModelSpec:
        """Change settings of one layer; invalid values raise and leave this spec as it was."""
        i = self.index_of(layer_id)
        unknown = set(changes) - (set(LayerSpec.__dataclass_fields__) - {"id", "kind"})
        if unknown:
            raise LayerConfigError(f"unknown layer setting(s): {', '.join(sorted(unknown))}")
        layer = _canonical(replace(self.layers[i], **changes))
        return self._with(layers=self.layers[:i] + (layer,) + self.layers[i + 1 :])

    def clear(self) -> ModelSpec:
        return self._with(layers=())

    def with_input_shape(self, shape) -> ModelSpec:
        return self._with(input_shape=check_input_shape(shape))

    def with_seed(self, seed) -> ModelSpec:
        return self._with(seed=check_seed(seed))

    def apply_fix(self, fix: Fix) -> ModelSpec:
        """Carry out a Fix suggested by analyze() (indices refer to this spec's layers)."""
        if fix.action == "insert_flatten":
            return self.add("Flatten", fix.layer_index)
        if fix.action == "set_units":
            return self.update(self.layers[fix.layer_index].id, units=fix.value)
        if fix.action == "set_input_shape":
            return self.with_input_shape(fix.value)
        if fix.action == "remove_layer":
            return self.remove(self.layers[fix.layer_index].id)
        raise LayerConfigError(f"unknown fix {fix.action!r}")


def _compact(layer: LayerSpec) -> dict:
    """The layer's fields that differ from its kind's defaults (id and kind always)."""
    defaults = asdict(new_layer(layer.kind, layer.id))
    return {k: v for k, v in asdict(layer).items() if k in ("id", "kind") or v != defaults[k]}


def _canonical(layer: LayerSpec) -> LayerSpec:
    """`layer` keeping only its kind's settings (others reset to defaults), the activation named as Keras
    serializes it (swish → silu); so two specs that behave alike compare equal. Bad values are left to the checks."""
    if layer.kind not in SETTINGS:
        return layer
    kept = {name: getattr(layer, name) for name in SETTINGS[layer.kind] + (("input_dim",) if layer.kind == "Dense" else ())}
    if isinstance(kept.get("activation"), str):
        kept["activation"] = canonical_name(kept["activation"])
    return replace(new_layer(layer.kind, layer.id), **kept)


def _check_layer_fields(layer: LayerSpec) -> None:
    """Type- and range-check one layer's settings, then build it (the engine's own checks)."""
    if layer.kind not in KINDS:
        raise LayerConfigError(f"layer kind must be one of {', '.join(KINDS)}; received {str(layer.kind)[:40]!r}")
    if layer.kind == "Dense" and (isinstance(layer.units, bool) or not isinstance(layer.units, int)):
        raise LayerConfigError(f"units must be an integer from 1 to {MAX_UNITS:,}; received {str(layer.units)[:20]}")
    if layer.input_dim is not None and (
        isinstance(layer.input_dim, bool) or not isinstance(layer.input_dim, int) or not 1 <= layer.input_dim <= MAX_UNITS
    ):
        raise LayerConfigError(f"a Dense's built input size must be an integer from 1 to {MAX_UNITS:,}")
    if not isinstance(layer.use_bias, bool):
        raise LayerConfigError("use_bias must be true or false")
    if not isinstance(layer.activation, str) or not isinstance(layer.data_format, str):
        raise LayerConfigError("activation and data_format must be names")
    if layer.kind == "Flatten" and layer.data_format not in DATA_FORMATS:
        raise LayerConfigError(f"data_format must be one of {', '.join(DATA_FORMATS)}")
    if (name := canonical_name(layer.activation)) != layer.activation:
        raise LayerConfigError(f"activation {layer.activation!r} is stored by the name Keras serializes: {name!r}")
    layer.to_layer()  # the engine's own checks: units bound, names, data_format


def seed_spec() -> ModelSpec:
    """The seed article's first model: Input (3, 2) → Dense(16) → relu → Flatten → Dense(4)."""
    return ModelSpec(
        input_shape=(3, 2),
        layers=(
            LayerSpec(0, "Dense", units=16),
            LayerSpec(1, "Activation", activation="relu"),
            LayerSpec(2, "Flatten"),
            LayerSpec(3, "Dense", units=4),
        ),
        seed=0,
    )
