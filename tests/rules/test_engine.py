"""Evaluation: every action, merging across rules into one plan per customer, stop, when, the
customer email, and the trace."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rules import CustomerPlan, evaluate
from tests.rules.support import NOW, event, ruleset, run


def one_rule(actions: str, extra: str = "") -> str:
    return f"""
        version: 1
        rules:
          - id: r
            {extra}
            actions:
{actions}
        """


ACTIONS = [
    ("add_tags", "              - add_tags: [lead, 'src-{{ event.source }}']",
     {"add_tags": ("lead", "src-typeform")}),
    ("add_tags given one text", "              - add_tags: lead", {"add_tags": ("lead",)}),
    ("add_tags repeated in other case keeps the first spelling", "              - add_tags: [Lead, lead, LEAD]",
     {"add_tags": ("Lead",)}),
    ("remove_tags", "              - remove_tags: [churned]", {"remove_tags": ("churned",)}),
    ("set_metadata", "              - set_metadata: {plan: pro, seats: '{{ data.seats | int }}'}",
     {"set_metadata": {"plan": "pro", "seats": 5}}),
    ("remove_metadata", "              - remove_metadata: [trial_ends, coupon]",
     {"remove_metadata": ("trial_ends", "coupon")}),
    ("add_note", "              - add_note: 'Signed up via {{ event.source }}'",
     {"notes": ("Signed up via typeform",)}),
    ("add_note twice appends in order", "              - add_note: one\n              - add_note: two",
     {"notes": ("one", "two")}),
    ("set_status", "              - set_status: inactive", {"fields": {"status": "inactive"}}),
    ("set_sentiment", "              - set_sentiment: negative", {"fields": {"sentiment": "negative"}}),
    ("set_name", "              - set_name: '{{ data.first }} {{ data.last }}'", {"fields": {"name": "Ana Lima"}}),
    ("set_status from a template", "              - set_status: '{{ data.state }}'", {"fields": {"status": "inactive"}}),
]


@pytest.mark.parametrize(("actions", "expected"), [a[1:] for a in ACTIONS], ids=[a[0] for a in ACTIONS])
def test_each_action_lands_in_the_plan(actions: str, expected: dict[str, Any]) -> None:
    data = {"seats": "5", "first": "Ana", "last": "Lima", "state": "inactive"}
    [plan] = run(one_rule(actions), data).plans
    empty = CustomerPlan(email="", key="", name=None, create=False)
    for field in ("add_tags", "remove_tags", "notes", "set_metadata", "remove_metadata", "fields"):
        assert getattr(plan, field) == expected.get(field, getattr(empty, field)), field


SKIPS = [
    ("a status that renders outside the enum", "              - set_status: '{{ data.state }}'", {"state": "gone"},
     "'gone' is not one of active, inactive"),
    ("a tag that renders with a comma", "              - add_tags: ['{{ data.state }}']", {"state": "a,b"},
     "tag 'a,b' contains a comma"),
    ("a tag that renders empty", "              - add_tags: ['{{ data.state }}']", {"state": "  "}, "the tag is empty"),
    ("a note that renders empty", "              - add_note: '{{ data.state }}'", {"state": ""}, "the add_note is empty"),
    ("a name from a missing field", "              - set_name: '{{ data.full_name }}'", {}, "data.full_name is missing"),
]


@pytest.mark.parametrize(("actions", "data", "reason"), [s[1:] for s in SKIPS], ids=[s[0] for s in SKIPS])
def test_an_action_whose_value_is_unusable_is_skipped_with_the_reason(actions: str, data: dict[str, Any],
                                                                      reason: str) -> None:
    evaluation = run(one_rule(actions), data)
    assert evaluation.trace[0]["actions"][0]["skipped"] == reason
    assert evaluation.plans[0].is_empty is False  # the rule still matched and may create the customer
    assert evaluation.plans[0].fields == {} and evaluation.plans[0].add_tags == () and evaluation.plans[0].notes == ()


def test_an_action_if_is_evaluated_on_the_same_snapshot() -> None:
    evaluation = run(one_rule("""              - add_tags: [lead]
              - if: {field: customer.tags, op: has_any, value: [vip]}
                add_tags: [expansion]
              - if: {field: data.score, op: gte, value: 9}
                add_tags: [promoter]"""), {"score": "10"},
        customers={"Ana@Example.com ": {"email": "ana@example.com", "tags": ["lead"]}})
    assert evaluation.plans[0].add_tags == ("lead", "promoter")
    assert evaluation.trace[0]["actions"][1]["skipped"] == "its if: did not pass"
    assert evaluation.trace[0]["actions"][1]["if"]["reason"] == "['lead'] has none of ['vip']"


MERGE = """
    version: 1
    rules:
      - id: first
        actions:
          - add_tags: [VIP, lead]
          - set_status: active
          - set_metadata: {plan: free, seats: 1}
          - add_note: from first
      - id: second
        actions:
          - remove_tags: [vip]
          - add_tags: [Lead, partner]
          - set_status: inactive
          - set_metadata: {plan: pro}
          - remove_metadata: [seats]
          - add_note: from second
