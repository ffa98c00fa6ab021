"""`POST /hooks/<source>`: the path of one event (README, "How it works", item 1), in order.

    1 source known?            404            6 envelope valid?           422
    2 body within the limit?   413/400/408    7 idempotency key           header › delivery id › sha256
    3 authentic?               401            8 claim + store             one round trip (bridge.claims)
    4 parse by content type    400/415        9 enqueue                   failure: release, 503
    5 adapter                  422           10 202 {eventId}

A 2xx means the event is in the ledger and on the queue: it will be processed.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import redis
from flask import Blueprint, current_app, g, request
from marshmallow import ValidationError

from bridge import envelope, metrics
from bridge.body import read_body
from bridge.errors import (BodyUnreadable, HttpError, IdempotencyInFlight, IdempotencyMismatch, PayloadInvalid,
                           PayloadTooLarge, ServiceUnavailable, UnknownSource, UnsupportedMediaType,
                           VerificationFailed)
from bridge.event_detail import stored_request
from bridge.inbound import Headers, InboundRequest
from bridge.parsing import parse_body
from bridge.rejections import Rejected
from bridge.schemas import load_envelope
from bridge.state import BridgeState
from rules.ordering import iso_ms, order_key
from workers import strict_json
from workers.retention import apply_after_processing, parse_policy, policy_for
from workers.store import ClaimRequest, fingerprint, new_event_id

log = logging.getLogger("cstar_bridge.ingest")
_KINDS = {"json": "application/json", "form": "application/x-www-form-urlencoded or multipart/form-data"}
bp = Blueprint("ingest", __name__)


@bp.post("/hooks/<source>")
def receive(source: str) -> Any:
    with metrics.LATENCY.time():
        state: BridgeState = current_app.extensions["cstar_bridge"]
        try:
            return _receive(state, source)
        except HttpError as exc:
            if 400 <= exc.status < 500 and state.rejections is not None:
                _record_rejection(state, source, exc)
            raise


def _record_rejection(state: BridgeState, source: str, exc: HttpError) -> None:
    """Keep the refused request with its cause (bridge.rejections); built only on this error path."""
    known = source in state.sources
    if not state.rejections.admit(source, known, exc, request.mimetype or ""):
        return
    seen = Rejected(source=source, known=known, method=request.method, path=request.full_path,
                    content_type=request.mimetype or "", headers=Headers(dict(request.headers)),
                    body=g.get("hook_body"))
    cfg = state.config.sources.get(source)
    state.rejections.record(seen, exc, cfg.verify if cfg is not None else None,
                            parse_policy(source, cfg.options) if cfg is not None else None)


def _receive(state: BridgeState, source: str) -> Any:
    src = state.sources.get(source)
    if src is None:  # never for a transient problem: some senders disable the webhook on 404
        # A stranger learns nothing about the other sources; the operator finds the names in the log.
        log.warning("delivery to unknown source %r; configured: %s", source[:100], ", ".join(sorted(state.sources)))
        raise UnknownSource("no such source (check the URL: /hooks/<source> as named in `sources:` in bridge.yaml)")
    # All of it or a 4xx: 413 past max_body_bytes whatever the framing, 400 for a body cut short.
    raw = g.hook_body = read_body(request.environ, state.config.max_body_bytes, state.config.body_timeout)
    inbound = InboundRequest(source=source, method=request.method, url=lambda: request.url,
                             headers=Headers.from_environ(request.environ), body=raw,
                             query=lambda: request.args.to_dict(flat=True), content_type=request.mimetype or "")
    try:
        src.verifier.verify(inbound)
    except VerificationFailed as exc:
        metrics.VERIFY_FAILURES.labels(source=source, check=exc.check).inc()
        raise
    parsed = parse_body(inbound.content_type, raw, content_type_header=request.content_type or "",
                        charset=request.mimetype_params.get("charset", "utf-8"),
                        max_fields=state.config.max_fields, max_json_fields=state.config.max_json_fields)
    if parsed.kind not in src.adapter.accepts:
        raise UnsupportedMediaType(f"the {src.adapter.name} adapter of source {source!r} takes "
                                   f"{' or '.join(_KINDS[k] for k in src.adapter.accepts)}, not {inbound.content_type}")
    adapted = src.adapter.adapt(parsed.payload, inbound.headers, src.options)

    occurred = src.occurred_ms(parsed.payload, adapted)
    header_key = inbound.headers.get("Idempotency-Key")
    try:
        env = load_envelope({"source": source, "type": adapted.type, "data": dict(adapted.data),
                             "delivery_id": src.delivery_id_from(parsed.payload) or adapted.delivery_id,
                             "idempotency_key": header_key})
    except ValidationError as exc:
        raise PayloadInvalid.from_messages(exc.messages) from None

    data_text = _stored_data(env["data"], state.config.max_body_bytes)
    fp = fingerprint(raw)  # sha256 of the raw body; with the source it is the key of last resort
    key = header_key or env["delivery_id"] or hashlib.sha256(f"{source}\0{fp}".encode()).hexdigest()
    event_id = new_event_id()
    now = time.time()
    event = {"id": event_id, "source": source, "type": env["type"], "data": data_text,
             "received_at": envelope.utc_second(now), "accepted_at": repr(now),
             "idempotency_key": key,
             "status": "ignored" if adapted.ignored else ("queued" if state.messages else "accepting"),
             # for the console: the body capped, the headers without credentials or signatures
             **stored_request(raw, inbound.headers, state.config.sources[source].verify),
             **_order_fields(occurred, adapted, key)}
    message = state.messages.build(event_id) if state.messages and not adapted.ignored else ""
    if adapted.ignored:
        event["reason"] = adapted.ignored_reason or f"event type {adapted.type!r} is not handled"
    try:
        claim = state.claims.claim(ClaimRequest(source, key, fp, event, pending=not adapted.ignored,
                                                queue=state.config.queue if message else "", message=message))
    except redis.RedisError as exc:
        log.error("redis unavailable while accepting an event for %s: %s", source, type(exc).__name__)
        raise ServiceUnavailable("the event store is unavailable; nothing was accepted, retry shortly",
                                 headers={"Retry-After": "5"}) from None

    if not claim.new:
        return _duplicate(source, claim, fp, header_key is not None)
    if adapted.ignored:
        apply_after_processing(state.store, event_id, policy_for(state.config, source))
        metrics.EVENTS.labels(source=source, outcome="ignored").inc()
        return envelope.ok({"eventId": event_id, "status": "ignored", "duplicate": False,
                            "reason": event["reason"]}, 200)
    if not message:
        _enqueue_after_claim(state, source, key, event_id)
    metrics.EVENTS.labels(source=source, outcome="accepted").inc()
    return envelope.ok({"eventId": event_id, "status": "queued", "duplicate": False}, src.success_status)


def _order_fields(occurred: int | None, adapted: Any, key: str) -> dict[str, str]:
    """The event's provider time and place in the provider's order (rules.ordering); none: arrival order."""
    fields = {"entity": adapted.entity} if adapted.entity else {}
    if occurred is not None:
        fields.update(occurred_at=iso_ms(occurred), order_key=order_key(occurred, adapted.order_tie, key))
    return fields


def _stored_data(data: Any, max_body_bytes: int) -> str:
    """The event's data as stored, within the limits the worker decodes it with (workers.strict_json)."""
    try:
        return strict_json.encode_data(data, max_body_bytes=max_body_bytes)
    except strict_json.JsonRefused as exc:
        if exc.too_large:
            raise PayloadTooLarge(exc.reason) from None
        raise BodyUnreadable(f"the event's data was refused: {exc.reason}") from None


