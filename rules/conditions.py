"""Compiled condition trees. Each node evaluates against one scope and explains itself.

Two ways to ask a node, built once at load time:
- `check(scope, memo)`: a closure giving only the verdict, short-circuiting, the hot path. `memo` is
  one dict per evaluation: a leaf that reads the event (not `vars` or `customer`) is tested once per
  event however many rules share it (the compiler hands identical leaves out once).
- `evaluate(scope)`: the verdict and its trace. Groups evaluate every child (no short-circuit) so
  the trace shows every condition's value and why it passed or failed, not just the first one that
  decided. The engine calls it only when someone reads the trace; both give the same verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from rules.operators import Operator, text_test
from rules.values import MISSING, as_number, preview, resolve, shown

Scope = Mapping[str, Any]
Check = Callable[[Scope, dict[Any, bool]], bool]
_PER_RULE_ROOTS = frozenset({"vars", "customer"})  # differ between rules of one event: never memoized
# The number operators' comparison once the field is a number (operators._number, _between: a field that
# is not a number fails them, and so does a missing one).
_NUMBER_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda n, e: n > e, "gte": lambda n, e: n >= e, "lt": lambda n, e: n < e, "lte": lambda n, e: n <= e,
    "between": lambda n, bounds: bounds[0] <= n <= bounds[1]}


def getter(path: tuple[str, ...]) -> Callable[[Scope], Any]:
    """`resolve(scope, path)` as a closure, with a fast walk while the values are plain dicts (unrolled
    for the common `root.a` and `root.a.b`)."""
    if len(path) == 3:
        root, first, second = path

        def get_three(scope: Scope) -> Any:
            value = scope.get(root) if type(scope) is dict else None
            if type(value) is dict:
                value = value.get(first)
                if type(value) is dict:
                    value = value.get(second)
                    return MISSING if value is None else value
            return resolve(scope, path)  # a null on the way, lists, other mappings: the general rules
        return get_three
    if len(path) == 2:
        root, first = path

        def get_two(scope: Scope) -> Any:
            value = scope.get(root) if type(scope) is dict else None
            if type(value) is dict:
                value = value.get(first)
                return MISSING if value is None else value
            return resolve(scope, path)
        return get_two

    def get(scope: Scope) -> Any:
        value: Any = scope
        for step in path:
            if type(value) is not dict:
                return resolve(scope, path)  # lists, other mappings, scalars: the general rules
            value = value.get(step)
            if value is None:
                return MISSING
        return value
    return get


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

    @property
    def check(self) -> Check:
        """The verdict alone: `check(scope, memo)`, the same as `evaluate(scope)[0]`."""
        ...


class Leaf:
    """`{field, op, value | list}`."""

    __slots__ = ("__weakref__", "case_sensitive", "check", "expected", "field", "op", "path", "shown",
                 "trace_base")

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
        self.check = self._compile()

    def _compile(self) -> Check:
        get, test, expected, cs = getter(self.path), self.op.test, self.expected, self.case_sensitive
        when_missing = self.op.name in ("not_exists", "empty")
        if self.path[0] in _PER_RULE_ROOTS:
            def verdict(scope: Scope, memo: dict[Any, bool]) -> bool:
                actual = get(scope)
                return when_missing if actual is MISSING else test(actual, expected, cs) is True
            return verdict
        key = self
        compare = _NUMBER_TESTS.get(self.op.name)
        if compare is not None:  # the field's number is worked out once per event, however many leaves compare it
            number_key = ("number",) + self.path

            def check_number(scope: Scope, memo: dict[Any, Any]) -> bool:
                result = memo.get(key)
                if result is None:
                    number = memo.get(number_key, MISSING)
                    if number is MISSING:
                        actual = get(scope)
                        number = memo[number_key] = None if actual is MISSING else as_number(actual)
                    result = memo[key] = number is not None and compare(number, expected)
                return result
            return check_number

        text = text_test(self.op.name, expected, cs)
        if text is not None:  # text fields (most of them) take the operator's verdict on text directly
            def check_text(scope: Scope, memo: dict[Any, bool]) -> bool:
                result = memo.get(key)
                if result is None:
                    actual = get(scope)
                    if type(actual) is str:
                        result = memo[key] = text(actual)
                    else:
                        result = memo[key] = when_missing if actual is MISSING else test(actual, expected, cs) is True
                return result
            return check_text

        def check(scope: Scope, memo: dict[Any, bool]) -> bool:
            result = memo.get(key)
            if result is None:
                actual = get(scope)
                result = memo[key] = when_missing if actual is MISSING else test(actual, expected, cs) is True
            return result
        return check

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

    __slots__ = ("check", "children", "kind")

    def __init__(self, kind: str, children: tuple[Condition, ...]) -> None:
        self.kind = kind
        self.children = children
        self.check = _all(children) if kind == "all" else _any(children)

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

    __slots__ = ("check", "child")

    def __init__(self, child: Condition) -> None:
        self.child = child
        check = child.check
        self.check: Check = lambda scope, memo: not check(scope, memo)

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

    __slots__ = ("check", "name", "target")

    def __init__(self, name: str, target: Condition) -> None:
        self.name = name
        self.target = target
        self.check = target.check

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


def _all(children: tuple[Condition, ...]) -> Check:
    checks = tuple(child.check for child in children)

    def check(scope: Scope, memo: dict[Any, bool]) -> bool:
        for child in checks:
            if not child(scope, memo):
                return False
        return True
    return check


def _any(children: tuple[Condition, ...]) -> Check:
    checks = tuple(child.check for child in children)

    def check(scope: Scope, memo: dict[Any, bool]) -> bool:
        for child in checks:
            if child(scope, memo):
                return True
        return False
    return check
