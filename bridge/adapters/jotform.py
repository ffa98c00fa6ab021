"""`jotform`: the form webhook, multipart/form-data (or urlencoded) with a `rawRequest` JSON field.

Answers are the `q<id>_<slug>` keys of `rawRequest` (or of the form itself when it has none); the key
in `fields` is that slug in snake case (`q3_studentsName` -> `students_name`, and Jotform's
de-duplicating suffix `q79_phoneNumber79` -> `phone_number`). The name widget gives first/last name,
the phone widget (`{"full"}` or the older `{"area", "phone"}`) the phone, a date widget `YYYY-MM-DD`;
uploads become their URLs. Values stay text: Jotform sends numbers as text and says nothing of types.
Delivery id: `jotform:<formID>:<submissionID>`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from marshmallow import fields

from bridge.adapters.base import FORM_SUBMITTED, Adapter, AdaptedEvent
from bridge.adapters.common import (Answer, Id, OpenSchema, delivery_id, field_key, form_data, join_text,
                                   load, text)
from bridge.errors import PayloadInvalid
from bridge.inbound import Headers

QUESTION = re.compile(r"q(\d+)_(.+)")
NAME_PARTS = ("prefix", "first", "middle", "last", "suffix")
WIDGET_METADATA = ("colIds", "rowIds")  # an input table's layout, sent even when nothing was entered


class _Submission(OpenSchema):
    formID = Id(required=True)
    submissionID = Id(required=True)
    formTitle = fields.String(load_default=None, allow_none=True)
    rawRequest = fields.String(load_default=None, allow_none=True)
    ip = fields.String(load_default=None, allow_none=True)


def adapt_jotform(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """A submission -> `form.submitted`."""
    body = load(_Submission(), payload)
    raw = _raw_request(body["rawRequest"]) if body["rawRequest"] else body
    answers: list[Answer] = []
    known: dict[str, Any] = {}
    for name, value in raw.items():
        match = QUESTION.fullmatch(name)
        if not match:
            continue
        answer = _answer(_key(match.group(2), match.group(1)), value)
        if answer.role == "name" and "name" not in known:
            known.update(name=join_text(value.get("first"), value.get("middle"), value.get("last")),
                         first_name=value.get("first"), last_name=value.get("last"))
        answers.append(answer)
    uploads = raw.get("temp_upload")
    for name in uploads if isinstance(uploads, Mapping) else {}:
        match = QUESTION.fullmatch(name)
        if match and isinstance(raw.get(match.group(2)), list):
            answers.append(Answer(key=_key(match.group(2), match.group(1)), value=raw[match.group(2)]))
    data = form_data(answers, options=options, known=known, hidden={"ip": body["ip"]}, form_id=body["formID"],
                     form_name=body["formTitle"], submission_id=body["submissionID"])
    return AdaptedEvent(type=FORM_SUBMITTED, data=data,
                        delivery_id=delivery_id("jotform", body["formID"], body["submissionID"]))


def _raw_request(raw: str) -> Mapping[str, Any]:
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise PayloadInvalid({"rawRequest": [f"is not valid JSON: {exc}"]}) from None
    if not isinstance(parsed, Mapping):
        raise PayloadInvalid({"rawRequest": ["must be a JSON object of the form's answers"]})
    return parsed


def _key(slug: str, question_id: str) -> str:
    """`phoneNumber79` of question 79 -> `phone_number`."""
    if slug.endswith(question_id) and len(slug) > len(question_id):
        slug = slug[: -len(question_id)]
    return field_key(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", slug), f"q{question_id}")


def _answer(key: str, value: Any) -> Answer:
    """One answer; the name, phone and date widgets are turned into text, empty widgets into None."""
    if not isinstance(value, Mapping):
        return Answer(key=key, value=value)
    if set(value) <= set(NAME_PARTS) and ("first" in value or "last" in value):
        return Answer(key=key, value=join_text(*(value.get(p) for p in NAME_PARTS)), role="name")
    if "full" in value or {"area", "phone"} <= set(value):
        phone = text(value.get("full")) or join_text(*(value.get(p) for p in ("country", "area", "phone")))
        return Answer(key=key, value=phone, role="phone")
    if {"year", "month", "day"} <= set(value):
        parts = [text(value.get(p)) or "" for p in ("year", "month", "day")]
        date = "-".join(p.zfill(2) for p in parts) if all(p.isdigit() for p in parts) else None
        return Answer(key=key, value=date)
    if "date" in value and not text(value["date"]):
        return Answer(key=key, value=None)  # an appointment widget with no slot chosen
    return Answer(key=key, value={k: v for k, v in value.items()
                                  if k not in WIDGET_METADATA and (text(v) or isinstance(v, (list, dict)))})


ADAPTER = Adapter(name="jotform", adapt=adapt_jotform, accepts=("form",), description="Jotform webhooks")
