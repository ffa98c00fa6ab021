"""Errors of the worker side: configuration and the cstar.help Customers API.

    BridgeError
    ├── ConfigError                      bad bridge.yaml / environment; start-up stops with the message
    └── ApiError                         anything the Customers API (or the way to it) answered
        ├── TransientApiError            retry with backoff; `retry_after` when the API said how long
        │   ├── ApiConnectionError       could not connect, connection reset, DNS
        │   ├── ApiTimeout               connect or read timeout
        │   ├── ApiServerError           5xx
        │   └── RateLimited              429 (retry_after from Retry-After or "Try again in N seconds")
        └── PermanentApiError            retrying cannot help: dead-letter with the reason
            ├── ApiValidationError       400
            ├── ApiAuthenticationError   401
            ├── ApiPermissionError       403
            ├── ApiNotFound              404
            ├── ApiConflict              409 (duplicate email)
            └── ApiUnexpectedStatus      any other 4xx, or a body that is not the API's envelope

Foreign exceptions (urllib3, socket) and HTTP statuses are translated in exactly one place:
`workers.client.translate_error`. Messages never contain the API key.
"""

from __future__ import annotations

from typing import Any


class BridgeError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(BridgeError):
    """The configuration (file or environment) is unusable; the message says what to fix."""


class ApiError(BridgeError):
    """An answer (or the lack of one) from the Customers API."""

    transient: bool = False

    def __init__(self, message: str, *, status: int | None = None, type: str | None = None,
                 code: str | None = None, request_id: str | None = None,
                 retry_after: float | None = None, method: str | None = None,
                 path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after
        self.method = method
        self.path = path

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description, stored with failed events and dead letters."""
        return {
            "error": type(self).__name__,
            "transient": self.transient,
            "status": self.status,
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "request_id": self.request_id,
            "retry_after": self.retry_after,
            "call": f"{self.method} {self.path}" if self.method else None,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class TransientApiError(ApiError):
    transient = True


class ApiConnectionError(TransientApiError):
    pass


class ApiTimeout(TransientApiError):
    pass


class ApiServerError(TransientApiError):
    pass


class RateLimited(TransientApiError):
    pass


class PermanentApiError(ApiError):
    transient = False


class ApiValidationError(PermanentApiError):
    pass


class ApiAuthenticationError(PermanentApiError):
    pass


class ApiPermissionError(PermanentApiError):
    pass


class ApiNotFound(PermanentApiError):
    pass


class ApiConflict(PermanentApiError):
    pass


class ApiUnexpectedStatus(PermanentApiError):
    pass


STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: ApiValidationError,
    401: ApiAuthenticationError,
    403: ApiPermissionError,
    404: ApiNotFound,
    409: ApiConflict,
    429: RateLimited,
}


def error_class_for_status(status: int) -> type[ApiError]:
    """The error class an HTTP status maps to (5xx transient, unknown 4xx permanent)."""
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    if status >= 500:
        return ApiServerError
    return ApiUnexpectedStatus
