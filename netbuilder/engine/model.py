"""Input, Model and Sequential: a chain of layers with Keras's model API."""

from __future__ import annotations


import numpy as np

from collections.abc import Callable

from . import optimizers, training
from .analysis import Analysis, analyze, analyze_graph, layer_names
from .cost import StepCost
from .arguments import refuse_unhonoured
from .errors import IncompatibleShapeError, InputDataError, LayerConfigError, LimitError, ShapeIssue, issue_error
from .graph import Graph, Input, InputLayer  # noqa: F401 (Input: the functional API's, with Model below)
from .initializers import layer_seed, resolve_seed
from .layer import Layer, check_name
from .serialization import functional_config, functional_from_json, functional_json, layers_from_json, model_config, read_json, to_json
from .tensors import KerasTensor, pack
from .summary import summary_text
from .shapes import summary_shape
from .limits import MAX_FORWARD_BYTES, MAX_TENSOR_ELEMENTS
from .shapes import check_input_shape, format_shape


class Sequential:
    """A stack of layers; built (shapes, weights) as soon as its input shape is known."""

    def __init__(self, layers=None, seed=None, name=None):
        self.name = check_name(name) or "sequential"
        self.seed = resolve_seed(seed)
        self._input: tuple[int, ...] | None = None
        self._layers: list[Layer] = []
        self._analysis: Analysis | None = None
        self.compile_config: dict = {}
        self.optimizer, self.loss, self.metrics_names = None, None, []
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

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None, run_eagerly=False,
                steps_per_execution=1, jit_compile="auto", auto_scale_loss=True, **unknown) -> None:
        """Keras's compile: an optimizer (a name such as "sgd", "adam", or an optimizer object), a loss (a name such as
        "mse", or a netbuilder.losses object) and metrics ("accuracy", "mae", "mse"). run_eagerly, steps_per_execution,
        jit_compile and auto_scale_loss change how Keras runs, not what it computes: accepted, and nothing changes."""
        _refuse("compile", unknown, loss_weights=loss_weights, weighted_metrics=weighted_metrics or None)
        chosen = optimizers.get_optimizer(optimizer), training.get_loss(loss) if loss is not None else None
        names = [str(m) for m in (metrics or [])]
        for name in names:
            training.metric_values(name, np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32))  # refuses unknown names
        (self.optimizer, self.loss), self.metrics_names = chosen, names  # all or nothing
        # one random stream per compiled model that goes on across fit and train_on_batch calls, as Keras's
        # SeedGenerator does (shuffles and Dropout masks never repeat), and starts afresh from the seed on compile
        self._rng = np.random.default_rng([self.seed, 1])
        self.compile_config = {"optimizer": optimizer, "loss": loss, "metrics": metrics}

    def _rebuild(self) -> None:
        for layer, name in zip(self._layers, layer_names(self._layers)):
            layer.name = name
        self._analysis = None
        if self._input is None:
            return
        analysis = analyze(self._layers, self._input)  # shapes and budgets first: nothing is allocated for a model refused
        if not analysis.ok:
            raise issue_error(analysis.issue)
        for i, (layer, report) in enumerate(zip(self._layers, analysis.layers)):
            layer.build(report.input_shape, layer_seed(self.seed, i))
            layer.input_shape, layer.output_shape = report.input_shape, report.output_shape
        self._analysis = analysis
        # Per-call overhead is what a learner feels on a small model: precompute what predict checks.
        self._max_batch = analysis.cost.max_batch()
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
        """Parameters, weight bytes, mult-adds and forward-pass memory, from shapes (netbuilder.engine.cost.ModelCost)."""
        return self._require_built("cost").cost

    # --- weights ------------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        return [w for layer in self._layers for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        _set_weights(self.name, self._layers, weights)

    # --- computing ----------------------------------------------------------------------------
    def _as_input(self, x) -> np.ndarray:
        """`x` as float32 with the model's per-sample shape, or an error naming both shapes."""
        arr = _numbers(x, "input")
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
            0 if first else -1, first.name if first else self.name, first.kind if first else "Sequential",
            f"shape {format_shape(want)} per sample", received,
            f"{who} expects input of shape {format_shape(want)} per sample, received {format_shape(got)} "
            f"(full input shape {format_shape(received)}).",
            "The input must be a batch: its first axis counts samples, the rest must equal the model's input shape."
            + (" This looks like one sample without its batch axis: wrap it in one more [ ]." if single else ""),
        )

    def forward(self, x, keep_bytes: int = MAX_FORWARD_BYTES, checkpoint: Callable[[], None] | None = None) -> list:
        """The input as float32 followed by every layer's output (what the app shows).

        Outputs are kept while they fit in `keep_bytes`; past that, entries are None and the rest runs as
        predict does, so the last entry (the model's output) is always there. `checkpoint` is called
        between layers (a caller stops a long run by raising there)."""
        y = self._as_input(x)
        batch = y.shape[0]
        self._analysis.cost.check_run(batch)
        keep = self._analysis.cost.kept_layers(batch, keep_bytes)
        tensors = [y]
        for i, call in enumerate(self._calls):
            if checkpoint is not None:
                checkpoint()
            y = call(y)
            tensors.append(y if i < keep or i == len(self._calls) - 1 else None)
        return tensors

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None,
                checkpoint: Callable[[], None] | None = None) -> np.ndarray:
        """The model's output for `x` (float32); batch_size and verbose are accepted as in Keras (they change nothing).
        `checkpoint` (netbuilder's own) is called before each layer, as in forward: a caller stops a long run by raising there."""
        if steps is not None or callbacks:
            _refuse("predict", {}, steps=steps, callbacks=callbacks or None)
        if type(x) is np.ndarray and x.dtype == np.float32 and x.ndim and x.shape[1:] == self._input:
            y = x  # already a float32 batch of the right shape
        else:
            y = self._as_input(x)
        if y.shape[0] > self._max_batch:
            self._analysis.cost.check_run(y.shape[0])  # raises the LimitError that names the budget
        if checkpoint is None:  # the common, short call stays a bare loop
            for call in self._calls:
                y = call(y)
            return y
        for call in self._calls:
            checkpoint()
            y = call(y)
        return y

    __call__ = predict

    # --- training -------------------------------------------------------------------------------
    def _targets(self, y, samples: int) -> np.ndarray:
        arr = _numbers(y, "targets")
        if arr.ndim < 1 or len(arr) != samples:
            raise InputDataError(f"x holds {samples:,} samples but y holds {len(arr) if arr.ndim else 0:,}; give one target per sample")
        return arr.astype(np.float32, copy=False)

    def _require_compiled(self) -> None:
        if self.loss is None:
            raise LayerConfigError("You must call `compile()` with a loss before training or evaluating the model.")
        self._require_built("input shape")

    def _gradients(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[float, np.ndarray, list, list]:
        """One batch forward in training mode, the loss and its gradient, and backward: (loss, output, the trainable
        weights, their gradients); the optimizer's update is the trainer's next step."""
        caches, out = [], x
        for layer in self._layers:
            out, cache = layer.forward_train(out, rng)
            caches.append(cache)
        loss, grad = self.loss.value_and_gradient(y, out)
        weights, grads = [], []
        for layer, cache in zip(reversed(self._layers), reversed(caches)):
            grad, layer_grads = layer.backward(cache, grad)
            trainable = [w for w, spec in zip(layer.weights, layer.weight_specs(layer.built_shape)) if spec.trainable]
            weights = trainable + weights
            grads = list(layer_grads) + grads
        return loss, out, weights, grads

    def trainer(self, x, y, batch_size=32, epochs=1, validation_split=0.0, validation_data=None, shuffle=True,
                validation_batch_size=None, halt_on_divergence=False) -> training.Trainer:
        """A training run that can go on in pieces (what `fit` runs to its end); the data and budgets are checked first.
        With `halt_on_divergence`, a loss or gradient that stops being finite ends the run before its update."""
        self._require_compiled()
        x = self._as_input(x)
        y = self._targets(y, len(x))
        batch_size, epochs = _count("batch_size", batch_size, 1, 1 << 20), _count("epochs", epochs, 0, 100_000)
        if validation_batch_size is not None:
            validation_batch_size = _count("validation_batch_size", validation_batch_size, 1, 1 << 20)
        if not (isinstance(validation_split, (int, float)) and 0 <= validation_split < 1):
            raise LayerConfigError(f"validation_split must be a number from 0 (included) to 1 (excluded); received {validation_split!r}")
        validation = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise LayerConfigError("validation_data must be a tuple (x_val, y_val)")
            if len(validation_data) == 3:
                _refuse("fit", {}, sample_weight=validation_data[2])  # Keras's (x_val, y_val, val_sample_weight)
            vx, vy = validation_data[:2]
            vx = self._as_input(vx)
            validation = (vx, self._targets(vy, len(vx)))
        elif validation_split:
            split = int(len(x) * (1 - validation_split))  # Keras keeps the last samples for validation, before shuffling
            x, y, validation = x[:split], y[:split], (x[split:], y[split:])
        if len(x) == 0:
            raise InputDataError("there are no samples left to train on")
        for data_x, data_y in ((x, y), *([validation] if validation else [])):
            _check_finite(data_x)
            self.loss.check_targets(data_y, self.output_shape)
        batch = min(batch_size, len(x))
        self._analysis.cost.check_training(len(x) + (len(validation[0]) if validation else 0), epochs, batch, self.step_cost())
        if len(self.optimizer.slots) != len(self._trainable_weights()):  # Keras keeps an optimizer's state across fits
            self.optimizer.build(self._trainable_weights())
        return training.Trainer(self, x, y, batch_size, epochs, validation, bool(shuffle), self._rng, validation_batch_size,
                                halt_on_divergence)

    def step_cost(self) -> StepCost:
        """What a training step of this compiled model costs beyond its layers (the loss, metrics and optimizer)."""
        self._require_compiled()
        return training.step_cost(self.loss, self.metrics_names, self.optimizer)

    def _trainable_weights(self) -> list[np.ndarray]:
        return [w for layer in self._layers for w, spec in zip(layer.weights, layer.weight_specs(layer.built_shape)) if spec.trainable]

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0, steps_per_epoch=None,
            validation_steps=None, validation_batch_size=None, validation_freq=1, **unknown) -> training.History:
        """Keras's fit: `epochs` passes over (x, y) in batches (of 32 when batch_size is None); returns a History with
        per-epoch loss and metrics. Keras arguments netbuilder does not honour are refused unless left at their defaults."""
        _refuse("fit", unknown, callbacks=callbacks or None, class_weight=class_weight,
                sample_weight=sample_weight, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                validation_steps=validation_steps, validation_freq=validation_freq)
        run = self.trainer(x, y, 32 if batch_size is None else batch_size, epochs, validation_split, validation_data, shuffle,
                           validation_batch_size)
        run.run()
        return run.history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None, callbacks=None,
                 return_dict=False, **unknown):
        """The loss (and metrics) on (x, y) in inference mode, in batches (of 32 when batch_size is None): a number,
        or [loss, *metrics] with metrics."""
        _refuse("evaluate", unknown, sample_weight=sample_weight, steps=steps, callbacks=callbacks or None)
        self._require_compiled()
        x = self._as_input(x)
        y = self._targets(y, len(x))
        batch_size = _count("batch_size", 32 if batch_size is None else batch_size, 1, 1 << 20)
        self._analysis.cost.check_run(min(batch_size, len(x)))
        loss, metrics = training.Mean(), {name: training.Mean() for name in self.metrics_names}
        for start, stop in training.batches(len(x), batch_size):
            out = self.predict(x[start:stop])
            value, _ = self.loss.value_and_gradient(y[start:stop], out)
            loss.add(value, weight=stop - start)
            for name, mean in metrics.items():
                mean.add(training.metric_values(name, y[start:stop], out))
        logs = {"loss": loss.result, **{name: m.result for name, m in metrics.items()}}
        if return_dict:
            return logs
        return logs["loss"] if not self.metrics_names else list(logs.values())

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; its loss (and metrics), computed before the update."""
        _refuse("train_on_batch", {}, sample_weight=sample_weight, class_weight=class_weight)
        run = self.trainer(x, y, batch_size=len(np.asarray(x)), epochs=1, shuffle=False)
        run.run(max_batches=1)
        logs = {k: v[-1] for k, v in run.history.history.items()}
        if return_dict:
            return logs
        return logs["loss"] if not self.metrics_names else list(logs.values())

    # --- describing ---------------------------------------------------------------------------
    def summary(self, line_length=None, print_fn=None) -> None:
        """Print Keras's summary table (to `print_fn` once, as Keras does, when given)."""
        text = summary_text(self, line_length)
        (print_fn or print)(text if print_fn else text.rstrip("\n"))

    def summary_rows(self) -> tuple[bool, list[tuple[str, ...]]]:
        """Keras's summary rows: a Sequential's are a chain's, one per layer."""
        return True, [(f"{layer.name} ({layer.kind})", summary_shape(report.output_shape), f"{report.params:,}")
                      for layer, report in zip(self.layers, self.analysis.layers)]

    def get_config(self) -> dict:
        return model_config(self)

    def to_json(self) -> str:
        return to_json(self)


