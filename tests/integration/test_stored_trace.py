"""The trace kept with a finished event: verdicts in Redis (small whatever the number of rules), worded
when someone reads it — the event API, the console, `cstar-bridge events show` — into the trace the
engine words, cut to `trace_max_bytes` as the stored trace was, and never worded with other rules: after
the rule files change, with the rule set that evaluated the event as the worker kept it in Redis."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from rules import evaluate, load_ruleset
from rules.lint import build
from rules.verdicts import is_verdicts
from tests.support.stack import ADMIN, RULES_DIR
from workers.stored_trace import rules_event

pytestmark = pytest.mark.integration

BODY = {"email": "trace@example.com", "name": "Tracy", "tag": "vip", "plan": "pro", "note": "hello"}

# Rules that read the customer (so the verdicts keep its state), rules that do not match (conditions,
# `when`, a skipped action) and an override, beside the stack's usual rules.
READING = """\
version: 1
rules:
  - id: returning-vip
    when: {source: demo}
    if: {field: customer.tags, op: has_any, value: [lead]}
    actions:
      - add_tags: [returning]
      - if: {field: customer.metadata.plan, op: eq, value: pro}
        set_status: active
  - id: big-plan
    when: {source: demo}
    if: {all: [{field: data.plan, op: in, value: [enterprise, business]}, {field: data.seats, op: gte, value: 50}]}
    actions: [{add_tags: [big]}]
  - id: only-forms
    when: {source: forms}
    actions: [{add_tags: [form]}]
  - id: retag
    when: {source: demo}
    actions:
      - remove_tags: [vip]
      - add_note: "{{ data.missing_field }}"
