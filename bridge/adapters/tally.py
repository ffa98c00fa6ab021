"""`tally`: the `FORM_RESPONSE` webhook of tally.so.

`data.fields[]` is an ordered list of `{key, label, type, value, options?}`. Answers are keyed by the
slug of their label (Tally's own keys, `question_3EKz4n`, are kept only when the label is empty).
Choice values are option ids, mapped to the option texts; checkboxes are sent twice (the list, then
one boolean per option) and only the list is kept. Hidden fields go to `hidden`, calculated fields to
`variables`. Delivery id: `tally:<formId>:<submissionId>`.
"""

from __future__ import annotations

from typing import Any, Mapping

from marshmallow import fields

from bridge.adapters.base import FORM_SUBMITTED, Adapter, AdaptedEvent
from bridge.adapters.common import (Answer, Id, OpenSchema, delivery_id, field_key, form_data, load, text,
                                   unhandled)
from bridge.inbound import Headers

HANDLED = "FORM_RESPONSE"
SINGLE_CHOICE = {"MULTIPLE_CHOICE", "DROPDOWN"}
MULTI_CHOICE = {"CHECKBOXES", "MULTI_SELECT", "RANKING"}
FILES = {"FILE_UPLOAD", "SIGNATURE"}
TYPED_ROLES = {"INPUT_EMAIL": "email", "INPUT_PHONE_NUMBER": "phone"}


class _Option(OpenSchema):
    id = Id(required=True)
    text = fields.Raw(load_default=None, allow_none=True)


class _Field(OpenSchema):
    key = Id(required=True)
    label = fields.String(load_default=None, allow_none=True)
    type = fields.String(required=True)
    value = fields.Raw(load_default=None, allow_none=True)
    options = fields.List(fields.Nested(_Option), load_default=list, allow_none=True)
    rows = fields.List(fields.Nested(_Option), load_default=list, allow_none=True)
    columns = fields.List(fields.Nested(_Option), load_default=list, allow_none=True)


class _Data(OpenSchema):
    formId = Id(required=True)
    submissionId = Id(load_default=None, allow_none=True)
    responseId = Id(load_default=None, allow_none=True)
    formName = fields.String(load_default=None, allow_none=True)
    createdAt = fields.String(load_default=None, allow_none=True)
    items = fields.List(fields.Nested(_Field), data_key="fields", load_default=list, allow_none=True)


class _Webhook(OpenSchema):
    eventType = fields.String(required=True)
    data = fields.Nested(_Data, required=True)


def adapt_tally(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """A `FORM_RESPONSE` -> `form.submitted`; other event types are ignored."""
    skipped = unhandled(payload, "eventType", [HANDLED], "Tally")
    if skipped:
        return skipped
    data = load(_Webhook(), payload)["data"]
    items = data["items"] or []
    aggregates = [i["key"] + "_" for i in items
                  if i["type"] == "CHECKBOXES" and not isinstance(i["value"], bool)]
    answers: list[Answer] = []
    hidden: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    for item in items:
        label = text(item["label"])
        if item["type"] == "HIDDEN_FIELDS":
            hidden[label or item["key"]] = item["value"]
        elif item["type"] == "CALCULATED_FIELDS":
            variables[field_key(label, item["key"])] = item["value"]
        elif not (item["type"] == "CHECKBOXES" and item["key"].startswith(tuple(aggregates))):
            answers.append(Answer(key=field_key(label, item["key"]), value=_value(item), label=label,
                                  role=TYPED_ROLES.get(item["type"])))
    submission = data["submissionId"] or data["responseId"]
    event = form_data(answers, options=options, hidden=hidden, variables=variables, form_id=data["formId"],
                      form_name=data["formName"], submission_id=submission, submitted_at=data["createdAt"])
    return AdaptedEvent(type=FORM_SUBMITTED, data=event,
                        delivery_id=delivery_id("tally", data["formId"], submission),
                        occurred_at=data["createdAt"], entity=text(submission))


def _value(item: Mapping[str, Any]) -> Any:
    """Option ids -> option texts, files -> their URLs, a matrix -> {row: [columns]}; others unchanged."""
    value, kind = item["value"], item["type"]
    if kind in SINGLE_CHOICE | MULTI_CHOICE and isinstance(value, list):
        texts = _texts(item["options"] or [], value)
        return texts[0] if kind in SINGLE_CHOICE and len(texts) == 1 else texts
    if kind in FILES and isinstance(value, list):
        return [f.get("url") for f in value if isinstance(f, Mapping) and f.get("url")]
    if kind == "MATRIX" and isinstance(value, Mapping):
        rows = {r["id"]: r["text"] for r in item["rows"] or []}
        columns = item["columns"] or []
        return {str(rows.get(row) or row): _texts(columns, cols if isinstance(cols, list) else [cols])
                for row, cols in value.items()}
    return value


def _texts(options: list[Mapping[str, Any]], ids: list[Any]) -> list[Any]:
    by_id = {o["id"]: o["text"] for o in options}
    return [by_id.get(i, i) if isinstance(i, str) else i for i in ids]


ADAPTER = Adapter(name="tally", adapt=adapt_tally, accepts=("json",), description="Tally webhooks")
