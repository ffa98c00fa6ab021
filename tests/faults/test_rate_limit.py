"""Promise 4: the bridge stays inside the API's rate limit across all worker processes, and honours
a 429's window. The negative control (no client-side limiter) shows the test sees an overrun."""

from __future__ import annotations

import bisect

import pytest

from tests.faults.batch import scaled, scaled_timeout, post_batch

pytestmark = [pytest.mark.integration, pytest.mark.faults]

LIMIT, WINDOW = 20, 2.0          # the sandbox: 20 requests per 2 s per key (600/min, scaled down)


def _busiest_window(calls, window):
    """The most requests that arrived at the API within `window` s (arrivals are what a rate limit
    counts; answer times also carry the sandbox's own queueing with many calls in flight)."""
    ts = sorted(c["arrived"] for c in calls)
    return max((bisect.bisect_right(ts, t + window - 1e-9) - i for i, t in enumerate(ts)), default=0)


def _run(make_stack, per_minute):
    stack = make_stack(default_worker=True,
                       cstar={"rate_limit_per_minute": per_minute})
    stack.sandbox.reset(rate_limit=LIMIT, rate_window=WINDOW)
    try:
        stack.start_worker()
        stack.start_worker()  # two workers, many events in flight each, share one budget
        batch = post_batch(stack, n=scaled(60), customers=15, domain="rate.test")
        events = stack.wait_for(batch.ids, timeout=scaled_timeout(240))
        calls = stack.sandbox.calls()
        return events, calls
    finally:
        stack.sandbox.reset()


def test_workers_stay_inside_the_shared_limit(make_stack):
    events, calls = _run(make_stack, per_minute=int(LIMIT * 60 / WINDOW * 0.9))
    assert all(ev["status"] == "done" for ev in events.values())  # nothing dead-lettered
    sent = [c for c in calls if c["path"].startswith("/api/")]
    assert _busiest_window(sent, WINDOW) <= LIMIT, "more requests in one window than the API allows"
    assert sum(1 for c in sent if c["status"] == 429) <= 1


def test_negative_control_without_the_limiter_overruns_and_recovers(make_stack):
    events, calls = _run(make_stack, per_minute=0)
    sent = [c for c in calls if c["path"].startswith("/api/")]
    too_many = [c for c in sent if c["status"] == 429]
    assert too_many, "no 429 without the limiter: the test could not detect an overrun"
    assert _busiest_window(sent, WINDOW) > LIMIT
    # Even without the limiter, the shared cool-down makes every event finish and none is lost.
    assert all(ev["status"] == "done" for ev in events.values())
