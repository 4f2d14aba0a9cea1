"""netbuilder.studio.share: tokens round-trip, stay deterministic and short, hostile tokens fail cleanly, and every
version-1 link made by the previous main still opens to the same model with the same numbers."""

import base64
import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from netbuilder import LayerConfigError, LimitError, NetbuilderError
from netbuilder.engine.limits import MAX_LAYERS, MAX_LINK_CHARS, MAX_LINK_JSON_BYTES, MAX_SHARED_INPUT_CHARS
from netbuilder.studio import data
from netbuilder.studio.models import built
from netbuilder.studio.share import (
    PARAM,
    ShareLinkError,
    _token,
    decode,
    encode,
    input_fits,
    link,
    preset_link,
    share_url,
)
from netbuilder.studio.spec import LayerSpec, ModelSpec, seed_spec

LINKS_V1 = json.loads((Path(__file__).parent / "data" / "links_v1.json").read_text())


def pack(raw: bytes, version="2") -> str:
    """A token holding `raw` as encode would pack it, for writing hostile payloads."""
    return version + "." + base64.urlsafe_b64encode(zlib.compress(raw, 9)).rstrip(b"=").decode()


def fails(token, cls=ShareLinkError) -> str:
    with pytest.raises(cls) as e:
        decode(token)
    return str(e.value)


def test_round_trip_with_and_without_input():
    spec = seed_spec()
    assert decode(encode(spec))[:2] == (spec, None)
    assert decode(encode(spec, "[[[1, 2], [3, 4], [5, 6]]]"))[:2] == (spec, "[[[1, 2], [3, 4], [5, 6]]]")


def test_round_trip_keeps_every_setting():
    spec = ModelSpec(
        input_shape=(4, 2, 3),
        layers=(
            LayerSpec.make(7, "Flatten", data_format="channels_first"),
            LayerSpec.make(3, "Dense", built_for=(24,), units=5, activation="tanh", use_bias=False),
            LayerSpec.make(9, "Activation", activation="softmax"),
        ),
        seed=123_456,
    )
    assert decode(encode(spec))[0] == spec


def test_token_is_deterministic_versioned_and_url_safe():
    token = encode(seed_spec(), "[1]")
    assert token == encode(seed_spec(), "[1]") and token.startswith("2.")
    assert set(token) <= set("0123456789.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_")
    assert encode(seed_spec()) != encode(seed_spec().with_seed(1))


def test_payload_is_compact_sorted_json():
    raw = zlib.decompress(base64.urlsafe_b64decode(encode(ModelSpec(input_shape=(2,)), "[1, 2]")[2:] + "=="))
    assert raw == b'{"input":"[1, 2]","model":{"input_shape":[2],"layers":[],"seed":0}}'


def test_long_input_text_is_left_out():
    text = "[" + "1, " * 1000 + "1]"
    assert len(text) > MAX_SHARED_INPUT_CHARS and not input_fits(text) and input_fits(None) and input_fits("[1]")
    assert decode(encode(seed_spec(), text))[:2] == (seed_spec(), None)


def test_a_model_of_200_layers_fits_in_a_link_and_a_larger_one_says_its_size():
    def dense_chain(count, id_step):
        layers = tuple(LayerSpec.make(i * id_step, "Dense", units=1 + (i * 7919) % 97) for i in range(count))
        return ModelSpec(input_shape=(8,), layers=layers).validate()

    token = encode(dense_chain(200, 4999), "[" + ", ".join(["-0.37"] * 399) + "]")  # far-apart ids: the longest
    assert len(token) <= MAX_LINK_CHARS and decode(token)[0] == dense_chain(200, 4999)
    with pytest.raises(ShareLinkError, match=r"this model makes a [\d,]+-character link; at most 8,000 are allowed"):
        encode(dense_chain(MAX_LAYERS, 829), None)


def test_encode_refuses_an_invalid_spec():
    with pytest.raises(NetbuilderError):
        encode(ModelSpec(seed=-1))


def test_share_url():
    assert share_url("https://netbuilder.app/", "2.abc") == "https://netbuilder.app/?model=2.abc"
    assert (
        share_url("http://localhost:8501/?tab=x&model=old#top", "2.a-_") == "http://localhost:8501/?tab=x&model=2.a-_"
    )
    assert PARAM == "model"


