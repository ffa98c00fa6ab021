"""Replay gives a dead event a real second chance: a fresh attempt budget and a fresh rate-limit
deadline, while the history of the earlier runs is kept.

Real redis-server, a real worker (production command, default `worker:` settings but a smaller
attempt budget, `max_retries: 2`, so the first death comes in seconds), the limiter on, the sandbox
over HTTP injecting the transient errors.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.batch import scaled_timeout

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ADMIN = {"Authorization": "Bearer test-admin"}
FLAKY, LATE = "flaky@replay.test", "late@replay.test"


def _faults(flaky_times: int | None) -> list[dict]:
    """503 on the flaky customer's writes (`flaky_times` times, None: always); one 429 on the late one's."""
    return [{"action": "error", "status": 503, "methods": ["POST", "PATCH"], "body_contains": FLAKY,
             "times": flaky_times},
            {"action": "error", "status": 429, "retry_after": 2, "methods": ["POST", "PATCH"],
             "body_contains": LATE, "times": 1}]


def test_replayed_dead_events_get_a_fresh_budget_and_deadline_and_apply_once(make_stack):
    stack = make_stack(default_worker=True, worker={"max_retries": 2}, cstar={"rate_limit_per_minute": 600})
    stack.sandbox.set_faults(_faults(None))
    # An event accepted longer ago than worker.rate_limit_deadline (an overnight outage): its first
    # 429 finds the deadline passed and dead-letters it.
    late = stack.accepted_id(stack.post(body={"email": LATE, "name": "L", "tag": "late-tag", "note": "late-note"}))
    deadline = stack.config.worker.rate_limit_deadline
    stack.redis.hset(f"{stack.prefix}event:{late}", "accepted_at", repr(time.time() - deadline - 600))
    stack.start_worker()
    flaky = stack.accepted_id(stack.post(body={"email": FLAKY, "name": "F", "tag": "flaky-tag",
                                               "note": "flaky-note"}))
    dead = stack.wait_for([late, flaky], statuses=("dead",), timeout=scaled_timeout(120))
    assert "rate limited" in dead[late]["reason"], dead[late]["reason"]
    assert "gave up after 3 attempts" in dead[flaky]["reason"], dead[flaky]["reason"]

    # The outage is over — almost: each event meets one more transient error on its replay. Without
    # a fresh budget the flaky one dies at once (failures 4 > 2); without a fresh deadline the late
    # one dies at its first 429.
    stack.sandbox.set_faults(_faults(1))
    resp = stack.http.post("/events/replay-dead", headers=ADMIN)
    assert resp.get_json()["data"] == {late: "replayed", flaky: "replayed"}
    events = stack.wait_for([late, flaky], timeout=scaled_timeout(120))

    assert [f["fired"] for f in stack.sandbox.faults()] == [1, 1], "the replays met no transient error"
    for eid, email, tag, note in ((late, LATE, "late-tag", "late-note"), (flaky, FLAKY, "flaky-tag", "flaky-note")):
        c = stack.customer(email)   # exactly one customer
        assert c["notes"].count(note) == 1
        assert {t.lower() for t in c["tags"]} == {"lead", tag}
        history = events[eid]["replays_history"]
        assert len(history) == 1 and history[0]["status"] == "dead" and history[0]["reason"]
        assert int(events[eid]["replays"]) == 1
    assert int(events[flaky]["replays_history"][0]["failures"]) == 2   # failures before the last, dead-lettered attempt
    assert float(events[late]["replays_history"][0]["accepted_at"]) < time.time() - deadline
