"""MultiHeadAttention: Keras's multi-head attention over the sequence axis of (batch, steps, features) tensors.

Keras's layer is four EinsumDense projections: `query`, `key` and `value` map each position's features to
(num_heads, key_dim) (value: value_dim), then every head's query positions attend to its key positions
(softmax over the key axis of the scaled dot products), the weighted values are summed, and `attention_output`
maps (num_heads, value_dim) back to the query's features (or `output_shape`). With `use_gate` a fifth projection of
the query, through a sigmoid, multiplies the heads' results first. Weights come in Keras's get_weights order:
query, key, (gate,) value, attention_output, each kernel then its bias.

The bits are Keras 3.15's on its NumPy backend: with dropout 0 it runs `ops.dot_product_attention` (the logits
scaled after the product); with dropout > 0 its own path (the query scaled before it). Kernels drawn by a
VarianceScaling initializer (glorot_uniform...) count their fans as EinsumDense does (features in; heads × size
out), not as a convolution kernel's.

Called as Keras calls it, `mha(query, value)` or `mha(query, value, key)`, by position or keyword (the key defaults to
the value); masks (`attention_mask`, the inputs' masks, `use_causal_mask`, `sliding_window`) and
`return_attention_scores` are refused, as are inputs of other than three axes and other `attention_axes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .. import activations
from ..budget import MICROSECOND
from ..errors import LayerConfigError
from ..initializers import Initializer
from ..layer import CodePart, Cost, Layer, Problem, WeightSpec, register
from ..limits import MAX_UNITS
from ..settings import Bool, Float, Init, Int, Setting, _is_int, _short, _ints_from_text, rank_refusal
from ..shapes import format_shape
from ..tensors import KerasTensor
from .dropout import OptionalSeed

ROLES = ("query", "value", "key")  # Keras's call's tensors, in its positional order
_OFF = ("query_mask", "value_mask", "key_mask", "attention_mask")  # masks: None only
_FLAGS = ("return_attention_scores", "use_causal_mask")  # False only
_PROJECT = "abc,cde->abde"  # Keras's EinsumDense equation of a projection of a rank-3 input
_SEQUENTIAL = (
    "Layers added to a Sequential model can only have a single required positional argument, the input tensor. "
    'Layer MultiHeadAttention has multiple required positional arguments: [<Parameter "query">, '
    '<Parameter "value">]'
)
_GATE_SIGMOID = activations.ACTIVATIONS["sigmoid"]
_SOFTMAX_OPS = 18  # softmax's operations per value (activations.COST["softmax"])


# --- settings ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OptionalSize(Setting):
    """None (as another setting), or a size from 1 to MAX_UNITS (value_dim)."""

    widget = "text"

    def check(self, value):
        if value is None:
            return None
        if not _is_int(value) or not 1 <= value <= MAX_UNITS:
            self.fail(value, f"None or an integer from 1 to {MAX_UNITS:,}")
        return int(value)

    def format_text(self, value) -> str:
        return "" if value is None else str(value)

    def parse_text(self, text: str):
        text = text.strip() if isinstance(text, str) else text
        if text in ("", "None", "none"):
            return None
        try:
            return self.check(int(text))
        except (TypeError, ValueError):
            self.fail(text, f"None or an integer from 1 to {MAX_UNITS:,}")

    @property
    def allowed(self) -> str:
        return f"empty (None), or 1 to {MAX_UNITS:,}"


@dataclass(frozen=True)
class OutputShape(Setting):
    """None (the query's features), or the sizes of the output's last axes: an integer or up to 3 of them. As Keras's
    `if output_shape:`, 0 and () mean None."""

    widget = "text"

    def check(self, value):
        if value is None or (
            not isinstance(value, str) and not value and (_is_int(value) or isinstance(value, (tuple, list)))
        ):
            return None
        sizes = (value,) if _is_int(value) else value
        if (
            not isinstance(sizes, (tuple, list))
            or not 1 <= len(sizes) <= 3
            or not all(_is_int(s) and 1 <= s <= MAX_UNITS for s in sizes)
        ):
            self.fail(value, f"None, an integer from 1 to {MAX_UNITS:,}, or up to 3 of them")
        return tuple(int(s) for s in sizes)

    def format_text(self, value) -> str:
        return "" if value is None else ", ".join(map(str, value))

    def parse_text(self, text: str):
        if isinstance(text, str) and text.strip().strip("()[]").strip().lower() in ("", "none"):
            return None
        return self.check(_ints_from_text(self.name, text))

    @property
    def allowed(self) -> str:
        return f"empty (the query's features), or up to 3 sizes from 1 to {MAX_UNITS:,}"


@dataclass(frozen=True)
class AttentionAxes(Setting):
    """None (the sequence axes), or axes of the projected query (batch, steps, heads, size) an int or a list of them,
    as Keras takes them; netbuilder computes attention over the steps axis only (1, or -2: Keras resolves a < 0
    as 3 + a)."""

    widget = "text"

    def check(self, value):
        if value is None:
            return None
        axes = (value,) if _is_int(value) else value
        if not isinstance(axes, (tuple, list)) or isinstance(value, str):
            raise LayerConfigError(
                f"`attention_axes` must be an int, list, or tuple.Received: attention_axes={_short(value)}"
            )
        if not 1 <= len(axes) <= 4 or not all(_is_int(a) and -5 <= a <= 5 for a in axes):
            self.fail(value, "None, or axes from -5 to 5 (one or a list of them)")
        return tuple(int(a) for a in axes)

    def format_text(self, value) -> str:
        return "" if value is None else ", ".join(map(str, value))

    def parse_text(self, text: str):
        if isinstance(text, str) and text.strip().strip("()[]").strip().lower() in ("", "none"):
            return None
        return self.check(_ints_from_text(self.name, text))

    @property
    def allowed(self) -> str:
        return "empty (None: the steps axis), or 1 (the same)"


@dataclass(frozen=True)
class NoneOnly(Setting):
    """A Keras argument netbuilder has only at its default None (sliding_window: a mask)."""

    why: str = ""

    def check(self, value):
        if value is not None:
            raise LayerConfigError(f"{self.name} must be None in netbuilder ({self.why}); received {_short(value)}")
        return None

    def format_text(self, value) -> str:
        return ""

    def parse_text(self, text: str):
        return self.check(None if str(text).strip() in ("", "None", "none") else text)

    @property
    def allowed(self) -> str:
        return "empty (None)"


@dataclass(frozen=True, repr=False)
class EinsumKernel(Initializer):
    """A projection kernel drawn as EinsumDense draws it: a VarianceScaling initializer counts its fans over `fans`
    (the kernel's input axes, then its output axes, flattened: Keras's input_axes and output_axes), which is the same
    stream as drawing that 2-D shape and reshaping; any other initializer draws the kernel's own shape."""

    base: Initializer = None
    fans: tuple = ()

    def draw(self, shape, seed):
        if self.base.scales_by_fans:
            return self.base(self.fans, seed).reshape(shape)
        return self.base(shape, seed)

    def cost(self, shape):
        return self.base.cost(shape)


# --- a call's tensors ------------------------------------------------------------------------------------------
class Operands(NamedTuple):
    """One call's arrays by role (key None: the value), and the role of each of the call's tensors in `node.inputs`
    order (what `backward` returns a gradient for)."""

    query: np.ndarray
    value: np.ndarray
    key: np.ndarray | None
    slots: tuple[str, ...]


def call_roles(args: tuple, kwargs: dict) -> dict:
    """The tensors of a call of MultiHeadAttention by role, checked: what Keras's call takes, masks off."""
    if len(args) > 3:
        raise LayerConfigError(
            f"MultiHeadAttention takes query, value and key as positional arguments (at most 3); "
            f"received {len(args)}. Masks are not supported in netbuilder"
        )
    roles = dict(zip(ROLES, args))
    for name, value in kwargs.items():
        if name in ROLES:
            if name in roles:
                raise LayerConfigError(f"MultiHeadAttention received {name!r} twice")
            roles[name] = value
        elif name in _OFF:
            if value is not None:
                raise LayerConfigError(
                    f"MultiHeadAttention in netbuilder takes no masks: {name} must be None (attention "
                    "runs over every position of the query and the key)"
                )
        elif name in _FLAGS:
            if value is not False:
                raise LayerConfigError(
                    f"MultiHeadAttention in netbuilder takes {name}=False only (received {_short(value)}): "
                    + (
                        "it returns the attention output alone"
                        if name == _FLAGS[0]
                        else "causal masks are not supported"
                    )
                )
        elif name != "training":
            raise LayerConfigError(
                f"MultiHeadAttention.call() got an unexpected keyword argument {name!r}; it takes "
                "query, value, key and training (masks off)"
            )
    if roles.get("key") is None:
        roles.pop("key", None)
    missing = [r for r in ROLES[:2] if r not in roles]
    if missing:
        raise LayerConfigError(
            f"missing a required argument: {missing[0]!r}. MultiHeadAttention is called on a query and a "
            "value (and a key), such as MultiHeadAttention(2, 16)(query, value) or (x, x) for self-attention"
        )
    if not all(isinstance(t, KerasTensor) for t in roles.values()):
        raise LayerConfigError(
            "MultiHeadAttention is called on tensors made by Input(...) and layers (query, value, key); "
            "to compute numbers, build a model and call model.predict(x)"
        )
    return roles


def call_slots(args: tuple, kwargs: dict) -> tuple[str, ...]:
    """The role of each tensor of a call in `Node.inputs` order: the positional ones, then keywords by sorted name."""
    positional = [role for role, a in zip(ROLES, args) if isinstance(a, KerasTensor)]
    return (*positional, *(k for k in sorted(kwargs) if isinstance(kwargs[k], KerasTensor)))


def _resolved(axes: tuple) -> tuple:
    """attention_axes as Keras's _build_attention resolves them for a rank-3 input (projected to 4 axes): a if a ≥ 0,
    else 3 + a."""
    return tuple(a if a >= 0 else 3 + a for a in axes)


def _proj_equation(bound: int, outputs: int) -> str:
    """Keras's _build_proj_equation for a rank-3 input's two free axes: `abcd,cde->abe` for the output projection."""
    free, kernel = "ab", "cdefgh"[: bound + outputs]
    return f"{free}{kernel[:bound]},{kernel}->{free}{kernel[bound:]}"


def _softmax_in_place(x: np.ndarray) -> np.ndarray:
    """Keras's NumPy softmax on the last axis, `exp(x - max) / sum`, computed in x's own buffer (the same bits)."""
    np.subtract(x, np.max(x, axis=-1, keepdims=True), out=x)
    np.exp(x, out=x)
    return np.divide(x, np.sum(x, axis=-1, keepdims=True), out=x)


def _project_back(x: np.ndarray, kernel: np.ndarray, dz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A projection's (∂input, ∂kernel, ∂bias) from ∂output (batch, steps, heads, size)."""
    return (
        np.tensordot(dz, kernel, axes=([2, 3], [1, 2])),
        np.tensordot(x, dz, axes=([0, 1], [0, 1])),
        dz.sum(axis=(0, 1)),
    )


_TORCH_MHA = '''class KerasMultiHeadAttention(nn.Module):
    """keras.layers.MultiHeadAttention (masks off, inference): query, key and value projected to heads, each head's
    softmax(q·kᵀ/√key_dim)·v, then the output projection; parameters in Keras's layouts."""

    def __init__(self, num_heads, key_dim, value_dim, query_features, value_features, key_features, output_shape,
                 use_bias=True, use_gate=False):
        super().__init__()
        self.scale = 1.0 / float(key_dim) ** 0.5
        self.use_gate, self.output_sizes = use_gate, tuple(output_shape)
        shapes = {"query": (query_features, key_dim), "key": (key_features, key_dim), \
"value": (value_features, value_dim)}
        if use_gate:
            shapes["gate"] = (query_features, value_dim)
        for name, (features, size) in shapes.items():
            setattr(self, f"{name}_kernel", nn.Parameter(torch.zeros(features, num_heads, size)))
            setattr(self, f"{name}_bias", nn.Parameter(torch.zeros(num_heads, size)) if use_bias else None)
        self.output_kernel = nn.Parameter(torch.zeros(num_heads, value_dim, *self.output_sizes))
        self.output_bias = nn.Parameter(torch.zeros(*self.output_sizes)) if use_bias else None

    def project(self, x, name):
        y = torch.einsum("abc,cde->abde", x, getattr(self, f"{name}_kernel"))
        bias = getattr(self, f"{name}_bias")
        return y if bias is None else y + bias

    def forward(self, query, value, key=None):
        key = value if key is None else key
        q, k, v = self.project(query, "query"), self.project(key, "key"), self.project(value, "value")
        scores = torch.softmax(torch.einsum("btnh,bsnh->bnts", q, k) * self.scale, dim=-1)
        heads = torch.einsum("bnts,bsnh->btnh", scores, v)
        if self.use_gate:
            heads = heads * torch.sigmoid(self.project(query, "gate"))
        y = torch.tensordot(heads, self.output_kernel, dims=([2, 3], [0, 1]))
        return y if self.output_bias is None else y + self.output_bias
'''


@register
class MultiHeadAttention(Layer):
    """Keras's multi-head attention of a query sequence over a key/value sequence (masks off)."""

    settings = (
        Int(
            "num_heads",
            2,
            "How many attention heads: each attends with its own projections.",
            required=True,
            high=MAX_UNITS,
        ),
        Int(
            "key_dim",
            16,
            "Size of each head's query and key (the dot products are scaled by 1/√key_dim).",
            required=True,
            high=MAX_UNITS,
        ),
        OptionalSize("value_dim", None, "Size of each head's value (None: key_dim)."),
        Float("dropout", 0.0, "Fraction of attention weights zeroed in training (nothing changes at inference)."),
        Bool("use_bias", True, "Add a learned bias in each projection."),
        OutputShape("output_shape", None, "Sizes of the output's last axes (None: the query's features)."),
        AttentionAxes(
            "attention_axes", None, "Axes attention runs over (None: the steps axis, the only one netbuilder has)."
        ),
        Init(
            "kernel_initializer",
            "glorot_uniform",
            "How the projections' kernels start (fans as EinsumDense counts them).",
        ),
        Init("bias_initializer", "zeros", "How the projections' biases start.", ndim=1),
        Bool("use_gate", False, "Multiply the heads' results by a sigmoid gate projected from the query."),
        NoneOnly("sliding_window", None, "Keras's banded mask (netbuilder: None only).", why="a mask"),
        OptionalSeed("seed", None, "Keras's seed for its dropout; netbuilder's training draws from the model seed."),
    )
    group = "Attention"
    description = "Each position of a query sequence attends to a key/value sequence with several heads (Transformers)."
    takes_list = True  # called on several tensors: call and backward see each (a call's tensors, not a list argument)
    separate_arguments = True  # its tensors are separate arguments, `mha(query, value)`: code writes the call as made
    call_argument = "query"
    keras_extra_config = {
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    }
    keras_config_order = (
        "name",
        "trainable",
        "dtype",
        "num_heads",
        "key_dim",
        "value_dim",
        "dropout",
        "use_bias",
        "use_gate",
        "output_shape",
        "attention_axes",
        "sliding_window",
        "kernel_initializer",
        "bias_initializer",
        "kernel_regularizer",
        "bias_regularizer",
        "activity_regularizer",
        "kernel_constraint",
        "bias_constraint",
        "seed",
    )
    # forward_train and backward of a step whatever the batch: some 40 NumPy calls (measured at batch 1: 170-230 µs)
    train_call_microseconds = 240

    def validate(self) -> None:
        ndim = 2 + len(self.output_sizes or (1,))  # the output kernel has the most axes: (heads, value_dim, *output)
        for rank in sorted({3, ndim}):
            if not self.kernel_initializer.fits_rank(rank):
                raise LayerConfigError(rank_refusal("kernel_initializer", self.kernel_initializer, rank))

    @property
    def output_sizes(self) -> tuple | None:
        """The output_shape setting (Layer.output_shape is the shape of the layer's first call, as in Keras)."""
        return self.values["output_shape"]

    @property
    def head_value_dim(self) -> int:
        return self.value_dim or self.key_dim

    @property
    def scale(self) -> float:
        """Keras's _inverse_sqrt_key_dim."""
        return 1.0 / math.sqrt(float(self.key_dim))

    # --- calls ----------------------------------------------------------------------------------
    def call_shape(self, args: tuple, kwargs: dict):
        """The shapes of query, value (and key, when given), in that order."""
        roles = call_roles(args, kwargs)
        return [roles[r].shape for r in ROLES if r in roles]

    def call_arguments(self, node, arrays: list) -> Operands:
        slots = call_slots(node.args, node.kwargs)
        given = dict(zip(slots, arrays))
        return Operands(given["query"], given["value"], given.get("key"), slots)

    # --- shapes ---------------------------------------------------------------------------------
    def input_problem(self, shapes, name: str) -> Problem | None:
        if not isinstance(shapes, list):
            return Problem(
                "a query and a value (the functional API)",
                f"Layer {name!r} (MultiHeadAttention) is called on a query and a value, such as "
                f"MultiHeadAttention(...)(x, x); in a chain it receives one tensor, {format_shape(shapes)}.",
                "Attention relates two sequences (or a sequence to itself): it needs a model whose layers can "
                "take more than the one before them (Keras's functional API).",
                _SEQUENTIAL,
            )
        return self.check_shape(shapes, name)

    def check_shape(self, shapes, name: str) -> Problem | None:
        where = dict(zip(ROLES, shapes))
        ranks = [r for r, s in where.items() if len(s) != 3]
        if ranks:
            given = ", ".join(f"{r} {format_shape(where[r])}" for r in where)
            return Problem(
                "query, value and key of 3 axes (batch, steps, features)",
                f"Layer {name!r} (MultiHeadAttention) takes (batch, steps, features) tensors; it received {given}.",
                "netbuilder computes attention over one steps axis: the query's positions attend to the value's. "
                "Reshape an image to (steps, features) first, e.g. Reshape((h * w, channels)).",
            )
        key = where.get("key", where["value"])
        if key[1] != where["value"][1]:
            return Problem(
                "a key with as many steps as the value",
                f"Layer {name!r} (MultiHeadAttention) pairs each key step with a value step, but the value "
                f"{format_shape(where['value'])} and the key {format_shape(key)} have different steps.",
                "Attention weighs the value at each step by how well the query matches the key at that step, "
                "so the key and the value need the same steps (their features may differ).",
                "All dimensions of `value` and `key`, except the last one, must be equal. Received: "
                f"value_shape={format_shape(where['value'])} and key_shape={format_shape(key)}",
            )
        if self.attention_axes is not None and _resolved(self.attention_axes) != (1,):
            return Problem(
                "attention_axes None (the steps axis)",
                f"Layer {name!r} (MultiHeadAttention) has attention_axes={self.attention_axes}; netbuilder "
                "computes attention over the steps axis only (None, 1 or -2).",
                "The projected query is (batch, steps, heads, size): attention runs over its steps axis, which "
                "Keras counts as 1 (a negative axis a as 3 + a).",
            )
        if self.built_shape is not None and isinstance(self.built_shape, list):
            built = dict(zip(ROLES, self.built_shape))
            for role in ROLES:
                want, got = built.get(role, built["value"])[-1], where.get(role, where["value"])[-1]
                if want != got:
                    return Problem(
                        f"a {role} with {want:,} features",
                        f"Layer {name!r} (MultiHeadAttention) was built for a {role} of {want:,} features, but "
                        f"this call's {role} has {got:,}.",
                        f"Its {role} projection's kernel has {want:,} rows, one per feature: every call of a "
                        "shared layer needs the sizes it was built for.",
                    )
        return None

    def compute_output_shape(self, shapes):
        query = shapes[0]
        return (*query[:-1], *(self.output_sizes or (query[-1],)))

    # --- weights --------------------------------------------------------------------------------
    def _dims(self, shapes) -> tuple[int, int, int]:
        """The features of query, value and key."""
        value = shapes[1][-1]
        return shapes[0][-1], value, shapes[2][-1] if len(shapes) > 2 else value

    def weight_specs(self, shapes) -> list[WeightSpec]:
        query, value, key = self._dims(shapes)
        n, h, hv = self.num_heads, self.key_dim, self.head_value_dim
        out = self.output_sizes or (query,)
        parts = [
            ("query", query, h),
            ("key", key, h),
            *([("gate", query, hv)] if self.use_gate else []),
            ("value", value, hv),
        ]
        specs = []
        for name, features, size in parts:
            kernel = EinsumKernel(self.kernel_initializer, (features, n * size))
            specs.append(WeightSpec(f"{name}/kernel", (features, n, size), kernel))
            if self.use_bias:
                specs.append(WeightSpec(f"{name}/bias", (n, size), self.bias_initializer))
        specs.append(
            WeightSpec(
                "attention_output/kernel",
                (n, hv, *out),
                EinsumKernel(self.kernel_initializer, (n * hv, math.prod(out))),
            )
        )
        if self.use_bias:
            specs.append(WeightSpec("attention_output/bias", tuple(out), self.bias_initializer))
        return specs

    def formula(self, shapes) -> str:
        """`4×2×3 + 2×3 (query) + … + 2×3×4 + 4 (output) = 142`."""
        groups: dict[str, list[str]] = {}
        for spec in self.weight_specs(shapes):
            groups.setdefault(spec.name.split("/")[0], []).append("×".join(f"{d:,}" for d in spec.shape))
        terms = [f"{' + '.join(sizes)} ({name.replace('attention_', '')})" for name, sizes in groups.items()]
        return f"{' + '.join(terms)} = {sum(self.count_params_for(shapes)):,}"

    def cost(self, shapes, output_shape) -> Cost:
        (_, t, dq), (_, s, dv) = shapes[0], shapes[1]
        dk = shapes[2][-1] if len(shapes) > 2 else dv
        n, h, hv, p = self.num_heads, self.key_dim, self.head_value_dim, math.prod(output_shape[2:])
        q, k, v, scores, heads = t * n * h, s * n * h, s * n * hv, n * t * s, t * n * hv
        gate = heads if self.use_gate else 0
        mult_adds = t * dq * n * h + s * dk * n * h + s * dv * n * hv + scores * (h + hv) + heads * p + gate * dq
        bias = (q + k + v + gate + t * p) if self.use_bias else 0
        elementwise = bias + scores * (1 + _SOFTMAX_OPS) + 4 * gate
        # call's peak (v counted early: a bound for the dropout path's scaled copy of q): the gate, q, k and v with the
        # scores and their max and sum; then v, the probabilities and the heads; then the heads times the gate
        scratch = max(q + k + v + gate + scores + 2 * n * t, v + gate + scores + heads, 3 * gate)
        dropped = 2 * scores + -(-scores // 4) if self.dropout else 0  # the dropped probabilities and their mask
        kept = q + k + v + scores + dropped + heads + 2 * gate
        inputs = t * dq + s * dv + (s * dk if len(shapes) > 2 else 0)
        return Cost(
            mult_adds=mult_adds,
            elementwise=elementwise,
            scratch=scratch,
            large_at=scores,
            overhead=45 * MICROSECOND,
            train_kept=kept,  # call: some 12 NumPy calls (measured 35-44 µs)
            train_scratch=3 * scores + 3 * heads + q + k + v + gate + inputs,
            train_elementwise=scores * 6 + 6 * gate,
        )

    # --- numbers --------------------------------------------------------------------------------
    def _weights_by_name(self) -> dict:
        return {spec.name: w for spec, w in zip(self.weight_specs(self.built_shape), self._weights)}

    def _project(self, x: np.ndarray, weights: dict, name: str) -> np.ndarray:
        """An EinsumDense projection as Keras computes it: np.einsum, then the bias added."""
        y = np.einsum(_PROJECT, x, weights[f"{name}/kernel"])
        if self.use_bias:
            np.add(y, weights[f"{name}/bias"], out=y)  # in place: the bits of `y + bias`
        return y

    def _output(self, heads: np.ndarray, weights: dict) -> np.ndarray:
        kernel = weights["attention_output/kernel"]
        y = np.einsum(_proj_equation(2, kernel.ndim - 2), heads, kernel)
        if self.use_bias:
            np.add(y, weights["attention_output/bias"], out=y)
        return y

    def _scores(self, q: np.ndarray, k: np.ndarray) -> np.ndarray:
        """The attention probabilities (batch, heads, query steps, key steps), by the path Keras takes: with dropout its
        own (the query scaled first), else ops.dot_product_attention (the product scaled)."""
        if self.dropout > 0:
            q = q * np.asarray(self.scale, q.dtype)
            return _softmax_in_place(np.einsum("aecd,abcd->acbe", k, q))
        logits = np.einsum("BTNH,BSNH->BNTS", q, k)
        logits *= np.array(self.scale, dtype=logits.dtype)
        return _softmax_in_place(logits)

    def _heads(self, probs: np.ndarray, v: np.ndarray) -> np.ndarray:
        if self.dropout > 0:
            return np.einsum("acbe,aecd->abcd", probs, v)
        return np.einsum("BNTS,BSNH->BTNH", probs, v)

    def call(self, x: Operands) -> np.ndarray:
        weights = self._weights_by_name()
        key = x.value if x.key is None else x.key
        gate = _GATE_SIGMOID(self._project(x.query, weights, "gate")) if self.use_gate else None
        probs = self._scores(self._project(x.query, weights, "query"), self._project(key, weights, "key"))
        heads = self._heads(probs, self._project(x.value, weights, "value"))
        del probs
        if gate is not None:
            heads = heads * gate
        return self._output(heads, weights)

    # --- training -------------------------------------------------------------------------------
    def forward_train(self, x: Operands, rng):
        weights = self._weights_by_name()
        key = x.value if x.key is None else x.key
        q, k = self._project(x.query, weights, "query"), self._project(key, weights, "key")
        v = self._project(x.value, weights, "value")
        probs = self._scores(q, k)
        mask, keep, used = None, 1.0 - self.dropout, probs
        if self.dropout > 0:  # as the Dropout kind: kept where uniform < 1 − rate, divided by 1 − rate
            mask = rng.uniform(size=probs.shape) < keep
            used = np.where(mask, probs / keep, 0).astype(probs.dtype) if keep > 0 else np.zeros_like(probs)
        heads = self._heads(used, v)
        gate = _GATE_SIGMOID(self._project(x.query, weights, "gate")) if self.use_gate else None
        y = self._output(heads if gate is None else heads * gate, weights)
        return y, (x, q, k, v, probs, used, mask, keep, heads, gate)

    def backward(self, cache, dy):
        x, q, k, v, probs, used, mask, keep, heads, gate = cache
        weights = self._weights_by_name()
        key = x.value if x.key is None else x.key
        kernel = weights["attention_output/kernel"]
        out_axes = kernel.ndim - 2
        mixed = heads if gate is None else heads * gate
        grads = {
            "attention_output/kernel": np.tensordot(mixed, dy, axes=([0, 1], [0, 1])),
            "attention_output/bias": dy.sum(axis=(0, 1)),
        }
        dmixed = np.tensordot(dy, kernel, axes=(list(range(2, 2 + out_axes)), list(range(2, 2 + out_axes))))
        dquery = 0
        if gate is not None:
            dgate = dmixed * heads * gate * (1 - gate)
            dquery, grads["gate/kernel"], grads["gate/bias"] = _project_back(x.query, weights["gate/kernel"], dgate)
            dmixed = dmixed * gate
        dused = np.einsum("btnh,bsnh->bnts", dmixed, v)
        dv = np.einsum("bnts,btnh->bsnh", used, dmixed)
        if mask is not None:
            dused = np.where(mask, dused / keep, 0) if keep > 0 else np.zeros_like(dused)
        dlogits = probs * (dused - np.sum(dused * probs, axis=-1, keepdims=True)) * self.scale
        dq = np.einsum("bnts,bsnh->btnh", dlogits, k)
        dk = np.einsum("bnts,btnh->bsnh", dlogits, q)
        dq_in, grads["query/kernel"], grads["query/bias"] = _project_back(x.query, weights["query/kernel"], dq)
        dk_in, grads["key/kernel"], grads["key/bias"] = _project_back(key, weights["key/kernel"], dk)
        dv_in, grads["value/kernel"], grads["value/bias"] = _project_back(x.value, weights["value/kernel"], dv)
        inputs = {"query": dq_in + dquery, "value": dv_in if x.key is not None else dv_in + dk_in, "key": dk_in}
        specs = self.weight_specs(self.built_shape)
        return [inputs[slot] for slot in x.slots], [grads[spec.name] for spec in specs if spec.trainable]

    # --- description ----------------------------------------------------------------------------
    def get_config(self) -> dict:
        config = super().get_config()
        config["value_dim"] = self.head_value_dim  # Keras writes the size it uses
        if isinstance(self.built_shape, list):  # built: Keras writes the axes it resolved
            config["attention_axes"] = list(_resolved(self.attention_axes or (1,)))
        return config

    def keras_build_config(self, shapes) -> dict:
        """Keras's build_config: the shapes its build takes by name (query_shape, value_shape, key_shape when given)."""
        return {"shapes_dict": {f"{role}_shape": tuple(shape) for role, shape in zip(ROLES, shapes)}}

    def label(self) -> str:
        parts = [f"{self.num_heads} heads × {self.key_dim}"]
        if self.value_dim not in (None, self.key_dim):
            parts.append(f"values {self.value_dim}")
        if self.output_sizes:
            parts.append(f"out {', '.join(map(str, self.output_sizes))}")
        if self.dropout:
            parts.append(f"dropout {self.dropout:g}")
        if self.use_gate:
            parts.append("gated")
        return ", ".join(parts)

    def explain_shape(self, shapes, output_shape) -> str:
        query, value = shapes[0], shapes[1]
        n, h, hv = self.num_heads, self.key_dim, self.head_value_dim
        return (
            f"Each of the {n} heads projects the query {format_shape(query)} and the key to {h} numbers a step and the "
            f"value {format_shape(value)} to {hv}; every query step ({query[1]:,}) takes a softmax-weighted mix of the "
            f"{value[1]:,} value steps (weights from query·key / √{h}); the heads' {n}×{hv} numbers a step are "
            f"projected → {format_shape(output_shape)}."
        )

    def explain_steps(self, shapes, output_shape) -> list[tuple[str, tuple]]:
        """Head by head, as Keras's call computes them: the projections, the scores, the mix, the output."""
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        n, h, hv = self.num_heads, self.key_dim, self.head_value_dim
        steps = [
            (f"query, projected to {n} heads of {h}", (*query[:-1], n, h)),
            (f"key, projected to {n} heads of {h}", (*key[:-1], n, h)),
            (f"value, projected to {n} heads of {hv}", (*value[:-1], n, hv)),
            (
                f"scores: each head's query · key / √{h}, a softmax over the {value[1]:,} key steps",
                (query[0], n, *query[1:-1], *key[1:-1]),
            ),
            ("each query step's mix of the values, per head", (*query[:-1], n, hv)),
        ]
        if self.use_gate:
            steps.append(("the mix times a sigmoid gate of the query, per head", (*query[:-1], n, hv)))
        return [*steps, (f"the {n}×{hv} numbers a step, projected", output_shape)]

    def torch_code(self, shapes) -> list[CodePart]:
        query, value, key = self._dims(shapes)
        out = self.output_sizes or (query,)
        code = (
            f"KerasMultiHeadAttention({self.num_heads}, {self.key_dim}, {self.head_value_dim}, {query}, {value}, "
            f"{key}, {tuple(out)!r}, use_bias={self.use_bias}, use_gate={self.use_gate})"
        )
        weights = {
            spec.name.replace("attention_output", "output").replace("/", "_"): w
            for spec, w in zip(self.weight_specs(self.built_shape), self._weights)
        }
        return [CodePart(code, {"KerasMultiHeadAttention": _TORCH_MHA}, weights)]