def Model(inputs, outputs, name=None, seed=None) -> Functional:
    """keras.Model(inputs, outputs): a model from its Input tensors to its outputs (each one, a list or a dict)."""
    return Functional(inputs, outputs, name=name, seed=seed)


class Functional:
    """A model of any graph of layer calls from its Input tensors to its outputs, as Keras's Functional.

    Its layers are Keras's `model.layers` (deepest first; InputLayers among them) with Keras's automatic names, and
    weights drawn from the model seed (layer i of those with weights uses seed `1000·seed + i`). Shapes are known from
    the calls; budgets are checked before any weight is drawn. predict runs the calls in order and lets go of each
    tensor once the last call that reads it has run."""

    def __init__(self, inputs, outputs, name=None, seed=None):
        self.graph = Graph(inputs, outputs)
        self.name = check_name(name) or "functional"
        self.seed = resolve_seed(seed)
        self._analysis = analyze_graph(self.graph)
        if not self._analysis.ok:
            raise issue_error(self._analysis.issue)
        self._calls = [node for node in self.graph.nodes if not node.is_input]
        for i, layer in enumerate(self._weighted()):
            layer.build(layer.built_shape, layer_seed(self.seed, i))
        for node in reversed(self._calls):  # a layer's shapes: its first call's in this model
            node.layer.input_shape, node.layer.output_shape = node.layer.call_shape(node.args, node.kwargs), node.outputs[0].shape
        self._reads = _reads(self.graph, self._calls)
        self.compile_config: dict = {}
        self.optimizer, self.loss, self.metrics_names, self._rng = None, None, [], None

    def _weighted(self) -> list[Layer]:
        return [layer for layer in self.graph.layers if not isinstance(layer, InputLayer)]

    # --- shapes -------------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return list(self.graph.layers)

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
        return self._analysis

    @property
    def cost(self):
        return self._analysis.cost

    def count_params(self) -> int:
        return self._analysis.total_params

    def get_layer(self, name: str) -> Layer:
        for layer in self.graph.layers:
            if layer.name == name:
                return layer
        raise LayerConfigError(f"No such layer: {str(name)[:64]}. Existing layers are: {[layer.name for layer in self.graph.layers]}.")

    # --- weights ------------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        return [w for layer in self._weighted() for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        _set_weights(self.name, self._weighted(), weights)

    # --- computing ----------------------------------------------------------------------------
    def _feed(self, x) -> list[np.ndarray]:
        """`x` as one float32 array per input (a list in the inputs' order, or a dict by their names), shapes checked."""
        tensors = self.graph.inputs
        names = [t.node.layer.name for t in tensors]
        if isinstance(x, dict):
            missing, extra = [n for n in names if n not in x], [str(k) for k in x if k not in names]
            if missing or extra:
                raise InputDataError(f"the input dict must have the keys {names}; " + (f"missing {missing}" if missing else f"unknown {extra[:5]}"))
            given = [x[n] for n in names]
        elif len(tensors) == 1:
            one = isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray)
            given = [x[0] if one else x]
        elif isinstance(x, (list, tuple)) and len(x) == len(tensors):
            given = list(x)
        else:
            raise InputDataError(f"model {self.name!r} has {len(tensors)} inputs ({', '.join(names)}): give a list of "
                                 f"{len(tensors)} arrays in that order, or a dict keyed by those names")
        arrays = []
        for tensor, name, value in zip(tensors, names, given):
            arr = _numbers(value, f"input {name!r}")
            if arr.ndim < 1 or arr.shape[1:] != tensor.shape[1:]:
                raise IncompatibleShapeError(
                    f"Input {name!r} of model {self.name!r} expects shape {format_shape(tensor.shape[1:])} per sample, received "
                    f"{format_shape(arr.shape[1:] if arr.ndim else ())} (full input shape {format_shape(arr.shape)}).")
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
            args = [values[id(t)] for t in node.inputs]
            y = node.layer.call(args if node.layer.takes_list else args[0])
            values[id(node.outputs[0])] = y
            shown.append(y if i < keep else None)
            for t in node.inputs:
                left[id(t)] -= 1
                if not left[id(t)]:
                    del values[id(t)]
        return values, shown

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None,
                checkpoint: Callable[[], None] | None = None):
        """The model's output(s) for `x` (float32, in the outputs' structure); batch_size and verbose change nothing."""
        if steps is not None or callbacks:
            _refuse("predict", {}, steps=steps, callbacks=callbacks or None)
        arrays = self._feed(x)
        self.cost.check_run(len(arrays[0]))
        values, _ = self._run(arrays, checkpoint)
        return _unwrap(pack(self.graph.output_structure, [values[id(t)] for t in self.graph.outputs]))

    __call__ = predict

    def forward(self, x, keep_bytes: int = MAX_FORWARD_BYTES, checkpoint: Callable[[], None] | None = None) -> list:
        """The inputs (float32) followed by every call's output in the order they run, kept while they fit in
        `keep_bytes` (None after that, but for the model's outputs)."""
        arrays = self._feed(x)
        batch = len(arrays[0])
        self.cost.check_run(batch)
        keep = self.cost.kept_layers(batch, keep_bytes)
        values, shown = self._run(arrays, checkpoint, keep)
        outputs = {id(t) for t in self.graph.outputs}
        return [*arrays, *(values[id(node.outputs[0])] if id(node.outputs[0]) in outputs else y
                           for node, y in zip(self._calls, shown))]

    # --- describing ---------------------------------------------------------------------------
    def summary(self, line_length=None, print_fn=None) -> None:
        """Print Keras's summary table (to `print_fn` once, as Keras does, when given)."""
        text = summary_text(self, line_length)
        (print_fn or print)(text if print_fn else text.rstrip("\n"))

    def summary_rows(self) -> tuple[bool, list[tuple[str, ...]]]:
        """Keras's rows, one per layer in model.layers: its last call's output shape, its parameters, and (unless the
        graph is a chain) the tensors each of its calls took, `name[node][tensor]`."""
        chain = _sequential_like(self.graph)
        rows = []
        for layer in self.graph.layers:
            last = layer._inbound_nodes[-1].outputs[0].shape
            params = f"{layer.count_params():,}"
            row = (f"{layer.name} ({layer.kind})", summary_shape(last), params)
            if not chain:
                taken = [t.history for node in self.graph.calls(layer) for t in node.inputs]
                row += (", ".join(f"{h.layer.name}[{h.node_index}][{h.tensor_index}]" for h in taken) or "-",)
            rows.append(row)
        return chain, rows

    def get_config(self) -> dict:
        return functional_config(self)

    def to_json(self) -> str:
        return functional_json(self)


