"""A burst for one customer costs fewer API calls than events, and still applies each change once."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.faults.batch import FAST, assert_each_effect_once, post_batch
from tests.support.stack import RULES_DIR

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


def test_a_burst_posted_slower_than_a_write_still_coalesces(make_stack):
    """A loaded ingress posts a burst tens of milliseconds apart, longer than one write takes: the lock
    holder lingers for the next plan instead of letting each event pay its own read and write."""
    stack = make_stack(worker={**FAST, "coalesce": True})
    first = stack.accepted_id(stack.post(body={"email": "c0@slow.test", "name": "Slow"}))
    stack.start_worker(concurrency=2)
    stack.wait_for([first])
    before = len(stack.sandbox.calls())
    ids = []
    for i in range(40):
        ids.append(stack.accepted_id(stack.post(body={"email": "c0@slow.test", "tag": f"t{i}"})))
        time.sleep(0.05)  # the pace, not a deadline: slower than a write, well within a linger
    events = stack.wait_for(ids, timeout=120)
    calls = stack.sandbox.calls()[before:]
    assert len(calls) < len(events), f"{len(calls)} calls for {len(events)} events"
    assert {f"t{i}" for i in range(40)} <= set(stack.customer("c0@slow.test")["tags"])


def test_without_coalescing_every_event_pays_its_own_read_and_write(make_stack):
    """The comparison: the same burst with coalescing off costs two calls per event."""
    events, calls = _burst(make_stack, coalesce=False)
    assert not [e for e in events.values() if e.get("coalesced_into")]
    assert len(calls) >= 2 * len(events)


END_TRIAL_RULES = """\
version: 1
rules:
  - id: end-trial
    when: {source: demo}
    if: {field: data.end_trial, op: is_true}
    customer: {email: "{{ data.email }}"}
    actions:
      - remove_metadata: [trial_ends]
"""


def test_coalescing_keeps_a_metadata_removal_when_get_shows_no_metadata(make_stack, tmp_path):
    """The API's documented GET has no `metadata`: a removal parked behind a `set_metadata` must still
    go out as `{trial_ends: null}` (issue 11 §5), on the sandbox answering GET like the spec's example."""
    extra = tmp_path / "end-trial.yaml"
    extra.write_text(END_TRIAL_RULES)
    stack = make_stack(rules=[RULES_DIR / "basic.yaml", extra])
    stack.sandbox.reset(get_shape="documented")
    email = "trial@burst.test"
    first = stack.accepted_id(stack.post(body={"email": email, "plan": "trial", "tag": "t-first"}))
    stack.start_worker(concurrency=2)
    stack.wait_for([first])
    cid = stack.customer(email)["id"]
    httpx.patch(f"{stack.sandbox.url}/api/v1/teams/team_dev/customers/{cid}",
                json={"metadata": {"trial_ends": "2027-01-01"}}, headers={"Authorization": "Bearer sk_test_dev"},
                timeout=10).raise_for_status()
    removal = 30
    ids = []
    for i in range(60):  # a burst: every event sets `plan` and a tag; one ends the trial
        body = {"email": email, "plan": f"p{i}", "tag": f"t{i}"}
        if i == removal:
            body = {"email": email, "end_trial": True, "tag": f"t{i}"}
        ids.append(stack.accepted_id(stack.post(body=body)))
    events = stack.wait_for(ids, timeout=120)
    assert events[ids[removal]].get("coalesced_into"), "the removal was not applied with another's write"
    customer = stack.customer(email)
    assert "trial_ends" not in customer["metadata"], customer["metadata"]
    assert customer["metadata"]["plan"].startswith("p")
    assert {f"t{i}" for i in range(60)} <= set(customer["tags"])
