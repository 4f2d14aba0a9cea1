"""Input, Model and Sequential: a chain of layers with Keras's model API."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from .analysis import Analysis, analyze, analyze_graph, budget_issue, layer_names
from .budget import FLOAT32, UNBOUNDED, current
from .fitting import Trainable, numbers, refuse
from .errors import IncompatibleShapeError, InputDataError, LayerConfigError, ShapeIssue, issue_error
from .graph import Graph, Input, InputLayer  # noqa: F401 (Input: the functional API's, with Model below)
from .initializers import layer_seed, resolve_seed
from .layer import CodePart, Cost, Layer, Problem
from .serialization import (
    chain_document,
    functional_config,
    functional_from_json,
    functional_json,
    model_config,
    read_json,
    to_json,
)
from .tensors import KerasTensor, flatten, pack
from .summary import summary_text
from .shapes import summary_shape
from .shapes import check_input_shape, format_shape


class ModelLayer(Layer):
    """A whole model called on a tensor as one layer of another, as Keras nests them (ConvNeXt's stem is a Sequential):
    one input and one output; its weights are its layers', in their order, and its cost the sum of theirs."""

    is_model = True
    keras_module = "keras"

    def _start_model(self, name, default_name: str) -> None:
        self._start(name)
        self.name = self.name or default_name
        self.values, self._declared_input_shape = {}, None

    def __call__(self, *args, **kwargs):
        """On symbolic tensors, a call of this model as a layer of another (Keras records `mask=None` with it); on data,
        `predict`."""
        if flatten((args, kwargs)):
            self._build_for(self.call_shape(args, kwargs))
            return Layer.__call__(self, *args, **{**kwargs, "mask": kwargs.get("mask")})
        return self.predict(*args, **kwargs)

    def build_config(self) -> dict:
        """Keras's build_config of the model."""
        raise NotImplementedError

    def _build_for(self, shape) -> None:
        """Build the model for input `shape` if it has no input yet (a Sequential without an Input)."""

    def build(self, shape, seed: int) -> None:
        self._build_for(shape)

    def record_shapes(self, input_shape, output_shape) -> None:
        """Its shapes are its own model's."""

    def _layer_shapes(self) -> tuple[tuple, tuple] | None:
        """(input shape, output shape) as a layer, or None when it cannot be one."""
        raise NotImplementedError

    def named_layers(self) -> list[Layer]:
        """Its own layers (and Inputs), whose automatic names a model it is part of counts with its own (as Keras)."""
        raise NotImplementedError

    def get_layer(self, name: str) -> Layer:
        """The layer called `name`, as Keras's Model.get_layer finds it (in a Sequential as in a Functional)."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise LayerConfigError(
            f"No such layer: {str(name)[:64]}. Existing layers are: {[layer.name for layer in self.layers]}."
        )

    def input_problem(self, shape, name: str) -> Problem | None:
        shapes = self._layer_shapes()
        if shapes is None:
            return Problem(
                "a model of one input and one output",
                f"Model {name!r} has {len(self.inputs)} inputs and "
                f"{len(self.outputs)} outputs; netbuilder uses a model as a layer when it has one of each.",
                "A layer takes one tensor and makes one.",
            )
        if isinstance(shape, list) or tuple(shape) != shapes[0]:
            got = " and ".join(map(format_shape, shape)) if isinstance(shape, list) else format_shape(shape)
            return Problem(
                f"shape {format_shape(shapes[0])}",
                f"Model {name!r} ({self.kind}) expects input of shape {format_shape(shapes[0])}, received {got}.",
                "A model used as a layer takes the input its own Input declares.",
            )
        return None

    def compute_output_shape(self, shape):
        return self._layer_shapes()[1]

    @property
    def weights(self) -> list[np.ndarray]:
        """Its layers' weights themselves, in order (what training updates in place; get_weights copies them)."""
        return [w for layer in self._weighted() for w in layer.weights]

    def weight_specs(self, shape) -> list:
        return [spec for layer in self._weighted() for spec in layer.weight_specs(layer.built_shape)]

    def count_params_for(self, shape) -> tuple[int, int]:
        return self.cost.trainable_params, self.cost.non_trainable_params

    def formula(self, shape) -> str:
        return ""

    def label(self) -> str:
        return f"{len(self.layers)} layers"

    def keras_code(self) -> CodePart:
        raise LayerConfigError(f"model {self.name!r}, a {self.kind} inside another, cannot be written as code yet")

    def torch_code(self, shape) -> list[CodePart]:
        raise LayerConfigError(f"model {self.name!r}, a {self.kind} inside another, cannot be written as code yet")

    def full_cost(self, shape, output_shape) -> Cost:
        """Its layers' work summed; its memory, that of running it on its own beside its input and output (an upper
        bound)."""
        c = self.cost
        return Cost(
            mult_adds=c.mult_adds,
            elementwise=c.elementwise,
            scratch=c.predict_bytes(1) // FLOAT32,
            overhead=c.overhead,
            train_overhead=c.train_overhead,
            train_elementwise=c.train_elementwise,
            train_kept=sum(c.sizes) + sum(cost.train_kept for cost in c.costs),
            train_scratch=c.backprop_bytes(1) // FLOAT32,
            untrainable=c.untrainable,
            build_work=c.build_work,
            build_bytes=c.build_bytes,
            train_fixed=c.train_fixed,
            trainable_arrays=c.trainable_arrays,
        )


class Sequential(Trainable, ModelLayer):
    """A stack of layers; built (shapes, weights) as soon as its input shape is known."""

    kind = "Sequential"

    def __init__(self, layers=None, seed=None, name=None):
        self._start_model(name, "sequential")
        self.seed = resolve_seed(seed)
        self._input: tuple[int, ...] | None = None
        self._input_layer: InputLayer | None = None  # the Input it was given (Keras writes its name in the config)
        self._layers: list[Layer] = []
        self._analysis: Analysis | None = None
        self.compile_config: dict = {}
        self.optimizer, self.loss, self.metrics_names, self.compiled = None, None, [], None
        self._rng: np.random.Generator | None = None  # made by compile
        for item in layers or []:
            self._append(item)
        self._rebuild()

    def _append(self, item) -> None:
        if isinstance(item, KerasTensor) and isinstance(item.node.layer, InputLayer):
            if self._input is not None or self._layers:
                raise LayerConfigError(
                    f"Sequential model {self.name!r} has already been configured to use input shape "
                    f"{format_shape((None, *self._input)) if self._input is not None else 'from its first layer'}. "
                    "An Input can only come first."
                )
            self._input = item.shape[1:]
            self._input_layer = item.node.layer
            return
        if not isinstance(item, Layer):
            raise LayerConfigError(
                f"Only layers (Dense, Conv2D, ...) or Input(...) can be added to a Sequential model. "
                f"Received: {str(item)[:60]} (of type {type(item).__name__})"
            )
        if not self._layers and self._input is None and item._declared_input_shape is not None:
            self._input = item._declared_input_shape
        self._layers.append(item)

    def add(self, layer) -> None:
        """Append a layer (or an Input first); a layer that does not fit is not kept."""
        before = (self._input, list(self._layers))
        self._append(layer)
        try:
            self._rebuild()
        except ValueError:
            self._input, self._layers = before
            self._rebuild()
            raise

    def pop(self) -> Layer:
        layer = self._layers.pop()
        self._rebuild()
        return layer

    # --- as a layer of another model ------------------------------------------------------------------
    def _build_for(self, shape) -> None:
        if self._input is None and not isinstance(shape, list):
            self._input = tuple(shape[1:])
            self._rebuild()

    def _layer_shapes(self):
        return (None, *self._input), self.output_shape

    def build_config(self) -> dict:
        return {"input_shape": list(self.input_shape)}

    def keras_code(self) -> CodePart:
        """keras.Sequential([keras.Input(shape), its layers...], name=...): a Sequential inside another model."""
        parts = [layer.keras_code() for layer in self._layers]
        return CodePart(
            f"keras.Sequential([keras.Input(shape={self._input!r}), {', '.join(p.code for p in parts)}], "
            f"name={self.name!r})",
            {k: v for p in parts for k, v in p.helpers.items()},
        )

    def torch_code(self, shape) -> list[CodePart]:
        """Its layers' torch modules in order (the export makes them one nn.Sequential)."""
        return [
            part
            for layer, report in zip(self._layers, self.analysis.layers)
            for part in layer.torch_code(report.input_shape)
        ]

    def input_problem(self, shape, name: str) -> Problem | None:
        if self._input is None:
            return Problem(
                "a model with an input shape",
                f"Model {name!r} (Sequential) has no input shape yet.",
                "Give it an Input first (Sequential([Input(shape), ...])), or call it on a tensor.",
            )
        return super().input_problem(shape, name)

    def _weighted(self) -> list[Layer]:
        return self._layers

    def named_layers(self) -> list[Layer]:
        return [*([self._input_layer] if self._input_layer is not None else []), *self._layers]

    def call(self, x: np.ndarray) -> np.ndarray:
        for call in self._calls:
            x = call(x)
        return x

    def forward_train(self, x: np.ndarray, rng: np.random.Generator):
        caches = []
        for layer in self._layers:
            x, cache = layer.forward_train(x, rng)
            caches.append(cache)
        return x, caches

    def backward(self, caches, dy: np.ndarray):
        grads = []
        for layer, cache in zip(reversed(self._layers), reversed(caches)):
            dy, layer_grads = layer.backward(cache, dy)
            grads = list(layer_grads) + grads
        return dy, grads

    def _rebuild(self) -> None:
        for layer, name in zip(self._layers, layer_names(self._layers)):
            layer.name = name
        self._analysis, self._batch_bounds = None, {}
        if self._input is None:
            return
        analysis = analyze(
            self._layers, self._input
        )  # shapes and the budget first: nothing is allocated for a model refused
        if (issue := analysis.issue or budget_issue(analysis)) is not None:
            raise issue_error(issue)
        for i, (layer, report) in enumerate(zip(self._layers, analysis.layers)):
            layer.build(report.input_shape, layer_seed(self.seed, i))
            layer.record_shapes(report.input_shape, report.output_shape)
        self._analysis = analysis
        self._calls = tuple(layer.call for layer in self._layers)

    # --- shapes -------------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return self._analysis is not None

    def _require_built(self, what: str) -> Analysis:
        if self._analysis is None:
            raise AttributeError(
                f"Sequential model {self.name!r} has no defined {what} yet: give it an Input(shape=...) "
                "or input_shape= on its first layer, or call predict once."
            )
        return self._analysis

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    @property
    def input_shape(self) -> tuple:
        return self._require_built("input shape").input_shape

    @property
    def output_shape(self) -> tuple:
        return self._require_built("output shape").output_shape

    @property
    def analysis(self) -> Analysis:
        """Per-layer shapes, params and formulas (see netbuilder.analyze for unfit models)."""
        return self._require_built("analysis")

    def count_params(self) -> int:
        return self._require_built("parameter count").total_params

    @property
    def cost(self):
        """Parameters, weight bytes, mult-adds and forward-pass memory, from shapes
        (netbuilder.engine.cost.ModelCost)."""
        return self._require_built("cost").cost

    # --- weights ------------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        return [w for layer in self._layers for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        _set_weights(self.name, self._layers, weights)

    # --- computing ----------------------------------------------------------------------------
    def _as_input(self, x) -> np.ndarray:
        """`x` as float32 with the model's per-sample shape, or an error naming both shapes."""
        arr = numbers(x, "input")
        if self._input is None:
            if arr.ndim < 1:
                raise InputDataError("input needs a batch axis; received a scalar")
            self._input = check_input_shape(arr.shape[1:])
            try:
                self._rebuild()
            except ValueError:  # the data's shape does not fit the layers: stay unbuilt for the next try
                self._input = None
                raise
        if arr.ndim < 1 or arr.shape[1:] != self._input:
            issue = self._input_issue(arr.shape)
            raise IncompatibleShapeError(issue.message, issue)
        return arr.astype(np.float32, copy=False)

    def _input_issue(self, received: tuple) -> ShapeIssue:
        want = self._input
        got = received[1:] if received else ()
        first = self._layers[0] if self._layers else None
        who = f"Layer {first.name!r} (the first layer)" if first else f"Model {self.name!r}"
        single = received == want
        return ShapeIssue(
            0 if first else -1,
            first.name if first else self.name,
            first.kind if first else "Sequential",
            f"shape {format_shape(want)} per sample",
            received,
            f"{who} expects input of shape {format_shape(want)} per sample, received {format_shape(got)} "
            f"(full input shape {format_shape(received)}).",
            "The input must be a batch: its first axis counts samples, the rest must equal the model's input shape."
            + (" This looks like one sample without its batch axis: wrap it in one more [ ]." if single else ""),
        )

    def forward(self, x, keep_bytes: int | None = None, checkpoint: Callable[[], None] | None = None) -> list:
        """The input as float32 followed by every layer's output (what the app shows).

        Outputs are kept while they fit in `keep_bytes` (None: the current budget's run bytes, or all of them);
        past that, entries are None and the rest runs as predict does, so the last entry (the model's output) is
        always there. `checkpoint` is called between layers (a caller stops a long run by raising there)."""
        y = self._as_input(x)
        batch = y.shape[0]
        self._check_run(batch)
        keep = self._analysis.cost.kept_layers(batch, current().run_bytes if keep_bytes is None else keep_bytes)
        tensors = [y]
        for i, call in enumerate(self._calls):
            if checkpoint is not None:
                checkpoint()
            y = call(y)
            tensors.append(y if i < keep or i == len(self._calls) - 1 else None)
        return tensors

    def predict(
        self,
        x,
        batch_size=None,
        verbose="auto",
        steps=None,
        callbacks=None,
        checkpoint: Callable[[], None] | None = None,
    ) -> np.ndarray:
        """The model's output for `x` (float32); batch_size and verbose are accepted as in Keras (they change nothing).
        `checkpoint` (netbuilder's own) is called before each layer, as in forward: a caller stops a long run by raising
        there."""
        if steps is not None or callbacks:
            refuse("predict", {}, steps=steps, callbacks=callbacks or None)
        if type(x) is np.ndarray and x.dtype == np.float32 and x.ndim and x.shape[1:] == self._input:
            y = x  # already a float32 batch of the right shape
        else:
            y = self._as_input(x)
        self._check_run(y.shape[0])
        if checkpoint is None:  # the common, short call stays a bare loop
            for call in self._calls:
                y = call(y)
            return y
        for call in self._calls:
            checkpoint()
            y = call(y)
        return y

    # --- training (fitting.Trainable drives it) ----------------------------------------------------
    def _feed(self, x) -> list[np.ndarray]:
        return [self._as_input(x)]

    def _outputs(self) -> list[tuple[str, tuple]]:
        return [(self._layers[-1].name if self._layers else self.name, self.output_shape)]

    def _keyed_outputs(self) -> bool:
        return False

    def _inference(self, xs: list) -> list[np.ndarray]:
        return [self.predict(xs[0])]

    def _gradients(
        self, xs: list, ys: list, rng: np.random.Generator, sample_weights: list | None = None
    ) -> tuple[float, dict, list, list]:
        """One batch forward in training mode, the loss (its samples weighed by `sample_weights`) and its gradient, and
        backward: (loss, the logged values, the trainable weights, their gradients); the optimizer's update is the
        trainer's next step."""
        out, caches = self.forward_train(xs[0], rng)
        loss, (grad,), values = self.compiled.evaluate(ys, [out], gradients=True, sample_weights=sample_weights)
        _, grads = self.backward(caches, grad)
        return loss, values, self._trainable_weights(), grads

    def _trainable_weights(self) -> list[np.ndarray]:
        return [w for layer in self._layers for w in _trainable(layer)]

    # --- describing ---------------------------------------------------------------------------
    def summary(self, line_length=None, print_fn=None) -> None:
        """Print Keras's summary table (to `print_fn` once, as Keras does, when given)."""
        text = summary_text(self, line_length)
        (print_fn or print)(text if print_fn else text.rstrip("\n"))

    def summary_rows(self) -> tuple[bool, list[tuple[str, ...]]]:
        """Keras's summary rows: a Sequential's are a chain's, one per layer."""
        return True, [
            (f"{layer.name} ({layer.kind})", summary_shape(report.output_shape), f"{report.params:,}")
            for layer, report in zip(self.layers, self.analysis.layers)
        ]

    def get_config(self) -> dict:
        return model_config(self)

    def to_json(self) -> str:
        return to_json(self)


def Model(inputs, outputs, name=None, seed=None) -> Functional:
    """keras.Model(inputs, outputs): a model from its Input tensors to its outputs (each one, a list or a dict)."""
    return Functional(inputs, outputs, name=name, seed=seed)


class Functional(Trainable, ModelLayer):
    """A model of any graph of layer calls from its Input tensors to its outputs, as Keras's Functional.

    Its layers are Keras's `model.layers` (deepest first; InputLayers among them) with Keras's automatic names, and
    weights drawn from the model seed (layer i of those with weights uses seed `1000·seed + i`). Shapes are known from
    the calls; budgets are checked before any weight is drawn. predict runs the calls in order and lets go of each
    tensor once the last call that reads it has run."""

    kind = "Functional"
    keras_module = "keras.src.models.functional"
    keras_registered_name = "Functional"
    keras_first_node = 1

    def __init__(self, inputs, outputs, name=None, seed=None):
        self._start_model(name, "functional")
        self.graph = Graph(inputs, outputs)
        self.seed = resolve_seed(seed)
        self._analysis: Analysis | None = None  # made when first asked for (a summary, a run), unless a budget needs it
        if current() != UNBOUNDED and (issue := budget_issue(self.analysis)) is not None:
            raise issue_error(issue)
        self._calls = [node for node in self.graph.nodes if not node.is_input]
        for i, layer in enumerate(self._weighted()):
            layer.build(layer.built_shape, layer_seed(self.seed, i))
        for node in reversed(self._calls):  # a layer's shapes: its first call's in this model
            node.layer.record_shapes(node.layer.call_shape(node.args, node.kwargs), node.outputs[0].shape)
        self._reads = _reads(self.graph, self._calls)
        self._batch_bounds: dict = {}
        self.compile_config: dict = {}
        self.optimizer, self.loss, self.metrics_names, self.compiled, self._rng = None, None, [], None, None

    def _weighted(self) -> list[Layer]:
        return [layer for layer in self.layers if not isinstance(layer, InputLayer)]

    # --- shapes -------------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        """Keras's model.layers: the layers of the graph, deepest first (its operations, keras.ops calls, left out)."""
        return [layer for layer in self.graph.layers if layer.is_layer]

    @property
    def inputs(self) -> list[KerasTensor]:
        return list(self.graph.inputs)

    @property
    def outputs(self) -> list[KerasTensor]:
        return list(self.graph.outputs)

    @property
    def input_shape(self):
        """One input's shape (batch axis None), or a list of them, as Keras's model.input_shape."""
        return _one_or_list([t.shape for t in self.graph.inputs])

    @property
    def output_shape(self):
        return _one_or_list([t.shape for t in self.graph.outputs])

    @property
    def analysis(self) -> Analysis:
        """Each call's shapes, parameters, formula and cost, in the order the calls run."""
        if self._analysis is None:
            self._analysis = analyze_graph(self.graph)
        return self._analysis

    @property
    def cost(self):
        return self.analysis.cost

    def count_params(self) -> int:
        return self.analysis.total_params

    # --- weights ------------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        return [w for layer in self._weighted() for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        _set_weights(self.name, self._weighted(), weights)

    # --- computing ----------------------------------------------------------------------------
    def _feed(self, x) -> list[np.ndarray]:
        """`x` as one float32 array per input, shapes checked, as Keras takes it: a list in the inputs' order; a dict by
        the keys the model's inputs were given under (a model made with a dict of inputs), else by the inputs' names
        (other keys ignored)."""
        tensors, structure = self.graph.inputs, self.graph.input_structure
        names = [t.node.layer.name for t in tensors]
        keyed = isinstance(structure, dict)
        if isinstance(x, dict):
            keys = sorted(structure) if keyed else names  # flatten's order: a dict's values by sorted key
            missing = [k for k in keys if k not in x]
            extra = [str(k) for k in x if k not in keys] if keyed else []
            if missing or extra:
                raise InputDataError(
                    f"the input dict must have the keys {keys}; "
                    + (f"missing {missing}" if missing else f"unknown {extra[:5]}")
                )
            given = [x[k] for k in keys]
        elif keyed and list(structure) != sorted(structure):
            raise InputDataError(
                f"model {self.name!r} takes its inputs as a dict with the keys {list(structure)}: give a "
                "dict (a list would be matched to them in sorted order, which is not theirs)"
            )
        elif len(tensors) == 1:
            one = isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray)
            given = [x[0] if one else x]
        elif isinstance(x, (list, tuple)) and len(x) == len(tensors):
            given = list(x)
        else:
            raise InputDataError(
                f"model {self.name!r} has {len(tensors)} inputs ({', '.join(names)}): give a list of "
                f"{len(tensors)} arrays in that order, or a dict keyed by those names"
            )
        arrays = []
        for tensor, name, value in zip(tensors, names, given):
            arr = numbers(value, f"input {name!r}")
            if arr.ndim < 1 or arr.shape[1:] != tensor.shape[1:]:
                raise IncompatibleShapeError(
                    f"Input {name!r} of model {self.name!r} expects shape {format_shape(tensor.shape[1:])} per sample, "
                    f"received {format_shape(arr.shape[1:] if arr.ndim else ())} "
                    f"(full input shape {format_shape(arr.shape)})."
                )
            arrays.append(arr.astype(np.float32, copy=False))
        if len({len(a) for a in arrays}) > 1:
            raise InputDataError(f"the inputs hold different numbers of samples: {[len(a) for a in arrays]}")
        return arrays

    def _run(self, arrays, checkpoint=None, keep: int = 0) -> tuple[dict, list]:
        """Every call in order on `arrays`: (the model's outputs by tensor id, each call's output for the first `keep`
        calls, None for the rest). A tensor is let go once the last call that reads it has run."""
        values = {id(t): a for t, a in zip(self.graph.inputs, arrays)}
        left = dict(self._reads)
        shown = []
        for i, node in enumerate(self._calls):
            if checkpoint is not None:
                checkpoint()
            y = node.layer.call(node.layer.call_arguments(node, [values[id(t)] for t in node.inputs]))
            values[id(node.outputs[0])] = y
            shown.append(y if i < keep else None)
            for t in node.inputs:
                left[id(t)] -= 1
                if not left[id(t)]:
                    del values[id(t)]
        return values, shown

    def predict(
        self,
        x,
        batch_size=None,
        verbose="auto",
        steps=None,
        callbacks=None,
        checkpoint: Callable[[], None] | None = None,
    ):
        """The model's output(s) for `x` (float32, in the outputs' structure); batch_size and verbose change nothing."""
        if steps is not None or callbacks:
            refuse("predict", {}, steps=steps, callbacks=callbacks or None)
        arrays = self._feed(x)
        self._check_run(len(arrays[0]))
        values, _ = self._run(arrays, checkpoint)
        return _unwrap(pack(self.graph.output_structure, [values[id(t)] for t in self.graph.outputs]))

    def forward(self, x, keep_bytes: int | None = None, checkpoint: Callable[[], None] | None = None) -> list:
        """The inputs (float32) followed by every call's output in the order they run, kept while they fit in
        `keep_bytes` (None: the current budget's run bytes, or all; None after that, but for the model's outputs)."""
        arrays = self._feed(x)
        batch = len(arrays[0])
        self._check_run(batch)
        keep = self.cost.kept_layers(batch, current().run_bytes if keep_bytes is None else keep_bytes)
        values, shown = self._run(arrays, checkpoint, keep)
        outputs = {id(t) for t in self.graph.outputs}
        return [
            *arrays,
            *(
                values[id(node.outputs[0])] if id(node.outputs[0]) in outputs else y
                for node, y in zip(self._calls, shown)
            ),
        ]

    # --- training (fitting.Trainable drives it) ----------------------------------------------------
    def _outputs(self) -> list[tuple[str, tuple]]:
        """Each output's name and shape: Keras names them by their layers, or by their keys when they were given as a
        dict (its losses, metrics and targets then go by those keys)."""
        structure = self.graph.output_structure
        if isinstance(structure, dict) and all(isinstance(v, KerasTensor) for v in structure.values()):
            return [(key, structure[key].shape) for key in sorted(structure)]
        return [(t.node.layer.name, t.shape) for t in self.graph.outputs]

    def _keyed_outputs(self) -> bool:
        """Whether the outputs were given as a dict (Keras then takes targets, losses and weights by their keys)."""
        return isinstance(self.graph.output_structure, dict)

    def _inference(self, xs: list) -> list[np.ndarray]:
        values, _ = self._run(xs)
        return [values[id(t)] for t in self.graph.outputs]

    def _gradients(
        self, xs: list, ys: list, rng: np.random.Generator, sample_weights: list | None = None
    ) -> tuple[float, dict, list, list]:
        """One batch through every call in training mode, the losses (samples weighed by `sample_weights`) and their
        gradients at the outputs, then every call's backward in reverse. (loss, the logged values, the trainable
        weights, their gradients)."""
        state = self._train_forward(xs, rng)
        preds = [state[0][id(t)] for t in self.graph.outputs]
        loss, out_grads, logged = self.compiled.evaluate(ys, preds, gradients=True, sample_weights=sample_weights)
        _, grads = self._train_backward(state, out_grads, inputs=False)
        return loss, logged, self._trainable_weights(), grads

    def _train_forward(self, xs: list, rng: np.random.Generator) -> tuple[dict, list]:
        """Every call in training mode: (every tensor's value by id, each call's cache for backward)."""
        values = {id(t): a for t, a in zip(self.graph.inputs, xs)}
        caches = []
        for node in self._calls:
            arguments = node.layer.call_arguments(node, [values[id(t)] for t in node.inputs])
            values[id(node.outputs[0])], cache = node.layer.forward_train(arguments, rng)
            caches.append(cache)
        return values, caches

    def _train_backward(self, state, out_grads: list, inputs: bool) -> tuple[list, list]:
        """Every call's backward in reverse from the outputs' gradients: a tensor read by several calls gets the sum of
        their gradients, a shared layer the sum of its calls' weight gradients. (The inputs' gradients when `inputs`,
        the trainable weights' gradients in their order.)"""
        values, caches = state
        grads: dict[int, np.ndarray] = {}
        for t, g in zip(self.graph.outputs, out_grads):
            _accumulate(grads, id(t), g)
        weight_grads: dict[int, list] = {}
        for node, cache in zip(reversed(self._calls), reversed(caches)):
            dy = grads.pop(id(node.outputs[0]), None)
            if dy is None:  # nothing downstream reached a loss
                continue
            dx, layer_grads = node.layer.backward(cache, dy)
            for t, g in zip(node.inputs, dx if node.layer.takes_list else [dx]):
                if inputs or not isinstance(t.node.layer, InputLayer):
                    _accumulate(grads, id(t), g)
            total = weight_grads.get(id(node.layer))
            weight_grads[id(node.layer)] = (
                list(layer_grads) if total is None else [a + b for a, b in zip(total, layer_grads)]
            )
        flat = []
        for layer in self._weighted():
            flat += weight_grads.get(id(layer)) or [np.zeros_like(w) for w in _trainable(layer)]
        given = [grads.get(id(t), np.zeros_like(values[id(t)])) for t in self.graph.inputs] if inputs else []
        return given, flat

    # --- as a layer of another model ------------------------------------------------------------------
    def named_layers(self) -> list[Layer]:
        return self.graph.layers

    def build_config(self) -> dict:
        return {"input_shape": None}

    def _layer_shapes(self):
        if len(self.graph.inputs) != 1 or len(self.graph.outputs) != 1:
            return None
        return self.graph.inputs[0].shape, self.graph.outputs[0].shape

    def call(self, x: np.ndarray) -> np.ndarray:
        values, _ = self._run([x])
        return values[id(self.graph.outputs[0])]

    def forward_train(self, x: np.ndarray, rng: np.random.Generator):
        state = self._train_forward([x], rng)
        return state[0][id(self.graph.outputs[0])], state

    def backward(self, state, dy: np.ndarray):
        (dx,), grads = self._train_backward(state, [dy], inputs=True)
        return dx, grads

    def _trainable_weights(self) -> list[np.ndarray]:
        return [w for layer in self._weighted() for w in _trainable(layer)]

    # --- describing ---------------------------------------------------------------------------
    def summary(self, line_length=None, print_fn=None) -> None:
        """Print Keras's summary table (to `print_fn` once, as Keras does, when given)."""
        text = summary_text(self, line_length)
        (print_fn or print)(text if print_fn else text.rstrip("\n"))

    def summary_rows(self) -> tuple[bool, list[tuple[str, ...]]]:
        """Keras's rows, one per operation (each layer of model.layers, and each keras.ops call): its last call's output
        shape, its parameters, and (unless the graph is a chain) the tensors each of its calls took,
        `name[node][tensor]`."""
        chain = _sequential_like(self.graph)
        rows, shapes = [], {}  # shapes repeat: each written once
        for layer in self.graph.layers:
            last = layer._inbound_nodes[-1].outputs[0].shape
            if last not in shapes:
                shapes[last] = summary_shape(last)
            row = (f"{layer.name} ({layer.kind})", shapes[last], f"{layer.count_params():,}")
            rows.append(row if chain else (*row, _connected_to(self.graph.calls(layer))))
        return chain, rows

    def get_config(self) -> dict:
        return functional_config(self)

    def to_json(self) -> str:
        return functional_json(self)


