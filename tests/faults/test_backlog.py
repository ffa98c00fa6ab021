"""The reconciler leaves alone what a live worker holds and what merely waits in a long queue.

A backlog of 2,000 events (production sees 10k; smaller here to keep the suite fast, the rule does
not depend on the size) waits in front of two live, slow workers (as `cstar-bridge worker` starts
them, default `worker:` settings). Over
several liveness rounds nothing is restored or re-enqueued, and no event is carried by two messages.
The age sweep, run as if its `reconcile_after` had long passed for every event, re-enqueues nothing
either, because every event is still on the queue or delivered; the negative control runs the same
sweep without that check and shows it would have duplicated the whole backlog.
"""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from tests.faults.batch import done_count, scaled
from workers.liveness import in_flight_event_ids
from workers.reconciler import reconcile_once

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(600)]

ARGS = re.compile(rb'"argsrepr": ?"[\[(]\'(evt_[0-9a-f]+)\',?[\])]"')  # ['evt_…'], or ('evt_…',) from a retry


def _messages(stack) -> Counter:
    """How many messages (queued, or delivered and unacknowledged) carry each event of this stack."""
    pipe = stack.redis.pipeline(transaction=True)
    pipe.lrange(stack.queue, 0, -1)
    pipe.hvals("unacked")
    queued, unacked = pipe.execute()
    mine = [raw for raw in unacked if stack.queue.encode() in raw]
    return Counter(m.decode() for raw in list(queued) + mine for m in ARGS.findall(raw))


def test_a_long_queue_and_live_workers_are_left_alone(make_stack):
    # Slow enough that two workers with 64 events in flight each (and a customer's burst merged into
    # one write) cannot drain the backlog while the test looks: 5 s an API call, one customer an event.
    stack = make_stack(default_worker=True, cstar={"read_timeout": 20})
    stack.sandbox.set_faults([{"action": "latency", "latency_ms": 5000, "rate": 1.0}])
    n = scaled(2000)
    ids = [stack.accepted_id(stack.post(body={"email": f"b{i}@backlog.test", "tag": f"t{i}"}))
           for i in range(n)]
    stack.start_worker()
    stack.start_worker()
    rounds = 5 * stack.config.worker.heartbeat_interval + stack.config.worker.heartbeat_ttl
    time.sleep(rounds)   # several liveness rounds, and longer than a heartbeat lives

    carried = _messages(stack)
    twice = {eid: k for eid, k in carried.items() if k > 1}
    assert not twice, f"{len(twice)} event(s) carried by more than one message: {list(twice.items())[:5]}"
    done = done_count(stack, ids)
    assert done < n / 2, "the workers drained the backlog: the test no longer has one to look at"
    assert len(carried) + done >= n - 4, "events neither carried nor done"  # a few mid-flight retries
    requeued = [eid for eid in ids if stack.event(eid).get("requeued_from")]
    assert not requeued, f"live workers' events requeued: {requeued[:5]}"
    assert not any(w.count(r"liveness: dead worker") for w in stack.workers)

    # The age sweep as if every event had waited past reconcile_after: all are queued or delivered.
    store = stack.app.extensions["cstar_bridge"].store
    later = time.time() + 10 * stack.config.worker.reconcile_after
    sent: list[str] = []
    assert reconcile_once(store, sent.append, after=stack.config.worker.reconcile_after, now=later,
                          in_flight=lambda: in_flight_event_ids(stack.redis, stack.queue)) == 0
    # Negative control: the same sweep without looking at the queue would duplicate the backlog.
    blind = reconcile_once(store, sent.append, after=stack.config.worker.reconcile_after, now=later * 2)
    assert blind >= min(400, n - done - 10), f"the blind sweep re-enqueued only {blind}"
    assert any(carried.get(eid) for eid in sent), "the blind sweep would have touched no waiting event"
