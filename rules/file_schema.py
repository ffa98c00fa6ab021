"""The shape of a rule file (`version`, `lists`, `conditions`, `rules`, `tests`) and of its tests.

`check_file` validates one loaded document with these schemas, turns every marshmallow message
into a located diagnostic, and reports YAML 1.1 surprises: as the reason for a schema error at the
same place, as a warning where YAML's guess is harmless (true/false keys, test samples), else as
an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError, fields, validate

from rules.diagnostics import Loc, Reporter, describe, one_of
from rules.fields import Flag, KeyedMapping, StrictSchema, Text, TextList, flatten, phrase
from rules.loader import YamlDocument
from rules.rule_schema import SENTIMENTS, STATUSES, ConditionField, RuleSchema

BOOL_KEYS = frozenset({"enabled", "stop", "case_sensitive", "create", "created"})
VERSION = 1


class Items(fields.Field):
    """A list whose items are validated one by one later (so each rule reports on its own)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise ValidationError(f"expected a list, got {describe(value)}")
        return value


class AnyMapping(fields.Field):
    """A mapping of anything (payload samples, metadata)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValidationError(f"expected a mapping, got {describe(value)}")
        return value


class ScalarList(fields.Field):
    """A named list: a non-empty list of texts and numbers."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> tuple[Any, ...]:
        if not isinstance(value, list) or not value:
            raise ValidationError(f"expected a non-empty list of texts or numbers, got {describe(value)}")
        bad = {i: [f"expected text or a number, got {describe(v)}"] for i, v in enumerate(value)
               if not isinstance(v, (str, int, float)) or isinstance(v, bool)}
        if bad:
            raise ValidationError(bad)
        return tuple(value)


def _version(value: Any) -> None:
    if value != VERSION or isinstance(value, bool):
        shown = describe(value) if isinstance(value, (bool, list, dict)) or value is None else value
        raise ValidationError(f"unsupported version {shown!r}; this bridge reads `version: {VERSION}`")


class FileSchema(StrictSchema):
    """The top level of a rule file."""

    version = fields.Raw(required=True, validate=_version)
    lists = AnyMapping()       # entries are validated one by one, like rules
    conditions = AnyMapping()
    rules = Items()
    tests = Items()


class TestEventSchema(StrictSchema):
    """The event of a test; `id` and `received_at` get defaults."""

    id = Text()
    source = Text(required=True)
    type = Text(required=True)
    received_at = Text()
    occurred_at = Text()
    entity = Text()
    data = AnyMapping()


class CustomerStateSchema(StrictSchema):
    """An existing customer, as the API returns it."""

    id = Text()
    name = Text(allow_empty=True)
    email = Text()
    status = Text(validate=validate.OneOf(STATUSES, error=f"{one_of(STATUSES)}"))
    sentiment = Text(validate=validate.OneOf(SENTIMENTS, error=f"{one_of(SENTIMENTS)}"))
    tags = TextList(single=False, allow_empty=True)
    notes = Text(allow_empty=True, allow_none=True)
    metadata = AnyMapping(allow_none=True)
    ticketCount = fields.Raw()
    createdAt = fields.Raw()
    updatedAt = fields.Raw()


class ExpectCustomerSchema(StrictSchema):
    """What the customer looks like after the event."""

    created = Flag()
    email = Text()
    name = Text(allow_empty=True)
    tags = TextList(single=False, allow_empty=True)
    notes_contain = TextList()
    metadata = AnyMapping()
    status = Text(validate=validate.OneOf(STATUSES, error=f"{one_of(STATUSES)}"))
    sentiment = Text(validate=validate.OneOf(SENTIMENTS, error=f"{one_of(SENTIMENTS)}"))


class ExpectSchema(StrictSchema):
    """`expect:` of a test."""

    matched = TextList(single=False, allow_empty=True)
    customer = fields.Nested(ExpectCustomerSchema, allow_none=True)


class TestSchema(StrictSchema):
    """One entry of `tests:`."""

    name = Text(required=True)
    event = fields.Nested(TestEventSchema, required=True)
    customer = fields.Nested(CustomerStateSchema, allow_none=True)
    expect = fields.Nested(ExpectSchema, required=True)


@dataclass
class FileShape:
    """The validated parts of one file; rules and tests that failed validation are left out."""

    lists: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    tests: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    rule_ids: list[tuple[int, str]] = field(default_factory=list)  # every readable id, valid rule or not


def _rule_id(raw: Any) -> str | None:
    return raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None


def check_file(doc: YamlDocument, report: Reporter) -> FileShape:
    """Validate one document with the schemas; every problem goes to `report` with its location."""
    shape = FileShape()
    problems: list[tuple[Loc, str, str | None]] = []

    def run(schema: Any, raw: Any, prefix: tuple[Any, ...], rule_id: str | None = None,
            partial: bool = False) -> Any:
        try:
            return schema.load(raw) if isinstance(schema, StrictSchema) else schema.deserialize(raw)
        except ValidationError as exc:
            for path, message in flatten(exc.messages, prefix):
                where, text, at_key = phrase(path, message)
                problems.append((doc.locate(where, key=at_key), text, rule_id))
            # a typo in one list must not hide every rule's problems: keep what did validate
            return exc.valid_data if partial and isinstance(exc.valid_data, dict) else None

    root = doc.root
    if not isinstance(root, dict):
        report.error(doc.locate(()), "a rule file is a mapping with version, lists, conditions, rules and "
                                     f"tests; got {describe(root)}")
        return shape
    top = run(FileSchema(), root, (), partial=True) or {}
    for section, entry_field, target in (("lists", ScalarList(), shape.lists),
                                         ("conditions", ConditionField(), shape.conditions)):
        for name, raw in (top.get(section) or {}).items():
            entry = run(KeyedMapping(entry_field), {name: raw}, (section,))
            if entry is not None:
                target[name] = entry[name]
    for index, raw in enumerate(top.get("rules") or []):
        rule_id = _rule_id(raw)
        if rule_id:
            shape.rule_ids.append((index, rule_id))
        data = run(RuleSchema(), raw, ("rules", index), rule_id)
        if data is not None:
            shape.rules.append((index, data))
    for index, raw in enumerate(top.get("tests") or []):
        data = run(TestSchema(), raw, ("tests", index))
        if data is not None:
            shape.tests.append((index, data))
    _report(doc, problems, report)
    return shape


def _report(doc: YamlDocument, problems: list[tuple[Loc, str, str | None]], report: Reporter) -> None:
    """Schema problems and YAML surprises; a surprise explains a schema error at the same place."""
    surprises = {s.loc: s for s in doc.surprises}
    explained = set()
    for loc, message, rule_id in problems:
        surprise = surprises.get(loc)
        if surprise:
            explained.add(loc)
            message = f"{surprise.explanation}; quote it if you mean the text: \"{surprise.text}\""
        report.error(loc, message, rule_id)
    for loc, surprise in surprises.items():
        quote = f"{surprise.explanation}; quote it if you mean the text: \"{surprise.text}\""
        if loc in explained:
            continue
        rule_id = _rule_id(doc.root["rules"][surprise.path[1]]) if surprise.path[:1] == ("rules",) \
            and len(surprise.path) > 1 and isinstance(doc.root.get("rules"), list) else None
        if surprise.path and surprise.path[-1] in BOOL_KEYS and isinstance(surprise.value, bool):
            report.warning(loc, f"{surprise.explanation}; write {str(surprise.value).lower()}", rule_id)
        elif surprise.path[:1] == ("tests",):
            report.warning(loc, quote)
        else:
            report.error(loc, quote, rule_id)
