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

    def evaluate(self, scope: Scope) -> tuple[bool, dict[str, Any]]:
        """Test the field; a missing field passes only not_exists and empty."""
        actual = resolve(scope, self.path)
        op = self.op
        if actual is MISSING:
            passed = op.name in ("not_exists", "empty")
            reason = "the field is missing"
        else:
            outcome = op.test(actual, self.expected, self.case_sensitive)
            if isinstance(outcome, str):
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
