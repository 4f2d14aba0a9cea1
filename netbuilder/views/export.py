"""Carry a model elsewhere with its current weights: a Keras 3 script, a PyTorch script, Keras JSON (DOT: graph.py).

The scripts are generated text; every user-influenced string in them is a Python literal made by
repr() (names may only appear inside literals or after `#` as a repr), and every number is an
int or a float32-exact float literal. Nothing generated here is ever executed by netbuilder.
Each layer kind says how it is written (`keras_code`, `torch_code`); this module assembles them.
The size of a script is known from the parameter count before it is written (the export budget),
and writing calls `checkpoint` between weight arrays, so a caller can stop a long export.

A Sequential is written as a Sequential (keras.Sequential, nn.Sequential). A Functional model (any graph) is written
call by call in the order `model.graph.nodes` runs them: `keras.Input`s, one line per call (a shared layer made once
and called at each of its calls), `keras.Model(inputs, outputs)` in the structures the model was given; in PyTorch an
nn.Module with one module per layer (a shared layer's parameters shared) and a `forward` of one line per call, the
merges as torch expressions (their kinds' torch_code). Tensors between calls keep Keras's layout in both (channels_last
images stay channels_last: a kind's torch modules move axes around their own computation, as in the Sequential export).
"""

from __future__ import annotations

import builtins
import json
import keyword
import re
from collections.abc import Callable

import numpy as np

from ..engine.budget import current, over, readable_bytes
from ..engine.errors import LayerConfigError, LimitError
from ..engine.model import Functional
from ..engine.shapes import format_batch_shape
from ..studio.models import built
from ..studio.spec import ModelSpec

CHARS_PER_WEIGHT = 16  # at most: a float32's shortest literal (≤ 15 characters, `-1.2345678e-05`) and ", "
_HEADER_CHARS = 20_000  # code besides the weights, generously
TOKEN_STEP = 1 << 15  # values converted to text per NumPy call (about 30 ms)


# --- numbers ----------------------------------------------------------------------------------
def _float_tokens(values: np.ndarray, checkpoint: Callable[[], None] | None = None) -> list[str]:
    """Python literals that give back each float32 of `values` exactly, via float64 then float32.

    In steps of TOKEN_STEP values: NumPy's text conversion holds the GIL, and other visitors' pages must not
    wait; `checkpoint` is called between steps."""
    flat = np.ascontiguousarray(values, dtype=np.float32).ravel()
    tokens: list[str] = []
    for start in range(0, flat.size, TOKEN_STEP):
        if checkpoint is not None:
            checkpoint()
        tokens += _tokens(flat[start : start + TOKEN_STEP])
    return tokens


def _tokens(flat: np.ndarray) -> list[str]:
    words = flat.astype(str)  # numpy's shortest float32 repr: 0.1, not 0.10000000149011612
    finite = np.isfinite(flat)
    with np.errstate(over="ignore"):
        back = np.where(finite, words, "0").astype(np.float64).astype(np.float32)
    tokens = words.tolist()
    # read as float64 first (as np.array and torch.tensor do), a shortest float32 repr can, rarely, round elsewhere
    for i in np.flatnonzero(~finite | (back.view(np.uint32) != np.where(finite, flat, 0).view(np.uint32))):
        tokens[i] = _exact_literal(float(flat[i]))
    return tokens


def _exact_literal(v: float) -> str:
    """A literal for one float, non-finite ones included."""
    if v != v:
        return 'float("nan")'
    if v in (float("inf"), float("-inf")):
        return 'float("inf")' if v > 0 else '-float("inf")'
    return repr(v)


