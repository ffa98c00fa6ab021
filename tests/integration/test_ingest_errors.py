"""Each bad input gets its 4xx and a message that says what to fix, and leaves nothing queued."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(make_stack):
    return make_stack()  # no worker: anything enqueued would stay visible in the queue


def _err(resp):
    body = resp.get_json()
    assert body["success"] is False
    assert set(body["error"]) >= {"type", "code", "message", "request_id"}
    assert "timestamp" in body["meta"]
    return body["error"]


def _nothing_queued(stack):
    assert stack.queue_length() == 0
    assert stack.pending() == 0


CASES = [
    # (name, kwargs for stack.post, status, code, words the message must contain)
    ("unknown source", dict(source="nope", body={"email": "a@b.co"}), 404, "unknown_source", ["no such source"]),
    ("no token", dict(body={"email": "a@b.co"}, token=None), 401, "signature_invalid", ["X-Bridge-Token"]),
    ("wrong token", dict(body={"email": "a@b.co"}, token="guess"), 401, "signature_invalid", ["does not match"]),
    ("broken json", dict(raw=b'{"email": ', content_type="application/json"), 400, "body_invalid",
     ["not valid JSON"]),
    ("xml", dict(raw=b"<a/>", content_type="application/xml"), 415, "unsupported_media_type",
     ["application/json"]),
    ("json to a form-only source", dict(source="forms", body={"email": "a@b.co"}), 415, "unsupported_media_type",
     ["form adapter", "x-www-form-urlencoded"]),
    ("json array", dict(body=[1, 2]), 422, "PARAMETER_INVALID", ["JSON object"]),
    ("email not text", dict(body={"email": 42}), 422, "PARAMETER_INVALID", ["email"]),
    ("idempotency key too long", dict(body={"email": "a@b.co"}, headers={"Idempotency-Key": "k" * 300}), 422,
     "PARAMETER_INVALID", ["Idempotency-Key"]),
]


@pytest.mark.parametrize("name,kw,status,code,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_4xx_and_nothing_is_queued(stack, name, kw, status, code, words):
    resp = stack.post(**kw)
    assert resp.status_code == status, resp.get_json()
    err = _err(resp)
    assert err["code"] == code
    for w in words:
        assert w in err["message"], f"{w!r} not in {err['message']!r}"
    _nothing_queued(stack)


def test_body_over_the_limit_is_413(stack):
    big = json.dumps({"email": "a@b.co", "pad": "x" * (stack.config.max_body_bytes + 10)}).encode()
    resp = stack.post(raw=big)
    assert resp.status_code == 413
    assert _err(resp)["code"] == "payload_too_large"
    _nothing_queued(stack)


def test_token_is_never_echoed(stack):
    resp = stack.post(body={"email": "a@b.co"}, token="not-the-secret")
    text = resp.get_data(as_text=True)
    assert "not-the-secret" not in text and "test-token" not in text


def test_enqueue_failure_releases_the_claim_and_answers_503(stack):
    """The two-step path (a broker other than the store's Redis): claim, then enqueue."""
    state = stack.app.extensions["cstar_bridge"]
    real, state.messages = state.enqueue, None

    def broken(event_id):
        raise ConnectionError("broker down")

    state.enqueue = broken
    body = {"email": "z@b.co", "idempotency_key": "k-503"}
    resp = stack.post(body=body)
    assert resp.status_code == 503
    assert resp.headers.get("Retry-After")
    _nothing_queued(stack)
    state.enqueue = real
    again = stack.post(body=body)  # the sender's retry is a new claim, not a "duplicate" of nothing
    assert again.status_code == 202


def test_unknown_source_names_no_configured_source(stack):
    text = stack.post(source="nope", body={"email": "a@b.co"}).get_data(as_text=True)
    assert "demo" not in text and "forms" not in text


def test_health_and_readiness_name_no_source(stack):
    health, ready = stack.http.get("/healthz"), stack.http.get("/readyz")
    assert health.status_code == 200 and ready.status_code == 200
    assert ready.get_json()["data"]["status"] == "ready"
    for text in (health.get_data(as_text=True), ready.get_data(as_text=True)):
        assert "demo" not in text and "forms" not in text
    assert b"cstar_bridge_hooks_total" in stack.http.get("/metrics").data
