"""Responses in the cstar.help envelope: `{success, data|error, meta}`."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any, Mapping

from flask import Response, current_app, g, jsonify


def request_id() -> str:
    rid = g.get("request_id")  # not getattr(g, …, None): a missing attribute raises inside Flask's g
    if rid is None:
        rid = g.request_id = "req_" + secrets.token_hex(10)  # 20 random hex digits, as uuid4().hex[:20] gave
    return rid


_LAST_SECOND: tuple[int, str] = (-1, "")


def utc_second(ts: float) -> str:
    """`ts`'s UTC second as ISO 8601 (`2026-12-02T00:59:15Z`), formatted once per second: every response
    and every accepted event carries one."""
    global _LAST_SECOND
    second = int(ts // 1)  # floor, as gmtime(ts) truncates
    cached = _LAST_SECOND
    if cached[0] != second:
        cached = _LAST_SECOND = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return cached[1]


def _timestamp() -> str:
    return utc_second(time.time())


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)  # made once (json.dumps makes one a call)


def ok(data: Any, status: int = 200, **meta: Any) -> Response:
    """A success envelope (plain JSON encoding: jsonify's provider machinery is measurable on /hooks)."""
    body = {"success": True, "data": data, "meta": {"requestId": request_id(), "timestamp": _timestamp(), **meta}}
    return current_app.response_class(_ENCODER.encode(body), status=status, content_type="application/json")


def error(status: int, type_: str, code: str, message: str, *, details: Mapping[str, Any] | None = None,
          headers: Mapping[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"type": type_, "code": code, "message": message, "request_id": request_id()}
    if details:
        body.update(details)
    resp = jsonify({"success": False, "error": body, "meta": {"timestamp": _timestamp()}})
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp
