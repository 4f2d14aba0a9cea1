"""Identity: the input, unchanged (keras.applications writes it where a block does nothing)."""

from __future__ import annotations

from ..layer import CodePart, Cost, Layer, register
from ..shapes import format_shape


@register
class Identity(Layer):
    """Returns its input as it is: a placeholder where a model has nothing to do (Keras's Identity)."""

    train_call_microseconds = 1  # forward_train and backward of a step whatever the batch (measured at batch 1: 0.2 µs)

    settings = ()
    group = "Core"
    description = "Passes its input through unchanged: a placeholder where nothing is done."
    keeps_shape = True
    keeps_values = True  # its output is its input: indices stay indices
    builds_at_init = True  # Keras builds it when it is made: its JSON has no build_config

    def cost(self, shape, output_shape) -> Cost:
        return Cost(output_is_view=True, train_scratch=0)  # the input itself, forward and back

    def call(self, x):
        return x

    def forward_train(self, x, rng):
        return x, None

    def backward(self, cache, dy):
        return dy, []

    def explain_shape(self, shape, output_shape) -> str:
        return (
            f"Identity passes its input on as it is, in training and at inference: {format_shape(shape)} stays "
            f"{format_shape(output_shape)}."
        )

    def torch_code(self, shape) -> list[CodePart]:
        return [CodePart("nn.Identity()")]
