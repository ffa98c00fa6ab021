"""`tests:` in rule files: the shipped examples pass, and a failing test says what differs."""

from __future__ import annotations

import textwrap
from pathlib import Path

from rules import EXAMPLES_DIR, run_tests

FAILING = """\
version: 1
rules:
  - id: tagger
    actions:
      - add_tags: [lead]
      - set_status: inactive
      - set_metadata: {seats: "{{ data.seats | int }}"}
      - add_note: hello
tests:
  - name: everything is wrong
    event: {source: s, type: t, data: {email: a@b.co, seats: "3"}}
    expect:
      matched: []
      customer:
        created: false
        tags: [lead, vip]
        status: active
        metadata: {seats: "3", gone: null, plan: pro}
        notes_contain: [goodbye]
  - name: everything is right
    event: {source: s, type: t, data: {email: a@b.co, seats: "3"}}
    customer: {email: A@B.co, name: A, tags: [LEAD], metadata: {gone: 1}}
    expect:
      matched: [tagger]
      customer:
        created: false
        name: A
        tags: [lead]
        status: inactive
        metadata: {seats: 3}
        notes_contain: [HELLO]
  - name: no customer is created
    event: {source: s, type: t, data: {email: not-an-email}}
    expect: {matched: [], customer: null}
"""


def test_the_shipped_examples_pass_their_own_tests() -> None:
    report = run_tests([EXAMPLES_DIR])
    assert [r.failures for r in report.results if not r.passed] == []
    assert report.ok and report.failed == 0
    assert report.passed >= 15
    assert {Path(r.file).name for r in report.results} == {
        "10-unsubscribe.yaml", "20-newsletter.yaml", "30-enterprise-lead.yaml", "40-nps.yaml", "50-zapier-leads.yaml",
        "60-bookings-and-billing.yaml", "70-contact-forms.yaml"}


def test_a_failing_test_lists_each_difference_readably(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(FAILING), encoding="utf-8")
    report = run_tests([path])
    assert report.summary() == "2 passed, 1 failed"
    assert not report.ok
    failed = report.results[0]
    assert (failed.name, failed.line, failed.passed) == ("everything is wrong", 10, False)
    assert list(failed.failures) == [
        "matched: expected [], got [tagger]",
        "customer.created: expected false, got true",
        "customer.status: expected 'active', got 'inactive'",
        "customer.tags: expected [lead, vip], got [lead] (missing [vip], unexpected [])",
        "customer.notes: expected to contain 'goodbye', got 'hello'",
        "customer.metadata.seats: expected '3', got 3",
        "customer.metadata.plan: expected 'pro', got absent",
    ]


def test_rules_that_do_not_load_report_diagnostics_and_run_nothing(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\nrules:\n  - id: x\n", encoding="utf-8")
    report = run_tests([path])
    assert report.results == ()
    assert [str(d) for d in report.diagnostics] == [f"{path}:3:5: error: missing required key 'actions' [x]"]
    assert not report.ok
