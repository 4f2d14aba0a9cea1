"""Bounds the engine enforces on every model and input, whatever the caller."""

MAX_LAYERS = 200  # layers in one model (the Input not counted)
MAX_UNITS = 65_536  # units of one Dense
MAX_PARAMS = 50_000_000  # trainable parameters of one model
MAX_INPUT_RANK = 4  # axes of one sample (the batch axis not counted)
MAX_INPUT_ELEMENTS = 1_000_000  # elements of one sample of the model input
MAX_TENSOR_ELEMENTS = 64 * 2**20  # elements of any tensor of a forward pass, batch included
MAX_SEED = 999_999  # model seeds are 0..MAX_SEED; layer i draws with seed 1000*seed + i
MAX_JSON_CHARS = 2_000_000  # characters of a Keras JSON document we parse
MAX_NAME_CHARS = 64  # characters of a layer or model name
MAX_INPUT_TEXT_CHARS = 2_000_000  # characters of forward-pass input text we parse (checked before parsing)
MAX_BATCH = 1024  # samples in one forward-pass input (batch × per-sample also ≤ MAX_TENSOR_ELEMENTS)
MAX_LINK_CHARS = 8_000  # characters of a share-link token: the URL must stay pasteable
MAX_LINK_JSON_BYTES = 65_536  # bytes a share-link token may inflate to; a zlib bomb stops here
MAX_LINK_JSON_DEPTH = 8  # nesting of a share link's JSON (checked before json.loads; a model needs 4)
MAX_SHARED_INPUT_CHARS = 2_000  # input-data text carried in a share link; longer text is left out
MAX_UNDO_STEPS = 100  # edits kept for undo; the oldest is dropped beyond this
