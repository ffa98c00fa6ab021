"""The shape of a rule: `when`, `if` (condition trees), `customer`, `vars` and `actions`.

Validation here is local to one rule (plus the op/value table in operators.py); references between
rules, lists and named conditions are checked by the compiler, which knows the whole file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, validates_schema

from rules.diagnostics import describe, did_you_mean, one_of
from rules.fields import (
    IDENTIFIER,
    NAME,
    AtKey,
    Flag,
    KeyedMapping,
    StrictSchema,
    Text,
    TextList,
    Value,
    compile_checked,
)
from rules.operators import MAX_PATTERN, OPERATOR_ALIASES, OPERATORS
from rules.templates import Template

FIELD_ROOTS = ("event", "data", "customer", "vars")
EARLY_ROOTS = ("event", "data", "vars", "now")  # rendered before the customer is read
GROUP_KEYS = ("all", "any", "not", "ref")
SLUG = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
STATUSES = ("active", "inactive")
SENTIMENTS = ("positive", "neutral", "negative")
ACTIONS = ("add_tags", "remove_tags", "set_metadata", "remove_metadata", "add_note", "set_status",
           "set_sentiment", "set_name")
ACTION_ALIASES = {"add_tag": "add_tags", "tag": "add_tags", "tags": "add_tags", "remove_tag": "remove_tags",
                  "untag": "remove_tags", "metadata": "set_metadata", "note": "add_note", "notes": "add_note",
                  "status": "set_status", "sentiment": "set_sentiment", "name": "set_name"}
_METADATA_KEY = re.compile(r"^\S(.*\S)?$")
_NUMBER_TEXT = re.compile(r"^\s*[-+]?\d+(\.\d+)?\s*$")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_problem(value: Any) -> str | None:
    if _is_number(value):
        return None
    if isinstance(value, str) and _NUMBER_TEXT.match(value):
        return f"expected a number, got the text {value!r} (write it without quotes)"
    return f"expected a number, got {describe(value)}"


def check_value(op: str, value: Any) -> str | None:
    """Why `value` does not fit operator `op` (None when it fits); used for `value:` and named lists."""
    takes = OPERATORS[op].takes
    if takes == "scalar":
        if isinstance(value, list):
            return f"{op} compares one value; use in/not_in for a list"
        if isinstance(value, (str, int, float)):
            return None
        return f"{op} needs text, a number or a boolean, got {describe(value)}"
    if takes in ("scalars", "texts", "tags"):
        items = [value] if takes != "scalars" and isinstance(value, (str, int, float)) else value
        if not isinstance(items, list) or not items:
            return f"{op} needs a non-empty list of values, got {describe(value)}"
        bad = [v for v in items
               if not isinstance(v, (str, int, float)) or (takes != "scalars" and isinstance(v, bool))]
        return f"{op} needs text or numbers, got {describe(bad[0])}" if bad else None
    if takes == "regex":
        if not isinstance(value, str):
            return f"matches needs a regular expression as text, got {describe(value)}"
        if len(value) > MAX_PATTERN:
            return f"the pattern is longer than {MAX_PATTERN} characters"
        try:
            re.compile(value)
        except re.error as exc:
            return f"the pattern does not compile: {exc.msg} at position {exc.pos}"
        return None
    if takes == "number":
        return _number_problem(value)
    if takes == "range":
        if not isinstance(value, list) or len(value) != 2:
            return f"between needs [low, high], got {describe(value)}"
        problem = _number_problem(value[0]) or _number_problem(value[1])
        if problem:
            return problem
        return None if value[0] <= value[1] else f"between needs low <= high, got [{value[0]}, {value[1]}]"
    return None


def _check_field_path(path: str) -> None:
    root = path.split(".")[0]
    if root not in FIELD_ROOTS:
        raise ValidationError(f"unknown field root {root!r}{did_you_mean(root, FIELD_ROOTS)}; "
                              f"a field path starts with one of: {', '.join(FIELD_ROOTS)}")
    if path.startswith("event.data."):
        raise ValidationError(f"write {path[len('event.'):]!r}: the payload is the `data` root")
    if any(not step for step in path.split(".")):
        raise ValidationError(f"{path!r} has an empty step; write dotted keys like data.fields.company")


class LeafSchema(StrictSchema):
    """`{field, op, value | list, case_sensitive}`."""

    field = Text(required=True, validate=_check_field_path)
    op = Text(required=True)
    value = fields.Raw(allow_none=True)
    list_name = Text(data_key="list", pattern=NAME, hint="the name of an entry under `lists:`")
    case_sensitive = Flag()

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _value_fits_op(self, data: Mapping[str, Any], original_data: Any, **kwargs: Any) -> None:
        op = data.get("op")
        if not isinstance(op, str):
            return
        if op not in OPERATORS:
            hint = did_you_mean(op, OPERATORS, OPERATOR_ALIASES)
            raise ValidationError({"op": [f"unknown operator {op!r}{hint}; {one_of(OPERATORS)}"]})
        takes = OPERATORS[op].takes
        has_value, has_list = "value" in original_data, "list" in original_data
        if takes == "nothing":
            if has_value or has_list:
                raise ValidationError({"value" if has_value else "list": [f"{op} takes no value"]})
            return
        if has_value and has_list:
            raise ValidationError({"list": [AtKey("give either value or list, not both")]})
        if has_list:
            if takes not in ("scalars", "texts", "tags"):
                raise ValidationError({"list": [AtKey(f"{op} cannot use a named list; give value")]})
            return
        if not has_value:
            what = "value or list" if takes in ("scalars", "texts", "tags") else "value"
            raise ValidationError({"op": [f"{op} needs a {what}"]})
        problem = check_value(op, original_data["value"])
        if problem:
            raise ValidationError({"value": [problem]})


def load_condition(raw: Any) -> dict[str, Any]:
    """A validated condition tree: {all|any: [...]}, {not: ...}, {ref: name} or a leaf."""
    if not isinstance(raw, dict):
        raise ValidationError(f"expected a condition (all, any, not, ref, or field and op), "
                              f"got {describe(raw)}")
    groups = [key for key in raw if key in GROUP_KEYS]
    if not groups:
        if "field" not in raw and "op" not in raw:
            known = GROUP_KEYS + ("field", "op")
            unknown = {key: [AtKey(f"unknown key {key!r}{did_you_mean(key, known)}; a condition is all, any, "
                                   "not, ref, or a field test {field, op, value}")] for key in raw}
            raise ValidationError(unknown or "an empty condition; write all, any, not, ref, or field and op")
        return LeafSchema().load(raw)
    kind = groups[0]
    others = {key: [AtKey(f"{key!r} cannot sit beside {kind!r}; a condition is one of all, any, not, ref "
                          "or a field test (nest them under all: or any:)")] for key in raw if key != kind}
    if others:
        raise ValidationError(others)
    value = raw[kind]
    if kind == "ref":
        if not isinstance(value, str) or not NAME.match(value):
            raise ValidationError({"ref": [f"expected the name of a condition, got {describe(value)}"]})
        return {"ref": value}
    if kind == "not":
        try:
            return {"not": load_condition(value)}
        except ValidationError as exc:
            raise ValidationError({"not": exc.messages}) from None
    if not isinstance(value, list) or not value:
        raise ValidationError({kind: [f"{kind} needs a non-empty list of conditions, got {describe(value)}"]})
    children, errors = [], {}
    for index, child in enumerate(value):
        try:
            children.append(load_condition(child))
        except ValidationError as exc:
            errors[index] = exc.messages
    if errors:
        raise ValidationError({kind: errors})
    return {kind: children}


class ConditionField(fields.Field):
    """A condition tree."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> dict[str, Any]:
        return load_condition(value)


