"""Replay dead (or failed) events: back on the ledger, back on the queue; each change still applies once."""

from __future__ import annotations

from typing import Callable, Iterable

from workers.store import EventStore


def replay(store: EventStore, enqueue: Callable[[str], None], event_ids: Iterable[str]) -> dict[str, str]:
    """Replay each event id; returns id -> "replayed" | "not replayable (status …)" | "not found"."""
    results: dict[str, str] = {}
    for eid in event_ids:
        ev = store.load(eid)
        if ev is None:
            results[eid] = "not found"
            continue
        if not store.prepare_replay(eid):
            results[eid] = f"not replayable (status {ev.get('status')})"
            continue
        enqueue(eid)
        results[eid] = "replayed"
    return results


def dead_event_ids(store: EventStore) -> list[str]:
    seen: dict[str, None] = {}
    for d in store.dead_letters(100000):
        seen[d["event_id"]] = None
    return list(seen)
