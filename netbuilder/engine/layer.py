"""The Layer base class and the registry of layer kinds.

A kind is one subclass in one module of `netbuilder.engine.kinds`, registered with `@register`. It
declares, the way Keras's own layers do: its settings (constructor arguments), its input contract
(`input_spec`, plus `check_shape` for what a spec cannot say), `compute_output_shape`, its weights
(`weight_specs`, in Keras's get_weights order), its parameter formula and cost, the forward
computation (`call`), its Keras config, its node label, and how it is written as Keras and PyTorch
code. Everything else (analysis, JSON, links, the editor, the graph, export) works from these.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from . import activations
from .errors import Fix, IncompatibleShapeError, LayerConfigError, LimitError, ShapeIssue
from .initializers import Initializer
from .regularizers import Regularizer
from .settings import Regularize, Setting
from .shapes import Shape, check_input_shape, format_shape
from .tensors import KerasTensor, Node, call_tensors
from .budget import MICROSECOND, UNBOUNDED, build_problem, current, weights_problem
from .limits import MAX_NAME_CHARS

_NAME_RE = re.compile(r"[^\x00-\x1f\x7f/]+")
_CREATED = itertools.count()  # the order layers were made in, for Keras's automatic names
_CALL_OPTIONS = {"training", "mask"}  # keyword arguments of a call that are not its input
DTYPE_POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def check_name(name) -> str | None:
    """A layer or model name: None (auto) or 1..MAX_NAME_CHARS printable characters, no '/'."""
    if name is None:
        return None
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not _NAME_RE.fullmatch(name):
        raise LayerConfigError(
            f"a name must be 1 to {MAX_NAME_CHARS} printable characters without '/'; received {str(name)[:80]!r}"
        )
    return name


@functools.lru_cache(maxsize=256)
def snake_case(name: str) -> str:
    """Keras's automatic layer-name prefix: Dense → dense, Conv2D → conv2d, MaxPooling2D → max_pooling2d."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


@dataclass(frozen=True)
class InputSpec:
    """What input a layer accepts: its rank, and sizes some axes must have (Keras's InputSpec)."""

    ndim: int | None = None
    min_ndim: int | None = None
    max_ndim: int | None = None
    axes: tuple[tuple[int, int], ...] = ()  # (axis, size) pairs; -1 is the last axis
    axis_names: tuple[str, ...] = ()  # what the axes mean, for messages: ("batch", "features")
    integers: bool = False  # indices (Embedding): the values must not be a computed real number


@dataclass(frozen=True)
class Problem:
    """What a layer cannot accept about its input, before fixes are looked for."""

    expected: str  # "last axis of size 48", "3 axes (batch, steps, features)"
    message: str  # one sentence naming the layer and both shapes
    explanation: str  # why, for a learner
    keras_message: str = ""  # what Keras says in the same situation ("" where Keras accepts it)


@dataclass(frozen=True)
class WeightSpec:
    """One weight array: name and shape as Keras has them, how it starts, whether training changes it."""

    name: str
    shape: tuple[int, ...]
    initializer: Initializer  # (shape, seed) → float32 array, and what drawing it costs
    trainable: bool = True


ELEMENTWISE_WEIGHT = 25  # one elementwise NumPy operation costs about as much time as 25 BLAS multiply-adds
TRAIN_FACTOR = 3  # a training step (forward, then backward at about twice its cost) is about 3 forward passes of work
TRAIN_ELEMENTWISE_FACTOR = 2  # an elementwise operation's gradient costs about what the operation did (measured 1-1.5)
# a training step calls a layer's activation about this often (forward, derivative, temporaries)
ACTIVATION_TRAIN_CALLS = 4


