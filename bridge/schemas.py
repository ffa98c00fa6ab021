"""Marshmallow schemas: the inbound event envelope (what is stored and queued) and its answers."""

from __future__ import annotations

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
