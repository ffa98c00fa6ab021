"""Batches of events with known expected effects, and the checks that every effect happened exactly once."""

from __future__ import annotations

import os
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping

# Short timings for integration tests that are not about faults (the fault tests run on the default
# `worker:` settings: `make_stack(default_worker=True)`, only sizes and protection switches differ).
FAST = {"visibility_timeout": 60, "task_time_limit": 20, "task_soft_time_limit": 15, "retry_backoff_base": 0.3,
        "retry_backoff_cap": 2.0, "reconcile_interval": 1, "reconcile_after": 6, "max_retries": 8,
        "soft_shutdown_timeout": 8, "lock_lease": 30}


# `bench/chaos.py` runs these same tests bigger: CSTAR_CHAOS_SCALE=10 means ten times the events.
SCALE = float(os.environ.get("CSTAR_CHAOS_SCALE", "1"))


def scaled(n: int) -> int:
    return max(1, int(n * SCALE))


def scaled_timeout(seconds: float) -> float:
    return seconds * max(1.0, SCALE)


@dataclass
class Batch:
    ids: list[str] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    tags: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def note_text(i: int) -> str:
    return f"note#{i:05d}#"


def post_batch(stack: Any, n: int, customers: int, *, domain: str = "batch.test", start: int = 0,
               batch: Batch | None = None) -> Batch:
    """Post n events spread over `customers` customers, each adding a distinct tag and note."""
    batch = batch or Batch()
    for i in range(start, start + n):
        email = f"c{i % customers}@{domain}"
        resp = stack.post(body={"email": email, "name": f"Customer {i % customers}", "tag": f"t{i}",
                                "note": note_text(i)})
        batch.ids.append(stack.accepted_id(resp))
        batch.notes[email].append(note_text(i))
        batch.tags[email] |= {"lead", f"t{i}"}
    return batch


def done_count(stack: Any, ids: list[str]) -> int:
    pipe = stack.redis.pipeline(transaction=False)
    for eid in ids:
        pipe.hget(f"{stack.prefix}event:{eid}", "status")
    return sum(1 for s in pipe.execute() if s == b"done")


def wait_until_done_fraction(stack: Any, ids: list[str], fraction: float, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while done_count(stack, ids) < fraction * len(ids):
        assert time.monotonic() < deadline, f"not even {fraction:.0%} done after {timeout} s"
        time.sleep(0.05)


def assert_each_effect_once(stack: Any, batch: Batch) -> None:
    """No duplicate customers; every note exactly once; tags exactly the expected set."""
    customers = stack.customers()
    emails = Counter(c["email"].lower() for c in customers)
    dupes = {e: n for e, n in emails.items() if n > 1}
    assert not dupes, f"duplicate customers: {dupes}"
    by_email = {c["email"].lower(): c for c in customers}
    problems = []
    for email, notes in batch.notes.items():
        c = by_email.get(email)
        if c is None:
            problems.append(f"{email}: missing")
            continue
        counts = Counter(re.findall(r"note#\d{5}#", c.get("notes") or ""))
        for note in notes:
            if counts[note] != 1:
                problems.append(f"{email}: {note} appears {counts[note]} times")
        tags = {t.lower() for t in c.get("tags") or []}
        if tags != batch.tags[email]:
            problems.append(f"{email}: tags missing {sorted(batch.tags[email] - tags)}, "
                            f"extra {sorted(tags - batch.tags[email])}")
    assert not problems, f"{len(problems)} problem(s): {problems[:10]}"


def max_deliveries(stack: Any, ids: list[str]) -> int:
    worst = 0
    for eid in ids:
        ev = stack.event(eid)
        counts = [int(v) for k, v in ev.items() if k.startswith("deliveries:")]
        worst = max([worst, *counts])
    return worst


def lost_tags(stack: Any, expected: Mapping[str, set[str]]) -> dict[str, list[str]]:
    """Per customer, the expected tags (lower case) its record in the sandbox does not carry."""
    lost = {}
    for email, tags in expected.items():
        have = {t.lower() for t in stack.customer(email)["tags"]}
        if tags - have:
            lost[email] = sorted(tags - have)
    return lost
