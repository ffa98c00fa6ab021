"""From validated file shapes to the compiled Ruleset: references, cycles, vars and cross-file checks.

The schemas have already checked each rule on its own; what needs the whole file (named lists and
conditions, `vars` used by templates) or every file (unique rule ids, tests naming rules, rules
that an earlier unconditional `stop` hides) is checked here, with the same locations.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rules.conditions import Condition, Group, Leaf, Not, Ref
from rules.diagnostics import Reporter, did_you_mean
from rules.actions import compile_action
from rules.file_schema import FileShape
from rules.loader import YamlDocument, to_plain
from rules.model import Action, Rule, RuleTest
from rules.operators import OPERATORS, prepare
from rules.rule_schema import EARLY_ROOTS, check_value
from rules.templates import Renderable, compile_template

DEFAULT_EMAIL = compile_template("{{ data.email }}", EARLY_ROOTS)
DEFAULT_NAME = compile_template("{{ data.name }}", EARLY_ROOTS)
# a quantified group that is itself quantified, e.g. (a+)+ or (\w*)*: exponential backtracking
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*](?:[^()\\]|\\.)*\)[+*{]")
# Identical leaves are one object, so an evaluation tests each once however many rules repeat it
# (conditions.Leaf.check memoizes per event by leaf). Leaves are immutable; weak, so reloads free them.
_LEAVES: weakref.WeakValueDictionary[str, Leaf] = weakref.WeakValueDictionary()


@dataclass
class CompiledFile:
    """One file's rules and tests, compiled, with its reporter."""

    name: str
    rules: list[Rule]
    tests: list[RuleTest]
    report: Reporter
    doc: YamlDocument
    rule_index: dict[str, int]


