"""Properties: evaluation never raises on arbitrary JSON payloads, its result is JSON, and a computed
change, once applied, leaves nothing more to do."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import EXAMPLES_DIR, apply_change, compute_change, evaluate, load_ruleset
from tests.rules.support import NOW, ruleset

KEYS = ["email", "name", "first_name", "score", "seats", "company", "fields", "items", "form_name", "form_id",
        "tags", "consent", "newsletter", "company_size", "message", "x", "survey", "lead_source", "opted_out"]

scalars = (st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30)
           | st.sampled_from(["ana@example.com", " A@B.co ", "yes", "off", "12", "1,000", "5000+", "{{ 7*7 }}",
                              "{% for x in range(9) %}{% endfor %}", "demo", "NPS", "nan", "", "  "]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5),
                           max_leaves=20)
payloads = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), json_values, max_size=8)
events = st.fixed_dictionaries({
    "id": st.text(max_size=8), "source": st.sampled_from(["typeform", "zapier", "webflow", "tally", "x"]) | scalars,
    "type": st.sampled_from(["form.submitted", "survey.responded", "email.unsubscribed"]) | scalars,
    "received_at": st.sampled_from(["2025-01-01T00:00:00Z", "yesterday"]) | scalars,
    "data": payloads | json_values,
})
customers = st.fixed_dictionaries({
    "email": st.just("ana@example.com"), "name": st.text(max_size=10),
    "tags": st.lists(st.sampled_from(["vip", "VIP", "lead", "newsletter", "enterprise", "churned"]) | st.text(max_size=6),
                     max_size=5),
    "notes": st.none() | st.text(max_size=20),
    "metadata": st.dictionaries(st.sampled_from(["plan", "seats", "lead_score", "trial_ends"]), json_values, max_size=3),
}, optional={"status": st.sampled_from(["active", "inactive"]), "sentiment": st.sampled_from(["neutral", "negative"])})

EVERYTHING = ruleset("""
    version: 1
    lists:
      words: [a, "1", 2]
    conditions:
      named: {any: [{field: data.x, op: exists}, {field: customer.tags, op: has_any, value: [vip]}]}
    rules:
      - id: every-operator
        vars:
          domain: "{{ data.email | email_domain }}"
          seats: "{{ data.seats | int }}"
        if:
          any:
            - {ref: named}
            - {field: data.x, op: not_exists}
            - {field: data.x, op: empty}
            - {field: data.x, op: not_empty}
            - {field: data.x, op: eq, value: a}
            - {field: data.x, op: eq, value: 3}
            - {field: data.x, op: eq, value: true}
            - {field: data.x, op: ne, value: a}
            - {field: data.x, op: in, list: words}
            - {field: data.x, op: not_in, value: [1, b, false]}
            - {field: data.x, op: contains, value: a}
            - {field: data.x, op: not_contains, value: [a, 1]}
            - {field: data.x, op: starts_with, value: a}
            - {field: data.x, op: ends_with, list: words, case_sensitive: true}
            - {field: data.x, op: matches, value: '^(a|b)+$'}
            - {field: data.x, op: gt, value: 1}
            - {field: data.x, op: gte, value: 1.5}
            - {field: data.x, op: lt, value: -1}
            - {field: data.x, op: lte, value: 0}
            - {field: data.x, op: between, value: [0, 10]}
            - {field: data.x, op: is_true}
            - {field: data.x, op: is_false}
            - {field: data.x, op: has_any, value: [a]}
            - {field: data.x, op: has_all, list: words}
            - {field: data.x, op: has_none, value: [a]}
            - {field: data.items.0, op: exists}
            - {field: vars.domain, op: ends_with, value: example.com}
            - {field: customer.metadata.plan, op: eq, value: pro}
        customer: {email: "{{ data.email }}", name: "{{ data.name | default(data.first_name) }}"}
        actions:
          - add_tags: ["{{ data.x }}", "t-{{ data.score | int(default=0) }}", fixed]
          - remove_tags: ["{{ data.company }}", VIP, churned]
          - set_metadata: {x: "{{ data.x }}", seats: "{{ vars.seats }}", items: "{{ data.items }}", all: "{{ data }}"}
          - remove_metadata: [trial_ends]
          - add_note: "{{ data.message | default('-') | truncate(50) }} {{ data.fields.a.b }} {{ now | date }}"
          - set_status: "{{ data.x }}"
          - set_sentiment: negative
          - set_name: "{{ data.name | title }}"
          - if: {field: customer.tags, op: has_all, value: [vip, lead]}
            add_note: "{{ customer.name }} {{ customer.metadata | default('') }}"
      - id: other-customer
        customer: {email: "{{ data.company }}", create: false}
        actions: [{add_tags: [company]}]
""")
EXAMPLES = load_ruleset([EXAMPLES_DIR])
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(event=events, customer=st.none() | customers)
def test_evaluation_never_raises_and_its_result_is_json(event: dict[str, Any], customer: dict[str, Any] | None) -> None:
    known = {"ana@example.com": customer} if customer else None
    for rules in (EVERYTHING, EXAMPLES):
        evaluation = evaluate(rules, event, known, now=NOW)
        json.dumps(evaluation.to_dict(), allow_nan=False)
        for plan in evaluation.plans:
            added = {t.casefold() for t in plan.add_tags}
            assert not added & {t.casefold() for t in plan.remove_tags}
            assert set(plan.set_metadata).isdisjoint(plan.remove_metadata)


@SETTINGS
@given(event=events, customer=customers)
def test_an_applied_change_leaves_nothing_to_do(event: dict[str, Any], customer: dict[str, Any]) -> None:
    event = {**event, "data": {**(event["data"] if isinstance(event["data"], dict) else {}), "email": "ana@example.com"}}
    evaluation = evaluate(EVERYTHING, event, {"ana@example.com": customer}, now=NOW)
    for plan in evaluation.plans:
        current = customer if plan.key == "ana@example.com" else None
        change = compute_change(plan, current, exists=current is not None, note_marker="evt")
        after = apply_change(current, change)
        if after is None:
            assert not plan.create
            continue
        again = compute_change(plan, after, exists=True, note_marker="evt")
        assert again.is_empty, (plan, after, again)
        tags = {t.casefold() for t in after["tags"]}
        assert {t.casefold() for t in plan.add_tags} <= tags
        assert not tags & {t.casefold() for t in plan.remove_tags}


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=300))
def test_linting_arbitrary_text_never_raises(text: str) -> None:
    from rules.lint import build

    build([("fuzz.yaml", text)])
    build([("fuzz.yaml", "version: 1\nrules:\n  - id: r\n    if: " + text + "\n    actions: [{add_tags: [a]}]\n")])
