"""The bridge's Customers API client against the real sandbox over HTTP.

Every error class of workers.errors is produced by a real answer (or a real lack of one); the
retry-window parsers and the non-envelope cases are pure unit tests of `translate_error`.
"""

from __future__ import annotations

import json
import logging
import socket
import time
import traceback
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
import urllib3
from urllib3 import exceptions as u3

from tests.api.conftest import OTHER_SK, PK, SK
from tests.support.sandbox import SandboxProcess
from workers.client import (
    CallRecord,
    CstarClient,
    parse_retry_after,
    retry_after_from_message,
    translate_error,
)
from workers.config import CstarConfig, Secret
from workers.errors import (
    ApiAuthenticationError,
    ApiConflict,
    ApiConnectionError,
    ApiError,
    ApiNotFound,
    ApiPermissionError,
    ApiServerError,
    ApiTimeout,
    ApiUnexpectedStatus,
    ApiValidationError,
    ConfigError,
    PermanentApiError,
    RateLimited,
    TransientApiError,
)

PATH = "/api/v1/teams/team_dev/customers"


def make_client(sb: SandboxProcess, key: str = SK, team: str = "team_dev", **kw: Any) -> CstarClient:
    return CstarClient(sb.url, team, key, **kw)


# --- the endpoints ----------------------------------------------------------------------------------

def test_create_get_update_delete_round_trip(client: CstarClient, sb: SandboxProcess) -> None:
    created = client.create_customer({"name": "Jane", "email": "jane@x.io", "tags": ["vip"],
                                      "metadata": {"plan": "pro"}})
    assert created["id"].startswith("cus_") and created["tags"] == ["vip"]
    assert client.get_customer(created["id"]) == created
    updated = client.update_customer(created["id"], {"tags": ["vip", "lead"], "metadata": {"plan": None},
                                                     "status": "inactive"})
    assert (updated["tags"], updated["metadata"], updated["status"]) == (["vip", "lead"], {}, "inactive")
    assert sb.customers() == [updated]
    assert client.delete_customer(created["id"]) == {"deleted": True}
    assert sb.customers() == []


def test_list_customers_returns_a_page_with_the_api_pagination(client: CstarClient) -> None:
    for i in range(5):
        client.create_customer({"name": f"C{i}", "email": f"c{i}@x.io"})
    page = client.list_customers(page=2, page_size=2)
    assert [c["name"] for c in page.items] == ["C2", "C1"]
    assert (page.page, page.page_size, page.total, page.total_pages) == (2, 2, 5, 3)
    assert page.request_id is not None and page.request_id.startswith("req_")
    assert client.list_customers(search="c4@").total == 1


def test_iter_customers_walks_every_page_once(client: CstarClient, sb: SandboxProcess) -> None:
    ids = {client.create_customer({"name": f"C{i}", "email": f"c{i}@x.io"})["id"] for i in range(25)}
    client.update_customer(min(ids), {"status": "inactive"})
    before = len(sb.calls())
    assert {c["id"] for c in client.iter_customers(page_size=10)} == ids
    pages = [c["query"] for c in sb.calls(since=before)]
    assert [p["page"] for p in pages] == ["1", "2", "3"] and {p["pageSize"] for p in pages} == {"10"}
    assert [c["id"] for c in client.iter_customers(status="inactive")] == [min(ids)]
    assert list(client.iter_customers(search="nobody")) == []


def test_find_by_email_reads_past_the_first_page_of_partial_matches(client: CstarClient,
                                                                    sb: SandboxProcess) -> None:
    target = client.create_customer({"name": "Ann", "email": "ann@x.io"})
    for i in range(120):  # newer, so they fill page 1 and push ann@x.io to page 2
        client.create_customer({"name": f"Jo {i}", "email": f"jo{i}ann@x.io"})
    before = len(sb.calls())
    found = client.find_by_email("ann@x.io")
    assert found is not None and found["id"] == target["id"]
    assert [(c["query"]["search"], c["query"]["page"]) for c in sb.calls(since=before)] == \
        [("ann@x.io", "1"), ("ann@x.io", "2")]
    client.delete_customer(target["id"])
    assert client.find_by_email("ann@x.io") is None  # 120 partial matches, none exact