def _tags(value: Any) -> tuple[Template, ...]:
    tags = TextList().deserialize(value)
    out, errors = [], {}
    for index, tag in enumerate(tags):
        if "," in tag and "{" not in tag:
            message = f"tag {tag!r} contains a comma, and the API splits tags on commas; write each tag apart"
            errors[index] = [message]
            continue
        out.append(compile_checked(tag.strip()))
    if errors:
        raise ValidationError(errors)
    return tuple(out)  # type: ignore[arg-type]


def _choice(allowed: tuple[str, ...]) -> Any:
    def load(value: Any) -> Template:
        if not isinstance(value, str):
            raise ValidationError(f"expected one of {', '.join(allowed)}, got {describe(value)}")
        template = compile_checked(value.strip())
        if isinstance(template, Template) and template.kind == "constant" and template.source not in allowed:
            raise ValidationError(f"invalid value {value!r}{did_you_mean(value, allowed)}; {one_of(allowed)}")
        return template  # type: ignore[return-value]
    return load


def _metadata(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        nulls = {key: ["null would delete the key; use remove_metadata"]
                 for key, v in value.items() if v is None}
        if nulls:
            raise ValidationError(nulls)
    return KeyedMapping(Value(), key_pattern=_METADATA_KEY, key_hint="text without surrounding spaces",
                    allow_empty=False).deserialize(value)


ACTION_LOADERS: dict[str, Any] = {
    "add_tags": _tags,
    "remove_tags": _tags,
    "set_metadata": _metadata,
    "remove_metadata": lambda v: tuple(k.strip() for k in TextList().deserialize(v) or ()),
    "add_note": lambda v: Value(text_only=True).deserialize(v),
    "set_status": _choice(STATUSES),
    "set_sentiment": _choice(SENTIMENTS),
    "set_name": lambda v: Value(text_only=True).deserialize(v),
}


def load_action(raw: Any) -> dict[str, Any]:
    """One action item: exactly one action key, plus an optional `if:` condition."""
    if not isinstance(raw, dict):
        raise ValidationError(f"expected an action such as `add_tags: [lead]`, got {describe(raw)}; "
                              f"{one_of(ACTIONS)}")
    errors: dict[str, Any] = {}
    kinds = [key for key in raw if key in ACTIONS]
    for key in raw:
        if key not in ACTIONS and key != "if":
            errors[key] = [AtKey(f"unknown action {key!r}{did_you_mean(key, ACTIONS, ACTION_ALIASES)}; "
                                 f"{one_of(ACTIONS)}")]
    for extra in kinds[1:]:
        errors[extra] = [AtKey(f"one action per list item: {kinds[0]!r} and {extra!r} share one; "
                               "start a new `- ` item for each")]
    if not kinds and not errors:
        raise ValidationError(f"this item has no action; {one_of(ACTIONS)}")
    action: dict[str, Any] = {"kind": kinds[0] if kinds else None, "if": None}
    if kinds:
        try:
            action["value"] = ACTION_LOADERS[kinds[0]](raw[kinds[0]])
        except ValidationError as exc:
            errors[kinds[0]] = exc.messages
    if "if" in raw:
        try:
            action["if"] = load_condition(raw["if"])
        except ValidationError as exc:
            errors["if"] = exc.messages
    if errors:
        raise ValidationError(errors)
    return action


class ActionsField(fields.Field):
    """The non-empty list of actions of a rule."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not value:
            raise ValidationError(f"expected a non-empty list of actions, got {describe(value)}; "
                                  f"{one_of(ACTIONS)}")
        out, errors = [], {}
        for index, item in enumerate(value):
            try:
                out.append(load_action(item))
            except ValidationError as exc:
                errors[index] = exc.messages
        if errors:
            raise ValidationError(errors)
        return out


class WhenSchema(StrictSchema):
    """`when: {source, type}`: a value or a list each."""

    source = TextList()
    type = TextList()


class CustomerSchema(StrictSchema):
    """`customer: {email, name, create}`."""

    email = Value(roots=EARLY_ROOTS, text_only=True)
    name = Value(roots=EARLY_ROOTS, text_only=True)
    create = Flag()


class RuleSchema(StrictSchema):
    """One rule."""

    id = Text(required=True, pattern=SLUG,
              hint="use lower-case letters, digits and hyphens, e.g. enterprise-lead")
    description = Text(allow_empty=True)
    enabled = Flag()
    when = fields.Nested(WhenSchema)
    condition = ConditionField(data_key="if")
    vars = KeyedMapping(Value(roots=EARLY_ROOTS), key_pattern=IDENTIFIER, key_hint="letters, digits and _")
    customer = fields.Nested(CustomerSchema)
    actions = ActionsField(required=True)
    stop = Flag()
    order = Text(pattern=re.compile(r"^(provider|arrival)$"),
                 hint="expected provider (the provider's event time decides which write wins, the default) "
                      "or arrival (the last event to arrive wins)")

    @validates_schema(skip_on_field_errors=True)
    def _no_tag_added_and_removed(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        added: set[str] = set()
        for action in data["actions"]:
            if action["kind"] == "add_tags":
                added |= {t.source.casefold() for t in action["value"] if t.kind == "constant"}
        errors: dict[int, Any] = {}
        for index, action in enumerate(data["actions"]):
            if action["kind"] != "remove_tags":
                continue
            clash = {j: [f"tag {t.source!r} is both added and removed by this rule"]
                     for j, t in enumerate(action["value"])
                     if t.kind == "constant" and t.source.casefold() in added}
            if clash:
                errors[index] = {"remove_tags": clash}
        if errors:
            raise ValidationError({"actions": errors})
