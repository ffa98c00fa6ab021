"""Trying a rule change before deploying it: pure evaluation, nothing is sent to the API.

`try_rules` evaluates edited rule files on one event (the trace and the change it would make) and on
the last N stored events, old rules against new, to show which would match differently and how. The
console's "Try a change" page and `POST /rules/try` both call it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from rules import Ruleset, compute_change, evaluate
from rules.lint import build
from workers.store import EventStore

from bridge.events_query import find_events

MAX_COMPARE = 1000     # stored events one comparison may evaluate
MAX_SHOWN = 50         # differing events listed in full


def rule_sources(paths: Sequence[Path], edits: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(file name, text) of the loaded rule files, with `edits` (file name -> text) in place."""
    edits = dict(edits or {})
    sources = [(str(p), edits.pop(str(p), "") or p.read_text(encoding="utf-8")) for p in paths]
    sources += sorted(edits.items())  # a new file, tried alongside the loaded ones
    return sources


def compile_rules(sources: Sequence[tuple[str, str]]) -> tuple[Ruleset | None, list[dict[str, Any]]]:
    """The ruleset, or None with every diagnostic when any file has an error."""
    ruleset, diagnostics = build(list(sources))
    problems = [{**d.to_dict(), "text": str(d)} for d in diagnostics]
    return (None if any(d.is_error for d in diagnostics) else ruleset), problems


def evaluation_event(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The event the rules see, from a stored event (or a pasted one)."""
    return {"id": str(stored.get("id") or "pasted"), "source": stored.get("source") or "pasted",
            "type": stored.get("type") or "form.submitted", "received_at": stored.get("received_at"),
            "data": stored.get("data") if isinstance(stored.get("data"), dict) else {}}


def explain(ruleset: Ruleset, event: Mapping[str, Any]) -> dict[str, Any]:
    """Matched rules, the trace and, per customer, the change that would be sent (as a new customer)."""
    evaluation = evaluate(ruleset, event)
    changes = [{"email": p.email, **compute_change(p, None, exists=False).to_dict()} for p in evaluation.plans]
    return {"matched": list(evaluation.matched), "trace": evaluation.trace,
            "plans": [p.to_dict() for p in evaluation.plans], "changes": changes}


def _plans(ruleset: Ruleset, event: Mapping[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    evaluation = evaluate(ruleset, event)
    return list(evaluation.matched), [{k: v for k, v in p.to_dict().items() if k != "rules"}
                                      for p in evaluation.plans]


def compare(current: Ruleset, edited: Ruleset, events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Old rules against new on each event: how many match differently and what they would change."""
    differ: list[dict[str, Any]] = []
    for ev in events:
        before_matched, before_plans = _plans(current, ev)
        after_matched, after_plans = _plans(edited, ev)
        if before_matched == after_matched and _same(before_plans, after_plans):
            continue
        differ.append({"id": ev["id"], "source": ev["source"], "type": ev["type"],
                       "email": (ev.get("data") or {}).get("email"),
                       "matched_before": before_matched, "matched_after": after_matched,
                       "plans_before": before_plans, "plans_after": after_plans})
    return {"evaluated": len(events), "differ": len(differ), "shown": differ[:MAX_SHOWN]}


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def recent_events(store: EventStore, n: int) -> list[dict[str, Any]]:
    """The last `n` stored events (newest first), as the rules see them."""
    ids = [row["id"] for row in find_events(store, {"limit": min(n, MAX_COMPARE)}).events]
    out = []
    for eid in ids:
        stored = store.load(eid)
        if stored is not None:
            out.append(evaluation_event(stored))
    return out


def try_rules(paths: Sequence[Path], store: EventStore, *, edits: Mapping[str, str],
              event: Mapping[str, Any] | None, last: int) -> dict[str, Any]:
    """The whole "try a change": edited rules on one event, and old against new on the last `last` events."""
    current, _ = compile_rules(rule_sources(paths))
    edited, problems = compile_rules(rule_sources(paths, edits))
    result: dict[str, Any] = {"diagnostics": problems, "valid": edited is not None}
    if edited is None:
        return result
    result["fingerprint"] = edited.fingerprint
    if event is not None:
        result["event"] = dict(event)
        result["result"] = explain(edited, event)
        if current is not None:
            result["result_before"] = {"matched": list(evaluate(current, event).matched)}
    if last and current is not None:
        result["comparison"] = compare(current, edited, recent_events(store, last))
    return result
