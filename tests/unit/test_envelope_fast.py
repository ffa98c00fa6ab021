"""`load_envelope` (the ingest's precompiled envelope check) agrees with `ENVELOPE.load` (marshmallow,
the validator of record and the OpenAPI source): the same envelopes accepted, with the same result,
and the same ones refused, with marshmallow's messages."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from bridge import schemas
from bridge.schemas import ENVELOPE, load_envelope


def outcome(fn: Any, envelope: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", fn(envelope)
    except ValidationError as exc:
        return "error", exc.messages


TEXTS = ["", "a", "form.submitted", "a b", "x" * 64, "x" * 65, "x" * 128, "x" * 129, "é", "ok\n", "*:-_.",
         "a" * 255, "a" * 256, "a" * 512, "a" * 513, b"bytes", 7, None, ["list"], True]
DATA = [{}, {"email": "a@b.c"}, {"email": None}, {"email": 5}, {"email": "x" * 320}, {"email": "x" * 321},
        {"email": ["a@b.c"]}, {1: "int key"}, {"nested": {"email": 5}}, OrderedDict(email="a@b.c"), None,
        "text", ["a"], {"name": "x", "email": "a@b.c", "tags": ["t"]}, {b"k": "bytes key"}]


def envelopes() -> Any:
    for source, type_ in itertools.product(TEXTS, TEXTS):
        yield {"source": source, "type": type_, "data": {"email": "a@b.c"}, "delivery_id": None,
               "idempotency_key": None}
    for data, extra in itertools.product(DATA, TEXTS):
        yield {"source": "src", "type": "form.submitted", "data": data, "delivery_id": extra,
               "idempotency_key": None}
        yield {"source": "src", "type": "form.submitted", "data": data, "delivery_id": None,
               "idempotency_key": extra}
    yield {"source": "src", "type": "t", "data": {}}                       # optional fields absent
    yield {"source": "src", "type": "t"}                                   # data missing
    yield {"type": "t", "data": {}}                                        # source missing
    yield {"source": "src", "type": "t", "data": {}, "unknown": 1}         # unknown field


def test_fast_check_and_marshmallow_agree() -> None:
    cases = list(envelopes())
    differ = [e for e in cases if outcome(load_envelope, e) != outcome(ENVELOPE.load, e)]
    assert len(cases) > 900 and differ == []


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
field_text = st.one_of(st.none(), st.text(max_size=300), st.from_regex(r"[A-Za-z0-9_.:*-]{1,130}", fullmatch=True),
                       st.integers(), st.binary(max_size=5))


@settings(max_examples=400, deadline=None)
@given(source=field_text, type_=field_text, delivery_id=field_text, key=field_text,
       data=st.dictionaries(st.sampled_from(["email", "name", "x"]) | st.text(max_size=5), json_values, max_size=4))
def test_agree_on_generated_envelopes(source: Any, type_: Any, delivery_id: Any, key: Any, data: Any) -> None:
    envelope = {"source": source, "type": type_, "data": data, "delivery_id": delivery_id, "idempotency_key": key}
    assert outcome(load_envelope, envelope) == outcome(ENVELOPE.load, envelope)


def test_a_plain_envelope_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control for the agreement tests: they would pass trivially if every envelope went to
    marshmallow; an ordinary delivery must not."""
    calls: list[Any] = []
    monkeypatch.setattr(schemas.ENVELOPE, "load", lambda e: calls.append(e) or {})
    envelope = {"source": "src", "type": "form.submitted", "data": {"email": "a@b.c", "n": [1]},
                "delivery_id": "d1", "idempotency_key": None}
    loaded = load_envelope(envelope)
    assert calls == []
    assert loaded == envelope and loaded["data"] is not envelope["data"]
    load_envelope({**envelope, "type": "bad type"})
    assert len(calls) == 1


def test_the_fast_check_reads_its_limits_from_the_schema() -> None:
    assert schemas._limits("source")[:2] == (1, 64)
    assert schemas._limits("type")[2] is not None
    assert schemas._limits("idempotency_key")[:2] == (1, 255)
    assert schemas._limits("delivery_id")[:2] == (None, 512)
