"""Promise 6 on the default pool: an event that runs past `task_soft_time_limit` is stopped, retried a
few times and dead-lettered with its reason; the other events of the same worker process go on.

Celery's threads pool enforces no time limit itself; workers.pool_guards does (the worker is started
as `cstar-bridge worker` starts it). Only the sizes differ from the defaults: a 3 s soft limit (6 s
hard) and an API that takes 4 s to answer one customer's POST (the read timeout is 5 s)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.slow]

SLOW_POST = {"action": "latency", "latency_ms": 4000, "rate": 1.0, "methods": ["POST"], "body_contains": "slow@"}


def _run(make_stack, worker: dict):
    stack = make_stack(default_worker=True, worker=worker)
    stack.sandbox.set_faults([SLOW_POST])
    w = stack.start_worker()
    slow = stack.accepted_id(stack.post(body={"email": "slow@limits.test", "name": "S"}))
    others = [stack.accepted_id(stack.post(body={"email": f"quick-{i}@limits.test"})) for i in range(5)]
    stack.wait_for(others, timeout=60)   # not held up by the slow one
    events = stack.wait_for([slow], statuses=("done", "dead"), timeout=180)
    return events[slow], w


def test_an_event_past_its_soft_time_limit_is_stopped_and_dead_lettered(make_stack):
    ev, worker = _run(make_stack, {"task_soft_time_limit": 3, "task_time_limit": 6})
    assert ev["status"] == "dead", ev
    assert "SoftTimeLimitExceeded" in ev["reason"], ev["reason"]
    assert worker.count(r"ran past its soft time limit \(3 s\)") >= 1, worker.log_tail()


def test_negative_control_under_the_default_limits_the_same_event_is_done(make_stack):
    ev, worker = _run(make_stack, {})
    assert ev["status"] == "done", ev
    assert worker.count(r"time limit") == 0, worker.log_tail()
