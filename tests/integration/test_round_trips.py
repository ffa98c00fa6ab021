"""How many times the worker waits on Redis for one event (issue 15 §4: ≤ 8 for a known customer),
pinned on the real pipeline: a task's context over a real redis-server and the sandbox, every
redis-py send of the task's thread counted (a command, a pipeline, a script call: one round trip)."""

from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
import redis.connection

from workers.coalesce import BURST_MEMORY
from workers.pipeline import process_event
from workers.runtime import build_context

pytestmark = pytest.mark.integration


class Sends:
    """Counts the round trips this thread makes (the lock watchdog's thread is not the event's), and
    where they were made (for the failure message)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.thread = threading.get_ident()
        self.count = 0
        self.sites: dict[str, int] = {}
        real = redis.connection.AbstractConnection.send_packed_command

        def counted(conn: Any, command: Any, check_health: bool = True) -> Any:
            if threading.get_ident() == self.thread:
                self.count += 1
                caller = [f for f in traceback.extract_stack(limit=30)[:-1] if "/redis/" not in f.filename][-1]
                site = f"{Path(caller.filename).name}:{caller.name}"
                self.sites[site] = self.sites.get(site, 0) + 1
            return real(conn, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)


def test_a_known_customers_event_costs_five_round_trips_in_the_worker(make_stack, monkeypatch):
    """begin, take (with the lock), a rate-limit slot for the GET and one for the PATCH (with its
    fence), end (with the unlock)."""
    stack = make_stack(default_worker=True)
    ctx = build_context(stack.config)
    email = "round-trips@example.com"
    first = stack.accepted_id(stack.post(body={"email": email, "name": "R"}))
    assert process_event(ctx.for_task(), first, attempt=0).status == "done"   # now a known customer
    time.sleep(BURST_MEMORY)   # ... written a while ago: no burst expected, so no lingering for one
    event_id = stack.accepted_id(stack.post(body={"email": email, "tag": "vip", "plan": "pro"}))
    task = ctx.for_task()
    sends = Sends(monkeypatch)
    outcome = process_event(task, event_id, attempt=0)
    assert outcome.status == "done"
    assert [c["method"] for c in task.calls] == ["GET", "PATCH"]
    assert sends.count == 5, sends.sites
    customer = stack.customer(email)
    assert {"lead", "vip"} <= set(customer["tags"]) and customer["metadata"]["plan"] == "pro"
    assert stack.event(event_id)["status"] == "done" and stack.redis.zscore(f"{stack.prefix}pending", event_id) is None


def test_a_redelivered_done_event_costs_one_round_trip(make_stack, monkeypatch):
    stack = make_stack(default_worker=True)
    ctx = build_context(stack.config)
    event_id = stack.accepted_id(stack.post(body={"email": "again@example.com"}))
    assert process_event(ctx.for_task(), event_id, attempt=0).status == "done"
    sends = Sends(monkeypatch)
    assert process_event(ctx.for_task(), event_id, attempt=1).status == "done"
    assert sends.count == 1
