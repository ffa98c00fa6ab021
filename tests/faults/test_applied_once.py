"""Promise 2: a change is applied once — through dropped connections, redeliveries and duplicate posts."""

from __future__ import annotations

import json
import threading

import pytest

from tests.faults.batch import scaled, scaled_timeout, assert_each_effect_once, post_batch

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_write_applied_then_connection_dropped_applies_each_change_once(make_stack):
    stack = make_stack(default_worker=True)
    stack.sandbox.set_faults([{"action": "drop_after_write", "rate": 0.25, "methods": ["POST", "PATCH"],
                               "seed": 11}])
    stack.start_worker()
    batch = post_batch(stack, n=scaled(120), customers=25, domain="drop.test")
    stack.wait_for(batch.ids, timeout=scaled_timeout(180))

    calls = stack.sandbox.calls()
    dropped = [c for c in calls if c.get("fault") == "drop_after_write" or c.get("dropped")]
    assert dropped, "the fault never fired: the test proved nothing"
    assert_each_effect_once(stack, batch)


def _flight(stack):
    """Make the ingress's enqueue wait until released, to hold a request 'in flight'.

    Only the two-step path (a broker other than the store's Redis) has such a window; with the
    default atomic claim+enqueue there is none, which `test_atomic_claim_has_no_in_flight_window` checks.
    """
    state = stack.app.extensions["cstar_bridge"]
    state.messages = None
    real, gate, entered = state.enqueue, threading.Event(), threading.Event()

    def slow(event_id):
        entered.set()
        gate.wait(10)
        real(event_id)

    state.enqueue = slow
    return state, real, gate, entered


def test_same_delivery_sequential_concurrent_and_reused_key(make_stack):
    stack = make_stack(default_worker=True)
    body = {"email": "once@dup.test", "name": "Once", "tag": "x", "note": "exactly-once-note"}
    raw = json.dumps(body)

    # concurrently, while the first is still being accepted: 409 (retry), never a second event
    state, real, gate, entered = _flight(stack)
    results = {}
    t = threading.Thread(target=lambda: results.setdefault("first", stack.post(body=body,
                                                                                headers={"Idempotency-Key": "k1"})))
    t.start()
    assert entered.wait(10)
    in_flight = stack.post(body=body, headers={"Idempotency-Key": "k1"})
    assert in_flight.status_code == 409
    assert in_flight.get_json()["error"]["code"] == "idempotency_key_in_use"
    assert in_flight.headers["Retry-After"] == "1"
    gate.set()
    t.join()
    state.enqueue = real
    first = results["first"]
    assert first.status_code == 202
    eid = first.get_json()["data"]["eventId"]

    # same key, different body: 422
    other = stack.post(raw=raw.replace("Once", "Twice").encode(), headers={"Idempotency-Key": "k1"})
    assert other.status_code == 422

    # sequential repeats and a burst of concurrent repeats: 200 with the first id
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(stack.post(body=body,
                                                                          headers={"Idempotency-Key": "k1"})))
               for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    answers.append(stack.post(body=body, headers={"Idempotency-Key": "k1"}))
    assert {a.status_code for a in answers} == {200}
    assert {a.get_json()["data"]["eventId"] for a in answers} == {eid}

    stack.start_worker()
    stack.wait_for([eid])
    c = stack.customer("once@dup.test")
    assert c["notes"].count("exactly-once-note") == 1
    assert [x["method"] for x in stack.sandbox.calls() if x["method"] in ("POST", "PATCH")] == ["POST"]


def test_atomic_claim_has_no_in_flight_window(make_stack):
    """Default path: claim, store, ledger and task are one script, so a duplicate that arrives at any
    moment after the first answer sees a queued event (200), and the task really is on the queue."""
    stack = make_stack(default_worker=True)
    body = {"email": "atomic@dup.test", "note": "atomic-note"}
    first = stack.post(body=body, headers={"Idempotency-Key": "a1"})
    assert first.status_code == 202
    assert stack.queue_length() == 1  # pushed by the claim script itself
    dup = stack.post(body=body, headers={"Idempotency-Key": "a1"})
    assert dup.status_code == 200 and dup.get_json()["data"]["status"] == "queued"
    assert stack.queue_length() == 1  # a duplicate pushes nothing
    stack.start_worker(concurrency=1)  # a real Celery worker consumes the hand-built message
    stack.wait_for([first.get_json()["data"]["eventId"]])
    assert stack.customer("atomic@dup.test")["notes"].count("atomic-note") == 1


def test_provider_redelivery_without_key_is_deduplicated_by_body(make_stack):
    stack = make_stack(default_worker=True)
    stack.start_worker()
    body = {"email": "hash@dup.test", "note": "by-body-hash"}
    ids = {stack.accepted_id(stack.post(body=body)) for _ in range(5)}
    assert len(ids) == 1
    stack.wait_for(list(ids))
    assert stack.customer("hash@dup.test")["notes"].count("by-body-hash") == 1


def test_negative_control_without_note_markers_dropped_writes_duplicate_notes(make_stack):
    """Without note markers, a PATCH applied and then dropped is applied again on retry: the note
    appears twice. The exactly-once test above would catch that."""
    stack = make_stack(default_worker=True, worker={"note_markers": False})
    stack.sandbox.set_faults([{"action": "drop_after_write", "rate": 1.0, "methods": ["PATCH"], "times": 3}])
    stack.start_worker(concurrency=1)
    first = stack.accepted_id(stack.post(body={"email": "twice@dup.test", "name": "T"}))
    stack.wait_for([first])
    eid = stack.accepted_id(stack.post(body={"email": "twice@dup.test", "note": "note#00001#"}))
    stack.wait_for([eid], timeout=scaled_timeout(60))
    assert stack.customer("twice@dup.test")["notes"].count("note#00001#") > 1