def _enqueue_after_claim(state: BridgeState, source: str, key: str, event_id: str) -> None:
    """The two-step path (separate broker): enqueue, and on failure release the claim and answer 503."""
    try:
        state.enqueue(event_id)
    except Exception as exc:
        log.error("enqueue failed for %s (%s): releasing the claim, answering 503", event_id, type(exc).__name__)
        try:
            state.store.release(source=source, key=key, event_id=event_id)
        except redis.RedisError:
            pass  # the ledger keeps it; the reconciler will process it and a retry finds the duplicate
        raise ServiceUnavailable("the queue is unavailable; nothing was accepted, retry shortly",
                                 headers={"Retry-After": "5"}) from None
    state.store.mark_queued(event_id)


def _duplicate(source: str, claim: Any, fp: str, from_header: bool) -> Any:
    if from_header and claim.fingerprint != fp:
        metrics.EVENTS.labels(source=source, outcome="idempotency_mismatch").inc()
        raise IdempotencyMismatch("this Idempotency-Key was already used with a different body; "
                                  "use a new key for a new event")
    if claim.status == "accepting":
        metrics.EVENTS.labels(source=source, outcome="in_flight").inc()
        raise IdempotencyInFlight("the first request with this key is still being accepted; retry in a second",
                                  headers={"Retry-After": "1"})
    metrics.EVENTS.labels(source=source, outcome="duplicate").inc()
    return envelope.ok({"eventId": claim.event_id, "status": claim.status or "queued", "duplicate": True}, 200)
