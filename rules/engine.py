"""Evaluation: one event (and the customers as read) against every rule, into one plan per customer.

Every rule sees the same snapshot; matches merge in rule order; `stop: true` ends evaluation after
the rule that matched. Nothing here raises for payload content: a template that cannot render skips
its action (or, for the customer email, its rule), and the trace says why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from rules.errors import RenderError
from rules.model import Action, Rule, Ruleset
from rules.plan import CustomerPlan, PlanBuilder
from rules.rule_schema import SENTIMENTS, STATUSES
from rules.values import preview

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# Control and invisible formatting characters (NUL, ESC, DEL, C1, zero-width, bidi, surrogates) anywhere,
# even where trimming would remove them: an address holding one is not an email, whatever the sender meant.
_EMAIL_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e"
                                "\u2060-\u206f\ufeff\ud800-\udfff]")
_CHOICES = {"set_status": STATUSES, "set_sentiment": SENTIMENTS}


@dataclass(frozen=True)
class Evaluation:
    """Which rules matched, the plan per customer (first-match order), and the trace of every rule.

    `customers_to_read` lists the customer keys whose state a rule read (or would have read, had it
    been given): evaluate once without customers, fetch these, evaluate again with them.
    """

    matched: tuple[str, ...]
    plans: tuple[CustomerPlan, ...]
    trace: list[dict[str, Any]]
    customers_to_read: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"matched": list(self.matched), "plans": [p.to_dict() for p in self.plans],
                "trace": self.trace, "customers_to_read": list(self.customers_to_read)}


def _render_action(action: Action, scope: Mapping[str, Any]) -> Any:
    """The action's value for this event; RenderError when it cannot be produced."""
    kind, value = action.kind, action.value
    if kind in ("add_tags", "remove_tags"):
        tags = []
        for template in value:
            tag = _text(template.render(scope), "tag")
            if "," in tag:
                raise RenderError(f"tag {tag!r} contains a comma")
            tags.append(tag)
        return tags
    if kind == "set_metadata":
        return {key: template.render(scope) for key, template in value.items()}
    if kind == "remove_metadata":
        return list(value)
    text = _text(value.render(scope), kind)
    if kind in _CHOICES and text not in _CHOICES[kind]:
        raise RenderError(f"{text!r} is not one of {', '.join(_CHOICES[kind])}")
    return text


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RenderError(f"the {what} is not text: {preview(value)!r}")
    text = str(value).strip()
    if not text:
        raise RenderError(f"the {what} is empty")
    return text


