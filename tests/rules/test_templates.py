"""Templates: typed single expressions, missing fields skip the action, the sandbox holds, payload
text stays data, mapping keys win over attributes, and each filter does what the docs say."""

from __future__ import annotations

from typing import Any

import pytest

from rules.errors import MissingField, RenderFailed, TemplateInvalid
from rules.templates import ROOTS, compile_template
from tests.rules.support import NOW, run

SCOPE: dict[str, Any] = {
    "event": {"id": "evt_1", "source": "typeform", "type": "form.submitted", "received_at": "2025-06-01T12:00:00Z"},
    "data": {"email": " Ana@Example.COM ", "name": "ana lima", "seats": "12", "ratio": "0.5", "items": [1, 2],
             "fields": {"company": " BigCo "}, "blank": "  ", "nothing": None, "flag": True,
             "inject": "{{ 7*7 }}", "tags": ["a", "b"], "ts": 1717243200},
    "vars": {"domain": "example.com"},
    "customer": {"name": "Ana", "tags": ["vip"], "metadata": {"plan": "pro"}},
    "now": NOW,
}

RENDERS = [
    ("plain text is a constant", "hello", "hello"),
    ("one expression keeps its type: a number", "{{ data.seats | int }}", 12),
    ("one expression keeps its type: a float", "{{ data.ratio | float }}", 0.5),
    ("one expression keeps its type: a list", "{{ data.items }}", [1, 2]),
    ("one expression keeps its type: a mapping", "{{ data.fields }}", {"company": " BigCo "}),
    ("one expression keeps its type: a boolean", "{{ data.flag }}", True),
    ("surrounding spaces still count as one expression", "  {{ data.seats | int }} ", 12),
    ("text around an expression makes text", "{{ data.seats | int }} seats", "12 seats"),
    ("a numeric text stays text", "{{ data.seats }}", "12"),
    ("payload text is never rendered as a template", "{{ data.inject }}", "{{ 7*7 }}"),
    ("payload text inside text stays as is", "Name: {{ data.inject }}", "Name: {{ 7*7 }}"),
    ("the rule's own expression is evaluated", "{{ 7 * 6 }}", 42),
    ("mapping keys win over dict methods", "{{ data.items | join(',') }}", "1,2"),
    ("index access", "{{ data.items.1 }}", 2),
    ("bracket access means the key too", "{{ data['items'] | join('-') }}", "1-2"),
    ("bracket access on a path", "{{ data['items'][0] }}", 1),
    ("default replaces a missing field", "{{ data.missing | default('-') }}", "-"),
    ("default replaces a missing nested field", "{{ data.a.b.c | default('-') }}", "-"),
    ("default replaces null", "{{ data.nothing | default('-') }}", "-"),
    ("default replaces blank text", "{{ data.blank | default('-') }}", "-"),
    ("default keeps a value", "{{ data.seats | default('-') }}", "12"),
    ("lower", "{{ data.email | lower }}", " ana@example.com "),
    ("upper", "{{ data.name | upper }}", "ANA LIMA"),
    ("trim", "{{ data.email | trim }}", "Ana@Example.COM"),
    ("title", "{{ data.name | title }}", "Ana Lima"),
    ("join", "{{ data.tags | join(' + ') }}", "a + b"),
    ("replace", "{{ data.name | replace(' ', '-') }}", "ana-lima"),
    ("truncate", "{{ 'abcdefghijklmnopqrstuvwxyz' | truncate(10) }}", "abcdefg..."),
    ("int from text", "{{ '42' | int }}", 42),
    ("int truncates decimals", "{{ '4.9' | int }}", 4),
    ("int with a default for text", "{{ 'x' | int(default=0) }}", 0),
    ("float", "{{ '2.5' | float }}", 2.5),
    ("email_domain", "{{ data.email | email_domain }}", "example.com"),
    ("date of now", "{{ now | date('%Y-%m-%d') }}", "2025-06-01"),
    ("date of ISO text", "{{ event.received_at | date('%d/%m/%Y %H:%M') }}", "01/06/2025 12:00"),
    ("date of epoch seconds", "{{ data.ts | date }}", "2024-06-01"),
    ("now alone is ISO-8601", "{{ now }}", "2025-06-01T12:00:00+00:00"),
    ("now inside text is ISO-8601", "at {{ now }}", "at 2025-06-01T12:00:00+00:00"),
    ("vars", "{{ vars.domain }}", "example.com"),
    ("customer", "{{ customer.metadata.plan }}", "pro"),
    ("event", "{{ event.source }}/{{ event.type }}", "typeform/form.submitted"),
    ("attributes of now", "{{ now.year }}", 2025),
    ("methods of text", "{{ data.name.upper() }}", "ANA LIMA"),
    ("control structures", "{% if data.flag %}yes{% else %}no{% endif %}", "yes"),
]


