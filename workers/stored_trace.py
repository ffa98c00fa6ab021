"""The rule trace kept with an event: verdicts when stored, words when read.

Stored (`trace_fields`, by the worker): the evaluation's verdicts (`Evaluation.verdicts`, a few hundred
bytes whatever the number of rules) in the event's `trace` field. Read (`worded_trace_fields`, by the
event API, the console and `cstar-bridge events show`): worded with the rule set that evaluated the
event (rules.verdicts.word_trace) — the rule files as they are now when their content is that rule
set's, else that rule set as the worker kept it in Redis (workers.kept_rules; `trace_worded_with` says
so), and when neither is to be had (the kept copy expired) `trace_unavailable` says why and the matched
rules are listed by id — the stale writes' verdicts added from the event's changes, and cut to
`trace_max_bytes` as the stored trace was: people see what they saw when the worded trace was stored.

The worded trace is stored instead (bounded, as before) where verdicts could not be worded later: the
source's policy redacts data after processing (the words come from the data), or the customers' state
makes the verdicts longer than `trace_max_bytes`. A worded trace — those, and events stored before
verdicts — is shown as it was stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rules import Evaluation
from rules.lint import current_ruleset, kept_ruleset
from rules.ordering import annotate_trace
from rules.verdicts import is_verdicts, word_trace
from workers.kept_rules import KeptRules
from workers.retention import Policy
from workers.store import bounded_trace

_COMPACT = json.JSONEncoder(separators=(",", ":"), default=str)  # made once: json.dumps with options makes one per call
KEPT_NOTE = ("the rule files changed since this event was processed: its trace is worded with the rule set "
             "that evaluated it, as the worker kept it; `file` names its files by base name")
UNWORDED_HINT = ("`cstar-bridge simulate --event FILE` runs the current rules on the event's data "
                 "(`cstar-bridge events show <id>` gives it)")


def rules_event(event_id: str, ev: Mapping[str, Any], data: Any) -> dict[str, Any]:
    """The event the rules see, from its stored fields and decoded data (the worker evaluates this, and
    a reader words the kept verdicts with the same)."""
    return {"id": event_id, "source": ev.get("source"), "type": ev.get("type"),
            "received_at": ev.get("received_at"), "data": data,
            **{k: ev[k] for k in ("occurred_at", "entity") if ev.get(k)}}


def verdicts_text(evaluation: Evaluation) -> str:
    """The evaluation's verdicts as the JSON text a worker stores."""
    return _COMPACT.encode(evaluation.verdicts())


def trace_fields(evaluation: Evaluation, steps: Sequence[Mapping[str, Any]], ev: Mapping[str, Any],
                 policy: Policy, limit: int) -> dict[str, Any]:
    """The hash fields that keep an evaluation's trace (a note of an earlier attempt's cut trace is
    cleared when this one is whole)."""
    fields: dict[str, Any]
    text = None if policy.redact else verdicts_text(evaluation)
    if text is not None and (not limit or len(text) <= limit):
        fields = {"trace": text}
        note = None
    else:
        text, note = bounded_trace(annotate_trace(evaluation.trace, steps), limit)
        fields = {"trace": text}
    if note or ev.get("trace_truncated"):
        fields["trace_truncated"] = note
    return fields


def worded_trace_fields(ev: Mapping[str, Any], event_id: str, rule_paths: Sequence[Any], limit: int,
                        kept_rules: KeptRules | None = None) -> dict[str, Any]:
    """For a stored event whose trace is kept as verdicts: `trace` worded, with `trace_truncated` when
    it was cut to `limit` bytes and `trace_unavailable` when it could not be worded (then the matched
    rules are listed by id). Nothing for a trace stored worded.

    Worded with the rule files as they are now when they are the rule set that evaluated the event;
    otherwise with that rule set as a worker kept it (`kept_rules`), and `trace_worded_with` says so."""
    kept = ev.get("trace")
    if not isinstance(kept, Mapping) or not is_verdicts(kept):
        return {}
    ruleset, now = current_ruleset(rule_paths)
    then = str(kept.get("ruleset") or "")
    fields: dict[str, Any] = {}
    gone = ""
    if kept_rules is not None and (ruleset is None or now != then):
        files = kept_rules.load(then) if then else None
        earlier = kept_ruleset(files) if files is not None else None
        if earlier is not None:
            ruleset = earlier
            fields["trace_worded_with"] = {
                "rules": "kept", "ruleset": then, "files": [name for name, _ in files or ()],
                "note": KEPT_NOTE}
        else:
            gone = ("; the rule set that evaluated it is not kept (it expired, or was used before workers kept "
                    "their rule sets)" if files is None else
                    "; the rule set kept for it does not compile")
    worded = word_trace(kept, ruleset, rules_event(event_id, ev, ev.get("data")))
    changes = ev.get("changes")
    steps = [s for s in changes if isinstance(s, Mapping)] if isinstance(changes, list) else []
    text, note = bounded_trace(annotate_trace(worded.trace, steps), limit)
    fields["trace"] = json.loads(text)
    if note is not None:
        fields["trace_truncated"] = note
    if worded.problem:
        fields.pop("trace_worded_with", None)
        fields["trace_unavailable"] = {"reason": worded.problem + gone, "rules_then": then or None,
                                       "rules_now": now, "hint": UNWORDED_HINT}
    return fields