class _Run:
    """The state of one evaluation."""

    def __init__(self, event: Mapping[str, Any], customers: Mapping[str, Mapping[str, Any]] | None,
                 now: datetime | None) -> None:
        event = event if isinstance(event, Mapping) else {}
        data = event.get("data")
        self.base = {"event": {k: v for k, v in event.items() if k != "data"},
                     "data": {} if data is None else data, "now": now or datetime.now(timezone.utc)}
        self.source = _lower(event.get("source"))
        self.type = _lower(event.get("type"))
        self.customers = {str(k).strip().lower(): v for k, v in (customers or {}).items()}
        self.plans: dict[str, PlanBuilder] = {}
        self.to_read: dict[str, None] = {}  # ordered set of customer keys the rules read
        self.emails: dict[int, Any] = {}  # rendered once per event for templates that read no vars

    def when(self, rule: Rule) -> str | None:
        """Why the `when:` filter excludes this event (None: it does not)."""
        if rule.sources is not None and self.source not in rule.sources:
            return f"when: source {self.source!r} is not one of {sorted(rule.sources)}"
        if rule.types is not None and self.type not in rule.types:
            return f"when: type {self.type!r} is not one of {sorted(rule.types)}"
        return None

    def email(self, rule: Rule, scope: Mapping[str, Any]) -> Any:
        if "vars" in rule.email.roots:
            return _try(rule.email, scope)
        key = id(rule.email)
        if key not in self.emails:
            self.emails[key] = _try(rule.email, scope)
        return self.emails[key]

    def rule(self, rule: Rule) -> tuple[dict[str, Any], bool]:
        """Evaluate one rule; returns its trace entry and whether it matched."""
        entry: dict[str, Any] = {"rule": rule.id, "file": rule.file, "line": rule.line, "matched": False}
        skipped = "disabled" if not rule.enabled else self.when(rule)
        if skipped:
            entry["skipped"] = skipped
            return entry, False
        scope: dict[str, Any] = {**self.base, "vars": self.vars(rule, entry)}
        email = self.email(rule, scope)
        problem = _email_problem(email)
        if problem:
            entry["skipped"] = problem
            return entry, False
        email = email.strip()
        key = email.lower()
        entry["customer"] = email
        if rule.reads_customer and self.depends_on_customer(rule, scope):
            self.to_read[key] = None
        if self.customers.get(key) is not None:
            scope["customer"] = self.customers[key]
        if rule.condition is not None:
            passed, entry["conditions"] = rule.condition.evaluate(scope)
            if not passed:
                return entry, False
        entry["matched"] = True
        name = _try(rule.name, scope)
        plan = self.plans.get(key) or self.plans.setdefault(key, PlanBuilder(email, key))
        plan.add_rule(rule.id, rule.create, name.strip() if isinstance(name, str) else None,
                      arrival=rule.order == "arrival")
        self.actions(rule, scope, plan, entry)
        if rule.stop:
            entry["stop"] = True
        return entry, True

    @staticmethod
    def depends_on_customer(rule: Rule, scope: Mapping[str, Any]) -> bool:
        """Whether the customer's state could change this rule's outcome: its conditions are not
        settled without it, or they hold and an action reads it."""
        verdict = rule.condition.decide(scope) if rule.condition is not None else True
        return verdict is None or (verdict and rule.actions_read_customer)

    def vars(self, rule: Rule, entry: dict[str, Any]) -> dict[str, Any]:
        """The rule's vars, rendered in order; one that cannot render stays missing (the trace says why)."""
        rendered: dict[str, Any] = {}
        if rule.vars:
            entry["vars"] = {}
            for name, template in rule.vars:
                value = _try(template, {**self.base, "vars": rendered})
                if isinstance(value, RenderError):
                    entry["vars"][name] = {"missing": value.reason}
                else:
                    rendered[name] = value
                    entry["vars"][name] = preview(value)
        return rendered

    def actions(self, rule: Rule, scope: Mapping[str, Any], plan: PlanBuilder, entry: dict[str, Any]) -> None:
        """Render each action whose `if:` holds and merge it into the plan; record what happened."""
        entry["actions"], overrides = [], []
        for action in rule.actions:
            record: dict[str, Any] = {"action": action.kind, "line": action.line}
            entry["actions"].append(record)
            if action.condition is not None:
                passed, record["if"] = action.condition.evaluate(scope)
                if not passed:
                    record["skipped"] = "its if: did not pass"
                    continue
            try:
                value = _render_action(action, scope)
            except RenderError as exc:
                record["skipped"] = exc.reason
                continue
            record["value"] = preview(value)
            overrides += plan.apply(action.kind, value, rule.id)
        if overrides:
            entry["overrides"] = overrides


def _email_problem(email: Any) -> str | None:
    """Why a rendered customer email cannot be used (None when it can)."""
    if isinstance(email, RenderError):
        return f"customer email: {email.reason}"
    if not isinstance(email, str):
        return f"customer email is not text: {preview(email)!r}"
    if not email.strip():
        return "customer email is empty"
    if _EMAIL_UNPRINTABLE.search(email):
        return f"customer email {email.strip()!r} holds a control or invisible character: not an email address"
    if not _EMAIL.match(email.strip()):
        return f"customer email {email.strip()!r} is not an email address"
    return None


def _try(template: Any, scope: Mapping[str, Any]) -> Any:
    try:
        return template.render(scope)
    except RenderError as exc:
        return exc


def _lower(value: Any) -> str | None:
    return value.strip().lower() if isinstance(value, str) else None


Customers = Mapping[str, Mapping[str, Any]]


def evaluate(ruleset: Ruleset, event: Mapping[str, Any], customers: Customers | None = None, *,
             now: datetime | None = None) -> Evaluation:
    """Evaluate every rule against one event and the customers as read (keyed by lower-cased email)."""
    run = _Run(event, customers, now)
    matched: list[str] = []
    trace: list[dict[str, Any]] = []
    stopped_by: str | None = None
    for rule in ruleset.rules:
        if stopped_by:
            trace.append({"rule": rule.id, "file": rule.file, "line": rule.line, "matched": False,
                          "skipped": f"stopped by rule {stopped_by!r}"})
            continue
        entry, hit = run.rule(rule)
        trace.append(entry)
        if hit:
            matched.append(rule.id)
            if rule.stop:
                stopped_by = rule.id
    return Evaluation(tuple(matched), tuple(b.build() for b in run.plans.values()), trace, tuple(run.to_read))