@pytest.mark.parametrize("stored, asked, found", [
    ("ann@x.io", "ann@x.io", True),
    ("ann@x.io", "  ANN@X.IO ", True),
    ("ANN@X.IO", "ann@x.io", True),
    ("joann@x.io", "ann@x.io", False),
    ("ann@x.io.evil.com", "ann@x.io", False),
    ("ann@x.io", "nn@x.io", False),
])
def test_find_by_email_matches_the_whole_address_case_insensitively(client: CstarClient, stored: str,
                                                                     asked: str, found: bool) -> None:
    customer = client.create_customer({"name": "Someone", "email": stored})
    result = client.find_by_email(asked)
    assert (result["id"] if result else None) == (customer["id"] if found else None)


def test_find_by_email_of_nothing_is_none_without_a_call(client: CstarClient, sb: SandboxProcess) -> None:
    assert client.find_by_email("   ") is None
    assert sb.calls() == []


def test_ids_are_escaped_into_the_path(client: CstarClient, sb: SandboxProcess) -> None:
    with pytest.raises(ApiNotFound):
        client.get_customer("cus_x/../../other")
    assert sb.calls()[-1]["path"] == f"{PATH}/cus_x/../../other"
    with pytest.raises(ValueError):
        client.get_customer("")


# --- one error class per answer -------------------------------------------------------------------

def test_400_is_api_validation_error_with_the_apis_fields(client: CstarClient) -> None:
    with pytest.raises(ApiValidationError) as caught:
        client.create_customer({"name": "No email"})
    err = caught.value
    assert (err.status, err.type, err.code, err.message) == \
        (400, "validation_error", "PARAMETER_MISSING", "name and email are required")
    assert err.request_id is not None and err.request_id.startswith("req_")
    assert (err.method, err.path, err.transient) == ("POST", PATH, False)
    assert err.to_dict()["call"] == f"POST {PATH}"


def test_401_is_api_authentication_error(sb: SandboxProcess) -> None:
    with make_client(sb, key="sk_test_wrong") as c, pytest.raises(ApiAuthenticationError) as caught:
        c.list_customers()
    assert (caught.value.status, caught.value.code) == (401, "authentication_required")


@pytest.mark.parametrize("key, team", [(PK, "team_dev"), (OTHER_SK, "team_dev")])
def test_403_is_api_permission_error(sb: SandboxProcess, key: str, team: str) -> None:
    with make_client(sb, key=key, team=team) as c, pytest.raises(ApiPermissionError) as caught:
        c.create_customer({"name": "J", "email": "j@x.io"})
    assert (caught.value.status, caught.value.code, caught.value.transient) == (403, "insufficient_permissions",
                                                                                 False)


def test_404_is_api_not_found(client: CstarClient) -> None:
    for call in (lambda: client.get_customer("cus_nope"), lambda: client.update_customer("cus_nope", {}),
                 lambda: client.delete_customer("cus_nope")):
        with pytest.raises(ApiNotFound) as caught:
            call()
        assert (caught.value.code, caught.value.message) == ("RESOURCE_MISSING", "Customer not found")


def test_409_is_api_conflict(client: CstarClient) -> None:
    client.create_customer({"name": "A", "email": "a@x.io"})
    with pytest.raises(ApiConflict) as caught:
        client.create_customer({"name": "A again", "email": "A@X.IO"})
    assert caught.value.code == "CONFLICT"


def test_429_is_rate_limited_with_the_retry_window_from_retry_after(sb: SandboxProcess,
                                                                    client: CstarClient) -> None:
    sb.reset(rate_limit=2, rate_window=30)
    client.list_customers()
    client.list_customers()
    with pytest.raises(RateLimited) as caught:
        client.list_customers()
    err = caught.value
    assert (err.status, err.code, err.transient) == (429, "rate_limit_exceeded", True)
    assert err.retry_after == 30.0
    assert err.message == "Rate limit exceeded. Try again in 30 seconds"


def test_5xx_is_api_server_error_with_retry_after_when_sent(sb: SandboxProcess, client: CstarClient) -> None:
    sb.set_faults([{"action": "error", "status": 503, "retry_after": 12, "times": 1},
                   {"action": "error", "status": 500, "times": 1}])
    with pytest.raises(ApiServerError) as first:
        client.list_customers()
    assert (first.value.status, first.value.retry_after, first.value.transient) == (503, 12.0, True)
    with pytest.raises(ApiServerError) as second:
        client.list_customers()
    assert (second.value.status, second.value.retry_after) == (500, None)


