"""All of the body, or a 4xx — over real sockets to real gunicorn (`cstar-bridge web`, and the server
command `cstar-bridge dev` runs), whatever the framing. Every error response is counted."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.cli.serve import gunicorn_command
from tests.support.stack import TOKEN, BridgeStack
from tests.support.web import WebServer, chunked, post_head, raw_request

pytestmark = pytest.mark.integration

LIMIT = 64 * 1024  # max_body_bytes, smaller than the default so the test stays quick (only sizes change)
AUTH = {"X-Bridge-Token": TOKEN}
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_url, sandbox):
    s = BridgeStack(tmp_path_factory.mktemp("bodies"), redis_url, sandbox, settings={"max_body_bytes": LIMIT})
    yield s
    s.close()


@pytest.fixture(scope="module", params=["web", "dev"])
def server(request, stack):
    """`cstar-bridge web` as users run it; and the gunicorn command line `cstar-bridge dev` starts."""
    log = stack.tmp / f"{request.param}.log"
    if request.param == "web":
        srv = WebServer(stack, log)
    else:
        srv = WebServer(stack, log, args=gunicorn_command("127.0.0.1", "{port}", 1))  # type: ignore[arg-type]
    with srv:
        yield srv


def _form(n_pad: int) -> bytes:
    """A form delivery; each one unique (the stack is shared, and a repeat would be a duplicate)."""
    return urlencode({"email": f"ada-{uuid.uuid4().hex[:8]}@example.com", "pad": "x" * n_pad,
                      "last_name": "Lovelace"}).encode()


def test_chunked_form_over_the_limit_is_413_not_a_truncated_202(server, stack):
    body = _form(2 * LIMIT)
    before = stack.queue_length()
    resp = raw_request(server.host, server.port, post_head("/hooks/forms", content_type=FORM, chunked=True,
                                                           headers=AUTH), chunked(body))
    assert resp.status == 413, resp.body
    assert resp.json()["error"]["code"] == "payload_too_large"
    assert stack.queue_length() == before


def test_chunked_json_over_the_limit_is_413(server, stack):
    body = json.dumps({"email": "ada@example.com", "pad": "x" * (2 * LIMIT)}).encode()
    resp = raw_request(server.host, server.port, post_head("/hooks/demo", content_type="application/json",
                                                           chunked=True, headers=AUTH), chunked(body))
    assert resp.status == 413, resp.body


def test_chunked_body_within_the_limit_is_accepted_whole(server, stack):
    body = _form(LIMIT // 2)
    resp = raw_request(server.host, server.port, post_head("/hooks/forms", content_type=FORM, chunked=True,
                                                           headers=AUTH), chunked(body, size=1000))
    assert resp.status == 202, resp.body
    data = stack.event(resp.json()["data"]["eventId"])["data"]
    data = json.loads(data) if isinstance(data, str) else data
    assert data["last_name"] == "Lovelace" and len(data["fields"]["pad"]) == LIMIT // 2


def test_content_length_over_the_limit_is_413_before_the_body_is_read(server):
    head = post_head("/hooks/demo", content_type="application/json", length=50 * LIMIT, headers=AUTH)
    resp = raw_request(server.host, server.port, head, [b"{"])  # one byte of 3 MiB sent: the answer is early
    assert resp.status == 413, resp.body
    assert resp.json()["error"]["code"] == "payload_too_large"


def test_body_shorter_than_its_content_length_is_400_never_accepted(server, stack):
    body = _form(10)
    before = stack.queue_length()
    head = post_head("/hooks/forms", content_type=FORM, length=len(body), headers=AUTH)
    resp = raw_request(server.host, server.port, head, [body[:len(body) - 20]], half_close=True)
    assert resp.status == 400, resp.body
    err = resp.json()["error"]
    assert err["code"] == "body_incomplete" and "Content-Length" in err["message"]
    assert stack.queue_length() == before


def test_chunked_body_cut_before_its_last_chunk_is_400(server):
    body = _form(3000)
    parts = chunked(body, size=1000)[:-1]  # no terminating zero chunk, then the client half-closes
    resp = raw_request(server.host, server.port, post_head("/hooks/forms", content_type=FORM, chunked=True,
                                                           headers=AUTH), parts)
    assert resp.status == 400, resp.body
    assert resp.json()["error"]["code"] == "body_incomplete"


def _errors(text: str) -> dict[tuple[str, str], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "cstar_bridge_http_errors_total":
                out[(s.labels["status"], s.labels["code"])] = s.value
    return out


def test_every_error_response_is_counted_413_included(server):
    before = _errors(httpx.get(server.url + "/metrics", timeout=10).text)
    head = post_head("/hooks/demo", content_type="application/json", length=50 * LIMIT, headers=AUTH)
    assert raw_request(server.host, server.port, head, [b"{"]).status == 413
    assert raw_request(server.host, server.port, post_head("/hooks/demo", content_type="application/json",
                                                           chunked=True, headers=AUTH),
                       chunked(b"[" + b"1," * LIMIT + b"1]")).status == 413
    assert httpx.post(server.url + "/hooks/nope", json={}, timeout=10).status_code == 404
    assert httpx.post(server.url + "/hooks/demo", json={}, timeout=10).status_code == 401
    assert httpx.get(server.url + "/no/such/path", timeout=10).status_code == 404
    after = _errors(httpx.get(server.url + "/metrics", timeout=10).text)

    def grew(key: tuple[str, str]) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew(("413", "payload_too_large")) == 2
    assert grew(("404", "unknown_source")) == 1
    assert grew(("401", "signature_invalid")) == 1
    assert grew(("404", "not_found")) == 1


# --- the field cap (max_fields, 1000 by default): bounded work per request ----------------------

def _multipart(n: int) -> tuple[bytes, str]:
    parts = [b'--zz\r\nContent-Disposition: form-data; name="email"\r\n\r\nm@example.com\r\n']
    parts += [b'--zz\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i for i in range(n - 1)]
    return b"".join(parts) + b"--zz--\r\n", "multipart/form-data; boundary=zz"


def _post(server, source: str, body: bytes, content_type: str) -> httpx.Response:
    return httpx.post(f"{server.url}/hooks/{source}", content=body, timeout=60,
                      headers={**AUTH, "Content-Type": content_type})


@pytest.mark.parametrize("kind", ["urlencoded", "multipart", "json"])
def test_a_body_with_more_fields_than_max_fields_is_413_and_at_the_cap_is_accepted(server, stack, kind):
    cap = stack.config.max_json_fields if kind == "json" else stack.config.max_fields

    def body(n: int) -> tuple[str, bytes, str]:
        tag = uuid.uuid4().hex[:8]
        if kind == "urlencoded":
            return "forms", urlencode([("email", f"u{tag}@example.com")] + [(f"f{i}", "v") for i in range(n - 1)]
                                      ).encode(), FORM
        if kind == "multipart":
            raw, ct = _multipart(n)
            return "forms", raw.replace(b"m@example.com", f"m{tag}@example.com".encode()), ct
        return "demo", json.dumps({"email": f"j{tag}@example.com", **{f"f{i}": 1 for i in range(n - 1)}}).encode(), \
            "application/json"

    over = _post(server, *body(cap + 1))
    assert over.status_code == 413, over.text
    err = over.json()["error"]
    assert err["code"] == "too_many_fields"
    assert ("max_json_fields" if kind == "json" else "max_fields") in err["message"]
    at_cap = _post(server, *body(cap))
    assert at_cap.status_code == 202, at_cap.text
