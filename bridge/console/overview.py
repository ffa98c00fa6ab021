"""The loaded rules at a glance: files with their fingerprints, lint status and, per rule, how many of
the recent stored events it matched. Used by the console's Rules page and `GET /rules`."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from workers.config import Config
from workers.store import EventStore

from bridge.console.trial import compile_rules, rule_sources
from bridge.events_query import find_events

RECENT = 1000


def rules_overview(config: Config, store: EventStore, recent: int = RECENT) -> dict[str, Any]:
    """Files (path, sha256), the ruleset fingerprint, diagnostics, and each rule with its match count."""
    paths = config.rule_paths()
    sources = rule_sources(paths)
    ruleset, diagnostics = compile_rules(sources)
    page = find_events(store, {"limit": recent})
    counts: Counter[str] = Counter(rule for row in page.events for rule in row["matched"])
    rules = [{"id": r.id, "description": r.description, "file": r.file, "line": r.line, "enabled": r.enabled,
              "matches": counts.get(r.id, 0)} for r in (ruleset.rules if ruleset else ())]
    return {"files": [{"path": name, "sha256": hashlib.sha256(text.encode()).hexdigest()} for name, text in sources],
            "fingerprint": ruleset.fingerprint if ruleset else None,
            "valid": ruleset is not None, "diagnostics": diagnostics,
            "errors": sum(1 for d in diagnostics if d["severity"] == "error"),
            "warnings": sum(1 for d in diagnostics if d["severity"] == "warning"),
            "rules": rules, "recent_events": len(page.events)}