@dataclass(frozen=True)
class Cost:
    """One sample's work through a layer, from shapes alone."""

    mult_adds: int = 0  # multiply-adds (a matmul of (n, k) by (k, m) is n·k·m)
    elementwise: int = 0  # other operations per sample, weighted by their relative cost (an add is 1)
    scratch: int = 0  # float32 elements of temporaries alive beside the input and output at the peak of `call`
    # the same when a run's tensors are large (NumPy then reuses temporaries); None: same
    scratch_large: int | None = None
    large_at: int = 0  # elements per sample of the tensor whose size (times the batch) decides "large"
    # more temporaries per sample, but never more than `scratch_cap` in all (work done in steps)
    capped_scratch: int = 0
    scratch_cap: int = 0
    early_scratch: int = 0  # temporaries of an earlier phase of `call`, freed before the others exist (a patch matrix)
    output_is_view: bool = False  # the output shares the input's memory (a reshape): it allocates nothing
    # Work of one call whatever the batch: Python stepping through time steps or window cells, a few NumPy calls
    # each (MICROSECOND per microsecond measured); for `call`, and for one training step (forward_train and backward).
    overhead: int = 0
    train_overhead: int = 0
    # Elementwise operations per sample (weighted as `elementwise`) that forward_train and backward do beyond
    # the forward pass's work repeated (ModelCost.train_work): a window's cells visited again one by one, a scatter-add.
    train_elementwise: int = 0
    # Training memory, float32 elements per sample: what forward_train keeps for backward beyond the layer's input and
    # output (a pre-activation, a mask, a recurrent layer's per-step states), and the temporaries of `backward` beside
    # the incoming gradient and the input's gradient (None: the forward pass's scratch and two tensors of the output's
    # size, a first guess the cost model makes).
    train_kept: int = 0
    train_scratch: int | None = None
    untrainable: str = ""  # why netbuilder cannot train this layer as configured ("" when it can): refused before a run
    penalty_bytes: int = 0  # temporaries of its largest regularizer's penalty and gradient in a training step
    # What every layer adds (Layer.full_cost fills these from its weights and its kind's measured call time): the work
    # and the temporaries' bytes of drawing its weights (the largest initializer's), a training step's fixed work (its
    # forward_train and backward calls whatever the batch), and how many trainable arrays the optimizer updates.
    build_work: int = 0
    build_bytes: int = 0
    train_fixed: int = 0
    trainable_arrays: int = 0

    def updated(self, **changes) -> Cost:
        """A copy with `changes` (dataclasses.replace without its __init__: full_cost makes one per layer)."""
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__, **changes)
        return copy


@dataclass(frozen=True)
class CodePart:
    """A layer as generated code: one expression, and the helper definitions it needs (by name)."""

    code: str
    helpers: dict[str, str] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # torch: parameter name → array in torch's layout


GROUPS = (
    "Core",
    "Convolution",
    "Pooling",
    "Normalisation",
    "Preprocessing",
    "Recurrent",
    "Merging",
    "Attention",
    "Reshaping",
    "Activations",
)
KINDS: dict[str, type[Layer]] = {}  # Keras class name → kind; the registry JSON, links and the editor read
# (Keras module, class name) → operation: a call that is not a layer
OPERATIONS: dict[tuple[str, str], type[Layer]] = {}
# Keras classes refused on purpose, and why: what reading a JSON or a pasted list says of them
REFUSED_KINDS = {
    "Lambda": "a Lambda layer holds Python code (Keras's JSON carries it as bytecode), which netbuilder never runs; "
    "write what it computes with layers netbuilder has (Activation, Rescaling, Reshape, the merges, ...)",
}


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make `cls` a kind known by its Keras class name."""
    cls.kind = cls.__name__
    if cls.group not in GROUPS:
        raise TypeError(f"{cls.kind}.group must be one of {GROUPS}")
    names = [s.name for s in cls.settings]
    if len(set(names)) != len(names):
        raise TypeError(f"{cls.kind} declares a setting twice")
    KINDS[cls.kind] = cls
    return cls


def register_operation(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make `cls` an operation Keras's JSON names by its class name in `cls.keras_module`."""
    cls.kind = cls.keras_registered_name = cls.__name__
    OPERATIONS[cls.keras_module, cls.kind] = cls
    return cls


def unregister(kind: str) -> None:
    """Forget a kind (tests that define one of their own)."""
    KINDS.pop(kind, None)


def kind_class(kind) -> type[Layer]:
    """The class of a registered kind, or a LayerConfigError listing the kinds there are."""
    if not isinstance(kind, str) or kind not in KINDS:
        some = ", ".join(list(KINDS)[:6])
        raise LayerConfigError(
            f"unknown layer kind {str(kind)[:40]!r}: a kind is a Keras class name netbuilder has, "
            f"such as {some} ({len(KINDS)} in all)"
        )
    return KINDS[kind]


