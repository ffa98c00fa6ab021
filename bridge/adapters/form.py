"""`form`: any HTML form posted as x-www-form-urlencoded or multipart/form-data.

Every field becomes `fields[slug(name)]` (a repeated key stays a list; `tags[]` becomes `tags`);
email, name and phone are recognised from the field names (bridge.adapters.person). Form builders
that post each field as a group of bracketed keys, such as Elementor's advanced data
(`fields[email][title]=Email`, `fields[email][type]=email`, `fields[email][value]=…`), give one
answer per group: keyed by the slug of its title (else its id), typed by its `type`. Uploaded files
are not kept. A field named `idempotency_key` is the delivery id.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from bridge.adapters.base import FORM_SUBMITTED, Adapter, AdaptedEvent, require_mapping
from bridge.adapters.common import FILES_KEY, Answer, field_key, flat_answers, form_data, text
from bridge.inbound import Headers

GROUPED = re.compile(r"(\w+)\[([^\[\]]+)\]\[(value|raw_value|title|label|type|id|required)\]")


def adapt_form(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """Form fields -> a `form.submitted` event."""
    body = require_mapping(payload)
    values = {k: v for k, v in body.items() if k != "idempotency_key"}
    data = form_data(_answers(values), options=options)
    return AdaptedEvent(type=FORM_SUBMITTED, data=data, delivery_id=text(body.get("idempotency_key")))


def _answers(values: Mapping[str, Any]) -> list[Answer]:
    """Flat answers, with each `container[id][part]` group that has a value made one answer, in order."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    flat: dict[str, Any] = {}
    order: list[tuple[str, str] | str] = []
    for name, value in values.items():
        match = GROUPED.fullmatch(name) if name != FILES_KEY else None
        if match is None:
            flat[name] = value
            order.append(name)
            continue
        group = (match.group(1), match.group(2))
        if group not in groups:
            groups[group] = {}
            order.append(group)
        groups[group][match.group(3)] = value[0] if isinstance(value, list) and len(value) == 1 else value
    answers: list[Answer] = []
    for item in order:
        if isinstance(item, str):
            answers.extend(flat_answers({item: flat[item]}))
            continue
        parts = groups[item]
        if "value" not in parts and "raw_value" not in parts:
            answers.extend(flat_answers({f"{item[0]}[{item[1]}][{p}]": v for p, v in parts.items()}))
            continue
        label = text(parts.get("title")) or text(parts.get("label"))
        kind = (text(parts.get("type")) or "").lower()
        role = "email" if "email" in kind else "phone" if kind in ("tel", "phone") else None
        answers.append(Answer(key=field_key(label, item[1]), label=label or item[1], role=role,
                              value=parts.get("value", parts.get("raw_value"))))
    return answers


ADAPTER = Adapter(name="form", adapt=adapt_form, accepts=("form",),
                  description="Generic HTML form (urlencoded or multipart)")
