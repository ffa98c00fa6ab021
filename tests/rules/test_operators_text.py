"""The operators' verdicts on text fields, built as one closure per leaf (`operators.text_test`), are
exactly the operators' own `test` verdicts: the engine takes the closure for every `str` field."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.operators import MAX_MATCH_INPUT, OPERATORS, prepare, text_test

TEXTS = st.text(alphabet=st.sampled_from(list("aAbB ßẞİi\u0307\t\n-+.@5")), max_size=8)
SCALARS = st.one_of(TEXTS, st.integers(-3, 3), st.booleans(), st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=400, deadline=None)
@given(op=st.sampled_from(["eq", "ne"]), actual=TEXTS, value=SCALARS, cs=st.booleans())
def test_eq_and_ne(op: str, actual: str, value: object, cs: bool) -> None:
    _same(op, actual, value, cs)


@settings(max_examples=400, deadline=None)
@given(op=st.sampled_from(["in", "not_in"]), actual=TEXTS, value=st.lists(SCALARS, min_size=1, max_size=4),
       cs=st.booleans())
def test_in_and_not_in(op: str, actual: str, value: list[object], cs: bool) -> None:
    _same(op, actual, value, cs)


@settings(max_examples=400, deadline=None)
@given(op=st.sampled_from(["contains", "not_contains", "starts_with", "ends_with"]), actual=TEXTS,
       value=st.one_of(TEXTS, st.lists(TEXTS, min_size=1, max_size=3)), cs=st.booleans())
def test_text_operators(op: str, actual: str, value: object, cs: bool) -> None:
    _same(op, actual, value, cs)


@settings(max_examples=200, deadline=None)
@given(actual=TEXTS, pattern=st.sampled_from(["^a", "b$", "ß", r"\d", "^$", "i\u0307"]), cs=st.booleans())
def test_matches(actual: str, pattern: str, cs: bool) -> None:
    _same("matches", actual, pattern, cs)


def test_matches_refuses_text_past_the_limit_either_way() -> None:
    _same("matches", "a" * (MAX_MATCH_INPUT + 1), "a", False)
    _same("matches", " " + "a" * MAX_MATCH_INPUT + " ", "a", False)


def _same(op: str, actual: str, value: object, cs: bool) -> None:
    prepared = prepare(op, value, cs)
    fast = text_test(op, prepared, cs)
    if fast is None:  # an expected value that is not text (eq 5): the operator's own test only
        assert op in ("eq", "ne", "in", "not_in")
        return
    assert fast(actual) is (OPERATORS[op].test(actual, prepared, cs) is True), (op, actual, value, cs)
