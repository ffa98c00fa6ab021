"""Secrets never in a log: the access and error logs of a real `cstar-bridge web` (and of the gunicorn
command `cstar-bridge dev` runs), with `?token=` deliveries, secrets in paths and headers, and errors."""

from __future__ import annotations

import re

import httpx
import pytest

from bridge.cli.serve import gunicorn_command
from bridge.redact import MASK, Redactor
from tests.support.stack import BridgeStack
from tests.support.web import WebServer

pytestmark = pytest.mark.integration

SOURCE_TOKEN = "src-TOPSECRET-token-771"
OTHER_SECRET = "rotated TOPSECRET/2+=&"      # needs percent-encoding in a URL
API_KEY = "sk_live_TOPSECRET_api_9e8d"
ADMIN = "admin-TOPSECRET-314"
SECRETS = (SOURCE_TOKEN, OTHER_SECRET, API_KEY, ADMIN, "TOPSECRET")
NO_EVENT = "evt_" + "0" * 32  # a well-formed id that is not stored


@pytest.fixture(scope="module", params=["web", "dev"])
def logged(request, tmp_path_factory, redis_url, sandbox):
    """A server that received leaky requests, stopped (logs flushed): (log text, the stack)."""
    stack = BridgeStack(tmp_path_factory.mktemp("logs"), redis_url, sandbox, cstar={"api_key": API_KEY},
                        settings={"admin_token": ADMIN},
                        sources={"demo": {"adapter": "json",
                                          "verify": {"scheme": "token", "secrets": [SOURCE_TOKEN, OTHER_SECRET]}},
                                 "hooked": {"adapter": "json", "verify": {"scheme": "token", "secret": SOURCE_TOKEN,
                                                                          "query_param": "k"}}})
    log = stack.tmp / f"{request.param}.log"
    args = None if request.param == "web" else gunicorn_command("127.0.0.1", "{port}", 1)  # type: ignore[arg-type]
    srv = WebServer(stack, log, args=args)
    with srv:
        url = srv.url
        sent = [
            httpx.post(f"{url}/hooks/demo", params={"token": SOURCE_TOKEN}, json={"email": "q@leak.test"}),
            httpx.post(f"{url}/hooks/demo", params={"token": OTHER_SECRET}, json={"email": "r@leak.test"}),
            httpx.post(f"{url}/hooks/demo?x=1&token=a-wrong-guess-42", json={"email": "s@leak.test"}),
            httpx.post(f"{url}/hooks/hooked", params={"k": SOURCE_TOKEN}, json={"email": "t@leak.test"}),
            httpx.post(f"{url}/hooks/{SOURCE_TOKEN}", json={}),            # unknown source: logged by name
            httpx.get(f"{url}/healthz", headers={"Referer": f"https://app.test/?token={SOURCE_TOKEN}",
                                                 "User-Agent": f"curl {API_KEY}"}),
            httpx.get(f"{url}/events/{NO_EVENT}", headers={"Authorization": f"Bearer {ADMIN}"}),
            httpx.get(f"{url}/events/{NO_EVENT}?token={ADMIN}"),
        ]
        assert [r.status_code for r in sent] == [202, 202, 401, 202, 404, 200, 404, 401], [r.text for r in sent]
    return srv.log_text(), stack


def test_no_secret_in_the_access_or_error_log(logged):
    text, _ = logged
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} in the log"
    assert "TOPSECRET" not in text.replace("%2F", "/")
    assert "a-wrong-guess-42" not in text  # a failed guess is often a mistyped real token


def test_the_access_log_stays_useful(logged):
    text, _ = logged
    lines = [line for line in text.splitlines() if '"POST /hooks/' in line or '"GET /' in line]
    assert any(re.search(r'"POST /hooks/demo\?token=\[redacted\] HTTP/1\.1" 202 \d+ ', line) for line in lines), lines
    assert any(f'"POST /hooks/demo?x=1&token={MASK} HTTP/1.1" 401' in line for line in lines), lines
    assert any(f'"POST /hooks/hooked?k={MASK} HTTP/1.1" 202' in line for line in lines), lines
    assert any(line.rstrip().endswith("ms") for line in lines), "the time taken is logged"
    assert "unknown source" in text  # the error log names what was asked for, with the secret masked
    assert "Traceback" not in text
    assert "MonkeyPatchWarning" not in text  # the master loads no ssl/redis before gevent patches them


def test_redactor_masks_parameters_and_secret_values_only():
    r = Redactor(params=["k"], secrets=["s3cr3t/+x", "ab"])
    assert r("POST /hooks/a?k=v1&x=2&token=v2 HTTP/1.1") == f"POST /hooks/a?k={MASK}&x=2&token={MASK} HTTP/1.1"
    assert r("ref s3cr3t%2F%2Bx and s3cr3t/+x") == f"ref {MASK} and {MASK}"
    assert r("about abc") == "about abc"  # too short to be a secret worth blanking text for
