"""Every rejected delivery is kept with its cause, bounded, without secrets: over real sockets to
`cstar-bridge web`, listed by `GET /events/rejected` and `cstar-bridge events rejected`."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
from typing import Any

import httpx
import pytest

from tests.support.stack import ADMIN, TOKEN
from tests.support.web import CLI, WebServer

pytestmark = pytest.mark.integration

STRIPE_SECRET = "whsec_rejected_test_secret"
SOURCES = {
    "demo": {"adapter": "json", "verify": {"scheme": "token", "secret": TOKEN}},
    "stripe": {"adapter": "stripe", "verify": {"scheme": "stripe", "secret": STRIPE_SECRET}},
}


def _stripe_headers(body: bytes, at: int) -> dict[str, str]:
    sig = hmac.new(STRIPE_SECRET.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={at},v1={sig}", "Content-Type": "application/json"}


def _admin(url: str, path: str) -> httpx.Response:
    return httpx.get(url + path, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)


def test_rejections_are_listed_with_their_cause_and_without_secrets(make_stack, tmp_path) -> None:
    stack = make_stack(sources=SOURCES)
    with WebServer(stack, tmp_path / "web.log") as web:
        url = web.url
        sent = [
            # a wrong token (in the header and in ?token=), the body carrying the configured token
            httpx.post(f"{url}/hooks/demo?token=wrong-guess-123", content=json.dumps(
                {"email": "a@b.test", "note": f"pasted {TOKEN}"}).encode(),
                headers={"X-Bridge-Token": "wrong-guess-123", "Content-Type": "application/json"}, timeout=30),
            httpx.post(f"{url}/hooks/demo", content=b'{"email": "a@b.test",', timeout=30,
                       headers={"X-Bridge-Token": TOKEN, "Content-Type": "application/json"}),
            httpx.post(f"{url}/hooks/demo", content=b"x" * (2 * 1024 * 1024), timeout=30,
                       headers={"X-Bridge-Token": TOKEN, "Content-Type": "application/json"}),
            httpx.post(f"{url}/hooks/no-such-source", content=b"{}", timeout=30,
                       headers={"Content-Type": "application/json"}),
        ]
        old = b'{"id": "evt_1", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}'
        sent.append(httpx.post(f"{url}/hooks/stripe", content=old, timeout=30,
                               headers=_stripe_headers(old, int(time.time()) - 3600)))
        bad = b'{"id": "evt_2", "type": "customer.created", "data": {}}'
        sent.append(httpx.post(f"{url}/hooks/stripe", content=bad, timeout=30,
                               headers=_stripe_headers(bad, int(time.time()))))
        good = httpx.post(f"{url}/hooks/demo", content=b'{"email": "ok@b.test"}', timeout=30,
                          headers={"X-Bridge-Token": TOKEN, "Content-Type": "application/json"})
        assert [r.status_code for r in sent] == [401, 400, 413, 404, 401, 422]
        assert good.status_code == 202

        listed = _admin(url, "/events/rejected")
        assert listed.status_code == 200, listed.text
        rows = listed.json()["data"]
        assert [(r["source"], r["status"], r["cause"]) for r in rows] == [
            ("stripe", 422, "invalid_payload"),
            ("stripe", 401, "verification_failed.timestamp"),
            ("no-such-source", 404, "unknown_source"),
            ("demo", 413, "payload_too_large"),
            ("demo", 400, "unparsable_json"),
            ("demo", 401, "verification_failed.token_mismatch"),
        ]
        token_row = rows[-1]
        assert "wrong-guess-123" not in json.dumps(rows) and TOKEN not in json.dumps(rows)
        assert "[redacted]" in token_row["path"] and "[redacted]" in token_row["body"]
        assert "x-bridge-token" not in {h.lower() for h in token_row["headers"]}
        assert token_row["body_size"] > 0 and token_row["message"]
        assert not any("signature" in h.lower() for r in rows for h in r["headers"])
        assert STRIPE_SECRET not in json.dumps(rows)
        assert rows[0]["fields"] and rows[1]["check"] == "timestamp"

        only = _admin(url, "/events/rejected?source=stripe&cause=verification_failed").json()["data"]
        assert [r["cause"] for r in only] == ["verification_failed.timestamp"]
        assert [r["source"] for r in _admin(url, "/events/rejected?source=%3F").json()["data"]] == ["no-such-source"]
        for query, field in (("limit=0", "limit"), ("limit=ten", "limit"), ("bogus=1", "bogus")):
            refused = _admin(url, f"/events/rejected?{query}")
            assert refused.status_code == 400 and field in refused.json()["error"]["message"], refused.text
        assert httpx.get(url + "/events/rejected", timeout=30).status_code == 401
        spec = httpx.get(url + "/openapi.json", timeout=30).json()
        assert "/events/rejected" in spec["paths"]
        assert "Traceback" not in web.log_text()

    cli = subprocess.run([CLI, "events", "rejected", "--config", str(stack.config_path), "--json", "--limit", "3"],
                         env=stack.env, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert [r["cause"] for r in json.loads(cli.stdout)] == [r["cause"] for r in rows[:3]]
    text = subprocess.run([CLI, "events", "rejected", "--config", str(stack.config_path), "--source", "demo"],
                          env=stack.env, capture_output=True, text=True, timeout=60)
    assert text.returncode == 0 and "verification_failed.token_mismatch" in text.stdout, text.stderr
    assert text.stdout.strip().endswith("3 rejected deliveries")


def _keys(stack: Any, pattern: str) -> set[str]:
    return {k.decode() for k in stack.redis.scan_iter(match=f"{stack.prefix}{pattern}", count=1000)}


def test_an_attack_is_never_amplified_caps_per_source_and_per_minute(make_stack) -> None:
    stack = make_stack(settings={"rejected": {"keep": 1000, "per_minute": 5, "ttl": 3600}})
    for i in range(40):
        assert stack.post(body={"email": "x@y.test"}, token=f"guess-{i}").status_code == 401
        assert stack.post(f"random-{i}", body={}).status_code == 404
    streams = _keys(stack, "rejected:*")
    assert streams == {f"{stack.prefix}rejected:demo", f"{stack.prefix}rejected:?"}  # one bucket for strangers
    for key in streams:
        assert 5 <= stack.redis.xlen(key) <= 10  # 5 a minute (10 if the minute turned during the test)
        assert 0 < stack.redis.ttl(key) <= 3600
    assert len(_keys(stack, "rejected-rate:*")) <= 4
    for key in _keys(stack, "rejected-rate:*"):
        assert 0 < stack.redis.ttl(key) <= 120


def test_each_source_keeps_only_its_newest_rejections(make_stack) -> None:
    stack = make_stack(settings={"rejected": {"keep": 3, "per_minute": 1000}})
    for i in range(12):
        stack.post(body={"email": "x@y.test", "n": i}, token=f"guess-{i}")
    assert stack.post(body={"email": "fine@y.test"}).status_code == 202
    key = f"{stack.prefix}rejected:demo"
    assert stack.redis.xlen(key) == 3
    log = stack.app.extensions["cstar_bridge"].rejections
    assert [json.loads(r["body"])["n"] for r in log.recent(source="demo")] == [11, 10, 9]
    assert not _keys(stack, "rejected:forms")  # accepted deliveries leave nothing here
