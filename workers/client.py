"""The cstar.help Customers API client (urllib3).

One urllib3 connection pool per `CstarClient`: keep-alive connections to the API's host, a connect
and a read timeout on every call. (It was httpx until the benchmarks showed httpx's own work at
~0.45 ms of CPU per call over urllib3's: 15–20% of a worker's time; see BENCHMARKS.md.)
The client makes exactly one HTTP attempt per method call (no retries, no redirects); retrying is
the task layer's decision (`workers.errors` says which errors are transient). Around every attempt it
calls two hooks: `before_request(method, path)` (the shared rate limiter; it may raise to hold the
call back) and `on_response(CallRecord)` (per-event call counting and the shared 429 cool-down).

Foreign exceptions and non-2xx answers become typed errors in one place, `translate_error`.
The API key lives in a `Secret` and goes only into each request's own headers: it is never in a
repr, an error message, the pool's default headers or a log line.
"""

from __future__ import annotations

import copy
import email.utils
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timezone
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote, urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

import certifi
import urllib3
from urllib3 import exceptions as u3

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


class CstarClient:
    """A client of one team's Customers API."""

    def __init__(self, base_url: str, team_id: str, api_key: Secret | str, *,
                 connect_timeout: float = 3.05, read_timeout: float = 10.0,
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
        parts = urlsplit(base_url)
        if not parts.hostname:
            raise ConfigError(f"cstar.api_url has no host: {base_url!r}")
        self.base_url = base_url
        self.team_id = team_id
        self._key = key
        self._prefix = parts.path  # an api_url with a path (behind a gateway) keeps it
        self._customers_path = f"/api/v1/teams/{quote(team_id, safe='')}/customers"
        self._before_request = before_request
        self._on_response = on_response
        options: dict[str, Any] = {"maxsize": max_connections, "block": False, "retries": False,
                                   "timeout": urllib3.Timeout(connect=connect_timeout, read=read_timeout)}
        if parts.scheme == "https":
            options["ca_certs"] = certifi.where()
        # HTTP(S)_PROXY / NO_PROXY from the environment, as curl and most HTTP clients honour them;
        # never for this machine itself (a local sandbox or API gateway).
        local = parts.hostname in ("localhost", "127.0.0.1", "::1")
        proxy = None if local or proxy_bypass(parts.hostname) else getproxies().get(parts.scheme)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._proxy: urllib3.ProxyManager | None = None
        if proxy:
            self._proxy = urllib3.ProxyManager(proxy, **options)
            self._pool = self._proxy.connection_from_url(base_url)
        else:
            self._pool = urllib3.connection_from_url(base_url, **options)

    @classmethod
    def from_config(cls, cfg: CstarConfig, **kw: Any) -> CstarClient:
        """A client for the configured team; keyword arguments override the config's timeouts or add hooks."""
        options: dict[str, Any] = {"connect_timeout": cfg.connect_timeout, "read_timeout": cfg.read_timeout}
        options.update(kw)
        return cls(cfg.api_url, cfg.team_id, cfg.api_key, **options)

    def with_hooks(self, *, before_request: Callable[[str, str], None] | None,
                   on_response: Callable[[CallRecord], None] | None) -> CstarClient:
        """The same client (the same connection pool, safe to share between threads and greenlets) with
        other hooks: each task counts its own calls and fences its own writes."""
        view = copy.copy(self)
        view._before_request = before_request
        view._on_response = on_response
        return view

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
        self._pool.close()
        if self._proxy is not None:
            self._proxy.clear()

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
        url = self._prefix + path + (f"?{urlencode(params)}" if params else "")
        headers = {"Accept": "application/json", "User-Agent": "cstar-bridge",
                   "Authorization": f"Bearer {self._key.reveal()}"}
        payload = None
        if body is not None:
            payload = json.dumps(dict(body), separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        try:
            if self._proxy is not None:  # a plain-HTTP proxy needs the absolute URL in the request line
                response = self._proxy.urlopen(method, self._origin + url, body=payload, headers=headers,
                                               retries=False, redirect=False, preload_content=True)
            else:
                response = self._pool.urlopen(method, url, body=payload, headers=headers, retries=False,
                                              redirect=False, assert_same_host=False, preload_content=True)
        except (u3.HTTPError, OSError) as exc:
            error = translate_error(method=method, path=path, exc=exc)
            self._report(method, path, None, started, None, error)
            raise error from None
        envelope = _read_envelope(response)
        if 200 <= response.status < 300 and envelope is not None and envelope["success"] is True \
                and "data" in envelope and valid(envelope):
            meta = envelope.get("meta")
            meta = meta if isinstance(meta, dict) else {}
            self._report(method, path, response.status, started, meta.get("requestId"), None)
            return envelope["data"], meta
        error = translate_error(method=method, path=path, response=response)
        self._report(method, path, response.status, started, error.request_id, error)
        raise error

    def _report(self, method: str, path: str, status: int | None, started: float,
                request_id: str | None, error: ApiError | None) -> None:
        record = CallRecord(method=method, path=path, status=status,
                            duration_ms=round((time.perf_counter() - started) * 1000, 3),
                            request_id=request_id, error=type(error).__name__ if error else None,
                            retry_after=error.retry_after if error else None)
        log.debug("%s %s -> %s in %.1f ms (%s)%s", method, path.split("?")[0], status if status is not None else "no answer",
                  record.duration_ms, request_id or "-", f" {record.error}" if error else "")
        if self._on_response is not None:
            self._on_response(record)


def _is_page(envelope: Mapping[str, Any]) -> bool:
    """A list answer: `data` is a list and `meta.pagination` has the four integers."""
    meta = envelope.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    return isinstance(envelope["data"], list) and isinstance(pagination, dict) and all(
        isinstance(pagination.get(k), int) for k in ("page", "pageSize", "total", "totalPages"))


def _read_envelope(response: urllib3.BaseHTTPResponse) -> dict[str, Any] | None:
    """The body as the API's envelope (a JSON object with a boolean `success`), or None."""
    try:
        body = json.loads(response.data or b"")
    except ValueError:  # empty, not JSON, or not UTF-8
        return None
    if isinstance(body, dict) and isinstance(body.get("success"), bool):
        return body
    return None


# --- the one translation boundary -------------------------------------------------------------------

def translate_error(*, method: str, path: str, exc: BaseException | None = None,
                    response: urllib3.BaseHTTPResponse | None = None) -> ApiError:
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
    if isinstance(exc, u3.NewConnectionError):  # refused, unreachable, no such host (before ConnectTimeoutError:
        return ApiConnectionError(f"{call}: could not connect: {_reason(exc)}",  # it is a subclass)
                                  method=method, path=path)
    if isinstance(exc, u3.ConnectTimeoutError):
        return ApiTimeout(f"{call}: connect timeout", method=method, path=path)
    if isinstance(exc, u3.EmptyPoolError):
        return ApiTimeout(f"{call}: timed out waiting for a free connection", method=method, path=path)
    if isinstance(exc, (u3.TimeoutError, TimeoutError)):
        return ApiTimeout(f"{call}: {type(exc).__name__}, no answer in time{maybe_applied}",
                          method=method, path=path)
    if isinstance(exc, (u3.ProtocolError, u3.SSLError, u3.ProxyError, OSError)):
        return ApiConnectionError(f"{call}: connection lost ({type(exc).__name__}: {_reason(exc)}){maybe_applied}",
                                  method=method, path=path)
    if isinstance(exc, u3.DecodeError):
        return ApiServerError(f"{call}: the answer could not be decoded", method=method, path=path)
    return ApiUnexpectedStatus(f"{call}: the request could not be made ({type(exc).__name__})",
                               method=method, path=path)


def _reason(exc: BaseException) -> str:
    """The error's text without a leading `<urllib3... object at 0x…>: ` (noise; urllib3's
    `HTTPConnection(host=…, port=…)` prefix stays: it says where the call went)."""
    text = str(exc)
    return text.split(": ", 1)[1] if text.startswith("<") and ": " in text else text


def _from_response(response: urllib3.BaseHTTPResponse, method: str, path: str) -> ApiError:
    status = response.status
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
    snippet = " ".join((response.data or b"")[:_SNIPPET * 4].decode("utf-8", "replace")[:_SNIPPET].split())
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
