"""`google_forms`: a Google Form submission posted by an Apps Script `onFormSubmit` trigger.

Google sends nothing itself; the script decides the body. The shapes people copy from tutorials:
- the bridge's own snippet (docs/sources.md): `{response_id, form_id, form_title, submitted_at,
  respondent_email, answers: [{item_id, title, type, value}]}`; scale and rating answers become numbers;
- the same written in camelCase, `{formId, formTitle, responseId, respondentEmail, timestamp,
  responses: {title: answer}}`, with the answers as an object, or as a list of `{title|question|name,
  value|response|answer}` (`itemResponses`, `answers`, `responses`, `items`, `fields`, `payload`);
- a Typeform-like body `{event_id, form_response: {form_id, email, definition, answers: [{response,
  field: {title}}]}}` and `{form: {id, title}, response: {id, timestamp, payload: [...]}}`;
- any flat object of `{question title: answer}`, including a Sheets `e.namedValues` forwarded as is
  (each value a one-element list), as JSON or as form fields.
Keys the script defines are read in snake case (`respondentEmail` is `respondent_email`); answer keys
are the question titles' slugs, camelCase split (`firstName` -> `first_name`). Delivery id, when the
body names the form and the response: `google_forms:<form_id>:<response_id>[:<submitted_at>]`; an
edited response is sent again with a new time and is a new event.
"""

from __future__ import annotations

from typing import Any, Mapping

from bridge.adapters.base import FORM_SUBMITTED, Adapter, AdaptedEvent, require_mapping
from bridge.adapters.common import Answer, delivery_id, field_key, flat_answers, form_data, number, snake, text
from bridge.errors import PayloadInvalid
from bridge.inbound import Headers

NUMERIC = {"SCALE", "RATING"}
WRAPPERS = ("form_response", "response")                 # objects that hold the response's own keys
ANSWER_LISTS = ("answers", "item_responses", "responses", "items", "fields", "questions", "payload",
                "named_values", "values")
STRICT_LISTS = ("answers", "item_responses")            # only ever answers: anything else is a mistake
TITLE_KEYS = ("title", "question", "name", "label", "item_title", "item")
VALUE_KEYS = ("value", "response", "answer", "answers", "values")
ABOUT = {
    "form_id": ("form_id",), "form_name": ("form_title", "form_name", "title"),
    "submission_id": ("response_id", "event_id", "submission_id", "id"),
    "submitted_at": ("submitted_at", "timestamp", "submission_time", "created_at"),
    "email": ("respondent_email", "email"),
}


def adapt_google_forms(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """Any of the shapes above -> `form.submitted`."""
    raw = require_mapping(payload)
    body = _snake_keys(raw)
    about: dict[str, Any] = {}
    _about_from(body, about)
    if isinstance(body.get("form"), Mapping):          # {form: {id, title}, response: {...}}
        form = _snake_keys(body["form"])
        about.setdefault("form_id", text(form.get("id")))
        about.setdefault("form_name", text(form.get("title")))
    for wrapper in WRAPPERS:
        if isinstance(body.get(wrapper), Mapping):
            body = _snake_keys(body[wrapper])
            _about_from(body, about)
            break
    for key in STRICT_LISTS:
        if key in body and not _is_container(body[key]):
            raise PayloadInvalid({key: ["must be a list of answers ({title, value}) or an object of "
                                        "{question title: answer}"]})
    container_key = next((k for k in ANSWER_LISTS if _is_container(body.get(k))), None)
    if container_key is None:
        answers = flat_answers(raw, snake_keys=True)
        about = {}
    else:
        answers = _answers(body[container_key])
    respondent = about.pop("email", None)
    data = form_data(answers, options=options, known={"email": respondent},
                     form_id=about.get("form_id"), form_name=about.get("form_name"),
                     submission_id=about.get("submission_id"), submitted_at=about.get("submitted_at"))
    parts = [about.get("form_id"), about.get("submission_id")]
    if about.get("submitted_at"):
        parts.append(about["submitted_at"])
    return AdaptedEvent(type=FORM_SUBMITTED, data=data, delivery_id=delivery_id("google_forms", *parts),
                        occurred_at=about.get("submitted_at"), entity=text(about.get("submission_id")))


def _snake_keys(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {snake(k) if isinstance(k, str) else k: v for k, v in obj.items()}


def _about_from(body: Mapping[str, Any], about: dict[str, Any]) -> None:
    for role, keys in ABOUT.items():
        if about.get(role):
            continue
        value = next((text(body[k]) for k in keys if k in body and text(body[k])), None)
        if value:
            about[role] = value


def _is_container(value: Any) -> bool:
    """An object of answers, or a list of answer objects (`e.values`, a list of strings, is not)."""
    if isinstance(value, Mapping):
        return True
    return isinstance(value, list) and all(isinstance(item, Mapping) for item in value)


def _answers(container: Any) -> list[Answer]:
    if isinstance(container, Mapping):
        if container and all(isinstance(v, Mapping) for v in container.values()):  # {id: {title, value}}
            return [_item(_snake_keys(v), str(k)) for k, v in container.items()]
        return flat_answers(container, snake_keys=True)
    return [_item(_snake_keys(item), str(index)) for index, item in enumerate(container)]


def _item(item: Mapping[str, Any], fallback: str) -> Answer:
    field = _snake_keys(item["field"]) if isinstance(item.get("field"), Mapping) else {}
    title = next((text(src[k]) for src in (item, field) for k in TITLE_KEYS if text(src.get(k))), None)
    item_id = text(item.get("item_id")) or text(item.get("id")) or text(field.get("id")) or fallback
    value = next((item[k] for k in VALUE_KEYS if k in item), None)
    kind = (text(item.get("type")) or text(field.get("type")) or "").upper()
    if kind in NUMERIC:
        value = number(value)
    if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], list):
        value = value[0] if kind not in {"CHECKBOX", "GRID", "CHECKBOX_GRID", "FILE_UPLOAD"} else value
    return Answer(key=field_key(snake(title) if title else None, f"item_{item_id}"), value=value, label=title)



ADAPTER = Adapter(name="google_forms", adapt=adapt_google_forms,
                  description="Google Forms via an Apps Script trigger")
