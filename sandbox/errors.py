"""The sandbox's one error type, and the API's documented errors built from it.

Every error the emulator answers is a `SandboxError`; the Flask layer renders it in the API's
envelope. The constructors below carry the spec's exact types, codes and messages, so the
backend never spells them out twice.
"""

from __future__ import annotations

AUTH_DOC_URL = "https://www.cstar.help/developers/api-reference#authentication"
RATE_LIMIT_DOC_URL = "https://www.cstar.help/developers/api-reference#rate-limiting"


class SandboxError(Exception):
    """An error answer of the emulated API: HTTP status, error type, code and message."""

    def __init__(self, status: int, type: str, code: str, message: str, *,
                 doc_url: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.doc_url = doc_url
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"SandboxError({self.status}, {self.type!r}, {self.code!r}, {self.message!r})"


def authentication_required() -> SandboxError:
    """401: the key is missing, unknown or malformed."""
    return SandboxError(401, "authentication_error", "authentication_required",
                        "Invalid or expired API key", doc_url=AUTH_DOC_URL)


def secret_key_required() -> SandboxError:
    """403: a publishable key tried to write."""
    return SandboxError(403, "authorization_error", "insufficient_permissions",
                        "Secret key required for this endpoint", doc_url=AUTH_DOC_URL)


def team_access_denied() -> SandboxError:
    """403: the key belongs to another team."""
    return SandboxError(403, "authorization_error", "insufficient_permissions",
                        "API key does not have access to this team", doc_url=AUTH_DOC_URL)


def customer_not_found() -> SandboxError:
    """404: no customer with this id in this team."""
    return SandboxError(404, "not_found_error", "RESOURCE_MISSING", "Customer not found")


def parameters_missing() -> SandboxError:
    """400: create without a name or an email."""
    return SandboxError(400, "validation_error", "PARAMETER_MISSING", "name and email are required")


def invalid_parameter(message: str) -> SandboxError:
    """400: a parameter is present but of the wrong type or value."""
    return SandboxError(400, "validation_error", "PARAMETER_INVALID", message)


def invalid_body(message: str) -> SandboxError:
    """400: the request body is not a JSON object."""
    return SandboxError(400, "validation_error", "INVALID_BODY", message)


def email_taken() -> SandboxError:
    """409: another customer of the team has this email (compared case-insensitively)."""
    return SandboxError(409, "conflict_error", "CONFLICT", "A customer with this email already exists")


def rate_limited(retry_after: int) -> SandboxError:
    """429: the key used up its window; `Retry-After` says when a slot frees."""
    return SandboxError(429, "rate_limit_error", "rate_limit_exceeded",
                        f"Rate limit exceeded. Try again in {retry_after} seconds",
                        doc_url=RATE_LIMIT_DOC_URL, headers={"Retry-After": str(retry_after)})
