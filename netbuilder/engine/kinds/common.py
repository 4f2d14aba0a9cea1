"""What several kinds share: activations applied after a layer, in the engine and as PyTorch code."""

from __future__ import annotations

from .. import activations
from ..layer import CodePart, Cost

# Keras activation name → torch module with Keras's parameters (string defaults: leaky_relu 0.2, elu/celu
# alpha 1, exact-erf gelu, shrink thresholds 0.5, softmax-like ones on the last axis). Numerically:
# torch's sigmoid, silu and softplus are overflow-safe where Keras's NumPy formulas are not, so they can
# differ by < 1e-9 far out in the tails (|x| > ~20), e.g. Keras's sigmoid(-100) is 0.0, torch's 3.7e-44.
_TORCH_MODULES = {
    "celu": "nn.CELU(alpha=1.0)",
    "elu": "nn.ELU(alpha=1.0)",
    "gelu": 'nn.GELU(approximate="none")',  # keras.activations.gelu is exact (erf) by default
    "glu": "nn.GLU(dim=-1)",  # first half × sigmoid(second half), as Keras
    "hard_shrink": "nn.Hardshrink(lambd=0.5)",
    "hard_sigmoid": "nn.Hardsigmoid()",  # relu6(x + 3) / 6 == Keras's clip(x / 6 + 0.5, 0, 1)
    "hard_silu": "nn.Hardswish()",
    "hard_tanh": "nn.Hardtanh(-1.0, 1.0)",
    "leaky_relu": "nn.LeakyReLU(negative_slope=0.2)",  # Keras's default slope, not torch's 0.01
    "linear": "nn.Identity()",
    "log_sigmoid": "nn.LogSigmoid()",
    "log_softmax": "nn.LogSoftmax(dim=-1)",
    "mish": "nn.Mish()",
    "relu": "nn.ReLU()",
    "relu6": "nn.ReLU6()",
    "selu": "nn.SELU()",  # same alpha and scale constants as Keras
    "sigmoid": "nn.Sigmoid()",
    "silu": "nn.SiLU()",
    "soft_shrink": "nn.Softshrink(lambd=0.5)",
    "softmax": "nn.Softmax(dim=-1)",
    "softplus": "nn.Softplus()",
    "softsign": "nn.Softsign()",
    "tanh": "nn.Tanh()",
    "tanh_shrink": "nn.Tanhshrink()",
}

# Activations torch has no module for: a function in the script, wrapped by KerasFunction.
_TORCH_FUNCTIONS = {
    "exponential": """def exponential(x):
    return torch.exp(x)
""",
    "sparse_plus": """def sparse_plus(x):
    return torch.where(x <= -1, torch.zeros_like(x), torch.where(x < 1, 0.25 * (x + 1) ** 2, x))
""",
    "sparse_sigmoid": """def sparse_sigmoid(x):
    return torch.where(x <= -1, torch.zeros_like(x), torch.where(x >= 1, torch.ones_like(x), 0.5 * (x + 1)))
""",
    "squareplus": """def squareplus(x, b=4.0):
    return (x + torch.sqrt(x * x + b)) / 2
""",
    "sparsemax": '''def sparsemax(x):
    """Keras's sparsemax on the last axis, computed in float64 as Keras's NumPy backend does."""
    z = x.double()
    ordered = torch.sort(z, dim=-1, descending=True).values
    cumsum = ordered.cumsum(dim=-1)
    r = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    support = ordered - (cumsum - 1) / r > 0
    k = support.sum(dim=-1, keepdim=True)
    tau = (torch.where(support, cumsum, torch.zeros_like(cumsum)).sum(dim=-1, keepdim=True) - 1) / k
    return torch.clamp(z - tau, min=0).to(x.dtype)
''',
}

# Small modules for what torch has no module for; a script includes only those it uses.
_TORCH_CLASSES = {
    "KerasFunction": '''class KerasFunction(nn.Module):
    """A Keras activation torch has no module for, applied as a plain function (on the last axis)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)

    def extra_repr(self):
        return self.fn.__name__
''',
}


def activation_step_cost(name: str, elements: int) -> Cost:
    """The cost of applying activation `name` to `elements` values of one sample (as a new tensor)."""
    cost = activations.COST[name]
    return Cost(
        elementwise=cost.ops * elements,
        scratch=int(cost.scratch * elements),
        scratch_large=int(cost.scratch_large * elements),
        large_at=elements,
        capped_scratch=int(cost.chunked * elements),
        scratch_cap=int(cost.chunked * activations.CHUNK),
    )


def torch_activation(name: str) -> CodePart:
    """The torch module computing Keras's activation `name` (canonical), with any helper it needs."""
    if name in _TORCH_FUNCTIONS:
        return CodePart(
            f"KerasFunction({name})", {"KerasFunction": _TORCH_CLASSES["KerasFunction"], name: _TORCH_FUNCTIONS[name]}
        )
    return CodePart(_TORCH_MODULES[name])


# --- fixes shared by the kinds that read a sequence ------------------------------------------------------------------
def return_sequences_source(context) -> int | None:
    """Index of the recurrent layer without return_sequences whose last-step output (through layers that keep the
    shape) is the failing layer's 2-axis input, or None (any kind with a `return_sequences` setting counts)."""
    for j in range(context.index - 1, -1, -1):
        layer = context.layers[j]
        if "return_sequences" in layer.values:
            return None if layer.values["return_sequences"] else j
        if not layer.keeps_shape:
            return None
    return None


def return_sequences_fixes(shape, context) -> list:
    """For a layer that reads a sequence (steps, features) and received (batch, units) from a recurrent layer that
    passes on only its last step: "set return_sequences=True on it", the fix to offer first."""
    j = return_sequences_source(context) if len(shape) == 2 else None
    if j is None:
        return []
    return [
        context.set_setting(
            "return_sequences",
            True,
            j,
            f"set return_sequences=True on {context.names[j]}, so it passes on every step's output, not only the last",
        )
    ]