def model_from_json(text, seed=None, custom_objects=None):
    """A model from Keras 3 JSON (`model.to_json()`) of the kinds netbuilder has: a Sequential, or a Functional model of
    any graph, models inside it too. Layers keep the shapes they were built for, as in Keras, so an inconsistent
    document fails the same way; weights are drawn from `seed` (JSON has none)."""
    with _collector_paused():
        return _from_document(read_json(text), resolve_seed(seed))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block (left as it was found): reading a model makes tens of
    thousands of objects that all stay alive, and the passes their allocations set off find nothing to free (12% of
    reading ResNet50, more in a process holding many objects)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _from_document(doc, seed: int):
    """The model a parsed Keras JSON document (or a model's entry inside another's) describes."""

    def nested(entry: dict) -> Layer:  # a model inside this one (the depth of nesting is bounded by the JSON's)
        return _from_document(entry, seed)

    if (
        isinstance(doc, dict)
        and doc.get("class_name") in ("Functional", "Model")
        and isinstance(doc.get("config"), dict)
    ):
        name, inputs, outputs = functional_from_json(doc, nested)
        return Functional(inputs, outputs, name=name if isinstance(name, str) else None, seed=seed)
    document = chain_document(doc, nested)
    head = [Input(document.input_shape, name=document.input_name)] if document.input_shape is not None else []
    return Sequential(head + document.layers, seed=seed, name=document.name)


