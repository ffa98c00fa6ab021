"""`/openapi.json`: a valid OpenAPI 3.1 document naming no configured source, and schemathesis's
property-based tests generated from it find nothing against a live `cstar-bridge web`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from tests.support.stack import ADMIN, TOKEN
from tests.support.web import WebServer

pytestmark = pytest.mark.integration
ST = str(Path(sys.executable).parent / "st")
SOURCES = {"zz-private-intake": {"adapter": "json", "verify": {"scheme": "token", "secret": TOKEN}}}


def test_the_document_validates_and_names_no_configured_source(make_stack):
    stack = make_stack(sources=SOURCES)
    resp = stack.http.get("/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    doc = resp.get_json()
    validate(doc)  # raises on an invalid OpenAPI document
    assert doc["openapi"] == "3.1.0"
    text = json.dumps(doc)
    assert "zz-private-intake" not in text and TOKEN not in text and ADMIN not in text
    assert {"/hooks/{source}", "/events", "/events/{eventId}", "/healthz", "/readyz", "/metrics"} <= set(doc["paths"])
    params = {p["name"] for p in doc["paths"]["/events"]["get"]["parameters"]}
    assert {"status", "limit", "offset", "source", "email", "rule", "since", "until"} <= params
    error_types = doc["components"]["schemas"]["ErrorBody"]["properties"]["type"]["enum"]
    assert {"invalid_request_error", "authentication_error", "not_found_error", "validation_error",
            "idempotency_error", "api_error"} <= set(error_types)


@pytest.mark.slow
def test_schemathesis_finds_nothing_against_cstar_bridge_web(make_stack, tmp_path):
    stack = make_stack(sources=SOURCES)
    # /hooks is exercised on a configured source, with its token, as well as on unknown ones.
    (tmp_path / "schemathesis.toml").write_text(
        '[[operations]]\ninclude-name = "POST /hooks/{source}"\n'
        'parameters = { "path.source" = "zz-private-intake" }\n'
        f'headers = {{ "X-Bridge-Token" = "{TOKEN}" }}\n')
    with WebServer(stack, tmp_path / "web.log") as web:
        url = web.url
        assert httpx.get(url + "/openapi.json", timeout=10).status_code == 200
        run = subprocess.run(
            [ST, "run", f"{url}/openapi.json", "--checks", "all", "--exclude-checks",
             "positive_data_acceptance",
             "-H", f"Authorization: Bearer {ADMIN}", "--max-examples", "40", "--workers", "1",
             "--request-timeout", "20", "--seed", "1", "--no-color"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path)
        log = web.log_text()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Traceback" not in log, log[-4000:]


def test_a_multipart_part_without_a_readable_name_is_a_400(make_stack):
    """Found by schemathesis: werkzeug names such a part None, and the adapter then failed with a 500."""
    stack = make_stack(sources=SOURCES)
    body = b'--b\r\nContent-Disposition: form-data; name="\\"\r\n\r\n[]\r\n--b--\r\n'
    resp = stack.post("zz-private-intake", raw=body, content_type="multipart/form-data; boundary=b")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "no readable name" in resp.get_json()["error"]["message"]
