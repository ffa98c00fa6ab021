"""What each kind of event costs in API calls (the one resource users pay for), from the call log."""

from __future__ import annotations

import pytest

from tests.support.stack import RULES_DIR

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(make_stack):
    s = make_stack(rules=[RULES_DIR / "costs.yaml"])
    s.start_worker(concurrency=1)
    return s


def calls_of(stack, body):
    eid = stack.accepted_id(stack.post(body=body))
    ev = stack.wait_for([eid])[eid]
    return [c["method"] for c in ev["calls"]]


def test_new_customer_costs_a_search_and_a_create(stack):
    assert calls_of(stack, {"email": "new@costs.test", "kind": "tag", "tag": "a"}) == ["GET", "POST"]


def test_new_customer_with_sentiment_needs_a_patch_after_create(stack):
    # The API's POST cannot set status/sentiment: one PATCH follows.
    assert calls_of(stack, {"email": "nv@costs.test", "kind": "new-vip"}) == ["GET", "POST", "PATCH"]
    assert stack.customer("nv@costs.test")["sentiment"] == "positive"


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