def _one_or_list(shapes: list):
    return shapes[0] if len(shapes) == 1 else shapes


def _unwrap(value):
    """Keras's one-element list of outputs is the output itself."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _reads(graph: Graph, calls) -> dict[int, int]:
    """How many times each tensor is read (by calls, and once more for each model output: outputs are never let go)."""
    reads: dict[int, int] = {}
    for t in [*(t for node in calls for t in node.inputs), *graph.outputs, *graph.outputs]:
        reads[id(t)] = reads.get(id(t), 0) + 1
    return reads


def _connected_to(calls: list) -> str:
    """Keras's "Connected to" cell: each tensor the calls took, as `name[node index][tensor index]`; "-" for none."""
    taken = []
    for node in calls:
        for t in node.inputs:
            made_by = t.node.layer
            taken.append(f"{made_by.name}[{made_by._inbound_nodes.index(t.node)}][{t.index}]")
    return ", ".join(taken) or "-"


def _sequential_like(graph: Graph) -> bool:
    """Keras's test for its 3-column summary: one call at each depth, none taking two tensors, each layer called
    once."""
    by_depth: dict[int, list] = {}
    for node in graph.nodes:
        by_depth.setdefault(graph.depth[id(node)], []).append(node)
    if any(len(nodes) > 1 or len(nodes[0].inputs) > 1 for nodes in by_depth.values()):
        return False
    return all(len(graph.calls(layer)) <= 1 for layer in graph.layers)


def _set_weights(owner: str, layers: list[Layer], weights) -> None:
    """Keras's set_weights over layers in order: the list must hold exactly every layer's weights."""
    weights = list(weights)
    expected = sum(len(layer.weights) for layer in layers)
    if len(weights) != expected:
        raise LayerConfigError(
            f"You called `set_weights(weights)` on layer {owner!r} with a weight list of length {len(weights)}, but "
            f"the layer was expecting {expected} weights."
        )
    for layer in layers:
        n = len(layer.weights)
        layer.set_weights(weights[:n])
        weights = weights[n:]


def _accumulate(grads: dict, key: int, grad: np.ndarray) -> None:
    """Add a gradient to a tensor's (a tensor read by several calls gets the sum)."""
    grads[key] = grad if key not in grads else grads[key] + grad


def _trainable(layer: Layer) -> list[np.ndarray]:
    """A layer's trainable weights, in its weights' order."""
    return [w for w, spec in zip(layer.weights, layer.weight_specs(layer.built_shape)) if spec.trainable]
