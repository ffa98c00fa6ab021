"""Evaluation: one event (and the customers as read) against every rule, into one plan per customer.

Every rule sees the same snapshot; matches merge in rule order; `stop: true` ends evaluation after
the rule that matched. Nothing here raises for payload content: a template that cannot render skips
its action (or, for the customer email, its rule), and the trace says why.

Only the rules whose `when` admits the event's source and type are looked at (`Ruleset.candidates`);
conditions run as closures that stop at the first decisive child. The trace is kept as verdicts
(which rule, what happened, the snapshot it saw) and worded only when `Evaluation.trace` is read:
conditions are then evaluated again, in full, on the same snapshot, which gives the same result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from rules.actions import SHARED_ROOTS
from rules.errors import RenderError
from rules.index import RuleIndex
from rules.model import Action, Rule, Ruleset
from rules.plan import CustomerPlan, PlanBuilder
from rules.values import preview

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# Control and invisible formatting characters (NUL, ESC, DEL, C1, zero-width, bidi, surrogates) anywhere,
# even where trimming would remove them: an address holding one is not an email, whatever the sender meant.
_EMAIL_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e"
                                "\u2060-\u206f\ufeff\ud800-\udfff]")
_IF_FAILED = "its if: did not pass"
VERDICTS_FORMAT = 1  # the version of `Evaluation.verdicts` (rules.verdicts words it)
_UNSET: Any = object()


class Evaluation:
    """Which rules matched, the plan per customer (first-match order), and the trace of every rule.

    `customers_to_read` lists the customer keys whose state a rule read (or would have read, had it
    been given): evaluate once without customers, fetch these, evaluate again with them. `trace` is
    worded on first read (the event and customers given to `evaluate` must not change before that).
    """

    __slots__ = ("_run", "_trace", "customers_to_read", "matched", "plans")

    def __init__(self, matched: tuple[str, ...], plans: tuple[CustomerPlan, ...], run: _Run,
                 customers_to_read: tuple[str, ...] = ()) -> None:
        self.matched = matched
        self.plans = plans
        self.customers_to_read = customers_to_read
        self._run = run
        self._trace: list[dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"Evaluation(matched={self.matched!r}, plans={self.plans!r})"

    @property
    def trace(self) -> list[dict[str, Any]]:
        """One entry per rule, in rule order: matched or why not, conditions, actions."""
        if self._trace is None:
            self._trace = self._run.trace()
        return self._trace

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"matched": list(self.matched), "plans": [p.to_dict() for p in self.plans],
                "trace": self.trace, "customers_to_read": list(self.customers_to_read)}

    def verdicts(self) -> dict[str, Any]:
        """The trace as compact JSON-safe data, to keep instead of its words: the rule set's content fingerprint,
        the time the templates saw, the customers as given, which rules matched and where a `stop`
        ended evaluation. `rules.verdicts.word_trace` words it into `trace` again, with the same rule
        set and event (everything else in the trace follows from those)."""
        return self._run.record()


class _Verdict:
    """What happened to one rule that `when` admitted: the data its trace entry is worded from."""

    __slots__ = ("actions", "email", "hit", "overrides", "problem", "rule", "scope", "vars")

    def __init__(self, rule: Rule, scope: Mapping[str, Any], vars_trace: dict[str, Any] | None) -> None:
        self.rule, self.scope, self.vars = rule, scope, vars_trace
        self.email: str | None = None
        self.problem: str | None = None
        self.hit = False
        self.actions: list[tuple[Action, Any, bool]] = []  # (action, value or skip reason, skipped?)
        self.overrides: list[dict[str, Any]] = []

    def entry(self) -> dict[str, Any]:
        rule, scope = self.rule, self.scope
        entry: dict[str, Any] = {"rule": rule.id, "file": rule.file, "line": rule.line, "matched": self.hit}
        if self.vars is not None:
            entry["vars"] = self.vars
        if self.problem is not None:
            entry["skipped"] = self.problem
            return entry
        entry["customer"] = self.email
        if rule.condition is not None:
            entry["conditions"] = rule.condition.evaluate(scope)[1]
        if not self.hit:
            return entry
        entry["actions"] = records = []
        for action, value, skipped in self.actions:
            record: dict[str, Any] = {"action": action.kind, "line": action.line}
            if action.condition is not None:
                record["if"] = action.condition.evaluate(scope)[1]
            if skipped:
                record["skipped"] = value
            else:
                record["value"] = preview(value)
            records.append(record)
        if self.overrides:
            entry["overrides"] = self.overrides
        if rule.stop:
            entry["stop"] = True
        return entry


class _Run:
    """The state of one evaluation."""

    __slots__ = ("base", "candidates", "customers", "emails", "fingerprint", "memo", "plain_scope", "plans",
                 "render_errors", "rendered", "rules", "source", "stopped_at", "to_read", "type", "verdicts")

    def __init__(self, ruleset: Ruleset, event: Mapping[str, Any],
                 customers: Mapping[str, Mapping[str, Any]] | None, now: datetime | None) -> None:
        event = event if isinstance(event, Mapping) else {}
        data = event.get("data")
        self.rules = ruleset.rules
        self.fingerprint = ruleset.content_fingerprint
        self.base = {"event": {k: v for k, v in event.items() if k != "data"},
                     "data": {} if data is None else data, "now": now or datetime.now(timezone.utc)}
        self.plain_scope = {**self.base, "vars": {}}  # for rules without vars or a known customer
        self.source = _lower(event.get("source"))
        self.type = _lower(event.get("type"))
        self.customers = {str(k).strip().lower(): v for k, v in (customers or {}).items()}
        self.plans: dict[str, PlanBuilder] = {}
        self.to_read: dict[str, None] = {}  # ordered set of customer keys the rules read
        self.memo: dict[Any, bool] = {}      # condition leaves that read the event, tested once
        self.rendered: dict[int, Any] = {}   # templates that read only the event, rendered once
        self.render_errors: dict[int, RenderError] = {}  # the same, when they could not render
        self.emails: dict[int, tuple[str | None, str | None]] = {}  # the same, for customer emails
        # rule position → what happened; an admitted rule without one failed (see `rule`)
        self.verdicts: dict[int, _Verdict] = {}
        self.stopped_at: int | None = None
        self.candidates: tuple[int, ...] = ()

    def run(self, index: RuleIndex) -> list[str]:
        """Evaluate the rules the index admits, in order; returns the ids of those that matched."""
        matched: list[str] = []
        admitted = index.admitted(self.source, self.type)
        self.candidates = admitted.candidates
        if not admitted.candidates:
            return matched
        rules, verdicts = self.rules, self.verdicts
        # keyed rules whose equality test fails are left out: they cannot match (the trace shows them in full)
        for position in index.to_evaluate(admitted, self.base):
            rule = rules[position]
            verdict = self.rule(rule)
            if verdict is None:
                continue
            verdicts[position] = verdict
            if verdict.hit:
                matched.append(rule.id)
                if rule.stop:
                    self.stopped_at = position
                    break
        return matched

    def render(self, template: Any, scope: Mapping[str, Any]) -> Any:
        """A template's value (raises RenderError); one that reads only the event is rendered once
        per evaluation, and its scalar result (or its error) reused."""
        if not template.roots <= SHARED_ROOTS:
            return template.render(scope)
        return self.render_shared(template, scope)

    def render_shared(self, template: Any, scope: Mapping[str, Any]) -> Any:
        """`render` for a template known to read only the event (its roots checked at load time):
        rendered once per evaluation; a scalar result is kept in `rendered` (by the template's id),
        an error in `render_errors`."""
        key = id(template)
        found = self.rendered.get(key, _UNSET)
        if found is not _UNSET:
            return found
        failed = self.render_errors.get(key)
        if failed is not None:
            raise failed
        try:
            found = template.render(scope)
        except RenderError as exc:
            self.render_errors[key] = exc
            raise
        if found is None or isinstance(found, (str, int, float)):  # immutable: safe to share
            self.rendered[key] = found
        return found

    def attempt(self, template: Any, scope: Mapping[str, Any]) -> Any:
        """`render`, with a RenderError returned instead of raised."""
        try:
            return self.render(template, scope)
        except RenderError as exc:
            return exc

    def email(self, rule: Rule, scope: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """The rule's customer email (trimmed) and why it cannot be used (None when it can); worked
        out once per evaluation for the email templates that read only the event."""
        template = rule.email
        shared = template.roots <= SHARED_ROOTS
        if shared:
            found = self.emails.get(id(template))
            if found is not None:
                return found
        email = self.attempt(template, scope)
        problem = _email_problem(email)
        found = (None, problem) if problem else (email.strip(), None)
        if shared:
            self.emails[id(template)] = found
        return found

    def rule(self, rule: Rule) -> _Verdict | None:
        """Evaluate one rule that `when` admitted. None: it has no vars and its email or conditions
        fail, so nothing but its trace entry depends on it, and that is worded from the rule itself."""
        if rule.vars:
            return self.rule_with_vars(rule)
        scope: Mapping[str, Any] = self.plain_scope
        found = self.emails.get(id(rule.email))  # worked out already for an earlier rule (see `email`)
        email = (found or self.email(rule, scope))[0]
        if email is None:
            return None
        if rule.reads_customer:
            return self.matched(rule, scope, None, email)
        condition = rule.condition
        if condition is not None and not condition.check(scope, self.memo):
            return None
        return self.matched(rule, scope, None, email, checked=True)

    def rule_with_vars(self, rule: Rule) -> _Verdict:
        rendered, vars_trace = self.vars(rule)
        scope = {**self.base, "vars": rendered}
        email, problem = self.email(rule, scope)
        if email is None:
            verdict = _Verdict(rule, scope, vars_trace)
            verdict.problem = problem
            return verdict
        return self.matched(rule, scope, vars_trace, email)

    def matched(self, rule: Rule, scope: Mapping[str, Any], vars_trace: dict[str, Any] | None, email: str,
                checked: bool = False) -> _Verdict:
        """The rest of a rule with a usable email: customer, conditions (unless `checked`), actions."""
        verdict = _Verdict(rule, scope, vars_trace)
        verdict.email = email
        key = email.lower()
        if rule.reads_customer and self.depends_on_customer(rule, scope):
            self.to_read[key] = None
        customer = self.customers.get(key)
        if customer is not None:
            scope = verdict.scope = {**scope, "customer": customer}
        if not checked and rule.condition is not None and not rule.condition.check(scope, self.memo):
            return verdict
        verdict.hit = True
        name = self.attempt(rule.name, scope)
        plan = self.plans.get(key) or self.plans.setdefault(key, PlanBuilder(email, key))
        plan.add_rule(rule.id, rule.create, name.strip() if isinstance(name, str) else None,
                      arrival=rule.order == "arrival")
        self.actions(rule, scope, plan, verdict)
        return verdict

    @staticmethod
    def depends_on_customer(rule: Rule, scope: Mapping[str, Any]) -> bool:
        """Whether the customer's state could change this rule's outcome: its conditions are not
        settled without it, or they hold and an action reads it."""
        verdict = rule.condition.decide(scope) if rule.condition is not None else True
        return verdict is None or (verdict and rule.actions_read_customer)

    def vars(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        """The rule's vars, rendered in order, and their trace; one that cannot render stays missing."""
        rendered: dict[str, Any] = {}
        trace: dict[str, Any] = {}
        for name, template in rule.vars:
            value = _try(template, {**self.base, "vars": rendered})
            if isinstance(value, RenderError):
                trace[name] = {"missing": value.reason}
            else:
                rendered[name] = value
                trace[name] = preview(value)
        return rendered, trace

    def actions(self, rule: Rule, scope: Mapping[str, Any], plan: PlanBuilder, verdict: _Verdict) -> None:
        """Render each action whose `if:` holds and merge it into the plan; record what happened."""
        memo, record, overrides = self.memo, verdict.actions.append, verdict.overrides
        rule_id = rule.id
        for action in rule.actions:
            condition = action.condition
            if condition is not None and not condition.check(scope, memo):
                record((action, _IF_FAILED, True))
                continue
            fixed = action.fixed
            if fixed is not None:
                if fixed.problem is not None:
                    record((action, fixed.problem, True))
                    continue
                value = fixed.value
            else:
                try:
                    value = action.produce(self, scope)
                except RenderError as exc:
                    record((action, exc.reason, True))
                    continue
            record((action, value, False))
            found = action.merge(plan, value, rule_id)
            if found:
                overrides += found

    def record(self) -> dict[str, Any]:
        """See `Evaluation.verdicts`."""
        record: dict[str, Any] = {"verdicts": VERDICTS_FORMAT, "ruleset": self.fingerprint,
                                  "now": self.base["now"].isoformat(),
                                  "matched": [[p, v.rule.id] for p, v in self.verdicts.items() if v.hit]}
        if self.stopped_at is not None:
            record["stopped"] = self.stopped_at
        if self.customers:
            record["customers"] = self.customers
        return record

    def trace(self) -> list[dict[str, Any]]:
        """Every rule's trace entry, worded from the verdicts."""
        trace = []
        verdicts, stopped_at = self.verdicts, self.stopped_at
        admitted = frozenset(self.candidates)
        for position, rule in enumerate(self.rules):
            verdict = verdicts.get(position)
            if verdict is None and position in admitted and (stopped_at is None or position < stopped_at):
                verdict = self.failed(rule)
            if verdict is not None:
                trace.append(verdict.entry())
                continue
            entry: dict[str, Any] = {"rule": rule.id, "file": rule.file, "line": rule.line, "matched": False}
            if stopped_at is not None and position > stopped_at:
                entry["skipped"] = f"stopped by rule {self.rules[stopped_at].id!r}"
            else:
                entry["skipped"] = "disabled" if not rule.enabled else self.when(rule)
            trace.append(entry)
        return trace

    def failed(self, rule: Rule) -> _Verdict:
        """The verdict of an admitted rule without vars that did not match (its email could not be used,
        its conditions failed, or the index ruled it out): worded from the same snapshot."""
        email, problem = self.email(rule, self.plain_scope)
        verdict = _Verdict(rule, self.plain_scope, None)
        verdict.email, verdict.problem = email, problem
        customer = self.customers.get(email.lower()) if email is not None else None
        if customer is not None:
            verdict.scope = {**self.plain_scope, "customer": customer}
        return verdict

    def when(self, rule: Rule) -> str:
        """Why the `when:` filter excludes this event."""
        if rule.sources is not None and self.source not in rule.sources:
            return f"when: source {self.source!r} is not one of {sorted(rule.sources)}"
        assert rule.types is not None and self.type not in rule.types
        return f"when: type {self.type!r} is not one of {sorted(rule.types)}"


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
    run = _Run(ruleset, event, customers, now)
    matched = run.run(ruleset.index)
    return Evaluation(tuple(matched), tuple([b.build() for b in run.plans.values()]), run, tuple(run.to_read))
