"""Rejected deliveries, kept with their cause: "why didn't my form create a customer?"

A request to `/hooks/<source>` answered 4xx never became an event. Its record says when, which
source, the status, a typed cause (`verification_failed.timestamp`, `unparsable_json`,
`payload_too_large`, `unknown_source`…), the message the sender got, the path with credential query
values masked, the headers without credentials or signatures, and the first `BODY_KEEP` bytes of the
body with every configured secret masked.

Bounded in memory and time, and never an amplifier:

    rejected:<source>            stream, the newest `rejected.keep` entries, expiring `rejected.ttl`
                                 after the last one (every unknown source shares one: `rejected:?`)
    rejected-rate:<source>:<m>   this minute's count; past `rejected.per_minute` a rejection is
                                 only counted (metric `cstar_bridge_rejected_unrecorded_total`)

One Lua script per rejection (one round trip, on the error path only); a process that already saw
more than the minute's cap for a source skips Redis altogether. Redis trouble never changes the
answer the sender gets.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping

import redis
from marshmallow import RAISE, Schema, fields, validate

from bridge import errors, metrics
from bridge.event_detail import REDACTED, stored_request
from bridge.redact import Redactor
from workers.retention import Policy

log = logging.getLogger("cstar_bridge.rejections")

BODY_KEEP = 2048          # bytes of a rejected body kept
HEADER_VALUE_KEEP = 256   # characters of each header value kept
HEADERS_KEEP = 40         # headers kept
UNKNOWN = "?"             # the bucket every unknown source shares (a stranger cannot create keys)
NAME_KEEP = 100           # characters of an unknown source's name kept

_RECORD = """
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], 120) end
if n > tonumber(ARGV[1]) then return 0 end
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '*', 'entry', ARGV[4])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""

# Specific classes first: the cause names what was wrong, in words an operator can search for.
_CAUSES: tuple[tuple[type[errors.HttpError], str], ...] = (
    (errors.UnknownSource, "unknown_source"),
    (errors.TooManyFields, "too_many_fields"),
    (errors.PayloadTooLarge, "payload_too_large"),
    (errors.BodyTimeout, "body_timeout"),
    (errors.BodyIncomplete, "body_incomplete"),
    (errors.UnsupportedMediaType, "unsupported_media_type"),
    (errors.IdempotencyMismatch, "idempotency_key_reused"),
    (errors.IdempotencyInFlight, "idempotency_key_in_use"),
    (errors.PayloadInvalid, "invalid_payload"),
)


def cause_of(exc: errors.HttpError, content_type: str) -> str:
    """The typed cause of a rejection: `verification_failed.<check>`, `unparsable_json`…"""
    if isinstance(exc, errors.VerificationFailed):
        return f"verification_failed.{exc.check}"
    if isinstance(exc, errors.BodyUnreadable) and not isinstance(exc, errors.BodyIncomplete):
        kind = "json" if "json" in content_type else "form" if "form" in content_type else "body"
        return f"unparsable_{kind}"
    return next((cause for cls, cause in _CAUSES if isinstance(exc, cls)), exc.code)


@dataclass
class Rejected:
    """What the ingress knew of a request when it was refused (the body only once it was read)."""

    source: str
    known: bool
    method: str
    path: str
    content_type: str
    headers: Mapping[str, str]
    body: bytes | None = None