def model_from_json(text, seed=None, custom_objects=None):
    """A model from Keras 3 JSON (`model.to_json()`) of the kinds netbuilder has: a Sequential, or a Functional model of
    any graph. Layers keep the shapes they were built for, as in Keras, so an inconsistent document fails the same
    way; weights are drawn from `seed` (JSON has none)."""
    doc = read_json(text)
    if isinstance(doc, dict) and doc.get("class_name") in ("Functional", "Model") and isinstance(doc.get("config"), dict):
        name, inputs, outputs = functional_from_json(doc)
        return Functional(inputs, outputs, name=name if isinstance(name, str) else None, seed=seed)
    document = layers_from_json(doc)
    head = [Input(document.input_shape)] if document.input_shape is not None else []
    return Sequential(head + document.layers, seed=resolve_seed(seed), name=document.name)


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


def _sequential_like(graph: Graph) -> bool:
    """Keras's test for its 3-column summary: one call at each depth, none taking two tensors, each layer called once."""
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
            f"You called `set_weights(weights)` on layer {owner!r} with a weight list of length {len(weights)}, but the "
            f"layer was expecting {expected} weights.")
    for layer in layers:
        n = len(layer.weights)
        layer.set_weights(weights[:n])
        weights = weights[n:]


def _numbers(x, what: str) -> np.ndarray:
    """`x` as an array of real numbers within MAX_TENSOR_ELEMENTS, or an error saying what is wrong with it."""
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise InputDataError(f"{what} must be a numeric array (a ragged nested list is not one): {e}") from None
    if arr.dtype.kind not in "biuf":
        raise InputDataError(f"{what} must hold real numbers; received dtype {arr.dtype}")
    if arr.size > MAX_TENSOR_ELEMENTS:
        raise LimitError(f"{what} has {arr.size:,} values; at most {MAX_TENSOR_ELEMENTS:,} are allowed")
    return arr


