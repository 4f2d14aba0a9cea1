"""What a model costs, from shapes alone: parameters, weight bytes, work and the memory a forward pass needs.

Everything here is known before a single weight or tensor is allocated, so budgets can refuse a
model or a run up front. Memory counts float32 tensors: `predict` keeps only the tensor it is
working on (a layer's input, output and temporaries), `forward` keeps every layer's output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .activations import LARGE_BYTES
from .budget import FLOAT32, MICROSECOND, build_problem, current, over, readable_bytes, readable_count, weights_problem
from .errors import LayerConfigError, LimitError
from .layer import ELEMENTWISE_WEIGHT, TRAIN_ELEMENTWISE_FACTOR, TRAIN_FACTOR, Cost  # noqa: F401 (work units, beside the model using them)

LOOPS = "the fixed cost of stepping through time steps or window cells in Python, whatever the batch"
STEP_FIXED = (
    "the fixed cost of each step (the layers' Python calls and loops, the loss, the optimizer's update of every "
    "weight), whatever the batch"
)
FEWER_LOOPS = "use fewer time steps (a shorter sequence), smaller pooling windows, or fewer of these layers"
# the loss's gradient and its temporaries, in outputs' sizes (measured: mse 3, the cross-entropies 2-3,
# sparse labels 4 with their one-hot rows)
LOSS_TEMPORARIES = 4
# temporaries of an optimizer's update of one weight, in its sizes (measured: SGD 2, Adam 3, RMSprop and
# Adagrad 4), and the copy that keeps it finite when the update would not (a run that halts on divergence)
UPDATE_SCRATCH = 5


@dataclass(frozen=True)
class StepCost:
    """A compiled model's training step beyond its layers (training.step_cost makes one): the loss and its metrics —
    operations per output value, and microseconds whatever the batch, the trainer's own bookkeeping included — and the
    optimizer: the copies of the weights it keeps, operations per trainable value, microseconds per weight array."""

    output_operations: int
    microseconds: int
    slots: int
    update_operations: int
    update_microseconds: int


@dataclass(frozen=True)
class Flow:
    """How a graph's tensors flow through its calls, elements per sample, one entry per call in the order they run:
    what is alive while a call runs (its inputs among it, its output not), what its inputs hold (their gradients in
    backward), and the gradients waiting for earlier calls in backward; and the model's inputs and outputs in all."""

    alive: tuple[int, ...]
    input_sizes: tuple[int, ...]
    pending: tuple[int, ...]
    input_elements: int
    output_elements: int

    def cut(self, count: int) -> Flow:
        """The first `count` calls' flow (a model cut at a call over a budget)."""
        return Flow(
            self.alive[:count],
            self.input_sizes[:count],
            self.pending[:count],
            self.input_elements,
            self.output_elements,
        )


