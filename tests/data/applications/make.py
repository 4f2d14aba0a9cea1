"""Keras's own facts about every keras.applications architecture, recorded once from real Keras for the tests.

Run by hand (about 5 to 9 minutes on two shared cores; it runs one Keras process at a time):

    KERAS_BACKEND=numpy python tests/data/applications/make.py [names...]

With no names it does every entry of ARCHITECTURES, VARIANTS and SMALL; with names, only those (a name is an
architecture, e.g. ResNet50, a variant, e.g. MobileNetV3Small.224, or a small model, e.g. ResNet50.small), and the
manifest's other entries are kept. Each model is built in a fresh child process (`make.py --one NAME`), so Keras's
automatic layer names and Python's random state never depend on what was built before it. The output is
deterministic: running it again on the same Keras writes the same bytes (gzip with mtime 0, sorted JSON keys).

What it writes into this directory (README.md says more):

  <Name>.json.gz          model.to_json() exactly, UTF-8, gzip level 9, in netbuilder/studio/data/applications (the
                          presets load them from there);
  <Name>.summary.txt.gz   the text Keras's model.summary(line_length=L, print_fn=...) hands to print_fn, L being
                          Keras's own default for that model (88 for a model it prints sequential-like, 108 for one
                          it prints with "Connected to"), kept for the summaries of at most SUMMARY_TEXT_MAX_LINES
                          lines (the smaller half); the others have only summary_sha256 in the manifest;
  <Name>.small.npz        for the models in SMALL: the architecture at its smallest accepted input, built after
                          keras.utils.set_random_seed(0), with its JSON, a fixed input, Keras's predict outputs, and
                          the seed facts that rebuild every weight (no weight is stored);
  manifest.json           one entry per architecture, variant and small model, sorted keys, indented.

The children run with COLUMNS=200, so that Keras's default line length (min(88 or 108, terminal columns - 4)) is not
cut by the terminal and rich's console is wider than every line.

Other modes, none of which builds anything new:
  --check   read every file back into Keras (model_from_json; the small models on weights rebuilt from their seed
            facts) and compare with the manifest (run it with COLUMNS=200);
  --table   print README.md's tables from the manifest;
  --prune   drop the summary texts longer than --summary-max-lines.
"""

import argparse
import gzip
import hashlib
import importlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the architectures' JSON ships with netbuilder (its real-model presets): the one copy, which the tests read too
JSON_DIR = HERE.parents[2] / "netbuilder" / "studio" / "data" / "applications"

ARCHITECTURES = [
    "VGG16",
    "VGG19",
    "ResNet50",
    "ResNet101",
    "ResNet152",
    "ResNet50V2",
    "ResNet101V2",
    "ResNet152V2",
    "InceptionV3",
    "InceptionResNetV2",
    "Xception",
    "MobileNet",
    "MobileNetV2",
    "MobileNetV3Small",
    "MobileNetV3Large",
    "DenseNet121",
    "DenseNet169",
    "DenseNet201",
    "NASNetMobile",
    "NASNetLarge",
    *[f"EfficientNetB{i}" for i in range(8)],
    "EfficientNetV2B0",
    "EfficientNetV2B1",
    "EfficientNetV2B2",
    "EfficientNetV2B3",
    "EfficientNetV2S",
    "EfficientNetV2M",
    "EfficientNetV2L",
    "ConvNeXtTiny",
    "ConvNeXtSmall",
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtXLarge",
]

# Also recorded at their published size: Keras builds MobileNetV3 with input (None, None, 3) unless told otherwise.
VARIANTS = {
    "MobileNetV3Small.224": ("MobileNetV3Small", (224, 224, 3)),
    "MobileNetV3Large.224": ("MobileNetV3Large", (224, 224, 3)),
}

# Small models whose outputs are recorded: (smallest input Keras accepts, module of its preprocess_input).
SMALL = {
    "ResNet50": ((32, 32, 3), "resnet50"),
    "MobileNetV2": ((32, 32, 3), "mobilenet_v2"),
    "EfficientNetB0": ((32, 32, 3), "efficientnet"),
    "DenseNet121": ((32, 32, 3), "densenet"),
    "InceptionV3": ((75, 75, 3), "inception_v3"),
}

SUMMARY_TEXT_MAX_LINES = 900  # longer summaries (the larger half of the 40 architectures) are kept as a hash only
COLUMNS = "200"
SEED = 0
BATCH = 2
PROBES = 5  # inner layers whose outputs a small model's .npz records too
PROBE_MAX_ELEMENTS = 8192  # numbers a sample in one probe's output


