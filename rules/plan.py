"""The plan for one customer: what the matching rules want, merged in rule order.

Tags merge case-insensitively (the first spelling wins, a later rule's add/remove overrides an
earlier one), notes append in order, and for metadata keys and fields the later rule wins. Every
override is returned so the engine can put it in the trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

FIELDS = ("status", "sentiment", "name")
_REMOVED: Any = object()
Overrides = tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class CustomerPlan:
    """Everything the matched rules want done to one customer."""

    email: str
    key: str
    name: str | None
    create: bool
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    set_metadata: dict[str, Any] = field(default_factory=dict)
    remove_metadata: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)
    rules: tuple[str, ...] = ()
    # the rule behind each overwritten field (`status`, `metadata.plan`), and those whose rule says
    # `order: arrival` (applied in arrival order, never judged stale: see rules.ordering)
    field_rules: dict[str, str] = field(default_factory=dict)
    arrival: frozenset[str] = frozenset()

    @property
    def needs_read(self) -> bool:
        """True when the change depends on the current state (tags replace the list; notes append)."""
        return bool(self.add_tags or self.remove_tags or self.notes)

    @property
    def is_empty(self) -> bool:
        """True when the plan neither creates nor changes anything."""
        return not (self.create or self.add_tags or self.remove_tags or self.notes or self.set_metadata
                    or self.remove_metadata or self.fields)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"email": self.email, "key": self.key, "name": self.name, "create": self.create,
                "add_tags": list(self.add_tags), "remove_tags": list(self.remove_tags),
                "notes": list(self.notes), "set_metadata": dict(self.set_metadata),
                "remove_metadata": list(self.remove_metadata), "fields": dict(self.fields),
                "rules": list(self.rules), "field_rules": dict(self.field_rules), "arrival": sorted(self.arrival)}


class PlanBuilder:
    """Accumulates the effects of matched rules for one customer, in rule order."""

    def __init__(self, email: str, key: str) -> None:
        self.email, self.key = email, key
        self.name: str | None = None
        self.create = False
        self.rules: list[str] = []
        self.tags: dict[str, tuple[str, bool, str]] = {}   # folded → (spelling, added?, rule)
        self.notes: list[str] = []
        self.metadata: dict[str, tuple[Any, str]] = {}     # key → (value or _REMOVED, rule)
        self.fields: dict[str, tuple[Any, str]] = {}
        self.arrival_rules: set[str] = set()

    def add_rule(self, rule_id: str, create: bool, name: str | None, *, arrival: bool = False) -> None:
        """A rule matched for this customer: it may allow creating it and offer a name; `arrival`: its
        writes keep arrival order (`order: arrival`)."""
        self.rules.append(rule_id)
        if arrival:
            self.arrival_rules.add(rule_id)
        self.create = self.create or create
        if name and not self.name:
            self.name = name

    def apply(self, kind: str, value: Any, rule_id: str) -> list[dict[str, Any]]:
        """Merge one rendered action; returns the overrides of earlier effects."""
        return list(MERGES[kind](self, value, rule_id))

    # One method per action kind, each taking (value, rule id) and returning the overrides of earlier
    # effects (an empty tuple when there are none): the engine calls them through MERGES.
    def add_tags(self, tags: list[str], rule_id: str) -> Overrides:
        """Tags a rule adds; a later rule's add overrides an earlier remove."""
        return self._tags(tags, True, rule_id)

    def remove_tags(self, tags: list[str], rule_id: str) -> Overrides:
        """Tags a rule removes; a later rule's remove overrides an earlier add."""
        return self._tags(tags, False, rule_id)

    def add_note(self, text: str, rule_id: str) -> Overrides:
        """A note to append (notes never override each other)."""
        self.notes.append(text)
        return ()

    def set_metadata(self, values: dict[str, Any], rule_id: str) -> Overrides:
        """Metadata keys a rule sets (the later rule wins)."""
        metadata = self.metadata
        overrides: Overrides = ()
        for key, value in values.items():
            earlier = metadata.get(key)
            metadata[key] = (value, rule_id)
            if earlier is not None and not (earlier[0] == value and type(earlier[0]) is type(value)):
                overrides = (*overrides, _override("metadata", key, earlier, value))
        return overrides

    def remove_metadata(self, keys: list[str], rule_id: str) -> Overrides:
        """Metadata keys a rule removes (the later rule wins)."""
        return tuple(o for k in keys for o in _set(self.metadata, "metadata", k, _REMOVED, rule_id))

    def set_status(self, value: str, rule_id: str) -> Overrides:
        """The status a rule sets (the later rule wins)."""
        return _set(self.fields, "field", "status", value, rule_id)

    def set_sentiment(self, value: str, rule_id: str) -> Overrides:
        """The sentiment a rule sets (the later rule wins)."""
        return _set(self.fields, "field", "sentiment", value, rule_id)

    def set_name(self, value: str, rule_id: str) -> Overrides:
        """The name a rule sets (the later rule wins)."""
        return _set(self.fields, "field", "name", value, rule_id)

    def _tags(self, tags: list[str], add: bool, rule_id: str) -> Overrides:
        found = self.tags
        overrides: Overrides = ()
        for tag in tags:
            folded = tag.casefold()
            earlier = found.pop(folded, None)  # popped: a tag wished for again moves to the end
            if earlier is None:
                found[folded] = (tag, add, rule_id)
                continue
            if earlier[1] != add:
                was, now = ("add", "remove") if earlier[1] else ("remove", "add")
                overrides = (*overrides, {"tag": earlier[0], "by_rule": earlier[2], "was": was, "now": now})
            found[folded] = (earlier[0], add, rule_id)
        return overrides

    def build(self) -> CustomerPlan:
        """The frozen plan; a customer that may be created gets a name (the email's local part at worst)."""
        name = self.name or (self.email.split("@")[0] if self.create else None)
        added: list[str] = []
        removed: list[str] = []
        for spelling, add, _ in self.tags.values():
            (added if add else removed).append(spelling)
        fields: dict[str, Any] = {}
        field_rules: dict[str, str] = {}
        for key, (value, rule_id) in self.fields.items():
            fields[key] = value
            field_rules[key] = rule_id
        metadata: dict[str, Any] = {}
        unset: list[str] = []
        for key, (value, rule_id) in self.metadata.items():
            field_rules[f"metadata.{key}"] = rule_id
            if value is _REMOVED:
                unset.append(key)
            else:
                metadata[key] = value
        arrival = self.arrival_rules
        # Every field, set at once: a frozen dataclass's __init__ sets each through object.__setattr__,
        # which costs more than the rest of building the plan (one per customer per event).
        plan = object.__new__(CustomerPlan)
        plan.__dict__.update(
            email=self.email, key=self.key, name=name, create=self.create, add_tags=tuple(added),
            remove_tags=tuple(removed), notes=tuple(self.notes), set_metadata=metadata, remove_metadata=tuple(unset),
            fields=fields, rules=tuple(self.rules), field_rules=field_rules,
            arrival=frozenset(k for k, r in field_rules.items() if r in arrival) if arrival else frozenset())
        return plan


def _set(target: dict[str, tuple[Any, str]], what: str, key: str, value: Any, rule_id: str) -> Overrides:
    earlier = target.get(key)
    target[key] = (value, rule_id)
    if earlier is None or earlier[0] == value and type(earlier[0]) is type(value):
        return ()
    return (_override(what, key, earlier, value),)


def _override(what: str, key: str, earlier: tuple[Any, str], value: Any) -> dict[str, Any]:
    def show(v: Any) -> Any:
        return "<removed>" if v is _REMOVED else v
    return {what: key, "by_rule": earlier[1], "was": show(earlier[0]), "now": show(value)}


# The plan method each action kind merges with: (builder, rendered value, rule id) → overrides.
MERGES: dict[str, Callable[[PlanBuilder, Any, str], Overrides]] = {
    kind: getattr(PlanBuilder, kind) for kind in ("add_tags", "remove_tags", "add_note", "set_metadata",
                                                  "remove_metadata", "set_status", "set_sentiment", "set_name")}
