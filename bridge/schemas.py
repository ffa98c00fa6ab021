"""Marshmallow schemas: the inbound event envelope (what is stored and queued) and its answers."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema


class EventEnvelopeSchema(Schema):
    """The normalized event the adapters produce and the worker consumes."""

    class Meta:
        unknown = RAISE

    source = fields.String(required=True, validate=validate.Length(min=1, max=64))
    type = fields.String(required=True, validate=[validate.Length(min=1, max=128),
                                                   validate.Regexp(r"^[A-Za-z0-9_.:*-]+$",
                                                                   error="letters, digits and . _ : - only")])
    data = fields.Dict(keys=fields.String(), required=True)
    delivery_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=512))
    idempotency_key = fields.String(load_default=None, allow_none=True,
                                    validate=validate.Length(min=1, max=255,
                                                             error="Idempotency-Key must be 1 to 255 characters"))

    @validates_schema
    def _email_is_text(self, data: dict, **_: object) -> None:
        email = data.get("data", {}).get("email")
        if email is not None and not isinstance(email, str):
            raise ValidationError({"data": {"email": ["must be a string (the customer's email address)"]}})
        if isinstance(email, str) and len(email) > 320:
            raise ValidationError({"data": {"email": ["is longer than 320 characters"]}})


ENVELOPE = EventEnvelopeSchema()


def _limits(name: str) -> tuple[int | None, int | None, Any]:
    """(min length, max length, regex or None) of a String field of the envelope, read from the schema
    itself so the fast check below cannot drift from it; a validator of another kind: an error at import."""
    low = high = regex = None
    for v in ENVELOPE.fields[name].validators:
        if isinstance(v, validate.Length) and v.equal is None:
            low, high = v.min, v.max
        elif isinstance(v, validate.Regexp):
            regex = v.regex
        else:
            raise TypeError(f"load_envelope has no fast check for {type(v).__name__} on {name}")
    return low, high, regex


def _fits(value: Any, limits: tuple[int | None, int | None, Any]) -> bool:
    low, high, regex = limits
    return (type(value) is str and (low is None or len(value) >= low) and (high is None or len(value) <= high)
            and (regex is None or regex.match(value) is not None))


_SOURCE, _TYPE = _limits("source"), _limits("type")
_DELIVERY_ID, _IDEMPOTENCY_KEY = _limits("delivery_id"), _limits("idempotency_key")
_FIELDS = frozenset(ENVELOPE.fields)


def load_envelope(envelope: dict[str, Any]) -> dict[str, Any]:
    """`ENVELOPE.load(envelope)`, with a precompiled check in front for the common case (the ingest's
    hot path): an envelope whose every field plainly passes the schema's own validators is returned as
    marshmallow would return it; anything else (invalid, or of a type marshmallow would convert) goes
    through `ENVELOPE.load`, which stays the validator of record (the OpenAPI document's source) and
    the only producer of error messages. tests/unit/test_envelope_fast.py checks both agree."""
    data = envelope.get("data")
    delivery_id = envelope.get("delivery_id")
    key = envelope.get("idempotency_key")
    if (envelope.keys() <= _FIELDS and type(data) is dict and _fits(envelope.get("source"), _SOURCE)
            and _fits(envelope.get("type"), _TYPE)
            and (delivery_id is None or _fits(delivery_id, _DELIVERY_ID))
            and (key is None or _fits(key, _IDEMPOTENCY_KEY))
            and all(type(k) is str for k in data)):
        email = data.get("email")
        if email is None or (type(email) is str and len(email) <= 320):
            return {"source": envelope["source"], "type": envelope["type"], "data": dict(data),
                    "delivery_id": delivery_id, "idempotency_key": key}
    return ENVELOPE.load(envelope)


class ReplaySelectionSchema(Schema):
    """`POST /events/replay`: the events to replay."""

    class Meta:
        unknown = RAISE

    eventIds = fields.List(fields.String(validate=validate.Length(min=1, max=100)), required=True,
                           validate=validate.Length(min=1, max=1000))


class TryRulesSchema(Schema):
    """`POST /rules/try`: edited rule files tried on one event and on the last N stored events."""

    class Meta:
        unknown = RAISE

    edits = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=1024)),
                        values=fields.String(validate=validate.Length(max=1024 * 1024)), load_default=dict,
                        metadata={"description": "rule file name (as loaded) -> its edited YAML text"})
    eventId = fields.String(load_default=None, validate=validate.Length(min=1, max=100),
                            metadata={"description": "a stored event to evaluate"})
    event = fields.Dict(keys=fields.String(), load_default=None,
                        metadata={"description": "or an event {source, type, data} (or a bare payload)"})
    last = fields.Integer(strict=True, load_default=0, validate=validate.Range(min=0, max=1000),
                          metadata={"description": "compare old and new rules on this many stored events"})