class RejectionLog:
    """Records rejected deliveries per source and lists them; shared by the ingress, admin API and CLI."""

    def __init__(self, client: redis.Redis, *, prefix: str, keep: int, per_minute: int, ttl: int,
                 redactor: Redactor | None = None, secrets: list[str] | None = None) -> None:
        self.r = client
        self.prefix = prefix
        self.keep, self.per_minute, self.ttl = keep, per_minute, ttl
        self.redactor = redactor
        self.secrets = secrets or []
        self._script = client.register_script(_RECORD)
        self._local: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def key(self, bucket: str) -> str:
        return f"{self.prefix}rejected:{bucket}"

    def admit(self, source: str, known: bool, exc: errors.HttpError, content_type: str) -> bool:
        """Count the rejection; True when it may be recorded (checked before anything is built: past
        this process's share of the minute's cap a rejection costs two counters and no Redis call)."""
        bucket = source if known else UNKNOWN
        metrics.REJECTED.labels(source=bucket, cause=cause_of(exc, content_type)).inc()
        if not self.keep or not self.per_minute or self._over_local_cap(bucket):
            metrics.REJECTED_UNRECORDED.labels(source=bucket).inc()
            return False
        return True

    def record(self, req: Rejected, exc: errors.HttpError, verify: Mapping[str, Any] | None = None,
               policy: Policy | None = None) -> bool:
        """Keep an admitted rejection (True), or not: over the minute's cap across processes, or Redis
        unavailable. The source's `retention` shortens how long it is kept; its `pii.drop_raw_body`
        keeps no body."""
        bucket = req.source if req.known else UNKNOWN
        cause = cause_of(exc, req.content_type)
        if policy is not None and policy.drop_raw_body:
            req.body = None
        ttl = min(self.ttl, policy.retention) if policy is not None and policy.retention else self.ttl
        entry = self._entry(req, exc, cause, verify)
        minute = int(time.time() // 60)
        try:
            kept = self._script(keys=[self.key(bucket), f"{self.prefix}rejected-rate:{bucket}:{minute}"],
                                args=[self.per_minute, self.keep, ttl, json.dumps(entry, separators=(",", ":"))])
        except redis.RedisError as e:
            log.warning("rejection not recorded (%s): Redis unavailable", type(e).__name__)
            kept = 0
        if not kept:
            metrics.REJECTED_UNRECORDED.labels(source=bucket).inc()
        return bool(kept)

    def _over_local_cap(self, bucket: str) -> bool:
        """True once this process alone saw more than the minute's cap for the bucket (no Redis call)."""
        minute = int(time.time() // 60)
        with self._lock:
            if len(self._local) > 1000:
                self._local = {k: v for k, v in self._local.items() if k[1] == minute}
            n = self._local[(bucket, minute)] = self._local.get((bucket, minute), 0) + 1
        return n > self.per_minute

    def _entry(self, req: Rejected, exc: errors.HttpError, cause: str,
               verify: Mapping[str, Any] | None) -> dict[str, Any]:
        kept = stored_request(req.body or b"", req.headers, verify)
        headers = {k: self._mask(v[:HEADER_VALUE_KEEP])
                   for k, v in list(json.loads(kept["headers"]).items())[:HEADERS_KEEP]}
        entry: dict[str, Any] = {
            "at": _now_iso(), "source": req.source[:NAME_KEEP], "status": exc.status, "cause": cause,
            "message": self._mask(exc.message[:500]), "method": req.method[:16],
            "path": self._mask(req.path[:512]), "content_type": req.content_type[:128], "headers": headers}
        if isinstance(exc, errors.VerificationFailed):
            entry["check"] = exc.check
        if isinstance(exc, errors.PayloadInvalid):
            entry["fields"] = sorted(exc.details.get("fields", {}))[:50]
        if req.body is not None:
            entry.update(body=self._mask(req.body[:BODY_KEEP].decode("utf-8", "replace")), body_size=len(req.body),
                         body_truncated=len(req.body) > BODY_KEEP)
        return entry

    def _mask(self, text: str) -> str:
        if self.redactor is not None:
            text = self.redactor(text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def recent(self, *, source: str | None = None, cause: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Recorded rejections, newest first: of one source (`?` for unknown ones) or of all."""
        keys = [self.key(source)] if source else [k.decode() if isinstance(k, bytes) else k for k in
                                                 self.r.scan_iter(match=self.key("*"), count=500)]
        out: list[dict[str, Any]] = []
        for key in keys:
            for entry_id, raw in self.r.xrevrange(key, count=self.keep or 1) or []:
                stored = raw or {}
                entry = json.loads(stored.get(b"entry") or stored.get("entry") or b"{}")
                if cause and not (entry.get("cause") == cause or str(entry.get("cause", "")).startswith(cause + ".")):
                    continue
                entry["id"] = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                out.append(entry)
        out.sort(key=lambda e: tuple(int(p) for p in e["id"].split("-")), reverse=True)  # ids are times
        return out[:limit]


class RejectedQuerySchema(Schema):
    """The query parameters of `GET /events/rejected`."""

    class Meta:
        unknown = RAISE

    source = fields.String(validate=validate.Length(min=1, max=64),
                           metadata={"description": "only this source (`?`: deliveries to unknown sources)"})
    cause = fields.String(validate=validate.Length(min=1, max=64),
                          metadata={"description": "only this cause, or a family: `verification_failed` "
                                                   "covers `verification_failed.timestamp`…"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000),
                           metadata={"description": "rejections to list, newest first (1-1000)"})


def rejection_log(config: Any, client: redis.Redis) -> RejectionLog:
    """The log for a Config: its caps, and everything its secrets and credential parameters mask."""
    from bridge.event_detail import secret_values
    from bridge.redact import redactor_for

    return RejectionLog(client, prefix=config.key_prefix, keep=config.rejected.keep,
                        per_minute=config.rejected.per_minute, ttl=config.rejected.ttl,
                        redactor=redactor_for(config), secrets=secret_values(config))


def _now_iso() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
