"""The layer kinds, one home each (a family of close kinds may share a module); importing this package
registers them all, in the order the Add-layer choice lists them within their groups."""

from . import (  # noqa: F401  (registration)
    dense,
    dropout,
    embedding,
    identity,
    layer_scale,
    convolution,
    depthwise,
    transpose,
    pooling,
    normalization,
    preprocessing,
    recurrent,
    flatten,
    reshaping,
    merging,
    attention,
    custom_scale,
    numpy_ops,
    activation,
    activation_layers,
)
