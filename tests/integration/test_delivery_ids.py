"""Issue 11 §7: a body's own `id` never drops a different event. A delivery id comes from a body field
only where the source config names it (`delivery_id: <field path>`) or the provider defines one;
otherwise the body hash; the `Idempotency-Key` header works as before. Over real sockets to
`cstar-bridge web`, processed by a real worker."""

from __future__ import annotations

import json
from typing import Any, Iterator

import httpx
import pytest
import yaml

from bridge.sources import build_sources
from tests.support.stack import TOKEN
from tests.support.web import WebServer
from workers.config import load_config
from workers.errors import ConfigError

pytestmark = pytest.mark.integration

SOURCES = {
    "demo": {"adapter": "json", "verify": {"scheme": "token", "secret": TOKEN}},
    "crm": {"adapter": "json", "verify": {"scheme": "token", "secret": TOKEN}, "delivery_id": "meta.delivery"},
}


RULES = """
version: 1
rules:
  - id: note
    customer: {email: "{{ data.email }}", create: true}
    actions:
      - add_note: "{{ data.note }}"
"""


@pytest.fixture
def web(make_stack, tmp_path) -> Iterator[tuple[Any, str]]:
    rules = tmp_path / "notes.yaml"
    rules.write_text(RULES)
    stack = make_stack(sources=SOURCES, rules=[rules])
    stack.start_worker()
    with WebServer(stack, tmp_path / "web.log") as web:
        yield stack, web.url
        assert "Traceback" not in web.log_text(), web.log_text()[-3000:]


def post(url: str, source: str, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/hooks/{source}", content=json.dumps(body).encode(), timeout=30,
                      headers={"X-Bridge-Token": TOKEN, "Content-Type": "application/json", **headers})


def test_two_updates_of_one_contact_with_the_same_id_are_both_processed(web):
    stack, url = web
    first = post(url, "demo", {"id": 4411, "email": "same-id@example.com", "note": "first update"})
    second = post(url, "demo", {"id": 4411, "email": "same-id@example.com", "note": "second update"})
    assert (first.status_code, second.status_code) == (202, 202), second.text
    ids = [first.json()["data"]["eventId"], second.json()["data"]["eventId"]]
    assert ids[0] != ids[1] and second.json()["data"]["duplicate"] is False
    stack.wait_for(ids)
    notes = stack.customer("same-id@example.com")["notes"]
    assert notes.count("first update") == 1 and notes.count("second update") == 1

    again = post(url, "demo", {"id": 4411, "email": "same-id@example.com", "note": "second update"})
    assert again.status_code == 200 and again.json()["data"] == {"eventId": ids[1], "status": "done",
                                                                 "duplicate": True}  # the body hash still dedupes


def test_a_field_the_source_config_names_is_the_delivery_id(web):
    stack, url = web
    body = {"id": 7, "email": "named@example.com", "note": "once", "meta": {"delivery": "dlv-1"}}
    first = post(url, "crm", body)
    retry = post(url, "crm", {**body, "sent_at": "a retry re-stamps the body"})
    assert first.status_code == 202 and retry.status_code == 200, retry.text
    assert retry.json()["data"]["duplicate"] is True
    assert retry.json()["data"]["eventId"] == first.json()["data"]["eventId"]
    other = post(url, "crm", {**body, "note": "another delivery", "meta": {"delivery": "dlv-2"}})
    numeric = post(url, "crm", {**body, "note": "numeric delivery", "meta": {"delivery": 99}})
    missing = post(url, "crm", {"id": 7, "email": "named@example.com", "note": "no delivery field"})
    assert (other.status_code, numeric.status_code, missing.status_code) == (202, 202, 202)
    ids = [r.json()["data"]["eventId"] for r in (first, other, numeric, missing)]
    stack.wait_for(ids)
    notes = stack.customer("named@example.com")["notes"]
    for text in ("once", "another delivery", "numeric delivery", "no delivery field"):
        assert notes.count(text) == 1, (text, notes)

    bad = post(url, "crm", {"email": "named@example.com", "meta": {"delivery": {"nested": 1}}})
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"] == {
        "meta.delivery": ["the delivery id (source option delivery_id) must be text or a whole number, got dict"]}


def test_the_idempotency_key_header_still_wins(web):
    stack, url = web
    body = {"email": "header@example.com", "note": "by header", "meta": {"delivery": "dlv-h"}}
    first = post(url, "crm", body, **{"Idempotency-Key": "key-1"})
    same = post(url, "crm", body, **{"Idempotency-Key": "key-1"})
    reused = post(url, "crm", {**body, "note": "changed"}, **{"Idempotency-Key": "key-1"})
    fresh = post(url, "crm", {**body, "note": "new key"}, **{"Idempotency-Key": "key-2"})
    assert (first.status_code, same.status_code, reused.status_code, fresh.status_code) == (202, 200, 422, 202)
    stack.wait_for([first.json()["data"]["eventId"], fresh.json()["data"]["eventId"]])
    notes = stack.customer("header@example.com")["notes"]
    assert notes.count("by header") == 1 and notes.count("new key") == 1 and "changed" not in notes


@pytest.mark.parametrize("value", ["", "meta..delivery", ".x", 5, ["a"]])
def test_a_malformed_delivery_id_option_stops_start_up(tmp_path, value):
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump({"cstar": {"api_url": "http://127.0.0.1:9", "team_id": "t", "api_key": "sk_x"},
                                    "sources": {"crm": {**SOURCES["crm"], "delivery_id": value}}}))
    with pytest.raises(ConfigError, match="sources.crm.delivery_id: expected the body field"):
        build_sources(load_config(path, env={}))
