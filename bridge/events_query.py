"""Finding stored events: the one implementation behind `GET /events`, the console's events page and
`cstar-bridge events list`. Query parameters are validated by `EventQuerySchema` (a 400 naming the
field, never a 500); the listing is newest first, filtered, and paginated by offset.

The store keeps no time index, so a listing scans up to `SCAN_CAP` stored events (an admin tool, not a
hot path); the page says when that cap cut the scan short.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from workers.retention import MASK, policy_for
from workers.store import EventStore

STATUSES = ("accepting", "queued", "processing", "retrying", "parked", "pending", "done", "dead", "ignored",
            "failed")
# "pending": anything not finished yet (the ledger's view), as `events list --status pending` always meant.
UNFINISHED = frozenset({"accepting", "queued", "processing", "retrying", "parked"})
SCAN_CAP = 20000
_SUMMARY_FIELDS = ("id", "source", "type", "status", "received_at", "accepted_at", "updated_at", "reason",
                   "attempts", "matched", "calls", "data")


class EventQuerySchema(Schema):
    """The query parameters of an events listing."""

    class Meta:
        unknown = RAISE

    status = fields.String(validate=validate.OneOf(STATUSES),
                           metadata={"description": "only events with this status (`pending`: not finished)"})
    source = fields.String(validate=validate.Length(min=1, max=64),
                           metadata={"description": "only events from this source"})
    rule = fields.String(validate=validate.Length(min=1, max=128),
                         metadata={"description": "only events this rule id matched"})
    email = fields.String(validate=validate.Length(min=1, max=320),
                          metadata={"description": "only events for this customer email (case-insensitive)"})
    since = fields.AwareDateTime(default_timezone=timezone.utc,
                                 metadata={"description": "received at or after (ISO 8601)"})
    until = fields.AwareDateTime(default_timezone=timezone.utc,
                                 metadata={"description": "received before (ISO 8601)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000),
                           metadata={"description": "events per page (1-1000)"})
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=SCAN_CAP),
                            metadata={"description": "events to skip (pagination)"})

    @validates_schema
    def _range(self, data: dict[str, Any], **_: object) -> None:
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ValidationError("must be after `since`", field_name="until")


QUERY = EventQuerySchema()


@dataclass(frozen=True)
class EventPage:
    """One page of a listing, newest first."""

    events: list[dict[str, Any]]
    total: int            # events matching the filters (within the scan)
    offset: int
    limit: int
    scanned: int
    truncated: bool       # the scan stopped at SCAN_CAP events

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "total": self.total, "offset": self.offset, "limit": self.limit,
                "scanned": self.scanned, "truncated": self.truncated}


def parse_query(args: Mapping[str, Any]) -> dict[str, Any]:
    """Validated query parameters; raises marshmallow's ValidationError naming each bad field."""
    return QUERY.load(dict(args))


def find_events(store: EventStore, query: Mapping[str, Any], config: Any = None) -> EventPage:
    """Stored events matching `query` (as `parse_query` returns it), newest first, one page; with the
    `config`, the person shown as each source's `pii.redact` says (workers.retention)."""
    rows, scanned, truncated = _scan(store)
    if config is not None:
        rows = [_redacted_row(row, config) for row in rows]
    wanted = [row for row in rows if _matches(row, query)]
    wanted.sort(key=lambda r: (r["_ts"], r["id"]), reverse=True)
    offset, limit = int(query.get("offset") or 0), int(query.get("limit") or 100)
    page = [{k: v for k, v in r.items() if not k.startswith("_")} for r in wanted[offset:offset + limit]]
    return EventPage(page, len(wanted), offset, limit, scanned, truncated)


def _scan(store: EventStore) -> tuple[list[dict[str, Any]], int, bool]:
    keys: list[Any] = []
    truncated = False
    for key in store.r.scan_iter(match=f"{store.prefix}event:*", count=1000):
        if len(keys) >= SCAN_CAP:
            truncated = True
            break
        keys.append(key)
    pipe = store.r.pipeline(transaction=False)
    for key in keys:
        pipe.hmget(key, list(_SUMMARY_FIELDS))
    rows = []
    for key, values in zip(keys, pipe.execute() if keys else []):
        raw = dict(zip(_SUMMARY_FIELDS, (_s(v) if v is not None else None for v in values)))
        if raw["id"] is None:
            continue  # expired between SCAN and HMGET
        rows.append(event_row(raw))
    return rows, len(keys), truncated


def _redacted_row(row: dict[str, Any], config: Any) -> dict[str, Any]:
    policy = policy_for(config, row.get("source"))
    hidden = {p for p in policy.redact if len(p) == 1}
    return {**row, **{k: MASK for k in ("email", "name") if (k,) in hidden and row.get(k) is not None}}


def event_row(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One listing row: time, source, type, person, status, matched rules, API calls made."""
    data = _json(raw.get("data")) or {}
    matched = _json(raw.get("matched")) or []
    calls = _json(raw.get("calls")) or []
    person = data.get("email") if isinstance(data, dict) else None
    name = data.get("name") if isinstance(data, dict) else None
    return {"id": raw["id"], "source": raw.get("source"), "type": raw.get("type"), "status": raw.get("status"),
            "received_at": raw.get("received_at"), "updated_at": raw.get("updated_at"),
            "reason": raw.get("reason"), "attempts": raw.get("attempts"),
            "email": person if isinstance(person, str) else None, "name": name if isinstance(name, str) else None,
            "matched": matched if isinstance(matched, list) else [],
            "api_calls": len(calls) if isinstance(calls, list) else 0,
            "_ts": _timestamp(raw)}


def _matches(row: Mapping[str, Any], q: Mapping[str, Any]) -> bool:
    status = q.get("status")
    if status == "pending":
        if row["status"] not in UNFINISHED:
            return False
    elif status and row["status"] != status:
        return False
    if q.get("source") and row["source"] != q["source"]:
        return False
    if q.get("rule") and q["rule"] not in row["matched"]:
        return False
    if q.get("email") and (row["email"] or "").strip().lower() != q["email"].strip().lower():
        return False
    if q.get("since") and row["_ts"] < q["since"].timestamp():
        return False
    if q.get("until") and row["_ts"] >= q["until"].timestamp():
        return False
    return True


def _timestamp(raw: Mapping[str, Any]) -> float:
    try:
        return float(raw.get("accepted_at") or "")
    except ValueError:
        pass
    try:
        return datetime.strptime(str(raw.get("received_at")), "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=timezone.utc).timestamp()
    except ValueError:
        return 0.0


def _json(text: Any) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
