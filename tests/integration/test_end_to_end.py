"""POST /hooks → Redis → a real Celery worker → the sandbox over HTTP (issue 4's walking skeleton)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(make_stack):
    s = make_stack()
    s.start_worker(concurrency=2)
    return s


def test_new_email_creates_customer_with_tags_note_and_metadata(stack):
    resp = stack.post(body={"email": "Ada@Example.com", "name": "Ada Lovelace", "tag": "vip", "plan": "pro",
                            "seats": 12, "note": "First contact"})
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["success"] is True and body["data"]["status"] == "queued" and body["data"]["duplicate"] is False
    assert body["meta"]["requestId"].startswith("req_")
    stack.wait_for([body["data"]["eventId"]])

    c = stack.customer("ada@example.com")
    assert c["name"] == "Ada Lovelace"
    assert sorted(t.lower() for t in c["tags"]) == ["lead", "vip"]
    assert c["metadata"] == {"plan": "pro", "seats": 12}  # a lone {{ expr }} keeps its type
    assert c["notes"].startswith("First contact")


def test_second_event_updates_the_same_customer(stack):
    first = stack.accepted_id(stack.post(body={"email": "bo@example.com", "name": "Bo", "tag": "trial",
                                                "plan": "free", "note": "one"}))
    stack.wait_for([first])
    second = stack.accepted_id(stack.post(body={"email": "BO@example.com", "tag": "paying", "untag": "trial",
                                                 "seats": 3, "note": "two"}))
    stack.wait_for([second])

    matching = [c for c in stack.customers() if c["email"].lower() == "bo@example.com"]
    assert len(matching) == 1, "the second event must update, not create another customer"
    c = matching[0]
    assert sorted(t.lower() for t in c["tags"]) == ["lead", "paying"]
    assert c["metadata"] == {"plan": "free", "seats": 3}
    assert c["notes"].index("one") < c["notes"].index("two")


def test_same_delivery_twice_changes_the_customer_once(stack):
    body = {"email": "cy@example.com", "name": "Cy", "note": "only once", "idempotency_key": "zap-42"}
    r1, r2 = stack.post(body=body), stack.post(body=body)
    assert r1.status_code == 202
    first = r1.get_json()["data"]["eventId"]
    stack.wait_for([first])
    r3 = stack.post(body=body)
    for dup in (r2, r3):
        assert dup.status_code in (200, 409), dup.get_json()
        if dup.status_code == 200:
            assert dup.get_json()["data"] == {"eventId": first, "status": dup.get_json()["data"]["status"],
                                              "duplicate": True}
    assert r3.status_code == 200 and r3.get_json()["data"]["status"] == "done"
    c = stack.customer("cy@example.com")
    assert c["notes"].count("only once") == 1
    creates = [x for x in stack.sandbox.calls() if x["method"] == "POST"]
    assert len(creates) == 1


def test_idempotency_key_header_reused_with_another_body_is_422(stack):
    h = {"Idempotency-Key": "abc-1"}
    first = stack.post(body={"email": "di@example.com"}, headers=h)
    assert first.status_code == 202
    again = stack.post(body={"email": "someone-else@example.com"}, headers=h)
    assert again.status_code == 422
    assert again.get_json()["error"]["code"] == "idempotency_key_reused"


def test_form_urlencoded_body_works_like_json(stack):
    resp = stack.post("forms", form={"email": "ed@example.com", "name": "Ed", "tag": "webinar"})
    assert resp.status_code == 202, resp.get_json()
    stack.wait_for([resp.get_json()["data"]["eventId"]])
    c = stack.customer("ed@example.com")
    assert sorted(t.lower() for t in c["tags"]) == ["lead", "webinar"]


def test_transient_api_failure_is_retried_and_applied_once(stack):
    stack.sandbox.set_faults([{"action": "error", "status": 500, "rate": 1.0, "methods": ["POST"]}])
    eid = stack.accepted_id(stack.post(body={"email": "fay@example.com", "name": "Fay", "note": "retry me"}))
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(c["status"] == 500 for c in stack.sandbox.calls()):
        time.sleep(0.1)
    assert any(c["status"] == 500 for c in stack.sandbox.calls()), "the fault was never hit"
    stack.sandbox.set_faults([])
    events = stack.wait_for([eid], timeout=60)
    assert int(events[eid].get("failures") or 0) >= 1
    c = stack.customer("fay@example.com")
    assert c["notes"].count("retry me") == 1
    ok_creates = [x for x in stack.sandbox.calls() if x["method"] == "POST" and x["status"] == 201]
    assert len(ok_creates) == 1


def test_event_api_shows_trace_changes_and_calls(stack):
    eid = stack.accepted_id(stack.post(body={"email": "gus@example.com", "name": "Gus", "plan": "team"}))
    stack.wait_for([eid])
    unauth = stack.http.get(f"/events/{eid}")
    assert unauth.status_code == 401
    resp = stack.http.get(f"/events/{eid}", headers={"Authorization": "Bearer test-admin"})
    assert resp.status_code == 200
    ev = resp.get_json()["data"]
    assert ev["status"] == "done"
    assert ev["matched"] == ["lead", "json-details"]
    assert ev["changes"][0]["action"] == "created"
    assert [c["method"] for c in ev["calls"]] == ["POST"]  # a new person: created first, no search (issue 15)
    assert isinstance(ev["trace"], list) and ev["trace"]
