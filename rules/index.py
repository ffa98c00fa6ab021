"""Which rules an event can concern, decided without evaluating them.

Two things are settled by lookups instead of by each rule:

- `when`: the rules admitting a (source, type) pair, worked out once per pair. Rules for other
  sources cost an event nothing.
- a plain equality test every match needs: a rule whose condition is an `all` (through refs and
  nested alls) with an `eq`/`in` test against text on an event field cannot match unless that field,
  trimmed and case-folded, is one of those texts. The rules are grouped by field, so one dict lookup
  per field rules out the rest. This is exactly the operators' own verdict (`_eq`/`_in` compare text
  with `as_text` and `fold`); the trace still shows every condition of such a rule, evaluated in full.

Only rules without `vars` are keyed by a condition (vars are rendered per rule and show in the trace).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from rules.conditions import Condition, Group, Leaf, Ref
from rules.operators import Scalar
from rules.values import MISSING, as_text, fold, is_scalar, resolve

if TYPE_CHECKING:
    from rules.model import Rule

_MAX_PAIRS = 4096  # (source, type) pairs remembered; sources are configured, types few per source
_EVENT_ROOTS = frozenset({"event", "data"})

Field = tuple[tuple[str, ...], bool]  # (path, case_sensitive)


class Admitted:
    """The rules `when` admits for one (source, type): all of them, those no equality test keys, and
    the keyed ones by field and text."""

    __slots__ = ("candidates", "keyed", "unkeyed")

    def __init__(self, candidates: tuple[int, ...], field_of: dict[int, Field],
                 keyed: dict[Field, dict[str, frozenset[int]]]) -> None:
        self.candidates = candidates
        self.unkeyed = tuple(p for p in candidates if p not in field_of)
        admitted = frozenset(candidates)
        self.keyed = {field: {text: tuple(sorted(positions & admitted)) for text, positions in by_text.items()
                              if positions & admitted}
                      for field, by_text in keyed.items()
                      if any(field_of.get(p) == field for p in candidates)}


class RuleIndex:
    """Built once per rule set; immutable apart from the (source, type) memo."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        self.pairs: dict[tuple[str | None, str | None], Admitted] = {}
        self.field_of: dict[int, Field] = {}  # keyed rule position → its field
        texts: dict[Field, dict[str, set[int]]] = {}
        for position, rule in enumerate(rules):
            leaf = _key_leaf(rule)
            if leaf is None:
                continue
            field = self.field_of[position] = (leaf.path, leaf.case_sensitive)
            expected = leaf.expected if isinstance(leaf.expected, tuple) else (leaf.expected,)
            for item in expected:
                texts.setdefault(field, {}).setdefault(item.text, set()).add(position)
        # field → text → positions of the keyed rules that this text lets through
        self.keyed: dict[Field, dict[str, frozenset[int]]] = {
            field: {text: frozenset(p) for text, p in by_text.items()} for field, by_text in texts.items()}

    def admitted(self, source: str | None, type_: str | None) -> Admitted:
        """The enabled rules whose `when` admits this (lower-cased) source and type."""
        found = self.pairs.get((source, type_))
        if found is None:
            candidates = tuple(i for i, rule in enumerate(self.rules) if rule.enabled
                               and (rule.sources is None or source in rule.sources)
                               and (rule.types is None or type_ in rule.types))
            found = Admitted(candidates, self.field_of, self.keyed)
            if len(self.pairs) < _MAX_PAIRS:
                self.pairs[(source, type_)] = found
        return found

    def candidates(self, source: str | None, type_: str | None) -> tuple[int, ...]:
        """Positions of the enabled rules whose `when` admits this (lower-cased) source and type."""
        return self.admitted(source, type_).candidates

    @staticmethod
    def to_evaluate(admitted: Admitted, scope: Mapping[str, Any]) -> tuple[int, ...] | list[int]:
        """The admitted rules that can match this event, in order: a keyed rule only if its field's
        value (trimmed, case-folded unless case-sensitive) is one of its texts."""
        if not admitted.keyed:
            return admitted.candidates
        positions = list(admitted.unkeyed)
        for (path, case_sensitive), by_text in admitted.keyed.items():
            actual = resolve(scope, path)
            text = as_text(actual) if actual is not MISSING and is_scalar(actual) else None
            if text is not None:
                positions += by_text.get(fold(text, case_sensitive), ())
        positions.sort()
        return positions


def _key_leaf(rule: Rule) -> Leaf | None:
    """The first `eq`/`in`-against-text test on an event field that the rule's match requires."""
    if rule.vars or rule.condition is None:
        return None
    for leaf in _required(rule.condition):
        if leaf.op.name not in ("eq", "in") or leaf.path[0] not in _EVENT_ROOTS:
            continue
        expected = leaf.expected if isinstance(leaf.expected, tuple) else (leaf.expected,)
        if expected and all(isinstance(e, Scalar) and e.text is not None for e in expected):
            return leaf
    return None


def _required(condition: Condition) -> Iterator[Leaf]:
    """The leaves that must all hold for the condition to hold: through refs and nested alls."""
    if isinstance(condition, Ref):
        yield from _required(condition.target)
    elif isinstance(condition, Leaf):
        yield condition
    elif isinstance(condition, Group) and condition.kind == "all":
        for child in condition.children:
            yield from _required(child)
