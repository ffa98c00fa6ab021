"""The trace stored with a finished event is bounded by `trace_max_bytes` (Redis keeps every event for
`event_ttl`), and cutting it changes nothing the event does."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.integration

BODY = {"email": "trace@example.com", "name": "Tracy", "tag": "vip", "plan": "pro", "note": "hello"}


def run_one(make_stack, **settings):
    stack = make_stack(settings=settings)
    stack.start_worker()
    event_id = stack.accepted_id(stack.post(body=BODY))
    stack.wait_for([event_id])
    return stack, stack.event(event_id)


def test_a_trace_past_the_limit_is_cut_and_says_so(make_stack):
    whole_stack, whole = run_one(make_stack)
    a = whole_stack.customer("trace@example.com")  # before the next stack resets the sandbox
    assert "trace_truncated" not in whole
    full = json.dumps(whole["trace"], separators=(",", ":"))
    matched = [e["rule"] for e in whole["trace"] if e["matched"]]
    assert len(matched) >= 2 and len(whole["trace"]) > len(matched)

    limit = len(full) // 2
    cut_stack, cut = run_one(make_stack, trace_max_bytes=limit)
    assert cut["status"] == "done"
    stored = json.dumps(cut["trace"], separators=(",", ":"))
    assert len(stored) <= limit < len(full)
    assert [e["rule"] for e in cut["trace"] if e["matched"]] == matched
    note = cut["trace_truncated"]
    assert note["bytes"] == len(full) and note["limit"] == limit and "simulate" in note["hint"]

    # The change is the same either way.
    b = cut_stack.customer("trace@example.com")
    assert (a["tags"], a["metadata"], a["name"]) == (b["tags"], b["metadata"], b["name"])
    unmarked = [re.sub(r" \[cstar-bridge:evt_\w+:\w+\]", "", c["notes"]) for c in (a, b)]
    assert unmarked[0] == unmarked[1] == "hello"
