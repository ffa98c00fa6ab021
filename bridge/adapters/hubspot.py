"""`hubspot`: a workflow "Send a webhook" action, enrolled on "Contact submits form".

HubSpot has no form-submission event for apps. A workflow posts the contact record (the legacy
contact shape: `vid`, `properties: {name: {value}}`, `form-submissions`), or, with "Customize request
body", a flat object of the properties chosen; newer bodies send the CRM v3 object (`{id, properties:
{email, firstname…}}`). All become `form.submitted`: the contact's current
properties are `fields`; the latest form submission gives form id/name, submission id and time; a
record whose properties lack `email` takes the primary EMAIL of `identity-profiles[].identities`.
Extra keys: `contact_id` (vid), `portal_id`. Delivery id: `hubspot:<portal>:<vid>:<conversion-id>`.

A Webhooks API batch (a JSON list) holding `contact.propertyChange` events becomes one
`contact.propertyChange` event of those changes (the batch's other events carry only ids): `changes` [{contact_id, property, value, source, occurred_at}] oldest
first, `portal_id`, and when the batch is about one contact `contact_id`, `properties` {name: new value}
and the person from them (an `email` change gives `email`, `firstname` `first_name`…). A batch without
any (`contact.creation`, deletions, other objects) is ignored. Delivery id
`hubspot:<portal>:<eventId>` for a one-event batch.
"""

from __future__ import annotations

from typing import Any, Mapping

from marshmallow import fields, validate

from bridge.adapters.base import FORM_SUBMITTED, Adapter, AdaptedEvent, require_mapping
from bridge.adapters.common import (Id, OpenSchema, delivery_id, flat_answers, form_data, ignored,
                                   iso_from_epoch, load, text)
from bridge.inbound import Headers

PERSON_PROPERTIES = {"email": ("email",), "first_name": ("firstname",), "last_name": ("lastname",),
                     "phone": ("phone", "mobilephone")}
PROPERTY_CHANGE = "contact.propertyChange"
PERSON_KEYS = ("email", "name", "first_name", "last_name", "phone")
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
    """A workflow's contact record or custom body -> `form.submitted`; a batch of contact property
    changes -> `contact.propertyChange`; other Webhooks API batches are ignored."""
    if isinstance(payload, list):
        return _batch(payload)
    body = require_mapping(payload)
    if "vid" not in body and isinstance(body.get("properties"), Mapping) and "id" in body:
        return _crm_object(body, options)
    if "vid" not in body:
        return AdaptedEvent(type=FORM_SUBMITTED, data=form_data(flat_answers(body), options=options))
    contact = load(_Contact(), body)
    values = {name: (prop.get("value") if isinstance(prop, Mapping) else prop)  # legacy {value} or plain
              for name, prop in contact["properties"].items()}
    known = {role: next((values[p] for p in props if values.get(p)), None)
             for role, props in PERSON_PROPERTIES.items()}
    if not known["email"]:
        known["email"] = _identity_email(body.get("identity-profiles"))
    latest = max(contact["submissions"] or [{}], key=lambda s: s.get("timestamp") or 0)
    submitted_ms = latest.get("timestamp")
    data = form_data(flat_answers(values), options=options, known=known, form_id=latest.get("form_id"),
                     form_name=latest.get("title"), submission_id=latest.get("conversion_id"),
                     submitted_at=iso_from_epoch(submitted_ms / 1000) if submitted_ms else None)
    data.update({k: v for k, v in (("contact_id", contact["vid"]), ("portal_id", contact["portal_id"])) if v})
    return AdaptedEvent(type=FORM_SUBMITTED, data=data, delivery_id=delivery_id(
        "hubspot", contact["portal_id"], contact["vid"], latest.get("conversion_id")),
        occurred_at=submitted_ms or None, entity=contact["vid"])


