"""The emulator's HTTP layer: the Customers API routes of the spec, plus test hooks under /_sandbox/.

Thin on purpose (moto's `responses.py`): parse the request, ask `SandboxBackend`, render the
envelope. Per API call, in this order: faults (latency, injected error), authentication (401),
the key's rate limit (429), team and key-type permissions (403), then the backend (400/404/409).
Every API call is recorded in the call log; /_sandbox/ calls are not, and are not rate limited.
"""

from __future__ import annotations

import json
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from sandbox import errors
from sandbox.backend import GET_SHAPES, ApiKey, SandboxBackend, iso_timestamp
from sandbox.calllog import CallLog
from sandbox.errors import SandboxError
from sandbox.faults import WRITE_METHODS, FaultDecision, FaultInjector, FaultRule
from sandbox.ratelimit import SlidingWindowLimiter

API_PREFIX = "/api/"
CUSTOMERS = "/api/v1/teams/<team_id>/customers"
CUSTOMER = "/api/v1/teams/<team_id>/customers/<customer_id>"
_DROP = "sandbox.drop_after_write"


class SandboxState:
    """Everything one emulator instance holds: the backend, the limiter, the faults, the call log."""

    def __init__(self, backend: SandboxBackend, rate_limit: int, rate_window: float,
                 get_shape: str = "full") -> None:
        self.backend = backend
        self.limiter = SlidingWindowLimiter(rate_limit, rate_window)
        self.faults = FaultInjector()
        self.calls = CallLog()
        self.start_rate_limit, self.start_rate_window = rate_limit, rate_window
        self.start_get_shape = self.get_shape = _get_shape(get_shape)

    def reset(self, rate_limit: int | None = None, rate_window: float | None = None,
              get_shape: str | None = None) -> None:
        """Clear customers, calls and faults; the rate limit and GET shape return to their start-up
        values unless given."""
        shape = _get_shape(self.start_get_shape if get_shape is None else get_shape)
        self.backend.reset()
        self.calls.clear()
        self.faults.clear()
        self.limiter.configure(self.start_rate_limit if rate_limit is None else rate_limit,
                               self.start_rate_window if rate_window is None else rate_window)
        self.get_shape = shape


def _get_shape(shape: str) -> str:
    if shape not in GET_SHAPES:
        raise ValueError(f"get_shape must be one of {', '.join(GET_SHAPES)}")
    return shape


def create_sandbox_app(backend: SandboxBackend | None = None, *, rate_limit: int = 0,
                       rate_window: float = 60.0, get_shape: str = "full") -> Flask:
    """The emulator as a Flask app (`rate_limit` requests per `rate_window` seconds per key; 0 = off).

    `get_shape="documented"` answers GET of one customer with exactly the spec example's fields (no
    `metadata`), as the real API may: the bridge must not rely on seeing metadata."""
    state = SandboxState(backend or SandboxBackend(), rate_limit, rate_window, get_shape)
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the spec's field order
    app.extensions["sandbox"] = state
    _register_api(app, state)
    app.register_blueprint(_test_hooks(state))
    app.wsgi_app = _DropAfterWrite(app.wsgi_app)  # type: ignore[method-assign]
    return app


# --- the Customers API ------------------------------------------------------------------------------

