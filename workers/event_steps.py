"""The worker's Redis steps for one event: each is one round trip, a Lua script applied atomically.

    begin   load the event; unless it is terminal (or gone): count this delivery (the poison guard),
            mark it `processing` under this process (its `owner`, in `owned:<worker>`, for the
            liveness reconciler) and move its ledger entry on
    take    take the customer's lock (when it is free) and read everything the customer's step needs
            under it: the completion records, and for a single customer the burst mark, the parked
            plans (drained), the high-water marks and the cached id
    end     write the completion record with its high-water marks, remember how the hold went (the
            burst mark), mark the event done, take it off the ledger, disown it and release the lock

A known customer's event then costs begin, take, one rate-limit check per API call, the fence of
its write, and end (bench/e2e.py counts them). The lock taken by `take` is renewed and fenced like
any other (workers.locks); a busy lock falls back to `CustomerLocks.hold` (wait, break a dead
holder's lock, or park).

Why atomic: `begin` must never count a delivery without marking the event processing under its
owner (the reconciler would not find it) nor mark a terminal event processing; `take` drains the inbox only when it holds the lock and the
completion record is absent, so a plan is drained only when it will be applied; `end` writes the
completion record and the outcome together, so no retry sees one without the other, and before
the lock is released, so the next holder sees the record.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from rules.ordering import Mark, Ordered
from workers.coalesce import BURST_MEMORY, ParkedPlan
from workers.store import TERMINAL, EventStore, _encode, _now_iso, _s

_BEGIN = """
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return {0, fields, 0} end
local status = redis.call('HGET', KEYS[1], 'status')
for i = 7, #ARGV do
  if status == ARGV[i] then return {1, fields, 0} end
end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HSET', KEYS[1], 'status', 'processing', 'started_at', ARGV[3], 'updated_at', ARGV[4])
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]), ARGV[5])
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'owner', ARGV[6])
  redis.call('SADD', KEYS[3], ARGV[5])
end
return {2, fields, n}
"""

_TAKE = """
if KEYS[7] ~= '' and not redis.call('SET', KEYS[7], ARGV[2], 'NX', 'PX', tonumber(ARGV[3])) then
  return {}
