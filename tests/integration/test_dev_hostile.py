"""`cstar-bridge dev` itself, as a hostile client meets it: bodies cut or over the limit whatever the
framing, `?token=` deliveries kept out of its output, "no such source", and 100 trickling connections
that do not stop deliveries or /healthz."""

from __future__ import annotations

import json
import signal
import uuid

import httpx
import pytest

from tests.integration.test_dev_command import Dev, clean_env
from tests.integration.test_slow_clients import SLOW_CLIENTS, Trickle
from tests.support.web import chunked, post_head, raw_request

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOURCE_TOKEN = "dev-TOPSECRET-source-7731"
ADMIN = "dev-TOPSECRET-admin-9120"
BANNER_END = "stops everything."


@pytest.fixture
def dev(tmp_path):
    d = Dev(tmp_path, [], clean_env(DEV_SOURCE_TOKEN=SOURCE_TOKEN, BRIDGE_ADMIN_TOKEN=ADMIN))
    try:
        d.wait_banner()
        yield d
    finally:
        d.kill_everything()


def test_dev_refuses_cut_and_oversized_bodies_hides_tokens_and_outlasts_slow_clients(dev):
    host, port, url = "127.0.0.1", dev.port, f"http://127.0.0.1:{dev.port}"
    banner_len = len(dev.output())
    auth = {"X-Bridge-Token": SOURCE_TOKEN}

    ok = httpx.post(f"{url}/hooks/zapier", params={"token": SOURCE_TOKEN}, timeout=30,
                    json={"email": f"dev-{uuid.uuid4().hex[:6]}@example.com", "first_name": "Ada"})
    assert ok.status_code == 202, ok.text
    big = json.dumps({"email": "a@example.com", "pad": "x" * (1024 * 1024 + 10)}).encode()
    over = raw_request(host, port, post_head("/hooks/zapier", content_type="application/json", chunked=True,
                                             headers=auth), chunked(big, size=65536))
    assert over.status == 413
    body = b'{"email": "short@example.com", "last_name": "Lovelace"}'
    short = raw_request(host, port, post_head("/hooks/zapier", content_type="application/json",
                                              length=len(body) + 27, headers=auth), [body])
    assert short.status == 400 and short.json()["error"]["code"] == "body_incomplete"
    unknown = httpx.post(f"{url}/hooks/guess?token={SOURCE_TOKEN}", json={}, timeout=30)
    assert unknown.status_code == 404 and "no such source" in unknown.text and "zapier" not in unknown.text
    wrong_admin = httpx.get(f"{url}/events?token={ADMIN}", timeout=30)
    assert wrong_admin.status_code == 401

    trickle = Trickle(host, port, SLOW_CLIENTS).open()
    try:
        statuses = [httpx.post(f"{url}/hooks/zapier", headers=auth, timeout=30,
                               json={"email": f"t-{uuid.uuid4().hex[:6]}@example.com"}).status_code
                    for _ in range(10)]
        assert statuses == [202] * 10
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200
        assert trickle.connected() >= SLOW_CLIENTS * 0.9
    finally:
        trickle.close()

    dev.stop(signal.SIGTERM)
    logged = dev.output()[banner_len:]  # everything dev's processes wrote after the banner
    assert "/hooks/zapier?token=[redacted]" in logged, logged[-3000:]
    assert "TOPSECRET" not in logged, logged[logged.index("TOPSECRET") - 300:][:600]