def _register_api(app: Flask, state: SandboxState) -> None:
    backend = state.backend

    def caller(team_id: str, *, write: bool) -> None:
        """401, then the key's rate limit (429), then team and key type (403)."""
        key = backend.authenticate(_bearer_token(request.headers.get("Authorization")))
        g.api_key = key
        wait = state.limiter.hit(key.key)
        if wait is not None:
            raise errors.rate_limited(wait)
        backend.authorize(key, team_id, write=write)

    @app.get(CUSTOMERS)
    def list_customers(team_id: str) -> Response:
        caller(team_id, write=False)
        args = request.args
        page = backend.list_customers(team_id, status=args.get("status"), sentiment=args.get("sentiment"),
                                      search=args.get("search"), page=args.get("page", "1"),
                                      page_size=args.get("pageSize", "20"))
        return _success(page.items, pagination=page.pagination())

    @app.post(CUSTOMERS)
    def create_customer(team_id: str) -> Response:
        caller(team_id, write=True)
        return _success(backend.create_customer(team_id, _json_body()), status=201)

    @app.get(CUSTOMER)
    def get_customer(team_id: str, customer_id: str) -> Response:
        caller(team_id, write=False)
        return _success(backend.get_customer(team_id, customer_id, shape=state.get_shape))

    @app.patch(CUSTOMER)
    def update_customer(team_id: str, customer_id: str) -> Response:
        caller(team_id, write=True)
        return _success(backend.update_customer(team_id, customer_id, _json_body()))

    @app.delete(CUSTOMER)
    def delete_customer(team_id: str, customer_id: str) -> Response:
        caller(team_id, write=True)
        backend.delete_customer(team_id, customer_id)
        return _success({"deleted": True})

    @app.before_request
    def apply_faults() -> Response | None:
        g.started = time.perf_counter()
        g.arrived = time.time()   # when the request arrived (what a rate limiter counts); `ts` is when it was answered
        g.request_id = _new_request_id()
        if not request.path.startswith(API_PREFIX):
            return None
        decision = state.faults.decide(request.method, request.path, request.get_data(as_text=True))
        g.faults = decision
        if decision.latency_ms:
            time.sleep(decision.latency_ms / 1000)
        if decision.error is not None:
            return _fault_response(decision.error)
        if decision.drop_after_write:
            request.environ[_DROP] = True
        return None

    @app.after_request
    def record_call(response: Response) -> Response:
        if request.path.startswith(API_PREFIX):
            state.calls.record(_call_entry(response))
        return response

    @app.errorhandler(SandboxError)
    def sandbox_error(exc: SandboxError) -> Response:
        return _error(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status == 404:
            err = SandboxError(404, "not_found_error", "ROUTE_NOT_FOUND",
                               f"No route for {request.method} {request.path}")
        elif status == 405:
            err = SandboxError(405, "invalid_request_error", "METHOD_NOT_ALLOWED",
                               f"{request.method} is not allowed on {request.path}")
        else:
            err = SandboxError(status, "invalid_request_error", "BAD_REQUEST", exc.description or exc.name)
        return _error(err)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        app.logger.exception("sandbox bug while handling %s %s", request.method, request.path)
        return _error(SandboxError(500, "api_error", "internal_error", "Internal server error"))


def _new_request_id() -> str:
    return f"req_{uuid.uuid4().hex[:24]}"


def _bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _json_body() -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise errors.invalid_body("Request body is not valid JSON") from None


def _success(data: Any, *, status: int = 200, pagination: dict[str, int] | None = None) -> Response:
    meta: dict[str, Any] = {"requestId": g.request_id, "timestamp": iso_timestamp(time.time())}
    if pagination is not None:
        meta["pagination"] = pagination
    response = jsonify({"success": True, "data": data, "meta": meta})
    response.status_code = status
    return response


def _error(exc: SandboxError) -> Response:
    error: dict[str, Any] = {"type": exc.type, "code": exc.code, "message": exc.message}
    if exc.doc_url:
        error["doc_url"] = exc.doc_url
    error["request_id"] = g.get("request_id") or _new_request_id()
    response = jsonify({"success": False, "error": error, "meta": {"timestamp": iso_timestamp(time.time())}})
    response.status_code = exc.status
    response.headers.update(exc.headers)
    return response


def _fault_response(rule: FaultRule) -> Response:
    headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
    if rule.body == "html":
        html = f"<html><body><h1>{rule.status} (injected fault)</h1></body></html>"
        return Response(html, status=rule.status, headers=headers, mimetype="text/html")
    if rule.status == 429:
        return _error(errors.rate_limited(rule.retry_after or 1))
    code = "internal_error" if rule.status >= 500 else "injected_fault"
    return _error(SandboxError(rule.status, "api_error", code, f"Injected fault (HTTP {rule.status})",
                               headers=headers))


def _call_entry(response: Response) -> dict[str, Any]:
    key: ApiKey | None = g.get("api_key")
    decision: FaultDecision = g.get("faults") or FaultDecision()
    entry: dict[str, Any] = {
        "ts": time.time(), "arrived": g.get("arrived"), "method": request.method, "path": request.path,
        "query": request.args.to_dict(flat=True), "status": response.status_code,
        "key_type": key.kind if key else None, "team": key.team_id if key else None,
        "duration_ms": round((time.perf_counter() - g.started) * 1000, 3), "request_id": g.request_id,
        "faults": decision.actions, "dropped": bool(request.environ.get(_DROP)),
    }
    if request.method in WRITE_METHODS:
        raw = request.get_data(as_text=True)
        try:
            entry["body"] = json.loads(raw) if raw.strip() else None
        except ValueError:
            entry["body"] = raw
    return entry


class _DropAfterWrite:
    """WSGI middleware: after the app has handled (and applied) a call marked for dropping, close the
    client's connection without a response, as a network failure after the commit would.

    Werkzeug's dev server exposes the client socket as `werkzeug.socket`. Shutting it down makes the
    client read end-of-stream (urllib3: "Remote end closed connection without response"); raising a
    ConnectionError is what werkzeug treats as a dropped client, so it writes nothing and logs nothing.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = self.app(environ, start_response)
        if not environ.get(_DROP):
            return body
        close = getattr(body, "close", None)
        if close is not None:
            close()
        sock = environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise ConnectionAbortedError("sandbox fault: connection dropped after the write")


# --- test hooks -------------------------------------------------------------------------------------

def _test_hooks(state: SandboxState) -> Blueprint:
    """/_sandbox/: unauthenticated hooks for tests and `dev` (never part of the emulated API)."""
    hooks = Blueprint("sandbox_hooks", __name__, url_prefix="/_sandbox")

    def bad_request(message: str) -> Response:
        response = jsonify({"error": message})
        response.status_code = 400
        return response

    @hooks.get("/calls")
    def calls() -> Response:
        since = request.args.get("since", "0")
        if not since.isdigit():
            return bad_request("since must be a call sequence number")
        return jsonify({"calls": state.calls.calls(int(since))})

    @hooks.get("/stats")
    def stats() -> Response:
        return jsonify(state.calls.stats())

    @hooks.post("/reset")
    def reset() -> Response:
        options = request.get_json(silent=True) or {}
        if not isinstance(options, dict) or set(options) - {"rate_limit", "rate_window", "get_shape"}:
            return bad_request('reset takes an optional object {"rate_limit": N, "rate_window": S, '
                               '"get_shape": "full"|"documented"}')
        try:
            state.reset(options.get("rate_limit"), options.get("rate_window"), options.get("get_shape"))
        except (TypeError, ValueError) as exc:
            return bad_request(str(exc))
        return jsonify({"reset": True, "rate_limit": state.limiter.limit,
                        "rate_window": state.limiter.window, "get_shape": state.get_shape})

    @hooks.get("/faults")
    def get_faults() -> Response:
        return jsonify({"faults": state.faults.rules()})

    @hooks.put("/faults")
    def put_faults() -> Response:
        raw = request.get_json(silent=True)
        if isinstance(raw, dict):
            raw = raw.get("faults")
        try:
            return jsonify({"faults": state.faults.set_rules(raw)})
        except ValueError as exc:
            return bad_request(str(exc))

    @hooks.get("/customers")
    def customers() -> Response:
        return jsonify({"customers": state.backend.dump_customers(request.args.get("team", "team_dev"))})

    return hooks