_TAKES = {  # what each call honours, for the message that refuses the rest
    "compile": "optimizer, loss and metrics", "fit": "x, y, batch_size, epochs, verbose, validation_split, validation_data, "
    "shuffle and validation_batch_size", "evaluate": "x, y, batch_size, verbose and return_dict",
    "train_on_batch": "x, y and return_dict", "predict": "x, batch_size, verbose and checkpoint",
}
_DEFAULTS = {"initial_epoch": 0, "validation_freq": 1}  # Keras's defaults of the arguments below that are not None
_INSTEAD = {  # Keras arguments netbuilder does not honour, and what it does instead
    "sample_weight": "every sample counts equally", "class_weight": "every class counts equally",
    "callbacks": "there are no callbacks; model.trainer(...) runs a training in pieces you can watch",
    "initial_epoch": "epochs count from 0", "steps_per_epoch": "each epoch is one pass over all of x",
    "validation_steps": "validation uses all its samples", "validation_freq": "validation runs after every epoch",
    "steps": "all of x is used", "loss_weights": "the model has one output and one loss",
    "weighted_metrics": "there are no sample weights",
}


def _refuse(call: str, unknown: dict, **given) -> None:
    """Refuse an unknown argument, or a Keras one netbuilder does not honour given other than its default (None, or
    _DEFAULTS's): ignoring it silently would train something other than asked."""
    given = {name: value for name, value in given.items() if value is not None}
    refuse_unhonoured(call, {**unknown, **given}, {name: _DEFAULTS.get(name) for name in given}, _TAKES[call], _INSTEAD)


def _check_finite(x: np.ndarray) -> None:
    """Training inputs must be finite numbers: one NaN makes every weight NaN after the first update."""
    if not np.all(np.isfinite(x)):
        raise InputDataError(f"the training inputs hold {np.count_nonzero(~np.isfinite(x)):,} NaN or infinite value(s); "
                             "training needs finite numbers")


def _count(name: str, value, low: int, high: int) -> int:
    """A whole number within [low, high], or a LayerConfigError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise LayerConfigError(f"{name} must be an integer from {low} to {high:,}; received {str(value)[:20]}")
    return int(value)
