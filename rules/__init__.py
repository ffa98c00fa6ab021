"""The rule language (v1): YAML rules → a plan per customer → the minimal API change. Pure: no I/O
besides reading rule files; imports only the standard library, yaml, marshmallow and jinja2.

    ruleset = load_ruleset(["rules/examples"])           # RulesInvalid(diagnostics) on any error
    evaluation = evaluate(ruleset, event, customers)      # matched rules, plans, trace
    change = compute_change(plan, current, exists=True)   # POST/PATCH bodies, or nothing
"""

from rules.change import (
                          NOTE_MARKER,
                          Change,
                          apply_change,
                          compute_change,
                          note_marker_present,
                          with_note_marker,
)
from rules.diagnostics import Diagnostic
from rules.engine import Evaluation, evaluate
from rules.errors import (
                          MissingField,
                          PlanError,
                          RenderError,
                          RenderFailed,
                          RulesError,
                          RulesInvalid,
                          TemplateInvalid,
)
from rules.lint import EXAMPLES_DIR, lint_paths, load_ruleset, load_ruleset_text
from rules.model import Action, Rule, Ruleset, RuleTest
from rules.plan import CustomerPlan
from rules.testing import TestReport, TestResult, run_tests

__all__ = [
                          "EXAMPLES_DIR",
                          "NOTE_MARKER",
                          "Action",
                          "Change",
                          "CustomerPlan",
                          "Diagnostic",
                          "Evaluation",
                          "MissingField",
                          "PlanError",
                          "RenderError",
                          "RenderFailed",
                          "Rule",
                          "RuleTest",
                          "RulesError",
                          "RulesInvalid",
                          "Ruleset",
                          "TemplateInvalid",
                          "TestReport",
                          "TestResult",
                          "apply_change",
                          "compute_change",
                          "evaluate",
                          "lint_paths",
                          "load_ruleset",
                          "load_ruleset_text",
                          "note_marker_present",
                          "run_tests",
                          "with_note_marker",
]
