"""`worker.max_memory_per_child_mib` reaches Celery: a pool process past it is replaced after its
task, and the events it was handling are not lost or repeated."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.integration


def test_pool_process_over_its_memory_limit_is_replaced_and_nothing_is_lost(make_stack):
    # 1 MiB: every pool process is over it after its first task, so each task ends in a replacement
    # (Celery then takes a few seconds to start the next one: keep the events few).
    stack = make_stack(worker={"max_memory_per_child_mib": 1})
    worker = stack.start_worker(concurrency=1)
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