# --- hostile and damaged tokens -------------------------------------------------------------------
def test_damaged_tokens():
    good = encode(seed_spec())
    assert fails("") == "not a netbuilder share link (or one from a newer version)"
    assert fails("3." + good[2:]) == "not a netbuilder share link (or one from a newer version)"
    assert fails("0." + good[2:]) == "not a netbuilder share link (or one from a newer version)"
    assert fails(good[2:]) == "not a netbuilder share link (or one from a newer version)"
    for version in ("1", "2"):
        assert fails(f"{version}.abc$") == "share link is damaged: it has characters or a length base64url cannot have"
        assert fails(f"{version}.abcde") == "share link is damaged: it has characters or a length base64url cannot have"
        assert fails(f"{version}.abc=") == "share link is damaged: it has characters or a length base64url cannot have"
        assert fails(f"{version}.AAAA") == "share link is damaged: it does not decompress"
    assert fails(good[:-6]) == "share link is damaged: it is cut short or has extra data"
    assert fails(good + "AAAA") == "share link is damaged: it is cut short or has extra data"
    assert fails(pack(b"\xff\xfe")) == "share link is damaged: it is not UTF-8 text"
    assert fails(pack(b'{"model": ')) == "share link is damaged: it is not valid JSON"
    assert (
        fails(pack(b'"\\"' * 10_000)) == "share link is damaged: it is not valid JSON"
    )  # unterminated: no quadratic scan
    assert fails(None) == "a share link token must be text"
    assert decode("  " + good + "\n")[0] == seed_spec()  # pasted with whitespace around it


def test_size_bounds():
    assert (
        fails("2." + "A" * MAX_LINK_CHARS)
        == f"share link is too long ({MAX_LINK_CHARS + 2:,} characters; at most {MAX_LINK_CHARS:,})"
    )
    assert fails(pack(b"\0" * 100_000_000)).startswith("share link is too long")
    bomb = pack(b" " * 5_000_000)  # 5 MB of spaces fits in a link...
    assert len(bomb) <= MAX_LINK_CHARS
    assert fails(bomb) == f"share link expands to more than {MAX_LINK_JSON_BYTES:,} bytes"  # ...but is not inflated
    assert fails(pack(b"[" * 50_000)) == "share link is nested more than 8 levels deep"
    assert fails(pack(b'{"model": {"layers": [[[[[[[[1]]]]]]]]}}')) == "share link is nested more than 8 levels deep"


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = "[[[[[[[[[[1]]]]]]]]]]"
    assert len(text) <= MAX_SHARED_INPUT_CHARS and decode(encode(seed_spec(), text))[1] == text


def test_wrong_document_shapes():
    message = (
        'share link must hold {"model": ..., "input": ..., "weights": ..., "train": ..., "typed": ...} only, '
        'or {"preset": ...}'
    )
    for doc in ([], {}, {"model": {}, "extra": 1}, "model", 5):
        assert fails(pack(json.dumps(doc).encode())) == message
    assert fails(pack(b'{"model": {}, "input": 5}')) == "share link input must be text of at most 2,000 characters"
    assert fails(pack(json.dumps({"model": {}, "input": "1" * 2001}).encode())).startswith(
        "share link input must be text"
    )


@pytest.mark.usefixtures("public_budget")  # the app opens links under its public budgets
def test_invalid_models_are_rejected_by_the_spec():
    def model(**m):
        return pack(json.dumps({"model": m}).encode())

    assert fails(model(layers=[{"id": 0, "kind": "Dense", "units": 10**12}]), LimitError) == (
        "units must be an integer from 1 to 65,536; received 1000000000000"
    )
    many = [{"id": i, "kind": "Flatten"} for i in range(MAX_LAYERS + 1)]
    assert fails(model(layers=many), LimitError) == "a model holds at most 1200 layers; this one has 1,201"
    # 5000 layers are stopped earlier, by the size bounds, before any JSON is parsed
    assert (
        fails(model(layers=[{"id": 0, "kind": "Flatten"}] * 5000))
        == f"share link expands to more than {MAX_LINK_JSON_BYTES:,} bytes"
    )
    assert "seed must be an integer" in fails(model(seed="7"), LayerConfigError)
    assert "unknown layer kind 'Conv7D'" in fails(model(layers=[{"id": 0, "kind": "Conv7D"}]), LayerConfigError)
    assert "Dense has no setting(s) input_dim" in fails(
        model(layers=[{"id": 0, "kind": "Dense", "input_dim": 3}]), LayerConfigError
    )
    assert fails(model(input_shape=[10**9]), LimitError) == (
        "input shape (1000000000,) has 1,000,000,000 elements per sample; at most 67,108,864 are allowed"
    )
    # several inputs: each shape checked, at most 16 inputs, a layer can take only an input the model has
    assert fails(model(input_shape=[3], more_inputs=[[10**9]]), LimitError) == (
        "input shape (1000000000,) has 1,000,000,000 elements per sample; at most 67,108,864 are allowed"
    )
    assert "more_inputs must be a list of at most 15 input shapes" in fails(
        model(input_shape=[3], more_inputs=[[2]] * 16), LayerConfigError
    )
    assert "more_inputs must be a list" in fails(model(input_shape=[3], more_inputs={"a": 1}), LayerConfigError)
    assert "takes input_layer_2, but the model has 2 inputs" in fails(
        model(input_shape=[3], more_inputs=[[2]], layers=[{"id": 0, "kind": "Dense", "inputs": [-3]}]),
        LayerConfigError,
    )


