"""The trace kept with each event is bounded (`trace_max_bytes`): Redis holds every event for
`event_ttl`, and a trace grows with the number of rules."""

from __future__ import annotations

import json

import pytest

from workers.store import bounded_trace


def entry(i: int, matched: bool, pad: int = 150) -> dict:
    e = {"rule": f"r{i}", "file": "rules/x.yaml", "line": i, "matched": matched}
    if matched:
        e.update(customer="a@b.c", actions=[{"action": "add_tags", "value": ["x" * pad]}])
    else:
        e["skipped"] = "when: source 'zapier' is not one of ['typeform', 'tally']" + " " * pad
    return e


def test_a_trace_within_the_limit_is_kept_whole():
    trace = [entry(i, i == 3) for i in range(10)]
    text, note = bounded_trace(trace, 16_384)
    assert note is None
    assert json.loads(text) == trace


def test_no_limit_keeps_any_trace_whole():
    trace = [entry(i, False) for i in range(1000)]
    text, note = bounded_trace(trace, 0)
    assert note is None and json.loads(text) == trace


def test_past_the_limit_matched_rules_stay_whole_and_the_others_are_named():
    trace = [entry(i, i in (5, 50)) for i in range(100)]
    full = len(json.dumps(trace, separators=(",", ":")))
    text, note = bounded_trace(trace, 8_000)
    kept = json.loads(text)
    assert len(text) <= 8_000 < full
    assert [e["rule"] for e in kept] == [f"r{i}" for i in range(100)], "every rule is still listed, in order"
    assert kept[5] == trace[5] and kept[50] == trace[50]
    assert kept[0] == {"rule": "r0", "line": 0, "matched": False}
    assert note == {"bytes": full, "limit": 8_000, "rules": 100, "kept": "matched rules in full, the others by name",
                    "hint": note["hint"]}
    assert "simulate" in note["hint"]


def test_far_past_the_limit_only_matched_rules_are_kept():
    trace = [entry(i, i % 100 == 0) for i in range(1000)]  # 10 matched of 1,000
    text, note = bounded_trace(trace, 4_000)
    kept = json.loads(text)
    assert len(text) <= 4_000
    assert [e["rule"] for e in kept] == [f"r{i}" for i in range(0, 1000, 100)]
    assert all(e["matched"] for e in kept)
    assert note["kept"] == "matched rules only" and note["rules"] == 1000


@pytest.mark.parametrize("limit", [300, 1_000])
def test_matched_rules_past_the_limit_are_still_named(limit):
    trace = [entry(i, True, pad=400) for i in range(8)]
    text, note = bounded_trace(trace, limit)
    kept = json.loads(text)
    assert [e["rule"] for e in kept] == [f"r{i}" for i in range(8)]
    assert "actions" not in kept[-1], "the matched rules past the limit are named, not kept whole"
    assert note is not None and note["kept"] == "matched rules only"