class Layer:
    """Base layer: settings checked by their declarations, a name, and the shape it was built for."""

    kind: ClassVar[str] = "Layer"
    settings: ClassVar[tuple[Setting, ...]] = ()
    group: ClassVar[str] = "Core"  # where the Add-layer choice lists it
    description: ClassVar[str] = ""  # one line for the Add-layer choice
    keras_extra_config: ClassVar[dict] = {}  # constant config keys Keras writes (initializers, regularizers...)
    # keras_extra_config keys a Keras JSON set (a regularizer, a constraint): written back as read
    keras_kept: dict = {}
    keras_config_order: ClassVar[tuple[str, ...]] = ()  # config keys in the order Keras writes them (others follow)
    # where Keras's JSON says the class lives (keras.applications registers some)
    keras_module: ClassVar[str] = "keras.layers"
    keras_registered_name: ClassVar[str | None] = None
    output_axis_setting: ClassVar[str | None] = None  # the setting that sizes the output's last axis (units, filters)
    keeps_shape: ClassVar[bool] = False  # output shape always equals input shape (activations, dropout)
    builds_at_init: ClassVar[bool] = False  # Keras writes no build_config for it (Activation is built when made)
    takes_list: ClassVar[bool] = False  # called on a list of tensors (a merge): shapes and `call` get lists
    # with takes_list: the tensors are separate arguments, `mha(query, value)`
    separate_arguments: ClassVar[bool] = False
    is_layer: ClassVar[bool] = True  # False: an operation (keras.ops), a call of the graph but not in model.layers
    is_model: ClassVar[bool] = False  # a whole model used as a layer (Keras nests them: ConvNeXt's stem)
    # the node index Keras's JSON gives its first call (a Functional's own graph is 0)
    keras_first_node: ClassVar[int] = 0
    call_argument: ClassVar[str] = "inputs"  # the name of Keras's call's first argument (a call may pass it by keyword)
    # its output holds its input's values (rearranged, or zeros added): integers stay integers
    keeps_values: ClassVar[bool] = False
    # Microseconds of one training step's forward_train and backward whatever the batch (their NumPy calls; measured at
    # batch 1 on the 2-core server and rounded up; an activation setting's calls are added in full_cost).
    train_call_microseconds: ClassVar[int] = 15

    def __init__(self, *args, name=None, input_shape=None, **kwargs):
        declared = self.settings
        if len(args) > len(declared):
            raise LayerConfigError(
                f"{self.kind} takes at most {len(declared)} positional arguments; received {len(args)}"
            )
        names = [s.name for s in declared]
        given = dict(zip(names, args))
        for key, value in kwargs.items():
            if key in given:
                raise LayerConfigError(f"{self.kind} received {key!r} twice")
            given[key] = value
        unknown = given.keys() - names
        if unknown:
            raise LayerConfigError(
                f"Unrecognized keyword arguments passed to {self.kind}: {', '.join(sorted(map(str, unknown)))[:120]}. "
                f"{self.kind} takes: {', '.join(s.name for s in declared) or 'no settings'}"
            )
        self.values: dict = {}
        for setting in declared:
            if setting.name in given:
                self.values[setting.name] = setting.check(given[setting.name])
            elif setting.required:
                raise LayerConfigError(f"{self.kind}() missing required argument: {setting.name!r}")
            else:
                self.values[setting.name] = setting.checked_default()
        self.__dict__.update(self.values)
        self.validate()
        self._declared_input_shape = None if input_shape is None else check_input_shape(input_shape)
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None
        self._drawn: list[np.ndarray] = []
        self._pending: tuple | None = None  # (weight specs, seed) until a weight is first needed
        self._start(name)

    def _start(self, name) -> None:
        """What every call of the graph has, a model used as a layer too: its name, and its calls."""
        self.name = check_name(name)
        self._auto_named = name is None
        self.built_shape: Shape | None = None  # the input shape its weights are (or will be) made for
        self._inbound_nodes: list[Node] = []  # each call on symbolic tensors (a shared layer has several)
        self._created = next(_CREATED)  # a fresh Keras session names layers in the order they were made

    def validate(self) -> None:
        """Checks across settings (e.g. strides > 1 with dilation > 1); raise LayerConfigError."""

    def record_shapes(self, input_shape: Shape, output_shape: Shape) -> None:
        """The shapes of the layer's (first) call in the model that built it (Keras's layer.input_shape,
        output_shape)."""
        self.input_shape, self.output_shape = input_shape, output_shape

    def __call__(self, *args, **kwargs):
        """Call the layer on symbolic tensors (the functional API: `Dense(4)(Input((3,)))`, `Add()([a, b])`): the tensor
        it makes, or an IncompatibleShapeError as Keras raises one. Numbers are computed by a model's predict."""
        tensors = call_tensors(args, kwargs)
        shape = self.call_shape(args, kwargs)
        name = self.name or snake_case(self.kind)
        problem = self.input_problem(shape, name)
        if problem is not None:
            fixes = tuple(self.call_fixes(tensors, shape, name))
            raise IncompatibleShapeError(
                f"{problem.message} {problem.explanation}",
                ShapeIssue(
                    -1,
                    name,
                    self.kind,
                    problem.expected,
                    shape,
                    problem.message,
                    problem.explanation,
                    fixes,
                    problem.keras_message,
                ),
            )
        if (
            self.built_shape is None
        ):  # Keras builds a layer at its first call: later calls must fit what it was built for
            self.built_shape = shape
        node = Node(self, args, kwargs, ())
        node.outputs = (
            KerasTensor(
                self.compute_output_shape(shape),
                node,
                0,
                integers=self.keeps_values and all(t.integers for t in tensors),
            ),
        )
        self._inbound_nodes.append(node)
        return node.outputs[0]

    def call_fixes(self, tensors: list, shape, name: str) -> list[Fix]:
        """Repairs of a call on symbolic tensors that does not fit (`shape` is what call_shape gave), each tried on
        shapes before it is offered: "project_input" (value: the input's position, a kind and its settings, a layer to
        put between that input and this call) or "set_setting" (value: name, new value)."""
        return []

    def call_shape(self, args: tuple, kwargs: dict):
        """The shape this layer computes on, from a call's arguments: one tensor's (most kinds), or a list's (a merge).
        A call this kind does not take is a LayerConfigError saying how it is called."""
        if (
            len(args) == 1
            and not self.takes_list
            and isinstance(args[0], KerasTensor)
            and kwargs.keys() <= _CALL_OPTIONS
        ):
            return args[0].shape  # the usual call, on one tensor (at most training= and mask= beside it)
        given = [*args, *(kwargs[k] for k in kwargs if k == self.call_argument)]
        unknown = set(kwargs) - {self.call_argument, "training", "mask"}
        if self.takes_list:
            ok = (
                len(given) == 1
                and isinstance(given[0], (list, tuple))
                and given[0]
                and all(isinstance(t, KerasTensor) for t in given[0])
            )
            if ok and not unknown:
                return [t.shape for t in given[0]]
            raise LayerConfigError(
                f"A merge layer should be called on a list of inputs. Received: {_described(args, kwargs)}; "
                f"{self.kind} takes a list of tensors made by Input(...) and layers, e.g. {self.kind}()([a, b])"
            )
        if len(given) == 1 and isinstance(given[0], KerasTensor) and not unknown:
            return given[0].shape
        raise LayerConfigError(
            f"layers are called on the result of Input(...) or of another layer; {self.kind} received "
            f"{_described(args, kwargs)}. To compute numbers, build a model and call model.predict(x)."
        )

    def __repr__(self):
        return f"<{self.kind} name={self.name}>"

    # --- shapes ----------------------------------------------------------------------------------
    def input_spec(self) -> InputSpec:
        """The input this layer accepts (after it is built, also the sizes its weights fix)."""
        return InputSpec()

    def check_shape(self, shape: Shape, name: str) -> Problem | None:
        """What `input_spec` cannot say about `shape` (a kernel larger than its input...), or None."""
        return None

    def input_problem(self, shape: Shape, name: str) -> Problem | None:
        """Why this layer, called `name`, cannot take `shape` (its InputSpec in a learner's words and Keras's, then
        `check_shape`), or None. A layer that takes a list of tensors (a merge) checks the list in `check_shape`."""
        spec = self.input_spec()
        if self.takes_list:  # a merge: a list of shapes (a chain hands it one tensor, which Keras refuses)
            if isinstance(shape, list):
                return self.check_shape(shape, name)
            return Problem(
                "a list of tensors",
                f"Layer {name!r} ({self.kind}) takes a list of tensors, such as "
                f"{self.kind}()([a, b]); in a chain it receives one, {format_shape(shape)}.",
                f"{self.kind} combines several tensors (a skip connection, two branches): it needs a model "
                "whose layers can take more than the one before them (Keras's functional API).",
                f"A merge layer should be called on a list of inputs. Received: input_shape={shape} "
                "(not a list of shapes)",
            )
        ndim = len(shape)
        prefix = f"Input 0 with name 'None' of layer '{name}' is incompatible with the layer"
        axes = f" ({', '.join(spec.axis_names)})" if spec.axis_names else ""
        rank_words = None
        if spec.ndim is not None and ndim != spec.ndim:
            rank_words = (
                f"exactly {spec.ndim} axes{axes}",
                f"expected ndim={spec.ndim}, found ndim={ndim}. Full shape received: {format_shape(shape)}",
            )
        elif spec.min_ndim is not None and ndim < spec.min_ndim:
            rank_words = (
                f"at least {spec.min_ndim} axes{axes}",
                f"expected min_ndim={spec.min_ndim}, found ndim={ndim}. Full shape received: {format_shape(shape)}",
            )
        elif spec.max_ndim is not None and ndim > spec.max_ndim:
            rank_words = f"at most {spec.max_ndim} axes{axes}", f"expected max_ndim={spec.max_ndim}, found ndim={ndim}"
        if rank_words:
            expected, keras = rank_words
            return Problem(
                expected,
                f"Layer {name!r} ({self.kind}) needs {expected}, but received {format_shape(shape)}.",
                self.rank_explanation(shape, name),
                f"{prefix}: {keras}",
            )
        for axis, size in spec.axes:
            if shape[axis] != size:
                where = "last axis" if axis == -1 else f"axis {axis}"
                return Problem(
                    f"{where} of size {size}",
                    f"Layer {name!r} ({self.kind}) expects an input whose {where} has size {size}, but received shape "
                    f"{format_shape(shape)}.",
                    self.axis_explanation(shape, axis, size, name),
                    f"{prefix}: expected axis {axis} of input shape to have value {size}, but received input with "
                    f"shape {format_shape(shape)}",
                )
        return self.check_shape(shape, name)

    def rank_explanation(self, shape: Shape, name: str) -> str:
        """Why this kind needs the number of axes its InputSpec says, for a learner."""
        return (
            f"{self.kind} works on tensors of a certain number of axes; this one has {len(shape)} "
            "(the batch axis included)."
        )

    def axis_explanation(self, shape: Shape, axis: int, size: int, name: str) -> str:
        """Why an axis must have the size the layer's weights were made for, for a learner."""
        return f"{self.kind} was built for a different size on that axis: its weights have that size."

    def compute_output_shape(self, shape: Shape) -> Shape:
        return shape

    def suggest_fixes(self, shape: Shape, problem: Problem, context) -> list:
        """Fixes this kind knows for `problem` (each is checked before it is offered)."""
        return []

    def setting_for_last_axis(self, size: int) -> int:
        """The value of `output_axis_setting` that makes the output's last axis `size` (Dense's glu doubles it)."""
        return size

    # --- weights ---------------------------------------------------------------------------------
    def weight_specs(self, shape: Shape) -> list[WeightSpec]:
        """The weights for input `shape`, in Keras's get_weights order (trainable first)."""
        return []

    def formula(self, shape: Shape) -> str:
        """How the parameters are counted, written out: `2×16 + 16 = 48` ("" for none)."""
        return ""

    def count_params_for(self, shape: Shape) -> tuple[int, int]:
        """(trainable, non-trainable) parameters for input `shape`, from shapes alone."""
        trainable = total = 0
        for w in self.weight_specs(shape):
            size = math.prod(w.shape)
            total += size
            if w.trainable:
                trainable += size
        return trainable, total - trainable

    def cost(self, shape: Shape, output_shape: Shape) -> Cost:
        """One sample's mult-adds, elementwise work and scratch through this layer."""
        return Cost()

    def full_cost(self, shape: Shape, output_shape: Shape) -> Cost:
        """`cost`, with what every layer adds: drawing its weights, and a training step's fixed work (its calls, and
        ACTIVATION_TRAIN_CALLS of its activation's: forward, derivative, and their temporaries)."""
        specs = self.weight_specs(self.built_shape or shape)
        work, nbytes = _draw_totals(specs)
        activation = self.values.get("activation")
        calls = self.train_call_microseconds + (
            ACTIVATION_TRAIN_CALLS * activations.COST[activation].call_microseconds if activation else 0
        )
        penalties = self._penalty_costs(specs)
        return self.cost(shape, output_shape).updated(
            build_work=work,
            build_bytes=nbytes,
            train_fixed=calls * MICROSECOND + sum(step for step, _ in penalties),
            penalty_bytes=max((nbytes for _, nbytes in penalties), default=0),
            trainable_arrays=sum(spec.trainable for spec in specs),
        )

    def _penalty_costs(self, specs: list[WeightSpec]) -> list[tuple[int, int]]:
        """(work, bytes of temporaries) of each regularizer's penalty and gradient in a training step."""
        shapes = {spec.name: spec.shape for spec in specs}
        costs = []
        for setting in self._regularizer_settings():
            if setting.weight in shapes:
                mult_adds, elementwise, temporaries = self.values[setting.name].cost(shapes[setting.weight])
                costs.append((mult_adds + ELEMENTWISE_WEIGHT * elementwise, 4 * temporaries))
        return costs

    def build(self, shape: Shape, seed: int) -> None:
        """Make the weights for input `shape` (for the shape it was built for, if it has one); a LimitError,
        before anything is allocated, when they are over the current budget."""
        if self._drawn or self._pending:
            return
        built_shape = self.built_shape or tuple(shape)
        specs = self.weight_specs(built_shape)
        why = current() != UNBOUNDED and (  # with no budget (a library's default), no cost to work out
            weights_problem(sum(math.prod(spec.shape) for spec in specs)) or build_problem(*_draw_totals(specs))
        )
        if why:
            raise LimitError(f"Layer {self.name or snake_case(self.kind)!r} ({self.kind}) exceeds a limit: {why}.")
        self.built_shape = built_shape
        self._pending = (specs, seed)

    @property
    def _weights(self) -> list[np.ndarray]:
        """The weights, drawn when first needed: shapes, parameters, summaries and JSON never draw them."""
        if self._pending is not None:
            specs, seed = self._pending
            self._drawn, self._pending = [spec.initializer(spec.shape, seed) for spec in specs], None
        return self._drawn

    @_weights.setter
    def _weights(self, arrays: list[np.ndarray]) -> None:
        self._drawn, self._pending = arrays, None

    @property
    def weights(self) -> list[np.ndarray]:
        return list(self._weights)

    def weight(self, name: str) -> np.ndarray:
        """A weight by its Keras name ("kernel", "bias", "moving_mean"...)."""
        specs = self.weight_specs(self.built_shape)
        return self._weights[[s.name for s in specs].index(name)]

    def regularized(self) -> list[tuple[np.ndarray, Regularizer]]:
        """Each weight a regularizer setting weighs, with that regularizer (training adds its penalty to the loss)."""
        return [
            (self.weight(setting.weight), self.values[setting.name])
            for setting in self._regularizer_settings()
            if self.has_weight(setting.weight)
        ]

    def _regularizer_settings(self) -> list[Regularize]:
        return [s for s in self.settings if isinstance(s, Regularize) and self.values[s.name] is not None]

    def has_weight(self, name: str) -> bool:
        return self.built_shape is not None and name in [s.name for s in self.weight_specs(self.built_shape)]

    def count_params(self) -> int:
        if self._pending is not None:
            return sum(math.prod(spec.shape) for spec in self._pending[0])
        return sum(w.size for w in self._drawn)

    def get_weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self._weights]

    def set_weights(self, weights) -> None:
        weights = list(weights)
        if self.built_shape is None:
            raise LayerConfigError(f"layer {self.name!r} is not built yet; build the model before setting weights")
        specs = self.weight_specs(self.built_shape)
        if len(weights) != len(specs):
            raise LayerConfigError(
                f"You called `set_weights(weights)` on layer {self.name!r} with a weight list of length "
                f"{len(weights)}, but the layer was expecting {len(specs)} weights."
            )
        arrays = []
        for spec, w in zip(specs, weights):
            w = np.asarray(w)
            if w.shape != spec.shape:
                raise LayerConfigError(
                    f"Layer {self.name} weight shape {spec.shape} is not compatible with provided weight shape "
                    f"{w.shape}."
                )
            arrays.append(np.array(w, dtype=np.float32))
        self._weights = arrays

    # --- numbers ---------------------------------------------------------------------------------
    def call_arguments(self, node: Node, arrays: list[np.ndarray]):
        """What `call` takes at one of its calls, given the arrays of the call's tensors (in `node.inputs` order): the
        one array, or (a layer that takes a list) the list."""
        return arrays if self.takes_list else arrays[0]

    def call(self, x: np.ndarray) -> np.ndarray:
        """The output for a float32 batch `x` (inference mode)."""
        raise NotImplementedError

    # --- training -----------------------------------------------------------------------------------
    def forward_train(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, object]:
        """Training-mode output, and what `backward` needs. Layers that behave differently in training
        override it: Dropout draws its mask from `rng`; BatchNormalization normalises with the batch's
        statistics and updates its moving ones, as Keras does."""
        return self.call(x), x

    def backward(self, cache, dy: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """(∂loss/∂input, [∂loss/∂w for each trainable weight, in weight_specs order]) from ∂loss/∂output."""
        raise NotImplementedError(f"{self.kind} cannot be trained yet")

    # --- description -------------------------------------------------------------------------------
    def label(self) -> str:
        """Key settings in a few words for a graph node: `16 units, relu`."""
        return ", ".join(
            f"{s.name}={s.format_text(self.values[s.name])}" for s in self.settings if self.values[s.name] != s.default
        )

    def explain_shape(self, shape: Shape, output_shape: Shape) -> str:
        """The shape arithmetic written out for a learner ("" when the shape simply passes through)."""
        return ""

    def explain_steps(self, shape: Shape, output_shape: Shape) -> list[tuple[str, Shape]]:
        """The tensors a call makes on the way, each with what it is (none for a layer of one step)."""
        return []

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": True, "dtype": DTYPE_POLICY}
        if "activity_regularizer" in self.keras_kept:  # Keras's base Layer writes one that is set right after dtype
            config["activity_regularizer"] = None
        config.update({s.name: s.to_json(self.values[s.name]) for s in self.settings})
        config.update(self.keras_extra_config)
        config.update(self.keras_kept)
        return config

    def keras_build_config(self, shape) -> dict:
        """Keras's build_config: the input shape its build took."""
        return {"input_shape": tuple(shape)}

    def keras_config(self) -> dict:
        """get_config with its keys in the order Keras writes them (so our JSON is Keras's text)."""
        config = self.get_config()
        return {key: config.pop(key) for key in self.keras_config_order if key in config} | config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """The layer a Keras config describes: its settings, its name, and what Keras set beyond them that netbuilder
        does not compute (regularizers, constraints: kept for JSON, refused for training)."""
        layer = cls(**cls.settings_from_config(config), name=config.get("name"))
        defaults = {"activity_regularizer": None, **cls.keras_extra_config}
        # what differs from Keras's default (BatchNormalization's renorm=False is no change)
        layer.keras_kept = {key: config[key] for key in defaults if config.get(key, defaults[key]) != defaults[key]}
        return layer

    @classmethod
    def settings_from_config(cls, config: dict) -> dict:
        """The settings in a Keras config (missing ones take Keras's defaults; other keys are ignored)."""
        return {s.name: s.from_json(config[s.name]) for s in cls.settings if s.name in config}

    # --- code ---------------------------------------------------------------------------------------
    def keras_code(self) -> CodePart:
        """The Keras 3 constructor call (non-default settings and the name)."""
        args = [
            f"{s.name}={_literal(s.check(self.values[s.name]))}"
            for s in self.settings
            if s.required or self.values[s.name] != s.default
        ]
        return CodePart(f"keras.layers.{self.kind}({', '.join([*args, f'name={self.name!r}'])})")

    def torch_code(self, shape: Shape) -> list[CodePart]:
        """The torch modules computing this layer on input `shape`, each with its weights in torch's layout."""
        raise LayerConfigError(f"{self.kind} cannot be written as PyTorch code yet")


def _draw_totals(specs: list[WeightSpec]) -> tuple[int, int]:
    """(work, bytes of the largest one's temporaries) of drawing the weights `specs` describe."""
    work = nbytes = 0
    for spec in specs:
        spec_work, spec_bytes = spec.initializer.cost(spec.shape)
        work += spec_work
        nbytes = max(nbytes, spec_bytes)
    return work, nbytes


def _described(args: tuple, kwargs: dict) -> str:
    """What a call was given, in a few words (for refusals)."""
    parts = [type(a).__name__ if not isinstance(a, KerasTensor) else "a tensor" for a in args]
    parts += [f"{k}=" + (type(v).__name__ if not isinstance(v, KerasTensor) else "a tensor") for k, v in kwargs.items()]
    return ", ".join(parts)[:120] or "no arguments"


def _literal(value) -> str:
    """A Python literal of a setting value (tuples stay tuples)."""
    return repr(value)
