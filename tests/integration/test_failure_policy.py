"""How the pipeline treats a failure it did not foresee, on a real Redis store: a deterministic one
(bad value, encoding, recursion) is dead-lettered on its first attempt with its reason; Redis or
network trouble is transient (retried with backoff, within max_retries); anything else is a bug:
at most UNEXPECTED_RETRIES retries, then a dead letter with the traceback — never a loop.

The failure is injected by replacing the rules evaluation (the only stub here); the store, Redis
and the rest of the pipeline are the real ones."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

import workers.pipeline as pipeline
from workers.pipeline import UNEXPECTED_RETRIES, process_event
from workers.runtime import build_context

pytestmark = pytest.mark.integration


@pytest.fixture
def ctx_and_event(make_stack) -> Any:
    stack = make_stack(default_worker=True)
    ctx = build_context(stack.config).for_task()  # a task's context, as the Celery task gets it
    event_id = stack.accepted_id(stack.post(body={"email": "policy@example.com", "note": "n"}))
    return stack, ctx, event_id


def failing(exc: BaseException) -> Any:
    def evaluate(*_: Any, **__: Any) -> Any:
        raise exc
    return evaluate


@pytest.mark.parametrize("exc", [
    ValueError("Exceeds the limit (4300 digits) for integer string conversion"),
    UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
    RecursionError("maximum recursion depth exceeded"),
    OverflowError("int too large to convert to float"),
    ZeroDivisionError("division by zero"),
], ids=lambda e: type(e).__name__)
def test_a_deterministic_failure_is_dead_on_its_first_attempt(ctx_and_event, monkeypatch, exc):
    stack, ctx, event_id = ctx_and_event
    monkeypatch.setattr(pipeline, "evaluate", failing(exc))
    outcome = process_event(ctx, event_id, attempt=0)
    assert outcome.status == "dead" and outcome.retry_in is None
    ev = stack.event(event_id)
    assert ev["status"] == "dead"
    assert ev["reason"] == f"cannot be processed: {type(exc).__name__}: {exc}"
    assert ev["error"]["error"] == type(exc).__name__ and "Traceback" in ev["error"]["traceback"]
    assert event_id in {d["event_id"] for d in ctx.store.dead_letters()}


def test_an_unexpected_exception_is_retried_twice_then_dead_with_its_traceback(ctx_and_event, monkeypatch):
    stack, ctx, event_id = ctx_and_event
    monkeypatch.setattr(pipeline, "evaluate", failing(KeyError("a bug")))
    outcomes = []
    for attempt in range(UNEXPECTED_RETRIES + 1):
        outcomes.append(process_event(ctx, event_id, attempt=attempt))
    assert [o.status for o in outcomes] == ["retry"] * UNEXPECTED_RETRIES + ["dead"]
    assert all(o.retry_in is not None and o.retry_in <= 10 for o in outcomes[:-1])
    ev = stack.event(event_id)
    assert ev["status"] == "dead"
    assert ev["reason"] == f"failed {UNEXPECTED_RETRIES + 1} times with an unexpected error: KeyError: 'a bug'"
    assert "KeyError" in ev["error"]["traceback"]
    assert process_event(ctx, event_id, attempt=UNEXPECTED_RETRIES + 1).status == "dead"  # terminal stays terminal


def test_redis_trouble_mid_event_is_transient_within_the_retry_budget(ctx_and_event, monkeypatch):
    stack, ctx, event_id = ctx_and_event
    monkeypatch.setattr(pipeline, "evaluate", failing(redis.ConnectionError("connection reset")))
    budget = ctx.config.worker.max_retries
    statuses = [process_event(ctx, event_id, attempt=a).status for a in range(budget + 1)]
    assert statuses == ["retry"] * budget + ["dead"]
    assert stack.event(event_id)["reason"].startswith(f"gave up after {budget + 1} attempts: ConnectionError")


def test_without_the_stub_the_same_event_is_done(ctx_and_event):
    """The control: the event itself is fine; only the injected failure made it fail."""
    stack, ctx, event_id = ctx_and_event
    assert process_event(ctx, event_id, attempt=0).status == "done"
    assert stack.customer("policy@example.com")["notes"].count("n") == 1
    assert json.loads(stack.redis.hget(f"{stack.prefix}event:{event_id}", "deliveries:0")) == 1
