"""`calendly`: invitee webhooks (API v2 subscriptions): `invitee.created` and `invitee.canceled`.

The invitee becomes the person (email, name, first/last name when the booking form asks for them,
the SMS reminder number as phone); booking-form questions go to `fields`, UTM tracking to `hidden`.
The event type keeps Calendly's name. Extra keys: `meeting` {name, uri, start_time, end_time,
status}, `timezone`, `status`, `rescheduled`, and on cancellation `cancellation` {canceled_by,
reason, canceler_type}. `form_id`/`form_name` are the event type's URI and the meeting's name.
Calendly sends no event id; delivery id: `calendly:<event>:<invitee uri>`.
"""

from __future__ import annotations

from typing import Any, Mapping

from marshmallow import fields

from bridge.adapters.base import Adapter, AdaptedEvent
from bridge.adapters.common import (Answer, OpenSchema, delivery_id, field_key, form_data, load, text,
                                   unhandled)
from bridge.inbound import Headers

HANDLED = ("invitee.created", "invitee.canceled")


class _Question(OpenSchema):
    question = fields.String(required=True)
    answer = fields.Raw(load_default=None, allow_none=True)


class _Invitee(OpenSchema):
    uri = fields.String(required=True)
    email = fields.String(load_default=None, allow_none=True)
    questions_and_answers = fields.List(fields.Nested(_Question), load_default=list, allow_none=True)
    tracking = fields.Dict(load_default=dict, allow_none=True)
    scheduled_event = fields.Dict(load_default=dict, allow_none=True)
    cancellation = fields.Dict(load_default=None, allow_none=True)


class _Webhook(OpenSchema):
    event = fields.String(required=True)
    payload = fields.Nested(_Invitee, required=True)


def adapt_calendly(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """An invitee event -> the invitee's data; other events are ignored."""
    skipped = unhandled(payload, "event", HANDLED, "Calendly")
    if skipped:
        return skipped
    body = load(_Webhook(), payload)
    invitee = body["payload"]
    meeting = invitee["scheduled_event"] or {}
    answers = [Answer(key=field_key(q["question"]), value=q["answer"], label=q["question"])
               for q in invitee["questions_and_answers"] or []]
    known = {key: invitee.get(key) for key in ("email", "name", "first_name", "last_name")}
    data = form_data(answers, options=options, known={**known, "phone": invitee.get("text_reminder_number")},
                     hidden=invitee["tracking"], form_id=meeting.get("event_type"),
                     form_name=meeting.get("name"), submission_id=invitee["uri"],
                     submitted_at=invitee.get("created_at"))
    extras = {
        "meeting": {k: meeting.get(k) for k in ("name", "uri", "start_time", "end_time", "status")
                    if text(meeting.get(k))},
        "timezone": text(invitee.get("timezone")),
        "status": text(invitee.get("status")),
        "rescheduled": invitee.get("rescheduled") if isinstance(invitee.get("rescheduled"), bool) else None,
        "cancellation": {k: v for k, v in (invitee["cancellation"] or {}).items()
                         if k in ("canceled_by", "reason", "canceler_type") and text(v)},
    }
    data.update({k: v for k, v in extras.items() if v not in (None, {})})
    return AdaptedEvent(type=body["event"], data=data, delivery_id=delivery_id("calendly", body["event"],
                                                                               invitee["uri"]),
                        occurred_at=body.get("created_at") or invitee.get("created_at"), entity=invitee["uri"])


ADAPTER = Adapter(name="calendly", adapt=adapt_calendly, event_types=HANDLED, accepts=("json",),
                  description="Calendly invitee webhooks")
