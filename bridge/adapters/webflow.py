"""`webflow`: the `form_submission` webhook (Data API v2), and the legacy v1 body without `triggerType`.

`payload.data` is keyed by the field names the site designer chose ("First Name", "Email 2"); each
becomes `fields[slug(name)]`. `payload.schema`, when sent, types the fields: email and phone inputs
are the person's email and phone, checkboxes become booleans and number inputs numbers. Real
deliveries often send `"schema": []`: then a value that is exactly `"true"` or `"false"` (what a
Webflow checkbox sends) is a boolean, and the person comes from the field names.
Delivery id: `webflow:<siteId>:<submission id>`.
"""

from __future__ import annotations

from typing import Any, Mapping

from marshmallow import fields

from bridge.adapters.base import FORM_SUBMITTED, Adapter, AdaptedEvent
from bridge.adapters.common import (Answer, Id, OpenSchema, boolean, delivery_id, field_key, form_data, load,
                                   number, text, unhandled)
from bridge.inbound import Headers

HANDLED = "form_submission"


class _SchemaField(OpenSchema):
    fieldName = fields.String(required=True)
    fieldType = fields.String(load_default="", allow_none=True)


class _Submission(OpenSchema):
    data = fields.Dict(keys=fields.String(), required=True)
    name = fields.String(load_default=None, allow_none=True)
    id = Id(load_default=None, allow_none=True)
    legacy_id = Id(load_default=None, allow_none=True, data_key="_id")
    siteId = Id(load_default=None, allow_none=True)
    site = Id(load_default=None, allow_none=True)
    formId = Id(load_default=None, allow_none=True)
    submittedAt = fields.String(load_default=None, allow_none=True)
    d = fields.String(load_default=None, allow_none=True)
    field_types = fields.List(fields.Nested(_SchemaField), data_key="schema", load_default=list,
                              allow_none=True)


class _Webhook(OpenSchema):
    payload = fields.Nested(_Submission, required=True)


def adapt_webflow(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """A form submission -> `form.submitted`; other trigger types are ignored."""
    skipped = unhandled(payload, "triggerType", [HANDLED], "Webflow")
    if skipped:
        return skipped
    legacy = isinstance(payload, Mapping) and "triggerType" not in payload
    sub = load(_Submission(), payload) if legacy else load(_Webhook(), payload)["payload"]
    types = {f["fieldName"]: (f["fieldType"] or "").lower() for f in sub["field_types"] or []}
    answers = [_answer(name, value, types.get(name, "")) for name, value in sub["data"].items()]
    submission_id = sub["id"] or sub["legacy_id"]
    site_id = sub["siteId"] or sub["site"]
    data = form_data(answers, options=options, form_id=sub["formId"], form_name=sub["name"],
                     submission_id=submission_id, submitted_at=sub["submittedAt"] or sub["d"])
    return AdaptedEvent(type=FORM_SUBMITTED, data=data,
                        delivery_id=delivery_id("webflow", site_id, submission_id),
                        occurred_at=sub["submittedAt"] or sub["d"], entity=text(submission_id))


def _answer(name: str, value: Any, field_type: str) -> Answer:
    role = "email" if "email" in field_type else "phone" if "phone" in field_type else None
    if "checkbox" in field_type:
        value = boolean(value)
    elif not field_type and isinstance(value, str) and value in ("true", "false"):
        value = value == "true"  # a checkbox, as Webflow sends it when the schema is empty
    elif "number" in field_type:
        value = number(value)
    return Answer(key=field_key(name), value=value, label=name, role=role)


ADAPTER = Adapter(name="webflow", adapt=adapt_webflow, accepts=("json",), success_status=200,
                  description="Webflow form submissions")
