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


_ID = "evt_00000000000000000000000000000000"   # stands for the event id in the per-process template
_TAG = "00000000-0000-4000-8000-000000000000"   # stands for the delivery tag
_BODY = "BODY_PLACEHOLDER"


class TaskMessages:
    """Builds the broker message for `process_event(event_id)` on `queue`.

    Celery's builder costs ~47 µs a call on the ingress's hot path; the message differs between events
    only in the id (and its base64 body) and the delivery tag, so it is built once per process with
    placeholders and filled in per event (~6 µs). `build_with_celery` is the reference it must equal.
    """

    def __init__(self, celery: Celery, queue: str) -> None:
        self.celery = celery
        self.queue = queue
        self._template: str | None = None
        self._body_template: str | None = None

    def build_with_celery(self, event_id: str, delivery_tag: str | None = None) -> str:
        """The JSON envelope kombu's Redis transport would LPUSH for this task, built by Celery."""
        msg = self.celery.amqp.as_task_v2(event_id, PROCESS_EVENT, args=[event_id], ignore_result=True)
        body = json.dumps(msg.body, separators=(",", ":")).encode()
        properties: dict[str, Any] = dict(msg.properties)
        properties.update(delivery_mode=2, priority=0, body_encoding="base64",
                          delivery_tag=delivery_tag or str(uuid.uuid4()),
                          delivery_info={"exchange": "", "routing_key": self.queue})
        envelope = {"body": base64.b64encode(body).decode(), "content-encoding": "utf-8",
                    "content-type": "application/json", "headers": msg.headers, "properties": properties}
        return json.dumps(envelope, separators=(",", ":"))

    def build(self, event_id: str) -> str:
        """The same envelope as `build_with_celery`, from the per-process template."""
        if self._template is None:
            reference = json.loads(self.build_with_celery(_ID, _TAG))
            self._body_template = base64.b64decode(reference["body"]).decode()
            reference["body"] = _BODY
            self._template = json.dumps(reference, separators=(",", ":"))
        assert self._body_template is not None
        body = base64.b64encode(self._body_template.replace(_ID, event_id).encode()).decode()
        return (self._template.replace(_ID, event_id).replace(_TAG, str(uuid.uuid4()))
                .replace(_BODY, body))


def send_via_celery(celery: Celery, event_id: str) -> None:
    """The ordinary path (a broker other than the store's Redis, the reconciler, replays)."""
    celery.send_task(PROCESS_EVENT, args=[event_id], task_id=event_id)
