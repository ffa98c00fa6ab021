"""`hubspot`: a workflow "Send a webhook" action, enrolled on "Contact submits form".

HubSpot has no form-submission event for apps. A workflow posts the contact record (the legacy
contact shape: `vid`, `properties: {name: {value}}`, `form-submissions`), or, with "Customize request
body", a flat object of the properties chosen. Both become `form.submitted`: the contact's current
properties are `fields`; the latest form submission gives form id/name, submission id and time.
Extra keys: `contact_id` (vid), `portal_id`. A Webhooks API batch (a JSON list of `contact.creation`…
events) carries no contact data and is ignored. Delivery id: `hubspot:<portal>:<vid>:<conversion-id>`.
"""

from __future__ import annotations

from typing import Any, Mapping

from marshmallow import fields, validate

from bridge.adapters.base import FORM_SUBMITTED, Adapter, AdaptedEvent, require_mapping
from bridge.adapters.common import (Id, OpenSchema, delivery_id, flat_answers, form_data, ignored,
                                   iso_from_epoch, load)
from bridge.inbound import Headers

PERSON_PROPERTIES = {"email": ("email",), "first_name": ("firstname",), "last_name": ("lastname",),
                     "phone": ("phone", "mobilephone")}
EPOCH_MILLISECONDS = validate.Range(min=0, max=253402300799999, error="must be a Unix time in milliseconds")


class _FormSubmission(OpenSchema):
    conversion_id = Id(load_default=None, allow_none=True, data_key="conversion-id")
    form_id = Id(load_default=None, allow_none=True, data_key="form-id")
    title = fields.String(load_default=None, allow_none=True)
    timestamp = fields.Integer(load_default=0, strict=True, validate=EPOCH_MILLISECONDS)


class _Contact(OpenSchema):
    vid = Id(required=True)
    portal_id = Id(load_default=None, allow_none=True, data_key="portal-id")
    properties = fields.Dict(keys=fields.String(), required=True)
    submissions = fields.List(fields.Nested(_FormSubmission), load_default=list, allow_none=True,
                              data_key="form-submissions")


def adapt_hubspot(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """A workflow's contact record or custom body -> `form.submitted`; an API event batch is ignored."""
    if isinstance(payload, list):
        first = payload[0] if payload and isinstance(payload[0], Mapping) else {}
        return ignored(first.get("subscriptionType") or "hubspot.batch",
                       "HubSpot Webhooks API events carry no contact data (only objectId); send the contact "
                       "with a workflow 'Send a webhook' action instead")
    body = require_mapping(payload)
    if "vid" not in body:
        return AdaptedEvent(type=FORM_SUBMITTED, data=form_data(flat_answers(body), options=options))
    contact = load(_Contact(), body)
    values = {name: (prop.get("value") if isinstance(prop, Mapping) else prop)  # legacy {value} or plain
              for name, prop in contact["properties"].items()}
    known = {role: next((values[p] for p in props if values.get(p)), None)
             for role, props in PERSON_PROPERTIES.items()}
    latest = max(contact["submissions"] or [{}], key=lambda s: s.get("timestamp") or 0)
    submitted_ms = latest.get("timestamp")
    data = form_data(flat_answers(values), options=options, known=known, form_id=latest.get("form_id"),
                     form_name=latest.get("title"), submission_id=latest.get("conversion_id"),
                     submitted_at=iso_from_epoch(submitted_ms / 1000) if submitted_ms else None)
    data.update({k: v for k, v in (("contact_id", contact["vid"]), ("portal_id", contact["portal_id"])) if v})
    return AdaptedEvent(type=FORM_SUBMITTED, data=data, delivery_id=delivery_id(
        "hubspot", contact["portal_id"], contact["vid"], latest.get("conversion_id")))


ADAPTER = Adapter(name="hubspot", adapt=adapt_hubspot, accepts=("json",),
                  description="HubSpot workflow webhooks (contact submitted a form)")
