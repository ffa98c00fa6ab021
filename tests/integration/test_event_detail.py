"""What an event shows people (`GET /events/<id>`, the console): the raw body capped, no credential or
signature header ever stored, and every configured secret redacted wherever it appears."""

from __future__ import annotations

import json

import pytest

from bridge.event_detail import RAW_KEEP
from tests.support.stack import ADMIN, TOKEN

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {ADMIN}"}
HMAC_SOURCES = {"demo": {"adapter": "json", "verify": {"scheme": "token", "secret": TOKEN}},
                "custom": {"adapter": "json", "verify": {"scheme": "none", "header": "X-Odd-Digest"}}}


def test_raw_body_and_headers_are_kept_without_credentials_or_secrets(make_stack):
    stack = make_stack(sources=HMAC_SOURCES)
    body = {"email": "raw@detail.test", "note": f"the sender pasted {TOKEN} and {ADMIN} here"}
    eid = stack.accepted_id(stack.post(body=body, headers={"User-Agent": "detail-test/1",
                                                           "X-Webhook-Signature": "v1,abc"}))
    stored = stack.redis.hgetall(f"{stack.prefix}event:{eid}")
    stored_text = json.dumps({k.decode(): v.decode() for k, v in stored.items()})
    assert "x-bridge-token" not in stored_text.lower() and "v1,abc" not in stored_text

    shown = stack.http.get(f"/events/{eid}", headers=AUTH).get_json()["data"]
    text = json.dumps(shown)
    assert TOKEN not in text and ADMIN not in text
    assert "the sender pasted [redacted] and [redacted] here" in shown["raw_body"]
    assert shown["headers"]["user-agent"] == "detail-test/1"
    assert shown["raw_size"] == str(len(json.dumps(body))) and not shown["raw_truncated"]


def test_a_header_the_verify_config_names_is_not_stored(make_stack):
    stack = make_stack(sources=HMAC_SOURCES)
    eid = stack.accepted_id(stack.post("custom", body={"email": "odd@detail.test"}, token=None,
                                       headers={"X-Odd-Digest": "deadbeef"}))
    assert "deadbeef" not in json.dumps(stack.http.get(f"/events/{eid}", headers=AUTH).get_json())


def test_a_large_body_is_capped(make_stack):
    stack = make_stack()
    big = {"email": "big@detail.test", "filler": "x" * (RAW_KEEP * 2)}
    eid = stack.accepted_id(stack.post(body=big))
    shown = stack.http.get(f"/events/{eid}", headers=AUTH).get_json()["data"]
    assert len(shown["raw_body"]) == RAW_KEEP and shown["raw_truncated"] == "1"
    assert int(shown["raw_size"]) > RAW_KEEP
