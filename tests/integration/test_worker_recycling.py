"""`worker.max_memory_per_child_mib` keeps a worker's memory bounded, on every pool: with prefork
Celery replaces a pool process past it after its task; with threads (the default) the worker process
past it restarts in place after its task (workers.pool_guards). The events it was handling are not
lost or repeated."""

from __future__ import annotations

import re
import time

import pytest

pytestmark = pytest.mark.integration


def test_worker_over_its_memory_limit_restarts_in_place_and_nothing_is_lost(make_stack):
    # 1 MiB: the worker is over it after its first task, so each task ends in a restart (a few
    # seconds each: keep the events few).
    stack = make_stack(worker={"max_memory_per_child_mib": 1})
    worker = stack.start_worker()
    ids = [stack.accepted_id(stack.post(body={"email": f"restart-{i}@example.com", "name": f"R{i}",
                                              "note": f"note {i}"})) for i in range(3)]
    stack.wait_for(ids, timeout=120)

    restarts = worker.count(r"memory guard: RSS \d+ MiB is past worker.max_memory_per_child_mib \(1 MiB\)")
    assert restarts >= 1, worker.log_tail()
    deadline = time.monotonic() + 90
    while worker.count(r" ready\.") < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert worker.count(r" ready\.") >= 2, "the worker did not come back after restarting: " + worker.log_tail()
    later = stack.accepted_id(stack.post(body={"email": "restart-later@example.com", "note": "after"}))
    stack.wait_for([later], timeout=60)   # the restarted worker consumes
    assert worker.alive(), "the worker exited instead of restarting in place"
    for i in range(3):
        c = stack.customer(f"restart-{i}@example.com")
        assert c["name"] == f"R{i}" and c["notes"].count(f"note {i}") == 1
    assert len([x for x in stack.sandbox.calls() if x["method"] == "POST"]) == 4   # 3 + the later one


def test_negative_control_a_worker_under_its_memory_limit_never_restarts(make_stack):
    stack = make_stack()   # 512 MiB, the default
    worker = stack.start_worker()
    stack.wait_for([stack.accepted_id(stack.post(body={"email": f"stay-{i}@example.com"})) for i in range(3)])
    assert worker.count(r"memory guard") == 0 and worker.count(r" ready\.") == 1, worker.log_tail()


def test_prefork_pool_process_over_its_memory_limit_is_replaced_and_nothing_is_lost(make_stack):
    # 1 MiB: every pool process is over it after its first task, so each task ends in a replacement
    # (Celery then takes a few seconds to start the next one: keep the events few).
    stack = make_stack(worker={"max_memory_per_child_mib": 1})
    worker = stack.start_worker(concurrency=1, pool="prefork")
    first_child = worker.child_pids()
    ids = [stack.accepted_id(stack.post(body={"email": f"recycle-{i}@example.com", "name": f"R{i}",
                                              "note": f"note {i}"})) for i in range(3)]
    stack.wait_for(ids)

    # Celery names pool processes ForkPoolWorker-<n>, n counting every process it started.
    ran_in = set(re.findall(r"ForkPoolWorker-(\d+)\] Task cstar_bridge.process_event", worker.log_text()))
    assert len(ran_in) == 3, worker.log_tail()
    assert not set(worker.child_pids()) & set(first_child), "the pool process was not replaced"
    for i in range(3):
        c = stack.customer(f"recycle-{i}@example.com")
        assert c["name"] == f"R{i}" and c["notes"].count(f"note {i}") == 1
    assert len([x for x in stack.sandbox.calls() if x["method"] == "POST"]) == 3
