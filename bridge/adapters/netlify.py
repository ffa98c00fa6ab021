"""`netlify`: Netlify Forms' "new form submission" outgoing webhook (or a `submission-created` function body).

`ordered_human_fields` (or `data`) gives the answers, keyed by the slug of each input's `name`; the
person comes from them (labels, then names). Netlify's own guesses at the top level (`email`, `name`,
`first_name`, `last_name`: it splits whatever looked like a name on a space) fill only what the answers
leave unknown, and its name parts only when no answer names the person. The metadata Netlify adds to
`data` (`ip`, `user_agent`, `referrer`) goes to `hidden`.
Delivery id: `netlify:<form_id>:<id>`.
"""

from __future__ import annotations

from typing import Any, Mapping

from marshmallow import fields

from bridge.adapters.base import FORM_SUBMITTED, Adapter, AdaptedEvent
from bridge.adapters.common import (Answer, Id, OpenSchema, delivery_id, field_key, flat_answers, form_data,
                                   load, text)
from bridge.inbound import Headers

METADATA = ("ip", "user_agent", "referrer")
NOT_ANSWERS = (*METADATA, "form-name", "bot-field")


class _HumanField(OpenSchema):
    name = fields.String(required=True)
    title = fields.String(load_default=None, allow_none=True)
    value = fields.Raw(load_default=None, allow_none=True)


class _Submission(OpenSchema):
    id = Id(required=True)
    form_id = Id(load_default=None, allow_none=True)
    form_name = fields.String(load_default=None, allow_none=True)
    created_at = fields.String(load_default=None, allow_none=True)
    data = fields.Dict(keys=fields.String(), load_default=dict, allow_none=True)
    ordered_human_fields = fields.List(fields.Nested(_HumanField), load_default=None, allow_none=True)


def adapt_netlify(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """A form submission -> `form.submitted`."""
    if isinstance(payload, Mapping) and isinstance(payload.get("payload"), Mapping):
        payload = payload["payload"]  # the submission-created function's body wraps the same object
    sub = load(_Submission(), payload)
    raw = sub["data"] or {}
    if sub["ordered_human_fields"] is not None:
        answers = [Answer(key=field_key(f["name"]), value=f["value"], label=f["title"])
                   for f in sub["ordered_human_fields"]]
    else:
        answers = flat_answers({k: v for k, v in raw.items() if k not in NOT_ANSWERS})
    guessed = {key: sub.get(key) for key in ("email", "name", "first_name", "last_name")}
    data = form_data(answers, options=options, guessed=guessed, hidden={k: raw.get(k) for k in METADATA},
                     form_id=sub["form_id"], form_name=sub["form_name"], submission_id=sub["id"],
                     submitted_at=sub["created_at"])
    return AdaptedEvent(type=FORM_SUBMITTED, data=data,
                        delivery_id=delivery_id("netlify", sub["form_id"], sub["id"]),
                        occurred_at=sub["created_at"], entity=text(sub["id"]))


ADAPTER = Adapter(name="netlify", adapt=adapt_netlify, accepts=("json",), description="Netlify Forms")
