"""`json`: any JSON object (Zapier, Make, n8n, your own app).

Two shapes are accepted: an envelope `{"type": "...", "data": {...}}`, or a flat object that becomes
`data` itself with type `form.submitted`. The delivery id comes from `idempotency_key` or `id`.
"""

from __future__ import annotations

from typing import Any, Mapping

from bridge.adapters.base import FORM_SUBMITTED, Adapter, AdaptedEvent, require_mapping
from bridge.inbound import Headers


def adapt_json(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    body = require_mapping(payload)
    if isinstance(body.get("data"), Mapping) and isinstance(body.get("type"), str):
        data = dict(body["data"])
        event_type = body["type"]
    else:
        data = {k: v for k, v in body.items() if k != "idempotency_key"}
        event_type = FORM_SUBMITTED
    delivery = body.get("idempotency_key") or body.get("id")
    return AdaptedEvent(type=event_type, data=data, delivery_id=str(delivery) if delivery else None)


ADAPTER = Adapter(name="json", adapt=adapt_json, event_types=("*",),
                  description="Generic JSON (Zapier, Make, n8n, your own app)")
