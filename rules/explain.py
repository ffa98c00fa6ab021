"""Readable text for people: an evaluation's trace, the change it leads to, and test failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from rules.change import Change
from rules.engine import Evaluation
from rules.testing import TestReport

PASS, FAIL = "✓", "✗"


def _mark(passed: bool) -> str:
    return PASS if passed else FAIL


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def condition_lines(trace: dict[str, Any], indent: str) -> Iterator[str]:
    """One line per condition, nested groups indented."""
    mark = _mark(trace["passed"])
    if "field" in trace:
        yield f"{indent}{mark} {trace['field']} {trace['op']}: {trace['reason']}"
    elif "ref" in trace:
        yield f"{indent}{mark} ref {trace['ref']}:"
        yield from condition_lines(trace["condition"], indent + "    ")
    elif "not" in trace:
        yield f"{indent}{mark} not:"
        yield from condition_lines(trace["not"], indent + "    ")
    else:
        kind = "all" if "all" in trace else "any"
        yield f"{indent}{mark} {kind}:"
        for child in trace[kind]:
            yield from condition_lines(child, indent + "    ")


def trace_lines(evaluation: Evaluation) -> Iterator[str]:
    """Every rule: matched or not, why, each condition's value and each action's outcome."""
    for entry in evaluation.trace:
        where = f"{entry['file']}:{entry['line']}"
        head = f"{_mark(entry['matched'])} {entry['rule']}  ({where})"
        if entry.get("skipped"):
            yield f"{head}  skipped: {entry['skipped']}"
            continue
        yield f"{head}  customer {entry.get('customer')}"
        for name, value in (entry.get("vars") or {}).items():
            yield f"    vars.{name} = {_json(value)}"
        if entry.get("conditions"):
            yield from condition_lines(entry["conditions"], "    ")
        for action in entry.get("actions") or []:
            if "skipped" in action:
                yield f"    - {action['action']} skipped: {action['skipped']}"
            else:
                yield f"    - {action['action']} {_json(action['value'])}"
            if "if" in action:
                yield from condition_lines(action["if"], "        if ")
        for override in entry.get("overrides") or []:
            what = next(k for k in ("tag", "field", "metadata") if k in override)
            yield (f"    ! {what} {override[what]!r}: {_json(override['was'])} from rule "
                   f"{override['by_rule']} replaced by {_json(override['now'])}")
        if entry.get("stop"):
            yield "    stop: later rules are not evaluated"


def change_lines(email: str, exists: bool, change: Change) -> Iterator[str]:
    """What would be sent for one customer."""
    state = "existing customer" if exists else "new customer"
    if change.is_empty:
        yield f"{email} ({state}): nothing to send"
        return
    yield f"{email} ({state}):"
    if change.create is not None:
        yield f"    POST   {_json(change.create)}"
    if change.update is not None:
        yield f"    PATCH  {_json(change.update)}"


def test_report_lines(report: TestReport, verbose: bool = False) -> Iterator[str]:
    """A line per failed test (and per passed one when verbose) with the differences indented."""
    for result in report.results:
        if result.passed:
            if verbose:
                yield f"ok    {result.file}:{result.line}  {result.name}"
            continue
        yield f"FAIL  {result.file}:{result.line}  {result.name}"
        for failure in result.failures:
            yield f"        {failure}"
