"""`combine`: several plans, one PATCH body — metadata removals survive a current state without metadata."""

from __future__ import annotations

from rules import CustomerPlan
from workers.coalesce import combine

# What the documented GET answers: no `metadata` field.
DOCUMENTED = {"id": "cus_1", "name": "Ada", "email": "ada@x.co", "status": "active", "sentiment": "neutral",
              "tags": ["lead"], "notes": "", "ticketCount": 0}


def plan(**kw):
    return CustomerPlan(email="ada@x.co", key="ada@x.co", name=None, create=False, **kw)


SET_PLAN = plan(set_metadata={"plan": "pro"})
REMOVE_TRIAL = plan(remove_metadata=("trial_ends",))


def test_a_removal_after_a_set_is_kept_when_the_state_has_no_metadata():
    body, _, after = combine(DOCUMENTED, [(None, SET_PLAN), (None, REMOVE_TRIAL)])
    assert body == {"metadata": {"plan": "pro", "trial_ends": None}}
    # the state after the write still does not claim to know the metadata: a later round keeps removals
    assert "metadata" not in after
    again, _, _ = combine(after, [(None, REMOVE_TRIAL)])
    assert again == {"metadata": {"trial_ends": None}}


def test_alone_a_removal_is_sent_as_null():
    body, _, _ = combine(DOCUMENTED, [(None, REMOVE_TRIAL)])
    assert body == {"metadata": {"trial_ends": None}}


def test_the_later_plan_wins_for_one_key():
    body, _, _ = combine(DOCUMENTED, [(None, REMOVE_TRIAL), (None, plan(set_metadata={"trial_ends": "2027"}))])
    assert body == {"metadata": {"trial_ends": "2027"}}
    body, _, _ = combine(DOCUMENTED, [(None, plan(set_metadata={"trial_ends": "2027"})), (None, REMOVE_TRIAL)])
    assert body == {"metadata": {"trial_ends": None}}


def test_known_metadata_still_sends_only_what_changes():
    current = {**DOCUMENTED, "metadata": {"plan": "pro"}}
    body, _, after = combine(current, [(None, SET_PLAN), (None, REMOVE_TRIAL), (None, plan(add_tags=("vip",)))])
    assert body == {"tags": ["lead", "vip"]}
    assert after["metadata"] == {"plan": "pro"}