def test_a_proxy_page_instead_of_the_envelope(sb: SandboxProcess, client: CstarClient) -> None:
    sb.set_faults([{"action": "error", "status": 502, "body": "html", "times": 1},
                   {"action": "error", "status": 404, "body": "html", "times": 1}])
    with pytest.raises(ApiServerError) as bad_gateway:
        client.list_customers()
    assert bad_gateway.value.status == 502 and "<html>" in bad_gateway.value.message
    # A 404 without the envelope is a wrong URL, not a missing customer: never ApiNotFound.
    with pytest.raises(ApiUnexpectedStatus) as not_found:
        client.get_customer("cus_x")
    assert not_found.value.status == 404 and "api_url" in not_found.value.message


def test_a_closed_port_is_api_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with CstarClient(f"http://127.0.0.1:{port}", "team_dev", SK) as c, \
            pytest.raises(ApiConnectionError) as caught:
        c.list_customers()
    assert caught.value.status is None and caught.value.transient
    assert "could not connect" in caught.value.message


def test_a_dropped_connection_after_the_write_is_api_connection_error(sb: SandboxProcess,
                                                                      client: CstarClient) -> None:
    sb.set_faults([{"action": "drop_after_write", "methods": ["POST"]}])
    with pytest.raises(ApiConnectionError) as caught:
        client.create_customer({"name": "J", "email": "j@x.io"})
    assert "may have been applied" in caught.value.message
    assert [c["email"] for c in sb.customers()] == ["j@x.io"]  # the write happened all the same


def test_no_answer_within_the_read_timeout_is_api_timeout(sb: SandboxProcess) -> None:
    sb.set_faults([{"action": "latency", "latency_ms": 600}])
    started = time.monotonic()
    with make_client(sb, read_timeout=0.2) as c, pytest.raises(ApiTimeout) as caught:
        c.list_customers()
    assert time.monotonic() - started < 0.55
    assert caught.value.transient and caught.value.status is None
    # The timed-out GET is still sleeping in the sandbox: let it land here, not in a later test's log.
    deadline = time.monotonic() + 5
    while not sb.calls() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_the_error_tree_splits_transient_from_permanent() -> None:
    assert all(issubclass(c, TransientApiError) for c in (ApiConnectionError, ApiTimeout, ApiServerError,
                                                          RateLimited))
    assert all(issubclass(c, PermanentApiError) for c in (ApiValidationError, ApiAuthenticationError,
                                                          ApiPermissionError, ApiNotFound, ApiConflict,
                                                          ApiUnexpectedStatus))


# --- translate_error and the retry window (pure) ----------------------------------------------------

def response(status: int, body: Any = None, *, text: str | None = None, **headers: str) -> urllib3.HTTPResponse:
    data = text.encode() if text is not None else json.dumps(body).encode()
    return urllib3.HTTPResponse(body=data, status=status, headers=headers, preload_content=True)


def error_body(message: str, code: str = "rate_limit_exceeded") -> dict[str, Any]:
    return {"success": False, "error": {"type": "rate_limit_error", "code": code, "message": message,
                                        "request_id": "req_1"}, "meta": {"timestamp": "2025-12-10T14:30:00Z"}}


@pytest.mark.parametrize("value, seconds", [("120", 120.0), (" 7 ", 7.0), ("1.5", 1.5), ("-3", 0.0),
                                            ("", None), (None, None), ("soon", None), ("nan", None)])
def test_parse_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_http_date() -> None:
    now = datetime(2025, 12, 10, 14, 30, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)  # "Wed, 10 Dec 2025 14:31:30 GMT"
    assert parse_retry_after(later, now=now.timestamp()) == 90.0
    assert parse_retry_after(later, now=now.timestamp() + 200) == 0.0
    assert parse_retry_after("Wed, 10 Dec 2025 14:31:30 GMT", now=now.timestamp()) == 90.0


@pytest.mark.parametrize("message, seconds", [
    ("Rate limit exceeded. Try again in 60 seconds", 60.0),
    ("Rate limit exceeded. Try again in 1 second", 1.0),
    ("try again in 2.5s", 2.5),
    ("Rate limit exceeded", None),
])
def test_retry_after_from_the_message(message: str, seconds: float | None) -> None:
    assert retry_after_from_message(message) == seconds


