"""What each kind of event costs in API calls (the one resource users pay for), from the call log."""

from __future__ import annotations

import httpx
import pytest

from tests.support.stack import RULES_DIR
from workers.executor import CustomerIds

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(make_stack):
    s = make_stack(rules=[RULES_DIR / "costs.yaml"])
    s.start_worker(concurrency=1)
    return s


def calls_of(stack, body):
    eid = stack.accepted_id(stack.post(body=body))
    ev = stack.wait_for([eid])[eid]
    return [c["method"] if str(c["status"]).startswith("2") else f"{c['method']} {c['status']}"
            for c in ev["calls"]]


def create_directly(stack, email):
    """A customer that exists in cstar.help but that the bridge has never seen."""
    r = httpx.post(f"{stack.sandbox.url}/api/v1/teams/team_dev/customers", json={"email": email, "name": "Known"},
                   headers={"Authorization": "Bearer sk_test_dev"})
    assert r.status_code == 201, r.text


def test_new_customer_costs_one_create(stack):
    assert calls_of(stack, {"email": "new@costs.test", "kind": "tag", "tag": "a"}) == ["POST"]


def test_new_customer_with_tags_metadata_and_a_note_costs_one_call(stack):
    body = {"email": "full@costs.test", "name": "Ada", "kind": "full", "tag": "vip", "plan": "pro", "note": "hi"}
    assert calls_of(stack, body) == ["POST"]
    customer = stack.customer("full@costs.test")
    assert (customer["name"], customer["tags"], customer["metadata"]) == ("Ada", ["lead", "vip"], {"plan": "pro"})
    assert customer["notes"].startswith("hi [cstar-bridge:")


def test_new_customer_with_sentiment_needs_a_patch_after_create(stack):
    # The API's POST cannot set status/sentiment: one PATCH follows.
    assert calls_of(stack, {"email": "nv@costs.test", "kind": "new-vip"}) == ["POST", "PATCH"]
    assert stack.customer("nv@costs.test")["sentiment"] == "positive"


def test_customers_the_bridge_has_not_seen_switch_it_to_search_first_and_new_ones_back(stack):
    known = [f"known{i}@costs.test" for i in range(4)]
    for email in known:
        create_directly(stack, email)
    costs = [calls_of(stack, {"email": e, "kind": "meta", "plan": "pro"}) for e in known]
    # the first tries the create (a new person would cost one call); its 409 says people exist here
    assert costs[0] == ["POST 409", "GET", "PATCH"]
    assert costs[1:] == [["GET", "PATCH"]] * 3  # then search first: what every one of them cost before
    assert all(stack.customer(e)["metadata"] == {"plan": "pro"} for e in known)
    # new people: searched first while most recent misses existed, created first once most were new
    new = [calls_of(stack, {"email": f"new{i}@costs.test", "kind": "tag", "tag": "a"})
           for i in range(CustomerIds.MISS_WINDOW)]
    switch = new.index(["POST"])
    assert switch > 0 and new[:switch] == [["GET", "POST"]] * switch and set(map(tuple, new[switch:])) == {("POST",)}
    assert len(stack.customers()) == len(known) + len(new)


def test_create_false_never_creates(stack):
    # a fresh worker creates first, but not for a rule that may not create
    assert calls_of(stack, {"email": "nobody@costs.test", "kind": "update-only", "plan": "x"}) == ["GET"]
    assert not [c for c in stack.customers() if c["email"] == "nobody@costs.test"]
    create_directly(stack, "somebody@costs.test")
    assert calls_of(stack, {"email": "somebody@costs.test", "kind": "update-only", "plan": "x"}) == ["GET", "PATCH"]
    assert stack.customer("somebody@costs.test")["metadata"] == {"plan": "x"}


def test_a_create_dropped_after_it_was_applied_is_not_repeated(stack):
    stack.sandbox.set_faults([{"action": "drop_after_write", "rate": 1.0, "methods": ["POST"], "times": 1}])
    body = {"email": "dropped@costs.test", "name": "Ada", "kind": "full", "tag": "vip", "plan": "pro", "note": "once"}
    posts = [c for c in stack.sandbox.calls() if c["method"] == "POST" and c["path"].startswith("/api/")]
    # the retry creates first too: the 409 says the first POST was applied; the note is there, nothing to write
    assert calls_of(stack, body) == ["POST 409", "GET", "GET"]
    posts = [c for c in stack.sandbox.calls() if c["method"] == "POST" and c["path"].startswith("/api/")][len(posts):]
    assert [c["status"] for c in posts] == [201, 409], posts
    customer = stack.customer("dropped@costs.test")
    assert customer["notes"].count("once") == 1 and customer["tags"] == ["lead", "vip"]


def test_known_customer_costs(stack):
    calls_of(stack, {"email": "k@costs.test", "kind": "tag", "tag": "a"})
    assert calls_of(stack, {"email": "k@costs.test", "kind": "meta", "plan": "pro"}) == ["PATCH"]
    assert calls_of(stack, {"email": "k@costs.test", "kind": "tag", "tag": "b"}) == ["GET", "PATCH"]
    assert calls_of(stack, {"email": "k@costs.test", "kind": "note", "note": "hi"}) == ["GET", "PATCH"]
    # the same tag again, in a new delivery: read, and nothing to write
    assert calls_of(stack, {"email": "k@costs.test", "kind": "tag", "tag": "b", "delivery": 2}) == ["GET"]


def test_rules_that_read_the_customer_read_it_once_under_the_lock(stack):
    calls_of(stack, {"email": "v@costs.test", "kind": "new-vip"})
    # the rule reads customer.tags and appends a note: one GET serves both, then one PATCH
    assert calls_of(stack, {"email": "v@costs.test", "kind": "vip"}) == ["GET", "PATCH"]
    assert "VIP wrote again" in stack.customer("v@costs.test")["notes"]


def test_what_misses_turned_out_to_be_is_shared_by_workers_and_kept_across_restarts(make_stack):
    stack = make_stack(rules=[RULES_DIR / "costs.yaml"])
    first = stack.start_worker(concurrency=1)
    for i in range(2):
        create_directly(stack, f"seen{i}@costs.test")
        calls_of(stack, {"email": f"seen{i}@costs.test", "kind": "meta", "plan": "pro"})
    first.stop()
    stack.start_worker(concurrency=2)  # new processes: they start from the team's history, not from scratch
    create_directly(stack, "later@costs.test")
    assert calls_of(stack, {"email": "later@costs.test", "kind": "meta", "plan": "pro"}) == ["GET", "PATCH"]