"""


def run_one(make_stack, body=BODY, rules=None, **settings):
    stack = make_stack(settings=settings, **({"rules": rules} if rules else {}))
    stack.start_worker()
    event_id = stack.accepted_id(stack.post(body=body))
    stack.wait_for([event_id])
    return stack, event_id


def test_a_trace_past_the_limit_is_cut_and_says_so(make_stack):
    whole_stack, whole_id = run_one(make_stack)
    a = whole_stack.customer("trace@example.com")  # before the next stack resets the sandbox
    whole = whole_stack.shown(whole_id)
    assert "trace_truncated" not in whole
    full = json.dumps(whole["trace"], separators=(",", ":"))
    matched = [e["rule"] for e in whole["trace"] if e["matched"]]
    assert len(matched) >= 2 and len(whole["trace"]) > len(matched)

    limit = len(full) // 2
    cut_stack, cut_id = run_one(make_stack, trace_max_bytes=limit)
    cut = cut_stack.shown(cut_id)
    assert cut["status"] == "done"
    shown = json.dumps(cut["trace"], separators=(",", ":"))
    assert len(shown) <= limit < len(full)
    assert [e["rule"] for e in cut["trace"] if e["matched"]] == matched
    note = cut["trace_truncated"]
    assert note["bytes"] == len(full) and note["limit"] == limit and "simulate" in note["hint"]

    # What Redis keeps is the verdicts, well inside the limit either way.
    for stack, event_id in ((whole_stack, whole_id), (cut_stack, cut_id)):
        kept = stack.event(event_id)["trace"]
        assert is_verdicts(kept) and len(json.dumps(kept, separators=(",", ":"))) <= limit

    # The change is the same either way.
    b = cut_stack.customer("trace@example.com")
    assert (a["tags"], a["metadata"], a["name"]) == (b["tags"], b["metadata"], b["name"])
    unmarked = [re.sub(r" \[cstar-bridge:evt_\w+:\w+\]", "", c["notes"]) for c in (a, b)]
    assert unmarked[0] == unmarked[1] == "hello"


def test_the_event_api_shows_the_trace_the_engine_words_for_the_event_as_processed(make_stack, tmp_path: Path):
    rules = tmp_path / "reading.yaml"
    rules.write_text(READING)
    stack = make_stack(rules=[RULES_DIR / "basic.yaml", rules])
    stack.start_worker()
    first = stack.accepted_id(stack.post(body=BODY))
    stack.wait_for([first])
    second = stack.accepted_id(stack.post(body={**BODY, "note": "again", "plan": "enterprise", "seats": 3}))
    stack.wait_for([second])

    kept = stack.event(second)["trace"]
    assert is_verdicts(kept) and "trace@example.com" in kept["customers"]  # the state the rules read
    resp = stack.http.get(f"/events/{second}", headers={"Authorization": f"Bearer {ADMIN}"})
    assert resp.status_code == 200
    shown = resp.get_json()["data"]["trace"]

    # The engine, on the same rules, event, customer state and time, words exactly this.
    ev = stack.event(second)
    direct = evaluate(load_ruleset(stack.config.rule_paths()), rules_event(second, ev, ev["data"]),
                      kept["customers"], now=datetime.fromisoformat(kept["now"])).trace
    assert shown == json.loads(json.dumps(direct, default=str))
    entries = {e["rule"]: e for e in shown}
    assert entries["returning-vip"]["matched"] and entries["retag"]["matched"]
    assert entries["big-plan"]["conditions"]["all"][1]["reason"] == "3 is less than 50"
    assert entries["only-forms"]["skipped"] == "when: source 'demo' is not one of ['forms']"
    assert entries["retag"]["actions"][1]["skipped"] == "data.missing_field is missing"
    assert {"tag": "vip", "by_rule": "json-details", "was": "add", "now": "remove"} in entries["retag"]["overrides"]
    assert stack.shown(second)["trace"] == shown  # the console and `events show` read the same


CHANGED = ("add_tags: [lead]", "add_tags: [lead, changed]")


def _trace_then(stack, event_id: str, files: list[tuple[str, str]]) -> list[dict]:
    """The trace the engine words on the rule set these files held when the event was processed (the
    kept time and customers), as JSON."""
    ev = stack.event(event_id)
    kept = ev["trace"]
    ruleset, diagnostics = build(files)
    assert not [d for d in diagnostics if d.is_error]
    trace = evaluate(ruleset, rules_event(event_id, ev, ev["data"]), kept.get("customers"),
                     now=datetime.fromisoformat(kept["now"])).trace
    return json.loads(json.dumps(trace, default=str))


def test_after_the_rules_change_the_trace_is_worded_with_the_rules_that_processed_the_event(make_stack,
                                                                                            tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    old = (RULES_DIR / "basic.yaml").read_text()
    rules.write_text(old)
    stack = make_stack(rules=[rules])
    stack.start_worker()
    event_id = stack.accepted_id(stack.post(body=BODY))
    stack.wait_for([event_id])
    before = stack.shown(event_id)
    assert "trace_unavailable" not in before and "trace_worded_with" not in before and len(before["trace"]) > 2
    fp = stack.event(event_id)["trace"]["ruleset"]
    # The worker kept the rule set it evaluated with, for at least as long as the event lives.
    key = f"{stack.prefix}ruleset:{fp}"
    assert stack.redis.ttl(key) >= stack.redis.ttl(f"{stack.prefix}event:{event_id}") > 0

    rules.write_text(old.replace(*CHANGED) + "  - id: added-later\n    actions: [{add_tags: [later]}]\n")
    after = stack.shown(event_id)
    assert "trace_unavailable" not in after
    assert after["trace_worded_with"]["ruleset"] == fp and after["trace_worded_with"]["files"] == ["rules.yaml"]
    # Word for word what the engine said when it processed the event, the files named by base name.
    assert after["trace"] == [{**e, "file": Path(e["file"]).name} for e in before["trace"]]
    assert after["trace"] == _trace_then(stack, event_id, [("rules.yaml", old)])
    assert "added-later" not in {e["rule"] for e in after["trace"]}
    assert ["changed"] not in [a.get("value") for e in after["trace"] for a in e.get("actions", [])]
    page = _console(stack, f"/console/events/{event_id}")
    assert "Worded with earlier rules" in page and "Trace not worded" not in page
    assert 'data-rule="json-details"' in page.replace("'", '"')

    rules.write_text(old)  # back as they were: worded with the files themselves again
    again = stack.shown(event_id)
    assert again["trace"] == before["trace"] and "trace_worded_with" not in again


def test_when_the_kept_rules_expired_the_trace_says_so_instead_of_wording_other_rules(make_stack,
                                                                                       tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text((RULES_DIR / "basic.yaml").read_text())
    stack = make_stack(rules=[rules])
    stack.start_worker()
    event_id = stack.accepted_id(stack.post(body=BODY))
    stack.wait_for([event_id])
    before = stack.shown(event_id)
    fp = stack.event(event_id)["trace"]["ruleset"]
    key = f"{stack.prefix}ruleset:{fp}"
    assert stack.redis.exists(key)

    rules.write_text(rules.read_text().replace(*CHANGED))
    stack.redis.pexpire(key, 1)  # its time is up
    deadline = time.monotonic() + 30
    while stack.redis.exists(key) and time.monotonic() < deadline:
        time.sleep(0.01)
    after = stack.shown(event_id)
    note = after["trace_unavailable"]
    assert "the rules changed since this event was processed" in note["reason"]
    assert "the rule set that evaluated it is not kept (it expired" in note["reason"] and "simulate" in note["hint"]
    assert note["rules_then"] == fp != note["rules_now"] and "trace_worded_with" not in after
    assert after["trace"] == [{"rule": r, "matched": True} for r in after["matched"]] and after["matched"]
    page = _console(stack, f"/console/events/{event_id}")
    assert "Trace not worded: the rules changed since this event was processed" in page

    stack.redis.set(key, "not a kept rule set")  # unreadable: the same
    assert "is not kept" in stack.shown(event_id)["trace_unavailable"]["reason"]

    rules.write_text((RULES_DIR / "basic.yaml").read_text())  # back as they were: worded again
    assert stack.shown(event_id)["trace"] == before["trace"]
    page = _console(stack, f"/console/events/{event_id}")
    assert "Trace not worded" not in page and 'data-rule="json-details"' in page.replace("'", '"')


def _console(stack, path: str) -> str:
    client = stack.app.test_client()
    html = client.get("/console/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    assert client.post("/console/sign-in", data={"token": ADMIN, "csrf_token": token}).status_code == 303
    return client.get(path).get_data(as_text=True)


def test_a_trace_stored_worded_is_shown_as_stored(make_stack):
    stack, event_id = run_one(make_stack)
    old = [{"rule": "lead", "file": "basic.yaml", "line": 3, "matched": True, "customer": "trace@example.com",
            "actions": [{"action": "add_tags", "line": 8, "value": ["lead"]}]}]
    stack.redis.hset(f"{stack.prefix}event:{event_id}", "trace", json.dumps(old))  # as versions before verdicts kept it
    assert stack.shown(event_id)["trace"] == old
