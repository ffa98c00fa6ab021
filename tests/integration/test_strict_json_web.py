"""Issue 12, "No 5xx, strict JSON", against `cstar-bridge web` (gunicorn) over real sockets: bodies
that are not RFC 8259 JSON, or pass the limits the worker shares, get a 400 naming the problem —
never a 500 — and nothing is stored or queued."""

from __future__ import annotations

import pytest

from tests.support.stack import TOKEN
from tests.support.web import WebServer, post_head, raw_request

pytestmark = pytest.mark.integration

CASES = [
    ("a 5000-digit integer", b'{"email": "a@b.co", "seats": 1' + b"0" * 4999 + b"}", "a number of 5000 characters"),
    ("NaN", b'{"email": "a@b.co", "seats": NaN}', "NaN is not a JSON value (RFC 8259)"),
    ("Infinity", b'{"email": "a@b.co", "seats": Infinity}', "Infinity is not a JSON value (RFC 8259)"),
    ("-Infinity", b'{"email": "a@b.co", "seats": -Infinity}', "-Infinity is not a JSON value (RFC 8259)"),
    ("a number that overflows to infinity", b'{"email": "a@b.co", "seats": 1e400}', "the number 1e400 is out of range"),
    ("65 levels of nesting", b'{"email": "a@b.co", "x": ' + b"[" * 65 + b"]" * 65 + b"}",
     "refused: x[0][0][0]"),
    ("960 levels of nesting", b"[" * 960 + b"]" * 960, "nested too deeply"),
    ("a lone surrogate", b'{"email": "a@b.co", "fields": {"company": "Acme \\udbff"}}',
     "fields.company: the text holds a lone UTF-16 surrogate"),
]


@pytest.fixture
def web(make_stack, tmp_path):
    stack = make_stack()
    with WebServer(stack, tmp_path / "web.log") as server:
        yield stack, server
        assert "Traceback" not in server.log_text(), server.log_text()[-3000:]


def test_strict_json_refusals_are_400s_naming_the_problem_over_real_sockets(web):
    stack, server = web
    for name, body, words in CASES:
        head = post_head("/hooks/demo", content_type="application/json", length=len(body),
                         headers={"X-Bridge-Token": TOKEN})
        resp = raw_request(server.host, server.port, head, [body])
        assert resp.status == 400, (name, resp.status, resp.body[:300])
        error = resp.json()["error"]
        assert error["code"] == "body_invalid", name
        assert words in error["message"], (name, error["message"])
        assert "nested too deeply (more than 64 levels)" in error["message"] or "nesting" not in name
    assert stack.queue_length() == 0 and stack.pending() == 0

    ok = b'{"email": "a@b.co", "seats": 1e300, "n": 12345678901234567890, "emoji": "\\ud83d\\ude00"}'
    head = post_head("/hooks/demo", content_type="application/json", length=len(ok), headers={"X-Bridge-Token": TOKEN})
    assert raw_request(server.host, server.port, head, [ok]).status == 202
    assert stack.queue_length() == 1