def test_429_retry_window_prefers_the_header_then_the_message() -> None:
    with_header = translate_error(method="GET", path=PATH,
                                  response=response(429, error_body("Try again in 60 seconds"), **{"Retry-After": "5"}))
    assert isinstance(with_header, RateLimited) and with_header.retry_after == 5.0
    from_message = translate_error(method="GET", path=PATH, response=response(429, error_body("Try again in 60 seconds")))
    assert isinstance(from_message, RateLimited) and from_message.retry_after == 60.0
    proxy = translate_error(method="GET", path=PATH, response=response(429, text="slow down", **{"Retry-After": "3"}))
    assert isinstance(proxy, RateLimited) and proxy.retry_after == 3.0


@pytest.mark.parametrize("status, body, text, expected", [
    (200, None, "<html>login</html>", ApiUnexpectedStatus),
    (200, {"data": []}, None, ApiUnexpectedStatus),
    (200, {"success": False, "error": {"message": "x"}}, None, ApiUnexpectedStatus),
    (301, None, "", ApiUnexpectedStatus),
    (404, None, "Not Found", ApiUnexpectedStatus),
    (418, {"success": False, "error": {"type": "x", "code": "teapot", "message": "short and stout"}}, None,
     ApiUnexpectedStatus),
    (500, None, "", ApiServerError),
    (504, None, "<html>gateway timeout</html>", ApiServerError),
    (404, {"success": False, "error": {"code": "RESOURCE_MISSING", "message": "Customer not found"}}, None,
     ApiNotFound),
])
def test_translate_error_for_answers_that_are_not_a_2xx_envelope(status: int, body: Any, text: str | None,
                                                                 expected: type[ApiError]) -> None:
    err = translate_error(method="GET", path=PATH, response=response(status, body, text=text))
    assert type(err) is expected and err.status == status and (err.method, err.path) == ("GET", PATH)


CONN = "HTTPConnection(host='127.0.0.1', port=1)"


@pytest.mark.parametrize("exc, expected", [
    (u3.NewConnectionError(CONN, f"{CONN}: Failed to establish a new connection: [Errno 111] Connection refused"),
     ApiConnectionError),
    (u3.NameResolutionError("api.nowhere.test", CONN, socket.gaierror(-2, "Name or service not known")),
     ApiConnectionError),
    (u3.ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer")),
     ApiConnectionError),
    (u3.ProtocolError("Connection aborted.", ConnectionError("Remote end closed connection without response")),
     ApiConnectionError),
    (u3.SSLError("certificate verify failed"), ApiConnectionError),
    (ConnectionResetError(104, "Connection reset by peer"), ApiConnectionError),
    (u3.ConnectTimeoutError(CONN, "Connection to 127.0.0.1 timed out. (connect timeout=3.05)"), ApiTimeout),
    (u3.ReadTimeoutError(None, PATH, "Read timed out. (read timeout=10)"), ApiTimeout),  # type: ignore[arg-type]
    (u3.EmptyPoolError(None, "Pool is empty."), ApiTimeout),  # type: ignore[arg-type]
    (TimeoutError("timed out"), ApiTimeout),
    (u3.DecodeError("Received response with content-encoding: gzip, but failed to decode it."), ApiServerError),
    (u3.LocationParseError("ftp://x"), ApiUnexpectedStatus),
    (u3.HeaderParsingError([], b"bad"), ApiUnexpectedStatus),
])
def test_translate_error_for_foreign_exceptions(exc: Exception, expected: type[ApiError]) -> None:
    err = translate_error(method="PATCH", path=PATH, exc=exc)
    assert type(err) is expected and (err.method, err.path, err.status) == ("PATCH", PATH, None)
    assert SK not in str(err)  # only network-level text is quoted; a header error never is


# --- the key never shows --------------------------------------------------------------------------

