"""Errors of the ingress and admin API; each carries its HTTP status and error type/code.

    HttpError                       rendered by one Flask error handler (bridge.app) in the cstar envelope
    ├── UnknownSource        404    not_found_error / unknown_source
    ├── EventNotFound        404    not_found_error / RESOURCE_MISSING
    ├── PayloadTooLarge      413    invalid_request_error / payload_too_large
    │   └── TooManyFields    413    invalid_request_error / too_many_fields (max_fields)
    ├── BodyTimeout          408    invalid_request_error / request_timeout (the body trickled in too slowly)
    ├── VerificationFailed   401    authentication_error / signature_invalid (says which check failed)
    ├── AdminAuthRequired    401    authentication_error / authentication_required
    ├── BodyUnreadable       400    invalid_request_error / body_invalid (the parser's reason)
    │   └── BodyIncomplete   400    invalid_request_error / body_incomplete (shorter than announced)
    ├── QueryInvalid         400    invalid_request_error / PARAMETER_INVALID (query parameter errors)
    ├── UnsupportedMediaType 415    invalid_request_error / unsupported_media_type
    ├── PayloadInvalid       422    validation_error / PARAMETER_INVALID (field errors)
    ├── IdempotencyMismatch  422    idempotency_error / idempotency_key_reused
    ├── IdempotencyInFlight  409    idempotency_error / idempotency_key_in_use
    └── ServiceUnavailable   503    api_error / service_unavailable (Redis or the broker is down; retry)

Messages say what was wrong and how to fix it; they never echo secrets or expected signatures.
"""

from __future__ import annotations

from typing import Any, Mapping

from workers.errors import BridgeError


class HttpError(BridgeError):
    status: int = 500
    type: str = "api_error"
    code: str = "internal_error"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


class UnknownSource(HttpError):
    status, type, code = 404, "not_found_error", "unknown_source"


class EventNotFound(HttpError):
    status, type, code = 404, "not_found_error", "RESOURCE_MISSING"


class PayloadTooLarge(HttpError):
    status, type, code = 413, "invalid_request_error", "payload_too_large"


class TooManyFields(PayloadTooLarge):
    code = "too_many_fields"


class BodyTimeout(HttpError):
    status, type, code = 408, "invalid_request_error", "request_timeout"


class VerificationFailed(HttpError):
    status, type, code = 401, "authentication_error", "signature_invalid"

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message, details={"check": check})
        self.check = check


class AdminAuthRequired(HttpError):
    status, type, code = 401, "authentication_error", "authentication_required"


class BodyUnreadable(HttpError):
    status, type, code = 400, "invalid_request_error", "body_invalid"


class BodyIncomplete(BodyUnreadable):
    code = "body_incomplete"


class UnsupportedMediaType(HttpError):
    status, type, code = 415, "invalid_request_error", "unsupported_media_type"


class PayloadInvalid(HttpError):
    status, type, code = 422, "validation_error", "PARAMETER_INVALID"

    def __init__(self, field_errors: Mapping[str, Any], message: str | None = None) -> None:
        summary = message or "the event is not valid: " + "; ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in field_errors.items())
        super().__init__(summary, details={"fields": dict(field_errors)})

    @classmethod
    def from_messages(cls, messages: Any, prefix: str = "") -> "PayloadInvalid":
        """From marshmallow's nested `ValidationError.messages`, with dotted field paths."""
        return cls(flatten_messages(messages, prefix))


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, Any]:
    """Nested marshmallow messages -> {"a.b.0.c": [...]} (schema-level errors keep the parent's path)."""
    if not isinstance(messages, Mapping):
        return {prefix or "_body": messages if isinstance(messages, list) else [str(messages)]}
    out: dict[str, Any] = {}
    for key, value in messages.items():
        name = (prefix or "_body") if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
        out.update(flatten_messages(value, name))
    return out


class QueryInvalid(PayloadInvalid):
    """A query parameter of the admin API failed its schema; `fields` names each one."""

    status, type, code = 400, "invalid_request_error", "PARAMETER_INVALID"

    def __init__(self, field_errors: Mapping[str, Any], message: str | None = None) -> None:
        super().__init__(field_errors, message or "invalid query parameters: " + "; ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in field_errors.items()))


class IdempotencyMismatch(HttpError):
    status, type, code = 422, "idempotency_error", "idempotency_key_reused"


class IdempotencyInFlight(HttpError):
    status, type, code = 409, "idempotency_error", "idempotency_key_in_use"


class ServiceUnavailable(HttpError):
    status, type, code = 503, "api_error", "service_unavailable"