def test_a_crash_inside_from_dict_still_becomes_a_share_link_error(monkeypatch):
    # from_dict should name every problem itself (an unhashable id once raised TypeError); if it ever
    # crashes again, a link must still fail as a NetbuilderError, never take the app down.
    token = encode(seed_spec())

    def crash(data):
        raise TypeError("unhashable type: 'list'")

    monkeypatch.setattr(ModelSpec, "from_dict", staticmethod(crash))
    assert fails(token) == "share link holds an invalid model (TypeError: unhashable type: 'list')"


def test_unhashable_layer_id_is_a_clean_error():
    assert fails(pack(b'{"model": {"layers": [{"id": [1], "kind": "Flatten"}]}}'), LayerConfigError) == (
        "layer id must be an integer from 0 to 999999"
    )


def test_aliases_are_stored_canonically_so_every_link_reads_back():
    spec = ModelSpec(input_shape=(3,)).add("Dense").update(0, activation="swish")
    assert spec.layers[0].activation == "silu"
    assert decode(encode(spec))[:2] == (spec, None)


# --- trained weights ---------------------------------------------------------------------------------
def test_trained_weights_travel_in_a_link_bit_for_bit():
    spec = seed_spec()
    weights = [w * 2 + np.float32(0.125) for w in built(spec).get_weights()]
    weights[0][0, 0] = np.float32(1e-45)  # the smallest subnormal survives too
    trained = spec.with_weights(weights)
    token, carried = link(trained, "[1]")
    assert carried and token == encode(trained, "[1]")
    back, text, *_ = decode(token)
    assert back == trained and back.trained and text == "[1]"
    for got, want in zip(back.weights.arrays, weights, strict=True):
        assert got.dtype == np.float32 and got.tobytes() == want.tobytes()
    assert decode(encode(spec))[0].weights is None  # an untrained model's link holds no weights


def test_weights_too_large_for_a_link_are_left_out():
    spec = ModelSpec((100,), (LayerSpec.make(0, "Dense", units=100),))  # 10,100 weights: about 54,000 characters
    rng = np.random.default_rng(0)  # random numbers: they do not compress
    trained = spec.with_weights(
        [rng.normal(size=(100, 100)).astype(np.float32), rng.normal(size=100).astype(np.float32)]
    )
    token, carried = link(trained)
    assert not carried and len(token) <= MAX_LINK_CHARS
    assert decode(token)[:2] == (spec, None)  # the model with its seed's weights


def test_damaged_weights_in_a_link():
    def with_weights(weights, model=None):
        return pack(json.dumps({"model": model or seed_spec().to_dict(), "weights": weights}).encode())

    assert fails(with_weights("!!!")) == "share link weights are damaged: not base64 of float32 numbers"
    assert fails(with_weights(base64.b64encode(bytes(8)).decode())) == "share link holds 2 weights; this model has 244"
    assert fails(with_weights(5)) == "share link weights must be base64 text, for a model that fits together"
    broken = {"input_shape": [3], "layers": [{"id": 0, "kind": "Dense", "units": 2, "built_for": [5]}]}
    assert fails(with_weights("", broken)) == "share link weights must be base64 text, for a model that fits together"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_weights_that_are_not_finite_are_refused(bad):
    spec = seed_spec()
    weights = np.concatenate([w.ravel() for w in built(spec).get_weights()])
    weights[[0, 100, 243]] = bad
    token = _token({"model": spec.to_dict(), "weights": base64.b64encode(weights.astype("<f4").tobytes()).decode()})
    assert fails(token, LayerConfigError) == "trained weights must be finite numbers; 3 of 244 are NaN or infinite."


