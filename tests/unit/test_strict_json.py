"""Strict JSON (RFC 8259) within the limits the ingress and the worker share (workers.strict_json):
each refusal is a 400 at the ingress naming the problem, never a 500, and the worker decodes exactly
what the ingress accepted."""

from __future__ import annotations

import json

import pytest

from bridge.errors import BodyUnreadable
from bridge.parsing import parse_body
from workers import strict_json
from workers.strict_json import MAX_DEPTH, JsonRefused

REFUSED = [
    ("a 5000-digit integer", b'{"email": "a@b.co", "n": 1' + b"0" * 4999 + b"}", "a number of 5000 characters"),
    ("a 101-digit negative integer", b"[-" + b"1" * 100 + b"]", "a number of 101 characters"),
    ("a float with 200 digits", b"[0." + b"1" * 200 + b"]", "a number of 202 characters"),
    ("NaN", b'{"seats": NaN}', "NaN is not a JSON value"),
    ("Infinity", b'{"seats": Infinity}', "Infinity is not a JSON value"),
    ("-Infinity", b'{"seats": -Infinity}', "-Infinity is not a JSON value"),
    ("a float that overflows", b'{"seats": 1e999}', "the number 1e999 is out of range"),
    ("a float that overflows, upper case", b'{"seats": -2E+400}', "the number -2E+400 is out of range"),
    ("a lone high surrogate", b'{"email": "a@b.co", "name": "x\\ud800"}', "name: the text holds a lone UTF-16 surrogate"),
    ("a lone low surrogate in a list", b'{"tags": ["ok", "\\udc00"]}', "tags[1]: the text holds a lone UTF-16 surrogate"),
    ("a reversed pair", b'{"a": {"b": "\\ude00\\ud83d"}}', "a.b: the text holds a lone UTF-16 surrogate"),
    ("a lone surrogate in a key", b'{"\\ud800": 1}', "the body: a key holds a lone UTF-16 surrogate"),
    ("65 levels of arrays", b"[" * 65 + b"]" * 65, f"nested too deeply (more than {MAX_DEPTH} levels)"),
    ("65 levels of objects", b'{"a":' * 65 + b"1" + b"}" * 65, f"nested too deeply (more than {MAX_DEPTH} levels)"),
    ("960 levels (passed the ingress before, then RecursionError in the worker)",
     b"[" * 960 + b"]" * 960, "nested too deeply"),
    ("100 000 levels", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
]


@pytest.mark.parametrize(("raw", "words"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_the_ingress_refuses_with_a_400_naming_the_problem(raw: bytes, words: str) -> None:
    with pytest.raises(BodyUnreadable) as caught:
        parse_body("application/json", raw)
    assert caught.value.status == 400
    assert words in caught.value.message, caught.value.message
    assert caught.value.message.startswith("the JSON body was refused: ")


ACCEPTED = [
    ("64 levels", b"[" * 64 + b"]" * 64),
    ("brackets inside strings do not count", json.dumps({"a": "[" * 500, "b": '\\"[[[' * 50}).encode()),
    ("an escaped backslash before u is not a surrogate", b'{"x": "\\\\ud800"}'),
    ("a proper surrogate pair (emoji)", b'{"x": "\\ud83d\\ude00 \\uD83D\\uDE00"}'),
    ("a 100-character number", b"[" + b"9" * 100 + b"]"),
    ("a large but finite float", b"[1.7e308, -1e-400, 12345678901234567890]"),
    ("digits in text are text", json.dumps({"id": "1" * 5000, "e": "E+999", "nan": "NaN"}).encode()),
]


@pytest.mark.parametrize("raw", [a[1] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED])
def test_ordinary_json_parses_as_json_loads_does(raw: bytes) -> None:
    assert parse_body("application/json", raw).payload == json.loads(raw)


def test_the_worker_decodes_what_the_ingress_stored_and_refuses_the_same_things() -> None:
    data = {"email": "a@b.co", "deep": json.loads(b"[" * 62 + b"]" * 62), "emoji": "\U0001F600", "n": 10**99}
    text = strict_json.encode_data(data, max_body_bytes=1024 * 1024)
    assert strict_json.decode_data(text, max_body_bytes=1024 * 1024) == data
    too_deep = {"deep": json.loads(b"[" * 64 + b"]" * 64)}
    with pytest.raises(JsonRefused, match="deep.*nested too deeply"):
        strict_json.encode_data(too_deep, max_body_bytes=1024 * 1024)
    with pytest.raises(JsonRefused, match="nested too deeply"):
        strict_json.decode_data(json.dumps(too_deep), max_body_bytes=1024 * 1024)
    with pytest.raises(JsonRefused, match="name: the text holds a lone UTF-16 surrogate"):
        strict_json.encode_data({"name": "x\ud800"}, max_body_bytes=1024 * 1024)
    with pytest.raises(JsonRefused, match="NaN is not a JSON value"):
        strict_json.decode_data('{"a": NaN}', max_body_bytes=1024 * 1024)


def test_stored_data_over_the_shared_size_limit_is_refused_on_both_sides() -> None:
    data = {"x": "é" * 6000}  # 6 bytes stored per character
    limit = 4096  # max_body_bytes; stored data may take STORED_FACTOR times that
    with pytest.raises(JsonRefused) as caught:
        strict_json.encode_data(data, max_body_bytes=limit)
    assert caught.value.too_large
    with pytest.raises(JsonRefused) as caught:
        strict_json.decode_data(json.dumps(data), max_body_bytes=limit)
    assert caught.value.too_large
    small = {"x": "é" * 100}
    assert strict_json.decode_data(strict_json.encode_data(small, max_body_bytes=limit), max_body_bytes=limit) == small


def test_nesting_depth_from_the_text_matches_a_walk_of_the_value() -> None:
    """The fast text-only depth check agrees with the exact walk on mixed shapes."""
    for depth in (1, 2, 10, 63, 64, 65, 80):
        nested: object = "x"
        for i in range(depth):
            nested = {"k": nested, "s": "]}[{"} if i % 2 else [nested, "\\\"[", 1]
        text = json.dumps(nested)
        refused = False
        try:
            strict_json.loads(text)
        except JsonRefused:
            refused = True
        assert refused == (depth > MAX_DEPTH), depth
