"""Promise 5: bad input gets a clear 4xx and never a 500; secrets and API keys never appear in logs,
responses or stored events."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.stack import TOKEN

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ADAPTERS = ["json", "form", "typeform", "tally", "jotform", "webflow", "google_forms", "calendly", "stripe",
            "hubspot", "netlify", "standard_webhooks"]
SOURCES = {f"open-{a}": {"adapter": a, "verify": "none"} for a in ADAPTERS}
SOURCES["demo"] = {"adapter": "json", "verify": {"scheme": "token", "secret": TOKEN}}
SOURCES["signed"] = {"adapter": "typeform", "verify": {"scheme": "typeform", "secret": "tf-secret-value-123"}}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4),
    max_leaves=20)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(["email", "name", "form_response", "data", "type", "rawRequest", "payload",
                                     "event", "eventType", "fields", "idempotency_key"]),
                    json_values, max_size=5).map(lambda d: json.dumps(d).encode()),
)
content_types = st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain",
                                 "multipart/form-data", "multipart/form-data; boundary=zz", "", "application/xml",
                                 "application/json; charset=latin-1", "application/json; charset=nope"])


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory, redis_url, sandbox):
    from tests.support.stack import BridgeStack

    return BridgeStack(tmp_path_factory.mktemp("fuzz"), redis_url, sandbox, sources=SOURCES, default_worker=True)


# What can travel in an HTTP header value (no control characters: clients cannot send them).
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(sorted(SOURCES) + ["missing"]), body=bodies, content_type=content_types,
       key=st.none() | header_text, signature=st.none() | header_text)
def test_any_request_gets_a_2xx_or_a_clear_4xx_never_a_500(fuzz_stack, source, body, content_type, key, signature):
    headers = {"X-Bridge-Token": TOKEN}
    if key is not None:
        headers["Idempotency-Key"] = key
    if signature is not None:
        headers["Typeform-Signature"] = signature
    resp = fuzz_stack.http.post(f"/hooks/{source}", data=body, headers=headers, content_type=content_type)
    assert resp.status_code < 500, resp.get_data(as_text=True)[:500]
    payload = resp.get_json()
    assert payload is not None, "every answer is the JSON envelope"
    if resp.status_code >= 400:
        err = payload["error"]
        assert err["message"] and err["code"] and err["type"]
        assert "Traceback" not in err["message"]
    else:
        assert payload["success"] is True and payload["data"]["eventId"].startswith("evt_")


API_KEY = "sk_live_TOPSECRET_9f8e7d6c"
SOURCE_TOKEN = "source-token-TOPSECRET-123"
ADMIN_TOKEN = "admin-TOPSECRET-456"


def test_secrets_never_appear_in_responses_stored_events_or_worker_logs(make_stack):
    stack = make_stack(default_worker=True, cstar={"api_key": API_KEY},
                       sources={"demo": {"adapter": "json", "verify": {"scheme": "token", "secret": SOURCE_TOKEN}},
                                "signed": {"adapter": "typeform",
                                           "verify": {"scheme": "typeform", "secret": "tf-secret-value-123"}}})
    worker = stack.start_worker(concurrency=1)
    texts = []
    ok = stack.post(body={"email": "leak@secret.test", "note": "n"}, token=SOURCE_TOKEN)
    eid = stack.accepted_id(ok)
    texts.append(ok.get_data(as_text=True))
    for resp in (stack.post(body={"email": "x@y.z"}, token="wrong-token"),
                 stack.post(body={"email": "x@y.z"}, token=None),
                 stack.post("signed", raw=b'{"form_response": {}}', token=None,
                            headers={"Typeform-Signature": "sha256=AAAA"}),
                 stack.http.get(f"/events/{eid}", headers={"Authorization": "Bearer wrong"}),
                 stack.http.get("/metrics"), stack.http.get("/readyz")):
        assert resp.status_code < 500
        texts.append(resp.get_data(as_text=True))

    # The sandbox refuses the unknown key (401): a permanent error, dead-lettered with the API's words.
    events = stack.wait_for([eid], statuses=("dead",))
    assert events[eid]["error"]["status"] == 401
    admin = stack.http.get(f"/events/{eid}", headers={"Authorization": "Bearer test-admin"})
    texts.append(admin.get_data(as_text=True))
    texts.append(json.dumps(stack.http.get("/events?status=dead",
                                           headers={"Authorization": "Bearer test-admin"}).get_json()))
    for key in stack.redis.scan_iter(match=f"{stack.prefix}*"):  # everything the bridge stored
        kind = stack.redis.type(key)
        if kind == b"hash":
            texts.append(repr(stack.redis.hgetall(key)))
        elif kind == b"string":
            texts.append(repr(stack.redis.get(key)))
        elif kind == b"stream":
            texts.append(repr(stack.redis.xrange(key)))
    worker.stop()
    texts.append(worker.log_text())
    texts.append(repr(stack.config))
    blob = "\n".join(texts)
    for secret in (API_KEY, SOURCE_TOKEN, "tf-secret-value-123", "TOPSECRET"):
        assert secret not in blob, f"{secret!r} leaked"
    assert "Invalid or expired API key" in blob  # the API's reason is kept, the key is not
