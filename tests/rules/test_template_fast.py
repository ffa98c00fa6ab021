"""Simple templates rendered by closures (rules/template_fast.py) give exactly what Jinja gives: the same
value of the same type, the same missing-field skip and the same error message, for generated
templates and scopes (missing fields, nulls, hostile values, values of the wrong shape)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rules import template_fast
from rules.errors import RenderError
from rules.template_fast import FastTemplate
from rules.templates import MAX_TEXT, Template, _to_data, compile_template

NOW = datetime(2025, 6, 1, 12, 30, tzinfo=timezone.utc)
KEYS = ["email", "name", "seats", "company", "fields", "items", "message", "0", "upper"]

# Payload values as hostile as JSON allows, and a few it does not (for the parts of the scope that are not JSON).
scalars = (st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30) | st.just(10**1300)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["ana@example.com", " A@B.co ", "12", " 12 ", "1e99999999", "-1E+99", "12.5", "1,000",
                              "nan", "", "  ", "2025-06-01T10:00:00Z", "{{ 7*7 }}", "x" * (MAX_TEXT - 3),
                              "y" * (MAX_TEXT + 1), "no-at-sign", "a@", "ünïcödé ß"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=4),
                      max_leaves=12)
records = st.fixed_dictionaries({}, optional={k: values for k in KEYS})  # fields that paths find (or not)
shaped = st.fixed_dictionaries({}, optional={**{k: values for k in KEYS}, "fields": records,
                                             "items": st.lists(records | values, max_size=3)})
scopes = st.fixed_dictionaries(
    {"event": st.dictionaries(st.sampled_from(["source", "type", "id"] + KEYS), values, max_size=4),
     "data": shaped | values,
     "vars": st.dictionaries(st.sampled_from(KEYS), values, max_size=3),
     "now": st.just(NOW) | values},
    optional={"customer": st.none() | st.dictionaries(st.sampled_from(KEYS), values, max_size=3)})

steps = st.sampled_from([".email", ".name", ".seats", ".fields", ".items", ".message", ".0", ".1", "[0]", "[2]",
                         "['email']", "['fields']", "['0']", ".upper", ".company"])
likely = st.sampled_from(["data.email", "data.name", "data.seats", "data.fields.company", "data.fields.message",
                          "data.items.0.email", "data['items'][1]['seats']", "data.items.0", "event.source", "event.id",
                          "vars.name", "customer.email", "now", "data.fields", "data.message"])
paths = likely | likely | st.builds(lambda root, rest: root + "".join(rest),
                  st.sampled_from(["data", "event", "vars", "customer", "now"]), st.lists(steps, max_size=3))
filters = st.sampled_from([
    "default('-')", "default(0)", "default('x', true)", "default()", "default(fallback='k')", "int", "int(0)",
    "float", "float(1.5)", "trim", "trim('x')", "lower", "upper", "title", "email_domain", "date",
    "date('%Y-%m')", "default(none)",
    # outside the fast subset: the whole template stays on Jinja
    "replace('a', 'b')", "join(',')", "truncate(5)"])
holes = st.builds(lambda path, chain, left, right: "{{" + left + " " + " | ".join([path, *chain]) + " " + right + "}}",
                  paths, st.lists(filters, max_size=3), st.sampled_from(["", "-"]), st.sampled_from(["", "-"]))
texts = st.sampled_from(["", " ", "Rule 1 via ", ": ", "\n", "  x  ", "{# note #}", "ü", "a\r\nb", "z" * 50])
templates = st.builds(lambda parts: "".join(parts), st.lists(holes | texts, min_size=1, max_size=5)) \
    .filter(lambda s: "{{" in s)


def outcome(render: Any, scope: dict[str, Any]) -> tuple[str, str, str]:
    """What a render gives, with its type: ('ok', type, repr) or ('error', class, message)."""
    try:
        value = render(scope)
    except RenderError as exc:
        return "error", type(exc).__name__, str(exc)
    return "ok", type(value).__name__, repr(value)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(source=templates, scope=scopes)
def test_the_fast_path_and_jinja_agree(source: str, scope: dict[str, Any]) -> None:
    template = compile_template(source)
    jinja = outcome(lambda s: Template.render(template, s), scope)
    assert outcome(template.render, scope) == jinja
    if isinstance(template, FastTemplate):  # and when the closure answers itself (no fallback), it agrees
        try:
            value = template._fast(scope)
        except Exception:  # noqa: BLE001 - it gave up: Jinja answered (checked above)
            event("closure gave up")
            return
        event(f"closure answered: {jinja[0]}")
        answered = outcome(lambda s: value if template.kind == "text" else _to_data(value, template, s), scope)
        assert answered == jinja
    else:
        event(f"{template.kind}: not a closure")


COMMON_SCOPE: dict[str, Any] = {
    "event": {"source": "tally", "id": "evt_1"}, "now": NOW, "vars": {"plan": "pro"},
    "data": {"email": " Ana@Example.COM ", "seats": "12", "ratio": 2.5, "n": 7, "yes": True, "none": None,
             "fields": {"company": " BigCo ", "message": "Hi", "score": "7"}, "items": [{"sku": "a"}, {"sku": "b"}]},
}

COMMON = [
    ("{{ data.fields.company | trim }}", "BigCo"),
    ("{{ data.seats | int }}", 12),                      # one expression keeps its type
    ("{{ data.ratio }}", 2.5),
    ("{{ data.ratio | int }}", 2),
    ("{{ data.yes | default(false) }}", True),
    ("{{ data.none | default('-') }}", "-"),             # null is missing
    ("{{ data.nothing.deeper | default(3) }}", 3),       # missing chains into default
    ("{{ data.nothing | default('x', true) }}", "x"),
    ("{{ data.email | trim | lower }}", "ana@example.com"),
    ("{{ data.email | email_domain }}", "example.com"),
    ("{{ data.items.1.sku | upper }}", "B"),
    ("{{ data.items[0]['sku'] }}", "a"),
    ("{{ data.items.5 | default('none') }}", "none"),
    ("{{ now | date('%Y-%m') }}", "2025-06"),
    ("{{ now }}", "2025-06-01T12:30:00+00:00"),
    ("{{ data.n }} seats", "7 seats"),                   # text: the value as text
    ("{{ data.ratio }}{{ data.yes }}", "2.5True"),
    ("Rule 3 via {{ event.source }}: {{ data.fields.message | default('-') }}", "Rule 3 via tally: Hi"),
    ("Rule 3 via {{ event.source }}: {{ data.fields.missing | default('-') }}", "Rule 3 via tally: -"),
    ("  {{- vars.plan | title -}}  !", "Pro!"),
    ("at {{ now }}", "at 2025-06-01T12:30:00+00:00"),
    ("{{ data.items }}", [{"sku": "a"}, {"sku": "b"}]),
]


@pytest.mark.parametrize(("source", "expected"), COMMON)
def test_common_templates_render_by_closure(source: str, expected: Any) -> None:
    template = compile_template(source)
    if template.kind != "path":  # a bare path never was Jinja's
        assert isinstance(template, FastTemplate)
        template._fast(COMMON_SCOPE)  # answered by the closure, without falling back to Jinja
    value = template.render(COMMON_SCOPE)
    assert (type(value), value) == (type(expected), expected)
    assert Template.render(template, COMMON_SCOPE) == value


@pytest.mark.parametrize("source", [
    "{{ data.email | replace('a', 'b') }}",              # a filter outside the subset
    "{{ data.n + 1 }}",                                   # an operator
    "{{ data.email.upper() }}",                           # a call
    "{% if data.n %}x{% endif %}",                        # a tag
    "{{ data.items[data.n] }}",                           # a computed key
    "{{ data.n | default(data.seats) }}",                 # an argument that is not a constant
])
def test_anything_else_stays_on_jinja(source: str) -> None:
    assert type(compile_template(source)) is Template


@pytest.mark.parametrize(("source", "scope", "error"), [
    ("{{ data.fields.seats | int }}", {"data": {"fields": {}}}, "data.fields.seats is missing"),
    ("x {{ data.a.b }}", {"data": {"a": None}}, "data.a is missing"),
    ("{{ data.seats | int }}", {"data": {"seats": "1e99999999"}}, "cannot convert '1e99999999' to int"),
    ("{{ data.email | email_domain }}", {"data": {"email": "nobody"}}, "'nobody' is not an email address"),
    ("{{ data.big }}!", {"data": {"big": "a" * MAX_TEXT}}, f"the result is longer than {MAX_TEXT} characters"),
    ("{{ data.big | upper }}", {"data": {"big": "a" * (MAX_TEXT + 1)}}, f"longer than {MAX_TEXT} characters"),
    ("{{ data.f | float }}", {"data": {"f": float("nan")}}, "cannot convert"),
    ("{{ data.f | default(0) }}", {"data": {"f": float("inf")}}, "inf is not a finite number"),
])
def test_errors_are_jinjas(source: str, scope: dict[str, Any], error: str) -> None:
    template = compile_template(source)
    assert isinstance(template, FastTemplate)
    full = {"event": {}, "vars": {}, "now": NOW, **scope}
    with pytest.raises(RenderError, match=error) as fast:
        template.render(full)
    with pytest.raises(RenderError) as jinja:
        Template.render(template, full)
    assert (type(fast.value), str(fast.value)) == (type(jinja.value), str(jinja.value))


def test_disabled_keeps_every_template_on_jinja(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template_fast, "ENABLED", False)
    assert type(compile_template.__wrapped__("{{ data.fields.company | trim }}")) is Template
