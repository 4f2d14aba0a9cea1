"""netbuilder.share: tokens round-trip, stay deterministic and short, and hostile tokens fail cleanly."""

import base64
import json
import zlib

import pytest

from netbuilder import LayerConfigError, LimitError, NetbuilderError
from netbuilder.limits import MAX_LAYERS, MAX_LINK_CHARS, MAX_LINK_JSON_BYTES, MAX_SHARED_INPUT_CHARS
from netbuilder.share import PARAM, ShareLinkError, decode, encode, input_fits, share_url
from netbuilder.spec import LayerSpec, ModelSpec, seed_spec


def pack(raw: bytes, version="1") -> str:
    """A token holding `raw` as encode would pack it, for writing hostile payloads."""
    return version + "." + base64.urlsafe_b64encode(zlib.compress(raw, 9)).rstrip(b"=").decode()


def fails(token, cls=ShareLinkError) -> str:
    with pytest.raises(cls) as e:
        decode(token)
    return str(e.value)


def test_round_trip_with_and_without_input():
    spec = seed_spec()
    assert decode(encode(spec)) == (spec, None)
    assert decode(encode(spec, "[[[1, 2], [3, 4], [5, 6]]]")) == (spec, "[[[1, 2], [3, 4], [5, 6]]]")


def test_round_trip_keeps_every_setting():
    spec = ModelSpec(
        input_shape=(4, 2, 3),
        layers=(
            LayerSpec(7, "Flatten", data_format="channels_first"),
            LayerSpec(3, "Dense", units=5, activation="tanh", use_bias=False, input_dim=24),
            LayerSpec(9, "Activation", activation="softmax"),
        ),
        seed=123_456,
    )
    assert decode(encode(spec))[0] == spec


def test_token_is_deterministic_versioned_and_url_safe():
    token = encode(seed_spec(), "[1]")
    assert token == encode(seed_spec(), "[1]") and token.startswith("1.")
    assert set(token) <= set("0123456789.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_")
    assert encode(seed_spec()) != encode(seed_spec().with_seed(1))


def test_payload_is_compact_sorted_json():
    raw = zlib.decompress(base64.urlsafe_b64decode(encode(ModelSpec(input_shape=(2,)), "[1, 2]")[2:] + "=="))
    assert raw == b'{"input":"[1, 2]","model":{"input_shape":[2],"layers":[],"seed":0}}'


def test_long_input_text_is_left_out():
    text = "[" + "1, " * 1000 + "1]"
    assert len(text) > MAX_SHARED_INPUT_CHARS and not input_fits(text) and input_fits(None) and input_fits("[1]")
    assert decode(encode(seed_spec(), text)) == (seed_spec(), None)


def test_largest_model_still_fits_in_a_link():
    spec = ModelSpec(input_shape=(8,), layers=tuple(LayerSpec(i * 4999, "Dense", units=1 + (i * 7919) % 97) for i in range(MAX_LAYERS)))
    token = encode(spec.validate(), "[" + ", ".join(["-0.37"] * 399) + "]")
    assert len(token) <= MAX_LINK_CHARS and decode(token)[0] == spec


def test_encode_refuses_an_invalid_spec():
    with pytest.raises(NetbuilderError):
        encode(ModelSpec(seed=-1))


def test_share_url():
    assert share_url("https://netbuilder.app/", "1.abc") == "https://netbuilder.app/?model=1.abc"
    assert share_url("http://localhost:8501/?tab=x&model=old#top", "1.a-_") == "http://localhost:8501/?tab=x&model=1.a-_"
    assert PARAM == "model"


# --- hostile and damaged tokens -------------------------------------------------------------------
def test_damaged_tokens():
    good = encode(seed_spec())
    assert fails("") == "not a netbuilder share link (or one from a newer version)"
    assert fails("2." + good[2:]) == "not a netbuilder share link (or one from a newer version)"
    assert fails("1.abc$") == "share link is damaged: it has characters or a length base64url cannot have"
    assert fails("1.abcde") == "share link is damaged: it has characters or a length base64url cannot have"
    assert fails("1.abc=") == "share link is damaged: it has characters or a length base64url cannot have"
    assert fails(good[:-6]) == "share link is damaged: it is cut short or has extra data"
    assert fails(good + "AAAA") == "share link is damaged: it is cut short or has extra data"
    assert fails("1.AAAA") == "share link is damaged: it does not decompress"
    assert fails(pack(b"\xff\xfe")) == "share link is damaged: it is not UTF-8 text"
    assert fails(pack(b'{"model": ')) == "share link is damaged: it is not valid JSON"
    assert fails(pack(b'"\\"' * 10_000)) == "share link is damaged: it is not valid JSON"  # unterminated: no quadratic scan
    assert fails(None) == "a share link token must be text"
    assert decode("  " + good + "\n")[0] == seed_spec()  # pasted with whitespace around it


def test_size_bounds():
    assert fails("1." + "A" * MAX_LINK_CHARS) == f"share link is too long ({MAX_LINK_CHARS + 2:,} characters; at most {MAX_LINK_CHARS:,})"
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
    message = 'share link must hold {"model": ..., "input": ...} only'
    for doc in ([], {}, {"model": {}, "extra": 1}, "model", 5):
        assert fails(pack(json.dumps(doc).encode())) == message
    assert fails(pack(b'{"model": {}, "input": 5}')) == "share link input must be text of at most 2,000 characters"
    assert fails(pack(json.dumps({"model": {}, "input": "1" * 2001}).encode())).startswith("share link input must be text")


def test_invalid_models_are_rejected_by_the_spec():
    def model(**m):
        return pack(json.dumps({"model": m}).encode())

    assert fails(model(layers=[{"id": 0, "kind": "Dense", "units": 10**12}]), LimitError) == (
        "units=1,000,000,000,000 is above the limit of 65,536 per Dense"
    )
    many = [{"id": i, "kind": "Flatten"} for i in range(MAX_LAYERS + 1)]
    assert fails(model(layers=many), LimitError) == "a model holds at most 200 layers; this one has 201"
    # 5000 layers are stopped earlier, by the size bounds, before any JSON is parsed
    assert fails(model(layers=[{"id": 0, "kind": "Flatten"}] * 5000)) == f"share link expands to more than {MAX_LINK_JSON_BYTES:,} bytes"
    assert "seed must be an integer" in fails(model(seed="7"), LayerConfigError)
    assert "layer kind must be one of" in fails(model(layers=[{"id": 0, "kind": "Conv2D"}]), LayerConfigError)
    assert "input shape" in fails(model(input_shape=[10**9]), NetbuilderError)


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
    assert decode(encode(spec)) == (spec, None)
