"""From a plan and the customer's current state to the minimal API change (pure).

The API's POST accepts only name, email, tags, notes and metadata, so status and sentiment of a new
customer go in a PATCH, and only when they differ from the API's defaults. `tags` replaces the whole
list, so it is sent only when the set changes; metadata is a merge (`null` deletes a key).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rules.errors import PlanError
from rules.plan import FIELDS, CustomerPlan

API_DEFAULTS = {"status": "active", "sentiment": "neutral"}
NOTE_SEPARATOR = "\n\n"
NOTE_MARKER = "[cstar-bridge:{marker}]"        # appended to each note so a retry can see it was applied
NOTE_WITH_MARKER = "{note} " + NOTE_MARKER


def with_note_marker(note: str, marker: str | None) -> str:
    """The note as written to the API: `<note> [cstar-bridge:<marker>]` (unchanged without a marker)."""
    return NOTE_WITH_MARKER.format(note=note, marker=marker) if marker else note


def note_marker_present(notes: str | None, marker: str) -> bool:
    """True when notes already carry this marker (the change was applied before)."""
    return bool(notes) and NOTE_MARKER.format(marker=marker) in notes  # type: ignore[operator]


@dataclass(frozen=True)
class Change:
    """What to send: a POST body for a new customer and/or a PATCH body."""

    create: dict[str, Any] | None = None
    update: dict[str, Any] | None = None
    tags_changed: bool = False
    notes_appended: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when nothing needs to be sent."""
        return self.create is None and self.update is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"create": self.create, "update": self.update, "tags_changed": self.tags_changed,
                "notes_appended": list(self.notes_appended)}


def _same(a: Any, b: Any) -> bool:
    """JSON equality (1 and true differ; key order does not matter)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _new_tags(current: list[str], plan: CustomerPlan) -> list[str]:
    """Current tags minus removals plus additions; existing spelling and order are kept."""
    removed = {t.casefold() for t in plan.remove_tags}
    tags = [t for t in current if t.casefold() not in removed]
    present = {t.casefold() for t in tags}
    for tag in plan.add_tags:
        if tag.casefold() not in present:
            tags.append(tag)
            present.add(tag.casefold())
    return tags


def _create(plan: CustomerPlan, note_marker: str | None) -> Change:
    body: dict[str, Any] = {"name": plan.fields.get("name") or plan.name or plan.email.split("@")[0],
                            "email": plan.email}
    tags = _new_tags([], plan)
    if tags:
        body["tags"] = tags
    notes = tuple(with_note_marker(n, note_marker) for n in plan.notes)
    if notes:
        body["notes"] = NOTE_SEPARATOR.join(notes)
    metadata = {k: v for k, v in plan.set_metadata.items() if k not in plan.remove_metadata}
    if metadata:
        body["metadata"] = metadata
    update = {k: plan.fields[k] for k, default in API_DEFAULTS.items()
              if plan.fields.get(k, default) != default}
    return Change(create=body, update=update or None, tags_changed=bool(tags), notes_appended=notes)


def compute_change(plan: CustomerPlan, current: Mapping[str, Any] | None, *, exists: bool,
                   note_marker: str | None = None) -> Change:
    """The minimal change for this plan: nothing when nothing changes."""
    if not exists:
        return _create(plan, note_marker) if plan.create else Change()
    if current is None:
        if plan.needs_read:
            raise PlanError("tags and notes need the customer's current state (the API replaces them); "
                            "read the customer first")
        update = {k: plan.fields[k] for k in FIELDS if k in plan.fields}
        metadata = {**plan.set_metadata, **{k: None for k in plan.remove_metadata}}
        if metadata:
            update["metadata"] = metadata
        return Change(update=update or None)
    update = {k: plan.fields[k] for k in FIELDS if k in plan.fields and current.get(k) != plan.fields[k]}
    tags_changed = False
    if plan.add_tags or plan.remove_tags:
        tags = current.get("tags")
        old = [str(t) for t in tags] if isinstance(tags, list) else []
        new = _new_tags(old, plan)
        if {t.casefold() for t in new} != {t.casefold() for t in old}:
            update["tags"], tags_changed = new, True
    appended: tuple[str, ...] = ()
    old_notes = str(current.get("notes") or "")
    if plan.notes and not (note_marker and note_marker_present(old_notes, note_marker)):
        appended = tuple(with_note_marker(n, note_marker) for n in plan.notes)
        update["notes"] = NOTE_SEPARATOR.join(([old_notes] if old_notes else []) + list(appended))
    metadata = _metadata_change(plan, current)
    if metadata:
        update["metadata"] = metadata
    return Change(update=update or None, tags_changed=tags_changed, notes_appended=appended)


def _metadata_change(plan: CustomerPlan, current: Mapping[str, Any]) -> dict[str, Any]:
    """Keys whose value differs, and null for removals that exist (everything when metadata is unknown)."""
    if "metadata" not in current:
        return {**plan.set_metadata, **{k: None for k in plan.remove_metadata}}
    old = current.get("metadata")
    old = old if isinstance(old, Mapping) else {}
    changed = {k: v for k, v in plan.set_metadata.items() if k not in old or not _same(old[k], v)}
    changed.update({k: None for k in plan.remove_metadata if k in old})
    return changed


def apply_change(current: Mapping[str, Any] | None, change: Change) -> dict[str, Any] | None:
    """The customer as the API would hold it after `change` (for rule tests and `simulate`)."""
    state: dict[str, Any] | None = dict(current) if current is not None else None
    if change.create is not None:
        state = {**API_DEFAULTS, "tags": [], "notes": "", "metadata": {}, **change.create}
    if state is None or change.update is None:
        return state
    for key, value in change.update.items():
        if key == "metadata":
            merged = dict(state.get("metadata") or {})
            for k, v in value.items():
                if v is None:
                    merged.pop(k, None)
                else:
                    merged[k] = v
            state["metadata"] = merged
        else:
            state[key] = value
    return state
