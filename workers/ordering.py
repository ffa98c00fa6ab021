"""High-water marks of the provider's order, per customer and field, in Redis (the decision is pure:
`rules.ordering`).

    order:<team>:<customer key>   hash: field (`status`, `metadata.plan`) -> {order, event, at}

Read under the customer's lock before a plan is applied; written with the completion record of the
customer's step in one Lua script, which only ever moves a mark forward, so a redelivered or slow
writer can never move one back.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from rules import CustomerPlan
from rules.ordering import Mark, Ordered, drop_stale_in_turn, ordered_fields
from workers.store import EventStore

_RECORD = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local n = (#ARGV - 3) / 3
for i = 0, n - 1 do
  local field, order, mark = ARGV[4 + i * 3], ARGV[5 + i * 3], ARGV[6 + i * 3]
  local current = redis.call('HGET', KEYS[2], field)
  if not current or cjson.decode(current)['order'] < order then
    redis.call('HSET', KEYS[2], field, mark)
  end
end
if n > 0 then
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
end
return 1
"""


def event_mark(event_id: str, stored: Mapping[str, Any]) -> Mark | None:
    """The event's place in the provider's order, as the ingress stored it; None: arrival order."""
    order = stored.get("order_key")
    return Mark(str(order), event_id, str(stored.get("occurred_at") or "")) if order else None


class OrderMarks:
    """The marks of each customer's overwritten fields, and the completion record written with them."""

    def __init__(self, store: EventStore, *, team: str, ttl: int) -> None:
        self.r = store.r
        self.store = store
        self.key_prefix = f"{store.prefix}order:{team}:"
        self.ttl = ttl
        self._record = store.r.register_script(_RECORD)

    def read(self, customer_key: str, names: list[str]) -> dict[str, Mark]:
        """The marks of these fields (those that have one)."""
        if not names:
            return {}
        values = self.r.hmget(self.key_prefix + customer_key, names)
        return {n: Mark.from_dict(json.loads(v)) for n, v in zip(names, values) if v is not None}

    def in_turn(self, customer_key: str, items: list[tuple[CustomerPlan, Mark | None]],
                known: Mapping[str, Mark] | None = None) -> list[Ordered]:
        """Each plan without the writes a newer event already made (one read, none with the customer's
        marks already `known` or without provider times)."""
        if known is not None:
            return drop_stale_in_turn(items, known)
        names = sorted({n for plan, mark in items if mark is not None for n in ordered_fields(plan)})
        return drop_stale_in_turn(items, self.read(customer_key, names))

    @staticmethod
    def marks_for(result: dict[str, Any], ordered: Ordered) -> tuple[dict[str, Any], dict[str, Mark]]:
        """The completion record to write (with the stale writes it left out, if any) and the marks to
        move forward with it (none for a skipped step)."""
        if ordered.stale:
            result = {**result, "stale": list(ordered.stale)}
        return result, (ordered.marks if result.get("action") != "skipped" else {})

    def record(self, event_id: str, customer_key: str, result: dict[str, Any], ordered: Ordered) -> dict[str, Any]:
        """Write the step's completion record and move its marks forward, atomically; returns the record
        (with the stale writes it left out, if any)."""
        result, marks = self.marks_for(result, ordered)
        args: list[Any] = [f"step:{customer_key}", json.dumps(result, default=str), self.ttl]
        for name, mark in marks.items():
            args += [name, mark.order, json.dumps(mark.to_dict(), separators=(",", ":"))]
        self._record(keys=[self.store.event_key(event_id), self.key_prefix + customer_key], args=args)
        return result