end
local steps = redis.call('HMGET', KEYS[1], unpack(ARGV, 4))
local limit = tonumber(ARGV[1])
if limit == 0 or steps[1] then return {steps} end
local burst = redis.call('GET', KEYS[3]) or ''
local parked = redis.call('LRANGE', KEYS[2], 0, limit - 1)
if #parked > 0 then redis.call('LTRIM', KEYS[2], limit, -1) end
local marks = redis.call('HGETALL', KEYS[4])
local id = redis.call('GET', KEYS[5])
if id then return {steps, burst, parked, marks, {id}} end
local recent = redis.call('LRANGE', KEYS[6], 0, -1)
local existed = 0
for _, seen in ipairs(recent) do if seen == '1' then existed = existed + 1 end end
return {steps, burst, parked, marks, {'', existed, #recent}}
"""

_END = """
local n = tonumber(ARGV[6])
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  for i = 0, n - 1 do
    local name, order, mark = ARGV[7 + i * 3], ARGV[8 + i * 3], ARGV[9 + i * 3]
    local current = redis.call('HGET', KEYS[4], name)
    if not current or cjson.decode(current)['order'] < order then
      redis.call('HSET', KEYS[4], name, mark)
    end
  end
  if n > 0 then redis.call('EXPIRE', KEYS[4], tonumber(ARGV[3])) end
end
if ARGV[4] == 'quiet' then
  redis.call('SET', KEYS[5], '0', 'PX', tonumber(ARGV[5]))
elseif ARGV[4] == 'burst' then
  redis.call('SET', KEYS[5], '1', 'PX', tonumber(ARGV[5]))
elseif ARGV[4] == 'one' then
  redis.call('SET', KEYS[5], '1', 'PX', tonumber(ARGV[5]), 'NX')
end
redis.call('HSET', KEYS[1], unpack(ARGV, 7 + n * 3, #ARGV - 2))
redis.call('ZREM', KEYS[2], ARGV[#ARGV])
if KEYS[3] ~= '' then
  redis.call('HDEL', KEYS[1], 'owner')
  redis.call('SREM', KEYS[3], ARGV[#ARGV])
end
if KEYS[6] ~= '' and redis.call('GET', KEYS[6]) == ARGV[#ARGV - 1] then
  redis.call('DEL', KEYS[6])
end
return 1
"""


@dataclass(frozen=True)
class Begun:
    """What `begin` found: the event as stored before this delivery (None: unknown or expired), and
    this attempt's delivery count (0 when the event is terminal and nothing was changed)."""

    event: dict[str, Any] | None
    deliveries: int


@dataclass(frozen=True)
class Taken:
    """What `take` read under the customer's lock (the customer's part only for a single customer
    without a completion record)."""

    steps: list[dict[str, Any] | None]
    busy: bool = False                           # the lock to take was held by someone else: nothing read
    customer: bool = False                       # whether the customer's part below was read
    burst_expected: bool = False
    parked: list[ParkedPlan] = field(default_factory=list)
    marks: dict[str, Mark] = field(default_factory=dict)
    lookup: tuple[str | None, bool] | None = None   # (cached id, create first on a miss), as CustomerIds.lookup


@dataclass
class Finish:
    """What `end` writes besides the outcome: a completion record not written yet, and the hold."""

    customer_key: str | None = None
    result: dict[str, Any] | None = None
    ordered: Ordered | None = None
    hold: str = ""                # "" | one | burst | quiet (workers.coalesce.Inbox.note_hold)
    lock: tuple[str, str] | None = None   # (name, token) of the customer lock to release, if still ours


class EventSteps:
    """The three one-round-trip steps (see the module docstring) over the worker's store, inbox,
    high-water marks and id cache."""

    def __init__(self, store: EventStore, *, inbox: Any, order: Any, ids: Any) -> None:
        self.store = store
        self.inbox = inbox
        self.order = order
        self.ids = ids
        self._begin = store.r.register_script(_BEGIN)
        self._take = store.r.register_script(_TAKE)
        self._end = store.r.register_script(_END)

    def begin(self, event_id: str, attempt: int, look_again_at: float, *,
              raw: tuple[str, ...] = ("data",)) -> Begun:
        """Load the event and, unless it is terminal, count this delivery and mark it processing
        under this process; the age sweep leaves it alone until `look_again_at`."""
        store = self.store
        owner = store.owner
        now = time.time()
        found, fields, deliveries = self._begin(
            keys=[store.event_key(event_id), store.pending_key, store.owned_key(owner) if owner else ""],
            args=[f"deliveries:{attempt}", repr(look_again_at),
                  time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), _now_iso(), event_id, owner,
                  *sorted(TERMINAL)])
        if not int(found):
            return Begun(None, 0)
        return Begun(store.decode(dict(zip(fields[::2], fields[1::2])), raw=raw), int(deliveries))

    def take(self, event_id: str, customer_keys: list[str], *, customer: str | None = None,
             lock: tuple[str, str, int] | None = None, drain_limit: int = 200) -> Taken:
        """The completion records of `customer_keys` for this event and, with `customer` (the one
        customer of the event), that customer's burst mark, parked plans (taken off the inbox),
        high-water marks and cached id — unless its completion record exists. With `lock` (name,
        token, lease in seconds), first take that lock (SET NX PX); if it is held, read nothing
        (`busy`)."""
        k = customer or ""
        name, token, lease = lock or ("", "", 0)
        reply = self._take(
            keys=[self.store.event_key(event_id), self.inbox.prefix + k, self.inbox.burst_key(k),
                  self.order.key_prefix + k, self.ids.prefix + k, self.ids.misses_key, name],
            args=[drain_limit if customer else 0, token, int(lease * 1000),
                  *[f"step:{c}" for c in customer_keys]])
        if not reply:
            return Taken([], busy=True)
        steps = [json.loads(v) if v is not None else None for v in reply[0]]
        if len(reply) == 1:
            return Taken(steps)
        _, burst, parked, flat, found = reply
        marks = {_s(name): Mark.from_dict(json.loads(v)) for name, v in zip(flat[::2], flat[1::2])}
        lookup = (_s(found[0]), False) if len(found) == 1 else (None, self.ids.create_first(found[1], found[2]))
        return Taken(steps, customer=True, burst_expected=burst == b"1",
                     parked=[ParkedPlan.from_json(p) for p in parked], marks=marks, lookup=lookup)

    def end(self, event_id: str, finish: Finish, **fields: Any) -> dict[str, Any] | None:
        """Write `finish`'s completion record (returned, with its stale writes) and hold, mark the event
        done with `fields`, take it off the ledger, disown it and release `finish.lock` if this token
        still holds it — in one round trip."""
        store = self.store
        result = finish.result
        args: list[Any] = ["", "", 0, finish.hold, int(BURST_MEMORY * 1000), 0]
        if finish.customer_key is not None and result is not None and finish.ordered is not None:
            result, marks = self.order.marks_for(result, finish.ordered)
            args[:3] = [f"step:{finish.customer_key}", json.dumps(result, default=str), self.order.ttl]
            args[5] = len(marks)
            for name, mark in marks.items():
                args += [name, mark.order, json.dumps(mark.to_dict(), separators=(",", ":"))]
        enc = _encode(fields)
        enc.update(status="done", updated_at=_now_iso())
        args += [x for pair in enc.items() for x in pair]
        lock_name, lock_token = finish.lock or ("", "")
        args += [lock_token, event_id]
        k = finish.customer_key or ""
        self._end(keys=[store.event_key(event_id), store.pending_key,
                        store.owned_key(store.owner) if store.owner else "",
                        self.order.key_prefix + k, self.inbox.burst_key(k), lock_name], args=args)
        return result


__all__ = ["Begun", "EventSteps", "Finish", "Taken", "TERMINAL"]