# ---------------------------------------------------------------- facts from the JSON text


def json_depth(text: str) -> int:
    """The maximum nesting of [ and { outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    assert depth == 0 and not in_string
    return deepest


def layer_entries(model_config: dict):
    """Every layer entry of a serialized functional/sequential model, nested models' layers too (depth first)."""
    for entry in model_config["config"].get("layers", []):
        yield entry
        if isinstance(entry.get("config"), dict) and "layers" in entry["config"]:
            yield from layer_entries(entry)


def all_objects(node, inside_layer_list=False):
    """Every serialized object (a dict with a class_name) anywhere in the JSON, except layer entries."""
    if isinstance(node, dict):
        if "class_name" in node and not inside_layer_list:
            yield node
        for key, value in node.items():
            yield from all_objects(value, inside_layer_list=(key == "layers" and isinstance(value, list)))
    elif isinstance(node, list):
        for item in node:
            if inside_layer_list and isinstance(item, dict):
                yield from all_objects(item.get("config"))  # a layer entry: only what its config holds
                yield from all_objects(item.get("build_config"))
                yield from all_objects(item.get("inbound_nodes"))
            else:
                yield from all_objects(item)


def activations(node) -> set:
    """Every string value of an "activation" key anywhere in the JSON."""
    if isinstance(node, dict):
        found = {node["activation"]} if isinstance(node.get("activation"), str) else set()
        return found.union(*(activations(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(activations(v) for v in node))
    return set()


def class_list(objects) -> list:
    seen = {}
    for obj in objects:
        key = (obj["class_name"], obj.get("module"), obj.get("registered_name"))
        seen[key] = seen.get(key, 0) + 1
    return [
        {"class_name": c, "module": m, "registered_name": r, "count": n}
        for (c, m, r), n in sorted(seen.items(), key=lambda kv: tuple(str(x) for x in kv[0]))
    ]


def gz_write(path: Path, text: str) -> None:
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


# ---------------------------------------------------------------- one model, in a child process


def capture_summary(model, line_length=None) -> str:
    captured = []
    model.summary(line_length=line_length, print_fn=lambda text, **kw: captured.append(text))
    assert len(captured) == 1, len(captured)  # Keras hands the whole table to print_fn in one call
    return captured[0]


def model_facts(model, text: str) -> dict:
    import keras

    config = json.loads(text)
    layers = list(layer_entries(config))
    live = {layer.name: layer for layer in model.layers}
    nested = sorted(
        e["config"]["name"]
        for e in layers
        if isinstance(live.get(e["config"]["name"]), keras.Model) or "layers" in e["config"]
    )
    shared_json = sorted(e["config"]["name"] for e in layers if len(e.get("inbound_nodes", [])) > 1)
    shared_live = sorted(layer.name for layer in model.layers if len(layer._inbound_nodes) > 1)
    assert shared_json == shared_live, (shared_json, shared_live)
    return {
        "keras_version": keras.__version__,
        "model_name": model.name,
        "input_shape": list(model.input_shape[1:]),
        "output_shape": list(model.output_shape),
        "layers": len(model.layers),
        "operations": len(model._operations),
        "json_layers": len(config["config"]["layers"]),
        "json_layers_nested": len(layers),
        "params": model.count_params(),
        "trainable": sum(math.prod(w.shape) for w in model.trainable_weights),
        "non_trainable": sum(math.prod(w.shape) for w in model.non_trainable_weights),
        "variables": len(model.weights),
        "json_chars": len(text),
        "json_depth": json_depth(text),
        "class_names": class_list(layers),
        "other_class_names": class_list(all_objects(config)),
        "model_class_name": {k: config.get(k) for k in ("class_name", "module", "registered_name")},
        "activations": sorted(activations(config)),
        "shared_layers": shared_json,
        "nested_models": nested,
    }


def summary_facts(model, name: str, out: Path, write_text: bool) -> dict:
    default = capture_summary(model)
    width = len(default.splitlines()[1])  # the table's top border is exactly line_length wide
    text = capture_summary(model, line_length=width)
    assert text == default, "summary(line_length=default) differs from summary()"
    lines = len(text.splitlines())
    facts = {
        "summary_line_length": width,
        "summary_lines": lines,
        "summary_chars": len(text),
        "summary_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }
    if write_text:  # the parent keeps it only while summary_lines <= SUMMARY_TEXT_MAX_LINES (see prune)
        gz_write(out / f"{name}.summary.txt.gz", text)
    return facts


def initializer_of(layer, variable):
    """The initializer object a layer gave one of its variables, when the layer keeps it as an attribute."""
    names = {
        "kernel": ["kernel_initializer", "depthwise_initializer"],
        "depthwise_kernel": ["depthwise_initializer"],
        "pointwise_kernel": ["pointwise_initializer"],
    }.get(variable.name, [f"{variable.name}_initializer"])
    for attr in names:
        if getattr(layer, attr, None) is not None:
            return getattr(layer, attr)
    return None


def weight_facts(model) -> list:
    """How each weight of a model built after keras.utils.set_random_seed(SEED) came about, checked by redrawing."""
    import keras
    import numpy as np
    from keras.src.initializers.random_initializers import RandomInitializer

    facts = []
    for layer in model.layers:
        for variable in layer.weights:
            value = np.asarray(variable.numpy())
            init = initializer_of(layer, variable)
            entry = {
                "layer": layer.name,
                "path": variable.path,
                "name": variable.name,
                "shape": list(value.shape),
                "dtype": str(value.dtype),
                "trainable": bool(variable.trainable),
                "sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(),
                "initializer": keras.saving.serialize_keras_object(init) if init is not None else None,
                "seed": None,
                "how": None,
            }
            if isinstance(init, RandomInitializer):
                assert isinstance(init.seed, int), (variable.path, init.seed)
                redrawn = np.asarray(init(tuple(value.shape), dtype=str(value.dtype)))
                assert np.array_equal(redrawn, value), f"{variable.path}: redrawing with seed {init.seed} differs"
                entry.update(seed=int(init.seed), how="initializer(seed)")
            elif init is not None and np.array_equal(
                np.asarray(init(tuple(value.shape), dtype=str(value.dtype))), value
            ):
                entry["how"] = "initializer"
            elif value.size and np.all(value == value.flat[0]):
                entry.update(how="constant", constant=float(value.flat[0]))
            else:
                entry.update(how="values", values=value.tolist())
                assert value.size <= 64, f"{variable.path}: {value.size} values neither drawn nor constant"
            facts.append(entry)
    return facts


def probe_layers(model, count=PROBES, max_elements=PROBE_MAX_ELEMENTS) -> list:
    """Layers spread evenly through model.layers whose outputs are recorded too: with random weights and batch
    norms at their initial statistics, some models' outputs shrink towards zero with depth (EfficientNetB0,
    MobileNetV2), so the early and middle layers' outputs are the sharper oracle. A probe is the first layer at or
    after each evenly spaced index with one output of at most max_elements numbers a sample."""
    import math as _math

    layers, chosen = model.layers, []
    for k in range(1, count + 1):
        i = len(layers) * k // (count + 1)
        while i < len(layers) - 2:
            layer = layers[i]
            shape = getattr(layer.output, "shape", None)
            if (
                shape is not None
                and layer not in chosen
                and None not in shape[1:]
                and _math.prod(shape[1:]) <= max_elements
            ):
                chosen.append(layer)
                break
            i += 1
    return chosen


def build(name: str, **kwargs):
    import keras

    return getattr(keras.applications, name)(weights=None, include_top=True, **kwargs)


def run_one(name: str, out: Path) -> dict:
    import keras
    import numpy as np

    small = name.endswith(".small")
    arch = name.removesuffix(".small")
    keras.utils.set_random_seed(SEED)
    start = time.perf_counter()
    try:
        if small:
            model = build(arch, input_shape=SMALL[arch][0])
        elif name in VARIANTS:
            model = build(VARIANTS[name][0], input_shape=VARIANTS[name][1])
        else:
            model = build(arch)
    except Exception as exc:  # recorded, not raised: the manifest says why an architecture cannot be built
        return {"error": f"{type(exc).__name__}: {exc}", "keras_version": keras.__version__}
    built = time.perf_counter() - start
    text = model.to_json()
    facts = model_facts(model, text)
    facts.update(summary_facts(model, name, out, write_text=not small))
    if not small:
        gz_write(JSON_DIR / f"{name}.json.gz", text)
        facts["json_file"] = f"{name}.json.gz"
    else:
        shape, module = SMALL[arch]
        image = np.random.default_rng(SEED).integers(0, 256, (BATCH, *shape)).astype("uint8")
        preprocess = importlib.import_module(f"keras.applications.{module}").preprocess_input
        x = np.asarray(preprocess(image.astype("float32").copy()), dtype="float32")
        y = np.asarray(model.predict(x, batch_size=BATCH, verbose=0), dtype="float32")
        penultimate = model.layers[-2]
        probed = probe_layers(model)
        inner = keras.Model(model.inputs, [penultimate.output, *(layer.output for layer in probed)])
        features, *probes = [np.asarray(a, dtype="float32") for a in inner.predict(x, batch_size=BATCH, verbose=0)]
        weights = weight_facts(model)
        with open(out / f"{arch}.small.npz", "wb") as handle:
            np.savez_compressed(
                handle,
                json=np.array(text),
                image=image,
                x=x,
                y=y,
                features=features,
                features_layer=np.array(penultimate.name),
                weights_json=np.array(json.dumps(weights, sort_keys=True)),
                probe_layers=np.array([layer.name for layer in probed]),
                **{f"probe_{i}": probe for i, probe in enumerate(probes)},
                preprocess=np.array(f"keras.applications.{module}.preprocess_input"),
                keras_version=np.array(keras.__version__),
            )
        hows = {}
        for w in weights:
            hows[w["how"]] = hows.get(w["how"], 0) + 1
        facts.update(
            npz_file=f"{arch}.small.npz",
            weights_how=hows,
            preprocess=f"keras.applications.{module}",
            x_range=[float(x.min()), float(x.max())],
            y_sum=float(y.astype("float64").sum()),
            features_layer=penultimate.name,
            features_absmax=float(np.abs(features).max()),
            probe_layers=[layer.name for layer in probed],
            probe_absmax=[float(np.abs(probe).max()) for probe in probes],
        )
    facts["_seconds"] = {"build": round(built, 2), "total": round(time.perf_counter() - start, 2)}
    return facts


def rebuild_weight(entry: dict):
    """One weight of a small model, from its seed facts alone (what a test does, here with Keras's initializers)."""
    import keras
    import numpy as np

    shape, dtype = tuple(entry["shape"]), entry["dtype"]
    if entry["how"] in ("initializer(seed)", "initializer"):
        config = json.loads(json.dumps(entry["initializer"]))
        if entry["seed"] is not None:
            config["config"]["seed"] = entry["seed"]
        return np.asarray(keras.initializers.deserialize(config)(shape, dtype=dtype))
    if entry["how"] == "constant":
        return np.full(shape, entry["constant"], dtype=dtype)
    return np.asarray(entry["values"], dtype=dtype).reshape(shape)


def check(out: Path) -> None:
    """Read every JSON back with keras.models.model_from_json, and rerun every small model on weights rebuilt from
    its seed facts: the same parameter counts, summaries and (bit for bit) outputs as recorded."""
    import gc

    import keras
    import numpy as np

    manifest = json.loads((out / "manifest.json").read_text())
    for name, facts in manifest.items():
        if "error" in facts:
            continue
        start = time.perf_counter()
        if name.endswith(".small"):
            data = np.load(out / facts["npz_file"])
            model = keras.models.model_from_json(str(data["json"]))
            for entry in json.loads(str(data["weights_json"])):
                value = rebuild_weight(entry)
                assert hashlib.sha256(value.tobytes()).hexdigest() == entry["sha256"], entry["path"]
                [variable] = [v for v in model.get_layer(entry["layer"]).weights if v.path == entry["path"]]
                variable.assign(value)
            names = [str(n) for n in data["probe_layers"]]
            inner = keras.Model(
                model.inputs,
                [
                    model.output,
                    model.get_layer(str(data["features_layer"])).output,
                    *(model.get_layer(n).output for n in names),
                ],
            )
            got = [np.asarray(a) for a in inner.predict(data["x"], verbose=0)]
            want = [data["y"], data["features"], *(data[f"probe_{i}"] for i in range(len(names)))]
            same = all(np.array_equal(g, w) for g, w in zip(got, want))
            assert all(np.allclose(g, w, rtol=1e-5, atol=0) for g, w in zip(got, want)), f"{name}: outputs differ"
            note = f"y, features, probes {'bit for bit' if same else 'within rtol 1e-5'}"
        else:
            with gzip.open(JSON_DIR / facts["json_file"], "rt", encoding="utf-8") as handle:
                text = handle.read()
            assert len(text) == facts["json_chars"] and json_depth(text) == facts["json_depth"]
            model = keras.models.model_from_json(text)
            note = "to_json() round trip " + ("identical" if model.to_json() == text else "DIFFERS")
        summary = capture_summary(model, line_length=facts["summary_line_length"])
        assert model.count_params() == facts["params"] and len(model.layers) == facts["layers"], name
        assert hashlib.sha256(summary.encode("utf-8")).hexdigest() == facts["summary_sha256"], f"{name}: summary"
        print(f"{name:20s} ok in {time.perf_counter() - start:5.1f} s: params, layers, summary, {note}", flush=True)
        del model
        gc.collect()


# ---------------------------------------------------------------- the parent: one child per model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(HERE), help="directory to write into (default: this one)")
    parser.add_argument(
        "--summary-max-lines",
        type=int,
        default=SUMMARY_TEXT_MAX_LINES,
        help="keep <Name>.summary.txt.gz only for summaries this short (default %(default)s)",
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="build nothing: only drop the summary texts longer than --summary-max-lines",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="build nothing new: read every file back into Keras and compare with the manifest "
        "(run it with COLUMNS=200 too)",
    )
    parser.add_argument(
        "--table", action="store_true", help="build nothing: print README.md's tables from the manifest"
    )
    args = parser.parse_args()
    out = Path(args.out)
    if args.check:
        check(out)
        return
    if args.table:
        print(tables(json.loads((out / "manifest.json").read_text())))
        return
    if args.one:
        print("FACTS " + json.dumps(run_one(args.one, out)), flush=True)
        return

    everything = [*ARCHITECTURES, *VARIANTS, *(f"{a}.small" for a in SMALL)]
    names = [] if args.prune else args.names or everything
    known = set(everything)
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"unknown names: {unknown}; known: {sorted(known)}")
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    env = {**os.environ, "KERAS_BACKEND": "numpy", "COLUMNS": COLUMNS, "PYTHONHASHSEED": "0"}
    for name in names:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--one", name, "--out", str(out)], env=env, capture_output=True, text=True
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("FACTS ")]
        if proc.returncode or not lines:
            facts = {"error": f"the child process failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"}
        else:
            facts = json.loads(lines[-1][len("FACTS ") :])
        seconds = facts.pop("_seconds", None)
        manifest[name] = facts
        prune(manifest, out, args.summary_max_lines)
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        print(
            f"{name:20s} {time.perf_counter() - start:7.1f} s wall, Keras {seconds}, "
            f"{facts.get('layers')} layers, {facts.get('params')} params, {facts.get('error', '')}",
            flush=True,
        )
    if args.prune:
        prune(manifest, out, args.summary_max_lines)
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def tables(manifest: dict) -> str:
    """README.md's tables: one row per architecture, then every layer class and the architectures using it."""
    rows = [
        "| model | input | output | layers | ops / JSON entries | params | trainable | non-trainable | "
        "JSON chars | depth | summary lines (width) | classes beyond keras.layers |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    users = {}
    order = [*ARCHITECTURES, *VARIANTS, *(f"{a}.small" for a in SMALL)]
    for name in sorted(manifest, key=order.index):
        f = manifest[name]
        if "error" in f:
            rows.append(f"| {name} | failed: {f['error'][:200]} |" + " |" * 10)
            continue
        beyond = [
            f"{c['class_name']} ({c['module']}) ×{c['count']}"
            for c in f["class_names"]
            if c["module"] != "keras.layers"
        ]
        text = " +text" if "summary_file" in f else ""
        rows.append(
            f"| {name} | {'×'.join(map(str, f['input_shape']))} | {tuple(f['output_shape'])} | {f['layers']} | "
            f"{f['operations']} / {f['json_layers_nested']} | {f['params']:,} | {f['trainable']:,} | "
            f"{f['non_trainable']:,} | {f['json_chars']:,} | {f['json_depth']} | "
            f"{f['summary_lines']:,} ({f['summary_line_length']}){text} | {', '.join(beyond) or '—'} |"
        )
        if name in ARCHITECTURES:
            for c in f["class_names"]:
                users.setdefault((c["class_name"], c["module"], c["registered_name"]), []).append(name)
    rows += ["", "| class_name | module | registered_name | architectures |", "|---|---|---|---|"]
    for (cls, module, registered), names in sorted(users.items()):
        who = "all" if len(names) == len(ARCHITECTURES) else f"{len(names)}: " + ", ".join(names)
        rows.append(f"| {cls} | {module} | {registered} | {who} |")
    return "\n".join(rows)


def prune(manifest: dict, out: Path, max_lines: int) -> None:
    """Keep a model's summary text only while it has at most max_lines lines; the manifest names the kept files."""
    for name, facts in manifest.items():
        path = out / f"{name}.summary.txt.gz"
        facts.pop("summary_file", None)
        if "summary_lines" not in facts or name.endswith(".small"):
            continue
        if facts["summary_lines"] <= max_lines and path.exists():
            facts["summary_file"] = path.name
        elif facts["summary_lines"] > max_lines and path.exists():
            path.unlink()


if __name__ == "__main__":
    main()
