"""`stripe`: `customer.created` and `customer.updated` events -> the customer's data.

`data`: `customer_id` (`cus_…`), `email`, `name`, `phone`, `description`, `address` (absent when
Stripe has none), `metadata` (always present, Stripe's flat string map), `livemode`, `created_at`
(ISO 8601), and for updates `previous` (Stripe's `previous_attributes`: the changed fields' old
values). The event type keeps Stripe's name. Delivery id: the event id (`evt_…`).
"""

from __future__ import annotations

from typing import Any, Mapping

from marshmallow import fields, validate

from bridge.adapters.base import Adapter, AdaptedEvent
from bridge.adapters.common import (EPOCH_SECONDS, Id, OpenSchema, ignored, is_blank, iso_from_epoch, load, text,
                                   unhandled)
from bridge.inbound import Headers

HANDLED = ("customer.created", "customer.updated")
# Stripe's `created` counts whole seconds: within one second a creation comes before an update (and
# two updates of the same second rank by event id, the same way whatever order they arrive in).
TIE_BREAK = {"customer.created": "0", "customer.updated": "1"}


class _Customer(OpenSchema):
    id = Id(required=True)
    object = fields.String(required=True, validate=validate.Equal("customer"))
    metadata = fields.Dict(keys=fields.String(), load_default=dict, allow_none=True)
    address = fields.Dict(load_default=None, allow_none=True)
    created = fields.Integer(load_default=None, allow_none=True, strict=True, validate=EPOCH_SECONDS)
    livemode = fields.Boolean(load_default=None, allow_none=True)


class _Data(OpenSchema):
    object = fields.Nested(_Customer, required=True)
    previous_attributes = fields.Dict(load_default=None, allow_none=True)


class _Event(OpenSchema):
    id = Id(required=True)
    type = fields.String(required=True)
    created = fields.Integer(load_default=None, allow_none=True, strict=True, validate=EPOCH_SECONDS)
    data = fields.Nested(_Data, required=True)


def adapt_stripe(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """A customer event -> the customer's data; every other event type is ignored."""
    skipped = unhandled(payload, "type", HANDLED, "Stripe")
    if skipped:
        return skipped
    if isinstance(payload, Mapping) and payload.get("object") == "event" and "type" not in payload:
        # The dashboard's "send test webhook" body: signed, but no type. Answer 200 so Stripe is satisfied.
        return ignored("test", "a Stripe test event without a type")
    event = load(_Event(), payload)
    customer = event["data"]["object"]
    data: dict[str, Any] = {"customer_id": customer["id"]}
    data.update({k: text(customer.get(k)) for k in ("email", "name", "phone", "description")})
    data["address"] = {k: v for k, v in (customer["address"] or {}).items() if not is_blank(v)} or None
    data["metadata"] = customer["metadata"] or {}
    data["livemode"] = customer["livemode"]
    data["created_at"] = iso_from_epoch(customer["created"]) if customer["created"] is not None else None
    data["previous"] = event["data"]["previous_attributes"]
    return AdaptedEvent(type=event["type"], data={k: v for k, v in data.items() if v is not None},
                        delivery_id=event["id"], occurred_at=event["created"],
                        order_tie=TIE_BREAK.get(event["type"], "9"), entity=customer["id"])


ADAPTER = Adapter(name="stripe", adapt=adapt_stripe, event_types=HANDLED, accepts=("json",),
                  description="Stripe customer events")