# --- version 1: links made by the previous main -------------------------------------------------------
def test_version_1_links_made_by_the_previous_main_are_all_here():
    assert LINKS_V1["made_by"].endswith("(share link format 1)")
    links = LINKS_V1["links"]
    assert len(links) == 80 and all(link["token"].startswith("1.") for link in links)
    assert sum("output_for_random_1_batch_2" in link for link in links) >= 50
    assert sum(link["output_shape"] is None for link in links) >= 10  # broken models too
    assert any("input_dim" in layer for link in links for layer in link["model"]["layers"])


def _version_2_dict(model: dict) -> dict:
    """A stored version-1 model dict as version 2 writes it: a Dense's `input_dim: n` is `built_for: [n]`."""
    layers = [
        {
            **{k: v for k, v in layer.items() if k != "input_dim"},
            **({"built_for": [layer["input_dim"]]} if "input_dim" in layer else {}),
        }
        for layer in model["layers"]
    ]
    return {**model, "layers": layers}


def _old_params(spec: ModelSpec) -> int:
    """Parameters as the previous main counted them: every layer that runs, and a failing layer that came built
    (imported with a built-for shape) with its weights."""
    analysis = spec.analysis
    if analysis.ok:
        return analysis.total_params
    failing = spec.layers[analysis.issue.layer_index].to_layer()
    own = sum(failing.count_params_for(failing.built_shape)) if failing.built_shape is not None else 0
    return sum(r.params for r in analysis.layers[: analysis.issue.layer_index]) + own


@pytest.mark.parametrize("link", LINKS_V1["links"], ids=[link["label"] for link in LINKS_V1["links"]])
def test_version_1_link_opens_to_the_same_model_with_the_same_numbers(link):
    spec, text, *_ = decode(link["token"])
    expected = _version_2_dict(link["model"])
    assert spec.to_dict() == expected
    assert spec == ModelSpec.from_dict(expected)
    assert text == (link["input"] if input_fits(link["input"]) else None)
    analysis = spec.analysis
    assert (list(analysis.output_shape) if analysis.output_shape is not None else None) == link["output_shape"]
    assert _old_params(spec) == link["params"]
    if "output_for_random_1_batch_2" in link:
        # weights are drawn from the spec's seed, so the same seed must give the same numbers
        x = data.fill("random", spec.input_shape, batch=2, seed=1)
        np.testing.assert_allclose(
            built(spec).predict(x), np.array(link["output_for_random_1_batch_2"]), rtol=0, atol=1e-6
        )
    # a link made today is version 2 and reads back to the same model and input
    token = encode(spec, text)
    assert token.startswith("2.") and decode(token)[:2] == (spec, text)


def test_version_1_input_dim_becomes_built_for():
    v1 = pack(
        json.dumps(
            {"model": {"input_shape": [3], "layers": [{"id": 2, "kind": "Dense", "units": 4, "input_dim": 5}]}}
        ).encode(),
        "1",
    )
    spec = decode(v1).spec
    assert spec.layers == (LayerSpec.make(2, "Dense", built_for=(5,), units=4),)
    assert spec.analysis.issue.expected == "last axis of size 5"
    assert encode(spec).startswith("2.") and decode(encode(spec))[0] == spec
    for bad in (0, "5", [5], True):
        with pytest.raises(LayerConfigError):
            decode(
                pack(json.dumps({"model": {"layers": [{"id": 0, "kind": "Dense", "input_dim": bad}]}}).encode(), "1")
            )


def test_an_unedited_preset_too_large_for_a_link_goes_by_its_name_and_only_a_known_name_opens():
    from netbuilder.studio.presets import preset

    nasnet = preset("keras-nasnetlarge").spec  # 1,040 layers: 118,874 bytes of JSON
    with pytest.raises(ShareLinkError, match="too large for a link"):
        encode(nasnet)
    token = preset_link("keras-nasnetlarge")
    assert len(token) < 100
    shared = decode(token)
    assert shared.spec == nasnet and shared.preset == "keras-nasnetlarge" and shared.input_text == "random:17"
    for name in ("keras-resnet9000", "../../etc/passwd", 7, None, ["keras-vgg16"]):
        with pytest.raises(ShareLinkError, match="names no preset netbuilder has"):
            decode(_token({"preset": name}))
    with pytest.raises(ShareLinkError, match="only"):
        decode(_token({"preset": "keras-vgg16", "input": "[1]"}))
