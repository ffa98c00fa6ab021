"""A kept evaluation, worded when someone reads it.

A worker keeps `Evaluation.verdicts()` with each event instead of the worded trace: the trace grows
with every rule (a few hundred bytes each) and wording and encoding it costs more than the evaluation
itself, while the verdicts are a few hundred bytes whatever the number of rules. They name the rule set
by its content fingerprint (file names and texts, wherever the files live) and hold what the evaluation saw besides the event: the time its templates read and
the customers' state. Evaluating the same rule set on the same event and snapshot gives the same
verdicts, and its trace is the very trace the worker would have kept: `word_trace` does that, checks
that the matches agree, and when the rule set is not the one that evaluated the event it says so and
lists the matched rules by id, rather than word one rule set's verdicts with another's rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from rules.engine import VERDICTS_FORMAT, evaluate
from rules.model import Ruleset


class Worded(NamedTuple):
    """A trace worded from verdicts; `problem` says why it could not be (then `trace` lists the
    matched rules by id only)."""

    trace: list[dict[str, Any]]
    problem: str | None = None


def is_verdicts(value: Any) -> bool:
    """Whether a kept trace is verdicts (`Evaluation.verdicts`) rather than a worded trace."""
    return isinstance(value, Mapping) and value.get("verdicts") == VERDICTS_FORMAT


def word_trace(verdicts: Mapping[str, Any], ruleset: Ruleset | None, event: Mapping[str, Any]) -> Worded:
    """The trace of the evaluation that gave `verdicts`, from the same rule set and event."""
    matched = verdicts.get("matched")
    matched = matched if isinstance(matched, list) else []
    by_id = [{"rule": m[1], "matched": True} for m in matched if isinstance(m, list) and len(m) == 2]
    then = str(verdicts.get("ruleset") or "")
    if ruleset is None:
        return Worded(by_id, "the loaded rules do not compile, so the trace cannot be worded")
    if then != ruleset.content_fingerprint:
        return Worded(by_id, f"the rules changed since this event was processed (rule set {then[:12]} then, "
                             f"{ruleset.content_fingerprint[:12]} now): its trace is not worded with other rules")
    try:
        now = datetime.fromisoformat(str(verdicts.get("now")))
    except ValueError:
        return Worded(by_id, f"the kept verdicts hold no valid time: {verdicts.get('now')!r}")
    customers = verdicts.get("customers")
    evaluation = evaluate(ruleset, event, customers if isinstance(customers, Mapping) else None, now=now)
    again = evaluation.verdicts()
    if again["matched"] != matched or again.get("stopped") != verdicts.get("stopped"):
        return Worded(by_id, "evaluating the same rules on the kept event gives other verdicts (matched "
                             f"{[m[1] for m in again['matched']]}), so the trace is not worded")
    return Worded(evaluation.trace)
