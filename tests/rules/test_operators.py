"""Every operator, with the type and case edge cases: text is trimmed and case-insensitive unless
case_sensitive, numbers compare as numbers, a value that does not convert is false (never a string
comparison), and a missing field is false for everything except not_exists and empty."""

from __future__ import annotations

from typing import Any

import pytest

from rules import evaluate
from tests.rules.support import NOW, event, holds, ruleset


def c(op: str, extra: str = "") -> str:
    return "{field: data.x, op: %s%s}" % (op, f", {extra}" if extra else "")


CASES: list[tuple[str, str, dict[str, Any], bool]] = [
    # presence
    ("exists: a value", c("exists"), {"x": "a"}, True),
    ("exists: blank text still exists", c("exists"), {"x": ""}, True),
    ("exists: zero exists", c("exists"), {"x": 0}, True),
    ("exists: null counts as missing", c("exists"), {"x": None}, False),
    ("exists: missing", c("exists"), {}, False),
    ("not_exists: missing", c("not_exists"), {}, True),
    ("not_exists: null", c("not_exists"), {"x": None}, True),
    ("not_exists: present", c("not_exists"), {"x": False}, False),
    ("empty: missing is empty", c("empty"), {}, True),
    ("empty: blank text", c("empty"), {"x": "  "}, True),
    ("empty: empty list", c("empty"), {"x": []}, True),
    ("empty: empty mapping", c("empty"), {"x": {}}, True),
    ("empty: zero is not empty", c("empty"), {"x": 0}, False),
    ("empty: false is not empty", c("empty"), {"x": False}, False),
    ("not_empty: text", c("not_empty"), {"x": "a"}, True),
    ("not_empty: blank", c("not_empty"), {"x": " "}, False),
    ("not_empty: missing is false", c("not_empty"), {}, False),
    # eq / ne
    ("eq: text ignores case and surrounding spaces", c("eq", "value: Hello"), {"x": "  hello "}, True),
    ("eq: case_sensitive", c("eq", "value: Hello, case_sensitive: true"), {"x": "hello"}, False),
    ("eq: case_sensitive still trims", c("eq", "value: Hello, case_sensitive: true"), {"x": " Hello "}, True),
    ("eq: unicode case folding", c("eq", "value: STRASSE"), {"x": "straße"}, True),
    ("eq: number against numeric text", c("eq", "value: 12"), {"x": "12"}, True),
    ("eq: number against 12.0", c("eq", "value: 12"), {"x": 12.0}, True),
    ("eq: number against other text is false", c("eq", "value: 12"), {"x": "twelve"}, False),
    ("eq: number against a boolean is false", c("eq", "value: 1"), {"x": True}, False),
    ("eq: quoted number is text", c("eq", "value: '12'"), {"x": 12}, True),
    ("eq: text '12' is not '012'", c("eq", "value: '12'"), {"x": "012"}, False),
    ("eq: boolean against yes", c("eq", "value: true"), {"x": "yes"}, True),
    ("eq: boolean against maybe is false", c("eq", "value: true"), {"x": "maybe"}, False),
    ("eq: text 'true' against a JSON true", c("eq", "value: 'true'"), {"x": True}, True),
    ("eq: a list field is false", c("eq", "value: a"), {"x": ["a"]}, False),
    ("eq: a mapping field is false", c("eq", "value: a"), {"x": {"a": 1}}, False),
    ("eq: missing is false", c("eq", "value: a"), {}, False),
    ("ne: different text", c("ne", "value: a"), {"x": "b"}, True),
    ("ne: same text in other case", c("ne", "value: a"), {"x": " A"}, False),
    ("ne: case_sensitive", c("ne", "value: a, case_sensitive: true"), {"x": "A"}, True),
    ("ne: other number", c("ne", "value: 5"), {"x": "6"}, True),
    ("ne: not a number is false, not 'different'", c("ne", "value: 5"), {"x": "five"}, False),
    ("ne: missing is false", c("ne", "value: a"), {}, False),
    # in / not_in
    ("in: member ignoring case", c("in", "value: [a, b]"), {"x": " B "}, True),
    ("in: not a member", c("in", "value: [a, b]"), {"x": "c"}, False),
    ("in: numbers as numbers", c("in", "value: [1, 2]"), {"x": "2.0"}, True),
    ("in: numbers against text is false", c("in", "value: [1, 2]"), {"x": "two"}, False),
    ("in: case_sensitive", c("in", "value: [a], case_sensitive: true"), {"x": "A"}, False),
    ("in: a list field is false", c("in", "value: [a]"), {"x": ["a"]}, False),
    ("in: missing is false", c("in", "value: [a]"), {}, False),
    ("not_in: not a member", c("not_in", "value: [a, b]"), {"x": "c"}, True),
    ("not_in: a member in other case", c("not_in", "value: [a, b]"), {"x": "A"}, False),
    ("not_in: number list against text is false", c("not_in", "value: [1, 2]"), {"x": "x"}, False),
    ("not_in: missing is false", c("not_in", "value: [a]"), {}, False),
    # text
    ("contains: substring ignoring case", c("contains", "value: NEWS"), {"x": "Newsletter"}, True),
    ("contains: any of a list", c("contains", "value: [foo, letter]"), {"x": "Newsletter"}, True),
    ("contains: none of a list", c("contains", "value: [foo, bar]"), {"x": "Newsletter"}, False),
    ("contains: case_sensitive", c("contains", "value: NEWS, case_sensitive: true"), {"x": "Newsletter"}, False),
    ("contains: a number field as text", c("contains", "value: 23"), {"x": 1234}, True),
    ("contains: a list field is false (use has_any)", c("contains", "value: news"), {"x": ["news"]}, False),
    ("contains: missing is false", c("contains", "value: a"), {}, False),
    ("not_contains: absent", c("not_contains", "value: spam"), {"x": "hello"}, True),
    ("not_contains: present in other case", c("not_contains", "value: spam"), {"x": "SPAM!"}, False),
    ("not_contains: missing is false", c("not_contains", "value: spam"), {}, False),
    ("starts_with: after trimming", c("starts_with", "value: '+44'"), {"x": " +44 20 7946"}, True),
    ("starts_with: no", c("starts_with", "value: '+44'"), {"x": "+1 555"}, False),
    ("ends_with: any domain, ignoring case", c("ends_with", "value: [gmail.com, yahoo.com]"), {"x": "A@GMAIL.COM"}, True),
    ("ends_with: no", c("ends_with", "value: [gmail.com]"), {"x": "a@bigco.com"}, False),
    ("matches: searched, not anchored", c("matches", "value: demo"), {"x": "Book a demo now"}, True),
    ("matches: ignores case by default", c("matches", "value: '^book'"), {"x": "BOOK"}, True),
    ("matches: case_sensitive", c("matches", "value: '^book', case_sensitive: true"), {"x": "BOOK"}, False),
    ("matches: an anchored zip code", c("matches", r"value: '^\d{5}$'"), {"x": "01234"}, True),
    ("matches: a number input as text", c("matches", r"value: '^\d+$'"), {"x": 42}, True),
    ("matches: input over the length cap is false", c("matches", "value: a"), {"x": "a" * 10_001}, False),
    ("matches: missing is false", c("matches", "value: a"), {}, False),
    # numbers
    ("gt: '12' > 9 as numbers, not as strings", c("gt", "value: 9"), {"x": "12"}, True),
    ("gt: equal is not greater", c("gt", "value: 9"), {"x": 9}, False),
    ("gt: decimals", c("gt", "value: 0.5"), {"x": "0.75"}, True),
    ("gt: negative numbers", c("gt", "value: -5"), {"x": "-4"}, True),
    ("gt: text that is not a number is false", c("gt", "value: 9"), {"x": "ten"}, False),
    ("gt: '1,000' does not convert", c("gt", "value: 9"), {"x": "1,000"}, False),
    ("gt: a boolean is not a number", c("gt", "value: 0"), {"x": True}, False),
    ("gt: NaN does not convert", c("gt", "value: 0"), {"x": "NaN"}, False),
    ("gt: infinity does not convert", c("gt", "value: 0"), {"x": "inf"}, False),
    ("gt: a list is false", c("gt", "value: 0"), {"x": [5]}, False),
    ("gte: equal", c("gte", "value: 9"), {"x": "9.0"}, True),
    ("gte: less", c("gte", "value: 9"), {"x": "8.99"}, False),
    ("lt: trimmed text", c("lt", "value: 10"), {"x": " 9 "}, True),
    ("lt: equal is not less", c("lt", "value: 10"), {"x": 10}, False),
    ("lte: equal", c("lte", "value: 10"), {"x": 10}, True),
    ("lte: missing is false", c("lte", "value: 10"), {}, False),
    ("between: inside", c("between", "value: [0, 6]"), {"x": "4"}, True),
    ("between: the low end is included", c("between", "value: [0, 6]"), {"x": 0}, True),
    ("between: the high end is included", c("between", "value: [0, 6]"), {"x": "6"}, True),
    ("between: outside", c("between", "value: [0, 6]"), {"x": 7}, False),
    ("between: text is false", c("between", "value: [0, 6]"), {"x": "four"}, False),
    # tag lists
    ("has_any: one of them, ignoring case", c("has_any", "value: [vip, enterprise]"), {"x": ["VIP", "other"]}, True),
    ("has_any: none of them", c("has_any", "value: [vip]"), {"x": ["a"]}, False),
    ("has_any: a single text counts as a one-item list", c("has_any", "value: [vip]"), {"x": "vip"}, True),
    ("has_any: case_sensitive", c("has_any", "value: [vip], case_sensitive: true"), {"x": ["VIP"]}, False),
    ("has_any: missing is false", c("has_any", "value: [vip]"), {}, False),
    ("has_all: all of them", c("has_all", "value: [a, b]"), {"x": ["b", " A ", "c"]}, True),
    ("has_all: only some", c("has_all", "value: [a, b]"), {"x": ["a"]}, False),
    ("has_none: none of them", c("has_none", "value: [a]"), {"x": ["b"]}, True),
    ("has_none: an empty list", c("has_none", "value: [a]"), {"x": []}, True),
    ("has_none: one of them", c("has_none", "value: [a]"), {"x": ["A"]}, False),
    ("has_none: missing is false", c("has_none", "value: [a]"), {}, False),
]


