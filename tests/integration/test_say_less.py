"""Say less to strangers, over real sockets to `cstar-bridge web`: an unknown source is "no such source"
(the configured names go to the log), health and readiness name no source, and /metrics (labelled by
source) can be limited to a bearer token."""

from __future__ import annotations

import httpx
import pytest

from tests.support.stack import TOKEN, BridgeStack
from tests.support.web import WebServer

pytestmark = pytest.mark.integration

SOURCES = {"acme-secret-crm": {"adapter": "json", "verify": {"scheme": "token", "secret": TOKEN}},
           "payroll-intake": {"adapter": "form", "verify": {"scheme": "token", "secret": TOKEN}}}
METRICS_TOKEN = "metrics-token-5521"


@pytest.fixture(scope="module")
def web(tmp_path_factory, redis_url, sandbox):
    stack = BridgeStack(tmp_path_factory.mktemp("sayless"), redis_url, sandbox, sources=SOURCES,
                        settings={"metrics_token": METRICS_TOKEN})
    with WebServer(stack, stack.tmp / "web.log") as srv:
        yield srv


def test_unknown_source_says_no_such_source_and_logs_the_names(web):
    resp = httpx.post(f"{web.url}/hooks/guess", json={"email": "a@b.co"}, timeout=10)
    assert resp.status_code == 404
    assert "no such source" in resp.json()["error"]["message"]
    for name in SOURCES:
        assert name not in resp.text
    assert "acme-secret-crm" in web.log_text()  # the operator still finds them


def test_health_readiness_and_errors_name_no_source(web):
    texts = [httpx.get(f"{web.url}{path}", timeout=10) for path in ("/healthz", "/readyz", "/nope", "/openapi.json")]
    assert [r.status_code for r in texts[:2]] == [200, 200]
    for r in texts:
        assert r.status_code < 500
        for name in SOURCES:
            assert name not in r.text, (r.url, name)


def test_metrics_need_the_metrics_token_when_one_is_set(web):
    httpx.post(f"{web.url}/hooks/acme-secret-crm", json={"email": "m@b.co"}, headers={"X-Bridge-Token": TOKEN},
               timeout=10).raise_for_status()
    anonymous = httpx.get(f"{web.url}/metrics", timeout=10)
    wrong = httpx.get(f"{web.url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert anonymous.status_code == wrong.status_code == 401
    assert "acme-secret-crm" not in anonymous.text + wrong.text
    scrape = httpx.get(f"{web.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    assert scrape.status_code == 200 and 'source="acme-secret-crm"' in scrape.text
