"""SimpleRNN, LSTM, GRU: one cell applied step by step along the time axis, its state carried from step to step.

Weights are Keras's (kernel (features, gates·units), recurrent_kernel (units, gates·units), bias) with
gates in Keras's column order: LSTM i, f, c, o; GRU z, r, h. The input projection x·kernel is one
matmul over every step; the loop runs over time steps only, with the per-step arithmetic in Keras's
order so float32 results match Keras's NumPy backend. go_backwards reads the steps last to first and
returns outputs in that (processing) order, as Keras does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import activations
from ..errors import LayerConfigError
from ..initializers import Initializer, ones
from ..layer import ELEMENTWISE_WEIGHT, MICROSECOND, CodePart, Cost, InputSpec, Layer, Problem, WeightSpec, register
from ..limits import MAX_UNITS
from ..settings import ActivationName, Bool, Float, Init, Int, rank_refusal
from ..shapes import counted, format_shape, times
from .common import activation_step_cost, return_sequences_fixes, return_sequences_source, torch_activation

_IN_PLACE = ("linear", "tanh", "sigmoid", "relu", "hard_sigmoid")  # applied in place, with Keras's exact formula
_IN_PLACE_OPS = {"sigmoid": 4, "hard_sigmoid": 3}  # negate, exp, add, divide; divide, add, clip
_AXIS_WISE = ("softmax", "log_softmax", "sparsemax")  # computed along the last axis (each gate's units)
_CHUNK = 2048  # values per call of an activation not applied in place: its temporaries stay bounded

# The time our loop takes per step whatever the batch, which the arithmetic does not count: microseconds of one
# step at 1 unit and 1 sample with linear activations (each kind's `step_microseconds`), plus each `_activate`
# call's (activations.COST[name].call_microseconds). Measured on the 2-core server with timeit (the best of 30
# repeats of 300 steps, predict; a training step's forward_train and backward took 3-4 times as long:
# train_loop_factor).
# One 1,000,000-step GRU(1) is 12 s.


# --- Keras arguments netbuilder takes only at their defaults -------------------------------------------------
_WHY = {
    "return_state": "a Sequential model passes on one tensor; the final states would be extra outputs",
    "stateful": "netbuilder starts every batch from a zero state",
    "zero_output_for_mask": "netbuilder has no masking",
    "use_cudnn": "cuDNN needs a GPU; 'auto' or False compute the same numbers",
    "implementation": "Keras's implementation 2 (fused gates) is the one netbuilder reproduces",
}


def _keras_only_defaults(kind: str) -> dict:
    """Keras arguments of `kind` that netbuilder does not model, with the value it accepts for each."""
    out = {}
    out.update({f"{w}_{r}": None for w in ("kernel", "recurrent", "bias") for r in ("regularizer", "constraint")})
    out.update(activity_regularizer=None, seed=None, return_state=False, stateful=False, zero_output_for_mask=False)
    if kind in ("LSTM", "GRU"):
        out.update(use_cudnn="auto", implementation=2)
    return out


def _is_default(argument: str, value) -> bool:
    if argument == "seed":  # seeds only dropout, which netbuilder does not train
        return value is None or (isinstance(value, int) and not isinstance(value, bool))
    if argument == "use_cudnn":
        return value == "auto" or value is False
    if argument == "implementation":
        return value == 2 and not isinstance(value, bool)
    if argument.endswith(("regularizer", "constraint")):
        return value is None
    return value is False  # return_state, stateful, zero_output_for_mask


def _check_keras_only(kind: str, argument: str, value) -> None:
    if not _is_default(argument, value):
        default = _keras_only_defaults(kind)[argument]
        why = _WHY.get(
            argument,
            "it acts only in training, which netbuilder does as Keras does without it"
            if argument.endswith(("regularizer", "constraint"))
            else "",
        )
        raise LayerConfigError(
            f"netbuilder's {kind} supports {argument} only at its default ({default!r}); "
            f"received {str(value)[:60]!r}: {why}"
        )


# --- activations applied in place --------------------------------------------------------------------------
def _activate(name: str, view: np.ndarray) -> None:
    """view ← activation(view), in place, with the same bits as Keras's formula (`view` is contiguous)."""
    if name == "linear":
        return
    if name == "tanh":
        np.tanh(view, out=view)
    elif name == "sigmoid":  # 1 / (1 + exp(-x)), operation for operation
        one = np.array(1.0, view.dtype)
        np.negative(view, out=view)
        np.exp(view, out=view)
        np.add(one, view, out=view)
        np.divide(one, view, out=view)
    elif name == "relu":
        np.maximum(view, np.array(0.0, view.dtype), out=view)
    elif name == "hard_sigmoid":  # clip(x / 6 + 0.5, 0, 1), a division as Keras does
        np.divide(view, np.array(6.0, view.dtype), out=view)
        np.add(view, np.array(0.5, view.dtype), out=view)
        np.clip(view, np.array(0.0, view.dtype), np.array(1.0, view.dtype), out=view)
    else:
        # Other activations allocate their result and temporaries: applied _CHUNK values at a time (softmax-like
        # ones by whole rows), so what they allocate is bounded whatever the batch.
        fn = activations.ACTIVATIONS[name]
        parts = view.reshape(-1, view.shape[-1]) if name in _AXIS_WISE else view.reshape(-1)
        step = max(1, _CHUNK // view.shape[-1]) if name in _AXIS_WISE else _CHUNK
        for start in range(0, len(parts), step):
            part = parts[start : start + step]
            part[...] = fn(part)


# --- the kinds ------------------------------------------------------------------------------------------------
_TORCH_WRAPPER = '''class KerasRNN(nn.Module):
    """torch's nn.RNN/LSTM/GRU (batch_first) as a Keras recurrent layer: go_backwards reverses the steps
    first (outputs stay in that order, as Keras returns them); return_sequences=False keeps the last step."""

    def __init__(self, rnn, return_sequences, go_backwards):
        super().__init__()
        self.rnn = rnn
        self.return_sequences = return_sequences
        self.go_backwards = go_backwards

    def forward(self, x):
        if self.go_backwards:
            x = torch.flip(x, dims=[1])
        y, _ = self.rnn(x)
        return y if self.return_sequences else y[:, -1]
'''

_TORCH_LOOP_BASE = '''class KerasRecurrentLoop(nn.Module):
    """A Keras recurrent layer step by step, for what torch's own modules cannot express (other activations,
    GRU with reset_after=False). Weights in Keras's layout: kernel (features, gates·units), recurrent_kernel
    (units, gates·units), bias; gates in Keras's column order."""

    def __init__(self, features, units, gates, bias_shape, activation, recurrent_activation=None,
                 return_sequences=False, go_backwards=False):
        super().__init__()
        self.units, self.activation, self.recurrent_activation = units, activation, recurrent_activation
        self.return_sequences, self.go_backwards = return_sequences, go_backwards
        self.kernel = nn.Parameter(torch.zeros(features, gates * units))
        self.recurrent_kernel = nn.Parameter(torch.zeros(units, gates * units))
        self.bias = nn.Parameter(torch.zeros(bias_shape)) if bias_shape else None

    def forward(self, x):
        steps = range(x.shape[1] - 1, -1, -1) if self.go_backwards else range(x.shape[1])
        state = self.initial_state(x.shape[0], x)
        outputs = []
        for t in steps:
            h, state = self.step(x[:, t], state)
            outputs.append(h)
        return torch.stack(outputs, dim=1) if self.return_sequences else outputs[-1]

    def initial_state(self, batch, x):
        return x.new_zeros(batch, self.units)

    def gate(self, z, k, fn):
        return fn(z[:, k * self.units:(k + 1) * self.units])
'''

_TORCH_LOOPS = {
    "SimpleRNN": """class KerasSimpleRNNLoop(KerasRecurrentLoop):
    def step(self, x, h):
        z = x @ self.kernel
        if self.bias is not None:
            z = z + self.bias
        h = self.activation(z + h @ self.recurrent_kernel)
        return h, h
""",
    "LSTM": """class KerasLSTMLoop(KerasRecurrentLoop):
    def initial_state(self, batch, x):
        return x.new_zeros(batch, self.units), x.new_zeros(batch, self.units)

    def step(self, x, state):
        h, c = state
        z = x @ self.kernel + h @ self.recurrent_kernel
        if self.bias is not None:
            z = z + self.bias
        act, rec = self.activation, self.recurrent_activation
        i, f, g, o = self.gate(z, 0, rec), self.gate(z, 1, rec), self.gate(z, 2, act), self.gate(z, 3, rec)
        c = f * c + i * g
        h = o * act(c)
        return h, (h, c)
""",
    "GRU": """class KerasGRULoop(KerasRecurrentLoop):
    def __init__(self, *args, reset_after=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.reset_after = reset_after

    def step(self, x, h):
        u, act, rec = self.units, self.activation, self.recurrent_activation
        xz = x @ self.kernel
        if self.bias is not None:
            xz = xz + (self.bias[0] if self.reset_after else self.bias)
        if self.reset_after:
            inner = h @ self.recurrent_kernel
            if self.bias is not None:
                inner = inner + self.bias[1]
        else:
            inner = h @ self.recurrent_kernel[:, :2 * u]
        z = rec(xz[:, :u] + inner[:, :u])
        r = rec(xz[:, u:2 * u] + inner[:, u:2 * u])
        if self.reset_after:
            recurrent_h = r * inner[:, 2 * u:]
        else:
            recurrent_h = (r * h) @ self.recurrent_kernel[:, 2 * u:]
        hh = act(xz[:, 2 * u:] + recurrent_h)
        h = z * h + (1 - z) * hh
        return h, h
""",
}


class _Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share: shapes, weights' layout, settings handling, fixes, code."""

    recurrent_activation = "sigmoid"  # LSTM's and GRU's gates have the setting; SimpleRNN has no gates

    keras_config_order = (  # RNN's own keys, then the cell's
        "name",
        "trainable",
        "dtype",
        "return_sequences",
        "return_state",
        "go_backwards",
        "stateful",
        "unroll",
        "zero_output_for_mask",
        "units",
        "activation",
        "recurrent_activation",
        "use_bias",
        "kernel_initializer",
        "recurrent_initializer",
        "bias_initializer",
        "unit_forget_bias",
        "kernel_regularizer",
        "recurrent_regularizer",
        "bias_regularizer",
        "activity_regularizer",
        "kernel_constraint",
        "recurrent_constraint",
        "bias_constraint",
        "dropout",
        "recurrent_dropout",
        "reset_after",
        "seed",
    )

    gates: ClassVar[int] = 1
    call_argument = "sequences"  # Keras's RNN.call(sequences, initial_state=None, mask=None, training=False)
    # one step of the loop (SimpleRNN's) at 1 unit and 1 sample, linear activations
    step_microseconds: ClassVar[int] = 2
    # a training step's loop (forward_train, backward) against predict's (measured 3-4)
    train_loop_factor: ClassVar[int] = 4
    keras_args: ClassVar[tuple[str, ...]] = ()  # Keras's constructor arguments in positional order
    group = "Recurrent"
    output_axis_setting = "units"
    keras_extra_config: ClassVar[dict] = {}

    def __init__(self, *args, name=None, input_shape=None, **kwargs):
        if len(args) > len(self.keras_args):
            raise LayerConfigError(
                f"{self.kind} takes at most {len(self.keras_args)} positional arguments; received {len(args)}"
            )
        given = dict(zip(self.keras_args, args))
        for key, value in kwargs.items():
            if key in given:
                raise LayerConfigError(f"{self.kind} received {key!r} twice")
            given[key] = value
        ours = {s.name for s in self.settings}
        for key in [k for k in given if k not in ours and k in _keras_only_defaults(self.kind)]:
            _check_keras_only(self.kind, key, given.pop(key))
        super().__init__(name=name, input_shape=input_shape, **given)

    @classmethod
    def settings_from_config(cls, config: dict) -> dict:
        for key in _keras_only_defaults(cls.kind):
            if key in config:
                _check_keras_only(cls.kind, key, config[key])
        return super().settings_from_config(config)

    def validate(self) -> None:
        for setting in ("activation", "recurrent_activation"):
            if self.values.get(setting) == "glu":
                # Deliberately not Keras: glu halves the units, so the gates no longer fit the state (Keras
                # runs it only when units=2, by broadcasting a half-size gate).
                raise LayerConfigError(
                    f"{self.kind} cannot use glu as {setting}: glu halves the units, so the "
                    "gates would no longer match the state; choose another activation"
                )

    @property
    def input_dim(self) -> int | None:
        return None if self.built_shape is None else self.built_shape[-1]

    # --- shapes -----------------------------------------------------------------------------------------
    def input_spec(self) -> InputSpec:
        return InputSpec(ndim=3, axis_names=("batch", "steps", "features"))

    def check_shape(self, shape, name: str) -> Problem | None:
        if self.input_dim is None or shape[-1] == self.input_dim:
            return None
        return Problem(
            f"last axis of size {self.input_dim}",
            f"Layer {name!r} ({self.kind}) was built for {self.input_dim:,} features per step, but received "
            f"{format_shape(shape)}.",
            f"{name}'s kernel is {self.input_dim:,}×{self.gates * self.units:,}: every step's {self.input_dim:,} "
            f"features are multiplied by it, and here each step has {shape[-1]:,}.",
            f"Exception encountered when calling {self.kind}Cell.call().\nmatmul: Input operand 1 has a mismatch in "
            "its core dimension 0, with gufunc signature (n?,k),(k,m?)->(n?,m?) "
            f"(size {self.input_dim} is different from {shape[-1]})",
        )

    def compute_output_shape(self, shape):
        return (shape[0], shape[1], self.units) if self.return_sequences else (shape[0], self.units)

    def rank_explanation(self, shape, name: str) -> str:
        text = (
            f"{self.kind} reads a sequence: each sample must be (steps, features), so with the batch the input has "
            f"3 axes; {format_shape(shape)} has {len(shape)}."
        )
        if len(shape) == 2:
            text += (
                " A common cause is a recurrent layer before it with return_sequences=False, which passes on only "
                "its last step; or a vector that should be read as a sequence of single numbers."
            )
        elif len(shape) > 3:
            text += " Join the axes after the first into one feature axis to read the first axis as the steps."
        return text

    def suggest_fixes(self, shape, problem, context) -> list:
        fixes, name = [], context.name
        if len(shape) == 2:
            j = return_sequences_source(context)
            if j is not None:
                fixes += return_sequences_fixes(shape, context)
                reports = context.reports
                if j < len(reports):  # or repeat its summary once per step: an encoder-decoder
                    steps = reports[j].input_shape[1]
                    fixes.append(
                        context.insert(
                            "RepeatVector",
                            {"n": steps},
                            f"insert RepeatVector({steps}) before {name}: repeat {context.names[j]}'s last "
                            f"output for {steps:,} steps (an encoder-decoder)",
                        )
                    )
            else:
                n = shape[1]
                fixes.append(
                    context.insert(
                        "Reshape",
                        {"target_shape": (n, 1)},
                        f"insert Reshape(({n}, 1)) before {name}: read the {n:,} values as {n:,} steps of 1 feature",
                    )
                )
                fixes.append(context.input_shape_fix((n, 1)))
        elif len(shape) > 3:
            target = (shape[1], math.prod(shape[2:]))
            fixes.append(
                context.insert(
                    "Reshape",
                    {"target_shape": target},
                    f"insert Reshape({target}) before {name}: {shape[1]:,} steps of {times(shape[2:])} = "
                    f"{target[1]:,} features",
                )
            )
        elif self.input_dim is not None and len(shape) == 3:
            fixes.append(context.upstream_fix(self.input_dim))
            fixes.append(context.input_shape_fix((shape[1], self.input_dim)))
            fixes.append(context.unbuild(f"rebuild {name} for the {shape[-1]:,} features it receives"))
        return fixes

    # --- weights ----------------------------------------------------------------------------------------
    def bias_spec(self) -> WeightSpec:
        return WeightSpec("bias", (self.gates * self.units,), self.bias_initializer)

    def weight_specs(self, shape) -> list[WeightSpec]:
        g = self.gates * self.units
        specs = [
            WeightSpec("kernel", (shape[-1], g), self.kernel_initializer),
            WeightSpec("recurrent_kernel", (self.units, g), self.recurrent_initializer),
        ]
        return specs + ([self.bias_spec()] if self.use_bias else [])

    def formula(self, shape) -> str:
        n, u, total = shape[-1], self.units, sum(self.count_params_for(shape))
        inner = f"{n:,}×{u:,} + {u:,}×{u:,}" + (f" + {self.bias_term()}" if self.use_bias else "")
        return f"{inner} = {total:,}" if self.gates == 1 else f"{self.gates}×({inner}) = {total:,}"

    def bias_term(self) -> str:
        return f"{self.units:,}"

    def _weights_of(self, dtype):
        """(kernel, recurrent_kernel, bias or None) as arrays of `dtype` (no copy when they already are)."""
        w = [np.asarray(a, dtype=dtype) for a in self._weights]
        return w[0], w[1], (w[2] if self.use_bias else None)

    # --- numbers ----------------------------------------------------------------------------------------
    def _project(self, x: np.ndarray, kernel: np.ndarray, bias) -> np.ndarray:
        """x·kernel (+ bias) of every step, time-major (steps, batch, gates·units) so each step's slice is
        contiguous: one (batch, features)·kernel product per step, as Keras computes it, in one call."""
        xw = np.matmul(x.transpose(1, 0, 2), kernel)
        if bias is not None:
            np.add(xw, bias, out=xw)
        return xw

    def _order(self, steps: int):
        """(processing index k, input step t) pairs: go_backwards reads the last step first."""
        return ((k, steps - 1 - k if self.go_backwards else k) for k in range(steps))

    def call(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            return self._run(x, None)

    def forward_train(self, x: np.ndarray, rng: np.random.Generator):
        if (
            why := self.untrainable()
        ):  # the model refuses before a run (ModelCost.check_training); a layer on its own too
            raise LayerConfigError(f"Layer {self.name!r} ({self.kind}) {why}.")
        cache: dict = {"x": x}
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            y = self._run(x, cache)
        return y, cache

    def _output(self, x, dtype):
        """The output buffer (every step's h, or the last h) and the zero initial state."""
        b, t, _ = x.shape
        if self.return_sequences:
            return np.empty((b, t, self.units), dtype), np.zeros((b, self.units), dtype)
        h = np.zeros((b, self.units), dtype)
        return h, h

    def _store(self, cache, key, k, value, steps):
        """Keep a copy of `value` as step k of cache[key] (training)."""
        if cache is not None:
            if key not in cache:
                cache[key] = np.empty((steps, *value.shape), value.dtype)
            cache[key][k] = value

    def _finish_backward(self, cache, dz_in, kernel):
        """dx, ∂kernel and the input-side bias gradient from the per-step gradients (processing order)
        of x·kernel + bias."""
        x = cache["x"]
        b, t, n = x.shape
        dxw = np.empty_like(dz_in)
        dxw[[tt for _, tt in self._order(t)]] = dz_in  # back to time order
        dkernel = x.transpose(1, 0, 2).reshape(t * b, n).T @ dxw.reshape(t * b, -1)
        dx = np.ascontiguousarray((dxw @ kernel.T).transpose(1, 0, 2))
        return dx, dkernel, dxw.sum(axis=(0, 1))

    def _dy_at(self, dy, k, steps):
        """∂loss/∂(the output of processing step k)."""
        if self.return_sequences:
            return dy[:, k]
        return dy if k == steps - 1 else None

    # --- cost -------------------------------------------------------------------------------------------
    def _act_extra(self, calls) -> tuple[int, int]:
        """(temporaries per sample, their bound in all) of the (activation, values per sample) calls not done in
        place: result and scratch of each value, for at most _CHUNK values at a time (a whole row for softmax-like
        ones)."""
        per_sample = cap = 0
        for name, n in calls:
            if name not in _IN_PLACE:
                c = activation_step_cost(name, n)
                per_value = (n + c.scratch + c.capped_scratch) / n
                per_sample = max(per_sample, math.ceil(n * per_value))
                cap = max(cap, math.ceil(max(_CHUNK, self.units if name in _AXIS_WISE else 0) * per_value))
        return per_sample, cap

    def _act_ops(self, name: str, elements: int) -> int:
        return (
            _IN_PLACE_OPS[name] * elements
            if name in _IN_PLACE_OPS
            else activation_step_cost(name, elements).elementwise
        )

    def _calls_per_sample(self, name: str, n: int) -> float:
        """`_activate` calls per step and sample beyond the first (an activation not in place takes _CHUNK values a
        call)."""
        if name in _IN_PLACE:
            return 0
        return n / self.units / max(1, _CHUNK // self.units) if name in _AXIS_WISE else n / _CHUNK

    def cost(self, shape, output_shape) -> Cost:
        steps, n = shape[1], shape[2]
        g = self.gates * self.units
        buffers, ops, calls = self._step_cost()
        per_sample, cap = self._act_extra(calls)
        step = self.step_microseconds + sum(activations.COST[name].call_microseconds for name, _ in calls)
        more_calls = sum(
            activations.COST[name].call_microseconds * self._calls_per_sample(name, k) for name, k in calls
        )
        return Cost(
            mult_adds=steps * (n + self.units) * g,
            elementwise=steps * ops
            + (g * steps if self.use_bias and self.kind != "LSTM" else 0)
            + math.ceil(steps * more_calls * MICROSECOND / ELEMENTWISE_WEIGHT),
            # the projection of every step, the step's buffers, and the state h beside a sequence output
            scratch=steps * g + buffers + (self.units if self.return_sequences else 0),
            capped_scratch=per_sample,
            scratch_cap=cap,
            overhead=steps * step * MICROSECOND,
            train_overhead=self.train_loop_factor * steps * step * MICROSECOND,
            train_kept=steps * self.kept_per_step,
            train_scratch=steps * self.backward_per_step + steps * n + 16 * g,
            untrainable=self.untrainable(),
        )

    def untrainable(self) -> str:
        """Why netbuilder cannot train this layer ("" when it can): Keras's own dropout masks are not reproduced."""
        rates = [f"{name}={self.values[name]:g}" for name in ("dropout", "recurrent_dropout") if self.values[name] > 0]
        if not rates:
            return ""
        return (
            f"has {' and '.join(rates)}: netbuilder runs a recurrent layer's own dropout only at inference, where it "
            f"does nothing, and cannot train with it; set {' and '.join(r.split('=')[0] for r in rates)} to 0 "
            "(a Dropout layer before it drops its inputs in training)"
        )

    @property
    def kept_per_step(self) -> int:
        """Values per sample and step forward_train keeps for backward (the state before, the gates before and after
        their activation...)."""
        return 3 * self.units  # SimpleRNN: h before, pre- and post-activation

    @property
    def backward_per_step(self) -> int:
        """Values per sample and step of backward's per-step gradients (besides x·kernel's back in time order, and
        the input's gradient before its transpose, which the cost adds)."""
        return 2 * self.gates * self.units

    # --- description ------------------------------------------------------------------------------------
    def label(self) -> str:
        parts = [counted(self.units, "unit")]
        if self.activation != "tanh":
            parts.append(self.activation)
        if self.recurrent_activation != "sigmoid":
            parts.append(f"recurrent {self.recurrent_activation}")
        if self.return_sequences:
            parts.append("sequences")
        if self.go_backwards:
            parts.append("backwards")
        if not self.use_bias:
            parts.append("no bias")
        return ", ".join(parts)

    state_words: ClassVar[str] = "a state"

    def explain_shape(self, shape, output_shape) -> str:
        steps, n, u = shape[1], shape[2], self.units
        order = "from the last to the first" if self.go_backwards else "one at a time"
        text = (
            f"{self.kind} reads the {steps:,} steps {order} ({n:,} features each), carrying {self.state_words} of "
            f"{u:,} numbers from step to step; each step outputs {u:,} numbers. "
        )
        if self.return_sequences:
            text += (
                f"return_sequences=True keeps every step's output: {steps:,} steps × {u:,} → "
                f"{format_shape(output_shape)}, the (steps, features) shape another recurrent layer reads."
            )
            if self.go_backwards:
                text += " With go_backwards the outputs come in reading order: the last input step's output first."
        else:
            text += (
                f"return_sequences=False keeps only the last step's output → {format_shape(output_shape)}; "
                f"return_sequences=True would keep all of them, {format_shape((None, steps, u))}."
            )
        return text

    # --- code -------------------------------------------------------------------------------------------
    def torch_standard(self, n: int) -> tuple[str, dict] | None:
        """(torch module expression, weights in its layout) when torch's own module computes this layer."""
        return None

    def torch_code(self, shape) -> list[CodePart]:
        n = shape[-1]
        standard = self.torch_standard(n)
        flags = f"return_sequences={self.return_sequences}, go_backwards={self.go_backwards}"
        if standard is not None:
            module, weights = standard
            return [
                CodePart(
                    f"KerasRNN({module}, {flags})",
                    {"KerasRNN": _TORCH_WRAPPER},
                    {f"rnn.{k}": v for k, v in weights.items()},
                )
            ]
        helpers = {"KerasRecurrentLoop": _TORCH_LOOP_BASE}
        args = [
            f"features={n}",
            f"units={self.units}",
            f"gates={self.gates}",
            f"bias_shape={self.bias_spec().shape if self.use_bias else None}",
        ]
        for setting in ("activation", "recurrent_activation"):
            if setting in self.values:
                part = torch_activation(self.values[setting])
                helpers.update(part.helpers)
                args.append(f"{setting}={part.code}")
        args.append(flags)
        if self.kind == "GRU":
            args.append(f"reset_after={self.reset_after}")
        cls = f"Keras{self.kind}Loop"
        helpers[cls] = _TORCH_LOOPS[self.kind]
        code = f"{cls}({', '.join(args)})"
        weights = {"kernel": self._weights[0], "recurrent_kernel": self._weights[1]}
        if self.use_bias:
            weights["bias"] = self._weights[2]
        return [CodePart(code, helpers, weights)]


_UNITS = Int(
    "units", 32, "Size of each step's output and of the state carried between steps.", required=True, high=MAX_UNITS
)
_ACTIVATION = ActivationName(
    "activation", "tanh", "Applied to the candidate state and to the output (tanh by default)."
)
_RECURRENT_ACTIVATION = ActivationName(
    "recurrent_activation", "sigmoid", "Applied to the gates (sigmoid by default: values in 0..1)."
)
_USE_BIAS = Bool("use_bias", True, "Add learned biases to the gates.")
_RETURN_SEQUENCES = Bool(
    "return_sequences", False, "Output every step (steps, units) instead of only the last step (units)."
)
_GO_BACKWARDS = Bool("go_backwards", False, "Read the steps from last to first; outputs come in that reading order.")
_INITIALIZERS = (
    Init(
        "kernel_initializer",
        "glorot_uniform",
        "How the input kernel's weights start (drawn from the model's seed).",
        ndim=2,
    ),
    Init(
        "recurrent_initializer",
        "orthogonal",
        "How the recurrent kernel's weights start (Keras's default: orthogonal).",
        ndim=2,
    ),
    Init("bias_initializer", "zeros", "How the biases start.", ndim=1),
)


class _Rate(Float):
    """A dropout rate: any number, clipped to [0, 1] as Keras's recurrent layers clip it."""

    def check(self, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            value = min(1.0, max(0.0, float(value)))
        return super().check(value)


# Keras arguments that change nothing at inference: kept in the config, the JSON and the exported code; a model
# with dropout is refused training (netbuilder's recurrent steps have no dropout masks)
_DROPOUT, _RECURRENT_DROPOUT, _UNROLL = (
    _Rate(
        "dropout",
        0.0,
        "Fraction of the inputs dropped in training (Keras); nothing at inference. netbuilder does not "
        "train it: put a Dropout layer before this one instead.",
    ),
    _Rate(
        "recurrent_dropout",
        0.0,
        "Fraction of the state dropped in training (Keras); nothing at inference. netbuilder does not train it.",
    ),
    Bool("unroll", False, "Keras unrolls the loop over steps (faster for short sequences there); the same numbers."),
)
_COMMON_CONFIG = {
    "return_state": False,
    "stateful": False,
    "zero_output_for_mask": False,
    "kernel_regularizer": None,
    "recurrent_regularizer": None,
    "bias_regularizer": None,
    "activity_regularizer": None,
    "kernel_constraint": None,
    "recurrent_constraint": None,
    "bias_constraint": None,
}
_REGULARIZING = (
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "dropout",
    "recurrent_dropout",
)


@register
class SimpleRNN(_Recurrent):
    """h_t = activation(x_t·kernel + bias + h_(t-1)·recurrent_kernel)."""

    train_call_microseconds = 30  # forward_train and backward of a step whatever the batch (measured at batch 1)
    train_loop_factor = 5  # its step is so short that backward's calls weigh more (measured 4-5 times predict's)

    settings = (
        _UNITS,
        _ACTIVATION,
        _USE_BIAS,
        *_INITIALIZERS,
        _DROPOUT,
        _RECURRENT_DROPOUT,
        _RETURN_SEQUENCES,
        _GO_BACKWARDS,
        _UNROLL,
    )
    keras_args = (
        "units",
        "activation",
        "use_bias",
        *_REGULARIZING,
        "return_sequences",
        "return_state",
        "go_backwards",
        "stateful",
        "unroll",
        "seed",
    )
    description = "Reads a sequence step by step: each output is activation(x·W + h·U + b) of the step before's output."
    keras_extra_config = _COMMON_CONFIG

    def _step_cost(self) -> tuple[int, int, list]:
        u = self.units
        buffers = u  # h·U
        ops = u + self._act_ops(self.activation, u)
        return buffers, ops, [(self.activation, u)]

    def _run(self, x, cache):
        kernel, rec, bias = self._weights_of(np.result_type(x.dtype, self._weights[0].dtype))
        dt, steps = kernel.dtype, x.shape[1]
        xw = self._project(x, kernel, bias)
        out, h = self._output(x, dt)
        m = np.empty_like(h)
        for k, t in self._order(steps):
            self._store(cache, "h_prev", k, h, steps)
            np.matmul(h, rec, out=m)
            np.add(xw[t], m, out=h)  # Keras: (x·W + b) + h·U
            self._store(cache, "pre", k, h, steps)
            _activate(self.activation, h)
            self._store(cache, "post", k, h, steps)
            if self.return_sequences:
                np.copyto(out[:, k], h)
        return out

    def backward(self, cache, dy):
        kernel, rec, _ = self._weights_of(dy.dtype)
        steps = cache["x"].shape[1]
        dpre = np.empty_like(cache["pre"])
        dh = np.zeros_like(cache["h_prev"][0])
        for k in range(steps - 1, -1, -1):
            d = self._dy_at(dy, k, steps)
            if d is not None:
                dh = dh + d
            dpre[k] = activations.gradient(self.activation, cache["pre"][k], cache["post"][k], dh)
            dh = dpre[k] @ rec.T
        drec = cache["h_prev"].reshape(-1, self.units).T @ dpre.reshape(-1, self.units)
        dx, dkernel, dbias = self._finish_backward(cache, dpre, kernel)
        return dx, [dkernel, drec] + ([dbias] if self.use_bias else [])

    def torch_standard(self, n: int):
        if self.activation not in ("tanh", "relu"):
            return None
        u = self.units
        weights = {"weight_ih_l0": self._weights[0].T, "weight_hh_l0": self._weights[1].T}
        if self.use_bias:  # torch adds two biases; Keras has one
            weights.update(bias_ih_l0=self._weights[2], bias_hh_l0=np.zeros(u, np.float32))
        return f"nn.RNN({n}, {u}, nonlinearity={self.activation!r}, bias={self.use_bias}, batch_first=True)", weights


@dataclass(frozen=True, repr=False)
class ForgetBias(Initializer):
    """Keras's LSTM bias with unit_forget_bias (LSTMCell.build): bias_initializer((units,)), ones((units,)) for the
    forget gate, then bias_initializer((2·units,)), joined — each part drawn afresh from the same seed, as Keras's
    initializer draws with its one integer seed at each call."""

    keras_name = "ForgetBias"  # not a Keras class: made by the LSTM from its bias_initializer, never serialized
    inner: Initializer = ones

    def draw(self, shape, seed):
        u = shape[0] // 4
        return np.concatenate([self.inner((u,), seed), ones((u,), seed), self.inner((2 * u,), seed)])

    def cost(self, shape):
        u = shape[0] // 4
        first, second = self.inner.cost((u,)), self.inner.cost((2 * u,))
        # the parts (4·units float32) beside the joined weight, and the larger draw's temporaries
        return first[0] + second[0] + ones.cost(shape)[0], max(first[1], second[1]) + 16 * u


@register
class LSTM(_Recurrent):
    """Long short-term memory: gates i, f, o and candidate c (columns in that Keras order: i, f, c, o)."""

    train_call_microseconds = 55  # forward_train and backward of a step whatever the batch (measured at batch 1)

    gates = 4
    step_microseconds = 8
    settings = (
        _UNITS,
        _ACTIVATION,
        _RECURRENT_ACTIVATION,
        _USE_BIAS,
        *_INITIALIZERS,
        Bool(
            "unit_forget_bias",
            True,
            "Start the forget gate's bias at ones (Keras's default), not at bias_initializer's.",
        ),
        _DROPOUT,
        _RECURRENT_DROPOUT,
        _RETURN_SEQUENCES,
        _GO_BACKWARDS,
        _UNROLL,
    )
    keras_args = (
        "units",
        "activation",
        "recurrent_activation",
        "use_bias",
        "kernel_initializer",
        "recurrent_initializer",
        "bias_initializer",
        "unit_forget_bias",
        *_REGULARIZING[3:],
        "seed",
        "return_sequences",
        "return_state",
        "go_backwards",
        "stateful",
        "unroll",
        "use_cudnn",
    )
    description = (
        "Long short-term memory: gated cells read a (steps, features) sequence; the last output or every step's."
    )
    keras_extra_config = {**_COMMON_CONFIG, "seed": None}
    state_words = "a memory cell and an output state"

    def bias_spec(self) -> WeightSpec:
        init = ForgetBias(self.bias_initializer) if self.unit_forget_bias else self.bias_initializer
        return WeightSpec("bias", (4 * self.units,), init)

    kept_per_step = property(lambda self: 12 * self.units)  # h and c before, 4 gates before and after, c, act(c)

    def _step_cost(self) -> tuple[int, int, list]:
        u, g = self.units, 4 * self.units
        buffers = 2 * g + 2 * u + (g if self.use_bias else 0)  # h·U, the gates, c, act(c), the bias per row
        ops = (
            g * (2 + self.use_bias)
            + 3 * self._act_ops(self.recurrent_activation, u)
            + 2 * self._act_ops(self.activation, u)
            + 5 * u
        )
        rec, act = self.recurrent_activation, self.activation
        return buffers, ops, [(rec, 3 * u), (act, u), (act, u)]  # act(candidate) and act(c)

    def _run(self, x, cache):
        kernel, rec, bias = self._weights_of(np.result_type(x.dtype, self._weights[0].dtype))
        dt, (b, steps, _), u = kernel.dtype, x.shape, self.units
        xw = self._project(x, kernel, None)  # Keras adds the bias after x·W + h·U
        out, h = self._output(x, dt)
        z = np.empty((b, 4 * u), dt)
        keras_gates = z.reshape(b, 4, u).transpose(1, 0, 2)  # i, f, c, o as (4, batch, units) views
        gates = np.empty((4, b, u), dt)  # i, f, o, c: each gate contiguous, the three sigmoid ones together
        i, f, o, g = gates
        rows_bias = None if bias is None else np.broadcast_to(bias, z.shape).copy()  # a same-shape add is the fast one
        c = np.zeros((b, u), dt)
        a = np.empty_like(c)
        rec_name, act_name = self.recurrent_activation, self.activation
        for k, t in self._order(steps):
            self._store(cache, "h_prev", k, h, steps)
            self._store(cache, "c_prev", k, c, steps)
            np.matmul(h, rec, out=z)
            np.add(xw[t], z, out=z)  # Keras: (x·W + h·U) + b
            if rows_bias is not None:
                np.add(z, rows_bias, out=z)
            np.copyto(gates[:2], keras_gates[:2])
            np.copyto(o, keras_gates[3])
            np.copyto(g, keras_gates[2])
            self._store(cache, "pre", k, gates, steps)
            _activate(rec_name, gates[:3])
            _activate(act_name, g)
            self._store(cache, "post", k, gates, steps)
            np.multiply(f, c, out=c)  # c = f·c + i·act(...), in Keras's order
            np.multiply(i, g, out=g)
            np.add(c, g, out=c)
            self._store(cache, "c", k, c, steps)
            np.copyto(a, c)
            _activate(act_name, a)
            self._store(cache, "a", k, a, steps)
            np.multiply(o, a, out=h)
            if self.return_sequences:
                np.copyto(out[:, k], h)
        return out

    def backward(self, cache, dy):
        kernel, rec, _ = self._weights_of(dy.dtype)
        steps, u = cache["x"].shape[1], self.units
        pre, post, act, rec_name = cache["pre"], cache["post"], self.activation, self.recurrent_activation
        dz = np.empty((steps, dy.shape[0], 4 * u), dy.dtype)
        dh = np.zeros_like(cache["h_prev"][0])
        dc = np.zeros_like(dh)
        for k in range(steps - 1, -1, -1):
            d = self._dy_at(dy, k, steps)
            if d is not None:
                dh = dh + d
            i, f, o, g = post[k]
            a = cache["a"][k]
            dc = dc + activations.gradient(act, cache["c"][k], a, dh * o)
            di, df, do = (
                activations.gradient(rec_name, pre[k][j], post[k][j], dj)
                for j, dj in enumerate((dc * g, dc * cache["c_prev"][k], dh * a))
            )
            dz[k] = np.concatenate(
                [di, df, activations.gradient(act, pre[k][3], g, dc * i), do], axis=-1
            )  # Keras's i, f, c, o
            dh = dz[k] @ rec.T
            dc = dc * f
        drec = cache["h_prev"].reshape(-1, u).T @ dz.reshape(-1, 4 * u)
        dx, dkernel, dbias = self._finish_backward(cache, dz, kernel)
        return dx, [dkernel, drec] + ([dbias] if self.use_bias else [])

    def torch_standard(self, n: int):
        if (self.activation, self.recurrent_activation) != ("tanh", "sigmoid"):
            return None
        u = self.units  # torch's gate order i, f, g, o is Keras's i, f, c, o
        weights = {"weight_ih_l0": self._weights[0].T, "weight_hh_l0": self._weights[1].T}
        if self.use_bias:  # torch adds two biases; Keras has one
            weights.update(bias_ih_l0=self._weights[2], bias_hh_l0=np.zeros(4 * u, np.float32))
        return f"nn.LSTM({n}, {u}, bias={self.use_bias}, batch_first=True)", weights


@register
class GRU(_Recurrent):
    """Gated recurrent unit: update gate z, reset gate r, candidate h (Keras's column order z, r, h)."""

    train_call_microseconds = 60  # forward_train and backward of a step whatever the batch (measured at batch 1)

    gates = 3
    settings = (
        _UNITS,
        _ACTIVATION,
        _RECURRENT_ACTIVATION,
        _USE_BIAS,
        *_INITIALIZERS[:2],
        Init("bias_initializer", "zeros", "How the biases start (two rows with reset_after).", ndim=None),
        _DROPOUT,
        _RECURRENT_DROPOUT,
        _RETURN_SEQUENCES,
        _GO_BACKWARDS,
        _UNROLL,
        Bool(
            "reset_after",
            True,
            "Apply the reset gate after the recurrent matmul (Keras 3 and cuDNN's way; "
            "two bias rows) instead of before it.",
        ),
    )
    keras_args = (
        "units",
        "activation",
        "recurrent_activation",
        "use_bias",
        *_REGULARIZING,
        "seed",
        "return_sequences",
        "return_state",
        "go_backwards",
        "stateful",
        "unroll",
        "reset_after",
        "use_cudnn",
    )
    description = "Gated recurrent unit: like LSTM with two gates and no separate memory cell, so fewer parameters."
    keras_extra_config = {**_COMMON_CONFIG, "seed": None}

    def validate(self) -> None:
        super().validate()
        ndim = 2 if self.reset_after else 1  # the bias: one row per matmul with reset_after
        if not self.bias_initializer.fits_rank(ndim):
            raise LayerConfigError(rank_refusal("bias_initializer", self.bias_initializer, ndim))

    def bias_spec(self) -> WeightSpec:
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        return WeightSpec("bias", shape, self.bias_initializer)

    def bias_term(self) -> str:
        return f"2×{self.units:,}" if self.reset_after else f"{self.units:,}"

    kept_per_step = property(
        lambda self: 8 * self.units
    )  # h before, z and r before and after, m or r·h, hh before and after
    backward_per_step = property(lambda self: (9 if self.reset_after else 8) * self.units)  # ∂(x·W) twice and ∂(h·U)

    def label(self) -> str:
        return super().label() + ("" if self.reset_after else ", reset before")

    @property
    def step_microseconds(self) -> int:
        return 9 if self.reset_after else 16  # reset before: a second matmul and more copies

    def _step_cost(self) -> tuple[int, int, list]:
        u = self.units
        width = 3 * u if self.reset_after else 2 * u
        # h·U and its sum with x·W, z and r, hh, z·h, one more; the recurrent bias per row
        buffers = 2 * width + 2 * u + 3 * u + (width if self.use_bias and self.reset_after else 0)
        ops = (
            width * (2 + (self.use_bias and self.reset_after))
            + 2 * self._act_ops(self.recurrent_activation, u)
            + 9 * u
            + self._act_ops(self.activation, u)
        )
        rec, act = self.recurrent_activation, self.activation
        return buffers, ops, [(rec, 2 * u), (act, u)]

    def _run(self, x, cache):
        kernel, rec, bias = self._weights_of(np.result_type(x.dtype, self._weights[0].dtype))
        dt, (b, steps, _), u = kernel.dtype, x.shape, self.units
        in_bias = None if bias is None else (bias[0] if self.reset_after else bias)
        rec_bias = bias[1] if bias is not None and self.reset_after else None
        xw = self._project(x, kernel, in_bias)
        out, h = self._output(x, dt)
        width = (3 if self.reset_after else 2) * u
        m, s = np.empty((b, width), dt), np.empty((b, width), dt)
        rows_bias = (
            None if rec_bias is None else np.broadcast_to(rec_bias, m.shape).copy()
        )  # a same-shape add is the fast one
        zr = np.empty((2, b, u), dt)  # gate-major, so each gate is contiguous
        hh, zh, v = np.empty((b, u), dt), np.empty((b, u), dt), np.empty((b, u), dt)
        z, r = zr
        one = np.array(1, dt)
        for k, t in self._order(steps):
            self._store(cache, "h_prev", k, h, steps)
            if self.reset_after:
                np.matmul(h, rec, out=m)
                if rows_bias is not None:
                    np.add(m, rows_bias, out=m)
                np.add(xw[t], m, out=s)  # x_z + m_z and x_r + m_r (the third block is not used)
            else:
                np.matmul(h, rec[:, : 2 * u], out=m)
                np.copyto(s, xw[t][:, : 2 * u])
                np.add(s, m, out=s)
            np.copyto(zr, s.reshape(b, -1, u)[:, :2].transpose(1, 0, 2))
            self._store(cache, "pre", k, zr, steps)
            _activate(self.recurrent_activation, zr)
            self._store(cache, "post", k, zr, steps)
            if self.reset_after:  # x_h + r·(h·U_h + b_h)
                np.copyto(v, m[:, 2 * u :])
                self._store(cache, "m", k, v, steps)
                np.multiply(r, v, out=hh)
            else:  # x_h + (r·h)·U_h
                np.multiply(r, h, out=v)
                self._store(cache, "rh", k, v, steps)
                np.matmul(v, rec[:, 2 * u :], out=hh)
            np.copyto(v, xw[t][:, 2 * u :])
            np.add(v, hh, out=hh)
            self._store(cache, "p", k, hh, steps)
            _activate(self.activation, hh)
            self._store(cache, "hh", k, hh, steps)
            np.multiply(z, h, out=zh)  # h = z·h + (1 − z)·hh, in Keras's order
            np.subtract(one, z, out=z)
            np.multiply(z, hh, out=hh)
            np.add(zh, hh, out=h)
            if self.return_sequences:
                np.copyto(out[:, k], h)
        return out

    def backward(self, cache, dy):
        kernel, rec, _ = self._weights_of(dy.dtype)
        steps, u = cache["x"].shape[1], self.units
        pre, post, rec_name = cache["pre"], cache["post"], self.recurrent_activation
        dxw = np.empty((steps, dy.shape[0], 3 * u), dy.dtype)
        dm = np.empty((steps, dy.shape[0], (3 if self.reset_after else 2) * u), dy.dtype)
        drec = np.zeros_like(rec)
        dh = np.zeros_like(cache["h_prev"][0])
        for k in range(steps - 1, -1, -1):
            d = self._dy_at(dy, k, steps)
            if d is not None:
                dh = dh + d
            h_prev, (z, r), hh = cache["h_prev"][k], post[k], cache["hh"][k]
            dp = activations.gradient(self.activation, cache["p"][k], hh, dh * (1 - z))
            if self.reset_after:
                dr, dm_h = dp * cache["m"][k], dp * r
            else:
                drh = dp @ rec[:, 2 * u :].T
                drec[:, 2 * u :] += cache["rh"][k].T @ dp
                dr = drh * h_prev
            ds = np.concatenate(
                [
                    activations.gradient(rec_name, pre[k][0], z, dh * (h_prev - hh)),
                    activations.gradient(rec_name, pre[k][1], r, dr),
                ],
                axis=-1,
            )
            dxw[k] = np.concatenate([ds, dp], axis=-1)
            dm[k] = np.concatenate([ds, dm_h], axis=-1) if self.reset_after else ds
            dh = dh * z + dm[k] @ rec[:, : dm.shape[-1]].T + (0 if self.reset_after else drh * r)
        width = dm.shape[-1]
        drec[:, :width] += cache["h_prev"].reshape(-1, u).T @ dm.reshape(-1, width)
        dx, dkernel, dbias = self._finish_backward(cache, dxw, kernel)
        grads = [dkernel, drec]
        if self.use_bias:
            grads.append(np.stack([dbias, dm.sum(axis=(0, 1))]) if self.reset_after else dbias)
        return dx, grads

    def torch_standard(self, n: int):
        if (self.activation, self.recurrent_activation) != ("tanh", "sigmoid") or not self.reset_after:
            return None
        u = self.units
        order = np.r_[u : 2 * u, 0:u, 2 * u : 3 * u]  # torch's gates r, z, n from Keras's z, r, h
        weights = {"weight_ih_l0": self._weights[0][:, order].T, "weight_hh_l0": self._weights[1][:, order].T}
        if self.use_bias:  # torch's b_hn sits inside r·(W_hn·h + b_hn), as Keras's recurrent bias does
            weights.update(bias_ih_l0=self._weights[2][0, order], bias_hh_l0=self._weights[2][1, order])
        return f"nn.GRU({n}, {u}, bias={self.use_bias}, batch_first=True)", weights
