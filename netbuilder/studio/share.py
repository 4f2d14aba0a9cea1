"""Share links: a whole ModelSpec (and small input text) in one URL-safe token, decoded safely.

Token = "2." + base64url(zlib(compact JSON)) without padding; "2" is the format version. The JSON
is {"model": spec.to_dict()} plus "input" when input text is given and at most
MAX_SHARED_INPUT_CHARS long (longer text is left out: check `input_fits` to tell the user).
A trained model's weights ride along as "weights" (base64 of float32) when the link stays short enough, and the
Train page's choices as "train" (the settings that differ from its defaults) and "typed" ([x text, y text], when
the data is typed and short). A preset too large for a link of its own (NASNetLarge's 1,040 layers) goes by its name,
{"preset": key}, as long as it is unedited.
Version 1 tokens (before layer kinds declared their own settings) are still read: the same JSON,
where a Dense built for n inputs said `"input_dim": n` instead of `"built_for": [n]`.
Decoding trusts nothing: every bound is checked before the work it protects.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from ..engine.errors import NetbuilderError
from ..engine.limits import MAX_LINK_CHARS, MAX_LINK_JSON_BYTES, MAX_LINK_JSON_DEPTH, MAX_SHARED_INPUT_CHARS
from ..engine.serialization import json_too_deep
from . import presets
from .spec import ModelSpec
from .train import Settings

VERSION = "2"
READABLE = ("1", "2")
PARAM = "model"  # the query parameter that carries the token
_BODY = re.compile(r"[A-Za-z0-9_-]*")


class ShareLinkError(NetbuilderError):
    """A share link is malformed, too large, from an unknown version, or holds an invalid model."""


class Shared(NamedTuple):
    """What a link holds: the model, its input text, and the Train page's settings and typed data (None: not given)."""

    spec: ModelSpec
    input_text: str | None = None
    training: Settings | None = None
    typed: tuple[str, str] | None = None
    preset: str | None = None  # the preset it names, for a link by name


def input_fits(input_text: str | None) -> bool:
    """Whether `encode` will carry this input text (None and short text do)."""
    return input_text is None or (isinstance(input_text, str) and len(input_text) <= MAX_SHARED_INPUT_CHARS)


def encode(
    spec: ModelSpec,
    input_text: str | None = None,
    training: Settings | None = None,
    typed: tuple[str, str] | None = None,
) -> str:
    """The token for `spec` and, if they fit, its trained weights, `input_text` and the Train page's choices; equal
    inputs give equal tokens, and every token decodes (`link` also says what was left out)."""
    return link(spec, input_text, training, typed)[0]


def link(
    spec: ModelSpec,
    input_text: str | None = None,
    training: Settings | None = None,
    typed: tuple[str, str] | None = None,
) -> tuple[str, bool]:
    """(token, whether it carries the trained weights): a trained model too large for a link goes without them."""
    # validate() and from_dict() check the same fields, so what validates reads back (a property test proves it).
    doc = {"model": spec.validate().to_dict()}
    if input_text is not None and input_fits(input_text):
        doc["input"] = input_text
    if training is not None and training.check().to_dict():
        doc["train"] = training.to_dict()
    if training is not None and training.data == "typed" and typed is not None and all(map(input_fits, typed)):
        doc["typed"] = list(typed)
    if spec.weights is not None:
        weights = base64.b64encode(
            np.concatenate([a.ravel() for a in spec.weights.arrays]).astype("<f4").tobytes()
        ).decode()
        try:
            return _token({**doc, "weights": weights}), True
        except ShareLinkError:
            pass  # too large for a link: the model (with its seed's weights) goes alone
    return _token(doc), False


def preset_link(key: str) -> str:
    """The token of an unedited preset by its name (presets.MENU)."""
    if key not in presets.MENU:
        raise ShareLinkError(f"no preset is named {str(key)[:40]!r}")
    return _token({"preset": key})


def _token(doc: dict) -> str:
    # sort_keys and fixed separators: equal specs give byte-equal JSON, so equal tokens.
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()
    if len(raw) > MAX_LINK_JSON_BYTES:
        raise ShareLinkError(
            f"this model is too large for a link ({len(raw):,} bytes of JSON; at most {MAX_LINK_JSON_BYTES:,})"
        )
    token = VERSION + "." + base64.urlsafe_b64encode(zlib.compress(raw, 9)).rstrip(b"=").decode("ascii")
    if len(token) > MAX_LINK_CHARS:
        raise ShareLinkError(
            f"this model makes a {len(token):,}-character link; at most {MAX_LINK_CHARS:,} are allowed"
        )
    return token


