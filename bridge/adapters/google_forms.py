"""`google_forms`: a Google Form submission posted by an Apps Script `onFormSubmit` trigger.

Google sends nothing itself; the script decides the body. Two shapes are understood:
- the bridge's own snippet (docs/sources.md): `{response_id, form_id, form_title, submitted_at,
  respondent_email, answers: [{item_id, title, type, value}]}`; checkbox answers are lists, scale and
  rating answers numbers;
- any flat object of `{question title: answer}`, including a Sheets `e.namedValues` forwarded as is
  (each value a one-element list), as JSON or as form fields.
Delivery id (snippet only): `google_forms:<form_id>:<response_id>:<submitted_at>`; an edited response
is sent again with the same id and a new time, and is a new event.
"""

from __future__ import annotations

from typing import Any, Mapping

from marshmallow import fields

from bridge.adapters.base import FORM_SUBMITTED, Adapter, AdaptedEvent, require_mapping
from bridge.adapters.common import (Answer, Id, OpenSchema, delivery_id, field_key, flat_answers, form_data,
                                   load, number)
from bridge.inbound import Headers

NUMERIC = {"SCALE", "RATING"}


class _Item(OpenSchema):
    item_id = Id(load_default=None, allow_none=True)
    title = fields.String(load_default=None, allow_none=True)
    type = fields.String(load_default=None, allow_none=True)
    value = fields.Raw(load_default=None, allow_none=True)


class _Snippet(OpenSchema):
    response_id = Id(load_default=None, allow_none=True)
    form_id = Id(load_default=None, allow_none=True)
    form_title = fields.String(load_default=None, allow_none=True)
    submitted_at = fields.String(load_default=None, allow_none=True)
    respondent_email = fields.String(load_default=None, allow_none=True)
    answers = fields.List(fields.Nested(_Item), required=True)


def adapt_google_forms(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """The snippet's body, or a flat `{title: answer}` object -> `form.submitted`."""
    body = require_mapping(payload)
    if "answers" not in body:
        return AdaptedEvent(type=FORM_SUBMITTED, data=form_data(flat_answers(body), options=options))
    sub = load(_Snippet(), body)
    answers = [Answer(key=field_key(a["title"], a["item_id"]), label=a["title"],
                      value=number(a["value"]) if (a["type"] or "").upper() in NUMERIC else a["value"])
               for a in sub["answers"]]
    data = form_data(answers, options=options, known={"email": sub["respondent_email"]},
                     form_id=sub["form_id"], form_name=sub["form_title"], submission_id=sub["response_id"],
                     submitted_at=sub["submitted_at"])
    return AdaptedEvent(type=FORM_SUBMITTED, data=data, delivery_id=delivery_id(
        "google_forms", sub["form_id"], sub["response_id"], sub["submitted_at"]))


ADAPTER = Adapter(name="google_forms", adapt=adapt_google_forms,
                  description="Google Forms via an Apps Script trigger")