def _crm_object(body: Mapping[str, Any], options: Mapping[str, Any]) -> AdaptedEvent:
    """A CRM v3 contact (`{id, properties: {email, firstname…}, createdAt}`), as newer workflow and
    integration bodies send it: the same data as the legacy record, without form-submission details."""
    values = {name: (prop.get("value") if isinstance(prop, Mapping) else prop)
              for name, prop in body["properties"].items()}
    known = {role: next((values[p] for p in props if values.get(p)), None)
             for role, props in PERSON_PROPERTIES.items()}
    data = form_data(flat_answers(values), options=options, known=known)
    contact_id = text(body.get("id"))
    if contact_id:
        data["contact_id"] = contact_id
    return AdaptedEvent(type=FORM_SUBMITTED, data=data)


def _identity_email(profiles: Any) -> str | None:
    """The primary EMAIL identity of `identity-profiles` (else the first), for a record without `email`."""
    emails = [identity for profile in (profiles if isinstance(profiles, list) else [])
              if isinstance(profile, Mapping) and isinstance(profile.get("identities"), list)
              for identity in profile["identities"]
              if isinstance(identity, Mapping) and identity.get("type") == "EMAIL" and text(identity.get("value"))]
    emails.sort(key=lambda identity: identity.get("is-primary") is not True)
    return text(emails[0].get("value")) if emails else None


def _batch(events: list[Any]) -> AdaptedEvent:
    """Webhooks API events. Contact property changes carry the property's new value: rules see them;
    the other events of the batch (creation, deletion, merges, other objects) carry only ids and are left out."""
    first = events[0] if events and isinstance(events[0], Mapping) else {}
    changed = [e for e in events if isinstance(e, Mapping) and _kind(e) == PROPERTY_CHANGE
               and text(e.get("propertyName"))]
    if not changed:
        return ignored(_kind(first) or "hubspot.batch",
                       "HubSpot Webhooks API events other than contact.propertyChange carry only object ids, "
                       "no contact data; send the contact with a workflow 'Send a webhook' action instead")
    changes = sorted((_change(e) for e in changed), key=lambda c: c.get("occurred_at") or "")
    data: dict[str, Any] = {"changes": changes}
    contacts = {c.get("contact_id") for c in changes}
    if len(contacts) == 1:
        properties = {c["property"]: c.get("value") for c in changes}
        data.update(contact_id=changes[0].get("contact_id"), properties=properties)
        person = form_data([], options={}, known={role: next((properties.get(p) for p in props
                                                              if p in properties), None)
                                                  for role, props in PERSON_PROPERTIES.items()})
        data.update({k: v for k, v in person.items() if k in PERSON_KEYS})
    portal = text(first.get("portalId"))
    if portal:
        data["portal_id"] = portal
    single = delivery_id("hubspot", portal, changed[0].get("eventId")) if len(events) == 1 else None
    times = [t for e in changed if isinstance(t := e.get("occurredAt"), int) and not isinstance(t, bool)]
    return AdaptedEvent(type=PROPERTY_CHANGE, data=data, delivery_id=single, occurred_at=max(times, default=None),
                        entity=data.get("contact_id"))


def _kind(event: Mapping[str, Any]) -> Any:
    """The event's type: `subscriptionType`, or `eventType` as HubSpot's docs example names it."""
    return event.get("subscriptionType") or event.get("eventType")


def _change(event: Mapping[str, Any]) -> dict[str, Any]:
    occurred = event.get("occurredAt")
    change = {"contact_id": text(event.get("objectId")), "property": text(event.get("propertyName")),
              "value": event.get("propertyValue"), "source": text(event.get("changeSource")),
              "occurred_at": iso_from_epoch(occurred / 1000) if isinstance(occurred, int)
              and not isinstance(occurred, bool) and 0 <= occurred <= 253402300799999 else None}
    return {k: v for k, v in change.items() if v is not None}


ADAPTER = Adapter(name="hubspot", adapt=adapt_hubspot, accepts=("json",),
                  event_types=(FORM_SUBMITTED, PROPERTY_CHANGE),
                  description="HubSpot workflow webhooks (contact submitted a form)")
