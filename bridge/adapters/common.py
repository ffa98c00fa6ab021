"""The shape every form-like adapter produces, and the small helpers the provider modules share.

A provider module turns its payload into a list of `Answer`s plus what it knows about the form;
`form_data` turns that into the normalized `data`:

    email, name, first_name, last_name, phone    text; absent when unknown (never None or "")
    fields                                       {slug: value}, every non-blank answer; always present
    hidden                                       {name: value}, hidden fields / URL parameters; always present
    variables                                    {name: value}, calculated values; absent when none
    form_id, form_name, submission_id            text; absent when unknown
    submitted_at                                 ISO 8601 text as the provider sent it; absent when unknown

Who the person is: `bridge.adapters.person` (field map › provider-stated › typed answers › labels ›
values).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from bridge.adapters import person
from bridge.adapters.base import AdaptedEvent
from bridge.errors import PayloadInvalid

FILES_KEY = "_files"            # bridge.parsing lists uploaded files' field names here
EPOCH_SECONDS = validate.Range(min=0, max=253402300799, error="must be a Unix time in seconds")
_TYPE_UNSAFE = re.compile(r"[^A-Za-z0-9_.:*-]+")
_UUID = re.compile(r"[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}", re.I)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_TRUE, _FALSE = ("true", "on", "yes", "1"), ("false", "off", "no", "0")


@dataclass(frozen=True)
class Answer:
    """One answer, its value already plain (text, number, bool, list or dict)."""

    key: str                     # the stable ref, or the slug of the label; becomes a key of `fields`
    value: Any
    label: str | None = None     # the question as the respondent saw it (used to recognise email etc.)
    role: str | None = None      # a person key ("email", "phone", "name") when the provider typed it


def slugify(text: str) -> str:
    """`"Company size?"` -> `"company_size"`: lower case, accents folded, runs of other characters -> `_`."""
    folded = person.fold(text)
    return re.sub(r"[\W_]+", "_", folded.lower()).strip("_")


def snake(text: str) -> str:
    """`"respondentEmail"` -> `"respondent_email"`: camelCase split, then `slugify`."""
    return slugify(_CAMEL.sub("_", text))


def field_key(*candidates: Any) -> str:
    """The slug of the first candidate that has one (a ref, a label, an id…); `answer` when none has."""
    return next((slug for slug in (slugify(str(c)) for c in candidates if c is not None) if slug), "answer")


def is_blank(value: Any) -> bool:
    """None, blank text, or a list/dict holding only blanks: an unanswered question."""
    pending = [value]  # a loop, not recursion: a sender controls how deep the value is nested
    while pending:
        item = pending.pop()
        if isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, Mapping):
            pending.extend(item.values())
        elif item is not None and not (isinstance(item, str) and not item.strip()):
            return False
    return True


def text(value: Any) -> str | None:
    """Trimmed text for a scalar (numbers become text, e.g. a phone sent as a number); None if blank."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        return None
    out = str(value).strip()
    return out or None


def join_text(*parts: Any) -> str | None:
    """The non-blank parts joined by a space (`first` + `last` -> name); None when all are blank."""
    words = [t for t in (text(p) for p in parts) if t]
    return " ".join(words) or None


def number(value: Any) -> Any:
    """`"3"` -> 3, `"2.5"` -> 2.5 for questions the provider says are numeric; other values unchanged."""
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value.strip()):
        return float(value) if "." in value else int(value)
    return value


def boolean(value: Any) -> Any:
    """`"true"`/`"on"`/`"yes"` -> True, `"false"`/`"off"`/`"no"` -> False for typed checkboxes."""
    word = value.strip().lower() if isinstance(value, str) else None
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    return value


def readable_ref(ref: Any) -> str | None:
    """A form author's ref (`company_size`, `q1`); None for an id a tool generated, which says nothing.

    Generated: UUID-shaped (`45678961-d3e4-…`, hex or not), or any part (between `-`, `_`, spaces) of 8+
    characters that mixes letters and digits (ULIDs such as `01h531gwt0dn41h4c16pfp05ns`, field ids).
    """
    ref_text = text(ref)
    if ref_text is None or _UUID.fullmatch(ref_text):
        return None
    for part in re.split(r"[-_\s]+", ref_text):
        if len(part) >= 8 and re.search(r"\d", part) and re.search(r"[A-Za-z]", part):
            return None
    return ref_text


