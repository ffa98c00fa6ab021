"""Helpers for the rule-language tests: tiny rule files from a few lines, events, one-call evaluation."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from rules import Evaluation, Ruleset, evaluate, lint_paths, load_ruleset_text
from rules.lint import build

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


def ruleset(text: str) -> Ruleset:
    """A ruleset from (dedented) YAML."""
    return load_ruleset_text(textwrap.dedent(text), "rules.yaml")


def event(data: dict[str, Any] | None = None, *, source: str = "typeform", type: str = "form.submitted",
          **extra: Any) -> dict[str, Any]:
    """An event envelope around `data` (which gets an email unless it has one)."""
    payload = {"email": "ana@example.com", **(data or {})}
    return {"id": "evt_1", "source": source, "type": type, "received_at": "2025-06-01T12:00:00Z",
            "data": payload, **extra}


@lru_cache(maxsize=None)
def _condition_ruleset(condition: str) -> Ruleset:
    return ruleset(f"""
        version: 1
        rules:
          - id: probe
            if: {condition}
            actions: [{{add_tags: [hit]}}]
        """)


def holds(condition: str, data: dict[str, Any], customer: dict[str, Any] | None = None) -> bool:
    """Whether a condition (YAML flow text) holds for an event with this data."""
    customers = {"ana@example.com": customer} if customer is not None else None
    return bool(evaluate(_condition_ruleset(condition), event(data), customers, now=NOW).matched)


def run(text: str, data: dict[str, Any] | None = None, customers: dict[str, Any] | None = None,
        **event_fields: Any) -> Evaluation:
    """Evaluate one event against a ruleset given as YAML."""
    return evaluate(ruleset(text), event(data, **event_fields), customers, now=NOW)


def lint_text(text: str, tmp_path: Any, name: str = "rules.yaml") -> list[str]:
    """Lint one file's text; diagnostics as `line:col: severity: message [rule]` (file name dropped)."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return [str(d).split(":", 1)[1] for d in lint_paths([path])]


def diagnostics(text: str) -> list[str]:
    """Diagnostics of one in-memory file, without the file name."""
    _, found = build([("rules.yaml", textwrap.dedent(text))])
    return [str(d)[len("rules.yaml:"):] for d in found]
