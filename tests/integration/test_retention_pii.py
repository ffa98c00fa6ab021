"""Per-source retention and personal data, through the real stack (real Redis, a real worker, the
sandbox over HTTP): after processing the configured fields are redacted wherever the event holds them,
the raw body is dropped, the event expires after the source's retention; the admin API and the
console show redacted values even before that; worker logs carry no payload values."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import ADMIN, TOKEN

pytestmark = pytest.mark.integration

RULES = """\
version: 1
rules:
  - id: contact
    customer: {email: "{{ data.email }}", name: "{{ data.name }}", create: true}
    actions:
      - add_note: "Asked: {{ data.message }}"
      - set_metadata: {phone: "{{ data.phone }}"}
      - if: {field: data.message, op: contains, value: medical}
        add_tags: [sensitive]
"""
PII = {"retention": "2h", "pii": {"redact": ["data.phone", "data.message"], "drop_raw_body": True}}
SOURCES = {
    "private": {"adapter": "json", "verify": {"scheme": "token", "secret": TOKEN}, **PII},
    "demo": {"adapter": "json", "verify": {"scheme": "token", "secret": TOKEN}},
}
PHONE, MESSAGE = "+1 555 0100 4242", "a private medical question about Quixotic Zebra"


def _raw(stack: Any, event_id: str) -> str:
    return repr(stack.redis.hgetall(f"{stack.prefix}event:{event_id}"))


def _admin(stack: Any, event_id: str) -> dict[str, Any]:
    resp = stack.http.get(f"/events/{event_id}", headers={"Authorization": f"Bearer {ADMIN}"})
    assert resp.status_code == 200
    return resp.get_json()["data"]


def _console(stack: Any, path: str) -> str:
    client = stack.app.test_client()
    html = client.get("/console/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    assert client.post("/console/sign-in", data={"token": ADMIN, "csrf_token": token}).status_code == 303
    return client.get(path).get_data(as_text=True)


def test_personal_data_is_redacted_after_processing_and_kept_only_for_the_retention(make_stack, tmp_path: Path
                                                                                    ) -> None:
    rules = tmp_path / "contact.yaml"
    rules.write_text(RULES)
    stack = make_stack(rules=[rules], sources=SOURCES)
    worker = stack.start_worker()
    body = {"email": "pat@pii.test", "name": "Pat", "phone": PHONE, "message": MESSAGE}
    private = stack.accepted_id(stack.post("private", body))
    plain = stack.accepted_id(stack.post("demo", {**body, "email": "kim@pii.test"}))
    stack.wait_for([private, plain])

    # processing used the real values
    customer = stack.customer("pat@pii.test")
    assert MESSAGE in customer["notes"] and customer["metadata"]["phone"] == PHONE and "sensitive" in customer["tags"]

    stored = stack.event(private)
    assert stored["data"]["phone"] == "[redacted]" and stored["data"]["message"] == "[redacted]"
    assert stored["data"]["email"] == "pat@pii.test"
    assert "raw_body" not in stored and stored["raw_body_dropped"] == "1"
    raw = _raw(stack, private)
    assert PHONE not in raw and "Quixotic Zebra" not in raw, raw  # trace, changes, outcome, steps, calls
    assert "[redacted]" in repr(stored["trace"]) and "[redacted]" in repr(stored["changes"])
    assert 0 < stack.redis.ttl(f"{stack.prefix}event:{private}") <= 2 * 3600

    # the source without a policy keeps its values and the default event_ttl (30 days)
    kept = stack.event(plain)
    assert kept["data"]["phone"] == PHONE and "Quixotic Zebra" in kept["raw_body"]
    assert stack.redis.ttl(f"{stack.prefix}event:{plain}") > 2 * 3600

    shown = _admin(stack, private)
    assert PHONE not in repr(shown) and "Quixotic Zebra" not in repr(shown)
    page = _console(stack, f"/console/events/{private}")
    assert "Quixotic Zebra" not in page and PHONE not in page and "[redacted]" in page

    logs = worker.log_text()
    assert "Quixotic Zebra" not in logs and PHONE not in logs and "pat@pii.test" not in logs


def test_a_dead_letter_keeps_its_data_for_replay_but_is_shown_redacted(make_stack, tmp_path: Path) -> None:
    rules = tmp_path / "contact.yaml"
    rules.write_text(RULES)
    stack = make_stack(rules=[rules], sources=SOURCES)
    stack.sandbox.set_faults([{"action": "error", "status": 400, "methods": ["POST"]}])  # permanent: dead
    stack.start_worker()
    event_id = stack.accepted_id(stack.post("private", {"email": "lee@pii.test", "phone": PHONE,
                                                        "message": MESSAGE}))
    stack.wait_for([event_id], statuses=("dead",))
    assert stack.event(event_id)["data"]["phone"] == PHONE  # replayable: the data is intact
    shown = _admin(stack, event_id)
    assert shown["data"]["phone"] == "[redacted]" and "Quixotic Zebra" not in repr(shown)
    assert shown["raw_body"] == ""
    listing = _console(stack, "/console/events?status=dead")
    assert "Quixotic Zebra" not in listing

    stack.sandbox.set_faults([])
    replayed = stack.http.post(f"/events/{event_id}/replay", headers={"Authorization": f"Bearer {ADMIN}"})
    assert replayed.status_code == 200, replayed.get_json()
    stack.wait_for([event_id])
    assert PHONE not in _raw(stack, event_id)
    assert MESSAGE in stack.customer("lee@pii.test")["notes"]


def test_a_rejected_delivery_of_a_source_that_drops_raw_bodies_keeps_none(make_stack) -> None:
    stack = make_stack(sources=SOURCES)
    assert stack.post("private", {"email": "x@pii.test", "message": MESSAGE}, token="wrong").status_code == 401
    assert stack.post("demo", {"email": "x@pii.test", "message": MESSAGE}, token="wrong").status_code == 401
    log = stack.app.extensions["cstar_bridge"].rejections
    private, = log.recent(source="private")
    demo, = log.recent(source="demo")
    assert "body" not in private and "Quixotic Zebra" in demo["body"]
    assert 0 < stack.redis.ttl(f"{stack.prefix}rejected:private") <= 2 * 3600