@pytest.mark.parametrize(("source", "expected"), [r[1:] for r in RENDERS], ids=[r[0] for r in RENDERS])
def test_render(source: str, expected: Any) -> None:
    value = compile_template(source).render(SCOPE)
    assert value == expected
    assert type(value) is type(expected)


MISSING = [
    ("a missing key", "{{ data.company }}", "data.company is missing"),
    ("a missing nested key", "Hi {{ data.fields.owner.name }}", "data.fields.owner is missing"),
    ("a path through text", "{{ data.name.upper }}", "data.name.upper is missing"),
    ("null is missing", "{{ data.nothing }}", "data.nothing is missing"),
    ("a filter over a missing field", "{{ data.company | upper }}", "data.company is missing"),
    ("the missing one of several", "{{ data.name }} at {{ data.company }}", "data.company is missing"),
    ("an unknown customer", "{{ customer.name }}", "customer is missing"),
]


@pytest.mark.parametrize(("source", "reason"), [m[1:] for m in MISSING], ids=[m[0] for m in MISSING])
def test_reading_a_missing_field_raises_missing_field(source: str, reason: str) -> None:
    scope = {k: v for k, v in SCOPE.items() if not (k == "customer" and "customer" in source)}
    with pytest.raises(MissingField) as caught:
        compile_template(source).render(scope)
    assert caught.value.reason == reason


FAILS = [
    ("int of text that is not a number", "{{ 'abc' | int }}", "cannot convert 'abc' to int"),
    ("email_domain of text without @", "{{ data.name | email_domain }}", "'ana lima' is not an email address"),
    ("date of text that is not a date", "{{ data.name | date }}", "'ana lima' is not a date"),
    ("comparing text with a number", "{{ '3' > 2 }}", "TypeError: '>' not supported between instances of 'str' and 'int'"),
    ("a huge repeated string", "{{ 'a' * 100000 }}", "refused by the sandbox: the result of * would exceed 10000 items"),
    ("a huge power", "{{ 9 ** 999 }}", "refused by the sandbox: exponents above 100 are not allowed"),
    ("an unsafe method", "{{ data.tags.append(1) }}", "refused by the sandbox"),
    ("a result that is not data", "{{ (data.tags | join(',')).upper }}", "the result is a builtin_function_or_method, not data"),
    ("text over the size cap", "{{ 'ab' * 5000 }}{{ 'ab' * 5000 }}", "the result is longer than 10000 characters"),
]


@pytest.mark.parametrize(("source", "reason"), [f[1:] for f in FAILS], ids=[f[0] for f in FAILS])
def test_render_failures_are_render_failed(source: str, reason: str) -> None:
    with pytest.raises(RenderFailed) as caught:
        compile_template(source).render(SCOPE)
    assert caught.value.reason.startswith(reason)


