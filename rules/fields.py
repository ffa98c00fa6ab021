"""Marshmallow building blocks for rule files: strict fields, strict schemas, and error flattening.

Messages say what was expected and, for misspelt keys, what was probably meant. Errors that belong
at a key rather than its value (unknown keys) are `AtKey` strings, so the locator can point there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

from rules.diagnostics import describe, did_you_mean, one_of
from rules.errors import TemplateInvalid
from rules.templates import ROOTS, Renderable, compile_value

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REQUIRED = "Missing data for required field."


class AtKey(str):
    """An error message about a key itself (it is located at the key, not at its value)."""


def known_keys(schema: Schema) -> list[str]:
    """The keys a schema accepts, as written in files."""
    return [f.data_key or name for name, f in schema.load_fields.items()]


class StrictSchema(Schema):
    """A schema that rejects unknown keys with "did you mean" and the list of expected keys."""

    class Meta:
        unknown = EXCLUDE  # reported by _reject_unknown_keys with a better message

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _reject_unknown_keys(self, data: Any, original_data: Any, **kwargs: Any) -> None:
        if not isinstance(original_data, Mapping):
            return
        known = known_keys(self)
        unknown = {key: [AtKey(f"unknown key {key!r}{did_you_mean(str(key), known)}; {one_of(known)}")]
                   for key in original_data if key not in known}
        if unknown:
            raise ValidationError(unknown)


class Text(fields.Field):
    """Text only (never a number or boolean that YAML guessed); optionally a pattern and non-empty."""

    def __init__(self, *, pattern: re.Pattern[str] | None = None, hint: str = "", allow_empty: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pattern, self.hint, self.allow_empty = pattern, hint, allow_empty

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(f"expected text, got {describe(value)}")
        if not self.allow_empty and not value.strip():
            raise ValidationError("expected text, got an empty value")
        if self.pattern and not self.pattern.match(value):
            raise ValidationError(f"{value!r} is not valid: {self.hint}")
        return value


class Flag(fields.Field):
    """true or false, nothing else."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(f"expected true or false, got {describe(value)}")
        return value


class TextList(fields.Field):
    """One text or a list of texts (optionally empty)."""

    def __init__(self, *, allow_empty: bool = False, single: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allow_empty, self.single = allow_empty, single

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> list[str]:
        if isinstance(value, str) and self.single:
            value = [value]
        if not isinstance(value, list):
            what = "text or a list of texts" if self.single else "a list of texts"
            raise ValidationError(f"expected {what}, got {describe(value)}")
        if not value and not self.allow_empty:
            raise ValidationError("expected at least one item, got an empty list")
        errors = {i: [f"expected text, got {describe(v)}"] for i, v in enumerate(value)
                  if not isinstance(v, str) or not v.strip()}
        if errors:
            raise ValidationError(errors)
        return list(value)


class KeyedMapping(fields.Field):
    """A mapping whose keys match a pattern and whose values go through another field."""

    def __init__(self, values: fields.Field, *, key_pattern: re.Pattern[str] = NAME,
                 key_hint: str = "letters, digits, - and _", allow_empty: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.values, self.key_pattern, self.key_hint = values, key_pattern, key_hint
        self.allow_empty = allow_empty

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValidationError(f"expected a mapping, got {describe(value)}")
        if not value and not self.allow_empty:
            raise ValidationError("expected at least one key, got an empty mapping")
        out: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for key, item in value.items():
            if not self.key_pattern.match(key):
                errors[key] = [AtKey(f"{key!r} is not a valid name: use {self.key_hint}")]
                continue
            try:
                out[key] = self.values.deserialize(item)
            except ValidationError as exc:
                errors[key] = exc.messages
        if errors:
            raise ValidationError(errors)
        return out


class Value(fields.Field):
    """Any value; text inside it is compiled as a template with the given roots."""

    def __init__(self, *, roots: tuple[str, ...] = ROOTS, text_only: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.roots, self.text_only = roots, text_only

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> Renderable:
        if self.text_only and not isinstance(value, str):
            raise ValidationError(f"expected text, got {describe(value)}")
        if value is None:
            raise ValidationError("expected a value, got null")
        return compile_checked(value, self.roots)


def compile_checked(value: Any, roots: tuple[str, ...] = ROOTS) -> Renderable:
    """compile_value, with template problems turned into a validation message."""
    try:
        return compile_value(value, roots)
    except TemplateInvalid as exc:
        where = f" (template line {exc.line})" if exc.line > 1 else ""
        raise ValidationError(f"{exc.message}{where}") from None


def flatten(messages: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Marshmallow's nested messages as (path, message) pairs; `_schema` means the mapping itself."""
    if isinstance(messages, dict):
        for key, sub in messages.items():
            yield from flatten(sub, path if key == "_schema" else path + (key,))
    elif isinstance(messages, list):
        for item in messages:
            yield from flatten(item, path)
    else:
        yield path, messages


def phrase(path: tuple[Any, ...], message: str) -> tuple[tuple[Any, ...], str, bool]:
    """(where, message, at_key) with marshmallow's own wording replaced by ours."""
    if message == _REQUIRED and path:
        return path[:-1], f"missing required key {path[-1]!r}", False
    if message == "Invalid input type.":
        return path, "expected a mapping", False
    return path, str(message), isinstance(message, AtKey)
