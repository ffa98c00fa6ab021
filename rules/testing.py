"""Running the `tests:` of rule files: evaluate each event, apply the change as the API would, compare.

Tests run against the whole rule set being tested (every file given), because that is what
production evaluates: a new rule that also matches an old test's event makes that test fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rules.change import apply_change, compute_change
from rules.diagnostics import Diagnostic
from rules.engine import Evaluation, evaluate
from rules.lint import load_paths
from rules.model import Ruleset, RuleTest

DEFAULT_RECEIVED_AT = "2025-01-01T12:00:00+00:00"


@dataclass(frozen=True)
class TestResult:
    """One test's outcome; `failures` are readable lines (expected vs got)."""

    __test__ = False  # not a pytest class

    file: str
    line: int
    name: str
    failures: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return not self.failures


@dataclass(frozen=True)
class TestReport:
    """Every test's result, plus the diagnostics when the rules did not load."""

    __test__ = False

    results: tuple[TestResult, ...]
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def passed(self) -> int:
        """How many tests passed."""
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        """How many tests failed."""
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        """True when the rules loaded and every test passed."""
        return not self.failed and not any(d.is_error for d in self.diagnostics)

    def summary(self) -> str:
        """`N passed, M failed`."""
        return f"{self.passed} passed, {self.failed} failed"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _shown(values: Sequence[Any]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def _event(test: RuleTest, index: int) -> tuple[dict[str, Any], datetime]:
    event = {"id": f"test-{index + 1}", "received_at": DEFAULT_RECEIVED_AT, "data": {}, **test.event}
    try:
        now = datetime.fromisoformat(str(event["received_at"]).replace("Z", "+00:00"))
    except ValueError:
        now = datetime.fromisoformat(DEFAULT_RECEIVED_AT)
    return event, now if now.tzinfo else now.replace(tzinfo=timezone.utc)


def _customer_after(test: RuleTest, evaluation: Evaluation,
                    email: str | None) -> tuple[dict[str, Any] | None, bool]:
    """The expected customer's state after the event, and whether it was created."""
    current = test.customer
    email = email or (current or {}).get("email")
    plans = [p for p in evaluation.plans if email is None or p.key == email.strip().lower()]
    if not plans:
        return (dict(current) if current is not None else None), False
    existing = current if current is not None and (
        not current.get("email") or str(current["email"]).strip().lower() == plans[0].key) else None
    change = compute_change(plans[0], existing, exists=existing is not None)
    return apply_change(existing, change), change.create is not None


def check(test: RuleTest, evaluation: Evaluation) -> list[str]:
    """The failed expectations of one test, each as `what: expected …, got …`."""
    failures: list[str] = []
    expect = test.expect
    if "matched" in expect and list(evaluation.matched) != list(expect["matched"]):
        failures.append(f"matched: expected {_shown(expect['matched'])}, got {_shown(evaluation.matched)}")
    if "customer" not in expect:
        return failures
    wanted: Mapping[str, Any] | None = expect["customer"]
    state, created = _customer_after(test, evaluation, (wanted or {}).get("email"))
    if wanted is None:
        if state is not None:
            failures.append(f"customer: expected none, got {state.get('email')}")
        return failures
    if "created" in wanted and wanted["created"] != created:
        failures.append(f"customer.created: expected {_json(wanted['created'])}, got {_json(created)}")
    if state is None:
        if set(wanted) - {"created", "email"}:
            failures.append("customer: expected a customer, but none exists (no rule created or changed one)")
        return failures
    for key in ("email", "name", "status", "sentiment"):
        if key in wanted and state.get(key) != wanted[key]:
            failures.append(f"customer.{key}: expected {wanted[key]!r}, got {state.get(key)!r}")
    if "tags" in wanted:
        got, want = list(state.get("tags") or []), list(wanted["tags"])
        folded_got, folded_want = {t.casefold() for t in got}, {t.casefold() for t in want}
        if folded_got != folded_want:
            missing = [t for t in want if t.casefold() not in folded_got]
            extra = [t for t in got if t.casefold() not in folded_want]
            failures.append(f"customer.tags: expected {_shown(want)}, got {_shown(got)}"
                            f" (missing {_shown(missing)}, unexpected {_shown(extra)})")
    notes = state.get("notes") or ""
    for text in wanted.get("notes_contain") or []:
        if text.casefold() not in notes.casefold():
            failures.append(f"customer.notes: expected to contain {text!r}, got {notes!r}")
    metadata = state.get("metadata") or {}
    for key, value in (wanted.get("metadata") or {}).items():
        if value is None and key in metadata:
            failures.append(f"customer.metadata.{key}: expected absent, got {metadata[key]!r}")
        elif value is not None and (key not in metadata or metadata[key] != value
                                    or type(metadata[key]) is not type(value)):
            got_value = repr(metadata[key]) if key in metadata else "absent"
            failures.append(f"customer.metadata.{key}: expected {value!r}, got {got_value}")
    return failures


def run_ruleset_tests(ruleset: Ruleset, progress: Callable[[int, int], None] | None = None) -> TestReport:
    """Run every test the ruleset's files carry; `progress(done, total)` after each one."""
    results = []
    total = len(ruleset.tests)
    for index, test in enumerate(ruleset.tests):
        event, now = _event(test, index)
        customer = test.customer
        if customer is not None and not customer.get("email"):
            customer = {**customer, "email": (event.get("data") or {}).get("email")}
            test = RuleTest(test.file, test.line, test.name, test.event, customer, test.expect)
        known = customer if customer and customer.get("email") else None
        customers = {str(known["email"]).strip().lower(): known} if known else {}
        evaluation = evaluate(ruleset, event, customers, now=now)
        results.append(TestResult(test.file, test.line, test.name, tuple(check(test, evaluation))))
        if progress is not None:
            progress(len(results), total)
    return TestReport(tuple(results))


def run_tests(paths: Sequence[str | Path], progress: Callable[[int, int], None] | None = None) -> TestReport:
    """Load the files and run their tests; when they do not load, the report carries the diagnostics."""
    ruleset, diagnostics = load_paths(paths)
    if any(d.is_error for d in diagnostics):
        return TestReport((), tuple(diagnostics))
    report = run_ruleset_tests(ruleset, progress)
    return TestReport(report.results, tuple(diagnostics))
