"""The event store and ledger in Redis: what the ingress accepted and what became of it.

Keys (all under `Config.key_prefix`, default `cb:`):

    idem:<source>:<sha256(key)>   "<event id>|<fingerprint>"          the idempotency claim (TTL)
    event:<id>                    hash: source, type, data, status, …   the event and its outcome (TTL)
    pending                       zset: event id -> when to look again  the ledger the reconciler scans
    dead                          stream: event_id, reason, error, …    the dead letters
    cid:<team>:<email>            customer id                           email -> id cache
    owned:<worker id>             set of event ids                      what a worker is processing (liveness)

The ingress claims the key and stores the event in ONE round trip (a Lua script), so an event that
was answered 2xx is always in the ledger. A ledger score is the time at which the reconciler may
look at the event again (`look_again_after` seconds after its last step); the reconciler re-enqueues
an unfinished event whose time has come and that no message carries any more, which closes every
window in which Celery could lose it. A processing event records its `owner` (workers.liveness).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import redis

TERMINAL = frozenset({"done", "dead", "ignored", "failed"})

# Claims a batch of idempotency keys, one after the other, as if each were sent alone: a key claimed
# earlier in the batch is a duplicate for a later one. KEYS: pending, then idem, event, queue per claim.
# ARGV: event-key prefix, idempotency TTL, event TTL, then per claim: id, fingerprint, ledger score
# ('' = not pending), task message ('' = none), n, and the event hash's n field/value items.
_CLAIM = """
local prefix, idem_ttl, event_ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
local a = 4
for k = 2, #KEYS, 3 do
  local eid, fp, score, message, n = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
  local existing = redis.call('GET', KEYS[k])
  if existing then
    local sep = string.find(existing, '|', 1, true)
    local first = string.sub(existing, 1, sep - 1)
    local status = redis.call('HGET', prefix .. first, 'status')
    out[#out + 1] = {0, first, string.sub(existing, sep + 1), status or ''}
  else
    redis.call('SET', KEYS[k], eid .. '|' .. fp, 'EX', idem_ttl)
    redis.call('HSET', KEYS[k + 1], unpack(ARGV, a + 5, a + 4 + n))
    redis.call('EXPIRE', KEYS[k + 1], event_ttl)
    if score ~= '' then
      redis.call('ZADD', KEYS[1], tonumber(score), eid)
    end
    if message ~= '' then
      redis.call('LPUSH', KEYS[k + 2], message)
    end
    out[#out + 1] = {1, eid, fp, ''}
  end
  a = a + 5 + n
end
return out
"""

_MARK_QUEUED = """
if redis.call('HGET', KEYS[1], 'status') == 'accepting' then
  redis.call('HSET', KEYS[1], 'status', 'queued')
end
return 1
"""

_RELEASE = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. '|' then
  redis.call('DEL', KEYS[1])
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class ClaimRequest:
    """One event to accept: its idempotency key (per source), body fingerprint, the event hash, whether
    it enters the ledger, and the task message to push onto `queue` ('' for none)."""

    source: str
    key: str
    fp: str
    event: Mapping[str, Any]
    pending: bool = True
    queue: str = ""
    message: str = ""


@dataclass(frozen=True)
class Claim:
    """The result of claiming an idempotency key."""

    event_id: str
    new: bool
    fingerprint: str
    status: str = ""


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class EventStore:
    """Events, the pending ledger and dead letters, in one Redis."""

    def __init__(self, client: redis.Redis, *, prefix: str = "cb:", idempotency_ttl: int = 7 * 86400,
                 event_ttl: int = 30 * 86400, look_again_after: float = 300.0) -> None:
        self.r = client
        self.prefix = prefix
        self.idempotency_ttl = idempotency_ttl
        self.event_ttl = event_ttl
        self.look_again_after = look_again_after
        # The pool process using this store, recorded as a processing event's owner ("" outside a worker).
        self.owner = ""
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._mark_queued = client.register_script(_MARK_QUEUED)

    # keys ------------------------------------------------------------------------------------------
    def event_key(self, event_id: str) -> str:
        return f"{self.prefix}event:{event_id}"

    def idem_key(self, source: str, key: str) -> str:
        return f"{self.prefix}idem:{source}:{hashlib.sha256(key.encode()).hexdigest()}"

    @property
    def pending_key(self) -> str:
        return f"{self.prefix}pending"

    @property
    def dead_key(self) -> str:
        return f"{self.prefix}dead"

    # ingress ---------------------------------------------------------------------------------------
    def claim(self, *, source: str, key: str, fp: str, event: Mapping[str, Any], pending: bool = True,
              queue: str = "", message: str = "") -> Claim:
        """Claim `key`, store the event, add it to the ledger and (with `message`) push its task onto
        `queue` — in one atomic round trip. An existing claim is returned as is, and nothing is pushed."""
        return self.claim_many([ClaimRequest(source, key, fp, event, pending, queue, message)])[0]

    def claim_many(self, requests: Sequence[ClaimRequest]) -> list[Claim]:
        """`claim` for each request, in order, in one atomic round trip (the ingress's group commit):
        the same results as claiming them one by one, a key repeated in the batch included."""
        keys: list[str] = [self.pending_key]
        args: list[Any] = [f"{self.prefix}event:", self.idempotency_ttl, self.event_ttl]
        look_again = repr(time.time() + self.look_again_after)
        for req in requests:
            event_id = str(req.event["id"])
            fields = [x for pair in _encode(req.event).items() for x in pair]
            keys += [self.idem_key(req.source, req.key), self.event_key(event_id), req.queue or self.pending_key]
            args += [event_id, req.fp, look_again if req.pending else "", req.message, len(fields), *fields]
        return [Claim(event_id=_s(eid), new=bool(int(new)), fingerprint=_s(efp), status=_s(status))
                for new, eid, efp, status in self._claim(keys=keys, args=args)]

    def release(self, *, source: str, key: str, event_id: str) -> None:
        """Undo a claim whose enqueue failed, so the sender's retry can claim it again."""
        self._release(keys=[self.idem_key(source, key), self.event_key(event_id), self.pending_key],
                      args=[event_id])

    def mark_queued(self, event_id: str) -> None:
        """The enqueue succeeded: duplicates now get 200 instead of 409 (unless a worker moved it on)."""
        self._mark_queued(keys=[self.event_key(event_id)])

    # worker ----------------------------------------------------------------------------------------
    def load(self, event_id: str, *, raw: Iterable[str] = ()) -> dict[str, Any] | None:
        """The stored event with JSON fields decoded (except those named in `raw`, kept as text), or None
        when unknown or expired."""
        fields = self.r.hgetall(self.event_key(event_id))
        return self.decode(fields, raw=raw) if fields else None

    @staticmethod
    def decode(fields: Mapping[Any, Any], *, raw: Iterable[str] = ()) -> dict[str, Any]:
        """A stored event's hash with JSON fields decoded (except those named in `raw`, kept as text)."""
        out: dict[str, Any] = {}
        for k, v in fields.items():
            key, val = _s(k), _s(v)
            if key in raw:
                out[key] = val
            elif key in _JSON_FIELDS or key.startswith("step:"):
                try:
                    out[key] = json.loads(val)
                except (ValueError, RecursionError):  # kept as text; the worker refuses it with a reason
                    out[key] = val
            else:
                out[key] = val
        return out

    def update(self, event_id: str, **fields: Any) -> None:
        """Set fields of a stored event (JSON-encoding non-strings)."""
        enc = _encode(fields)
        enc["updated_at"] = _now_iso()
        self.r.hset(self.event_key(event_id), mapping=enc)

    def owned_key(self, owner: str) -> str:
        return f"{self.prefix}owned:{owner.split('/', 1)[0]}"

    def start_attempt(self, event_id: str, attempt: int, look_again_at: float, **fields: Any) -> int:
        """Count this delivery of the attempt (the poison guard), set `fields` and record this process
        as the owner, in one round trip; the age sweep leaves the event alone until `look_again_at`.
        Returns the delivery count."""
        enc = _encode(fields)
        enc["updated_at"] = _now_iso()
        if self.owner:
            enc["owner"] = self.owner
        pipe = self.r.pipeline(transaction=True)
        pipe.hincrby(self.event_key(event_id), f"deliveries:{attempt}", 1)
        pipe.hset(self.event_key(event_id), mapping=enc)
        pipe.zadd(self.pending_key, {event_id: look_again_at})
        if self.owner:
            pipe.sadd(self.owned_key(self.owner), event_id)
        deliveries = pipe.execute()[0]
        return int(deliveries)

    def _disown(self, pipe: Any, event_id: str) -> None:
        """This process no longer processes the event (same round trip as the step that ends it)."""
        if self.owner:
            pipe.hdel(self.event_key(event_id), "owner")
            pipe.srem(self.owned_key(self.owner), event_id)

    def record_step(self, event_id: str, customer_key: str, result: Mapping[str, Any]) -> None:
        """Completion record of one customer's change: a redelivered task will not apply it again."""
        self.r.hset(self.event_key(event_id), f"step:{customer_key}", json.dumps(result, default=str))

    def finish(self, event_id: str, status: str, **fields: Any) -> None:
        """Mark the event terminal and take it off the ledger, atomically."""
        enc = _encode(fields)
        enc.update(status=status, updated_at=_now_iso())
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.event_key(event_id), mapping=enc)
        pipe.zrem(self.pending_key, event_id)
        self._disown(pipe, event_id)
        pipe.execute()

    def reschedule(self, event_id: str, at: float, **fields: Any) -> None:
        """The event will be retried at `at`: the reconciler leaves it alone until a while after that."""
        enc = _encode(fields)
        enc["updated_at"] = _now_iso()
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.event_key(event_id), mapping=enc)
        pipe.zadd(self.pending_key, {event_id: at})
        self._disown(pipe, event_id)
        pipe.execute()

    def due(self, now: float, limit: int = 500) -> list[str]:
        """Ledger entries whose time to look again has come (the score is that time, nothing is added)."""
        return [_s(x) for x in self.r.zrangebyscore(self.pending_key, "-inf", now, start=0, num=limit)]

    def touch_pending(self, event_id: str, at: float) -> None:
        self.r.zadd(self.pending_key, {event_id: at}, xx=True)

    def pending_count(self) -> int:
        return int(self.r.zcard(self.pending_key))

    # dead letters ---------------------------------------------------------------------------------
    def dead_letter(self, event_id: str, *, reason: str, error: Mapping[str, Any] | None, attempts: int,
                    **fields: Any) -> None:
        """Park the event in the dead-letter stream with its reason; it stays replayable."""
        enc = _encode(fields)
        enc.update(status="dead", reason=reason, error=json.dumps(error, default=str), attempts=str(attempts),
                   updated_at=_now_iso())
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.event_key(event_id), mapping=enc)
        pipe.persist(self.event_key(event_id))  # a dead letter must not expire before someone looks
        pipe.zrem(self.pending_key, event_id)
        self._disown(pipe, event_id)
        pipe.xadd(self.dead_key, {"event_id": event_id, "reason": reason,
                                   "error": json.dumps(error, default=str), "attempts": str(attempts),
                                   "at": _now_iso()})
        pipe.execute()

    def dead_letters(self, count: int = 1000) -> list[dict[str, Any]]:
        out = []
        for entry_id, fields in self.r.xrange(self.dead_key, count=count) or []:
            item = {_s(k): _s(v) for k, v in (fields or {}).items()}
            item["entry_id"] = _s(entry_id)
            out.append(item)
        return out

    def prepare_replay(self, event_id: str) -> bool:
        """Put a dead or failed event back on the ledger for another run, with a fresh attempt budget
        (`failures`, delivery counts) and a fresh rate-limit deadline (`accepted_at` is now); what the
        earlier runs left (their accept time, failures, reason) is kept in `replays_history`. False if
        the event is not replayable."""
        key = self.event_key(event_id)
        before = self.load(event_id) or {}
        status = str(before.get("status") or "")
        if status not in ("dead", "failed"):
            return False
        entries: list[Any] = [eid for eid, f in self.r.xrange(self.dead_key) or []
                              if _s((f or {}).get(b"event_id", (f or {}).get("event_id", b""))) == event_id]
        history = before.get("replays_history")
        history = history if isinstance(history, list) else []
        history.append({k: before.get(k) for k in ("status", "accepted_at", "failures", "unexpected_errors",
                                                   "attempts", "reason", "updated_at")})
        now = time.time()
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping={"status": "queued", "replayed_at": _now_iso(), "attempt_base": "0",
                                "accepted_at": repr(now), "failures": "0", "unexpected_errors": "0",
                                "replays_history": json.dumps(history, default=str)})
        stale = [f for f in self.r.hkeys(key) if _s(f).startswith("deliveries:") or _s(f) == "owner"]
        if stale:
            pipe.hdel(key, *stale)
        pipe.hincrby(key, "replays", 1)
        pipe.expire(key, self.event_ttl)
        pipe.zadd(self.pending_key, {event_id: now + self.look_again_after})
        if entries:
            pipe.xdel(self.dead_key, *entries)
        pipe.execute()
        return True

    def list_events(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Events by status (scans; an admin tool, not a hot path)."""
        if status == "dead":
            ids = [d["event_id"] for d in self.dead_letters(limit)]
        elif status in (None, "pending", "queued", "processing", "retrying"):
            ids = [_s(x) for x in self.r.zrange(self.pending_key, 0, limit - 1)]
        else:
            ids = []
            for key in self.r.scan_iter(match=f"{self.prefix}event:*", count=500):
                ids.append(_s(key)[len(self.prefix) + len("event:"):])
                if len(ids) >= limit * 10:
                    break
        out = []
        for eid in ids:
            ev = self.load(eid)
            if ev is None or (status and status not in ("pending",) and ev.get("status") != status):
                continue
            out.append(summary(ev))
            if len(out) >= limit:
                break
        return out

    def status_counts(self, ids: Iterable[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        pipe = self.r.pipeline(transaction=False)
        for eid in ids:
            pipe.hget(self.event_key(eid), "status")
        for st in pipe.execute():
            counts[_s(st or b"missing")] = counts.get(_s(st or b"missing"), 0) + 1
        return counts


_JSON_FIELDS = frozenset({"data", "outcome", "error", "trace", "trace_truncated", "calls", "changes", "matched",
                          "plan", "replays_history"})


TRACE_HINT = ("the full trace: `cstar-bridge events show <id>` gives the event's data; "
              "`cstar-bridge simulate --event FILE` runs the rules on it again")


def bounded_trace(trace: list[dict[str, Any]], limit: int) -> tuple[str, dict[str, Any] | None]:
    """The trace as the JSON text to store, cut to `limit` bytes (0: no limit), and a note saying what
    was left out (None when nothing was). Past the limit: matched rules in full and the others by
    name; if that is still too long, the matched rules only, those past the limit by name only (so
    every matched rule is still listed)."""
    text = json.dumps(trace, separators=(",", ":"), default=str)
    if not limit or len(text) <= limit:
        return text, None
    note: dict[str, Any] = {"bytes": len(text), "limit": limit, "rules": len(trace), "hint": TRACE_HINT}

    def by_name(e: Mapping[str, Any]) -> dict[str, Any]:
        return {"rule": e.get("rule"), "line": e.get("line"), "matched": bool(e.get("matched"))}

    compact = [e if e.get("matched") else by_name(e) for e in trace]
    text = json.dumps(compact, separators=(",", ":"), default=str)
    if len(text) <= limit:
        note["kept"] = "matched rules in full, the others by name"
        return text, note
    kept: list[dict[str, Any]] = []
    size = 2
    for e in (e for e in trace if e.get("matched")):
        entry = e
        n = len(json.dumps(entry, separators=(",", ":"), default=str)) + 1
        if size + n > limit:
            entry = by_name(e)
            n = len(json.dumps(entry, separators=(",", ":"), default=str)) + 1
        kept.append(entry)
        size += n
    note["kept"] = "matched rules only"
    return json.dumps(kept, separators=(",", ":"), default=str), note


def summary(ev: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ev.get(k) for k in ("id", "source", "type", "status", "received_at", "updated_at", "reason",
                                   "attempts")}


def _encode(fields: Mapping[str, Any]) -> dict[Any, Any]:
    """Hash fields as Redis stores them: text as is, anything else as compact JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), default=str)
            for k, v in fields.items()}


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else ("" if v is None else str(v))


def _now_iso() -> str:
    now = time.time()  # read the clock once: seconds and milliseconds from the same instant
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
