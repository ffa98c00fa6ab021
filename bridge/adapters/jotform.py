"""`jotform`: the form webhook, multipart/form-data (or urlencoded) with a `rawRequest` JSON field.

Answers are the `q<id>_<slug>` keys of `rawRequest` (or of the form itself when it has none). Jotform's
slugs are truncated labels (`q33_typeOf` for "Type of Tutoring"), so the key in `fields` is the slug of
the question's label, read from the `pretty` field ("Type of Tutoring:Online, ...", read with the
answers in hand since labels and answers may hold ":" and ", ") -> `type_of_tutoring`;
when `pretty` has no label for it, the slug in snake case (`q3_studentsName` -> `students_name`, and
Jotform's de-duplicating suffix `q79_phoneNumber79` -> `phone_number`). The name widget gives first/last name,
the phone widget (`{"full"}` or the older `{"area", "phone"}`) the phone, a date widget `YYYY-MM-DD`;
uploads become their URLs. Values stay text: Jotform sends numbers as text and says nothing of types.
The API's submission object (`{id, form_id, answers: {qid: {name, text, type, answer}}}`, e.g. a
submission forwarded by a script or an automation tool, as JSON) is read too: keys are the labels'
slugs (`text`), and the typed questions (`control_email`, `control_fullname`, `control_phone`) are
the person's.
Delivery id: `jotform:<formID>:<submissionID>`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from marshmallow import fields

from bridge.adapters.base import FORM_SUBMITTED, Adapter, AdaptedEvent
from bridge.adapters.common import (Answer, Id, OpenSchema, delivery_id, field_key, form_data, is_blank,
                                   join_text, load, slugify, snake, text)
from bridge.errors import PayloadInvalid
from bridge.inbound import Headers

QUESTION = re.compile(r"q(\d+)_(.+)")
NAME_PARTS = ("prefix", "first", "middle", "last", "suffix")
WIDGET_METADATA = ("colIds", "rowIds")
TYPED_ROLES = {"control_email": "email", "control_mail": "email", "control_fullname": "name",
               "control_name": "name", "control_phone": "phone"}  # an input table's layout, sent even when nothing was entered


class _Submission(OpenSchema):
    formID = Id(required=True)
    submissionID = Id(required=True)
    formTitle = fields.String(load_default=None, allow_none=True)
    rawRequest = fields.String(load_default=None, allow_none=True)
    pretty = fields.String(load_default=None, allow_none=True)
    ip = fields.String(load_default=None, allow_none=True)


def adapt_jotform(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """A submission -> `form.submitted`."""
    api = _api_submission(payload)
    if api is not None:
        return _adapt_api(api, options)
    body = load(_Submission(), payload)
    raw = _raw_request(body["rawRequest"]) if body["rawRequest"] else body
    labels = _Labels(body["pretty"] or "")
    answers: list[Answer] = []
    known: dict[str, Any] = {}
    for name, value in raw.items():
        match = QUESTION.fullmatch(name)
        if not match:
            continue
        answer = _answer(labels.key(match.group(2), match.group(1), value), value)
        if answer.role == "name" and "name" not in known:
            known.update(name=join_text(value.get("first"), value.get("middle"), value.get("last")),
                         first_name=value.get("first"), last_name=value.get("last"))
        answers.append(answer)
    uploads = raw.get("temp_upload")
    uploads = uploads if isinstance(uploads, Mapping) else {}
    for name in uploads:
        match = QUESTION.fullmatch(name)
        if match and isinstance(raw.get(match.group(2)), list):
            listed = uploads.get(name)
            files = listed if isinstance(listed, list) else []
            printed = " ".join(str(f).split("#")[0] for f in files)  # pretty prints the file names
            label, key = labels.key(match.group(2), match.group(1), raw[match.group(2)], printed=printed)
            answers.append(Answer(key=key, value=raw[match.group(2)], label=label))
    data = form_data(answers, options=options, known=known, hidden={"ip": body["ip"]}, form_id=body["formID"],
                     form_name=body["formTitle"], submission_id=body["submissionID"])
    return AdaptedEvent(type=FORM_SUBMITTED, data=data,
                        delivery_id=delivery_id("jotform", body["formID"], body["submissionID"]))


def _api_submission(payload: Any) -> Mapping[str, Any] | None:
    """The API's submission object (`{id, form_id, answers: {qid: {name, text, type, answer}}}`), if it is one."""
    if not isinstance(payload, Mapping):
        return None
    content = payload.get("content")
    body = content if isinstance(content, Mapping) and "answers" in content else payload
    return body if isinstance(body.get("answers"), Mapping) and "rawRequest" not in body else None


def _adapt_api(body: Mapping[str, Any], options: Mapping[str, Any]) -> AdaptedEvent:
    """The API's shape (a submission forwarded by a script or an automation tool): typed questions."""
    sub = load(_ApiSubmission(), body)
    answers: list[Answer] = []
    known: dict[str, Any] = {}
    for question_id, question in sub["answers"].items():
        if not isinstance(question, Mapping) or "answer" not in question and "prettyFormat" not in question:
            continue  # headings, buttons, dividers
        label = text(question.get("text"))
        key = field_key(label, snake(str(question.get("name") or "")), f"q{question_id}")
        value = question.get("answer", question.get("prettyFormat"))
        kind = str(question.get("type") or "")
        answer = _answer((label, key), value)
        if kind in TYPED_ROLES:
            answer = Answer(key=answer.key, value=answer.value, label=label, role=TYPED_ROLES[kind])
        if kind in ("control_fullname", "control_name") and isinstance(value, Mapping) and "name" not in known:
            known.update(first_name=value.get("first"), last_name=value.get("last"))
        answers.append(answer)
    data = form_data(answers, options=options, known=known, hidden={"ip": sub["ip"]}, form_id=sub["form_id"],
                     form_name=sub["form_title"], submission_id=sub["id"], submitted_at=sub["created_at"])
    return AdaptedEvent(type=FORM_SUBMITTED, data=data, delivery_id=delivery_id("jotform", sub["form_id"],
                                                                                sub["id"]))


