"""Promise 5 over real sockets: the Hypothesis fuzz of the ingress, sent as raw bytes to a real
`cstar-bridge web` (gunicorn, gevent workers), with the framing among the strategies: Content-Length,
chunked (any chunk size), a body shorter than its Content-Length, a chunked body cut before its last
chunk, and bodies over max_body_bytes. Never a 5xx; never a 2xx for a body not received in full."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults.test_bad_input_and_secrets import SOURCES, bodies, content_types, header_text
from tests.support.stack import TOKEN, BridgeStack
from tests.support.web import WebServer, chunked, post_head, raw_request

pytestmark = [pytest.mark.integration, pytest.mark.faults]

LIMIT = 16 * 1024  # max_body_bytes, small so that over-limit bodies are cheap (only sizes change)
FRAMINGS = ("length", "chunked", "short", "chunked-cut")


@pytest.fixture(scope="module")
def web(tmp_path_factory, redis_url, sandbox):
    stack = BridgeStack(tmp_path_factory.mktemp("fuzzweb"), redis_url, sandbox, sources=SOURCES,
                        settings={"max_body_bytes": LIMIT})
    with WebServer(stack, stack.tmp / "web.log") as srv:
        yield srv
    text = srv.log_text()
    assert "Traceback" not in text, text[text.index("Traceback") - 500:][:4000]


big_bodies = st.integers(LIMIT + 1, 3 * LIMIT).map(lambda n: b'{"email": "a@b.co", "pad": "' + b"x" * n + b'"}')


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(sorted(SOURCES) + ["missing"]), body=bodies | big_bodies, content_type=content_types,
       framing=st.sampled_from(FRAMINGS), chunk=st.integers(1, 4096), cut=st.integers(1, 64),
       key=st.none() | header_text)
def test_raw_requests_to_real_gunicorn_get_a_2xx_only_in_full_else_a_clear_4xx(web, source, body, content_type,
                                                                               framing, chunk, cut, key):
    headers = {"X-Bridge-Token": TOKEN}
    if key:
        headers["Idempotency-Key"] = key.strip() or "k"
    path = f"/hooks/{source}"
    if framing == "length":
        head, parts = post_head(path, content_type=content_type, length=len(body), headers=headers), [body]
    elif framing == "short":  # the client announces more than it sends, then half-closes
        head, parts = post_head(path, content_type=content_type, length=len(body) + cut, headers=headers), [body]
    else:
        parts = chunked(body, size=chunk)
        if framing == "chunked-cut":
            parts = parts[:-1]
        head = post_head(path, content_type=content_type, chunked=True, headers=headers)
    resp = raw_request(web.host, web.port, head, parts)

    assert resp.status < 500, resp.body[:500]
    payload = resp.json()  # every answer is the JSON envelope
    if resp.status >= 400:
        assert payload["error"]["message"] and payload["error"]["code"]
    else:
        assert payload["data"]["eventId"].startswith("evt_")
    if framing in ("short", "chunked-cut"):
        assert 400 <= resp.status < 500, f"a body not received in full got {resp.status}"
    if len(body) > LIMIT and source != "missing":
        assert resp.status in (413, 400), resp.status  # 400: also cut short
