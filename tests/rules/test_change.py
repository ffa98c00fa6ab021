"""compute_change: the minimal POST/PATCH for a plan and the customer's current state."""

from __future__ import annotations

from typing import Any

import pytest

from rules import Change, CustomerPlan, PlanError, apply_change, compute_change, note_marker_present
from rules.change import NOTE_MARKER, with_note_marker


def plan(**kwargs: Any) -> CustomerPlan:
    base: dict[str, Any] = {"email": "Ana@Example.com", "key": "ana@example.com", "name": "Ana", "create": True}
    return CustomerPlan(**{**base, **kwargs})


CURRENT = {"id": "cus_1", "name": "Ana", "email": "ana@example.com", "status": "active", "sentiment": "neutral",
           "tags": ["VIP", "newsletter"], "notes": "Met at SaaStr.", "metadata": {"plan": "pro", "seats": 5}}

NEW = [
    ("a bare create", plan(), {"name": "Ana", "email": "Ana@Example.com"}, None),
    ("tags, notes and metadata go in the POST", plan(add_tags=("lead", "vip"), notes=("one", "two"),
                                                     set_metadata={"seats": 3}),
     {"name": "Ana", "email": "Ana@Example.com", "tags": ["lead", "vip"], "notes": "one\n\ntwo",
      "metadata": {"seats": 3}}, None),
    ("removals mean nothing for a new customer", plan(remove_tags=("churned",), remove_metadata=("x",)),
     {"name": "Ana", "email": "Ana@Example.com"}, None),
    ("status and sentiment go in a PATCH, only when they differ from the API's defaults",
     plan(fields={"status": "active", "sentiment": "negative"}),
     {"name": "Ana", "email": "Ana@Example.com"}, {"sentiment": "negative"}),
    ("inactive needs the PATCH too", plan(fields={"status": "inactive", "sentiment": "neutral"}),
     {"name": "Ana", "email": "Ana@Example.com"}, {"status": "inactive"}),
    ("set_name wins over the customer name", plan(fields={"name": "Ana Lima"}),
     {"name": "Ana Lima", "email": "Ana@Example.com"}, None),
    ("no name at all falls back to the local part", plan(name=None),
     {"name": "Ana", "email": "Ana@Example.com"}, None),
]


@pytest.mark.parametrize(("p", "create", "update"), [n[1:] for n in NEW], ids=[n[0] for n in NEW])
def test_a_new_customer_gets_one_post_and_maybe_a_patch(p: CustomerPlan, create: dict[str, Any],
                                                        update: dict[str, Any] | None) -> None:
    change = compute_change(p, None, exists=False)
    assert change.create == create
    assert change.update == update


def test_a_missing_customer_that_may_not_be_created_gets_nothing() -> None:
    assert compute_change(plan(create=False, add_tags=("a",)), None, exists=False) == Change()
    assert Change().is_empty


EXISTING = [
    ("nothing changes: nothing to send", plan(add_tags=("vip",), fields={"status": "active"},
                                             set_metadata={"plan": "pro"}), None, False),
    ("an added tag sends the whole list, keeping spelling and order",
     plan(add_tags=("lead", "Newsletter")), {"tags": ["VIP", "newsletter", "lead"]}, True),
    ("a removed tag matches case-insensitively", plan(remove_tags=("vip",)), {"tags": ["newsletter"]}, True),
    ("removing a tag that is not there sends nothing", plan(remove_tags=("churned",)), None, False),
    ("fields only where they differ", plan(fields={"status": "inactive", "sentiment": "neutral", "name": "ana"}),
     {"status": "inactive", "name": "ana"}, False),
    ("metadata: only keys whose value differs, null for removals that exist",
     plan(set_metadata={"plan": "pro", "seats": 6, "new": True}, remove_metadata=("gone", "plan")),
     {"metadata": {"seats": 6, "new": True, "plan": None}}, False),
    ("metadata: 1 and true are different values", plan(set_metadata={"seats": True}),
     {"metadata": {"seats": True}}, False),
    ("notes append after the current notes", plan(notes=("Demo request",)),
     {"notes": "Met at SaaStr.\n\nDemo request"}, False),
]


