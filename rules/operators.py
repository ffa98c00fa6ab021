"""The condition operators: what each expects, how it compares, and how the trace words it.

Every test returns True or False, or a text explaining why the value could not be compared (which
counts as false: a value that does not convert is never compared as a string instead).
The schema reads `OPERATORS[op].takes` to check the shape of `value`, so the two cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from re import Pattern
from typing import Any

from rules.values import MISSING, as_bool, as_number, as_text, fold, is_scalar, shown

MAX_PATTERN = 500        # characters in a `matches` pattern
MAX_MATCH_INPUT = 10_000  # characters of input `matches` will search; longer input is false



@dataclass(frozen=True, slots=True)
class Scalar:
    """An expected scalar prepared once: its folded text, or number, or boolean."""

    raw: Any
    text: str | None = None
    number: Decimal | None = None
    flag: bool | None = None


def prepare_scalar(raw: Any, case_sensitive: bool) -> Scalar:
    """Prepare an expected value from a rule file (text, number or boolean)."""
    if isinstance(raw, bool):
        return Scalar(raw, flag=raw)
    if isinstance(raw, (int, float)):
        return Scalar(raw, number=as_number(raw))
    return Scalar(raw, text=fold(str(raw).strip(), case_sensitive))


def _compare(actual: Any, expected: Scalar, case_sensitive: bool) -> bool | None:
    """Whether `actual` equals `expected`, typed by the expected value; None if it does not convert."""
    if expected.flag is not None:
        flag = as_bool(actual)
        return None if flag is None else flag == expected.flag
    if expected.number is not None:
        number = as_number(actual)
        return None if number is None else number == expected.number
    text = as_text(actual)
    return None if text is None else fold(text, case_sensitive) == expected.text


def _not_comparable(actual: Any, expected: Scalar) -> str:
    kind = "a boolean" if expected.flag is not None else "a number" if expected.number is not None else "text"
    return f"{shown(actual)} is not {kind}, so it cannot be compared"


def _scalar_only(actual: Any) -> str | None:
    if is_scalar(actual):
        return None
    if isinstance(actual, (list, tuple)):
        return "the field is a list (use has_any, has_all or has_none for lists)"
    kind = "a mapping" if isinstance(actual, dict) else "not a value"
    return f"the field is {kind}"


def _eq(actual: Any, expected: Scalar, cs: bool) -> bool | str:
    problem = _scalar_only(actual)
    if problem:
        return problem
    result = _compare(actual, expected, cs)
    return _not_comparable(actual, expected) if result is None else result


def _ne(actual: Any, expected: Scalar, cs: bool) -> bool | str:
    result = _eq(actual, expected, cs)
    return result if isinstance(result, str) else not result


def _in(actual: Any, expected: tuple[Scalar, ...], cs: bool) -> bool | str:
    problem = _scalar_only(actual)
    if problem:
        return problem
    results = [_compare(actual, item, cs) for item in expected]
    if all(r is None for r in results):
        return _not_comparable(actual, expected[0])
    return any(results)


def _not_in(actual: Any, expected: tuple[Scalar, ...], cs: bool) -> bool | str:
    result = _in(actual, expected, cs)
    return result if isinstance(result, str) else not result


def _text(actual: Any, cs: bool) -> str | None:
    text = as_text(actual) if is_scalar(actual) else None
    return None if text is None else fold(text, cs)


def _texts(test: Callable[[str, str], bool],
           negate: bool = False) -> Callable[[Any, tuple[str, ...], bool], bool | str]:
    def check(actual: Any, expected: tuple[str, ...], cs: bool) -> bool | str:
        text = _text(actual, cs)
        if text is None:
            return _scalar_only(actual) or f"{shown(actual)} is not text"
        found = any(test(text, item) for item in expected)
        return not found if negate else found
    return check


def _matches(actual: Any, pattern: Pattern[str], cs: bool) -> bool | str:
    text = as_text(actual) if is_scalar(actual) else None
    if text is None:
        return _scalar_only(actual) or f"{shown(actual)} is not text"
    if len(text) > MAX_MATCH_INPUT:
        return f"the text is longer than {MAX_MATCH_INPUT} characters, the limit for matches"
    return pattern.search(text) is not None


def _number(test: Callable[[Decimal, Decimal], bool]) -> Callable[[Any, Decimal, bool], bool | str]:
    def check(actual: Any, expected: Decimal, cs: bool) -> bool | str:
        number = as_number(actual)
        return f"{shown(actual)} is not a number" if number is None else test(number, expected)
    return check


def _between(actual: Any, bounds: tuple[Decimal, Decimal], cs: bool) -> bool | str:
    number = as_number(actual)
    return f"{shown(actual)} is not a number" if number is None else bounds[0] <= number <= bounds[1]


def _boolean(want: bool) -> Callable[[Any, None, bool], bool | str]:
    def check(actual: Any, expected: None, cs: bool) -> bool | str:
        flag = as_bool(actual)
        return f"{shown(actual)} is not a yes/no value" if flag is None else flag is want
    return check


def _members(actual: Any, cs: bool) -> set[str] | None:
    items = actual if isinstance(actual, (list, tuple)) else [actual]
    texts = {_text(item, cs) for item in items}
    texts.discard(None)
    return texts if texts or not items else None  # type: ignore[return-value]


def _has(mode: str) -> Callable[[Any, frozenset[str], bool], bool | str]:
    def check(actual: Any, expected: frozenset[str], cs: bool) -> bool | str:
        members = _members(actual, cs)
        if members is None:
            return f"{shown(actual)} holds no text values"
        if mode == "any":
            return bool(members & expected)
        if mode == "all":
            return expected <= members
        return not (members & expected)
    return check


def _is_empty(actual: Any) -> bool:
    if actual is MISSING or actual is None:
        return True
    if isinstance(actual, str):
        return not actual.strip()
    if isinstance(actual, (list, tuple, dict)):
        return not actual
    return False


@dataclass(frozen=True)
class Operator:
    """One operator: the shape of value it takes, whether case applies, its test and trace words."""

    name: str
    takes: str  # nothing | scalar | scalars | texts | regex | number | range | tags
    test: Callable[[Any, Any, bool], bool | str]
    passes: str
    fails: str
    text: bool = False  # case_sensitive applies


def _op(name: str, takes: str, test: Callable[..., bool | str], passes: str, fails: str,
        text: bool = False) -> Operator:
    return Operator(name, takes, test, passes, fails, text)


OPERATORS: dict[str, Operator] = {o.name: o for o in (
    _op("exists", "nothing", lambda a, e, cs: True, "exists", "is missing"),
    _op("not_exists", "nothing", lambda a, e, cs: False, "is missing", "exists"),
    _op("empty", "nothing", lambda a, e, cs: _is_empty(a), "is empty", "is not empty"),
    _op("not_empty", "nothing", lambda a, e, cs: not _is_empty(a), "is not empty", "is empty"),
    _op("eq", "scalar", _eq, "equals", "does not equal", text=True),
    _op("ne", "scalar", _ne, "differs from", "equals", text=True),
    _op("in", "scalars", _in, "is one of", "is not one of", text=True),
    _op("not_in", "scalars", _not_in, "is none of", "is one of", text=True),
    _op("contains", "texts", _texts(lambda t, e: e in t), "contains", "does not contain", text=True),
    _op("not_contains", "texts", _texts(lambda t, e: e in t, negate=True), "does not contain", "contains",
        text=True),
    _op("starts_with", "texts", _texts(str.startswith), "starts with", "does not start with", text=True),
    _op("ends_with", "texts", _texts(str.endswith), "ends with", "does not end with", text=True),
    _op("matches", "regex", _matches, "matches", "does not match", text=True),
    _op("gt", "number", _number(lambda a, e: a > e), "is greater than", "is not greater than"),
    _op("gte", "number", _number(lambda a, e: a >= e), "is at least", "is less than"),
    _op("lt", "number", _number(lambda a, e: a < e), "is less than", "is not less than"),
    _op("lte", "number", _number(lambda a, e: a <= e), "is at most", "is greater than"),
    _op("between", "range", _between, "is between", "is not between"),
    _op("is_true", "nothing", _boolean(True), "is true", "is not true"),
    _op("is_false", "nothing", _boolean(False), "is false", "is not false"),
    _op("has_any", "tags", _has("any"), "has one of", "has none of", text=True),
    _op("has_all", "tags", _has("all"), "has all of", "lacks some of", text=True),
    _op("has_none", "tags", _has("none"), "has none of", "has one of", text=True),
)}

# Names people reach for, mapped to ours, for "did you mean".
OPERATOR_ALIASES = {
    "=": "eq", "==": "eq", "equals": "eq", "equal": "eq", "is": "eq", "!=": "ne", "not_equals": "ne",
    "is_not": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "greater_than": "gt",
    "less_than": "lt", "startswith": "starts_with", "endswith": "ends_with", "regex": "matches",
    "re": "matches", "match": "matches", "includes": "contains", "include": "contains",
    "present": "exists", "missing": "not_exists", "blank": "empty", "one_of": "in", "any_of": "has_any",
}


def text_test(op: str, expected: Any, case_sensitive: bool) -> Callable[[str], bool] | None:
    """The operator's verdict on a `str` field, as one closure built at load time (the same verdict as
    its `test`, for the one value type most fields hold); None for operators it does not cover."""
    if case_sensitive:
        def folded(actual: str) -> str:
            return actual.strip()
    else:
        def folded(actual: str) -> str:
            return actual.strip().casefold()

    if op in ("eq", "ne") and expected.text is not None:
        want = expected.text
        if op == "ne":
            return lambda actual: folded(actual) != want
        if case_sensitive:
            return lambda actual: actual.strip() == want
        return lambda actual: actual.strip().casefold() == want
    if op in ("in", "not_in") and all(item.text is not None for item in expected):
        wanted = frozenset(item.text for item in expected)
        if op == "not_in":
            return lambda actual: folded(actual) not in wanted
        if case_sensitive:
            return lambda actual: actual.strip() in wanted
        return lambda actual: actual.strip().casefold() in wanted
    if op in ("starts_with", "ends_with"):
        items: tuple[str, ...] = expected
        if op == "starts_with":
            return lambda actual: folded(actual).startswith(items)
        return lambda actual: folded(actual).endswith(items)
    if op in ("contains", "not_contains"):
        items, negate = expected, op == "not_contains"

        def contains(actual: str) -> bool:
            text = folded(actual)
            return any(item in text for item in items) is not negate
        return contains
    if op == "matches":
        pattern: Pattern[str] = expected

        def matches(actual: str) -> bool:
            text = actual.strip()
            return len(text) <= MAX_MATCH_INPUT and pattern.search(text) is not None
        return matches
    return None


def prepare(op: str, value: Any, case_sensitive: bool) -> Any:
    """The expected value of a leaf, prepared once at load time for `OPERATORS[op].test`."""
    takes = OPERATORS[op].takes
    if takes == "scalar":
        return prepare_scalar(value, case_sensitive)
    if takes == "scalars":
        return tuple(prepare_scalar(v, case_sensitive) for v in value)
    if takes == "texts":
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(fold(str(v).strip(), case_sensitive) for v in items)
    if takes == "tags":
        return frozenset(fold(str(v).strip(), case_sensitive) for v in value)
    if takes == "regex":
        return re.compile(value, 0 if case_sensitive else re.IGNORECASE)
    if takes == "number":
        return as_number(value)
    if takes == "range":
        low, high = (as_number(v) for v in value)
        return (low, high)
    return None