def every_error(sb: SandboxProcess, client: CstarClient) -> Iterator[ApiError]:
    """One real error of each kind the sandbox can produce, made with team_dev's secret key."""
    calls = [
        lambda: client.create_customer({"name": "x"}),
        lambda: client.get_customer("cus_nope"),
        lambda: (client.create_customer({"name": "d", "email": "d@x.io"}),
                 client.create_customer({"name": "d", "email": "d@x.io"})),
    ]
    for call in calls:
        try:
            call()
        except ApiError as err:
            yield err
    faults: list[dict[str, Any]] = [
        {"action": "error", "status": 500},
        {"action": "error", "status": 502, "body": "html"},
        {"action": "error", "status": 429, "retry_after": 2},
        {"action": "drop_after_write"},
        # a read: a timed-out write would still land, after this test has ended
        {"action": "latency", "latency_ms": 400, "methods": ["GET"]},
    ]
    for n, fault in enumerate(faults):
        sb.set_faults([{**fault, "times": 1}])
        seen = len(sb.calls())
        try:
            with make_client(sb, read_timeout=0.2) as short:
                if fault["action"] == "latency":
                    short.list_customers()
                else:
                    short.create_customer({"name": "f", "email": f"f{n}@x.io"})
        except ApiError as err:
            yield err
        if fault["action"] == "latency":
            # The timed-out GET is still sleeping in the sandbox; let it land now, or it would count
            # against the rate limit of whichever test resets the sandbox next.
            deadline = time.monotonic() + 5
            while len(sb.calls()) <= seen and time.monotonic() < deadline:
                time.sleep(0.02)
    for key, team in (("sk_test_wrong", "team_dev"), (OTHER_SK, "team_dev")):
        try:
            with make_client(sb, key=key, team=team) as other:
                other.list_customers()
        except ApiError as err:
            yield err


def test_the_api_key_never_appears_in_reprs_errors_or_logs(sb: SandboxProcess, client: CstarClient,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "cstar_bridge.client"):
        caplog.set_level(logging.DEBUG, logger=name)
    secret_client = CstarClient(sb.url, "team_dev", Secret(SK))
    assert repr(secret_client) == f"CstarClient(base_url={sb.url!r}, team_id='team_dev')"
    assert SK not in repr(client) and "authorization" not in {k.lower() for k in client._pool.headers}
    secret_client.create_customer({"name": "Jane", "email": "jane@x.io"})
    errors = list(every_error(sb, secret_client))
    assert {type(e) for e in errors} == {ApiValidationError, ApiNotFound, ApiConflict, ApiServerError,
                                         RateLimited, ApiConnectionError, ApiTimeout, ApiAuthenticationError,
                                         ApiPermissionError}
    for err in errors:
        shown = [str(err), repr(err), json.dumps(err.to_dict()), "".join(traceback.format_exception(err))]
        assert not any(SK in s for s in shown), shown
    assert {r.name for r in caplog.records} >= {"urllib3.connectionpool", "cstar_bridge.client"}
    for record in caplog.records:
        assert SK not in record.getMessage() and SK not in repr(record.args)
    secret_client.close()


def test_a_bad_api_url_team_or_key_is_a_config_error_that_does_not_show_the_key() -> None:
    with pytest.raises(ConfigError):
        CstarClient("ftp://example.com", "team_dev", SK)
    with pytest.raises(ConfigError):
        CstarClient("http://127.0.0.1:1", "", SK)
    for bad in ("", "sk_test dev", "sk_tést"):
        with pytest.raises(ConfigError) as caught:
            CstarClient("http://127.0.0.1:1", "team_dev", bad)
        assert not bad or bad not in str(caught.value)
    assert CstarClient("http://127.0.0.1:1", "team_dev", f" {SK}\n").team_id == "team_dev"  # stray newline


# --- hooks ----------------------------------------------------------------------------------------

def test_hooks_run_around_every_attempt_success_or_failure(sb: SandboxProcess) -> None:
    before: list[tuple[str, str]] = []
    records: list[CallRecord] = []
    sb.reset(rate_limit=3, rate_window=60)
    with make_client(sb, before_request=lambda m, p: before.append((m, p)), on_response=records.append) as c:
        created = c.create_customer({"name": "J", "email": "j@x.io"})
        with pytest.raises(ApiNotFound):
            c.get_customer("cus_nope")
        c.list_customers()
        with pytest.raises(RateLimited):
            c.list_customers()
    cid_path = f"{PATH}/cus_nope"
    assert before == [("POST", PATH), ("GET", cid_path), ("GET", PATH), ("GET", PATH)]
    assert [(r.method, r.path, r.status, r.error) for r in records] == [
        ("POST", PATH, 201, None), ("GET", cid_path, 404, "ApiNotFound"), ("GET", PATH, 200, None),
        ("GET", PATH, 429, "RateLimited")]
    assert records[-1].retry_after == 60.0 and records[0].retry_after is None
    assert all(r.duration_ms >= 0 and r.request_id and r.request_id.startswith("req_") for r in records)
    assert records[0].request_id == sb.calls()[0]["request_id"] and created["email"] == "j@x.io"


