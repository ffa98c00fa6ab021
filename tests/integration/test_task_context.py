"""Per-task state stays per task when one process runs many tasks at once (threads or gevent).

`WorkerContext` is shared by a process's tasks; `TaskContext` (`for_task()`) holds what belongs to
one event: the API calls it made and the customer locks it holds. Real Redis and the real sandbox;
the tasks run `process_event` concurrently in one process, as a threads or gevent pool runs them.
"""

from __future__ import annotations

import threading
import uuid

import pytest
import redis

from workers.locks import CustomerLocks, LockLost, TaskLocks
from workers.pipeline import process_event
from workers.runtime import build_context

pytestmark = pytest.mark.integration

N = 12


@pytest.fixture
def r(redis_url):
    return redis.Redis.from_url(redis_url)


def _run_together(targets: list) -> None:
    """Start every target at once (a barrier) and wait for all of them."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(target) -> None:
        barrier.wait()
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors


def _new_customer_events(stack, tag: str) -> list[str]:
    return [stack.accepted_id(stack.post(body={"email": f"{tag}-{i}@ctx.test", "name": f"C{i}"}))
            for i in range(N)]


def test_concurrent_tasks_each_record_only_their_own_api_calls(make_stack):
    stack = make_stack()
    stack.sandbox.set_faults([{"action": "latency", "latency_ms": 50, "rate": 1.0}])  # the tasks overlap
    ctx = build_context(stack.config, concurrency=N)
    ids = _new_customer_events(stack, f"own-{uuid.uuid4().hex[:6]}")
    _run_together([lambda eid=eid: process_event(ctx.for_task(), eid, attempt=0) for eid in ids])

    events = stack.wait_for(ids, timeout=5)
    # A new person costs one POST; its event records that one call, and no other event's.
    assert [len(ev["calls"]) for ev in events.values()] == [1] * N, [ev["calls"] for ev in events.values()]
    assert len([c for c in stack.sandbox.calls() if c["method"] == "POST"]) == N


def test_negative_control_one_context_shared_by_concurrent_tasks_mixes_their_calls(make_stack):
    """What the test above would see if the call log were the process's: every event's record holds
    other events' calls, so that test can tell mixed state from per-task state."""
    stack = make_stack()
    stack.sandbox.set_faults([{"action": "latency", "latency_ms": 50, "rate": 1.0}])
    shared = build_context(stack.config, concurrency=N).for_task()
    ids = _new_customer_events(stack, f"mix-{uuid.uuid4().hex[:6]}")
    _run_together([lambda eid=eid: process_event(shared, eid, attempt=0) for eid in ids])

    events = stack.wait_for(ids, timeout=5)
    assert any(len(ev["calls"]) != 1 for ev in events.values())


def test_a_task_is_fenced_on_its_own_locks_not_on_another_tasks(r):
    prefix = f"k-{uuid.uuid4().hex[:8]}:"
    locks = CustomerLocks(r, prefix=prefix, lease=60, wait=0.1)
    a, b = TaskLocks(locks), TaskLocks(locks)
    with a.hold_all(["a@x.co"]), b.hold_all(["b@x.co"]):
        r.set(locks.name("b@x.co"), "someone-else#1")   # b's lease ended and another holder took it
        with pytest.raises(LockLost):
            b.fence()
        a.fence()   # a still holds its lock: its writes go on
        # negative control: fencing on every lock of the process (one task's view of it) stops a too
        with pytest.raises(LockLost):
            locks.fence()
    assert a.names == [] and b.names == []
    a.fence()   # holding nothing: nothing to fence
