"""The cstar.help Customers API client (httpx).

One `httpx.Client` per `CstarClient`: a keep-alive pool, a connect and a read timeout on every
call. The client makes exactly one HTTP attempt per method call; retrying is the task layer's
decision (`workers.errors` says which errors are transient). Around every attempt it calls two
hooks: `before_request(method, path)` (the shared rate limiter; it may raise to hold the call back)
and `on_response(CallRecord)` (per-event call counting and the shared 429 cool-down).

Foreign exceptions and non-2xx answers become typed errors in one place, `translate_error`.
The API key lives in a `Secret` and is added to each request by an httpx auth hook: it is never in
a repr, an error message, the client's default headers or a log line.
"""

from __future__ import annotations

import email.utils
import logging
import math
import re
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import timezone
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote

import httpx

from workers.config import CstarConfig, Secret
from workers.errors import (
    ApiConnectionError,
    ApiError,
    ApiServerError,
    ApiTimeout,
    ApiUnexpectedStatus,
    ConfigError,
    error_class_for_status,
)

log = logging.getLogger("cstar_bridge.client")

_TRY_AGAIN = re.compile(r"try again in\s+(\d+(?:\.\d+)?)\s*(?:seconds?|secs?|s)\b", re.IGNORECASE)
_KEY_CHARS = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: anything else cannot go in a header
_SNIPPET = 120


@dataclass(frozen=True)
class CustomerPage:
    """One page of `list_customers`: the items and the pagination the API reported."""

    items: list[dict[str, Any]]
    page: int
    page_size: int
    total: int
    total_pages: int
    request_id: str | None


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt, as reported to `on_response` (status None when no answer arrived)."""

    method: str
    path: str
    status: int | None
    duration_ms: float
    request_id: str | None
    error: str | None
    retry_after: float | None


class _BearerAuth(httpx.Auth):
    """Adds `Authorization: Bearer <key>` per request, so the key never sits in the client's headers."""

    def __init__(self, key: Secret) -> None:
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._key.reveal()}"
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(***)"


