"""Errors of the rule language, one tree.

    RulesError                     root of every error rules/ raises on purpose
    ├── RulesInvalid               rule files did not load; `.diagnostics` holds every problem
    │                              (file:line:col, severity, message, rule id); str() is the lint lines
    ├── TemplateInvalid            a template in a rule file does not compile (becomes a diagnostic)
    ├── RenderError                a template could not produce a value for one event; the engine
    │   │                          skips the action (or the rule) and records why in the trace,
    │   │                          so it never escapes `evaluate`
    │   ├── MissingField           the template read a field the event or customer does not have
    │   └── RenderFailed           any other failure: a conversion, the sandbox, an output cap
    └── PlanError (ValueError)     `compute_change` was asked for what it cannot do safely,
                                   e.g. tags or notes without the customer's current state
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rules.diagnostics import Diagnostic


class RulesError(Exception):
    """Root of every error the rule language raises on purpose."""


class RulesInvalid(RulesError):
    """The rule files have errors; nothing was loaded."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics) or "the rule files are invalid")

    @property
    def errors(self) -> list[Diagnostic]:
        """Only the diagnostics of severity error."""
        return [d for d in self.diagnostics if d.severity == "error"]


class TemplateInvalid(RulesError):
    """A template does not compile; `line` is the line inside the template (1-based)."""

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class RenderError(RulesError):
    """A template could not be rendered for this event; `reason` goes into the trace."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MissingField(RenderError):
    """The template read a field that is missing (or null) and used no `default()`."""


class RenderFailed(RenderError):
    """The template failed for another reason: a conversion, the sandbox or an output cap."""


class PlanError(RulesError, ValueError):
    """A change cannot be computed from this plan and state (e.g. tags on a blind update)."""