class FileCompiler:
    """Builds the rules of one file; problems go to the file's reporter."""

    def __init__(self, name: str, doc: YamlDocument, shape: FileShape, report: Reporter) -> None:
        self.name, self.doc, self.shape, self.report = name, doc, shape, report
        self.named: dict[str, Condition | None] = {}
        self.building: list[str] = []
        self.used_lists: set[str] = set()
        self.used_conditions: set[str] = set()
        self.declared_vars: list[str] | None = None  # the current rule's vars; None in named conditions

    def compile(self) -> CompiledFile:
        """Every rule and test that validated, compiled."""
        built = [(index, self.rule(index, data)) for index, data in self.shape.rules]
        for name in self.shape.conditions:
            self.condition_named(name, ("conditions", name), None)
        if not any(d.is_error for d in self.report.diagnostics):  # after an error, "unused" is mostly noise
            for section, used in (("conditions", self.used_conditions), ("lists", self.used_lists)):
                for name in getattr(self.shape, section):
                    if name not in used:
                        self.report.warning(self.doc.locate((section, name), key=True),
                                            f"{section[:-1]} {name!r} is never used")
        tests = [self.test(index, data) for index, data in self.shape.tests]
        rules = [(index, rule) for index, rule in built if rule is not None]
        return CompiledFile(self.name, [rule for _, rule in rules], tests, self.report, self.doc,
                            {rule.id: index for index, rule in rules})

    def condition(self, tree: dict[str, Any], path: tuple[Any, ...], rule_id: str | None) -> Condition | None:
        """A compiled condition tree (None when it has an error, already reported)."""
        if "ref" in tree:
            return self.condition_ref(tree["ref"], path + ("ref",), rule_id)
        if "not" in tree:
            child = self.condition(tree["not"], path + ("not",), rule_id)
            return Not(child) if child else None
        for kind in ("all", "any"):
            if kind in tree:
                children = [self.condition(c, path + (kind, i), rule_id) for i, c in enumerate(tree[kind])]
                return Group(kind, tuple(children)) if all(children) else None  # type: ignore[arg-type]
        return self.leaf(tree, path, rule_id)

    def condition_ref(self, name: str, path: tuple[Any, ...], rule_id: str | None) -> Condition | None:
        if name not in self.shape.conditions:
            hint = did_you_mean(name, self.shape.conditions)
            self.report.error(self.doc.locate(path), f"undefined condition {name!r}{hint}; define it under "
                              "`conditions:`", rule_id)
            return None
        self.used_conditions.add(name)
        if name in self.building:
            cycle = " → ".join(self.building[self.building.index(name):] + [name])
            self.report.error(self.doc.locate(path), f"condition refs form a cycle: {cycle}", rule_id)
            return None
        target = self.condition_named(name, path, rule_id)
        return Ref(name, target) if target else None

    def condition_named(self, name: str, path: tuple[Any, ...], rule_id: str | None) -> Condition | None:
        if name not in self.named:
            self.building.append(name)
            outer, self.declared_vars = self.declared_vars, None  # shared by rules with different vars
            self.named[name] = self.condition(self.shape.conditions[name], ("conditions", name), None)
            self.declared_vars = outer
            self.building.pop()
        return self.named[name]

    def leaf(self, tree: dict[str, Any], path: tuple[Any, ...], rule_id: str | None) -> Condition | None:
        op = OPERATORS[tree["op"]]
        case_sensitive = tree.get("case_sensitive", False)
        if "case_sensitive" in tree and not op.text:
            self.report.warning(self.doc.locate(path + ("case_sensitive",), key=True),
                                f"case_sensitive has no effect on {op.name}", rule_id)
        value, list_name = tree.get("value"), tree.get("list_name")
        if list_name is not None:
            if list_name not in self.shape.lists:
                hint = did_you_mean(list_name, self.shape.lists)
                self.report.error(self.doc.locate(path + ("list",)), f"undefined list {list_name!r}{hint}; "
                                  "define it under `lists:`", rule_id)
                return None
            self.used_lists.add(list_name)
            value = list(self.shape.lists[list_name])
            problem = check_value(op.name, value)
            if problem:
                self.report.error(self.doc.locate(path + ("list",)), f"list {list_name!r}: {problem}",
                                  rule_id)
                return None
        parts = tree["field"].split(".")
        declared = self.declared_vars
        if parts[0] == "vars" and len(parts) > 1 and declared is not None and parts[1] not in declared:
            self.report.error(self.doc.locate(path + ("field",)), f"vars.{parts[1]} is not declared in this "
                              f"rule's vars{did_you_mean(parts[1], declared)}", rule_id)
            return None
        if op.takes == "regex" and _NESTED_QUANTIFIER.search(str(value)):
            self.report.warning(self.doc.locate(path + ("value",)), "nested quantifiers like (a+)+ can take "
                                "exponential time on unlucky input; simplify the pattern", rule_id)
        raw = to_plain(value)
        key = json.dumps([tree["field"], op.name, raw, list_name, case_sensitive], sort_keys=True, default=repr)
        leaf = _LEAVES.get(key)
        if leaf is None:
            leaf = _LEAVES[key] = Leaf(tree["field"], op, prepare(op.name, value, case_sensitive), raw, list_name,
                                       case_sensitive)
        return leaf

    def rule(self, index: int, data: dict[str, Any]) -> Rule | None:
        """One compiled rule, or None when something in it is wrong."""
        base, rule_id = ("rules", index), data["id"]
        errors_before = len(self.report.diagnostics)
        declared: list[str] = []
        for name, template in (data.get("vars") or {}).items():
            self.check_vars(template, declared, base + ("vars", name), rule_id)
            declared.append(name)
        self.declared_vars = declared
        condition = None
        if "condition" in data:
            condition = self.condition(data["condition"], base + ("if",), rule_id)
        customer = data.get("customer") or {}
        email, name = customer.get("email", DEFAULT_EMAIL), customer.get("name", DEFAULT_NAME)
        for key, template in (("email", email), ("name", name)):
            self.check_vars(template, declared, base + ("customer", key), rule_id)
        actions = []
        for j, item in enumerate(data["actions"]):
            path = base + ("actions", j)
            action_if = self.condition(item["if"], path + ("if",), rule_id) if item["if"] else None
            for template in _templates(item["value"]):
                self.check_vars(template, declared, path + (item["kind"],), rule_id)
            actions.append(Action(item["kind"], item["value"], action_if, self.doc.locate(path).line,
                                  *compile_action(item["kind"], item["value"])))
        self.declared_vars = None
        if any(d.is_error for d in self.report.diagnostics[errors_before:]):
            return None
        actions_read_customer = any(
            "customer" in t.roots for a in actions for t in _templates(a.value)) or any(
            p[0] == "customer" for a in actions if a.condition is not None for p in a.condition.paths())
        reads_customer = actions_read_customer or (
            condition is not None and any(p[0] == "customer" for p in condition.paths()))
        if data.get("order") == "arrival" and not any(a.kind in OVERWRITING for a in actions):
            self.report.warning(self.doc.locate(base + ("order",)),
                                "order: arrival changes nothing here: this rule only adds or removes tags and "
                                "appends notes, which accumulate in any order; order applies to set_status, "
                                "set_sentiment, set_name, set_metadata and remove_metadata", rule_id)
        when = data.get("when") or {}
        return Rule(
            id=rule_id, description=data.get("description", ""), enabled=data.get("enabled", True),
            sources=_lowered(when.get("source")), types=_lowered(when.get("type")), condition=condition,
            vars=tuple((data.get("vars") or {}).items()), email=email, name=name,
            create=customer.get("create", True), actions=tuple(actions), stop=data.get("stop", False),
            order=data.get("order", "provider"),
            file=self.name, line=self.doc.locate(base).line, reads_customer=reads_customer,
            actions_read_customer=actions_read_customer)

    def check_vars(self, template: Renderable, declared: list[str], path: tuple[Any, ...],
                   rule_id: str | None) -> None:
        for var in sorted(template.var_names - set(declared)):
            self.report.error(self.doc.locate(path), f"template reads vars.{var}, which is not declared "
                              f"before it in this rule's vars{did_you_mean(var, declared)}", rule_id)

    def test(self, index: int, data: dict[str, Any]) -> RuleTest:
        """One test, with plain data."""
        line = self.doc.locate(("tests", index)).line
        return RuleTest(self.name, line, data["name"], to_plain(data["event"]),
                        to_plain(data.get("customer")), to_plain(data["expect"]))


