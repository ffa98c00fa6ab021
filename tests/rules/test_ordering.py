"""Per-customer order by the provider's time: which writes are stale (pure), and `order: arrival`."""

from __future__ import annotations

import itertools

from rules import apply_change, compute_change
from rules.ordering import Mark, annotate_trace, drop_stale, drop_stale_in_turn, order_key
from tests.rules.support import diagnostics, run

RULES = """
version: 1
rules:
  - id: state
    customer: {email: "{{ data.email }}"}
    actions:
      - add_tags: ["{{ data.tag }}"]
      - set_status: "{{ data.status }}"
      - set_metadata: {plan: "{{ data.plan }}"}
      - if: {field: data.drop, op: is_true}
        remove_metadata: [plan]
"""
ARRIVAL = RULES.replace("  - id: state\n", "  - id: state\n    order: arrival\n")


def _mark(t: int, eid: str) -> Mark:
    return Mark(order_key(t * 1000, "", f"key-{eid}"), eid, f"t{t}")


def _plan(text: str, **data):  # type: ignore[no-untyped-def]
    return run(text, data).plans[0]


def test_an_older_write_than_the_mark_is_dropped_with_its_verdict() -> None:
    plan = _plan(RULES, status="inactive", plan="basic", tag="t1")
    newer = _mark(20, "evt_new")
    ordered = drop_stale(plan, _mark(10, "evt_old"), {"status": newer})
    assert "status" not in ordered.plan.fields
    assert ordered.plan.set_metadata == {"plan": "basic"}      # not overwritten by the newer event: applied
    assert ordered.plan.add_tags == ("t1",)                   # tags accumulate whatever the order
    assert ordered.stale == ({"field": "status", "rule": "state", "event": "evt_new", "at": "t20",
                              "verdict": "stale: newer value from event evt_new at t20"},)
    assert set(ordered.marks) == {"metadata.plan"}


def test_a_newer_write_passes_and_moves_the_marks() -> None:
    plan = _plan(RULES, status="active", plan="pro")
    mine = _mark(30, "evt_3")
    ordered = drop_stale(plan, mine, {"status": _mark(20, "evt_2")})
    assert ordered.plan == plan and not ordered.stale
    assert ordered.marks == {"status": mine, "metadata.plan": mine}


def test_without_a_provider_time_nothing_is_stale_or_recorded() -> None:
    plan = _plan(RULES, status="active")
    ordered = drop_stale(plan, None, {"status": _mark(99, "evt_9")})
    assert ordered.plan == plan and not ordered.stale and not ordered.marks


def test_order_arrival_is_never_stale() -> None:
    plan = _plan(ARRIVAL, status="inactive", plan="x")
    assert plan.arrival == {"status", "metadata.plan"}
    ordered = drop_stale(plan, _mark(1, "evt_old"), {"status": _mark(2, "evt_new")})
    assert ordered.plan == plan and not ordered.stale and not ordered.marks


def test_a_metadata_removal_is_ordered_like_a_write() -> None:
    plan = _plan(RULES, drop=True)
    ordered = drop_stale(plan, _mark(1, "evt_old"), {"metadata.plan": _mark(2, "evt_new")})
    assert ordered.plan.remove_metadata == ()


def test_same_instant_ranks_by_tie_break_then_delivery_key() -> None:
    created = order_key(1680893993000, "0", "evt_B")
    updated = order_key(1680893993000, "1", "evt_A")
    assert created < updated < order_key(1680893994000, "0", "evt_0")


def test_every_arrival_order_ends_in_the_state_of_in_order_application() -> None:
    """The property the worker relies on: applying the sequence in any order, each plan judged against the
    marks the earlier ones left, ends where in-order application ends (tags as a set)."""
    seq = [dict(status="active", plan="trial", tag="a"), dict(status="inactive", plan="pro", tag="b"),
           dict(drop=True, tag="c"), dict(status="active", tag="d")]
    plans = [(_plan(RULES, **d), _mark(i + 1, f"evt_{i}")) for i, d in enumerate(seq)]

    def final(order: list[int]) -> tuple:  # type: ignore[type-arg]
        state = {"email": "ana@example.com", "status": "active", "tags": [], "metadata": {}, "notes": ""}
        marks: dict[str, Mark] = {}
        for i in order:
            ordered = drop_stale_in_turn([plans[i]], marks)[0]
            marks.update(ordered.marks)
            state = apply_change(state, compute_change(ordered.plan, state, exists=True)) or state
        return state["status"], tuple(sorted(state["metadata"].items())), tuple(sorted(state["tags"]))

    expected = final([0, 1, 2, 3])
    assert expected == ("active", (), ("a", "b", "c", "d"))
    assert {final(list(p)) for p in itertools.permutations(range(4))} == {expected}


def test_the_trace_shows_the_verdict_on_the_rule_that_wanted_the_write() -> None:
    trace = [{"rule": "state", "customer": "Ana@example.com", "matched": True}, {"rule": "other", "matched": False}]
    steps = [{"email": "ana@example.com", "stale": [{"field": "status", "rule": "state",
                                                     "verdict": "stale: newer value from event e at t"}]}]
    out = annotate_trace(trace, steps)
    assert out[0]["stale"] == [{"field": "status", "verdict": "stale: newer value from event e at t"}]
    assert "stale" not in trace[0] and out[1] is trace[1]


def test_order_is_checked_and_arrival_without_overwrites_is_a_warning() -> None:
    bad = RULES.replace("  - id: state\n", "  - id: state\n    order: newest\n")
    assert any("expected provider" in d and "error" in d for d in diagnostics(bad))
    tags_only = """
    version: 1
    rules:
      - id: tagger
        order: arrival
        actions: [{add_tags: [x]}]
    """
    found = diagnostics(tags_only)
    assert len(found) == 1 and "warning: order: arrival changes nothing here" in found[0], found
    assert diagnostics(ARRIVAL) == []


def test_rules_read_the_providers_time_as_event_occurred_at() -> None:
    text = """
    version: 1
    rules:
      - id: stamp
        actions: [{set_metadata: {last_event_at: "{{ event.occurred_at }}", about: "{{ event.entity }}"}}]
    """
    plan = run(text, {}, occurred_at="2026-03-01T10:00:04.000Z", entity="cus_1").plans[0]
    assert plan.set_metadata == {"last_event_at": "2026-03-01T10:00:04.000Z", "about": "cus_1"}


def test_negative_control_arrival_order_depends_on_the_order() -> None:
    """Without marks (what `order: arrival` means), two orders of the same events end differently."""
    first, second = _plan(ARRIVAL, status="active"), _plan(ARRIVAL, status="inactive")
    state = {"email": "ana@example.com", "status": "active", "tags": [], "metadata": {}, "notes": ""}

    def final(plans: list) -> str:  # type: ignore[type-arg]
        s = state
        for p in plans:
            s = apply_change(s, compute_change(drop_stale(p, _mark(1, "e"), {"status": _mark(9, "x")}).plan, s,
                                               exists=True)) or s
        return str(s["status"])

    assert final([first, second]) != final([second, first])
