"""Promise 6 on the path users take: poison posted to `cstar-bridge web` (gunicorn, real sockets) and
processed by a real Celery worker (`celery -A workers worker`) on the DEFAULT `worker:` settings ends
refused (4xx naming the problem) or `dead`/`done` within seconds — never held for a time limit, never
retried in a loop — while ordinary events keep flowing and are applied once.

With the defaults a stuck event would wait for the 120 s hard time limit, the 300 s reconcile delay
or 8 retries with backoff up to 300 s: every deadline below is far shorter than any of those."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Iterator

import httpx
import pytest

from tests.support.stack import TOKEN
from tests.support.web import WebServer

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.slow]

RULES = """
version: 1
rules:
  - id: probe
    when: {source: [demo, forms]}
    customer: {email: "{{ data.email }}", name: "{{ data.name | default('') }}", create: true}
    actions:
      - add_tags: [probe]
      - set_metadata: {seats: "{{ data.seats | int }}"}
      - set_metadata: {ratio: "{{ data.ratio | float }}"}
      - set_metadata: {slug: "{{ data.text | replace('a', 'bbbbbbbbbb') | truncate(40) }}"}
      - set_metadata: {joined: "{{ data.items | join(data.sep | default(',')) | truncate(40) }}"}
      - set_metadata: {padded: "{{ data.name.center(data.width) }}"}
      - add_note: "{{ data.note }}"
      - add_note: "pairs {% for a in data.items %}{% for b in data.items %}{% endfor %}{% endfor %}"
