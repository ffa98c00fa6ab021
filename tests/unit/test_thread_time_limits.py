"""The threads pool's time limits (workers.pool_guards.ThreadTimeLimits): real threads, real async
exceptions; the watchdog's clock is driven by the test (`check(now)`), so nothing depends on timing."""

from __future__ import annotations

import threading
import time

from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from workers.pool_guards import ThreadTimeLimits


def _task_thread(limits: ThreadTimeLimits, body) -> tuple[threading.Thread, list, threading.Event]:
    """A thread that registers a task, runs `body(stop)` and records what ended it."""
    seen: list = []
    started, stop = threading.Event(), threading.Event()

    def run() -> None:
        limits.started("t")
        started.set()
        try:
            body(stop)
            seen.append("returned")
        except BaseException as exc:  # noqa: BLE001 - what the test looks at
            seen.append(type(exc))
        finally:
            limits.finished()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert started.wait(10)
    return t, seen, stop


def _busy(stop: threading.Event) -> None:
    while not stop.is_set():   # Python bytecode: the async exception lands here
        sum(range(100))


def test_a_task_past_its_soft_limit_gets_soft_time_limit_exceeded():
    limits = ThreadTimeLimits(soft=100, hard=120)
    t, seen, stop = _task_thread(limits, _busy)
    assert limits.check(time.monotonic() + 50) == []          # under the limit: nothing
    assert [e for _, e in limits.check(time.monotonic() + 101)] == [SoftTimeLimitExceeded]
    t.join(10)
    stop.set()
    assert seen == [SoftTimeLimitExceeded]


def test_a_task_that_swallows_the_soft_limit_gets_the_hard_one():
    limits = ThreadTimeLimits(soft=100, hard=120)

    def stubborn(stop: threading.Event) -> None:
        try:
            _busy(stop)
        except SoftTimeLimitExceeded:
            _busy(stop)

    t, seen, stop = _task_thread(limits, stubborn)
    limits.check(time.monotonic() + 101)
    assert [e for _, e in limits.check(time.monotonic() + 121)] == [TimeLimitExceeded]
    t.join(10)
    stop.set()
    assert seen == [TimeLimitExceeded]


def test_a_finished_task_never_gets_an_exception_in_its_idle_thread():
    limits = ThreadTimeLimits(soft=100, hard=120)
    t, seen, stop = _task_thread(limits, lambda stop: None)
    t.join(10)
    assert limits.check(time.monotonic() + 1000) == []
    assert seen == ["returned"]
