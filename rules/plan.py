"""The plan for one customer: what the matching rules want, merged in rule order.

Tags merge case-insensitively (the first spelling wins, a later rule's add/remove overrides an
earlier one), notes append in order, and for metadata keys and fields the later rule wins. Every
override is returned so the engine can put it in the trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FIELDS = ("status", "sentiment", "name")
_REMOVED: Any = object()


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
        if kind in ("add_tags", "remove_tags"):
            return self._tags(value, kind == "add_tags", rule_id)
        if kind == "add_note":
            self.notes.append(value)
            return []
        if kind == "set_metadata":
            return [o for k, v in value.items() for o in self._set(self.metadata, "metadata", k, v, rule_id)]
        if kind == "remove_metadata":
            return [o for k in value for o in self._set(self.metadata, "metadata", k, _REMOVED, rule_id)]
        return self._set(self.fields, "field", kind[len("set_"):], value, rule_id)

    def _tags(self, tags: list[str], add: bool, rule_id: str) -> list[dict[str, Any]]:
        overrides = []
        for tag in tags:
            folded = tag.casefold()
            earlier = self.tags.pop(folded, None)
            if earlier and earlier[1] != add:
                was, now = ("add", "remove") if earlier[1] else ("remove", "add")
                overrides.append({"tag": earlier[0], "by_rule": earlier[2], "was": was, "now": now})
            self.tags[folded] = (earlier[0] if earlier else tag, add, rule_id)
        return overrides

    @staticmethod
    def _set(target: dict[str, tuple[Any, str]], what: str, key: str, value: Any,
             rule_id: str) -> list[dict[str, Any]]:
        earlier = target.get(key)
        target[key] = (value, rule_id)
        if earlier is None or earlier[0] == value and type(earlier[0]) is type(value):
            return []

        def show(v: Any) -> Any:
            return "<removed>" if v is _REMOVED else v
        return [{what: key, "by_rule": earlier[1], "was": show(earlier[0]), "now": show(value)}]

    def build(self) -> CustomerPlan:
        """The frozen plan; a customer that may be created gets a name (the email's local part at worst)."""
        name = self.name or (self.email.split("@")[0] if self.create else None)
        field_rules = {**{k: r for k, (_, r) in self.fields.items()},
                       **{f"metadata.{k}": r for k, (_, r) in self.metadata.items()}}
        return CustomerPlan(
            email=self.email, key=self.key, name=name, create=self.create,
            add_tags=tuple(t for t, added, _ in self.tags.values() if added),
            remove_tags=tuple(t for t, added, _ in self.tags.values() if not added),
            notes=tuple(self.notes),
            set_metadata={k: v for k, (v, _) in self.metadata.items() if v is not _REMOVED},
            remove_metadata=tuple(k for k, (v, _) in self.metadata.items() if v is _REMOVED),
            fields={k: v for k, (v, _) in self.fields.items()},
            rules=tuple(self.rules), field_rules=field_rules,
            arrival=frozenset(k for k, r in field_rules.items() if r in self.arrival_rules))
