"""A burst for one customer costs fewer API calls than events, and still applies each change once."""

from __future__ import annotations

import pytest

from tests.faults.batch import FAST, assert_each_effect_once, post_batch

pytestmark = pytest.mark.integration


def _burst(make_stack, coalesce: bool):
    stack = make_stack(worker={**FAST, "coalesce": coalesce})
    first = stack.accepted_id(stack.post(body={"email": "c0@burst.test", "name": "Burst"}))
    stack.start_worker(concurrency=2)
    stack.wait_for([first])
    before = len(stack.sandbox.calls())
    batch = post_batch(stack, n=60, customers=1, domain="burst.test")  # a Zapier import repeating one email
    events = stack.wait_for(batch.ids, timeout=120)
    calls = stack.sandbox.calls()[before:]
    assert_each_effect_once(stack, batch)
    return events, calls


def test_a_burst_for_one_customer_costs_fewer_calls_than_events(make_stack):
    events, calls = _burst(make_stack, coalesce=True)
    coalesced = [e for e in events.values() if e.get("coalesced_into")]
    assert coalesced, "no event was applied with another's write"
    writes = [c for c in calls if c["method"] == "PATCH"]
    assert len(writes) < len(events)
    assert len(calls) < len(events), f"{len(calls)} calls for {len(events)} events"


def test_without_coalescing_every_event_pays_its_own_read_and_write(make_stack):
    """The comparison: the same burst with coalescing off costs two calls per event."""
    events, calls = _burst(make_stack, coalesce=False)
    assert not [e for e in events.values() if e.get("coalesced_into")]
    assert len(calls) >= 2 * len(events)