@pytest.mark.parametrize(("p", "update", "tags_changed"), [e[1:] for e in EXISTING], ids=[e[0] for e in EXISTING])
def test_an_existing_customer_gets_the_minimal_patch(p: CustomerPlan, update: dict[str, Any] | None,
                                                     tags_changed: bool) -> None:
    change = compute_change(p, CURRENT, exists=True)
    assert change.create is None
    assert change.update == update
    assert change.tags_changed is tags_changed
    assert change.is_empty is (update is None)


def test_current_state_without_a_metadata_key_sends_every_set_key_and_every_removal() -> None:
    current = {k: v for k, v in CURRENT.items() if k != "metadata"}
    change = compute_change(plan(set_metadata={"plan": "pro"}, remove_metadata=("x",)), current, exists=True)
    assert change.update == {"metadata": {"plan": "pro", "x": None}}


def test_empty_current_notes_are_not_prefixed_with_a_separator() -> None:
    change = compute_change(plan(notes=("a", "b")), {**CURRENT, "notes": None}, exists=True)
    assert change.update == {"notes": "a\n\nb"}
    assert change.notes_appended == ("a", "b")


def test_a_blind_update_patches_fields_and_merges_metadata_without_reading() -> None:
    p = plan(create=False, fields={"sentiment": "negative"}, set_metadata={"nps": 4}, remove_metadata=("x",))
    assert p.needs_read is False
    change = compute_change(p, None, exists=True)
    assert change.update == {"sentiment": "negative", "metadata": {"nps": 4, "x": None}}
    assert compute_change(plan(create=False), None, exists=True) == Change()


@pytest.mark.parametrize("p", [plan(add_tags=("a",)), plan(remove_tags=("a",)), plan(notes=("n",))],
                         ids=["tags to add", "tags to remove", "notes"])
def test_a_blind_update_refuses_tags_and_notes(p: CustomerPlan) -> None:
    assert p.needs_read is True
    with pytest.raises(PlanError, match="current state"):
        compute_change(p, None, exists=True)
    with pytest.raises(ValueError):
        compute_change(p, None, exists=True)


def test_the_note_marker_suffixes_each_note_and_guards_against_appending_twice() -> None:
    p = plan(notes=("Demo request", "Second"))
    first = compute_change(p, CURRENT, exists=True, note_marker="evt_1:r")
    assert first.notes_appended == ("Demo request [cstar-bridge:evt_1:r]", "Second [cstar-bridge:evt_1:r]")
    after = apply_change(CURRENT, first)
    assert after is not None and note_marker_present(after["notes"], "evt_1:r")
    again = compute_change(p, after, exists=True, note_marker="evt_1:r")
    assert again.update is None and again.notes_appended == ()
    assert compute_change(p, after, exists=True, note_marker="evt_2:r").notes_appended != ()
    assert NOTE_MARKER.format(marker="m") == "[cstar-bridge:m]"
    assert with_note_marker("x", None) == "x"
    assert note_marker_present(None, "m") is False


def test_a_new_customer_gets_the_note_marker_too() -> None:
    change = compute_change(plan(notes=("hi",)), None, exists=False, note_marker="evt_9")
    assert change.create is not None and change.create["notes"] == "hi [cstar-bridge:evt_9]"


def test_apply_change_simulates_the_api() -> None:
    created = apply_change(None, compute_change(plan(add_tags=("a",), fields={"sentiment": "positive"}), None,
                                                exists=False))
    assert created == {"name": "Ana", "email": "Ana@Example.com", "status": "active", "sentiment": "positive",
                       "tags": ["a"], "notes": "", "metadata": {}}
    updated = apply_change(CURRENT, compute_change(plan(remove_metadata=("plan",)), CURRENT, exists=True))
    assert updated is not None and updated["metadata"] == {"seats": 5}
    assert apply_change(None, Change()) is None


def test_plans_and_changes_serialize() -> None:
    p = plan(add_tags=("a",), set_metadata={"k": 1})
    assert p.to_dict()["add_tags"] == ["a"] and p.to_dict()["set_metadata"] == {"k": 1}
    assert compute_change(p, None, exists=False).to_dict() == {
        "create": {"name": "Ana", "email": "Ana@Example.com", "tags": ["a"], "metadata": {"k": 1}},
        "update": None, "tags_changed": True, "notes_appended": []}
