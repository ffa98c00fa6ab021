"""Compiled condition trees. Each node evaluates against one scope and explains itself.

Groups evaluate every child (no short-circuit) so the trace shows every condition's value and why
it passed or failed, not just the first one that decided.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from rules.operators import Operator
from rules.values import MISSING, preview, resolve, shown

Scope = Mapping[str, Any]


class Condition(Protocol):
    """A compiled condition."""

    def evaluate(self, scope: Scope) -> tuple[bool, dict[str, Any]]:
        """Whether it holds, and its trace."""
        ...

    def paths(self) -> Iterator[tuple[str, ...]]:
        """The field paths it reads (refs included)."""
        ...

    def decide(self, scope: Scope) -> bool | None:
        """The result without the customer's state: None when it depends on that state."""
        ...


class Leaf:
    """`{field, op, value | list}`."""

    __slots__ = ("case_sensitive", "expected", "field", "op", "path", "shown", "trace_base")

    def __init__(self, field: str, op: Operator, expected: Any, raw: Any, list_name: str | None,
                 case_sensitive: bool) -> None:
        self.field = field
        self.path = tuple(field.split("."))
        self.op = op
        self.expected = expected  # prepared by operators.prepare
        self.case_sensitive = case_sensitive
        # how the trace shows the expected value, worked out once; a named list by its name
        self.shown = "" if op.takes == "nothing" else f" list {list_name}" if list_name else f" {shown(raw)}"
        self.trace_base: dict[str, Any] = {"field": field, "op": op.name}
        if list_name:
            self.trace_base["list"] = list_name
        elif op.takes != "nothing":
            self.trace_base["expected"] = preview(raw)

    def test(self, actual: Any) -> bool | str:
        """The operator on one value; a missing field passes only not_exists and empty."""
        if actual is MISSING:
            return self.op.name in ("not_exists", "empty")
        return self.op.test(actual, self.expected, self.case_sensitive)

    def evaluate(self, scope: Scope) -> tuple[bool, dict[str, Any]]:
        """Test the field and say why it passed or failed."""
        actual = resolve(scope, self.path)
        op = self.op
        outcome = self.test(actual)
        if actual is MISSING:
            passed, reason = bool(outcome), "the field is missing"
        elif isinstance(outcome, str):
            passed, reason = False, outcome
        else:
            passed = outcome
            reason = f"{shown(actual)} {op.passes if passed else op.fails}{self.shown}"
        trace = dict(self.trace_base)
        trace.update(seen=preview(actual), missing=actual is MISSING, passed=passed, reason=reason)
        return passed, trace

    def paths(self) -> Iterator[tuple[str, ...]]:
        """Its one field path."""
        yield self.path

    def decide(self, scope: Scope) -> bool | None:
        """Unknown (None) for a customer field; else the plain result."""
        if self.path[0] == "customer":
            return None
        return self.test(resolve(scope, self.path)) is True


class Group:
    """`all: [...]` or `any: [...]`."""

    __slots__ = ("children", "kind")

    def __init__(self, kind: str, children: tuple[Condition, ...]) -> None:
        self.kind = kind
        self.children = children

    def evaluate(self, scope: Scope) -> tuple[bool, dict[str, Any]]:
        """All (or any) of the children; every child is evaluated for the trace."""
        results = [child.evaluate(scope) for child in self.children]
        passed = all(r[0] for r in results) if self.kind == "all" else any(r[0] for r in results)
        return passed, {self.kind: [r[1] for r in results], "passed": passed}

    def paths(self) -> Iterator[tuple[str, ...]]:
        """The children's paths."""
        for child in self.children:
            yield from child.paths()

    def decide(self, scope: Scope) -> bool | None:
        """Three-valued all/any: one decisive child settles it, else an unknown child leaves it open."""
        decisive = self.kind == "any"  # True settles any; False settles all
        results = [child.decide(scope) for child in self.children]
        if decisive in results:
            return decisive
        return None if None in results else not decisive


class Not:
    """`not: {...}`."""

    __slots__ = ("child",)

    def __init__(self, child: Condition) -> None:
        self.child = child

    def evaluate(self, scope: Scope) -> tuple[bool, dict[str, Any]]:
        """The child, negated."""
        passed, trace = self.child.evaluate(scope)
        return not passed, {"not": trace, "passed": not passed}

    def paths(self) -> Iterator[tuple[str, ...]]:
        """The child's paths."""
        return self.child.paths()

    def decide(self, scope: Scope) -> bool | None:
        """The child's verdict, negated (unknown stays unknown)."""
        verdict = self.child.decide(scope)
        return None if verdict is None else not verdict


class Ref:
    """`ref: name`, a named condition of the file."""

    __slots__ = ("name", "target")

    def __init__(self, name: str, target: Condition) -> None:
        self.name = name
        self.target = target

    def evaluate(self, scope: Scope) -> tuple[bool, dict[str, Any]]:
        """The named condition."""
        passed, trace = self.target.evaluate(scope)
        return passed, {"ref": self.name, "passed": passed, "condition": trace}

    def paths(self) -> Iterator[tuple[str, ...]]:
        """The named condition's paths."""
        return self.target.paths()

    def decide(self, scope: Scope) -> bool | None:
        """The named condition's verdict."""
        return self.target.decide(scope)
