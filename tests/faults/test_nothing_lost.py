"""Promise 1: an event that got a 2xx is processed, even if a worker or Redis is killed.

Real redis-server, real Celery worker processes (prefork), the sandbox over HTTP. Every test asserts
on the sandbox's final state: every accepted event done, every note once, no duplicate customers.
"""

from __future__ import annotations

import random
import time

import pytest

from tests.faults.batch import (FAST, assert_each_effect_once, done_count, max_deliveries, post_batch, scaled,
                                scaled_timeout, wait_until_done_fraction)

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_sigkill_worker_main_process_mid_batch_loses_nothing(make_stack):
    stack = make_stack(worker=FAST)
    victim = stack.start_worker(concurrency=1)
    stack.start_worker(concurrency=1)
    batch = post_batch(stack, n=scaled(240), customers=40)
    wait_until_done_fraction(stack, batch.ids, 0.2)

    victim.kill()  # main process and its pool child, mid-task: nothing acked, nothing requeued
    assert not victim.alive()
    time.sleep(1.0)
    stack.start_worker(concurrency=1)  # the restarted worker

    stack.wait_for(batch.ids, timeout=scaled_timeout(180))
    assert_each_effect_once(stack, batch)


def test_sigkill_pool_children_repeatedly_loses_nothing(make_stack):
    stack = make_stack(worker=FAST)
    worker = stack.start_worker(concurrency=2)
    batch = post_batch(stack, n=scaled(200), customers=30)
    wait_until_done_fraction(stack, batch.ids, 0.05)

    kills = 0
    rng = random.Random(7)
    deadline = time.monotonic() + 30
    while kills < 12 and time.monotonic() < deadline:
        children = worker.child_pids()
        if children:
            try:
                import os
                import signal

                os.kill(rng.choice(children), signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
        time.sleep(0.25)
    assert kills >= 6, "the test did not manage to kill pool children"

    stack.wait_for(batch.ids, timeout=scaled_timeout(180))
    assert_each_effect_once(stack, batch)
    # Redelivery is bounded: the delivery-count guard would park a task that kept killing its worker.
    assert max_deliveries(stack, batch.ids) <= stack.config.worker.max_deliveries


def test_sigterm_worker_mid_batch_restores_its_messages(make_stack):
    stack = make_stack(worker=FAST)
    worker = stack.start_worker(concurrency=2)
    batch = post_batch(stack, n=scaled(150), customers=30)
    wait_until_done_fraction(stack, batch.ids, 0.1)

    worker.terminate(timeout=scaled_timeout(60))  # warm + soft shutdown
    assert not worker.alive()
    stack.start_worker(concurrency=2)

    stack.wait_for(batch.ids, timeout=scaled_timeout(120))
    assert_each_effect_once(stack, batch)


def test_negative_control_without_the_reconciler_a_killed_worker_strands_events(make_stack):
    """With the reconciler off (and Celery's own restore an hour away), the same kill strands events:
    the promise rests on the ledger and the reconciler, and this test would see it broken."""
    stack = make_stack(worker={**FAST, "reconciler": False, "visibility_timeout": 3600})
    # Slow API calls make sure the victim is mid-task (and holds a prefetched one) when it dies.
    stack.sandbox.set_faults([{"action": "latency", "latency_ms": 400, "rate": 1.0}])
    victim = stack.start_worker(concurrency=1)
    batch = post_batch(stack, n=scaled(30), customers=30, domain="strand.test")
    deadline = time.monotonic() + 60
    while done_count(stack, batch.ids) < 2:
        assert time.monotonic() < deadline, "the victim never got going"
        time.sleep(0.05)
    victim.kill()
    stack.sandbox.set_faults([])
    stack.start_worker(concurrency=1)
    # Let the survivor drain the queue until progress stops, then look for what never came back.
    last, still = -1, 0
    while still < 3 * FAST["reconcile_after"] and time.monotonic() < deadline + 120:
        done = done_count(stack, batch.ids)
        still = still + 1 if (done == last and stack.queue_length() == 0) else 0
        last = done
        time.sleep(1)
    stranded = [eid for eid in batch.ids if stack.event(eid).get("status") != "done"]
    assert stranded, "no event stranded without the reconciler: the kill test could not detect a loss"