def _raw_request(raw: str) -> Mapping[str, Any]:
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise PayloadInvalid({"rawRequest": [f"is not valid JSON: {exc}"]}) from None
    if not isinstance(parsed, Mapping):
        raise PayloadInvalid({"rawRequest": ["must be a JSON object of the form's answers"]})
    return parsed


class _ApiSubmission(OpenSchema):
    id = Id(required=True)
    form_id = Id(required=True)
    form_title = fields.String(load_default=None, allow_none=True)
    created_at = fields.String(load_default=None, allow_none=True)
    ip = fields.String(load_default=None, allow_none=True)
    answers = fields.Dict(keys=fields.String(), required=True)


def _slug(slug: str, question_id: str) -> str:
    """`phoneNumber79` of question 79 -> `phoneNumber`."""
    if slug.endswith(question_id) and len(slug) > len(question_id):
        slug = slug[: -len(question_id)]
    return slug


class _Labels:
    """The question labels of `pretty` ("Student's Name:Niloth P, Type of Tutoring:Online, ..."), in order.

    Labels and answers may hold ":" and ", " themselves, so `pretty` is read with the answers in hand:
    an answered question's label is the text from the current position up to ":" + its answer as
    Jotform prints it. When the answer is printed otherwise (uploads, widgets), the label is the text
    up to the next ":" if its letters begin with the question's slug (Jotform's keys are truncated
    labels: `studentsName`, `typeOf`). Each search looks a bounded way ahead: linear in `pretty`.
    """

    LOOKAHEAD = 1000

    def __init__(self, pretty: str) -> None:
        self.pretty = pretty
        self.cursor = 0

    def key(self, slug: str, question_id: str, value: Any, printed: str | None = None) -> tuple[str | None, str]:
        """(the question's label or None, its key in `fields`)."""
        slug = _slug(slug, question_id)
        fallback = field_key(snake(slug), f"q{question_id}")
        if is_blank(value) or self.cursor >= len(self.pretty):
            return None, fallback
        label = self._by_answer(printed or _printed(value)) or self._by_slug(_letters(slug))
        return (label, field_key(label, fallback)) if label else (None, fallback)

    def _by_answer(self, printed: str | None) -> str | None:
        if not printed:
            return None
        window_end = self.cursor + len(printed) + self.LOOKAHEAD
        at = self.pretty.find(":" + printed, self.cursor, window_end)
        while at != -1:
            end = at + 1 + len(printed)
            if end == len(self.pretty) or self.pretty.startswith(", ", end):
                label = self.pretty[self.cursor:at].strip()
                self.cursor = end + 2
                return label or None
            at = self.pretty.find(":" + printed, at + 1, window_end)
        return None

    def _by_slug(self, wanted: str) -> str | None:
        colon = self.pretty.find(":", self.cursor, self.cursor + self.LOOKAHEAD)
        if not wanted or colon == -1:
            return None
        label = self.pretty[self.cursor:colon].strip()
        if not _letters(label).startswith(wanted):
            return None
        after = self.pretty.find(", ", colon, colon + self.LOOKAHEAD)
        self.cursor = len(self.pretty) if after == -1 else after + 2
        return label


def _printed(value: Any) -> str | None:
    """The answer as `pretty` prints it, for text, lists of text and the name and phone widgets."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(value) or None
    if isinstance(value, Mapping):
        if set(value) <= set(NAME_PARTS):
            return join_text(*(value.get(p) for p in NAME_PARTS))
        return text(value.get("full"))
    return None


def _letters(label: str) -> str:
    return re.sub(r"[\W_]+", "", slugify(label))


def _answer(labelled: tuple[str | None, str], value: Any) -> Answer:
    """One answer; the name, phone and date widgets are turned into text, empty widgets into None."""
    label, key = labelled
    if not isinstance(value, Mapping):
        return Answer(key=key, value=value, label=label)
    if set(value) <= set(NAME_PARTS) and ("first" in value or "last" in value):
        return Answer(key=key, value=join_text(*(value.get(p) for p in NAME_PARTS)), label=label, role="name")
    if "full" in value or {"area", "phone"} <= set(value):
        phone = text(value.get("full")) or join_text(*(value.get(p) for p in ("country", "area", "phone")))
        return Answer(key=key, value=phone, label=label, role="phone")
    if {"year", "month", "day"} <= set(value):
        parts = [text(value.get(p)) or "" for p in ("year", "month", "day")]
        date = "-".join(p.zfill(2) for p in parts) if all(p.isdigit() for p in parts) else None
        return Answer(key=key, value=date, label=label)
    if "date" in value and not text(value["date"]):
        return Answer(key=key, value=None, label=label)  # an appointment widget with no slot chosen
    return Answer(key=key, label=label, value={k: v for k, v in value.items()
                                               if k not in WIDGET_METADATA and (text(v) or isinstance(v, (list, dict)))})


ADAPTER = Adapter(name="jotform", adapt=adapt_jotform, accepts=("form", "json"), description="Jotform webhooks")
