"""A poison event is dead-lettered with its reason within the retry budget, others are unaffected,
and a replay after the fix applies it once."""

from __future__ import annotations

import pytest

from tests.faults.batch import scaled, scaled_timeout, assert_each_effect_once, post_batch

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ADMIN = {"Authorization": "Bearer test-admin"}


@pytest.mark.parametrize("status,permanent", [(500, False), (400, True)])
def test_poison_event_is_dead_lettered_then_replayed_once(make_stack, status, permanent):
    stack = make_stack(default_worker=True, worker={"max_retries": 2})  # a smaller attempt budget
    stack.sandbox.set_faults([{"action": "error", "status": status, "rate": 1.0, "methods": ["POST", "PATCH"],
                               "body_contains": "poison@"}])
    stack.start_worker()
    poison = stack.accepted_id(stack.post(body={"email": "poison@dead.test", "name": "P", "note": "poison-note"}))
    others = post_batch(stack, n=scaled(20), customers=5, domain="fine.test")

    events = stack.wait_for([poison], statuses=("dead",), timeout=scaled_timeout(90))
    dead = events[poison]
    assert dead["reason"] and ("refused" in dead["reason"] if permanent else "gave up after 3" in dead["reason"])
    assert int(dead["attempts"]) == (1 if permanent else 3)
    assert dead["error"]["status"] == status
    stack.wait_for(others.ids)
    assert_each_effect_once(stack, others)

    listed = stack.http.get("/events?status=dead", headers=ADMIN).get_json()["data"]
    assert [e["id"] for e in listed] == [poison]

    stack.sandbox.set_faults([])  # the cause is fixed
    resp = stack.http.post("/events/replay-dead", headers=ADMIN)
    assert resp.get_json()["data"] == {poison: "replayed"}
    stack.wait_for([poison])
    c = stack.customer("poison@dead.test")
    assert c["notes"].count("poison-note") == 1
    assert stack.http.get("/events?status=dead", headers=ADMIN).get_json()["data"] == []
    # a second replay of a done event changes nothing
    again = stack.http.post(f"/events/{poison}/replay", headers=ADMIN).get_json()["data"]
    assert again["result"].startswith("not replayable")
