"""Promise 3: concurrent events for one customer never lose each other's tags.

The API's `tags` replaces the whole list, so two workers doing read-modify-write on one customer lose
updates. The per-customer lock prevents it; the negative control shows the test catches the loss
when the lock is switched off.
"""

from __future__ import annotations

import pytest

from tests.faults.batch import scaled, scaled_timeout, lost_tags

pytestmark = [pytest.mark.integration, pytest.mark.faults]

CUSTOMERS = [f"c{i}@tags.test" for i in range(4)]
N = scaled(160)


def _run(make_stack, *, locks: bool):
    stack = make_stack(default_worker=True, worker={"customer_locks": locks})
    # Latency on reads widens the read-modify-write window the way a slow API does.
    stack.sandbox.set_faults([{"action": "latency", "latency_ms": 25, "rate": 1.0, "methods": ["GET"]}])
    stack.start_worker()
    stack.start_worker()  # two workers, each with many events in flight, racing on four customers
    # The customers exist first: every event is then a read-modify-write of their tag list.
    stack.wait_for([stack.accepted_id(stack.post(body={"email": e, "name": "T"})) for e in CUSTOMERS])
    expected = {e: {"lead"} for e in CUSTOMERS}
    ids = []
    for i in range(N):
        # Runs of 10 events per customer: the workers' threads pick consecutive events, so they race
        # on the same customer (round-robin would give each a different one).
        email = CUSTOMERS[(i // 10) % len(CUSTOMERS)]
        ids.append(stack.accepted_id(stack.post(body={"email": email, "tag": f"tag{i}"})))
        expected[email].add(f"tag{i}")
    stack.wait_for(ids, timeout=scaled_timeout(240))
    return lost_tags(stack, {email: expected[email] for email in CUSTOMERS})


def test_concurrent_tag_events_keep_every_tag(make_stack):
    lost = _run(make_stack, locks=True)
    assert lost == {}, f"lost tag updates: { {e: len(t) for e, t in lost.items()} }"


def test_negative_control_without_locks_loses_tags(make_stack):
    """With the lock off, the same test must see lost updates — proof that it can fail."""
    lost = _run(make_stack, locks=False)
    assert lost, "no tags lost without the lock: the concurrency test would not detect a broken lock"