"""
# What each deadline bounds: a poison event must finish in well under the 120 s hard time limit.
FINISH_WITHIN = 90.0


@pytest.fixture
def poison_stack(make_stack, tmp_path) -> Iterator[tuple[Any, str]]:
    """Default `worker:` settings, `cstar-bridge web` over a real socket, one real worker as `cstar-bridge worker` starts it."""
    rules = tmp_path / "poison.yaml"
    rules.write_text(RULES)
    stack = make_stack(rules=[rules], default_worker=True)
    assert stack.config.worker.task_time_limit == 120 and stack.config.worker.reconcile_after == 300
    stack.start_worker()
    with WebServer(stack, tmp_path / "web.log") as web:
        yield stack, web.url
        assert "Traceback" not in web.log_text(), web.log_text()[-3000:]


def post(url: str, body: bytes, content_type: str = "application/json", source: str = "demo") -> httpx.Response:
    return httpx.post(f"{url}/hooks/{source}", content=body, timeout=30,
                      headers={"X-Bridge-Token": TOKEN, "Content-Type": content_type})


REFUSED = [
    # (name, raw body, what the 400 must say)
    ("nested 960 deep", b'{"email": "deep@poison.test", "x": ' + b"[" * 960 + b"]" * 960 + b"}", "nested too deeply"),
    ("nested 100 000 deep", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("a lone surrogate in a value", b'{"email": "sur@poison.test", "name": "Ana \\ud800"}',
     "name: the text holds a lone UTF-16 surrogate"),
    ("a lone surrogate in a key", b'{"email": "sur@poison.test", "\\udfff": 1}', "a key holds a lone UTF-16 surrogate"),
    ("a 5000-digit integer", b'{"email": "big@poison.test", "seats": 1' + b"0" * 4999 + b"}",
     "a number of 5000 characters"),
    ("NaN", b'{"email": "nan@poison.test", "seats": NaN}', "NaN is not a JSON value"),
    ("Infinity", b'{"email": "inf@poison.test", "seats": Infinity}', "Infinity is not a JSON value"),
    ("-Infinity", b'{"email": "inf@poison.test", "seats": -Infinity}', "-Infinity is not a JSON value"),
    ("a number that overflows", b'{"email": "inf@poison.test", "seats": 1e99999}', "is out of range"),
    ("invalid UTF-8", b'{"email": "x@poison.test", "name": "\xff\xfe"}', "not valid utf-8"),
]

DONE = [
    # (name, body, what the trace of the skipped action says) — accepted, processed, the action skipped
    ("int of 1e99999999", {"email": "seats@poison.test", "seats": "1e99999999"}, "cannot convert '1e99999999' to int"),
    ("float of -1e99999999", {"email": "ratio@poison.test", "ratio": "-1e99999999"}, "cannot convert"),
    ("replace growing 900 kB of text", {"email": "text@poison.test", "text": "a" * 900_000},
     "replace would build more than"),
    ("join with a long separator and nested loops over 900 items (max_fields is 1000)",
     {"email": "items@poison.test", "items": [0] * 900, "sep": "x" * 2000}, "join would build more than"),
    ("nested loops over 900 items: 810 000 steps", {"email": "loops@poison.test", "items": [0] * 900},
     "the template took more than 100000 steps"),
    ("a padding width of 10**9", {"email": "pad@poison.test", "name": "Ana", "width": 10**9},
     "str.center() would build more than"),
]

NOT_AN_EMAIL = ["nul\x00inside@poison.test", "esc@poison.test\x1b", "zero\u200bwidth@poison.test",
                "del\x7f@poison.test", "trailing@poison.test\x1f"]


def test_poison_is_refused_or_ends_within_seconds_while_normal_events_flow(poison_stack):
    stack, url = poison_stack
    started = time.monotonic()
    normal: list[str] = []

    def normal_event(i: int) -> None:
        r = post(url, json.dumps({"email": f"flow{i}@ok.test", "name": f"Flow {i}", "note": f"flow-note-{i}"}).encode())
        assert r.status_code == 202, r.text
        normal.append(r.json()["data"]["eventId"])

    for name, raw, words in REFUSED:
        normal_event(len(normal))
        r = post(url, raw)
        assert r.status_code == 400, (name, r.status_code, r.text[:300])
        err = r.json()["error"]
        assert words in err["message"], (name, err["message"])
        assert "Traceback" not in err["message"]

    done: dict[str, tuple[str, str]] = {}
    for name, body, words in DONE:
        normal_event(len(normal))
        r = post(url, json.dumps(body).encode())
        assert r.status_code == 202, (name, r.text[:300])
        done[r.json()["data"]["eventId"]] = (name, words)

    skipped: list[str] = []
    for email in NOT_AN_EMAIL:
        normal_event(len(normal))
        r = post(url, json.dumps({"email": email, "note": "must not reach the API"}).encode())
        assert r.status_code == 202, r.text[:300]
        skipped.append(r.json()["data"]["eventId"])
    form = httpx.post(f"{url}/hooks/forms", data={"email": "form\x00nul@poison.test", "name": "F"},
                      headers={"X-Bridge-Token": TOKEN}, timeout=30)
    assert form.status_code == 202, form.text
    skipped.append(form.json()["data"]["eventId"])

    events = stack.wait_for(normal + list(done) + skipped, statuses=("done",), timeout=FINISH_WITHIN)
    elapsed = time.monotonic() - started
    print(f"\n{len(events)} events (poison and normal) terminal {elapsed:.1f} s after the first post")

    for eid, (name, words) in done.items():
        ev = stack.shown(eid)  # the trace as people read it
        assert ev["matched"] == ["probe"], name
        reasons = [a.get("skipped", "") for entry in ev["trace"] for a in entry.get("actions", [])]
        assert any(words in r for r in reasons), (name, reasons)
    for eid in skipped:
        ev = stack.shown(eid)
        assert ev["matched"] == [], ev["trace"]
        assert "holds a control or invisible character" in ev["trace"][0]["skipped"], ev["trace"]
    for eid in normal + list(done) + skipped:  # nothing was retried: one delivery, no failure
        raw = stack.redis.hgetall(f"{stack.prefix}event:{eid}")
        assert raw.get(b"deliveries:0") == b"1" and b"failures" not in raw, (eid, raw.get(b"failures"))

    customers = {c["email"]: c for c in stack.customers()}
    assert all(e.isprintable() for e in customers), sorted(customers)
    assert not any("poison.test" in e and not e.startswith(("seats", "ratio", "text", "items", "loops", "pad"))
                   for e in customers), sorted(customers)
    for i in range(len(normal)):  # every normal event applied exactly once
        c = customers[f"flow{i}@ok.test"]
        assert c["notes"].count(f"flow-note-{i}") == 1, c
        assert "probe" in c["tags"]
    assert stack.pending() == 0


def test_an_undecodable_stored_event_is_dead_lettered_on_its_first_delivery(poison_stack):
    """An event stored by something other than this ingress (an older version, a hand-made replay)
    whose data the worker cannot decode within the shared limits: counted, then dead with its reason
    (before, a RecursionError in `load` left it `queued` forever)."""
    stack, url = poison_stack
    state = stack.app.extensions["cstar_bridge"]
    bad = {"deep": "[" * 960 + "]" * 960, "nan": '{"email": "n@poison.test", "seats": NaN}',
           "not-json": "{'email': 'python repr'", "surrogate": '{"email": "s@poison.test", "name": "\\ud800"}'}
    ids = {}
    for name, text in bad.items():
        event_id = f"evt_poison{name.replace('-', '')}{os.getpid()}"
        event = {"id": event_id, "source": "demo", "type": "form.submitted", "data": text, "status": "queued",
                 "received_at": "2026-01-01T00:00:00Z", "accepted_at": repr(time.time()), "idempotency_key": name}
        claim = state.store.claim(source="demo", key=f"injected-{name}-{event_id}", fp="x", event=event,
                                  queue=stack.config.queue, message=state.messages.build(event_id))
        assert claim.new
        ids[event_id] = name
    r = post(url, json.dumps({"email": "after@ok.test", "note": "after-note"}).encode())
    assert r.status_code == 202
    after = r.json()["data"]["eventId"]

    events = stack.wait_for(list(ids), statuses=("dead",), timeout=FINISH_WITHIN)
    for eid, name in ids.items():
        ev = events[eid]
        assert ev["reason"].startswith("cannot be processed: the stored event data cannot be decoded: "), ev["reason"]
        assert ev["attempts"] == "1"
        raw = stack.redis.hgetall(f"{stack.prefix}event:{eid}")
        assert raw.get(b"deliveries:0") == b"1", (name, raw)
    assert "nested too deeply" in events[next(e for e, n in ids.items() if n == "deep")]["reason"]
    assert "NaN is not a JSON value" in events[next(e for e, n in ids.items() if n == "nan")]["reason"]
    assert "lone UTF-16 surrogate" in events[next(e for e, n in ids.items() if n == "surrogate")]["reason"]
    dead = {d["event_id"] for d in state.store.dead_letters()}
    assert set(ids) <= dead
    stack.wait_for([after])
    assert stack.customer("after@ok.test")["notes"].count("after-note") == 1
