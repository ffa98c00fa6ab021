"""Coalescing bursts for one customer: many events, one write.

A Zapier import repeating an email, or a form posted twice in a second, sends several events for one
customer at once. Each would cost a read and a write. Instead, an event that finds the customer's lock
taken parks its plan in the customer's inbox (a Redis list) and schedules a fallback retry; the worker
holding the lock drains the inbox and applies every parked plan together with its own: one read, one
PATCH. It then records completion for each parked event and marks it done, so the fallback retry finds
nothing left to do.

A holder cannot know a burst is under way from one event, so it remembers (a short-lived mark per
customer) that it wrote the customer a moment ago. The next holder for that customer, seeing the mark,
lingers with the lock after its write: it waits up to LINGER_MAX for another event to park, then lets
more park until ROUND_SPACING has passed since its last write, so each PATCH carries several plans
whatever the events' arrival rate (a loaded ingress posts them tens of milliseconds apart, longer than
any one write). It lingers for at most a quarter of the task's soft time limit; plans parked after it
lets go are drained by the next holder (or their own fallback retry). A linger that waited in vain marks the customer quiet, so a lone stream of events
(one worker process, nobody to park) pays that wait at most once every BURST_MEMORY seconds.

Only plans that do not depend on the customer's state (no rule read `customer.*`) and touch a single
customer are parked. Exactly-once still rests on the usual guards: completion records checked under
the lock, note markers, and tag unions computed against the state read under the lock.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Mapping

from rules import CustomerPlan, apply_change, compute_change
from rules.ordering import Mark


@dataclass(frozen=True)
class ParkedPlan:
    """One event's plan waiting in a customer's inbox."""

    event_id: str
    plan: CustomerPlan
    mark: Mark | None = None     # the event's place in the provider's order (rules.ordering)

    def to_json(self) -> str:
        return json.dumps({"event_id": self.event_id, "plan": self.plan.to_dict(),
                           "mark": self.mark.to_dict() if self.mark else None}, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> "ParkedPlan":
        d = json.loads(raw)
        p = d["plan"]
        plan = CustomerPlan(email=p["email"], key=p["key"], name=p.get("name"), create=bool(p.get("create")),
                            add_tags=tuple(p.get("add_tags") or ()), remove_tags=tuple(p.get("remove_tags") or ()),
                            notes=tuple(p.get("notes") or ()), set_metadata=dict(p.get("set_metadata") or {}),
                            remove_metadata=tuple(p.get("remove_metadata") or ()), fields=dict(p.get("fields") or {}),
                            rules=tuple(p.get("rules") or ()), field_rules=dict(p.get("field_rules") or {}),
                            arrival=frozenset(p.get("arrival") or ()))
        return cls(event_id=str(d["event_id"]), plan=plan, mark=Mark.from_dict(d["mark"]) if d.get("mark") else None)


LINGER_MAX = 0.5      # after a write in a burst, the holder waits this long for the next plan to park
ROUND_SPACING = 0.25  # ... and, while plans keep parking, writes at most this often (several plans a PATCH)
BURST_MEMORY = 3.0    # seconds a write (or a linger in vain) is remembered for the customer
_POLL = 0.01


class Inbox:
    """Per-customer list of parked plans."""

    def __init__(self, client: Any, *, prefix: str, ttl: int = 3600) -> None:
        self.client = client
        self.prefix = f"{prefix}inbox:"
        self.ttl = ttl

    def park(self, key: str, item: ParkedPlan) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.rpush(self.prefix + key, item.to_json())
        pipe.expire(self.prefix + key, self.ttl)
        pipe.execute()

    def waiting(self, key: str, until: float) -> bool:
        """Whether a plan is parked for the customer by `until` (time.monotonic()), checking every 10 ms."""
        while True:
            if self.client.llen(self.prefix + key):
                return True
            left = until - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(_POLL, left))

    def burst_expected(self, key: str) -> bool:
        """Whether the customer was written a moment ago, and lingering then was not in vain."""
        return self.client.get(self.burst_key(key)) == b"1"

    def note_hold(self, key: str, *, burst: bool, quiet: bool) -> None:
        """Remember how a hold went: `burst` (plans parked), `quiet` (a linger waited in vain), else one write
        (which does not overwrite a quiet mark)."""
        ms = int(BURST_MEMORY * 1000)
        if quiet:
            self.client.set(self.burst_key(key), b"0", px=ms)
        else:
            self.client.set(self.burst_key(key), b"1", px=ms, nx=not burst)

    def burst_key(self, key: str) -> str:
        """The key of the customer's burst mark (`note_hold`)."""
        return f"{self.prefix}burst:{key}"

    def drain(self, key: str, limit: int = 200) -> list[ParkedPlan]:
        """Take up to `limit` parked plans, oldest first (atomically: no two holders get the same one)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.lrange(self.prefix + key, 0, limit - 1)
        pipe.ltrim(self.prefix + key, limit, -1)
        raw, _ = pipe.execute()
        return [ParkedPlan.from_json(r) for r in raw]


def combine(current: Mapping[str, Any] | None, items: list[tuple[str | None, CustomerPlan]]
            ) -> tuple[dict[str, Any], list[Any], dict[str, Any] | None]:
    """The one PATCH body for several plans applied in order to an existing customer, each plan's own
    change (for its completion record), and the state the customer has once the body is applied. Each
    change is computed against the state the earlier ones leave, so tags accumulate, notes append in
    order and the later plan wins for a field.

    When `current` has no `metadata` (the API's documented GET shows none), the metadata stays unknown
    through every plan: what an earlier plan set is not the whole of it, so a later plan's removal
    must still go out as `{key: null}`."""
    state: dict[str, Any] | None = dict(current) if current is not None else None
    metadata_known = state is not None and "metadata" in state
    body: dict[str, Any] = {}
    changes = []
    for marker, plan in items:
        change = compute_change(plan, state, exists=True, note_marker=marker)
        changes.append(change)
        if not change.update:
            continue
        for k, v in change.update.items():
            if k == "metadata":
                body.setdefault("metadata", {}).update(v)
            else:
                body[k] = v
        if state is not None:
            state = apply_change(state, change)
            if state is not None and not metadata_known:
                state.pop("metadata", None)
    return body, changes, state
