"""The merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate and Dot, each called on a list of
tensors (`Add()([a, b])`), and Keras's functional forms (`add([a, b])`).

Elementwise merges broadcast as Keras does: an input with fewer axes is first expanded at axis 1 (after the batch axis)
until the ranks match — not NumPy's alignment from the last axis, which would line a (batch, 3) up with the (4, 3) of
a (batch, 4, 3) — then sizes of 1 stretch; the inputs are combined one after another in list order, as Keras does (so
the bits are Keras's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import Fix
from ..layer import KINDS, CodePart, Cost, Layer, Problem, register
from ..settings import Axis, Bool, Setting, _is_int
from ..shapes import format_shape


def _broadcast(shapes: list) -> tuple | None:
    """Keras's elementwise output shape (per sample, right-aligned, 1 stretches), or None when two sizes clash."""
    out: list = []
    for shape in shapes:
        dims = list(shape[1:])
        if len(dims) > len(out):
            out = [1] * (len(dims) - len(out)) + out
        dims = [1] * (len(out) - len(dims)) + dims
        for k, (a, b) in enumerate(zip(out, dims)):
            if a != b and a != 1 and b != 1:
                return None
            out[k] = b if a == 1 else a
    return (None, *out)


def _aligned(xs: list) -> list:
    """Each input with Keras's axes of 1 added at axis 1 until it has as many axes as the one with most."""
    rank = max(x.ndim for x in xs)
    return [x if x.ndim == rank else x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]


