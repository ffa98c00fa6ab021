"""Per-customer order by the provider's time, through the real stack: real Redis, two real Celery workers
(`celery -A workers worker`, default worker settings), the sandbox over HTTP, faults and duplicates.

One customer's sequence of six events (the provider's times in `updated_at`, two of them at the same
instant) is delivered in many orders, one customer per order. Whatever the order, the customer ends in
the state in-order application gives. The negative control runs the same orders with `order: arrival`
and shows different final states.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from rules.change import NOTE_SEPARATOR
from tests.support.stack import TOKEN

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULES = """\
version: 1
rules:
  - id: account
    when: {source: ordered}
    customer: {email: "{{ data.email }}", name: "{{ data.name | default('') }}", create: true}
    actions:
      - add_tags: ["{{ data.tag }}"]
      - set_status: "{{ data.status }}"
      - set_sentiment: "{{ data.sentiment }}"
      - set_name: "{{ data.rename }}"
      - set_metadata: {plan: "{{ data.plan }}"}
      - set_metadata: {seats: "{{ data.seats }}"}
      - set_metadata: {trial: "{{ data.trial }}"}
      - if: {field: data.end_trial, op: is_true}
        remove_metadata: [trial]
      - add_note: "{{ data.note }}"
"""
SOURCES = {"ordered": {"adapter": "json", "verify": {"scheme": "token", "secret": TOKEN},
                       "occurred_at": "updated_at"}}

# The provider's order; events 3 and 4 happened at the same instant (ranked by their delivery ids).
SEQUENCE: list[dict[str, Any]] = [
    {"updated_at": "2026-03-01T10:00:00Z", "name": "Ana", "status": "active", "sentiment": "neutral",
     "plan": "trial", "trial": "2026-03-15", "tag": "a", "note": "n0"},
    {"updated_at": "2026-03-01T10:00:01.250Z", "plan": "basic", "seats": 3, "tag": "b", "note": "n1"},
    {"updated_at": 1772359202, "status": "inactive", "sentiment": "negative", "tag": "c"},  # 10:00:02, seconds
    {"updated_at": "2026-03-01T10:00:03Z", "end_trial": True, "plan": "pro", "rename": "Ana Pro", "tag": "d"},
    {"updated_at": "2026-03-01T11:00:03+01:00", "seats": 10, "sentiment": "positive", "tag": "e"},  # = event 3
    {"updated_at": 1772359204000, "status": "active", "tag": "f", "note": "n5"},  # 10:00:04, milliseconds
]
IN_ORDER = {"status": "active", "sentiment": "positive", "name": "Ana Pro",
            "metadata": {"plan": "pro", "seats": 10}, "tags": ["a", "b", "c", "d", "e", "f"],
            "notes": ["n0", "n1", "n5"]}
FAULTS = [  # retries: the API fails some writes, or applies them and drops the connection
    {"action": "error", "status": 503, "methods": ["PATCH"], "rate": 0.15, "seed": 16, "times": 4},
    {"action": "drop_after_write", "methods": ["PATCH"], "rate": 0.1, "seed": 61, "times": 3},
]


def _orders(n: int) -> list[list[int]]:
    rng = random.Random(16)
    found = [list(range(6)), list(reversed(range(6)))]
    while len(found) < n:
        order = rng.sample(range(6), 6)
        if order not in found:
            found.append(order)
    return found


def _state(customer: dict[str, Any]) -> dict[str, Any]:
    notes = [re.sub(r" \[cstar-bridge:[^\]]+\]$", "", n) for n in (customer.get("notes") or "").split(NOTE_SEPARATOR)
             if n]
    return {"status": customer["status"], "sentiment": customer["sentiment"], "name": customer["name"],
            "metadata": customer.get("metadata") or {}, "tags": sorted(customer["tags"]), "notes": sorted(notes)}


def _deliver(make_stack: Any, tmp_path: Path, rules: str, orders: list[list[int]], *, bursts: int = 0
             ) -> tuple[Any, dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Deliver the sequence to one customer per order, in rounds (each customer's k-th event of its order,
    all customers at once, then wait), with duplicates and API faults; `bursts` more customers get all
    six events at once. Returns the stack, each customer's final state and its event ids by position."""
    path = tmp_path / "ordering.yaml"
    path.write_text(rules)
    stack = make_stack(rules=[path], sources=SOURCES, default_worker=True)
    stack.sandbox.set_faults(FAULTS)
    stack.start_worker(concurrency=1)
    stack.start_worker(concurrency=1)
    ids: dict[str, list[str]] = {}

    def post(email: str, i: int) -> str:
        body = {**SEQUENCE[i], "email": email, "idempotency_key": f"{email}#{i}"}
        event_id = stack.accepted_id(stack.post("ordered", body))
        ids.setdefault(email, [""] * 6)[i] = event_id
        return event_id

    rng = random.Random(61)
    burst_ids = [post(f"burst{b}@order.test", i) for b in range(bursts) for i in rng.sample(range(6), 6)]
    for k in range(6):
        batch = [post(f"order{n}@order.test", order[k]) for n, order in enumerate(orders)]
        again = rng.choice(orders)  # a provider redelivers an event it already delivered: a duplicate
        dup = stack.post("ordered", {**SEQUENCE[again[0]], "email": f"order{orders.index(again)}@order.test",
                                     "idempotency_key": f"order{orders.index(again)}@order.test#{again[0]}"})
        assert dup.status_code in (200, 409), dup.get_json()
        stack.wait_for(batch, timeout=180)
    stack.wait_for(burst_ids, timeout=180)
    assert sum(f["fired"] for f in stack.sandbox.faults()) > 0, "no fault fired: nothing was retried"
    final = {email: _state(stack.customer(email)) for email in ids}
    return stack, final, ids


def test_every_delivery_order_ends_in_the_in_order_state(make_stack: Any, tmp_path: Path) -> None:
    orders = _orders(10)
    stack, final, ids = _deliver(make_stack, tmp_path, RULES, orders, bursts=3)
    wrong = {email: state for email, state in final.items() if state != IN_ORDER}
    assert not wrong, f"{len(wrong)} of {len(final)} customers differ from in-order application: {wrong}"
    # Reversed delivery: event 0 arrives last; its status is stale because event 5 set it later.
    reversed_email = "order1@order.test"
    last = stack.event(ids[reversed_email][0])
    step = last["changes"][0]
    verdicts = {s["field"]: s["verdict"] for s in step["stale"]}
    newer = stack.event(ids[reversed_email][5])
    assert verdicts["status"] == f"stale: newer value from event {newer['id']} at 2026-03-01T10:00:04.000Z"
    assert verdicts["metadata.plan"].startswith(f"stale: newer value from event {ids[reversed_email][3]} ")
    traced = next(e for e in stack.shown(ids[reversed_email][0])["trace"] if e["rule"] == "account")
    assert {"field": "status", "verdict": verdicts["status"]} in traced["stale"]
    assert last["occurred_at"] == "2026-03-01T10:00:00.000Z"


def test_negative_control_arrival_order_leaves_older_states(make_stack: Any, tmp_path: Path) -> None:
    rules = RULES.replace("  - id: account\n", "  - id: account\n    order: arrival\n")
    orders = _orders(10)
    _, final, _ = _deliver(make_stack, tmp_path, rules, orders)
    assert final["order0@order.test"] == IN_ORDER  # delivered in order: the same state either way
    differ = [email for email, state in final.items() if state != IN_ORDER]
    assert "order1@order.test" in differ and len(differ) >= len(orders) // 2, final
