"""The compiled rule set: immutable, built once at load time, shared by every evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rules.conditions import Condition
from rules.diagnostics import Diagnostic
from rules.index import RuleIndex
from rules.templates import Renderable


@dataclass(frozen=True)
class Action:
    """One action of a rule: its kind, compiled value and optional `if:`."""

    kind: str
    value: Any
    condition: Condition | None
    line: int
    fixed: Any = field(default=None, compare=False, repr=False)  # actions.Fixed when no template varies
    produce: Any = field(default=None, compare=False, repr=False)  # else its value for a scope (rules.actions)
    merge: Any = field(default=None, compare=False, repr=False)    # PlanBuilder's method for its kind


@dataclass(frozen=True)
class Rule:
    """One compiled rule."""

    id: str
    description: str
    enabled: bool
    sources: frozenset[str] | None  # lower-cased; None: any
    types: frozenset[str] | None
    condition: Condition | None
    vars: tuple[tuple[str, Renderable], ...]
    email: Renderable
    name: Renderable
    create: bool
    actions: tuple[Action, ...]
    stop: bool
    file: str
    line: int
    reads_customer: bool = False          # any condition or template of the rule reads `customer`
    actions_read_customer: bool = False  # an action's `if:` or template does
    order: str = "provider"               # "arrival": overwritten fields keep arrival order (rules.ordering)


@dataclass(frozen=True)
class RuleTest:
    """One entry of a file's `tests:`."""

    file: str
    line: int
    name: str
    event: dict[str, Any]
    customer: dict[str, Any] | None
    expect: dict[str, Any]


@dataclass(frozen=True)
class Ruleset:
    """Every rule of the loaded files, in file-name order then file order."""

    rules: tuple[Rule, ...]
    files: tuple[str, ...]
    needs_customer: bool
    fingerprint: str
    # sha256 over the files' base names and texts: the same rules wherever the files live (a web
    # host and a worker host may mount them at different paths); stored verdicts name it
    content_fingerprint: str = ""
    warnings: tuple[Diagnostic, ...] = ()
    tests: tuple[RuleTest, ...] = field(default=(), repr=False)
    # (file name, text) in load order, exactly what was compiled: a worker keeps them (base names) so
    # that a trace can be worded later with the rule set that evaluated the event (rules.lint.kept_ruleset)
    sources: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)
    _index: list[Any] = field(default_factory=list, init=False, repr=False, compare=False, hash=False)

    @property
    def index(self) -> RuleIndex:
        """What `when` and the conditions' plain equality tests decide without evaluating (built once)."""
        if not self._index:
            self._index.append(RuleIndex(self.rules))
        return self._index[0]

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError otherwise)."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)
