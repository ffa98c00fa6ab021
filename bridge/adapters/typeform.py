"""`typeform`: the `form_response` webhook.

Each answer is `{"type": T, T: value, "field": {"id", "ref"?}}`. Its key in `fields` is the field's ref
when the form author set a readable one, else the slug of the question title (generated refs, UUIDs
or ULID-like ids such as `01h531gwt0dn41h4c16pfp05ns`, are unreadable in rules), else the ref or the
field id; recalled answers in a title (`{{field:…}}`, `{{hidden:…}}`) are left out of it. Choices become their labels (a multi-select a list, "other" text included); numbers and
booleans keep their type. Typed answers (`email`, `phone_number`) are the person's; variables go to
`variables`, with the legacy `calculated.score` as `score` when no variable is named so.
Delivery id: `typeform:<form_id>:<token>` (the token is stable across retries).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from marshmallow import fields

from bridge.adapters.base import FORM_SUBMITTED, Adapter, AdaptedEvent
from bridge.adapters.common import (Answer, Id, OpenSchema, delivery_id, field_key, form_data, load,
                                   readable_ref, text, unhandled)
from bridge.inbound import Headers

HANDLED = "form_response"
_RECALL = re.compile(r"\{\{[^{}]*\}\}")  # "Nice to meet you, {{field:01h5…}}!": recalled answers, not the question
TYPED_ROLES = {"email": "email", "phone_number": "phone"}


class _FieldRef(OpenSchema):
    id = Id(required=True)
    ref = Id(load_default=None, allow_none=True)
    title = fields.String(load_default=None, allow_none=True)


class _Choice(OpenSchema):
    label = fields.Raw(load_default=None, allow_none=True)
    other = fields.Raw(load_default=None, allow_none=True)


class _Choices(OpenSchema):
    labels = fields.List(fields.Raw(), load_default=list, allow_none=True)
    other = fields.Raw(load_default=None, allow_none=True)


class _Answer(OpenSchema):
    type = fields.String(required=True)
    field = fields.Nested(_FieldRef, required=True)
    choice = fields.Nested(_Choice, load_default=None, allow_none=True)
    choices = fields.Nested(_Choices, load_default=None, allow_none=True)


class _Definition(OpenSchema):
    title = fields.String(load_default=None, allow_none=True)
    questions = fields.List(fields.Nested(_FieldRef), data_key="fields", load_default=list)


class _Variable(OpenSchema):
    key = fields.String(required=True)
    type = fields.String(load_default=None, allow_none=True)


class _FormResponse(OpenSchema):
    form_id = Id(required=True)
    token = Id(required=True)
    submitted_at = fields.String(load_default=None, allow_none=True)
    hidden = fields.Dict(keys=fields.String(), load_default=dict, allow_none=True)
    variables = fields.List(fields.Nested(_Variable), load_default=list, allow_none=True)
    calculated = fields.Dict(load_default=None, allow_none=True)
    definition = fields.Nested(_Definition, load_default=dict, allow_none=True)
    answers = fields.List(fields.Nested(_Answer), load_default=list, allow_none=True)


class _Webhook(OpenSchema):
    event_type = fields.String(required=True)
    form_response = fields.Nested(_FormResponse, required=True)


def adapt_typeform(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """A `form_response` -> `form.submitted`; other event types are ignored."""
    skipped = unhandled(payload, "event_type", [HANDLED], "Typeform")
    if skipped:
        return skipped
    body = load(_Webhook(), payload)
    response = body["form_response"]
    definition = response["definition"] or {}
    questions = _questions(definition.get("questions", []))
    answers = [_answer(a, questions.get(a["field"]["id"], {})) for a in response["answers"] or []]
    variables = {v["key"]: v.get(v["type"] or "value") for v in response["variables"] or []}
    calculated = response["calculated"] or {}
    if "score" not in variables and isinstance(calculated.get("score"), (int, float)):
        variables["score"] = calculated["score"]  # the legacy score, before variables existed
    data = form_data(answers, options=options, hidden=response["hidden"], variables=variables,
                     form_id=response["form_id"], form_name=definition.get("title"),
                     submission_id=response["token"], submitted_at=response["submitted_at"])
    return AdaptedEvent(type=FORM_SUBMITTED, data=data,
                        delivery_id=delivery_id("typeform", response["form_id"], response["token"]),
                        occurred_at=response["submitted_at"], entity=text(response["token"]))


def _questions(top: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Every question by id, those inside groups too (`group`, `inline_group`, `contact_info`, whose
    sub-questions sit in `properties.fields`). A loop, not recursion: the sender controls the depth."""
    out: dict[str, Mapping[str, Any]] = {}
    pending = list(top)
    while pending:
        question = pending.pop()
        out.setdefault(question["id"], question)
        inner = question.get("properties")
        inner = inner.get("fields") if isinstance(inner, Mapping) else None
        if isinstance(inner, list):
            pending.extend(q for q in inner if isinstance(q, Mapping) and isinstance(q.get("id"), (str, int))
                           and not isinstance(q.get("id"), bool))
    return out


def _answer(answer: Mapping[str, Any], question: Mapping[str, Any]) -> Answer:
    field = answer["field"]
    ref = field.get("ref") or question.get("ref")
    title = _RECALL.sub("", question["title"]) if isinstance(question.get("title"), str) else None
    kind = answer["type"]
    key = field_key(readable_ref(ref), title, ref, field["id"])
    return Answer(key=key, value=_value(kind, answer.get(kind)), label=title, role=TYPED_ROLES.get(kind))


def _value(kind: str, raw: Any) -> Any:
    """The plain value of one answer; choices become labels."""
    if kind == "choice" and raw:
        return text(raw["label"]) or text(raw["other"])
    if kind == "choices" and raw:
        labels = [label for label in raw["labels"] or [] if text(label)]
        return labels + ([raw["other"]] if text(raw["other"]) else [])
    return raw


ADAPTER = Adapter(name="typeform", adapt=adapt_typeform, accepts=("json",), description="Typeform webhooks")
