"""Per-customer order by the provider's event time (pure: the worker stores the marks, this decides).

Fields a write overwrites — status, sentiment, name and each metadata key — keep a high-water mark
per customer: the place in the provider's order of the event that last wrote it. A later write from
an event placed before that mark is stale and is dropped from the plan ("stale: newer value from
event X at T"). Tags and notes are left alone: they accumulate whatever the order.

An event's place is its `order_key`: the provider's time in milliseconds (15 digits, so text order is
time order), the provider's tie-break for events of the same instant (Stripe: `customer.created` before
`customer.updated`), and the delivery's stable key (the provider's event id or the body hash), so two
events of the same instant always rank the same way, whatever order they arrive in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from rules.plan import CustomerPlan

ORDERS = ("provider", "arrival")
_MAX_MS = 253402300799999          # 9999-12-31T23:59:59.999Z
_NUMERIC = re.compile(r"^\s*\d+(\.\d+)?\s*$")


def time_ms(value: Any) -> int | None:
    """A provider time as Unix milliseconds: ISO 8601 text (no zone: UTC), or a Unix time as a number
    or digits (seconds below 10^11, milliseconds above). None when it is not a time."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str) and _NUMERIC.match(value):
        value = float(value)
    if isinstance(value, (int, float)):
        if value != value or value < 0:  # NaN or before 1970
            return None
        ms = int(round(value * 1000)) if value < 1e11 else int(value)
        return ms if ms <= _MAX_MS else None
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    ms = int(round(moment.timestamp() * 1000))
    return ms if 0 <= ms <= _MAX_MS else None


def iso_ms(ms: int) -> str:
    """Unix milliseconds -> `2024-05-01T10:03:12.345Z`."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def order_key(ms: int, tie: str, delivery_key: str) -> str:
    """The event's place in the provider's order, as text that sorts in that order."""
    return f"{ms:015d}|{tie}|{delivery_key}"


@dataclass(frozen=True)
class Mark:
    """The write a field last received: the writing event's place, its id and its provider time."""

    order: str
    event_id: str
    occurred_at: str

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form (as stored)."""
        return {"order": self.order, "event": self.event_id, "at": self.occurred_at}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Mark":
        return cls(str(raw.get("order") or ""), str(raw.get("event") or ""), str(raw.get("at") or ""))


def ordered_fields(plan: CustomerPlan) -> list[str]:
    """The overwritten fields this plan writes in provider order (`status`, `metadata.plan`…): every
    field and metadata key it sets or removes, except those set by a rule with `order: arrival`."""
    names = [k for k in plan.fields] + [f"metadata.{k}" for k in (*plan.set_metadata, *plan.remove_metadata)]
    return [n for n in names if n not in plan.arrival]


@dataclass(frozen=True)
class Ordered:
    """A plan with its stale writes removed, why each was removed, and the marks to record."""

    plan: CustomerPlan
    stale: tuple[dict[str, Any], ...]
    marks: dict[str, Mark]


def drop_stale(plan: CustomerPlan, mark: Mark | None, marks: Mapping[str, Mark]) -> Ordered:
    """Remove the writes that an event placed after `mark` already overwrote (`mark`: this event's
    place; None when the provider gave no time, and then nothing is stale and nothing is recorded)."""
    if mark is None:
        return Ordered(plan, (), {})
    stale: list[dict[str, Any]] = []
    record: dict[str, Mark] = {}
    for name in ordered_fields(plan):
        newer = marks.get(name)
        if newer is not None and newer.order > mark.order:
            stale.append({"field": name, "rule": plan.field_rules.get(name), "event": newer.event_id,
                          "at": newer.occurred_at,
                          "verdict": f"stale: newer value from event {newer.event_id} at {newer.occurred_at}"})
        else:
            record[name] = mark
    if not stale:
        return Ordered(plan, (), record)
    dropped = {s["field"] for s in stale}
    kept = replace(
        plan,
        fields={k: v for k, v in plan.fields.items() if k not in dropped},
        set_metadata={k: v for k, v in plan.set_metadata.items() if f"metadata.{k}" not in dropped},
        remove_metadata=tuple(k for k in plan.remove_metadata if f"metadata.{k}" not in dropped))
    return Ordered(kept, tuple(stale), record)


def drop_stale_in_turn(items: list[tuple[CustomerPlan, Mark | None]], marks: Mapping[str, Mark]) -> list[Ordered]:
    """`drop_stale` for several plans of one customer applied one after the other (a coalesced write):
    each is judged against the marks the earlier ones leave."""
    seen = dict(marks)
    out = []
    for plan, mark in items:
        ordered = drop_stale(plan, mark, seen)
        seen.update(ordered.marks)
        out.append(ordered)
    return out


def annotate_trace(trace: list[dict[str, Any]], steps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The trace with each stale write's verdict added to the entry of the rule that wanted it
    (`stale: [{field, verdict}]`); the entries are copied, never changed in place."""
    verdicts: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    for step in steps:
        for s in step.get("stale") or ():
            verdicts.setdefault((s.get("rule"), str(step.get("email") or "").lower()), []).append(
                {"field": s.get("field"), "verdict": s.get("verdict")})
    if not verdicts:
        return trace
    out = []
    for entry in trace:
        found = verdicts.get((entry.get("rule"), str(entry.get("customer") or "").lower()))
        out.append({**entry, "stale": found} if found else entry)
    return out