def _unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """The gradient of a tensor of `shape` (as many axes as `grad`) that was broadcast to `grad`'s shape: summed over
    what was stretched."""
    stretched = tuple(k for k in range(1, len(shape)) if shape[k] == 1 and grad.shape[k] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad


def _projections(shape: tuple, target: tuple) -> list[tuple[str, dict]]:
    """Layers that could map `shape` onto `target` (same rank): a 1×1 Conv2D or Conv1D with the stride that shrank the
    main path, or a Dense where only the last axis differs (kind, settings)."""
    if len(shape) != len(target) or any(t is None for t in target[1:-1]) or not target[-1]:
        return []
    if len(shape) == 2 or shape[1:-1] == target[1:-1]:
        return [("Dense", {"units": target[-1]})]
    strides = tuple(max(1, a // b) for a, b in zip(shape[1:-1], target[1:-1]))
    kind = {3: "Conv1D", 4: "Conv2D"}.get(len(shape))
    return [(kind, {"filters": target[-1], "kernel_size": 1, "strides": strides})] if kind else []


def _call_text(kind: str, settings: dict) -> str:
    return f"{kind}({', '.join(f'{k}={v!r}' for k, v in settings.items())})"


def projection_fixes(merge: Layer, tensors: list, shapes: list, name: str, targets: list) -> list[Fix]:
    """For input k, a layer between it and the merge making its shape `targets[k]` (None: none), kept when the merge
    then fits."""
    fixes = []
    for k, (tensor, target) in enumerate(zip(tensors, targets)):
        for kind, settings in _projections(shapes[k], target) if target else []:
            projection = KINDS[kind](**settings)
            if projection.input_problem(shapes[k], "projection") is not None:
                continue
            out = projection.compute_output_shape(shapes[k])
            if merge.input_problem([out if j == k else s for j, s in enumerate(shapes)], name) is None:
                source = tensor.history.layer.name
                fixes.append(
                    Fix(
                        "project_input",
                        f"put {_call_text(kind, settings)} on input {k + 1} of {name!r}"
                        + (f" (from {source!r})" if source else "")
                        + f": {format_shape(shapes[k])} → {format_shape(out)}",
                        None,
                        (k, kind, settings),
                    )
                )
    return fixes


class _Merge(Layer):
    """What the elementwise merges share: a list of tensors, broadcast to one shape, combined pairwise in order."""

    takes_list = True
    group = "Merging"
    verb = "combine"
    least, most = 1, None  # how many inputs the kind takes

    def check_shape(self, shapes, name: str) -> Problem | None:
        count = len(shapes)
        if count < self.least or (self.most is not None and count > self.most):
            wanted = f"exactly {self.most}" if self.most == self.least else f"at least {self.least}"
            return Problem(
                f"{wanted} inputs",
                f"Layer {name!r} ({self.kind}) takes {wanted} inputs; it received {count}.",
                f"{self.kind} {self.verb}s "
                f"{'two tensors, the first minus the second' if self.most == 2 else 'tensors'}.",
                f"A `{self.kind}` layer should be called on exactly {self.most} inputs. "
                f"Received: input_shape={list(shapes)}"
                if self.most == 2
                else "",
            )
        for k in range(1, count):
            if _broadcast(shapes[: k + 1]) is None:
                first, second = _broadcast(shapes[:k]), shapes[k]
                return Problem(
                    "shapes that are equal, axis by axis from the last, or 1 where they differ",
                    f"Layer {name!r} ({self.kind}) cannot {self.verb} {format_shape(first)} and "
                    f"{format_shape(second)}: {_clash(first, second)}.",
                    f"{self.kind} works value by value, so the shapes must match axis by axis, counted from the last; "
                    "an axis of size 1 is stretched to the other's size (broadcasting). In a residual block this "
                    "usually means the shortcut needs a projection (a 1×1 Conv2D or a Dense to the main path's size).",
                    f"Inputs have incompatible shapes. Received shapes {tuple(first[1:])} and {tuple(second[1:])}",
                )
        return None

    def call_fixes(self, tensors, shapes, name) -> list[Fix]:
        """Project an input onto the shape of the others (a shortcut that skipped a stride or a change of width)."""
        targets = [_broadcast([s for j, s in enumerate(shapes) if j != k]) for k in range(len(shapes))]
        return projection_fixes(self, tensors, shapes, name, targets)

    def compute_output_shape(self, shapes):
        return _broadcast(shapes)

    def cost(self, shapes, output_shape) -> Cost:
        out = math.prod(output_shape[1:])
        # each input after the first: one operation on the output's size (the first makes a new array, the rest in
        # place)
        return Cost(elementwise=max(1, len(shapes) - 1) * out + self.extra_ops * out)

    extra_ops = 0

    def call(self, xs):
        xs = _aligned(xs)
        out = self.combine(xs[0], xs[1]) if len(xs) > 1 else xs[0]
        for x in xs[2:]:
            out = self.combine(out, x)
        return out

    def combine(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward_train(self, xs, rng):
        return self.call(xs), xs

    def backward(self, xs, dy):
        grads = self.combine_backward(_aligned(xs), dy)
        return [g.reshape(x.shape) for g, x in zip(grads, xs)], []

    def combine_backward(self, xs: list, dy: np.ndarray) -> list:
        """The inputs' gradients, given the inputs with as many axes as the output."""
        raise NotImplementedError

    def label(self) -> str:
        return ""

    def explain_shape(self, shapes, output_shape) -> str:
        given = " and ".join(format_shape(s) for s in shapes)
        same = all(tuple(s) == tuple(output_shape) for s in shapes)
        how = (
            "equal shapes, value by value" if same else "shapes broadcast (an axis of size 1 stretched to the other's)"
        )
        return f"{self.kind} needs {how}: {given} → {format_shape(output_shape)}."

    def keras_code(self) -> CodePart:
        return CodePart(f"keras.layers.{self.kind}(name={self.name!r})")

    def torch_code(self, shapes) -> list[CodePart]:
        """A merge in PyTorch: one expression over its inputs, written `{0}`, `{1}`, … (a merge holds no module: the
        functional export writes it in `forward`, its inputs' names filled in with str.format), combining them in list
        order as Keras does, an input of fewer axes expanded after the batch axis as Keras expands it (Add's sum here;
        each kind writes its own)."""
        return [CodePart(" + ".join(_torch_terms(shapes)))]


@register
class Add(_Merge):
    """The sum of its inputs, value by value: a residual connection's `x + f(x)`."""

    description = (
        "Adds tensors value by value: [(None, 28, 28, 64), (None, 28, 28, 64)] → (None, 28, 28, 64); a skip connection."
    )
    verb = "add"

    def combine(self, a, b):
        return np.add(a, b)

    def combine_backward(self, xs, dy):
        return [_unbroadcast(dy, x.shape) for x in xs]


@register
class Subtract(_Merge):
    """The first input minus the second."""

    description = "The first tensor minus the second, value by value (exactly two inputs)."
    verb = "subtract"
    least = most = 2

    def combine(self, a, b):
        return np.subtract(a, b)

    def torch_code(self, shapes):
        return [CodePart(" - ".join(_torch_terms(shapes)))]

    def combine_backward(self, xs, dy):
        return [_unbroadcast(dy, xs[0].shape), _unbroadcast(-dy, xs[1].shape)]


@register
class Multiply(_Merge):
    """The product of its inputs, value by value (a gate: x · sigmoid(g))."""

    description = (
        "Multiplies tensors value by value, e.g. a feature map by its channel attention (squeeze-and-excitation)."
    )
    verb = "multiply"

    def combine(self, a, b):
        return np.multiply(a, b)

    def torch_code(self, shapes):
        return [CodePart(" * ".join(_torch_terms(shapes)))]

    def combine_backward(self, xs, dy):
        grads = []
        for k in range(len(xs)):
            others = [x for j, x in enumerate(xs) if j != k]
            product = dy
            for x in others:
                product = product * x
            grads.append(_unbroadcast(product, xs[k].shape))
        return grads


@register
class Average(_Merge):
    """The mean of its inputs, value by value."""

    description = "The mean of tensors value by value: (a + b) / 2."
    verb = "average"
    extra_ops = 1

    def combine(self, a, b):
        return np.add(a, b)

    def call(self, xs):
        return super().call(xs) / np.float32(len(xs))

    def torch_code(self, shapes):
        return [CodePart(f"({' + '.join(_torch_terms(shapes))}) / {len(shapes)}")]

    def combine_backward(self, xs, dy):
        share = dy / np.float32(len(xs))
        return [_unbroadcast(share, x.shape) for x in xs]


class _Extreme(_Merge):
    """Maximum and Minimum: the gradient goes to the input that won, shared equally on a tie (as JAX's)."""

    def combine_backward(self, xs, dy):
        out = self.call(xs)
        wins = [np.broadcast_to(x, out.shape) == out for x in xs]
        count = np.sum(wins, axis=0, dtype=np.float32)
        return [
            _unbroadcast(np.where(w, dy / count, np.float32(0)).astype(np.float32), x.shape) for w, x in zip(wins, xs)
        ]


@register
class Maximum(_Extreme):
    """The largest of its inputs, value by value."""

    description = "The largest of tensors, value by value."
    verb = "take the maximum of"

    def combine(self, a, b):
        return np.maximum(a, b)

    def torch_code(self, shapes):
        return [CodePart(_nested("torch.maximum", _torch_terms(shapes)))]


@register
class Minimum(_Extreme):
    """The smallest of its inputs, value by value."""

    description = "The smallest of tensors, value by value."
    verb = "take the minimum of"

    def combine(self, a, b):
        return np.minimum(a, b)

    def torch_code(self, shapes):
        return [CodePart(_nested("torch.minimum", _torch_terms(shapes)))]


@register
class Concatenate(Layer):
    """Its inputs joined along one axis; every other axis must be equal."""

    takes_list = True
    keeps_values = True
    group = "Merging"
    settings = (Axis("axis", -1, "The axis to join along (−1: the last, the channels of an image)."),)
    description = (
        "Joins tensors along one axis: (None, 28, 28, 64) and (None, 28, 28, 32) on axis −1 → (None, 28, 28, 96)."
    )

    def check_shape(self, shapes, name: str) -> Problem | None:
        keras = (
            "A `Concatenate` layer requires inputs with matching shapes except for the concatenation axis. "
            f"Received: input_shape={[tuple(s) for s in shapes]}"
        )
        ranks = {len(s) for s in shapes}
        if len(ranks) > 1:
            return Problem(
                "inputs with the same number of axes",
                f"Layer {name!r} (Concatenate) cannot join {' and '.join(map(format_shape, shapes))}: they have "
                f"{' and '.join(str(len(s)) for s in shapes)} axes.",
                "Concatenate lays tensors side by side along one axis, so they need the same number of axes; a "
                "Reshape or Flatten can align them first.",
                keras,
            )
        rank = ranks.pop()
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            return Problem(
                f"an axis from 1 to {rank - 1}",
                f"Layer {name!r} (Concatenate) joins along axis {self.axis}, which its inputs "
                f"{' and '.join(map(format_shape, shapes))} do not have (the batch axis 0 cannot be joined).",
                f"Tensors of {rank} axes (the batch axis included) have axes 1 to {rank - 1} (or −1 to −{rank - 1}).",
                keras,
            )
        axis = self.axis % rank
        for k in range(1, rank):
            sizes = [s[k] for s in shapes]
            if k != axis and len(set(sizes)) > 1:
                return Problem(
                    f"equal sizes on every axis but {self.axis}",
                    f"Layer {name!r} (Concatenate) cannot join {' and '.join(map(format_shape, shapes))} on axis "
                    f"{self.axis}: axis {k - rank} has sizes {' and '.join(map(str, sizes))}.",
                    "Concatenate stacks the inputs along one axis; on every other axis they must line up exactly. "
                    f"The axis they differ on ({k - rank}) may be the one to join on: Concatenate(axis={k - rank}).",
                    keras,
                )
        return None

    def suggest_fixes(self, shapes, problem, context) -> list:
        if not isinstance(shapes, list):  # in a chain: nothing to join
            return []
        rank = len(shapes[0])
        differs = [k for k in range(1, rank) if len({s[k] for s in shapes}) > 1]
        if len({len(s) for s in shapes}) == 1 and len(differs) == 1:
            return [
                context.set_setting("axis", differs[0] - rank, description=f"concatenate on axis {differs[0] - rank}")
            ]
        return []

    def call_fixes(self, tensors, shapes, name) -> list[Fix]:
        """Join on the one axis where the inputs differ, or project an input onto the others' sizes but its own
        channels (the last axis), each tried."""
        if len({len(s) for s in shapes}) > 1:
            return []
        fixes = [
            Fix("set_setting", f"concatenate on axis {axis}", None, ("axis", axis))
            for axis in range(1 - len(shapes[0]), 0)
            if axis != self.axis and Concatenate(axis=axis).input_problem(shapes, name) is None
        ]
        targets = []
        for k, shape in enumerate(shapes):
            others = {s[1:-1] for j, s in enumerate(shapes) if j != k}
            targets.append(
                (None, *others.pop(), shape[-1]) if len(others) == 1 and self.axis in (-1, len(shape) - 1) else None
            )
        return fixes + projection_fixes(self, tensors, shapes, name, targets)

    def compute_output_shape(self, shapes):
        axis = self.axis % len(shapes[0])
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        return tuple(out)

    def cost(self, shapes, output_shape) -> Cost:
        return Cost(elementwise=math.prod(output_shape[1:]))

    def call(self, xs):
        return np.concatenate(xs, axis=self.axis)

    def forward_train(self, xs, rng):
        return self.call(xs), [x.shape[self.axis] for x in xs]

    def backward(self, sizes, dy):
        return list(np.split(dy, np.cumsum(sizes)[:-1], axis=self.axis)), []

    def torch_code(self, shapes) -> list[CodePart]:
        """torch.cat over Keras's axis: the tensors between calls keep Keras's layout (channels_last stays last)."""
        return [CodePart(f"torch.cat([{', '.join(f'{{{k}}}' for k in range(len(shapes)))}], dim={self.axis})")]

    def label(self) -> str:
        return f"axis {self.axis}"

    def explain_shape(self, shapes, output_shape) -> str:
        axis = self.axis % len(output_shape)
        sizes = " + ".join(f"{s[axis]:,}" for s in shapes)
        return (
            f"Concatenate lays its inputs side by side on axis {self.axis}: {sizes} = {output_shape[axis]:,}; every "
            f"other axis is equal: {' and '.join(map(format_shape, shapes))} → {format_shape(output_shape)}."
        )


@dataclass(frozen=True)
class DotAxes(Setting):
    """Dot's axes: one axis for both inputs, or one for each (negative ones count from the end)."""

    def check(self, value):
        pair = tuple(value) if isinstance(value, (list, tuple)) else None
        if _is_int(value):
            axes = (int(value),)
        elif pair is not None and len(pair) == 2 and all(_is_int(a) for a in pair):
            axes = tuple(int(a) for a in pair)
        else:
            self.fail(value, "an axis, or a pair of axes (one for each input), such as 1 or (1, 2)")
        if any(a == 0 or not -5 <= a <= 5 for a in axes):
            self.fail(value, "axes from -5 to 5 other than 0 (the batch axis cannot be summed over)")
        return axes[0] if len(axes) == 1 else axes

    def format_text(self, value) -> str:
        return str(value) if _is_int(value) else ", ".join(map(str, value))

    def parse_text(self, text: str):
        parts = [p.strip() for p in str(text).strip("()[] ").split(",") if p.strip()]
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            self.fail(text, "an axis, or two axes separated by a comma, such as 1 or 1, 2")
        return self.check(numbers[0] if len(numbers) == 1 else numbers)

    allowed = "an axis, or one per input: -5 to 5, not 0"


@register
class Dot(Layer):
    """The dot product of two tensors along one axis of each, sample by sample (Keras's batch_dot)."""

    takes_list = True
    group = "Merging"
    settings = (
        DotAxes("axes", -1, "The axis summed over: one for both inputs, or one for each.", required=True),
        Bool("normalize", False, "L2-normalise each input along its axis first: the output is then cosine similarity."),
    )
    description = (
        "Dot products of two tensors along an axis of each: (None, 4, 3) and (None, 4, 3) with axes=2 → (None, 4, 4)."
    )

    def _axes(self, shapes) -> tuple[int, int]:
        pair = (self.axes, self.axes) if _is_int(self.axes) else self.axes
        return tuple(a % len(s) if a < 0 else a for a, s in zip(pair, shapes))

    def check_shape(self, shapes, name: str) -> Problem | None:
        if len(shapes) != 2:
            return Problem(
                "exactly 2 inputs",
                f"Layer {name!r} (Dot) takes exactly 2 inputs; it received {len(shapes)}.",
                "Dot multiplies two tensors and sums along one axis of each.",
                f"A `Dot` layer should be called on a list of 2 inputs. Received: input_shape={list(shapes)}",
            )
        a, b = shapes
        if len(a) < 2 or len(b) < 2:
            return Problem(
                "inputs with an axis besides the batch",
                f"Layer {name!r} (Dot) cannot multiply "
                f"{format_shape(a)} and {format_shape(b)}: each needs an axis besides the batch.",
                "Dot sums over one axis of each input, sample by sample.",
                f"Cannot do batch_dot on inputs with rank < 2. Received inputs with shapes {a} and {b}.",
            )
        axes = self._axes(shapes)
        if any(not 0 < axis < len(s) for axis, s in zip(axes, shapes)):
            return Problem(
                "axes its inputs have",
                f"Layer {name!r} (Dot) sums over axes {self.axes}, which "
                f"{format_shape(a)} and {format_shape(b)} do not both have.",
                "Each input must have the axis Dot sums over (the batch axis 0 excepted).",
                "",
            )
        if a[axes[0]] != b[axes[1]]:
            return Problem(
                f"equal sizes on axes {axes[0]} and {axes[1]}",
                f"Layer {name!r} (Dot) cannot multiply {format_shape(a)} and {format_shape(b)}: axis {axes[0]} of the "
                f"first has {a[axes[0]]} values and axis {axes[1]} of the second {b[axes[1]]}.",
                "A dot product pairs each value of one axis with a value of the other, so both axes need the same "
                "size.",
                f"Incompatible input shapes: axis values {a[axes[0]]} (at axis {axes[0]}) != {b[axes[1]]} (at axis "
                f"{axes[1]}). Full input shapes: {a}, {b}",
            )
        return None

    def compute_output_shape(self, shapes):
        a, b = (list(s) for s in shapes)
        axes = self._axes(shapes)
        a.pop(axes[0])
        b.pop(axes[1])
        out = a + b[1:]
        return tuple(out if len(out) > 1 else out + [1])

    def cost(self, shapes, output_shape) -> Cost:
        a, b = shapes
        axes = self._axes(shapes)
        inputs = math.prod(a[1:]) + math.prod(b[1:])
        norm = 4 * inputs if self.normalize else 0
        # the transposed (and, past rank 3, reshaped) copies of both inputs live beside the product
        return Cost(
            mult_adds=math.prod(output_shape[1:]) * a[axes[0]],
            elementwise=norm,
            scratch=inputs * (2 if self.normalize else 1),
        )

    def _prepared(self, xs):
        axes = self._axes([x.shape for x in xs])
        if self.normalize:
            xs = [x / np.expand_dims(_norm(x, axis), axis) for x, axis in zip(xs, axes)]
        return xs, axes

    def call(self, xs):
        (x, y), axes = self._prepared(xs)
        return _batch_dot(x, y, axes)

    def forward_train(self, xs, rng):
        return self.call(xs), xs

    def backward(self, xs, dy):
        (x, y), (a0, a1) = self._prepared(xs)
        # contract the output's gradient with the other input over the axes each kept
        dx, dyy = _batch_dot_grads(x, y, (a0, a1), dy.reshape(_batch_dot_shape(x.shape, y.shape, (a0, a1))))
        if self.normalize:
            dx, dyy = (_normalize_grad(raw, grad, axis) for raw, grad, axis in zip(xs, (dx, dyy), (a0, a1)))
        return [dx, dyy], []

    def label(self) -> str:
        return f"axes {self.axes}" + (", normalize" if self.normalize else "")

    def explain_shape(self, shapes, output_shape) -> str:
        a0, a1 = self._axes(shapes)
        return (
            f"Dot multiplies axis {a0} of {format_shape(shapes[0])} by axis {a1} of {format_shape(shapes[1])} "
            f"({shapes[0][a0]:,} pairs summed) for each sample; what remains of both is kept: → "
            f"{format_shape(output_shape)}."
        )

    def keras_code(self) -> CodePart:
        extra = ", normalize=True" if self.normalize else ""
        return CodePart(f"keras.layers.Dot(axes={self.axes!r}{extra}, name={self.name!r})")

    def torch_code(self, shapes) -> list[CodePart]:
        """keras_dot (a helper of the script) over the axes resolved as Keras resolves them for these shapes."""
        a0, a1 = self._axes(shapes)
        extra = ", normalize=True" if self.normalize else ""
        return [CodePart(f"keras_dot({{0}}, {{1}}, axes=({a0}, {a1}){extra})", {"keras_dot": _TORCH_DOT})]


def _norm(x: np.ndarray, axis: int) -> np.ndarray:
    """Keras's normalize on NumPy arrays: the L2 norm along `axis`, with 1 where it is 0."""
    norm = np.atleast_1d(np.linalg.norm(x, 2, axis))
    norm[norm == 0] = 1
    return norm


def _normalize_grad(x: np.ndarray, grad: np.ndarray, axis: int) -> np.ndarray:
    """∂/∂x of x / |x| (along `axis`) applied to `grad` (a zero vector passes the gradient through unscaled)."""
    n = np.expand_dims(_norm(x, axis), axis)
    u = x / n
    return ((grad - u * np.sum(grad * u, axis=axis, keepdims=True)) / n).astype(np.float32)


def _batch_dot_shape(xs: tuple, ys: tuple, axes) -> tuple:
    """The shape of batch_dot's result before its rank-2 squeezes: x's kept axes, then y's."""
    x, y = list(xs), list(ys)
    x.pop(axes[0])
    y.pop(axes[1])
    return tuple(x + y[1:])


def _batch_dot(x: np.ndarray, y: np.ndarray, axes) -> np.ndarray:
    """Keras's batch_dot, step for step (the same expansions, transposes, reshapes and matmul, so the same bits)."""
    a0, a1 = axes
    x_rank, y_rank = x.ndim, y.ndim
    if x_rank == 2:
        x, a0 = np.expand_dims(x, 1), a0 + 1
    if y_rank == 2:
        y = np.expand_dims(y, 2)
    if a0 != x.ndim - 1:
        x = np.moveaxis(x, a0, -1)
    if a1 != 1:
        y = np.moveaxis(y, a1, 1)
    middle, trailing = x.shape[1:-1], y.shape[2:]
    if x.ndim > 3:
        x = x.reshape(x.shape[0], -1, x.shape[-1])
    if y.ndim > 3:
        y = y.reshape(y.shape[0], y.shape[1], -1)
    out = np.matmul(x, y)
    if len(middle) > 1 or len(trailing) > 1:
        out = out.reshape(out.shape[0], *middle, *trailing)
    if x_rank == 2:
        return np.squeeze(out, 1)
    return np.squeeze(out, -1) if y_rank == 2 else out


def _batch_dot_grads(x: np.ndarray, y: np.ndarray, axes, dz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(∂/∂x, ∂/∂y) of batch_dot(x, y) for the result's gradient `dz` (shaped x's kept axes, then y's)."""
    a0, a1 = axes
    xm, ym = np.moveaxis(x, a0, -1), np.moveaxis(y, a1, 1)  # (b, *xk, n), (b, n, *yk)
    xk, yk = xm.shape[1:-1], ym.shape[2:]
    dz = dz.reshape(dz.shape[0], math.prod(xk), math.prod(yk))
    x2, y2 = xm.reshape(xm.shape[0], -1, xm.shape[-1]), ym.reshape(ym.shape[0], ym.shape[1], -1)
    dx = np.matmul(dz, np.swapaxes(y2, 1, 2)).reshape(xm.shape)
    dy = np.matmul(np.swapaxes(x2, 1, 2), dz).reshape(ym.shape)
    return np.moveaxis(dx, -1, a0).astype(np.float32), np.moveaxis(dy, 1, a1).astype(np.float32)


def _clash(first: tuple, second: tuple) -> str:
    """Where two shapes do not broadcast, counted from the last axis as broadcasting counts."""
    for k in range(1, min(len(first), len(second))):
        a, b = first[-k], second[-k]
        if a != b and a != 1 and b != 1:
            return f"axis {-k} has {a} and {b}"
    return "their sizes differ"


# --- torch code: the merges as expressions in the exported forward ---------------------------------------------------
def _torch_terms(shapes) -> list[str]:
    """`{k}` for each input, with `[:, None, …]` where it has fewer axes than the widest (Keras's expand_dims at axis 1
    until the ranks match; torch's broadcasting would align the batch axis with another)."""
    rank = max(len(s) for s in shapes)
    return [
        f"{{{k}}}" + (f"[:, {', '.join(['None'] * (rank - len(s)))}]" if len(s) < rank else "")
        for k, s in enumerate(shapes)
    ]


def _nested(function: str, terms: list[str]) -> str:
    """`f(f(a, b), c)`: Keras's pairwise order."""
    out = terms[0]
    for term in terms[1:]:
        out = f"{function}({out}, {term})"
    return out


_TORCH_DOT = '''def keras_dot(x, y, axes, normalize=False):
    """keras.layers.Dot, sample by sample (Keras's batch_dot): axis axes[0] of x times axis axes[1] of y, summed; what
    remains of x, then of y, is kept ((batch, 1) when nothing remains). With normalize, each input is first divided by
    its L2 norm along that axis, a norm of 0 taken as 1 (as Keras's NumPy backend computes it)."""
    a, b = axes
    if normalize:
        x = x / _nonzero(torch.linalg.vector_norm(x, dim=a, keepdim=True))
        y = y / _nonzero(torch.linalg.vector_norm(y, dim=b, keepdim=True))
    x, y = torch.movedim(x, a, -1), torch.movedim(y, b, 1)  # (batch, *kept of x, n) and (batch, n, *kept of y)
    rows, cols = x.shape[1:-1].numel(), y.shape[2:].numel()
    out = torch.bmm(x.reshape(x.shape[0], rows, x.shape[-1]), y.reshape(y.shape[0], y.shape[1], cols))
    out = out.reshape(*x.shape[:-1], *y.shape[2:])
    return out if out.dim() > 1 else out.unsqueeze(1)


def _nonzero(norm):
    return torch.where(norm == 0, torch.ones_like(norm), norm)
'''


# --- Keras's functional forms ----------------------------------------------------------------------------------
def _functional(kind: type[Layer]):
    def merge(inputs, **kwargs):
        return kind(**kwargs)(inputs)

    merge.__name__ = kind.__name__.lower()
    merge.__doc__ = f"keras.layers.{merge.__name__}(inputs, **kwargs): {kind.__name__}(**kwargs)(inputs)."
    return merge


_FORMS = (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate)
add, subtract, multiply, average, maximum, minimum, concatenate = (_functional(k) for k in _FORMS)
FUNCTIONAL_FORMS = {k.__name__.lower(): k.__name__ for k in (*_FORMS, Dot)}  # keras.layers.add → Add, ..., dot → Dot


def dot(inputs, axes=-1, **kwargs):
    """keras.layers.dot(inputs, axes=-1, **kwargs): Dot(axes, **kwargs)(inputs)."""
    return Dot(axes, **kwargs)(inputs)