def array_literal(values: np.ndarray, indent: str = "", checkpoint: Callable[[], None] | None = None) -> str:
    """A nested-list literal of a float32 array of any rank, one innermost row per line."""
    values = np.asarray(values, dtype=np.float32)
    tokens = _float_tokens(values, checkpoint)
    if values.ndim == 0:
        return tokens[0]
    if values.ndim == 1:
        return "[" + ", ".join(tokens) + "]"
    cols = values.shape[-1]
    rows = ["[" + ", ".join(tokens[r * cols : (r + 1) * cols]) + "]" for r in range(values.size // max(1, cols))]
    return _nest(rows, values.shape[:-1], indent + "    ")


def _nest(rows: list[str], shape: tuple, indent: str) -> str:
    if len(shape) == 1:
        return "[\n" + "".join(f"{indent}{row},\n" for row in rows) + f"{indent[:-4]}]"
    step = len(rows) // shape[0] if shape[0] else 0
    parts = [_nest(rows[k * step : (k + 1) * step], shape[1:], indent + "    ") for k in range(shape[0])]
    return "[\n" + "".join(f"{indent}{part},\n" for part in parts) + f"{indent[:-4]}]"


def check_export(model) -> None:
    """LimitError before writing when the script would exceed the current export budget."""
    params = model.count_params()
    estimate = params * CHARS_PER_WEIGHT + _HEADER_CHARS
    if over(estimate, bound := current().export_chars):
        limit = (bound - _HEADER_CHARS) // CHARS_PER_WEIGHT
        raise LimitError(
            f"code with this model's {params:,} weights would be about {readable_bytes(estimate)}; the export budget "
            f"is {readable_bytes(bound)} (about {limit:,} weights). Download the Keras JSON (the architecture "
            "without weights) instead, or use fewer units or layers"
        )


def _weight_lines(model, wrap: str, checkpoint) -> list[str]:
    """One `wrap.format(literal)` entry per weight array in get_weights order, each after a comment naming it."""
    lines = []
    for layer in model.layers:
        for spec, w in zip(layer.weight_specs(layer.built_shape) if layer.built_shape else (), layer.weights):
            lines.append(f"    # {layer.name!r} {spec.name} {tuple(w.shape)}\n")
            lines.append(f"    {wrap.format(array_literal(w, '    ', checkpoint))},\n")
    return lines


def _helpers(parts) -> str:
    seen: dict[str, str] = {}
    for part in parts:
        seen.update(part.helpers)
    return "".join(f"\n\n{code}" for code in seen.values())


# --- Keras ------------------------------------------------------------------------------------
def keras_code(model, checkpoint: Callable[[], None] | None = None) -> str:
    """A self-contained Keras 3 script that rebuilds a built Sequential or Functional model with its current weights as
    `model`."""
    if isinstance(model, Functional):
        return _functional_keras_code(model, checkpoint)
    if not model.layers:
        raise LayerConfigError(
            "Keras cannot run a Sequential model without layers (it fails when called); "
            "add a layer before exporting to Keras"
        )
    check_export(model)
    input_shape = tuple(model.input_shape[1:])
    parts = [layer.keras_code() for layer in model.layers]
    out = [
        "# Generated by netbuilder: this model in Keras 3, with its current weights.\n",
        "# Works with any Keras 3 backend (e.g. KERAS_BACKEND=numpy); needs numpy and keras.\n",
        "import numpy as np\n",
        "import keras\n",
        _helpers(parts),
        "\n\nmodel = keras.Sequential(\n",
        "    [\n",
        f"        keras.Input(shape={input_shape!r}),\n",
        *(f"        {part.code},\n" for part in parts),
        "    ],\n",
        f"    name={model.name!r},\n",
        ")\n",
        "\n# In model.get_weights() order: each layer's weights as Keras keeps them.\n",
        "weights = [\n",
        *_weight_lines(model, 'np.array({}, dtype="float32")', checkpoint),
        "]\n",
        "model.set_weights(weights)\n",
        '\nif __name__ == "__main__":\n',
        f'    x = np.random.default_rng(0).normal(size=(2, *{input_shape!r})).astype("float32")\n',
        "    print(model.predict(x, verbose=0))\n",
    ]
    return "".join(out)


# --- PyTorch ----------------------------------------------------------------------------------
def pytorch_code(model, checkpoint: Callable[[], None] | None = None) -> str:
    """A self-contained PyTorch script defining `model` that computes what the Keras model computes: an nn.Sequential
    for a Sequential, an nn.Module following the graph for a Functional model."""
    if isinstance(model, Functional):
        return _functional_pytorch_code(model, checkpoint)
    check_export(model)
    lines, loads, parts = [], [], []
    for layer, report in zip(model.layers, model.analysis.layers):
        for j, part in enumerate(layer.torch_code(report.input_shape)):
            note = f"  # {layer.name!r} ({layer.kind})" if j == 0 else ""
            for param, array in part.weights.items():
                literal = array_literal(array, "    ", checkpoint)
                loads.append(f"    model[{len(lines)}].{param}.copy_(torch.tensor({literal}, dtype=torch.float32))\n")
            lines.append(f"    {part.code},{note}\n")
            parts.append(part)
    input_shape = tuple(model.input_shape[1:])
    out = [
        "# Generated by netbuilder: this model in PyTorch, with its current weights, computing what Keras computes.\n",
        f"# Input: a float32 tensor of shape {format_batch_shape(input_shape)}.\n",
        "import torch\n",
        "from torch import nn\n",
        _helpers(parts),
        "\n\nmodel = nn.Sequential(\n",
        *lines,
        ")\n",
        "\n# The weights, in torch's layouts (a Dense kernel transposed, conv kernels as (out, in, ...)).\n",
        "with torch.no_grad():\n",
        *(loads or ["    pass\n"]),
        "model.eval()\n",
        '\nif __name__ == "__main__":\n',
        f"    x = torch.randn(2, *{input_shape!r}, generator=torch.Generator().manual_seed(0))\n",
        "    print(model(x))\n",
    ]
    return "".join(out)


# --- functional models ------------------------------------------------------------------------
# Names a script gives its own things (never a layer's): a layer name is used as a Python name only when it is a plain
# ASCII identifier none of these shadow, else `layer_<n>`.
_SCRIPT_NAMES = frozenset(
    {"np", "keras", "torch", "nn", "model", "weights", "x", "rng", "generator", "Model", "self"}
) | frozenset(dir(builtins))
# nn.Module's own attributes (torch 2.x), which a submodule must not be named (tests check the list against torch's)
TORCH_MODULE_NAMES = frozenset(
    {
        "T_destination",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    }
)
_TENSOR_NAME = re.compile(r"x\d+")


class _Names:
    """Python names for a script: each wanted name once, or `layer_<n>` when it cannot be one."""

    def __init__(self, reserved: frozenset):
        self.reserved, self.taken = reserved, set()

    def __call__(self, wanted: str) -> str:
        ok = (
            wanted.isascii()
            and wanted.isidentifier()
            and not keyword.iskeyword(wanted)
            and not wanted.startswith("_")
            and not wanted.startswith("register_")
            and not _TENSOR_NAME.fullmatch(wanted)
        )
        name, base, n = (wanted if ok else None), (wanted if ok else "layer"), 0
        while name is None or name in self.taken or name in self.reserved:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name


def _tensor_names(graph) -> dict[int, str]:
    """`x0`, `x1`, … for the inputs (in the model's inputs' order), then each call's output in the order calls run."""
    tensors = [*graph.inputs, *(node.outputs[0] for node in graph.nodes if not node.is_input)]
    return {id(t): f"x{k}" for k, t in enumerate(tensors)}


def _structure(structure, leaf: Callable) -> str:
    """A Python literal of a structure of tensors (one, a list, a tuple or a dict; nested as given), each tensor as
    `leaf(tensor)`; dict keys as repr() literals."""
    if isinstance(structure, dict):
        if not all(isinstance(key, str) for key in structure):
            raise LayerConfigError("a model's inputs and outputs given as a dict need text keys to be exported")
        return "{" + ", ".join(f"{key!r}: {_structure(value, leaf)}" for key, value in structure.items()) + "}"
    if isinstance(structure, list):
        return "[" + ", ".join(_structure(value, leaf) for value in structure) + "]"
    if isinstance(structure, tuple):
        return (
            "(" + ", ".join(_structure(value, leaf) for value in structure) + ("," if len(structure) == 1 else "") + ")"
        )
    return leaf(structure)


def _calls(model) -> list:
    return [node for node in model.graph.nodes if not node.is_input]


def _call_argument(node, names: dict) -> str:
    """What a call is given, as the engine runs it: a merge the list of its tensors, any other layer its one tensor, an
    operation (keras.ops) or a layer of separate arguments (attention) its arguments as they were given."""
    if not node.layer.is_layer or node.layer.separate_arguments:
        written = [names[id(a)] if id(a) in names else repr(a) for a in node.args]
        return ", ".join(
            [*written, *(f"{k}={names[id(v)] if id(v) in names else repr(v)}" for k, v in node.kwargs.items())]
        )
    tensors = [names[id(t)] for t in node.inputs]
    return f"[{', '.join(tensors)}]" if node.layer.takes_list else tensors[0]


def _functional_keras_code(model, checkpoint) -> str:
    check_export(model)
    graph = model.graph
    names = _tensor_names(graph)
    calls = _calls(model)
    codes = {id(node.layer): node.layer.keras_code() for node in calls}
    python_names = _Names(_SCRIPT_NAMES | frozenset(name for part in codes.values() for name in part.helpers))
    lines = ["# The inputs, each kept by its name.\n"]
    for t in graph.inputs:
        lines.append(f"{names[id(t)]} = keras.Input(shape={tuple(t.shape[1:])!r}, name={t.node.layer.name!r})\n")
    lines.append(
        "\n# One line per call, in an order that runs; a layer called more than once is made once, then called.\n"
    )
    shared: dict[int, str] = {}
    for node in calls:
        layer = node.layer
        code = codes[id(layer)].code
        if len(graph.calls(layer)) > 1:
            if id(layer) not in shared:
                shared[id(layer)] = python_names(layer.name)
                lines.append(f"{shared[id(layer)]} = {code}  # called {len(graph.calls(layer))} times\n")
            code = shared[id(layer)]
        lines.append(f"{names[id(node.outputs[0])]} = {code}({_call_argument(node, names)})\n")

    def tensor(t) -> str:
        return names[id(t)]

    def sample(t) -> str:
        return f'rng.normal(size=(2, *{tuple(t.shape[1:])!r})).astype("float32")'

    out = [
        "# Generated by netbuilder: this model in Keras 3, with its current weights.\n",
        "# Works with any Keras 3 backend (e.g. KERAS_BACKEND=numpy); needs numpy and keras.\n",
        "import numpy as np\n",
        "import keras\n",
        _helpers(codes.values()),
        "\n\n",
        *lines,
        "\nmodel = keras.Model(\n",
        f"    inputs={_structure(graph.input_structure, tensor)},\n",
        f"    outputs={_structure(graph.output_structure, tensor)},\n",
        f"    name={model.name!r},\n",
        ")\n",
        "\n# In model.get_weights() order: each layer's weights as Keras keeps them.\n",
        "weights = [\n",
        *_weight_lines(model, 'np.array({}, dtype="float32")', checkpoint),
        "]\n",
        "model.set_weights(weights)\n",
        '\nif __name__ == "__main__":\n',
        "    rng = np.random.default_rng(0)\n",
        f"    x = {_structure(graph.input_structure, sample)}\n",
        "    print(model.predict(x, verbose=0))\n",
    ]
    return "".join(out)


def _functional_pytorch_code(model, checkpoint) -> str:
    check_export(model)
    graph = model.graph
    names = _tensor_names(graph)
    attributes = _Names(TORCH_MODULE_NAMES)
    init, loads, forward, parts_seen = [], [], [], []
    modules: dict[int, dict[tuple, tuple[str, list]]] = {}  # layer → its torch code (as text) → (attribute, parts)
    for node in _calls(model):
        layer = node.layer
        parts = layer.torch_code(layer.call_shape(node.args, node.kwargs))
        parts_seen += parts
        out, given = names[id(node.outputs[0])], [names[id(t)] for t in node.inputs]
        if (
            layer.takes_list and not layer.separate_arguments
        ):  # a merge: one expression over its inputs, `{0}`, `{1}`, …
            (part,) = parts
            forward.append(f"        {out} = {part.code.format(*given)}  # {layer.name!r} ({layer.kind})\n")
            continue
        variants = modules.setdefault(id(layer), {})
        key = tuple(part.code for part in parts)
        if key not in variants:
            attribute = attributes(layer.name)
            init += _module_lines(attribute, parts, layer)
            if not variants:
                loads += _load_lines(attribute, parts, checkpoint)
            else:  # a shared layer whose torch modules differ at this call's shape: the same parameters, tied
                first, first_parts = next(iter(variants.values()))
                init += _tie_lines(attribute, parts, first, first_parts, layer)
            variants[key] = (attribute, parts)
        attribute = variants[key][0]
        note = "" if attribute == layer.name else f"  # {layer.name!r} ({layer.kind})"
        argument = _call_argument(node, names) if layer.separate_arguments else given[0]
        forward.append(f"        {out} = self.{attribute}({argument}){note}\n")
    inputs = graph.inputs
    unpack = f"        {', '.join(names[id(t)] for t in inputs)}{',' if len(inputs) == 1 else ''} = inputs\n"
    structure = graph.input_structure
    if isinstance(structure, dict) and all(not isinstance(v, (dict, list, tuple)) for v in structure.values()):
        keys = tuple(sorted(structure))  # the inputs' order: a dict's by its sorted keys, as Keras's (and ours)
        take = (
            "        if len(inputs) == 1 and isinstance(inputs[0], dict):  # model({key: tensor, ...})\n"
            f"            inputs = [inputs[0][key] for key in {keys!r}]\n"
        )
        demo_call = "model(" + _structure(structure, _torch_sample) + ")"
    elif isinstance(structure, (list, tuple)):
        take = (
            "        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):  # model([a, b]) as model(a, b)\n"
            "            inputs = inputs[0]\n"
        )
        demo_call = "model(" + ", ".join(_torch_sample(t) for t in inputs) + ")"
    else:
        take = ""
        demo_call = "model(" + ", ".join(_torch_sample(t) for t in inputs) + ")"
    returned = _structure(_one_unwrapped(graph.output_structure), lambda t: names[id(t)])
    ordered = ", ".join(f"{t.node.layer.name!r}" for t in inputs)
    out = [
        "# Generated by netbuilder: this model in PyTorch, with its current weights, computing what Keras computes.\n",
        f"# Inputs (in this order: {ordered}): float32 tensors of shapes "
        f"{', '.join(format_batch_shape(tuple(t.shape[1:])) for t in inputs)}.\n",
        "# Tensors keep Keras's layout between layers (channels_last images stay channels_last).\n",
        "import torch\n",
        "from torch import nn\n",
        _helpers(parts_seen),
        "\n\n",
        "class Model(nn.Module):\n",
        '    """The Keras functional model: one module per layer; forward, one line per call."""\n',
        "\n    def __init__(self):\n",
        "        super().__init__()\n",
        *(init or ["        pass\n"]),
        "\n    def forward(self, *inputs):\n",
        take,
        unpack,
        *forward,
        f"        return {returned}\n",
        "\n\n",
        f"model = Model()  # {model.name!r}\n",
        "\n# The weights, in torch's layouts (a Dense kernel transposed, conv kernels as (out, in, ...)).\n",
        "with torch.no_grad():\n",
        *(loads or ["    pass\n"]),
        "model.eval()\n",
        '\nif __name__ == "__main__":\n',
        "    generator = torch.Generator().manual_seed(0)\n",
        f"    print({demo_call})\n",
    ]
    return "".join(out)


def _torch_sample(t) -> str:
    return f"torch.randn(2, *{tuple(t.shape[1:])!r}, generator=generator)"


def _one_unwrapped(structure):
    """Keras's (and netbuilder's predict's) one-element list of outputs is the output itself."""
    return structure[0] if isinstance(structure, list) and len(structure) == 1 else structure


def _module_lines(attribute: str, parts: list, layer) -> list[str]:
    note = f"  # {layer.name!r} ({layer.kind})"
    if not parts:
        return [f"        self.{attribute} = nn.Identity(){note}\n"]
    if len(parts) == 1:
        return [f"        self.{attribute} = {parts[0].code}{note}\n"]
    return [
        f"        self.{attribute} = nn.Sequential({note}\n",
        *(f"            {part.code},\n" for part in parts),
        "        )\n",
    ]


def _parameter_paths(attribute: str, parts: list) -> list[tuple[str, str, np.ndarray]]:
    """(module path from the model, parameter, its array) of each weight of a layer's modules, in order."""
    path = (lambda j: attribute) if len(parts) == 1 else (lambda j: f"{attribute}[{j}]")
    return [(path(j), param, array) for j, part in enumerate(parts) for param, array in part.weights.items()]


def _load_lines(attribute: str, parts: list, checkpoint) -> list[str]:
    return [
        f"    model.{path}.{param}.copy_(torch.tensor({array_literal(array, '    ', checkpoint)}, "
        "dtype=torch.float32))\n"
        for path, param, array in _parameter_paths(attribute, parts)
    ]


def _tie_lines(attribute: str, parts: list, first: str, first_parts: list, layer) -> list[str]:
    mine, theirs = _parameter_paths(attribute, parts), _parameter_paths(first, first_parts)
    if [param for _, param, _ in mine] != [param for _, param, _ in theirs]:
        raise LayerConfigError(
            f"layer {layer.name!r} ({layer.kind}) is called on inputs its PyTorch code writes with "
            "different weights; it cannot be exported to PyTorch as one shared layer"
        )
    return [
        f"        self.{path}.{param} = self.{other}.{param}  # shared with self.{first}\n"
        for (path, param, _), (other, _, _) in zip(mine, theirs)
    ]


# --- other formats ----------------------------------------------------------------------------
def spec_text(spec: ModelSpec, name: str) -> str:
    """The file `name` (a key of MAKERS) of `spec`'s model with its weights: what a worker process writes for the
    Export page when the text is large."""
    return MAKERS[name](built(spec))


def keras_json(model) -> str:
    """The architecture as Keras 3 JSON (keras.models.model_from_json reads it; weights are not part of it)."""
    return json.dumps(json.loads(model.to_json()), indent=2)


MAKERS = {"Keras code": keras_code, "PyTorch code": pytorch_code}  # the code with weights, by the Export page's names
