"""Ready-made models a learner can load: the seed article's examples, broken ones to repair, graphs, the
keras.applications architectures the editor holds, and models to train."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..engine.shapes import format_shape
from .keras_import import spec_from_keras_json
from .spec import LayerSpec, ModelSpec, seed_spec
from .train import Settings

DATA = Path(__file__).with_name("data")
NO_PRETRAINED = "The weights are drawn from the seed as Keras initialises them: no pretrained (ImageNet) weights here."


@dataclass(frozen=True)
class Preset:
    """A model to load, the input to run it on, and what it teaches (and, to train it, its data and settings)."""

    title: str
    spec: ModelSpec
    input_text: str  # JSON nested list, batch axis first (what the app's input box holds)
    lesson: str  # one or two sentences for the learner
    broken: bool = False  # True: its analysis reports an issue, and the learner's job is to repair it
    training: Settings | None = None  # to train it: the data and settings that wait on the Train page


def _range_text(shape: tuple[int, ...]) -> str:
    """0, 1, 2, ... in `shape` as JSON: distinct values make every reordering visible."""
    return json.dumps(np.arange(int(np.prod(shape))).reshape(shape).tolist(), separators=(", ", ": "))


def _dense(i: int, units: int, **kw) -> LayerSpec:
    return LayerSpec.make(i, "Dense", units=units, **kw)


def _relu(i: int) -> LayerSpec:
    return LayerSpec.make(i, "Activation", activation="relu")


def _flatten(i: int, **kw) -> LayerSpec:
    return LayerSpec.make(i, "Flatten", **kw)


def _spec(input_shape, *layers) -> ModelSpec:
    """A spec from (kind, settings) pairs, ids 0, 1, ..."""
    return ModelSpec(
        tuple(input_shape), tuple(LayerSpec.make(i, kind, **settings) for i, (kind, settings) in enumerate(layers))
    )


def _graph(input_shape, *layers, more_inputs=()) -> ModelSpec:
    """A graph from (kind, settings, inputs) triples, ids 0, 1, ...; inputs are ids (-1 - k: input k), None: the one
    before."""
    return ModelSpec(
        tuple(input_shape),
        tuple(LayerSpec.make(i, kind, inputs=inputs, **settings) for i, (kind, settings, inputs) in enumerate(layers)),
        more_inputs=more_inputs,
    ).validate()


def _conv(filters: int, kernel: int, **kw) -> dict:
    return {"filters": filters, "kernel_size": kernel, "padding": "same", **kw}


def application_json(name: str) -> str:
    """`keras.applications.<name>(weights=None).to_json()` as Keras 3.15.1 wrote it, at its published input
    (studio/data/applications; tests/data/applications/make.py records them)."""
    return gzip.decompress((DATA / "applications" / f"{name}.json.gz").read_bytes()).decode()


def _application(name: str, size: int) -> ModelSpec:
    """A keras.applications architecture at a size×size×3 input."""
    return spec_from_keras_json(application_json(name)).with_input_shape((size, size, 3))


ARTICLE_INPUT = "[[[1, 2], [3, 4], [5, 6]]]"  # the seed article's x, one (3, 2) sample

# in the menu's order: lessons, puzzles to repair, real models, models to train
PRESETS: dict[str, Preset] = {
    "flatten-after-dense": Preset(
        "Flatten after Dense",
        seed_spec(),
        ARTICLE_INPUT,
        "Dense(16) reads only the last axis, so it maps each of the 3 rows (2 values) to 16 with one "
        "2×16 kernel: (None, 3, 16), 48 weights. Flatten then joins the rows into 48 values for Dense(4): (None, 4).",
    ),
    "without-flatten": Preset(
        "Without Flatten",
        ModelSpec((3, 2), (_dense(0, 16), _relu(1), _dense(2, 4))),
        ARTICLE_INPUT,
        "Without Flatten every Dense keeps the 3 rows apart: the output is (None, 3, 4), one 4-vector per "
        "row, and Dense(4) has only 16×4 + 4 = 68 weights.",
    ),
    "flatten-first": Preset(
        "Flatten first",
        ModelSpec((3, 2), (_flatten(0), _dense(1, 16), _relu(2), _dense(3, 4))),
        ARTICLE_INPUT,
        "Flatten first turns each (3, 2) sample into 6 values, so Dense(16) is fully connected: "
        "6×16 + 16 = 112 weights, and 112 + 68 = 180 in all; the output is (None, 4).",
    ),
    "flatten-10x64": Preset(
        "Flatten (10, 64) → 640",
        ModelSpec((10, 64), (_flatten(0),)),
        _range_text((1, 10, 64)),
        "Flatten keeps the batch axis and joins the others: (None, 10, 64) becomes (None, 640), "
        "row after row, with no weights.",
    ),
    "channels-first": Preset(
        "channels_first ordering",
        ModelSpec((2, 3, 4), (_flatten(0, data_format="channels_first"),)),
        _range_text((1, 2, 3, 4)),
        "With channels_first, Flatten moves the first axis (2 channels) last before joining, so the "
        "output (None, 24) interleaves the channels: 0, 12, 1, 13, ...",
    ),
    "flatten-scalar": Preset(
        "Flatten of one number per sample",
        ModelSpec((), (_flatten(0),)),
        "[1, 2, 3]",
        "When each sample is a single number, (None,), Flatten adds a feature axis of size 1: (None, 1).",
    ),
    "dense-rank-3": Preset(
        "Dense on a (2, 3, 4) sample",
        ModelSpec((2, 3, 4), (_dense(0, 5),)),
        _range_text((1, 2, 3, 4)),
        "Dense(5) reads the last axis (4 values) at each of the 2 × 3 = 6 positions with one 4×5 kernel: "
        "(None, 2, 3, 5) and 4×5 + 5 = 25 weights, not 24×5 + 5 = 125.",
    ),
    "broken-built-for-48": Preset(
        "Repair: a Dense built for 48 inputs",
        ModelSpec((3, 2), (_dense(0, 16), _relu(1), _dense(2, 4, built_for=(48,)))),
        ARTICLE_INPUT,
        "dense_1 was built for the 48 values a Flatten would give, but it receives (None, 3, 16), and Dense "
        "reads only the last axis: 16, not 48. Put the Flatten back.",
        broken=True,
    ),
    "broken-scalar-dense": Preset(
        "Repair: Dense on one number per sample",
        ModelSpec((), (_dense(0, 4),)),
        "[1, 2, 3]",
        "Each sample is a single number, (None,), so there is no feature axis for Dense to multiply by its "
        "kernel. Give it one: a Flatten before it, or the input shape (1,).",
        broken=True,
    ),
    "broken-odd-glu": Preset(
        "Repair: glu with 5 units",
        ModelSpec((4,), (_dense(0, 5, activation="glu"),)),
        "[[1, 2, 3, 4]]",
        "glu splits the last axis into two halves and gates one with the other, so Dense(5, glu) cannot "
        "work: make the units even.",
        broken=True,
    ),
    "broken-conv-on-28x28": Preset(
        "Repair: Conv2D on a (28, 28) image",
        _spec(
            (28, 28),
            ("Conv2D", {"filters": 8, "kernel_size": 3, "activation": "relu"}),
            ("Flatten", {}),
            ("Dense", {"units": 10}),
        ),
        "random:4",
        "Conv2D needs a channels axis: (rows, columns, channels). A grey image (28, 28) has none yet — add one with "
        "Reshape((28, 28, 1)).",
        broken=True,
    ),
    "broken-lstm-after-lstm": Preset(
        "Repair: LSTM after LSTM, no return_sequences",
        _spec((30, 8), ("LSTM", {"units": 32}), ("LSTM", {"units": 16}), ("Dense", {"units": 1})),
        "random:7",
        "An LSTM reads a sequence (steps, features), but the first one returns only its last state, (None, 32). "
        "Set return_sequences=True on it so it passes on all 30 steps.",
        broken=True,
    ),
    "puzzle-dense-on-feature-map": Preset(
        "Puzzle: Dense on a feature map, then Flatten",
        _spec(
            (8, 8, 1),
            ("Conv2D", {"filters": 4, "kernel_size": 3}),
            ("Dense", {"units": 10, "activation": "softmax"}),
            ("Flatten", {}),
        ),
        "random:5",
        "It runs, but look at the shapes: Dense on the (6, 6, 4) feature map gives (6, 6, 10) — a softmax at each of "
        "the 36 positions, not one per image — and Flatten then makes (None, 360). Move the Flatten before the Dense "
        "to get (None, 10).",
    ),
    "broken-add-channels": Preset(
        "Repair: Add of 8 channels and 3",
        _graph((16, 16, 3), ("Conv2D", _conv(8, 3, activation="relu"), None), ("Add", {}, (0, -1))),
        "random:7",
        "Add works value by value, so both tensors need the same shape: the convolution gives 8 channels, the "
        "input has 3. A 1×1 projection on the shortcut (a Dense or Conv2D to 8 channels) makes them meet.",
        broken=True,
    ),
    "broken-shortcut-stride": Preset(
        "Repair: a shortcut without its projection",
        _graph(
            (16, 16, 8),
            ("Conv2D", _conv(8, 3, strides=2, activation="relu"), None),
            ("Conv2D", _conv(8, 3), None),
            ("Add", {}, (1, -1)),
        ),
        "random:8",
        "The first convolution has stride 2, so the main path is (8, 8, 8) while the shortcut still carries the "
        "input's (16, 16, 8). ResNet puts a 1×1 Conv2D with stride 2 on the shortcut.",
        broken=True,
    ),
    "broken-concatenate-axis": Preset(
        "Repair: Concatenate on the wrong axis",
        _graph(
            (16, 16, 3),
            ("Conv2D", _conv(8, 3), None),
            ("Conv2D", _conv(4, 3), (-1,)),
            ("Concatenate", {"axis": 1}, (0, 1)),
        ),
        "random:9",
        "Concatenate joins along one axis and needs every other axis equal: on axis 1 (the rows) the channels, 8 "
        "and 4, differ. Joined on the channels (axis -1), 8 + 4 = 12.",
        broken=True,
    ),
    "mnist-convnet": Preset(
        "MNIST convnet (Keras example)",
        _spec(
            (28, 28, 1),
            ("Conv2D", {"filters": 32, "kernel_size": (3, 3), "activation": "relu"}),
            ("MaxPooling2D", {"pool_size": (2, 2)}),
            ("Conv2D", {"filters": 64, "kernel_size": (3, 3), "activation": "relu"}),
            ("MaxPooling2D", {"pool_size": (2, 2)}),
            ("Flatten", {}),
            ("Dropout", {"rate": 0.5}),
            ("Dense", {"units": 10, "activation": "softmax"}),
        ),
        "random:1",
        "The convnet of Keras's MNIST example: 3×3 convolutions shrink 28 to 26 and 11, pooling halves 26 to 13 and 11 "
        "to 5, and Flatten turns the (5, 5, 64) feature map into 1,600 values for Dense(10): output (None, 10), "
        "34,826 parameters.",
    ),
    "text-classifier": Preset(
        "Text model: Embedding → Conv1D → pooling",
        _spec(
            (100,),
            ("Embedding", {"input_dim": 1000, "output_dim": 32}),
            ("Conv1D", {"filters": 64, "kernel_size": 5, "activation": "relu"}),
            ("GlobalMaxPooling1D", {}),
            ("Dense", {"units": 1, "activation": "sigmoid"}),
        ),
        "zeros",
        "Each of the 100 word ids becomes a 32-value vector (100, 32); Conv1D reads 5 words at a time (96, 64), and "
        "global max pooling keeps each filter's strongest match: 64 values for the sigmoid, (None, 1).",
    ),
    "conv-autoencoder": Preset(
        "Convolutional autoencoder",
        _spec(
            (28, 28, 1),
            ("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"}),
            ("MaxPooling2D", {"pool_size": 2}),
            ("Conv2D", {"filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"}),
            ("MaxPooling2D", {"pool_size": 2}),
            ("Conv2D", {"filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"}),
            ("UpSampling2D", {"size": 2}),
            ("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"}),
            ("UpSampling2D", {"size": 2}),
            ("Conv2D", {"filters": 1, "kernel_size": 3, "padding": "same", "activation": "sigmoid"}),
        ),
        "random:2",
        "padding='same' keeps 28×28 through each convolution; pooling halves it to 7×7 (the code), and UpSampling "
        "doubles it back to 28×28: the output has the input's shape.",
    ),
    "mlp-batchnorm-dropout": Preset(
        "MLP with BatchNormalization and Dropout",
        _spec(
            (20,),
            ("Dense", {"units": 64}),
            ("BatchNormalization", {}),
            ("Activation", {"activation": "relu"}),
            ("Dropout", {"rate": 0.3}),
            ("Dense", {"units": 3, "activation": "softmax"}),
        ),
        "random:3",
        "BatchNormalization keeps 4 numbers per feature: gamma and beta are trained, the moving mean and variance "
        "are not — 128 of its 256 parameters are non-trainable; Dropout passes everything through at inference: "
        "(None, 3).",
    ),
    "lstm-sequence": Preset(
        "LSTM sequence model",
        _spec(
            (30, 8), ("LSTM", {"units": 32, "return_sequences": True}), ("LSTM", {"units": 16}), ("Dense", {"units": 1})
        ),
        "random:6",
        "The first LSTM returns its state at every step, (30, 32), so the second can read the whole sequence; the "
        "second returns only its last state, (16,), for Dense: (None, 1). "
        "LSTM parameters: 4×(in×units + units×units + units).",
    ),
    "residual-block": Preset(
        "Graph: a residual block",
        ModelSpec((16, 16, 8))
        .residual(-1, width=16, downsample=True)
        .add("GlobalAveragePooling2D")
        .add("Dense", units=10, activation="softmax"),
        "random:10",
        "A residual block adds its input back to what its two convolutions compute. Here they halve the size and "
        "double the channels, so the shortcut needs a 1×1 Conv2D with stride 2 to (8, 8, 16) before the Add; pooling "
        "and Dense give (None, 10).",
    ),
    "inception-module": Preset(
        "Graph: an Inception module",
        _graph(
            (16, 16, 8),
            ("Conv2D", _conv(8, 1, activation="relu"), None),
            ("Conv2D", _conv(4, 1, activation="relu"), (-1,)),
            ("Conv2D", _conv(8, 3, activation="relu"), None),
            ("Conv2D", _conv(2, 1, activation="relu"), (-1,)),
            ("Conv2D", _conv(4, 5, activation="relu"), None),
            ("MaxPooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}, (-1,)),
            ("Conv2D", _conv(4, 1, activation="relu"), None),
            ("Concatenate", {}, (0, 2, 4, 6)),
        ),
        "random:11",
        "Four branches read the same input at once (1×1, 3×3, 5×5 and pooling), each keeping 16×16 with "
        "padding='same'; Concatenate stacks their channels: 8 + 8 + 4 + 4 = 24.",
    ),
    "small-unet": Preset(
        "Graph: a small U-Net",
        _graph(
            (16, 16, 1),
            ("Conv2D", _conv(8, 3, activation="relu"), None),
            ("MaxPooling2D", {"pool_size": 2}, None),
            ("Conv2D", _conv(16, 3, activation="relu"), None),
            ("Conv2DTranspose", {"filters": 8, "kernel_size": 2, "strides": 2}, None),
            ("Concatenate", {}, (3, 0)),
            ("Conv2D", _conv(1, 1, activation="sigmoid"), None),
        ),
        "random:12",
        "The encoder halves 16×16 to 8×8; Conv2DTranspose doubles it back, and Concatenate joins it with the "
        "encoder's own 16×16 features (the skip): 8 + 8 = 16 channels, for a per-pixel output.",
    ),
    "transformer-encoder": Preset(
        "Graph: a transformer encoder block",
        _graph(
            (20, 64),
            ("MultiHeadAttention", {"num_heads": 4, "key_dim": 16}, (-1,)),
            ("Add", {}, (-1, 0)),
            ("LayerNormalization", {}, None),
            ("Dense", {"units": 128, "activation": "relu"}, None),
            ("Dense", {"units": 64}, None),
            ("Add", {}, (2, 4)),
            ("LayerNormalization", {}, None),
        ),
        "random:13",
        "Self-attention: each of the 20 positions attends to all 20 with 4 heads of 16 dimensions, back to 64 "
        "values; Add keeps the input (the residual) and LayerNormalization rescales each position. The "
        "feed-forward Dense layers act on the last axis, at each position.",
    ),
    "two-outputs": Preset(
        "Graph: one trunk, two outputs",
        _graph(
            (8,),
            ("Dense", {"units": 16, "activation": "relu"}, None),
            ("Dense", {"units": 3, "activation": "softmax"}, None),
            ("Dense", {"units": 1}, (0,)),
        ),
        "random:14",
        "Both heads read the trunk's 16 values: a 3-class softmax and one number. A layer no other layer takes "
        "is an output, so this model has two: (None, 3) and (None, 1).",
    ),
    "two-inputs": Preset(
        "Graph: two inputs, an image and three numbers",
        _graph(
            (8, 8, 1),
            ("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "relu"}, None),
            ("Flatten", {}, None),
            ("Dense", {"units": 8, "activation": "relu"}, (-2,)),
            ("Concatenate", {}, (1, 2)),
            ("Dense", {"units": 3, "activation": "softmax"}, None),
            more_inputs=((3,),),
        ),
        "random:16",
        "Each input has its own path (Keras's input_layer and input_layer_1): the image's 6×6×4 feature map "
        "flattened to 144 values, the numbers through Dense(8); Concatenate joins 144 + 8 = 152 for the output "
        "(None, 3).",
    ),
    "keras-mobilenet": Preset(
        "Keras MobileNet at 96×96, untrained",
        _application("MobileNet", 96),
        "random:15",
        "MobileNet as Keras writes it, at 96×96: depthwise 3×3 then pointwise 1×1 convolutions, output "
        f"(None, 1000). {NO_PRETRAINED}",
    ),
    "keras-mobilenetv2": Preset(
        "Keras MobileNetV2 at 96×96, untrained",
        _application("MobileNetV2", 96),
        "random:16",
        "MobileNetV2 as Keras writes it, at 96×96: inverted residual blocks (an expansion, a depthwise convolution "
        f"and a projection, with an Add where the shape is kept), output (None, 1000). {NO_PRETRAINED}",
    ),
    "train-xor": Preset(
        "Train: XOR",
        ModelSpec(
            (2,), (_dense(0, 8, activation="tanh"), _dense(1, 8, activation="tanh"), _dense(2, 1, activation="sigmoid"))
        ),
        "[[0.5, 0.5], [-0.5, 0.5]]",
        "No straight line separates XOR, so the hidden tanh layers must bend the boundary: open Train and watch it "
        "form (binary cross-entropy, Adam).",
        training=Settings("binary_crossentropy", "adam", 0.03, 60, 32, data="xor"),
    ),
    "train-spirals": Preset(
        "Train: two spirals",
        ModelSpec(
            (2,),
            (_dense(0, 16, activation="tanh"), _dense(1, 16, activation="tanh"), _dense(2, 1, activation="sigmoid")),
        ),
        "[[0.2, -0.1]]",
        "Two spiral arms: the hardest of the toy sets. 16 + 16 tanh units learn it in a few hundred epochs.",
        training=Settings("binary_crossentropy", "adam", 0.02, 300, 16, data="spirals"),
    ),
    "train-sine": Preset(
        "Train: fit a noisy sine",
        ModelSpec((1,), (_dense(0, 16, activation="tanh"), _dense(1, 1))),
        "[[0.5], [1.5]]",
        "Regression: one input, one output, mean squared error. The curve is redrawn as training goes.",
        training=Settings("mean_squared_error", "adam", 0.02, 100, 16, data="sine"),
    ),
    "train-digits": Preset(
        "Train: handwritten digits (8×8)",
        ModelSpec((8, 8, 1), (_flatten(0), _dense(1, 32, activation="relu"), _dense(2, 10, activation="softmax"))),
        _range_text((1, 8, 8, 1)),
        "1,797 real 8×8 digits: Flatten makes each a row of 64 pixels for a small MLP; sparse categorical "
        "cross-entropy learns the 10 classes.",
        training=Settings(
            "sparse_categorical_crossentropy", "adam", 0.005, 15, 32, validation_split=0.2, data="digits"
        ),
    ),
}

# Every other keras.applications architecture the editor holds, at its published input (its summary's numbers): loaded
# when chosen. ConvNeXt (Sequential models inside) and MobileNetV3 (keras.ops calls) are not layer lists the editor
# holds; netbuilder.model_from_json reads them.
ARCHITECTURES = (
    *("VGG16", "VGG19", "Xception", "InceptionV3", "InceptionResNetV2"),
    *("ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2"),
    *("DenseNet121", "DenseNet169", "DenseNet201", "NASNetMobile", "NASNetLarge"),
    *(f"EfficientNetB{k}" for k in range(8)),
    *(f"EfficientNetV2{size}" for size in ("B0", "B1", "B2", "B3", "S", "M", "L")),
)
ARCHITECTURE_KEYS = {f"keras-{name.lower()}": name for name in ARCHITECTURES}
_NAMED = list(PRESETS)
_REAL_END = _NAMED.index("keras-mobilenetv2") + 1  # listed with the real models, before the models to train
MENU = [*_NAMED[:_REAL_END], *ARCHITECTURE_KEYS, *_NAMED[_REAL_END:]]


def title(key: str) -> str:
    """A menu entry's title, without loading an architecture."""
    if key in ARCHITECTURE_KEYS:
        return f"Keras {ARCHITECTURE_KEYS[key]}, untrained"
    return PRESETS[key].title


@lru_cache(maxsize=8)  # the architectures last chosen, for every visitor: all 31 would hold 37 MB
def preset(key: str) -> Preset:
    """The preset of a menu entry (KeyError for any other key); an architecture is read from its JSON when chosen."""
    if key not in ARCHITECTURE_KEYS:
        return PRESETS[key]
    name = ARCHITECTURE_KEYS[key]
    spec = spec_from_keras_json(application_json(name))
    analysis = spec.analysis
    lesson = (
        f"keras.applications.{name} as Keras writes it: an Input and {len(spec.layers):,} layers, "
        f"{analysis.total_params:,} parameters, input {format_shape((None, *spec.input_shape))}, "
        f"output {format_shape(analysis.output_shape)}. {NO_PRETRAINED}"
    )
    return Preset(title(key), spec, "random:17", lesson)