INVALID = [
    ("a syntax error", "{{ data.x +", "template syntax error: unexpected 'end of template'", 1),
    ("a syntax error on line 2", "hello\n{{ data.x + }}", "template syntax error: unexpected 'end of print statement'", 2),
    ("an unknown filter", "{{ data.x | lowercase }}", "unknown filter 'lowercase' (did you mean 'lower'?)", 1),
    ("a filter left out of the sandbox", "{{ data.x | attr('y') }}", "unknown filter 'attr'", 1),
    ("an unknown root", "{{ date.x }}", "unknown template root 'date' (did you mean 'data'?)", 1),
    ("a private attribute", "{{ data.__class__ }}", "private attribute '__class__' is not accessible in templates", 1),
    ("a global that was removed", "{{ range(10) | join }}", "unknown template root 'range'", 1),
]


@pytest.mark.parametrize(("source", "message", "line"), [i[1:] for i in INVALID], ids=[i[0] for i in INVALID])
def test_invalid_templates_are_caught_at_compile_time(source: str, message: str, line: int) -> None:
    with pytest.raises(TemplateInvalid) as caught:
        compile_template(source)
    assert caught.value.message.startswith(message)
    assert caught.value.line == line


def test_roots_can_be_restricted() -> None:
    with pytest.raises(TemplateInvalid) as caught:
        compile_template("{{ customer.email }}", ("event", "data", "vars", "now"))
    assert caught.value.message == "'customer' cannot be used here; expected one of: event, data, vars, now"
    assert compile_template("{{ customer.email }}", ROOTS).roots == {"customer"}


def test_templates_know_their_roots_and_vars() -> None:
    template = compile_template("{{ vars.domain }} {{ vars['x'] }} {{ data.a | default(customer.b) }}")
    assert template.roots == {"vars", "data", "customer"}
    assert template.var_names == {"domain", "x"}


def test_a_template_reading_a_missing_field_skips_only_its_action_and_says_why() -> None:
    evaluation = run("""
        version: 1
        rules:
          - id: r
            actions:
              - set_metadata: {company: "{{ data.company }}"}
              - set_metadata: {seats: "{{ data.seats | int }}"}
              - add_note: "Company: {{ data.company | default('unknown') }}"
        """, {"seats": "7"})
    [plan] = evaluation.plans
    assert plan.set_metadata == {"seats": 7}
    assert plan.notes == ("Company: unknown",)
    actions = evaluation.trace[0]["actions"]
    assert actions[0] == {"action": "set_metadata", "line": 6, "skipped": "data.company is missing"}
    assert actions[1]["value"] == {"seats": 7}


def test_metadata_values_keep_their_types() -> None:
    evaluation = run("""
        version: 1
        rules:
          - id: r
            actions:
              - set_metadata:
                  seats: "{{ data.seats | int }}"
                  ratio: "{{ data.ratio | float }}"
                  raw: "{{ data.seats }}"
                  constant_number: 3
                  constant_list: [a, "{{ data.seats | int }}"]
                  flag: "{{ data.flag }}"
                  label: "{{ data.seats }} seats"
        """, {"seats": "12", "ratio": "0.25", "flag": False})
    assert evaluation.plans[0].set_metadata == {"seats": 12, "ratio": 0.25, "raw": "12", "constant_number": 3,
                                                "constant_list": ["a", 12], "flag": False, "label": "12 seats"}


def test_a_form_field_holding_template_syntax_stays_text_everywhere() -> None:
    evaluation = run("""
        version: 1
        rules:
          - id: r
            actions:
              - add_note: "Message: {{ data.message }}"
              - set_metadata: {message: "{{ data.message }}"}
              - add_tags: ["{{ data.message }}"]
        """, {"message": "{{ 7*7 }}{% for x in range(9**9) %}{% endfor %}", "name": "{{ data.email }}"})
    [plan] = evaluation.plans
    assert plan.notes == ("Message: {{ 7*7 }}{% for x in range(9**9) %}{% endfor %}",)
    assert plan.set_metadata == {"message": "{{ 7*7 }}{% for x in range(9**9) %}{% endfor %}"}
    assert plan.add_tags == ("{{ 7*7 }}{% for x in range(9**9) %}{% endfor %}",)
    assert plan.name == "{{ data.email }}"
