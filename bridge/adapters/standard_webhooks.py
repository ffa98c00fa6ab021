"""`standard_webhooks`: any sender that follows Standard Webhooks (Svix and the providers built on it).

The body's `type` is the event type (`webhook` when the sender puts none); `data` is the body's
`data` object, or the body without `type`/`timestamp` when the sender "squashes" it into the top
level. Nothing is renamed; the person found in `data` is added as in the `json` adapter (`email`…,
only when `data` has no such key). Delivery id: the `webhook-id` (or `svix-id`) header, stable across retries.
"""

from __future__ import annotations

from typing import Any, Mapping

from bridge.adapters.base import Adapter, AdaptedEvent, require_mapping
from bridge.adapters.common import text
from bridge.adapters.generic_json import with_person
from bridge.inbound import Headers

DEFAULT_TYPE = "webhook"


def adapt_standard_webhooks(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """`{type, timestamp, data}` -> the event of that type with `data` as sent."""
    body = require_mapping(payload)
    event_type = text(body.get("type")) or DEFAULT_TYPE
    squashed = {k: v for k, v in body.items() if k not in ("type", "timestamp")}
    data = dict(body["data"]) if isinstance(body.get("data"), Mapping) else squashed
    return AdaptedEvent(type=event_type, data=with_person(data),
                        delivery_id=text(headers.get("webhook-id")) or text(headers.get("svix-id")))


ADAPTER = Adapter(name="standard_webhooks", adapt=adapt_standard_webhooks, event_types=("*",),
                  accepts=("json",), description="Standard Webhooks / Svix senders")
