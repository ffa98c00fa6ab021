"""The trace kept as verdicts and worded when read is the trace the engine words directly.

A worker keeps `Evaluation.verdicts()` (JSON) instead of the worded trace; the event API, the console
and `events show` word it with `rules.verdicts.word_trace`. What people read must not change: every
rule's entry (matched or not, why not, each condition's value and reason, each action's outcome,
overrides, stop) must be the same, and verdicts must never be worded with another rule set.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import EXAMPLES_DIR, evaluate, load_ruleset
from rules.lint import content_fingerprint, kept_ruleset, kept_sources
from rules.verdicts import is_verdicts, word_trace
from tests.rules.support import NOW, ruleset
from tests.rules.test_indexed_evaluation import INDEXED, customer_states, datas

EXAMPLES = load_ruleset([EXAMPLES_DIR])
SOURCES = ("typeform", "tally", "zapier", "stripe", "calendly", "webflow", "jotform", "mailchimp", "unknown")
TYPES = ("form.submitted", "subscriber.unsubscribed", "nps.response", "booking.created", "invoice.paid",
         "customer.subscription.deleted", "lead", "other")


def _json(value: Any) -> Any:
    """As it comes back from Redis: JSON text decoded."""
    return json.loads(json.dumps(value, separators=(",", ":"), default=str))


def _stored_and_read(ruleset: Any, event: dict[str, Any], customers: dict[str, Any] | None,
                     now: datetime = NOW) -> tuple[Any, Any]:
    """(the trace the engine words directly, the trace worded from the kept verdicts), both as JSON."""
    evaluation = evaluate(ruleset, event, customers, now=now)
    kept = _json(evaluation.verdicts())
    assert is_verdicts(kept)
    worded = word_trace(kept, ruleset, _json(event))
    assert worded.problem is None, worded.problem
    return _json(evaluation.trace), _json(worded.trace)


example_data = st.fixed_dictionaries({}, optional={
    "email": st.sampled_from(["cto@bigco.com", "ana@gmail.com", " Pat@Example.org ", "bad", "", "x\x00@y.z"]),
    "name": st.sampled_from(["Dana", "", None]),
    "form_name": st.sampled_from(["Book a demo", "Newsletter", "Contact"]),
    "fields": st.fixed_dictionaries({}, optional={
        "company": st.sampled_from(["BigCo", " Acme ", ""]), "company_size": st.sampled_from(["5000+", "1-9", "x"]),
        "score": st.sampled_from([0, 3, 9, 10, "7", "n/a"]), "message": st.sampled_from(["hi", ""]),
        "seats": st.sampled_from(["40", 12, "many"])}),
    "score": st.sampled_from([0, 6, 9, 10, "8"]), "plan": st.sampled_from(["pro", "Free", None]),
    "tags": st.lists(st.sampled_from(["vip", "beta", "x,y"]), max_size=3),
    "amount": st.sampled_from([0, 49.5, 10000, "12"]), "status": st.sampled_from(["active", "canceled"]),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=example_data, source=st.sampled_from(SOURCES), type_=st.sampled_from(TYPES),
       customer=customer_states)
def test_the_example_rules_read_back_from_verdicts_word_the_same_trace(data: dict[str, Any], source: str,
                                                                       type_: str, customer: Any) -> None:
    email = data.get("email")
    key = email.strip().lower() if isinstance(email, str) else ""
    event = {"id": "evt_1", "source": source, "type": type_, "received_at": "2025-06-01T12:00:00Z", "data": data}
    direct, read = _stored_and_read(EXAMPLES, event, {key: customer} if customer is not None and key else None)
    assert read == direct


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=datas, source=st.sampled_from(["typeform", "tally"]), type_=st.sampled_from(["form", "stop.now"]),
       customer=customer_states)
def test_indexed_rules_stops_and_customers_read_back_the_same(data: dict[str, Any], source: str, type_: str,
                                                              customer: Any) -> None:
    email = data.get("email")
    key = email.strip().lower() if isinstance(email, str) else ""
    event = {"id": "evt_2", "source": source, "type": type_, "data": data}
    direct, read = _stored_and_read(INDEXED, event, {key: customer} if customer is not None and key else None)
    assert read == direct


def test_a_realistic_trace_with_rules_that_did_not_match_reads_back_word_for_word() -> None:
    event = {"id": "evt_3", "source": "typeform", "type": "form.submitted", "received_at": "2025-06-01T12:00:00Z",
             "data": {"email": "cto@bigco.com", "name": "Dana", "form_name": "Book a demo",
                      "fields": {"company": "BigCo", "company_size": "10-49", "message": "SSO?"}}}
    direct, read = _stored_and_read(EXAMPLES, event, {"cto@bigco.com": {"name": "Dana", "tags": ["churned"]}})
    assert read == direct
    reasons = {e["rule"]: e.get("skipped") for e in direct if not e["matched"]}
    assert any(r and r.startswith("when: source 'typeform' is not one of") for r in reasons.values())
    assert any(e["matched"] for e in direct) and any(
        "conditions" in e and not e["matched"] for e in direct), "the event must exercise failed conditions too"


def test_templates_reading_now_word_with_the_time_the_worker_saw() -> None:
    rules = ruleset("""
        version: 1
        rules:
          - id: stamp
            actions:
              - add_note: "seen {{ now }}"
              - set_metadata: {year: "{{ now.year }}"}
        """)
    then = datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=timezone.utc)
    direct, read = _stored_and_read(rules, {"source": "x", "type": "y", "data": {"email": "a@b.co"}}, None, then)
    assert read == direct and "seen 2024-02-29T23:59:59.123456+00:00" in json.dumps(read)


def test_verdicts_are_never_worded_with_another_rule_set() -> None:
    event = {"id": "evt_4", "source": "typeform", "type": "form.submitted",
             "data": {"email": "cto@bigco.com", "name": "Dana", "form_name": "Book a demo",
                      "fields": {"company_size": "5000+"}}}
    evaluation = evaluate(EXAMPLES, event, now=NOW)
    kept = _json(evaluation.verdicts())
    assert evaluation.matched, "the event must match a rule"
    other = ruleset("""
        version: 1
        rules:
          - id: enterprise-lead
            actions: [{add_tags: [other]}]
        """)
    worded = word_trace(kept, other, event)
    assert worded.problem is not None and "the rules changed since this event was processed" in worded.problem
    assert worded.trace == [{"rule": r, "matched": True} for r in evaluation.matched]
    assert word_trace(kept, None, event).problem == "the loaded rules do not compile, so the trace cannot be worded"


def test_verdicts_that_the_rules_no_longer_give_are_not_worded() -> None:
    event = {"id": "evt_5", "source": "typeform", "type": "form.submitted",
             "data": {"email": "cto@bigco.com", "name": "Dana", "form_name": "Book a demo",
                      "fields": {"company_size": "5000+"}}}
    kept = _json(evaluate(EXAMPLES, event, now=NOW).verdicts())
    changed = {**event, "data": {**event["data"], "fields": {"company_size": "1-9"}}}  # the data edited since
    worded = word_trace(kept, EXAMPLES, changed)
    assert worded.problem is not None and "gives other verdicts" in worded.problem


def test_the_verdicts_stay_small_whatever_the_number_of_rules() -> None:
    text = "version: 1\nrules:\n" + "".join(
        f"  - id: r{i}\n    if: {{field: data.n, op: eq, value: {i}}}\n    actions: [{{add_tags: [t{i}]}}]\n"
        for i in range(300))
    rules = ruleset(text)
    evaluation = evaluate(rules, {"source": "s", "type": "t", "data": {"email": "a@b.co", "n": 7}}, now=NOW)
    assert evaluation.matched == ("r7",)
    assert len(json.dumps(evaluation.verdicts())) < 300 < 20 * len(json.dumps(evaluation.trace)) // 1000


def test_the_same_files_at_another_path_word_the_verdicts(tmp_path: Any) -> None:
    # a web host and a worker host may mount the same rule files at different paths
    text = (EXAMPLES_DIR / "30-enterprise-lead.yaml").read_text(encoding="utf-8")
    for folder in ("worker", "web"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "30-enterprise-lead.yaml").write_text(text, encoding="utf-8")
    on_worker, on_web = (load_ruleset([tmp_path / folder]) for folder in ("worker", "web"))
    assert on_worker.fingerprint != on_web.fingerprint
    assert on_worker.content_fingerprint == on_web.content_fingerprint
    event = {"id": "evt_6", "source": "typeform", "type": "form.submitted",
             "data": {"email": "cto@bigco.com", "name": "Dana", "form_name": "Book a demo",
                      "fields": {"company_size": "5000+"}}}
    evaluation = evaluate(on_worker, event, now=NOW)
    assert evaluation.matched == ("enterprise-lead",)
    worded = word_trace(_json(evaluation.verdicts()), on_web, event)
    assert worded.problem is None and [e["matched"] for e in worded.trace] == [True, False]


def test_the_kept_files_of_a_rule_set_word_its_verdicts_after_the_files_changed(tmp_path: Any) -> None:
    # a worker keeps (base name, text) of what it compiled; the files then change, and two folders
    # hold a file of the same name
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    (tmp_path / "a" / "rules.yaml").write_text((EXAMPLES_DIR / "30-enterprise-lead.yaml").read_text(encoding="utf-8"),
                                               encoding="utf-8")
    (tmp_path / "b" / "rules.yaml").write_text("version: 1\nrules:\n  - id: also-typeform\n    when: {source: typeform}\n"
                                               "    customer: {email: '{{ data.email }}'}\n"
                                               "    actions: [{add_tags: [tf]}]\n", encoding="utf-8")
    on_worker = load_ruleset([tmp_path / "a", tmp_path / "b"])
    files = _json(kept_sources(on_worker))  # as it comes back from Redis
    assert [name for name, _ in files] == ["rules.yaml", "rules.yaml"]
    assert content_fingerprint([(n, t) for n, t in files]) == on_worker.content_fingerprint
    event = {"id": "evt_7", "source": "typeform", "type": "form.submitted",
             "data": {"email": "cto@bigco.com", "name": "Dana", "form_name": "Book a demo",
                      "fields": {"company_size": "5000+"}}}
    evaluation = evaluate(on_worker, event, now=NOW)
    (tmp_path / "a" / "rules.yaml").write_text("version: 1\nrules: []\n", encoding="utf-8")
    now_rules = load_ruleset([tmp_path / "a", tmp_path / "b"])
    assert word_trace(_json(evaluation.verdicts()), now_rules, event).problem is not None

    kept = kept_ruleset(files)
    assert kept is not None and kept is kept_ruleset(files)  # compiled once per content
    worded = word_trace(_json(evaluation.verdicts()), kept, event)
    assert worded.problem is None
    assert _json(worded.trace) == [{**e, "file": "rules.yaml" if e["file"].startswith(str(tmp_path / "a"))
                                    else "(2)/rules.yaml"} for e in _json(evaluation.trace)]
    assert kept_ruleset([("rules.yaml", "version: 1\nrules: [{id: x, nope: 1}]\n")]) is None  # does not compile