class CstarClient:
    """A client of one team's Customers API."""

    def __init__(self, base_url: str, team_id: str, api_key: Secret | str, *,
                 connect_timeout: float = 3.05, read_timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None,
                 before_request: Callable[[str, str], None] | None = None,
                 on_response: Callable[[CallRecord], None] | None = None,
                 max_connections: int = 20) -> None:
        base_url = base_url.rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"cstar.api_url must start with http:// or https://, got {base_url!r}")
        if not team_id:
            raise ConfigError("cstar.team_id is empty: set CSTAR_TEAM_ID or cstar.team_id in bridge.yaml")
        key = api_key if isinstance(api_key, Secret) else Secret(api_key)
        key = Secret(key.reveal().strip())
        if not _KEY_CHARS.match(key.reveal()):
            raise ConfigError("cstar.api_key is empty or has characters an API key cannot have "
                              "(set CSTAR_API_KEY to the team's secret key)")
        self.base_url = base_url
        self.team_id = team_id
        self._customers_path = f"/api/v1/teams/{quote(team_id, safe='')}/customers"
        self._before_request = before_request
        self._on_response = on_response
        self._http = httpx.Client(
            base_url=base_url,
            auth=_BearerAuth(key),
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"Accept": "application/json", "User-Agent": "cstar-bridge"},
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_config(cls, cfg: CstarConfig, **kw: Any) -> CstarClient:
        """A client for the configured team; keyword arguments override the config's timeouts or add hooks."""
        options: dict[str, Any] = {"connect_timeout": cfg.connect_timeout, "read_timeout": cfg.read_timeout}
        options.update(kw)
        return cls(cfg.api_url, cfg.team_id, cfg.api_key, **options)

    def __repr__(self) -> str:
        return f"CstarClient(base_url={self.base_url!r}, team_id={self.team_id!r})"

    # --- the endpoints ----------------------------------------------------------------------------

    def list_customers(self, *, status: str | None = None, sentiment: str | None = None,
                       search: str | None = None, page: int = 1, page_size: int = 20) -> CustomerPage:
        """One page of customers (list items: no tags, notes or metadata; use get_customer for those)."""
        params: dict[str, str | int] = {"page": page, "pageSize": page_size}
        for name, value in (("status", status), ("sentiment", sentiment), ("search", search)):
            if value is not None:
                params[name] = value
        data, meta = self._call("GET", self._customers_path, params=params, valid=_is_page)
        pagination = meta["pagination"]
        return CustomerPage(items=data, page=pagination["page"], page_size=pagination["pageSize"],
                            total=pagination["total"], total_pages=pagination["totalPages"],
                            request_id=meta.get("requestId"))

    def iter_customers(self, *, status: str | None = None, sentiment: str | None = None,
                       search: str | None = None, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every matching customer, page after page (each id once, even if the list shifts meanwhile)."""
        seen: set[str] = set()
        page = 1
        while True:
            result = self.list_customers(status=status, sentiment=sentiment, search=search,
                                         page=page, page_size=page_size)
            for item in result.items:
                customer_id = str(item.get("id"))
                if customer_id not in seen:
                    seen.add(customer_id)
                    yield item
            if not result.items or page >= result.total_pages:
                return
            page += 1

    def get_customer(self, customer_id: str) -> dict[str, Any]:
        """The full customer (tags, notes, metadata included)."""
        return self._call_for_object("GET", self._customer_path(customer_id))

    def create_customer(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a new customer (name and email required); the created customer."""
        return self._call_for_object("POST", self._customers_path, body)

    def update_customer(self, customer_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH the given fields (tags replace, metadata merges); the updated customer."""
        return self._call_for_object("PATCH", self._customer_path(customer_id), body)

    def delete_customer(self, customer_id: str) -> dict[str, Any]:
        """DELETE the customer; the API's `{"deleted": true}`."""
        return self._call_for_object("DELETE", self._customer_path(customer_id))

    def find_by_email(self, email: str) -> dict[str, Any] | None:
        """The list item of the customer with exactly this email (case-insensitive), or None.

        The API's search is a substring match on name or email, so every page is read until the
        exact address turns up: ann@x.io never resolves to joann@x.io.
        """
        wanted = email.strip()
        if not wanted:
            return None
        for item in self.iter_customers(search=wanted, page_size=100):
            if str(item.get("email", "")).strip().lower() == wanted.lower():
                return item
        return None

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> CstarClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- one attempt ------------------------------------------------------------------------------

    def _customer_path(self, customer_id: str) -> str:
        if not customer_id:
            raise ValueError("customer_id is empty")
        return f"{self._customers_path}/{quote(customer_id, safe='')}"

    def _call_for_object(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A call whose `data` is one object (a customer, or `{"deleted": true}`)."""
        data, _ = self._call(method, path, body=body)
        return cast("dict[str, Any]", data)

    def _call(self, method: str, path: str, *, params: Mapping[str, str | int] | None = None,
              body: Mapping[str, Any] | None = None,
              valid: Callable[[Mapping[str, Any]], bool] = lambda e: isinstance(e["data"], dict),
              ) -> tuple[Any, Mapping[str, Any]]:
        """One HTTP attempt: hooks around it, the envelope's data and meta back, or a typed error."""
        if self._before_request is not None:
            self._before_request(method, path)
        started = time.perf_counter()
        try:
            response = self._http.request(method, path, params=params,
                                          json=dict(body) if body is not None else None)
        except httpx.HTTPError as exc:
            error = translate_error(method=method, path=path, exc=exc)
            self._report(method, path, None, started, None, error)
            raise error from None
        envelope = _read_envelope(response)
        if response.is_success and envelope is not None and envelope["success"] is True \
                and "data" in envelope and valid(envelope):
            meta = envelope.get("meta")
            meta = meta if isinstance(meta, dict) else {}
            self._report(method, path, response.status_code, started, meta.get("requestId"), None)
            return envelope["data"], meta
        error = translate_error(method=method, path=path, response=response)
        self._report(method, path, response.status_code, started, error.request_id, error)
        raise error

    def _report(self, method: str, path: str, status: int | None, started: float,
                request_id: str | None, error: ApiError | None) -> None:
        record = CallRecord(method=method, path=path, status=status,
                            duration_ms=round((time.perf_counter() - started) * 1000, 3),
                            request_id=request_id, error=type(error).__name__ if error else None,
                            retry_after=error.retry_after if error else None)
        log.debug("%s %s -> %s in %.1f ms (%s)%s", method, path, status if status is not None else "no answer",
                  record.duration_ms, request_id or "-", f" {record.error}" if error else "")
        if self._on_response is not None:
            self._on_response(record)


def _is_page(envelope: Mapping[str, Any]) -> bool:
    """A list answer: `data` is a list and `meta.pagination` has the four integers."""
    meta = envelope.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    return isinstance(envelope["data"], list) and isinstance(pagination, dict) and all(
        isinstance(pagination.get(k), int) for k in ("page", "pageSize", "total", "totalPages"))


def _read_envelope(response: httpx.Response) -> dict[str, Any] | None:
    """The body as the API's envelope (a JSON object with a boolean `success`), or None."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("success"), bool):
        return body
    return None


# --- the one translation boundary -------------------------------------------------------------------

def translate_error(*, method: str, path: str, exc: BaseException | None = None,
                    response: httpx.Response | None = None) -> ApiError:
    """The typed error for a failed attempt: a foreign exception, or an answer that is not a 2xx envelope."""
    if exc is not None:
        return _from_exception(exc, method, path)
    if response is None:
        raise ValueError("translate_error needs an exception or a response")
    return _from_response(response, method, path)


def _from_exception(exc: BaseException, method: str, path: str) -> ApiError:
    call = f"{method} {path}"
    maybe_applied = " (the write may have been applied)" if method != "GET" else ""
    # Only network-level errors carry their text: it comes from the OS, never from the request headers.
    if isinstance(exc, httpx.ConnectTimeout):
        return ApiTimeout(f"{call}: connect timeout", method=method, path=path)
    if isinstance(exc, httpx.PoolTimeout):
        return ApiTimeout(f"{call}: timed out waiting for a free connection", method=method, path=path)
    if isinstance(exc, httpx.TimeoutException):
        return ApiTimeout(f"{call}: {type(exc).__name__}, no answer in time{maybe_applied}",
                          method=method, path=path)
    if isinstance(exc, httpx.ConnectError):
        return ApiConnectionError(f"{call}: could not connect: {exc}", method=method, path=path)
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError, OSError)):
        return ApiConnectionError(f"{call}: connection lost ({type(exc).__name__}: {exc}){maybe_applied}",
                                  method=method, path=path)
    if isinstance(exc, httpx.DecodingError):
        return ApiServerError(f"{call}: the answer could not be decoded", method=method, path=path)
    return ApiUnexpectedStatus(f"{call}: the request could not be made ({type(exc).__name__})",
                               method=method, path=path)


def _from_response(response: httpx.Response, method: str, path: str) -> ApiError:
    status = response.status_code
    envelope = _read_envelope(response)
    error = envelope.get("error") if envelope is not None and envelope["success"] is False else None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if isinstance(error, dict) and status >= 400:
        message = str(error.get("message") or f"HTTP {status}")
        if retry_after is None and status == 429:
            retry_after = retry_after_from_message(message)
        return error_class_for_status(status)(
            message, status=status, type=_str_or_none(error.get("type")), code=_str_or_none(error.get("code")),
            request_id=_str_or_none(error.get("request_id")), retry_after=retry_after,
            method=method, path=path)
    # Not the API's envelope: a proxy, a load balancer or a wrong api_url answered.
    call = f"{method} {path}: HTTP {status}"
    snippet = " ".join(response.text[:_SNIPPET].split())
    cls: type[ApiError] = ApiUnexpectedStatus
    if status < 300:
        message = f"{call} but the body is not the API's success envelope: {snippet!r}"
    elif status < 400:
        message = f"{call}, redirected to {response.headers.get('Location')!r}: check cstar.api_url"
    elif status >= 500 or status == 429:
        cls = error_class_for_status(status)
        message = f"{call}: {snippet!r}"
    else:
        # Without the envelope a 404 means a wrong URL, not "Customer not found": never ApiNotFound.
        message = f"{call} without the API's error envelope (check cstar.api_url): {snippet!r}"
    return cls(message, status=status, retry_after=retry_after, method=method, path=path)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delay-seconds or an HTTP date), or None."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_after_from_message(message: str) -> float | None:
    """Seconds from the API's "Rate limit exceeded. Try again in N seconds", or None."""
    match = _TRY_AGAIN.search(message or "")
    return float(match.group(1)) if match else None
