"""`json`: any JSON object (Zapier, Make, n8n, your own app); also registered as `zapier`.

Two shapes are accepted: an envelope `{"type": "...", "data": {...}}`, or a flat object that becomes
`data` itself with type `form.submitted`. The delivery id is the body's `idempotency_key` (a field
this bridge defines for the purpose); never its `id`, which senders use for the entity (a contact, an
order): name such a field with the source option `delivery_id` instead.
The sender's keys are kept as sent (rules are written against them); the person found in the data
(bridge.adapters.person: labels such as "Correo electrónico", "Prénom", answer objects typed email)
is added as `email`, `name`, `first_name`, `last_name`, `phone`, each only when the sender did not
send that key itself.

Zapier quirks handled here: `a__b` keys (Zapier's "Unflatten" convention, which its Form payload type
leaves flat) become nested objects, and "Wrap Request In Array" (a one-element list) is unwrapped.
Values are kept as sent: Zapier sends numbers as text or as numbers, and the rules compare either.
"""

from __future__ import annotations

from typing import Any, Mapping

from bridge.adapters.base import FORM_SUBMITTED, Adapter, AdaptedEvent, require_mapping
from bridge.adapters import person
from bridge.adapters.common import FILES_KEY, text
from bridge.errors import PayloadInvalid
from bridge.inbound import Headers

SEPARATOR = "__"


def adapt_json(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """An envelope or a flat object -> the event; Zapier's flattened keys nested again."""
    if isinstance(payload, list):
        if len(payload) != 1:
            raise PayloadInvalid({"_body": [f"expected one JSON object, got a list of {len(payload)} items "
                                            "(in Zapier, set 'Wrap Request In Array' to No)"]})
        payload = payload[0]
    body = unflatten(require_mapping(payload))
    if isinstance(body.get("data"), Mapping) and isinstance(body.get("type"), str):
        data = dict(body["data"])
        event_type = body["type"]
    else:
        data = {k: v for k, v in body.items() if k not in ("idempotency_key", FILES_KEY)}
        event_type = FORM_SUBMITTED
    return AdaptedEvent(type=event_type, data=with_person(data), delivery_id=text(body.get("idempotency_key")))


def with_person(data: dict[str, Any]) -> dict[str, Any]:
    """`data` as sent, plus the person's `email`, `name`, `first_name`, `last_name`, `phone` found in it
    (bridge.adapters.person) under those names when the sender did not use them itself."""
    found = person.detect(person.answers_in(data))
    return {**data, **{role: value for role, value in found.items() if role not in data}}


def unflatten(body: Mapping[str, Any]) -> dict[str, Any]:
    """`{"metadata__source": "x"}` -> `{"metadata": {"source": "x"}}`; a key that would collide stays flat."""
    out: dict[str, Any] = {k: v for k, v in body.items() if not _nested(k)}
    for key, value in body.items():
        if not _nested(key):
            continue
        *parents, leaf = key.split(SEPARATOR)
        node = out
        for part in parents:
            child = node.get(part, {})
            if not isinstance(child, dict):
                break
            node[part] = child = dict(child)  # a copy: the payload's own objects are never changed
            node = child
        else:
            if leaf not in node:
                node[leaf] = value
                continue
        out[key] = value
    return out


def _nested(key: str) -> bool:
    return SEPARATOR in key and all(key.split(SEPARATOR))


ADAPTER = Adapter(name="json", adapt=adapt_json, event_types=("*",),
                  description="Generic JSON (Zapier, Make, n8n, your own app)")
