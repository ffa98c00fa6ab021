"""Admin and operations endpoints: events (status, trace, replay), health, readiness, metrics."""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.routing import BaseConverter
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from marshmallow import ValidationError

from bridge import envelope
from bridge.errors import (AdminAuthRequired, BodyUnreadable, EventNotFound, PayloadInvalid, QueryInvalid,
                           ServiceUnavailable)
from bridge.event_detail import event_detail
from bridge.events_query import find_events, parse_query
from bridge.console.overview import rules_overview
from bridge.console.trial import evaluation_event, try_rules
from bridge.rejections import RejectedQuerySchema
from bridge.schemas import ReplaySelectionSchema, TryRulesSchema
from bridge.state import BridgeState
from bridge.verify.base import constant_time_equal
from workers.replay import dead_event_ids, replay

bp = Blueprint("admin", __name__)


class EventIdConverter(BaseConverter):
    """Any path segment but the words `/events/replay…` routes use: `GET /events/replay` is a 405 with
    `Allow: POST`, not a lookup of an event called "replay"."""

    regex = r"(?!replay(?:-dead)?$)[^/]+"


@bp.record_once
def _converters(setup: Any) -> None:
    setup.app.url_map.converters.setdefault("event_id", EventIdConverter)


def _state() -> BridgeState:
    return current_app.extensions["cstar_bridge"]


def _require_admin() -> None:
    token = _state().config.admin_token
    if not token:
        raise AdminAuthRequired("the admin API is disabled: set BRIDGE_ADMIN_TOKEN (or admin_token in bridge.yaml)")
    given = request.headers.get("Authorization", "")
    given = given[7:] if given.lower().startswith("bearer ") else request.headers.get("X-Admin-Token", "")
    if not given or not constant_time_equal(given, token.reveal()):
        raise AdminAuthRequired("send the admin token as `Authorization: Bearer <BRIDGE_ADMIN_TOKEN>`")


@bp.get("/events/<event_id:event_id>")
def get_event(event_id: str) -> Any:
    _require_admin()
    state = _state()
    shown = event_detail(state.store, state.config, event_id)
    if shown is None:
        raise EventNotFound(f"no event {event_id!r} (unknown, or expired after event_ttl)")
    return envelope.ok(shown)


@bp.get("/events")
def list_events() -> Any:
    """Stored events, newest first, filtered by the query parameters (`EventQuerySchema`)."""
    _require_admin()
    try:
        query = parse_query(request.args)
    except ValidationError as exc:
        raise QueryInvalid.from_messages(exc.messages) from None
    page = find_events(_state().store, query, _state().config)
    return envelope.ok(page.events, total=page.total, offset=page.offset, limit=page.limit,
                       truncated=page.truncated)


@bp.get("/events/rejected")
def list_rejected() -> Any:
    """Deliveries refused with a 4xx, newest first, with their cause (`RejectedQuerySchema`)."""
    _require_admin()
    try:
        query = RejectedQuerySchema().load(request.args.to_dict(flat=True))
    except ValidationError as exc:
        raise QueryInvalid.from_messages(exc.messages) from None
    rows = _state().rejections.recent(**query)
    return envelope.ok(rows, total=len(rows), offset=0, limit=query["limit"], truncated=False)


@bp.post("/events/<event_id:event_id>/replay")
def replay_one(event_id: str) -> Any:
    _require_admin()
    state = _state()
    result = replay(state.store, state.enqueue, [event_id])
    if result[event_id] == "not found":
        raise EventNotFound(f"no event {event_id!r}")
    return envelope.ok({"eventId": event_id, "result": result[event_id]})


@bp.post("/events/replay")
def replay_selection() -> Any:
    """Replay the events named in the body: `{"eventIds": [...]}`."""
    _require_admin()
    body = request.get_json(silent=True)
    if body is None:
        raise BodyUnreadable('send a JSON body: {"eventIds": ["evt_…", …]}')
    try:
        ids = ReplaySelectionSchema().load(body if isinstance(body, dict) else {"_": body})["eventIds"]
    except ValidationError as exc:
        raise PayloadInvalid.from_messages(exc.messages) from None
    state = _state()
    return envelope.ok(replay(state.store, state.enqueue, list(dict.fromkeys(ids))))


@bp.post("/events/replay-dead")
def replay_dead() -> Any:
    _require_admin()
    state = _state()
    return envelope.ok(replay(state.store, state.enqueue, dead_event_ids(state.store)))


@bp.get("/rules")
def rules_info() -> Any:
    """The loaded rule files, fingerprint, lint status and per-rule matches over recent events."""
    _require_admin()
    state = _state()
    return envelope.ok(rules_overview(state.config, state.store))


@bp.post("/rules/try")
def rules_try() -> Any:
    """Edited rules on one event and on the last N stored events; pure evaluation, nothing is sent."""
    _require_admin()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BodyUnreadable('send a JSON object: {"edits": {"<rule file>": "<yaml>"}, "eventId": …, "last": N}')
    try:
        args = TryRulesSchema().load(body)
    except ValidationError as exc:
        raise PayloadInvalid.from_messages(exc.messages) from None
    state = _state()
    event = None
    if args["eventId"]:
        stored = state.store.load(args["eventId"])
        if stored is None:
            raise EventNotFound(f"no event {args['eventId']!r}")
        event = evaluation_event(stored)
    elif args["event"] is not None:
        event = evaluation_event(args["event"] if "data" in args["event"] else {"data": args["event"]})
    return envelope.ok(try_rules(state.config.rule_paths(), state.store, edits=args["edits"], event=event,
                                 last=args["last"]))


@bp.get("/healthz")
def healthz() -> Any:
    return envelope.ok({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    state = _state()
    try:
        state.redis.ping()
        if state.celery is not None:
            with state.celery.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1)
    except Exception as exc:
        raise ServiceUnavailable(f"not ready: {type(exc).__name__} reaching Redis or the broker",
                                 headers={"Retry-After": "5"}) from None
    return envelope.ok({"status": "ready"})  # no source names: they are for the admin API, not strangers


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    """This process's metrics; under `cstar-bridge web` (PROMETHEUS_MULTIPROC_DIR set) the sum over
    every gunicorn worker, whichever one answers. With `metrics_token` set, only for its bearer."""
    token = _state().config.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not given.lower().startswith("bearer ") or not constant_time_equal(given[7:], token.reveal()):
            raise AdminAuthRequired("send the metrics token as `Authorization: Bearer <BRIDGE_METRICS_TOKEN>`")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