@pytest.mark.parametrize(("condition", "data", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_operator(condition: str, data: dict[str, Any], expected: bool) -> None:
    assert holds(condition, data) is expected


TRUE_WORDS = [True, "true", "TRUE", "yes", " Yes ", "1", 1, "on", "On"]
FALSE_WORDS = [False, "false", "no", "NO", "0", 0, "off", " Off "]
NEITHER = ["maybe", "", "y", "2", 2, 1.5, [], {}, ["yes"]]


@pytest.mark.parametrize("value", TRUE_WORDS, ids=repr)
def test_is_true_accepts_the_true_words(value: Any) -> None:
    assert holds(c("is_true"), {"x": value}) is True
    assert holds(c("is_false"), {"x": value}) is False


@pytest.mark.parametrize("value", FALSE_WORDS, ids=repr)
def test_is_false_accepts_the_false_words(value: Any) -> None:
    assert holds(c("is_false"), {"x": value}) is True
    assert holds(c("is_true"), {"x": value}) is False


@pytest.mark.parametrize("value", NEITHER, ids=repr)
def test_values_that_are_neither_true_nor_false_fail_both(value: Any) -> None:
    assert holds(c("is_true"), {"x": value}) is False
    assert holds(c("is_false"), {"x": value}) is False


def test_is_true_on_a_missing_field_is_false() -> None:
    assert holds(c("is_true"), {}) is False
    assert holds(c("is_false"), {}) is False


PATHS = [
    ("a nested key", "{field: data.fields.size, op: eq, value: big}", {"fields": {"size": "big"}}, True),
    ("a list index", "{field: data.items.1, op: eq, value: b}", {"items": ["a", "b"]}, True),
    ("an index past the end is missing", "{field: data.items.5, op: not_exists}", {"items": ["a"]}, True),
    ("a payload key named like a dict method", "{field: data.items, op: eq, value: 3}", {"items": 3}, True),
    ("a key inside a text value is missing", "{field: data.x.y, op: not_exists}", {"x": "text"}, True),
    ("null in the middle of a path is missing", "{field: data.x.y, op: not_exists}", {"x": None}, True),
    ("event fields", "{field: event.source, op: eq, value: TypeForm}", {}, True),
    ("event data is not under event", "{field: event.id, op: eq, value: evt_1}", {}, True),
]


@pytest.mark.parametrize(("condition", "data", "expected"), [p[1:] for p in PATHS], ids=[p[0] for p in PATHS])
def test_field_paths(condition: str, data: dict[str, Any], expected: bool) -> None:
    assert holds(condition, data) is expected


def test_customer_fields_read_the_customer_as_given() -> None:
    condition = "{field: customer.tags, op: has_any, value: [vip]}"
    assert holds(condition, {}, customer={"email": "ana@example.com", "tags": ["VIP"]}) is True
    assert holds(condition, {}, customer=None) is False
    assert holds("{field: customer, op: not_exists}", {}) is True


LEAF_TRACES = [
    ("a passing comparison", c("gt", "value: 9"), {"x": "12"},
     {"field": "data.x", "op": "gt", "expected": 9, "seen": "12", "missing": False, "passed": True,
      "reason": "'12' is greater than 9"}),
    ("a value that does not convert", c("gt", "value: 9"), {"x": "ten"},
     {"field": "data.x", "op": "gt", "expected": 9, "seen": "ten", "missing": False, "passed": False,
      "reason": "'ten' is not a number"}),
    ("a missing field", c("eq", "value: a"), {},
     {"field": "data.x", "op": "eq", "expected": "a", "seen": None, "missing": True, "passed": False,
      "reason": "the field is missing"}),
    ("an operator without a value", c("not_exists"), {},
     {"field": "data.x", "op": "not_exists", "seen": None, "missing": True, "passed": True,
      "reason": "the field is missing"}),
    ("a list field given to eq", c("eq", "value: a"), {"x": ["a"]},
     {"field": "data.x", "op": "eq", "expected": "a", "seen": ["a"], "missing": False, "passed": False,
      "reason": "the field is a list (use has_any, has_all or has_none for lists)"}),
]


@pytest.mark.parametrize(("condition", "data", "trace"), [t[1:] for t in LEAF_TRACES], ids=[t[0] for t in LEAF_TRACES])
def test_each_condition_traces_the_value_seen_and_why(condition: str, data: dict[str, Any],
                                                       trace: dict[str, Any]) -> None:
    rules = ruleset(f"""
        version: 1
        rules:
          - id: probe
            if: {condition}
            actions: [{{add_tags: [hit]}}]
        """)
    [entry] = evaluate(rules, event(data), now=NOW).trace
    assert entry["conditions"] == trace


def test_named_lists_feed_in_ends_with_and_has_any() -> None:
    rules = ruleset("""
        version: 1
        lists:
          free: [gmail.com, yahoo.com]
          sizes: ["1000+", 500]
        rules:
          - id: probe
            if:
              all:
                - {field: data.email, op: ends_with, list: free}
                - {field: data.size, op: in, list: sizes}
                - {field: data.tags, op: has_any, list: free}
            actions: [{add_tags: [hit]}]
        """)
    hit = evaluate(rules, event({"email": "A@Yahoo.com", "size": "500", "tags": ["GMAIL.com"]}), now=NOW)
    miss = evaluate(rules, event({"email": "a@bigco.com", "size": "500", "tags": ["gmail.com"]}), now=NOW)
    assert hit.matched == ("probe",)
    assert miss.matched == ()
    assert hit.trace[0]["conditions"]["all"][0] == {
        "field": "data.email", "op": "ends_with", "list": "free", "seen": "A@Yahoo.com", "missing": False,
        "passed": True, "reason": "'A@Yahoo.com' ends with list free"}