def test_on_response_reports_a_transport_failure_with_no_status(sb: SandboxProcess) -> None:
    records: list[CallRecord] = []
    sb.set_faults([{"action": "drop_after_write"}])
    with make_client(sb, on_response=records.append) as c, pytest.raises(ApiConnectionError):
        c.create_customer({"name": "J", "email": "j@x.io"})
    [record] = records
    assert (record.status, record.error, record.request_id) == (None, "ApiConnectionError", None)


def test_before_request_can_hold_a_call_back(sb: SandboxProcess) -> None:
    class Throttled(Exception):
        pass

    def limiter(method: str, path: str) -> None:
        raise Throttled(f"{method} {path}")

    records: list[CallRecord] = []
    with make_client(sb, before_request=limiter, on_response=records.append) as c, pytest.raises(Throttled):
        c.list_customers()
    assert sb.calls() == [] and records == [], sb.calls()


def test_from_config_uses_the_configured_team_key_and_timeouts(sb: SandboxProcess) -> None:
    cfg = CstarConfig(api_url=sb.url + "/", team_id="team_dev", api_key=Secret(SK), read_timeout=0.2)
    sb.set_faults([{"action": "latency", "latency_ms": 500, "times": 1}])
    with CstarClient.from_config(cfg) as c:
        assert c.base_url == sb.url
        with pytest.raises(ApiTimeout):
            c.list_customers()
        assert c.list_customers().total == 0
    with CstarClient.from_config(cfg, read_timeout=2.0) as slow:
        sb.set_faults([{"action": "latency", "latency_ms": 300, "times": 1}])
        assert slow.list_customers().total == 0


@pytest.fixture
def one_answer() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A tiny HTTP server that answers every GET with one fixed envelope and records (request line,
    Authorization): a misbehaving proxy, or an HTTP proxy in front of the API."""
    import http.server
    import threading

    seen: list[tuple[str, str]] = []
    pagination = {"page": 1, "pageSize": 20, "total": 0, "totalPages": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            seen.append((self.requestline, self.headers["Authorization"]))
            meta: dict[str, Any] = {"requestId": "req_1"}
            if self.path.startswith("http://"):  # asked as a proxy: a well-formed page
                meta["pagination"] = pagination
            body = json.dumps({"success": True, "data": [], "meta": meta}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_http_proxy_from_the_environment_is_used(one_answer: tuple[str, list[tuple[str, str]]],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, seen = one_answer
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    api = "http://127.0.0.2:1"  # nothing listens there: only the proxy can answer
    with CstarClient(api, "team_dev", SK) as c:
        assert c.list_customers().total == 0
    assert seen == [(f"GET {api}{PATH}?page=1&pageSize=20 HTTP/1.1", f"Bearer {SK}")]
    monkeypatch.setenv("NO_PROXY", "127.0.0.2")
    with CstarClient(api, "team_dev", SK, connect_timeout=1) as c, pytest.raises(ApiConnectionError):
        c.list_customers()  # straight to the API (refused), not through the proxy
    assert len(seen) == 1


def test_a_2xx_that_lacks_what_the_call_needs_is_api_unexpected_status(
        one_answer: tuple[str, list[tuple[str, str]]]) -> None:
    # No sandbox answers like this; a one-line HTTP server stands in for a misbehaving proxy.
    url, seen = one_answer
    records: list[CallRecord] = []
    with CstarClient(url, "team_dev", SK, on_response=records.append) as c, \
            pytest.raises(ApiUnexpectedStatus) as caught:
        c.list_customers()
    assert [auth for _, auth in seen] == [f"Bearer {SK}"]
    assert caught.value.status == 200 and "envelope" in caught.value.message
    assert [(r.status, r.error) for r in records] == [(200, "ApiUnexpectedStatus")]