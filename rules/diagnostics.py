"""Diagnostics: one problem in a rule file, located by file, line and column."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple


class Loc(NamedTuple):
    """A 1-based line and column in a rule file."""

    line: int
    col: int


START = Loc(1, 1)


@dataclass(frozen=True)
class Diagnostic:
    """One problem: `file:line:col: error|warning: message [rule-id]`."""

    file: str
    line: int
    col: int
    severity: str  # "error" | "warning"
    message: str
    rule_id: str | None = None

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"
        return f"{text} [{self.rule_id}]" if self.rule_id else text

    @property
    def is_error(self) -> bool:
        """True for errors, False for warnings."""
        return self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"file": self.file, "line": self.line, "col": self.col, "severity": self.severity,
                "message": self.message, "rule_id": self.rule_id}


class Reporter:
    """Collects the diagnostics of one file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.diagnostics: list[Diagnostic] = []

    def error(self, loc: Loc, message: str, rule_id: str | None = None) -> None:
        """Record an error at `loc`."""
        self.diagnostics.append(Diagnostic(self.file, loc.line, loc.col, "error", message, rule_id))

    def warning(self, loc: Loc, message: str, rule_id: str | None = None) -> None:
        """Record a warning at `loc`."""
        self.diagnostics.append(Diagnostic(self.file, loc.line, loc.col, "warning", message, rule_id))


def did_you_mean(word: str, candidates: Iterable[str], aliases: dict[str, str] | None = None) -> str:
    """` (did you mean 'x'?)` for the closest candidate, or an empty string."""
    if aliases and word.lower() in aliases:
        return f" (did you mean {aliases[word.lower()]!r}?)"
    matches = difflib.get_close_matches(word.lower(), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def one_of(candidates: Iterable[str]) -> str:
    """`expected one of: a, b, c`."""
    return "expected one of: " + ", ".join(candidates)


def describe(value: Any) -> str:
    """A short description of a YAML value for messages: `the number 668`, `a list`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:60]!r}"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return f"a {type(value).__name__} ({value})"


def sort_diagnostics(diagnostics: Iterable[Diagnostic], file_order: list[str]) -> list[Diagnostic]:
    """Diagnostics in file order, then by line and column; duplicates dropped."""
    order = {name: i for i, name in enumerate(file_order)}
    unique = list(dict.fromkeys(diagnostics))
    return sorted(unique, key=lambda d: (order.get(d.file, len(order)), d.file, d.line, d.col))