"""


def test_matches_merge_in_rule_order_into_one_plan_per_customer() -> None:
    evaluation = run(MERGE)
    assert evaluation.matched == ("first", "second")
    [plan] = evaluation.plans
    assert plan.add_tags == ("lead", "partner")
    assert plan.remove_tags == ("VIP",)
    assert plan.fields == {"status": "inactive"}
    assert plan.set_metadata == {"plan": "pro"}
    assert plan.remove_metadata == ("seats",)
    assert plan.notes == ("from first", "from second")
    assert plan.rules == ("first", "second")


def test_the_trace_records_every_override_by_a_later_rule() -> None:
    overrides = run(MERGE).trace[1]["overrides"]
    assert overrides == [
        {"tag": "VIP", "by_rule": "first", "was": "add", "now": "remove"},
        {"field": "status", "by_rule": "first", "was": "active", "now": "inactive"},
        {"metadata": "plan", "by_rule": "first", "was": "free", "now": "pro"},
        {"metadata": "seats", "by_rule": "first", "was": 1, "now": "<removed>"},
    ]


def test_stop_ends_evaluation_after_the_rule_that_matched() -> None:
    text = """
        version: 1
        rules:
          - id: not-matching-stopper
            if: {field: data.x, op: exists}
            actions: [{add_tags: [a]}]
            stop: true
          - id: stopper
            actions: [{add_tags: [b]}]
            stop: true
          - id: after
            actions: [{add_tags: [c]}]
        """
    evaluation = run(text)
    assert evaluation.matched == ("stopper",)
    assert evaluation.plans[0].add_tags == ("b",)
    assert [t.get("skipped") for t in evaluation.trace] == [None, None, "stopped by rule 'stopper'"]
    assert evaluation.trace[1]["stop"] is True


WHEN = [
    ("a matching source and type", "{source: [TypeForm, tally], type: form.submitted}", True, None),
    ("another source", "{source: webflow}", False, "when: source 'typeform' is not one of ['webflow']"),
    ("another type", "{type: [survey.responded]}", False, "when: type 'form.submitted' is not one of ['survey.responded']"),
    ("no filter", "{}", True, None),
]


@pytest.mark.parametrize(("when", "matched", "skipped"), [w[1:] for w in WHEN], ids=[w[0] for w in WHEN])
def test_when_filters_by_source_and_type(when: str, matched: bool, skipped: str | None) -> None:
    evaluation = run(one_rule("              - add_tags: [a]", f"when: {when}"))
    assert bool(evaluation.matched) is matched
    assert evaluation.trace[0].get("skipped") == skipped


def test_a_disabled_rule_is_skipped() -> None:
    evaluation = run(one_rule("              - add_tags: [a]", "enabled: false"))
    assert evaluation.matched == ()
    assert evaluation.trace[0]["skipped"] == "disabled"


EMAILS = [
    ("missing", {"email": None}, "customer email: data.email is missing"),
    ("blank", {"email": "   "}, "customer email is empty"),
    ("not an address", {"email": "ana at example"}, "customer email 'ana at example' is not an email address"),
    ("a number", {"email": 42}, "customer email is not text: 42"),
    ("a NUL inside", {"email": "ana\x00@example.com"},
     "customer email 'ana\\x00@example.com' holds a control or invisible character: not an email address"),
    ("an escape at the end", {"email": "ana@example.com\x1b"},
     "customer email 'ana@example.com\\x1b' holds a control or invisible character: not an email address"),
    ("a control character trimming would hide", {"email": "ana@example.com\x1f"},
     "customer email 'ana@example.com' holds a control or invisible character: not an email address"),
    ("a zero-width space", {"email": "ana\u200b@example.com"},
     "customer email 'ana\\u200b@example.com' holds a control or invisible character: not an email address"),
]


@pytest.mark.parametrize(("data", "skipped"), [e[1:] for e in EMAILS], ids=[e[0] for e in EMAILS])
def test_a_rule_whose_customer_email_is_unusable_is_skipped(data: dict[str, Any], skipped: str) -> None:
    evaluation = run(one_rule("              - add_tags: [a]"), data)
    assert evaluation.matched == ()
    assert evaluation.plans == ()
    assert evaluation.trace[0]["skipped"] == skipped


def test_default_customer_reads_data_email_and_name_and_falls_back_to_the_local_part() -> None:
    [named] = run(one_rule("              - add_tags: [a]"), {"email": " Ana.Lima@Example.com ", "name": " Ana "}).plans
    [nameless] = run(one_rule("              - add_tags: [a]"), {"email": "sam.lee@example.com"}).plans
    assert (named.email, named.key, named.name, named.create) == ("Ana.Lima@Example.com", "ana.lima@example.com", "Ana", True)
    assert (nameless.name, nameless.create) == ("sam.lee", True)


def test_a_rule_may_target_another_customer_and_plans_keep_first_match_order() -> None:
    evaluation = run("""
        version: 1
        rules:
          - id: referrer
            customer: {email: "{{ data.referrer }}", create: false}
            actions: [{add_tags: [referred-someone]}]
          - id: person
            actions: [{add_tags: [signed-up]}]
          - id: referrer-again
            customer: {email: "{{ data.referrer | upper }}", create: false}
            actions: [{add_note: "Referred {{ data.email }}"}]
        """, {"referrer": "Bo@Example.com"})
    assert [(p.key, p.create, p.name) for p in evaluation.plans] == [
        ("bo@example.com", False, None), ("ana@example.com", True, "ana")]
    assert evaluation.plans[0].rules == ("referrer", "referrer-again")
    assert evaluation.plans[0].notes == ("Referred ana@example.com",)


def test_create_is_allowed_when_any_contributing_rule_allows_it() -> None:
    evaluation = run("""
        version: 1
        rules:
          - id: no-create
            customer: {create: false}
            actions: [{add_tags: [a]}]
          - id: create
            actions: [{add_tags: [b]}]
        """)
    assert evaluation.plans[0].create is True


def test_vars_are_rendered_in_order_and_a_missing_var_stays_missing() -> None:
    evaluation = run("""
        version: 1
        rules:
          - id: r
            vars:
              domain: "{{ data.email | email_domain }}"
              label: "{{ vars.domain | upper }}"
              company: "{{ data.company }}"
            if: {field: vars.company, op: not_exists}
            customer: {email: "{{ data.email }}", name: "{{ vars.label }}"}
            actions: [{add_note: "{{ vars.domain }}"}]
        """)
    assert evaluation.trace[0]["vars"] == {"domain": "example.com", "label": "EXAMPLE.COM",
                                           "company": {"missing": "data.company is missing"}}
    assert evaluation.plans[0].name == "EXAMPLE.COM"
    assert evaluation.plans[0].notes == ("example.com",)


def test_every_rule_sees_the_customer_as_read_not_as_changed_by_earlier_rules() -> None:
    evaluation = run("""
        version: 1
        rules:
          - id: tagger
            actions: [{add_tags: [vip]}]
          - id: reader
            if: {field: customer.tags, op: has_any, value: [vip]}
            actions: [{add_note: saw vip}]
        """, customers={"ana@example.com": {"email": "ana@example.com", "tags": []}})
    assert evaluation.matched == ("tagger",)


def test_needs_customer_is_true_only_when_a_condition_or_template_reads_customer() -> None:
    assert ruleset(one_rule("              - add_tags: [a]")).needs_customer is False
    assert ruleset(one_rule("              - add_note: '{{ customer.name | default(\"?\") }}'")).needs_customer is True
    assert ruleset(one_rule("              - if: {field: customer.tags, op: empty}\n"
                            "                add_tags: [a]")).needs_customer is True
    assert ruleset(one_rule("              - add_tags: [a]", "if: {field: customer.status, op: eq, value: active}")
                   ).needs_customer is True
    disabled = one_rule("              - add_tags: [a]", "enabled: false\n            if: {field: customer, op: exists}")
    assert ruleset(disabled).needs_customer is False


def test_the_evaluation_is_json_serializable() -> None:
    evaluation = run(MERGE, {"weird": float("nan"), "nested": {"deep": [1, {"x": None}]}})
    text = json.dumps(evaluation.to_dict())
    assert json.loads(text)["matched"] == ["first", "second"]


def test_an_event_without_data_or_source_is_evaluated_not_rejected() -> None:
    rules = ruleset(one_rule("              - add_tags: [a]", "when: {source: typeform}"))
    assert evaluate(rules, {}, now=NOW).matched == ()
    assert evaluate(rules, {"source": 3, "data": "text"}, now=NOW).matched == ()
    assert evaluate(rules, event({"email": "a@b.c"}), now=NOW).matched == ("r",)


def test_customers_to_read_lists_who_the_rules_would_read_even_when_nothing_matched() -> None:
    text = """
        version: 1
        rules:
          - id: vip-only
            if: {field: customer.tags, op: has_any, value: [vip]}
            actions: [{add_tags: [seen]}]
          - id: referrer
            customer: {email: "{{ data.referrer }}"}
            actions: [{add_note: "{{ customer.name | default('someone') }} referred"}]
          - id: blind
            actions: [{add_tags: [x]}]
        """
    first = run(text, {"referrer": "Bo@Example.com"})
    assert first.customers_to_read == ("ana@example.com", "bo@example.com")
    assert first.matched == ("referrer", "blind")
    second = run(text, {"referrer": "Bo@Example.com"}, customers={"ana@example.com": {"tags": ["VIP"]}})
    assert second.matched == ("vip-only", "referrer", "blind")


READS = [
    ("all: a failing data test settles it without the customer",
     "if: {all: [{field: data.kind, op: eq, value: vip}, {field: customer.tags, op: has_any, value: [vip]}]}",
     "add_note: vip", {"kind": "meta"}, False),
    ("all: a passing data test leaves it to the customer",
     "if: {all: [{field: data.kind, op: eq, value: vip}, {field: customer.tags, op: has_any, value: [vip]}]}",
     "add_note: vip", {"kind": "vip"}, True),
    ("any: a passing data test settles it",
     "if: {any: [{field: data.kind, op: eq, value: open}, {field: customer.status, op: eq, value: active}]}",
     "add_tags: [x]", {"kind": "open"}, False),
    ("any: a failing data test leaves it to the customer",
     "if: {any: [{field: data.kind, op: eq, value: open}, {field: customer.status, op: eq, value: active}]}",
     "add_tags: [x]", {"kind": "closed"}, True),
    ("not: an open customer test stays open",
     "if: {not: {field: customer.tags, op: has_any, value: [vip]}}", "add_tags: [x]", {}, True),
    ("a matching rule whose action reads the customer",
     "if: {field: data.kind, op: eq, value: greet}", "add_note: \"Hi {{ customer.name | default('you') }}\"",
     {"kind": "greet"}, True),
    ("a rule that cannot match, whose action reads the customer",
     "if: {field: data.kind, op: eq, value: greet}", "add_note: \"Hi {{ customer.name | default('you') }}\"",
     {"kind": "other"}, False),
    ("a rule that reads nothing of the customer", "if: {field: data.kind, op: exists}", "add_tags: [x]",
     {"kind": "x"}, False),
]


@pytest.mark.parametrize(("condition", "action", "data", "read"), [r[1:] for r in READS], ids=[r[0] for r in READS])
def test_customers_to_read_only_when_the_customer_could_change_the_outcome(condition: str, action: str,
                                                                           data: dict[str, Any], read: bool) -> None:
    rules = ruleset(f"""
        version: 1
        rules:
          - id: r
            {condition}
            actions:
              - {action}
        """)
    expected = ("ana@example.com",) if read else ()
    assert evaluate(rules, event(data), now=NOW).customers_to_read == expected