def decode(token: str) -> Shared:
    """What a token holds, validated; ShareLinkError or another NetbuilderError otherwise."""
    if not isinstance(token, str):
        raise ShareLinkError("a share link token must be text")
    if len(token) > MAX_LINK_CHARS:
        raise ShareLinkError(f"share link is too long ({len(token):,} characters; at most {MAX_LINK_CHARS:,})")
    version, dot, body = token.strip().partition(".")
    if not dot or version not in READABLE:
        raise ShareLinkError("not a netbuilder share link (or one from a newer version)")
    if not _BODY.fullmatch(body) or len(body) % 4 == 1:
        raise ShareLinkError("share link is damaged: it has characters or a length base64url cannot have")
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise ShareLinkError("share link is damaged: it is not valid base64url") from None
    raw = _inflate(packed)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ShareLinkError("share link is damaged: it is not UTF-8 text") from None
    if json_too_deep(text, MAX_LINK_JSON_DEPTH):
        raise ShareLinkError(f"share link is nested more than {MAX_LINK_JSON_DEPTH} levels deep")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError cannot happen after json_too_deep; kept as a backstop
        raise ShareLinkError("share link is damaged: it is not valid JSON") from None
    if isinstance(doc, dict) and set(doc) == {"preset"}:
        if not isinstance(doc["preset"], str) or doc["preset"] not in presets.MENU:
            raise ShareLinkError(f"share link names no preset netbuilder has ({str(doc['preset'])[:40]!r})")
        chosen = presets.preset(doc["preset"])
        return Shared(chosen.spec, chosen.input_text, preset=doc["preset"])
    if (
        not isinstance(doc, dict)
        or "model" not in doc
        or not set(doc) <= {"model", "input", "weights", "train", "typed"}
    ):
        raise ShareLinkError(
            'share link must hold {"model": ..., "input": ..., "weights": ..., "train": ..., "typed": ...} only, '
            'or {"preset": ...}'
        )
    input_text = doc.get("input")
    if input_text is not None and not (isinstance(input_text, str) and len(input_text) <= MAX_SHARED_INPUT_CHARS):
        raise ShareLinkError(f"share link input must be text of at most {MAX_SHARED_INPUT_CHARS:,} characters")
    try:
        spec = ModelSpec.from_dict(_from_version_1(doc["model"]) if version == "1" else doc["model"])
    except NetbuilderError:
        raise
    except (TypeError, KeyError, AttributeError, IndexError, OverflowError) as e:
        # from_dict should say what is wrong itself; a link must never crash the app when it does not.
        raise ShareLinkError(f"share link holds an invalid model ({type(e).__name__}: {str(e)[:80]})") from None
    if "weights" in doc:
        spec = spec.with_weights(_weights(doc["weights"], spec))
    training = Settings.from_dict(doc["train"]) if "train" in doc else None
    typed = doc.get("typed")
    if typed is not None and not (
        isinstance(typed, list)
        and len(typed) == 2
        and all(isinstance(t, str) for t in typed)
        and all(map(input_fits, typed))
    ):
        raise ShareLinkError(
            f"share link's typed data must be two texts of at most {MAX_SHARED_INPUT_CHARS:,} characters"
        )
    return Shared(spec, input_text, training, tuple(typed) if typed is not None else None)


def _weights(text, spec: ModelSpec) -> list[np.ndarray]:
    """Trained weights from a link: base64 of little-endian float32, split by the model's weight shapes."""
    shapes = spec.weight_shapes()
    if not isinstance(text, str) or shapes is None:
        raise ShareLinkError("share link weights must be base64 text, for a model that fits together")
    try:
        flat = np.frombuffer(base64.b64decode(text, validate=True), dtype="<f4")
    except (binascii.Error, ValueError):
        raise ShareLinkError("share link weights are damaged: not base64 of float32 numbers") from None
    sizes = [int(np.prod(shape)) for shape in shapes]
    if flat.size != sum(sizes):
        raise ShareLinkError(f"share link holds {flat.size:,} weights; this model has {sum(sizes):,}")
    return [part.reshape(shape) for part, shape in zip(np.split(flat, np.cumsum(sizes)[:-1]), shapes)]


V1_SETTINGS = {"Dense": ("units", "activation", "use_bias"), "Flatten": ("data_format",), "Activation": ("activation",)}


def _from_version_1(model):
    """A version-1 model dict in today's form. Version 1 kept only a kind's own settings (others were ignored),
    and a Dense built for n inputs said `"input_dim": n` where today's says `"built_for": [n]`."""
    if not isinstance(model, dict) or not isinstance(model.get("layers"), list):
        return model
    layers = []
    for layer in model["layers"]:
        if isinstance(layer, dict) and layer.get("kind") in V1_SETTINGS:
            kept = {k: v for k, v in layer.items() if k in ("id", "kind", *V1_SETTINGS[layer["kind"]])}
            if layer["kind"] == "Dense" and layer.get("input_dim") is not None:
                kept["built_for"] = [layer["input_dim"]]
            layer = kept
        layers.append(layer)
    return {**model, "layers": layers}


def _inflate(packed: bytes) -> bytes:
    """zlib-decompress at most MAX_LINK_JSON_BYTES; a bomb, a truncated or padded stream is an error."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(packed, MAX_LINK_JSON_BYTES)
    except zlib.error:
        raise ShareLinkError("share link is damaged: it does not decompress") from None
    if inflater.unconsumed_tail:
        raise ShareLinkError(f"share link expands to more than {MAX_LINK_JSON_BYTES:,} bytes")
    if not inflater.eof or inflater.unused_data:
        raise ShareLinkError("share link is damaged: it is cut short or has extra data")
    return raw


def share_url(base_url: str, token: str) -> str:
    """`base_url` with ?model=<token> (replacing an old one, keeping other query parameters)."""
    parts = urlsplit(base_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != PARAM]
    return urlunsplit(parts._replace(query=urlencode([*query, (PARAM, token)]), fragment=""))
