"""The fast path: rules indexed by `when` and by a required equality test, conditions as short-circuit
closures with per-event memos, templates rendered once per event, and the trace worded on read.

None of it may change a result: the verdicts must agree with the trace (which evaluates every
condition in full), and nothing that differs between rules (vars, the customer) may be shared.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import evaluate
from tests.rules.support import NOW, event, ruleset

INDEXED = ruleset("""
    version: 1
    lists:
      free: [gmail.com, yahoo.com]
      sizes: ["1-9", "10-49"]
    conditions:
      has_email: {field: data.email, op: matches, value: '^[^@]+@[^@]+$'}
      small: {field: data.size, op: in, list: sizes}
    rules:
      - id: keyed-eq
        when: {source: typeform}
        if: {all: [{ref: has_email}, {field: data.plan, op: eq, value: Pro}, {field: data.seats, op: gte, value: 5}]}
        actions: [{add_tags: [pro]}]
      - id: keyed-in-ref
        if: {all: [{ref: small}, {not: {field: data.email, op: ends_with, list: free}}]}
        actions: [{add_tags: [small]}]
      - id: keyed-case-sensitive
        if: {all: [{field: data.plan, op: eq, value: Pro, case_sensitive: true}]}
        actions: [{add_tags: [exact]}]
      - id: numeric-not-keyed
        if: {field: data.plan, op: in, value: [1, "2"]}
        actions: [{add_tags: [numeric]}]
      - id: any-not-keyed
        if: {any: [{field: data.plan, op: eq, value: pro}, {field: customer.tags, op: has_any, value: [vip]}]}
        actions:
          - add_tags: [any]
          - if: {field: customer.tags, op: has_any, value: [vip]}
            add_note: "vip {{ customer.name | default('?') }}"
      - id: disabled
        enabled: false
        actions: [{add_tags: [never]}]
      - id: stopper
        when: {type: stop.now}
        if: {field: data.plan, op: eq, value: pro}
        actions: [{add_tags: [stopped]}]
        stop: true
      - id: after-stop
        if: {field: data.plan, op: eq, value: pro}
        actions: [{add_tags: [after]}]
    """)

values = st.sampled_from([None, True, 1, 5, 5.0, "5", " pro ", "Pro", "PRO", "1", "2", "1-9", " 10-49", "5000+",
                          "x@gmail.com", "ana@corp.com", "bad", "", [1], {"a": 1}, float("inf")])
datas = st.dictionaries(st.sampled_from(["email", "plan", "seats", "size"]), values, max_size=4)
customer_states = st.none() | st.fixed_dictionaries({"name": st.sampled_from(["Ana", ""]),
                                                     "tags": st.lists(st.sampled_from(["vip", "VIP", "x"]))})


def _passed(entry: dict[str, Any]) -> bool | None:
    conditions = entry.get("conditions")
    return None if conditions is None else conditions["passed"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=datas, source=st.sampled_from(["typeform", "tally"]), type_=st.sampled_from(["form", "stop.now"]),
       customer=customer_states)
def test_the_fast_verdicts_agree_with_the_full_trace(data: dict[str, Any], source: str, type_: str,
                                                     customer: dict[str, Any] | None) -> None:
    email = data.get("email")
    key = email.strip().lower() if isinstance(email, str) else ""
    evaluation = evaluate(INDEXED, {"source": source, "type": type_, "data": data},
                          {key: customer} if customer is not None and key else None, now=NOW)
    for entry in evaluation.trace:
        if "skipped" in entry:
            assert not entry["matched"]
            continue
        passed = _passed(entry)
        assert entry["matched"] == (True if passed is None else passed), entry
        assert (entry["rule"] in evaluation.matched) == entry["matched"]
    assert list(evaluation.matched) == [e["rule"] for e in evaluation.trace if e["matched"]]


def test_a_rule_the_index_rules_out_still_shows_every_condition() -> None:
    evaluation = evaluate(INDEXED, event({"plan": "basic", "seats": 9}), now=NOW)
    entry = next(e for e in evaluation.trace if e["rule"] == "keyed-eq")
    assert entry["matched"] is False and entry["customer"] == "ana@example.com"
    assert [c["passed"] for c in entry["conditions"]["all"]] == [True, False, True]
    assert entry["conditions"]["all"][1]["reason"] == "'basic' does not equal 'Pro'"


def test_the_index_compares_as_the_operators_do() -> None:
    # trimmed and case-folded unless case_sensitive; a number is text for a text value; a list never matches
    for plan, expected in ((" pro ", {"keyed-eq", "any-not-keyed", "after-stop"}),
                           ("Pro", {"keyed-eq", "keyed-case-sensitive", "any-not-keyed", "after-stop"}),
                           (["Pro"], set()), (2, {"numeric-not-keyed"})):
        matched = set(evaluate(INDEXED, event({"plan": plan, "seats": 5}), now=NOW).matched)
        assert matched == expected, plan


def test_rules_for_other_sources_and_after_a_stop_are_not_evaluated() -> None:
    assert INDEXED.index.candidates("zapier", "stop.now") == (1, 2, 3, 4, 6, 7)
    evaluation = evaluate(INDEXED, event({"plan": "pro"}, source="zapier", type="stop.now"), now=NOW)
    skipped = {e["rule"]: e.get("skipped") for e in evaluation.trace}
    assert skipped["keyed-eq"] == "when: source 'zapier' is not one of ['typeform']"
    assert skipped["disabled"] == "disabled"
    assert skipped["after-stop"] == "stopped by rule 'stopper'"
    assert evaluation.matched == ("any-not-keyed", "stopper")


def test_leaves_reading_vars_are_not_shared_between_rules() -> None:
    # the two leaves are identical (one object after compiling): only the vars differ
    rules = ruleset("""
        version: 1
        rules:
          - id: from-a
            vars: {x: "{{ data.a }}"}
            if: {field: vars.x, op: eq, value: "1"}
            actions: [{add_tags: [a]}]
          - id: from-b
            vars: {x: "{{ data.b }}"}
            if: {field: vars.x, op: eq, value: "1"}
            actions: [{add_tags: [b]}]
        """)
    assert evaluate(rules, event({"a": "1", "b": "2"}), now=NOW).matched == ("from-a",)
    assert evaluate(rules, event({"a": "2", "b": "1"}), now=NOW).matched == ("from-b",)


def test_leaves_and_templates_reading_the_customer_are_not_shared_between_customers() -> None:
    rules = ruleset("""
        version: 1
        rules:
          - id: first
            customer: {email: "{{ data.first }}"}
            if: {field: customer.tags, op: has_any, value: [vip]}
            actions: [{add_note: "hello {{ customer.name }}"}]
          - id: second
            customer: {email: "{{ data.second }}"}
            if: {field: customer.tags, op: has_any, value: [vip]}
            actions: [{add_note: "hello {{ customer.name }}"}]
        """)
    customers = {"a@x.io": {"name": "Ana", "tags": ["vip"]}, "b@x.io": {"name": "Bo", "tags": ["VIP"]},
                 "c@x.io": {"name": "Cy", "tags": []}}
    evaluation = evaluate(rules, event({"first": "a@x.io", "second": "b@x.io"}), customers, now=NOW)
    assert [p.notes for p in evaluation.plans] == [("hello Ana",), ("hello Bo",)]
    evaluation = evaluate(rules, event({"first": "c@x.io", "second": "a@x.io"}), customers, now=NOW)
    assert evaluation.matched == ("second",) and evaluation.plans[0].notes == ("hello Ana",)


def test_a_template_shared_by_rules_that_fails_fails_for_each() -> None:
    rules = ruleset("""
        version: 1
        rules:
          - id: one
            actions: [{set_metadata: {n: "{{ data.n | int }}"}}, {add_tags: [one]}]
          - id: two
            actions: [{set_metadata: {n: "{{ data.n | int }}"}}, {add_tags: [two]}]
        """)
    evaluation = evaluate(rules, event({"n": "many"}), now=NOW)
    reasons = [e["actions"][0]["skipped"] for e in evaluation.trace]
    assert reasons == ["cannot convert 'many' to int"] * 2
    assert evaluation.plans[0].set_metadata == {} and evaluation.plans[0].add_tags == ("one", "two")


def test_constant_actions_are_checked_once_and_still_traced() -> None:
    rules = ruleset("""
        version: 1
        rules:
          - id: fixed
            actions: [{add_tags: [lead, vip]}, {set_status: active}, {set_metadata: {tier: 2}}]
        """)
    for _ in range(2):
        evaluation = evaluate(rules, event(), now=NOW)
        assert [a["value"] for a in evaluation.trace[0]["actions"]] == [["lead", "vip"], "active", {"tier": 2}]
        assert evaluation.plans[0].set_metadata == {"tier": 2}


def test_the_trace_is_worded_once_and_kept() -> None:
    evaluation = evaluate(INDEXED, event({"plan": "pro", "seats": 5}), now=NOW)
    assert evaluation.trace is evaluation.trace
    assert evaluation.to_dict()["trace"] == evaluation.trace