OVERWRITING = ("set_status", "set_sentiment", "set_name", "set_metadata", "remove_metadata")


def _templates(value: Any) -> list[Renderable]:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, tuple):
        return [v for v in value if hasattr(v, "roots")]
    return [value] if hasattr(value, "roots") else []


def _lowered(values: list[str] | None) -> frozenset[str] | None:
    return frozenset(v.strip().lower() for v in values) if values else None


def check_across_files(files: Iterable[CompiledFile], shapes: dict[str, FileShape]) -> None:
    """Rule ids unique across files, rules hidden by an unconditional stop, tests naming unknown rules."""
    files = list(files)
    seen: dict[str, tuple[str, int]] = {}
    for compiled in files:
        for index, rule_id in shapes[compiled.name].rule_ids:
            loc = compiled.doc.locate(("rules", index, "id"))
            key = rule_id.lower()
            if key in seen:
                first_file, first_line = seen[key]
                compiled.report.error(loc, f"duplicate rule id {rule_id!r} (first defined at "
                                           f"{first_file}:{first_line})", rule_id)
            else:
                seen[key] = (compiled.name, loc.line)
    stopper: Rule | None = None
    for compiled in files:
        for rule in compiled.rules:
            if stopper is not None:
                compiled.report.warning(compiled.doc.locate(("rules", compiled.rule_index[rule.id], "id")),
                                        f"never evaluated: rule {stopper.id!r} always matches and stops",
                                        rule.id)
            elif rule.enabled and rule.stop and rule.condition is None and rule.sources is rule.types is None:
                stopper = rule
    for compiled in files:
        for index, data in shapes[compiled.name].tests:
            for j, rule_id in enumerate(data["expect"].get("matched") or []):
                if rule_id.lower() not in seen:
                    compiled.report.error(compiled.doc.locate(("tests", index, "expect", "matched", j)),
                                          f"unknown rule {rule_id!r}{did_you_mean(rule_id, seen)}")

