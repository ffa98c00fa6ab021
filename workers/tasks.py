"""Thin Celery tasks: take an id, call one plain function, turn its outcome into a retry."""

from __future__ import annotations

from typing import Any

from celery import Celery

from workers.config import Config

PROCESS_EVENT = "cstar_bridge.process_event"


def register(app: Celery, config: Config) -> None:
    """Register the tasks on `app` (one app per config; no module-level app)."""

    # TrackedRequest records which worker holds each message, so a dead worker's are found in seconds.
    @app.task(name=PROCESS_EVENT, bind=True, max_retries=None, Request="workers.reconciler:TrackedRequest")
    def process_event_task(self: Any, event_id: str) -> str:
        from workers.pipeline import process_event
        from workers.runtime import context_for

        # A context of its own per task: with many tasks in one process (threads, gevent) nothing mixes.
        ctx = context_for(config).for_task()
        outcome = process_event(ctx, event_id, attempt=self.request.retries)
        if outcome.retry_in is not None:
            raise self.retry(countdown=outcome.retry_in, max_retries=None)
        return outcome.status