@dataclass(frozen=True)
class ModelCost:
    """Per-model totals; memory and work per sample unless a method takes a batch size."""

    trainable_params: int
    non_trainable_params: int
    mult_adds: int  # one sample through every layer
    elementwise: int  # weighted elementwise operations of one sample
    outputs: tuple[int, ...]  # elements per sample of each layer's output (0 for a view of its input)
    inputs: tuple[int, ...]  # elements per sample alive while each layer runs, its input among them, that predict owns
    #                          (0: the caller's input, or a view of it; a graph: every tensor a later call still reads)
    costs: tuple[Cost, ...]  # each layer's own cost (its scratch)
    overhead: int = 0  # work of one predict whatever the batch (Python loops over steps or window cells)
    train_overhead: int = 0  # the same for one training step
    # elementwise operations of one sample a training step does beyond the forward's, repeated (train_work)
    train_elementwise: int = 0
    input_elements: int = 0  # elements per sample of the model's input and output (a training batch holds both)
    output_elements: int = 0
    largest_trainable: int = 0  # trainable parameters of the layer with most (an optimizer update's temporaries)
    sizes: tuple[
        int, ...
    ] = ()  # elements per sample of each layer's output, views included (the gradient flowing back)
    input_sizes: tuple[
        int, ...
    ] = ()  # elements per sample of each layer's inputs (their gradients, made by its backward)
    pending: tuple[int, ...] = ()  # a graph's gradients waiting at each call's backward for earlier calls (a fan-out's)
    untrainable: str = ""  # the first layer netbuilder cannot train, and why ("" when every layer can be trained)
    penalty_bytes: int = 0  # temporaries of the largest regularizer's penalty and gradient in a training step
    build_work: int = 0  # drawing every initial weight
    build_bytes: int = 0  # the temporaries of drawing the largest one (they go before the next is drawn)
    # work of a training step's layer calls whatever the batch (beside their loops, train_overhead)
    train_fixed: int = 0
    trainable_arrays: int = 0  # trainable weight arrays: an optimizer update has a fixed time for each

    @classmethod
    def of(cls, reports, flow: Flow | None = None) -> ModelCost:
        """From the per-layer reports of an analysis (layers that have a cost) — per call of a graph with its `flow`."""
        costs: list[Cost] = [r.cost for r in reports]
        outputs, inputs = [], []
        owned_input = 0  # the caller's input is not ours: predict allocates nothing for it
        for r, c in zip(reports, costs):
            out = 0 if c.output_is_view else math.prod(r.output_shape[1:])
            inputs.append(owned_input)
            outputs.append(out)
            owned_input = owned_input if c.output_is_view else out
        sizes = tuple(math.prod(r.output_shape[1:]) for r in reports)
        if flow is None:  # a chain: each layer reads the one before
            first = math.prod(reports[0].input_shape[1:]) if reports else 0
            flow = Flow(tuple(inputs), (first, *sizes[:-1]), (0,) * len(reports), first, sizes[-1] if reports else 0)
        return cls(
            trainable_params=sum(r.trainable for r in reports),
            non_trainable_params=sum(r.params - r.trainable for r in reports),
            mult_adds=sum(c.mult_adds for c in costs),
            elementwise=sum(c.elementwise for c in costs),
            outputs=tuple(outputs),
            inputs=flow.alive,
            costs=tuple(costs),
            overhead=sum(c.overhead for c in costs),
            train_overhead=sum(c.train_overhead for c in costs),
            train_elementwise=sum(c.train_elementwise for c in costs),
            input_elements=flow.input_elements,
            output_elements=flow.output_elements,
            largest_trainable=max((r.trainable for r in reports), default=0),
            sizes=sizes,
            input_sizes=flow.input_sizes,
            pending=flow.pending,
            untrainable=next(
                (f"layer {r.name!r} ({r.kind}) {c.untrainable}" for r, c in zip(reports, costs) if c.untrainable), ""
            ),
            build_work=sum(c.build_work for c in costs),
            build_bytes=max((c.build_bytes for c in costs), default=0),
            penalty_bytes=max((c.penalty_bytes for c in costs), default=0),
            train_fixed=sum(c.train_fixed for c in costs),
            trainable_arrays=sum(c.trainable_arrays for c in costs),
        )

    def _scratch(self, i: int, batch: int) -> int:
        """Elements of layer i's temporaries for `batch` samples: the large-tensor figure once its tensor is large."""
        c = self.costs[i]
        large = c.scratch_large is not None and FLOAT32 * batch * c.large_at >= LARGE_BYTES
        later = batch * (c.scratch_large if large else c.scratch) + min(batch * c.capped_scratch, c.scratch_cap)
        return max(batch * c.early_scratch, later)

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def weight_bytes(self) -> int:
        return FLOAT32 * self.params

    @property
    def work(self) -> int:
        """One sample's work in multiply-add equivalents (what the work budget bounds, times the batch, plus the
        overhead)."""
        return self.mult_adds + ELEMENTWISE_WEIGHT * self.elementwise

    def run_work(self, batch: int) -> int:
        """The work of one predict of `batch` samples: theirs, and the loops' whatever the batch."""
        return batch * self.work + self.overhead

    def step_work(self, batch: int, step: StepCost) -> int:
        """The work of one training step on a batch of `batch` samples, the loss and the optimizer's update included."""
        return batch * self.sample_step_work(step) + self.step_fixed(step)

    def sample_step_work(self, step: StepCost) -> int:
        """One sample's work in a training step: the layers' (`train_work`), its loss and metrics on each output value,
        and its input and target gathered into the batch."""
        return self.train_work + ELEMENTWISE_WEIGHT * (
            step.output_operations * self.output_elements + self.input_elements + self.output_elements
        )

    def step_fixed(self, step: StepCost) -> int:
        """A training step's work whatever the batch: the layers' loops and calls, the loss's and metrics' calls, and
        the optimizer's update of every trainable value."""
        update = (
            ELEMENTWISE_WEIGHT * step.update_operations * self.trainable_params
            + MICROSECOND * step.update_microseconds * self.trainable_arrays
        )
        return self.train_overhead + self.train_fixed + MICROSECOND * step.microseconds + update

    @property
    def train_work(self) -> int:
        """One sample's work through the layers in a training step: its multiply-adds TRAIN_FACTOR times (forward, and
        two products for the gradients), its elementwise operations TRAIN_ELEMENTWISE_FACTOR times, and what some kinds'
        backward passes do beyond that (a convolution's patches added back cell by cell, pooling's masks, a scatter)."""
        return TRAIN_FACTOR * self.mult_adds + ELEMENTWISE_WEIGHT * (
            TRAIN_ELEMENTWISE_FACTOR * self.elementwise + self.train_elementwise
        )

    def training_work(self, samples: int, epochs: int, batch: int, step: StepCost) -> int:
        """The work of a whole training run: every epoch's steps (validation samples counted as trained ones)."""
        return epochs * (self.sample_step_work(step) * samples + self.step_fixed(step) * math.ceil(samples / batch))

    def _loops(self, overhead: int, work: int, what: str = LOOPS) -> str:
        """What a work message adds when loops (or a step's fixed cost) are most of the work."""
        return f", {readable_count(overhead)} of it {what}" if 2 * overhead >= work else ""

    def predict_bytes(self, batch: int = 1) -> int:
        """Peak bytes of the tensors `predict` holds at once for `batch` samples (weights and the caller's input not
        counted)."""
        return FLOAT32 * max(
            (
                batch * (inp + out) + self._scratch(i, batch)
                for i, (inp, out) in enumerate(zip(self.inputs, self.outputs))
            ),
            default=0,
        )

    def forward_bytes(self, batch: int = 1) -> int:
        """Peak bytes when every layer's output is kept (`forward`)."""
        return self.keeping_bytes(len(self.outputs), batch)

    def keeping_bytes(self, keep: int, batch: int) -> int:
        """Peak bytes of `forward` keeping the first `keep` layers' outputs (the rest run as in predict)."""
        kept, peak = 0, 0
        for i, out in enumerate(self.outputs):
            unkept_input = batch * self.inputs[i] if i > keep else 0
            peak = max(peak, kept + unkept_input + batch * out + self._scratch(i, batch))
            kept += batch * out if i < keep else 0
        return FLOAT32 * peak

    def kept_layers(self, batch: int, budget: int | None = None) -> int:
        """How many layers' outputs `forward` can keep while its whole run stays within `budget` bytes (None: all)."""
        return next((k for k in range(len(self.outputs), 0, -1) if not over(self.keeping_bytes(k, batch), budget)), 0)

    def max_batch(self) -> int | None:
        """The largest batch whose predict fits the current memory and work budgets (None: no bound)."""
        budget = current()
        if budget.run_bytes is None and budget.work is None:
            return None
        high = max(0, budget.work - self.overhead) // max(1, self.work) if budget.work is not None else 1 << 40
        low = 0
        while low < high:  # predict_bytes grows with the batch (the large-tensor figures only shrink it a little)
            mid = (low + high + 1) // 2
            if not over(self.predict_bytes(mid), budget.run_bytes):
                low = mid
            else:
                high = mid - 1
        return low

    def check_run(self, batch: int) -> None:
        """LimitError naming the budget a predict of `batch` samples would exceed, before anything runs."""
        budget = current()
        memory = self.predict_bytes(batch) if budget.run_bytes is not None else 0
        if over(memory, budget.run_bytes):
            raise LimitError(
                f"a forward pass of {batch:,} samples needs {readable_bytes(memory)} at once; the memory budget per "
                f"run is {readable_bytes(budget.run_bytes)}: use at most {self.max_batch():,} samples"
            )
        work = self.run_work(batch)
        if over(work, budget.work):
            most = self.max_batch()
            raise LimitError(
                f"a forward pass of {batch:,} samples is {readable_count(work)} multiply-adds of work"
                f"{self._loops(self.overhead, work)}; the budget per run is {readable_count(budget.work)}: "
                + (f"use at most {most:,} samples" if most else FEWER_LOOPS)
            )

    def backprop_bytes(self, batch: int) -> int:
        """Peak bytes of the tensors of one training step's forward and backward passes for `batch` samples (the
        batch itself, the weights and their gradients not counted). Every layer's training cache stays alive until
        the step ends: its output, and what its kind keeps beyond it (`Cost.train_kept`). Going forward, a layer's
        temporaries sit beside the caches so far; at the loss, its gradient beside all of them; going back, each
        layer's incoming gradient, its input's gradient and its backward temporaries (`Cost.train_scratch`;
        a kind that does not declare them: its forward scratch and two gradients' worth)."""
        kept = peak = 0
        for i, (c, out) in enumerate(zip(self.costs, self.outputs)):
            own = batch * (out + c.train_kept)
            peak = max(peak, kept + own + self._scratch(i, batch))
            kept += own
        peak = max(peak, kept + LOSS_TEMPORARIES * batch * self.output_elements)
        for c, size, inp, waiting in zip(self.costs, self.sizes, self.input_sizes, self.pending):
            scratch = c.train_scratch if c.train_scratch is not None else max(c.scratch, c.early_scratch) + 2 * size
            peak = max(peak, kept + batch * (size + inp + waiting + scratch))
        return FLOAT32 * peak

    def training_bytes(self, batch: int, optimizer_slots: int) -> int:
        """Peak bytes of a training run as the Train page makes one (the model's own weights, which the visitor
        holds anyway, not counted): during a step, the caches kept for the backward pass and the gradients flowing
        back (`backprop_bytes`), the batch's inputs and targets and their gradients, the weights being
        trained and the copy of them from before, one gradient per trainable weight, the optimizer's slots, and
        the temporaries of its update of one weight; at the end, the trained copy beside the other two."""
        trainable = self.trainable_params
        step = (
            self.backprop_bytes(batch)
            + 2 * FLOAT32 * batch * (self.input_elements + self.output_elements)
            + 2 * self.weight_bytes
            + FLOAT32 * (trainable * (1 + optimizer_slots) + UPDATE_SCRATCH * self.largest_trainable)
            + self.penalty_bytes
        )
        end = 3 * self.weight_bytes + FLOAT32 * trainable * optimizer_slots
        return max(step, end)

    def check_training(self, samples: int, epochs: int, batch: int, step: StepCost, extra: int = 0) -> None:
        """LimitError naming the budget a training run would exceed, before it starts (`extra`: work the caller's run
        does besides training); first, a LayerConfigError naming a layer netbuilder cannot train as it is
        configured."""
        if self.untrainable:
            raise LayerConfigError(f"This model cannot be trained in netbuilder: {self.untrainable}.")
        slots, budget = step.slots, current()
        memory = self.training_bytes(batch, slots) if budget.run_bytes is not None else 0
        if over(memory, budget.run_bytes):
            raise LimitError(
                f"a training step on batches of {batch:,} needs about {readable_bytes(memory)}; the memory budget "
                f"per run is {readable_bytes(budget.run_bytes)}: use a smaller batch size or a smaller model"
                + (
                    f", or an optimizer that keeps less (this one keeps {slots} more copies of the weights; SGD "
                    "without momentum none)"
                    if slots
                    else ""
                )
            )
        fixed, per_sample = self.step_fixed(step), self.sample_step_work(step)
        one = batch * per_sample + fixed
        if over(one, budget.work):  # one step runs without a pause: it answers to the budget of one run
            most = max(0, budget.work - fixed) // max(1, per_sample)
            raise LimitError(
                f"a training step on batches of {batch:,} is about {readable_count(one)} multiply-adds of work"
                f"{self._loops(fixed, one, STEP_FIXED)}; the budget per run is {readable_count(budget.work)}: "
                + (f"use a batch size of at most {most:,}" if most else FEWER_LOOPS)
            )
        work = self.training_work(samples, epochs, batch, step) + extra
        if over(work, budget.train_work):
            steps = math.ceil(samples / batch)
            epoch = work // epochs
            most = budget.train_work // max(1, epoch)
            fewer = "on fewer samples" + (", or in larger batches" if fixed * steps * 2 >= epoch else "")
            raise LimitError(
                f"training {samples:,} samples for {epochs:,} epochs is about {readable_count(work)} "
                "multiply-adds of work"
                f"{self._loops(fixed * steps * epochs, work, STEP_FIXED)}; the budget per training run is "
                f"{readable_count(budget.train_work)}: "
                + (f"train at most {most:,} epochs, or {fewer}" if most else f"train {fewer}")
            )

    def budget_problem(self) -> str | None:
        """Why this model cannot be built or run at all within the current budgets (one sample), or None."""
        if why := weights_problem(self.params) or build_problem(self.build_work, self.build_bytes):
            return why
        budget = current()
        if budget.run_bytes is not None and over(self.predict_bytes(1), budget.run_bytes):
            return (
                f"one sample's forward pass would need {readable_bytes(self.predict_bytes(1))} at once; the memory "
                f"budget per run is {readable_bytes(budget.run_bytes)}"
            )
        work = self.run_work(1)
        if over(work, budget.work):
            loops = self._loops(self.overhead, work)
            return (
                f"one sample's forward pass would be {readable_count(work)} multiply-adds of work{loops}; the budget "
                f"per run is {readable_count(budget.work)}" + (f": {FEWER_LOOPS}" if loops else "")
            )
        return None

    def summary(self, batch: int = 1) -> str:
        """torchinfo-style totals: `Forward pass: 1.2 M mult-adds per sample · peak memory 3.4 MB`."""
        return (
            f"Forward pass: {readable_count(self.mult_adds)} mult-adds per sample · peak memory "
            f"{readable_bytes(self.predict_bytes(batch))} "
            f"(keeping every tensor: {readable_bytes(self.forward_bytes(batch))}) · "
            f"weights {readable_bytes(self.weight_bytes)}"
        )