def iso_from_epoch(seconds: float) -> str:
    """Unix seconds -> `2024-05-01T10:03:12Z` (milliseconds kept when present)."""
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def delivery_id(*parts: Any) -> str | None:
    """`provider:part:part` when every part is known, else None (the ingress then hashes the body)."""
    texts = [text(p) for p in parts]
    return ":".join(t for t in texts if t) if all(texts) else None


def ignored(provider_type: Any, reason: str) -> AdaptedEvent:
    """An event type the adapter does not handle: answered 200 so the provider stops retrying."""
    safe = _TYPE_UNSAFE.sub("_", str(provider_type or "unknown"))[:128] or "unknown"
    return AdaptedEvent(type=safe, data={}, ignored=True, ignored_reason=reason)


def unhandled(payload: Any, type_key: str, handled: Iterable[str], provider: str) -> AdaptedEvent | None:
    """The ignored event for an unhandled `payload[type_key]`; None when handled (or absent: 422 later)."""
    event_type = payload.get(type_key) if isinstance(payload, Mapping) else None
    handled = tuple(handled)
    if isinstance(event_type, str) and event_type not in handled:
        return ignored(event_type, f"{provider} event {event_type!r} is not handled "
                                   f"(handled: {', '.join(handled)})")
    return None


def flat_answers(values: Mapping[str, Any], snake_keys: bool = False) -> list[Answer]:
    """Answers from a flat `{label: value}` object; a one-element list (Sheets' namedValues) is unwrapped.

    `snake_keys` splits camelCase labels into snake_case keys (for the shapes a provider adapter defines)."""
    out = []
    for label, value in values.items():
        if label == FILES_KEY:
            continue
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        label = str(label)
        out.append(Answer(key=field_key(snake(label) if snake_keys else label), value=value, label=label))
    return out


def form_data(answers: Iterable[Answer], *, options: Mapping[str, Any],
              known: Mapping[str, Any] | None = None, guessed: Mapping[str, Any] | None = None,
              hidden: Mapping[str, Any] | None = None,
              variables: Mapping[str, Any] | None = None,
              form_id: Any = None, form_name: Any = None, submission_id: Any = None,
              submitted_at: Any = None) -> dict[str, Any]:
    """The normalized `data` of a form-like event (see the module docstring for the shape)."""
    answer_list = [a for a in answers if not is_blank(a.value)]
    field_values = _numbered(answer_list)
    field_map = options.get("field_map")
    mapped = ({role: field_values.get(slugify(str(name))) for role, name in field_map.items() if name}
              if isinstance(field_map, Mapping) else {})
    data: dict[str, Any] = dict(person.detect(answer_list, known=known, mapped=mapped, guessed=guessed))
    data["fields"] = field_values
    data["hidden"] = {k: v for k, v in (hidden or {}).items() if not is_blank(v)}
    kept_variables = {k: v for k, v in (variables or {}).items() if not is_blank(v)}
    if kept_variables:
        data["variables"] = kept_variables
    about = {"form_id": form_id, "form_name": form_name, "submission_id": submission_id,
             "submitted_at": submitted_at}
    data.update({key: value for key, value in ((k, text(v)) for k, v in about.items()) if value is not None})
    return data


def _numbered(answers: Iterable[Answer]) -> dict[str, Any]:
    """`{key: value}`; a key seen before becomes `key_2`, `key_3`… (linear: each base keeps its counter)."""
    out: dict[str, Any] = {}
    next_n: dict[str, int] = {}
    for a in answers:
        unique = a.key
        if unique in out:
            n = next_n.get(a.key, 2)
            while f"{a.key}_{n}" in out:
                n += 1
            unique = f"{a.key}_{n}"
            next_n[a.key] = n + 1
        out[unique] = a.value
    return out


class OpenSchema(Schema):
    """A provider schema: names the keys an adapter relies on and lets every other key through."""

    class Meta:
        unknown = INCLUDE


class Id(fields.Field[str]):
    """An identifier sent as text or as a number; loaded as text."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValidationError("must be text or a number")
        return str(value)


def load(schema: Schema, payload: Any) -> dict[str, Any]:
    """Validate a provider payload with its schema; 422 naming each bad field (dotted path) otherwise."""
    try:
        return schema.load(payload)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise PayloadInvalid.from_messages(exc.messages) from None
