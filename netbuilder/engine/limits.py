"""Bounds and budgets the engine enforces on every model, input and export, whatever the caller.

The budgets are chosen so that one server with 2.5 GB of memory serves 10 simultaneous worst-case
visitors: each holds at most one model's weights (MAX_WEIGHT_BYTES) and runs at most one forward
pass at a time (MAX_FORWARD_BYTES), 64 + 96 MiB + ~30 MiB of page data ≈ 190 MiB; ten of them and a
~300 MB server make ~2.2 GB. The README's limits table gives the reasoning in full.
"""

MAX_LAYERS = 200  # layers in one model (the Input not counted)
MAX_UNITS = 65_536  # units of one Dense (and filters, embedding sizes, recurrent units)
MAX_INPUT_RANK = 4  # axes of one sample (the batch axis not counted)
MAX_INPUT_ELEMENTS = 1_000_000  # elements of one sample of the model input
MAX_TENSOR_ELEMENTS = 64 * 2**20  # elements of any tensor of a forward pass, batch included
MAX_SEED = 999_999  # model seeds are 0..MAX_SEED; layer i draws with seed 1000*seed + i
MAX_JSON_CHARS = 2_000_000  # characters of a Keras JSON document we parse
MAX_JSON_DEPTH = 64  # nesting of a Keras JSON document (checked before json.loads); Keras writes 7 to 16 (models 3 deep)
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

# --- budgets: computed from shapes alone (netbuilder.engine.cost) before anything is allocated ---
MAX_WEIGHT_BYTES = 64 * 2**20  # float32 weights of one model: 16,777,216 parameters
MAX_FORWARD_BYTES = 96 * 2**20  # peak bytes of the tensors one forward pass holds at once (weights not counted)
MAX_WORK = 40_000_000_000  # work of one run, batch included: mult-adds + weighted elementwise operations (about 1 s here)
MAX_TRAIN_WORK = 25 * MAX_WORK  # work of one training run (fit), every epoch and the backward pass included
MAX_EXPORT_CHARS = 24_000_000  # characters of one generated file (Keras or PyTorch code with its weights)
