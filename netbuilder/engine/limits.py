"""Structural bounds: they guard parsing and keep every number sane, whatever the caller, and cost nothing to check.

What a run may allocate and do is a budget instead (engine/budget.py): none in the library, the public budgets
where the app runs a visitor's work. The README's limits table lists both.
"""

# layers in one model (the Input not counted), in the engine and the app's editor: NASNetLarge has 1,041,
# EfficientNetV2L 1,031 (shapes are arithmetic, and the editor draws the selected layer's widgets only)
MAX_LAYERS = 1200
MAX_UNITS = 65_536  # units of one Dense (and filters, embedding sizes, recurrent units)
MAX_INPUT_RANK = 4  # axes of one sample (the batch axis not counted)
MAX_SAMPLE_ELEMENTS = 2**31  # elements of one sample of any tensor (8 GB of float32): a shape past it is a typing slip
MAX_TENSOR_ELEMENTS = 64 * 2**20  # elements of one array of data the app parses or makes (typed input, random, a CSV)
MAX_SEED = 999_999  # model seeds are 0..MAX_SEED; layer i draws with initializers.layer_seed(seed, i), below 2**32
MAX_JSON_CHARS = 2_000_000  # characters of a Keras JSON document we parse
# nesting of a Keras JSON document (checked before json.loads); Keras writes 7 to 16 (models 3 deep)
MAX_JSON_DEPTH = 64
MAX_NAME_CHARS = 64  # characters of a layer or model name
MAX_INPUT_TEXT_CHARS = 2_000_000  # characters of forward-pass input text we parse (checked before parsing)
MAX_BATCH = 1024  # samples in one forward-pass input
MAX_TRAIN_SAMPLES = 20_000  # samples of one training data set (a CSV upload, typed x and y)
MAX_CSV_COLUMNS = 10_000  # cells in a row of a CSV file (checked before pandas reads it: pandas spends ~50 µs a column)
MAX_LINK_CHARS = 8_000  # characters of a share-link token: the URL must stay pasteable
MAX_LINK_JSON_BYTES = 65_536  # bytes a share-link token may inflate to; a zlib bomb stops here
MAX_LINK_JSON_DEPTH = 8  # nesting of a share link's JSON (checked before json.loads; a model needs 6)
MAX_SHARED_INPUT_CHARS = 2_000  # input-data text carried in a share link; longer text is left out
MAX_UNDO_STEPS = 100  # edits kept for undo; the oldest is dropped beyond this
