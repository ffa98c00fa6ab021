"""Put a `process_event` task on the queue — through Celery, or inside the ingress's claim script.

Celery on a Redis broker publishes a task as one `LPUSH <queue> <json envelope>`. `TaskMessages`
builds that exact envelope with Celery's own `as_task_v2`, so the ingress can push it from the same
Lua script that claims the idempotency key and stores the event: claim, store, ledger and enqueue
are one atomic round trip, and there is no moment at which an accepted event is not yet queued.

Used only when the broker is the store's Redis (the default); otherwise `send_task` is used.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from celery import Celery

from workers.tasks import PROCESS_EVENT


class TaskMessages:
    """Builds the broker message for `process_event(event_id)` on `queue`."""

    def __init__(self, celery: Celery, queue: str) -> None:
        self.celery = celery
        self.queue = queue

    def build(self, event_id: str) -> str:
        """The JSON envelope kombu's Redis transport would LPUSH for this task."""
        msg = self.celery.amqp.as_task_v2(event_id, PROCESS_EVENT, args=[event_id], ignore_result=True)
        body = json.dumps(msg.body, separators=(",", ":")).encode()
        properties: dict[str, Any] = dict(msg.properties)
        properties.update(delivery_mode=2, priority=0, body_encoding="base64", delivery_tag=str(uuid.uuid4()),
                          delivery_info={"exchange": "", "routing_key": self.queue})
        envelope = {"body": base64.b64encode(body).decode(), "content-encoding": "utf-8",
                    "content-type": "application/json", "headers": msg.headers, "properties": properties}
        return json.dumps(envelope, separators=(",", ":"))


def send_via_celery(celery: Celery, event_id: str) -> None:
    """The ordinary path (a broker other than the store's Redis, the reconciler, replays)."""
    celery.send_task(PROCESS_EVENT, args=[event_id], task_id=event_id)
