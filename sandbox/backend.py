"""The emulator's state: teams, API keys and customers, with the API's validation rules.

Pure state and validation (moto's `models.py`): no Flask, no HTTP. Every public method takes the
lock, validates the whole request first and then applies it, so a rejected write changes nothing
and concurrent requests see each other whole.

Behaviour the spec leaves open, chosen here (and listed in docs/sandbox.md):
- lists are newest first; `totalPages` is `ceil(total / pageSize)` (0 for an empty result);
- create takes only name, email, tags, notes and metadata; other fields are ignored, so status and
  sentiment are set with a PATCH;
- unknown filter values, non-integer or non-positive page numbers are 400s; `pageSize` above 100 is
  capped, not refused.
"""

from __future__ import annotations

import copy
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sandbox import errors

STATUSES = ("active", "inactive")
SENTIMENTS = ("positive", "neutral", "negative")
MAX_PAGE_SIZE = 100
MAX_METADATA_KEYS = 50
SECRET, PUBLISHABLE = "secret", "publishable"

# (key, team, kind): the emulator's test keys, printed at start-up and listed in docs/sandbox.md.
SEEDED_KEYS: tuple[tuple[str, str, str], ...] = (
    ("sk_test_dev", "team_dev", SECRET),
    ("pk_test_dev", "team_dev", PUBLISHABLE),
    ("sk_test_other", "team_other", SECRET),
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def iso_timestamp(ts: float) -> str:
    """`2025-12-10T14:30:00Z`, the spec's timestamp format."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ApiKey:
    """An API key: the team it belongs to and whether it is secret or publishable."""

    key: str
    team_id: str
    kind: str

    def __repr__(self) -> str:
        return f"ApiKey({self.kind} key of {self.team_id})"


# The fields of the spec's `GET /customers/{id}` example, in its order (it shows no `metadata`).
DOCUMENTED_GET_FIELDS = ("id", "name", "email", "status", "sentiment", "tags", "notes", "ticketCount",
                         "createdAt", "updatedAt")
GET_SHAPES = ("full", "documented")


@dataclass
class Customer:
    """One stored customer; `full()` is what GET answers, `list_item()` what the list answers."""

    id: str
    name: str
    email: str
    status: str = "active"
    sentiment: str = "neutral"
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    ticket_count: int = 0
    created_at: str = ""
    updated_at: str = ""

    def full(self) -> dict[str, Any]:
        """The whole customer object, metadata included (a copy: callers cannot touch the state)."""
        return {
            "id": self.id, "name": self.name, "email": self.email, "status": self.status,
            "sentiment": self.sentiment, "tags": list(self.tags), "notes": self.notes,
            "metadata": copy.deepcopy(self.metadata), "ticketCount": self.ticket_count,
            "createdAt": self.created_at, "updatedAt": self.updated_at,
        }

    def documented(self) -> dict[str, Any]:
        """Exactly the fields of the spec's GET example: no `metadata` (what the real API may answer)."""
        full = self.full()
        return {k: full[k] for k in DOCUMENTED_GET_FIELDS}

    def list_item(self) -> dict[str, Any]:
        """The shape of an item in the spec's list example."""
        return {
            "id": self.id, "name": self.name, "email": self.email, "status": self.status,
            "sentiment": self.sentiment, "ticketCount": self.ticket_count, "createdAt": self.created_at,
        }


@dataclass(frozen=True)
class CustomerPage:
    """One page of a list: the items and the `meta.pagination` numbers."""

    items: list[dict[str, Any]]
    page: int
    page_size: int
    total: int
    total_pages: int

    def pagination(self) -> dict[str, int]:
        """The `meta.pagination` object."""
        return {"page": self.page, "pageSize": self.page_size, "total": self.total,
                "totalPages": self.total_pages}


class SandboxBackend:
    """Teams, keys and customers of the emulated Customers API (thread-safe)."""

    def __init__(self, *, seed: bool = True, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._keys: dict[str, ApiKey] = {}
        # team id -> customer id -> customer, in creation order.
        self._customers: dict[str, dict[str, Customer]] = {}
        if seed:
            for key, team, kind in SEEDED_KEYS:
                self.add_key(key, team, kind)

    # --- teams and keys ---------------------------------------------------------------------------

    def add_key(self, key: str, team_id: str, kind: str) -> ApiKey:
        """Register an API key (and its team)."""
        if kind not in (SECRET, PUBLISHABLE):
            raise ValueError(f"kind must be {SECRET!r} or {PUBLISHABLE!r}, not {kind!r}")
        with self._lock:
            api_key = ApiKey(key, team_id, kind)
            self._keys[key] = api_key
            self._customers.setdefault(team_id, {})
            return api_key

    def keys(self) -> list[ApiKey]:
        """Every registered key."""
        with self._lock:
            return list(self._keys.values())

    def authenticate(self, key: str | None) -> ApiKey:
        """The key's record, or 401."""
        with self._lock:
            found = self._keys.get(key) if key else None
        if found is None:
            raise errors.authentication_required()
        return found

    def authorize(self, key: ApiKey, team_id: str, *, write: bool) -> None:
        """403 unless the key belongs to the team and, for a write, is a secret key."""
        if key.team_id != team_id:
            raise errors.team_access_denied()
        if write and key.kind != SECRET:
            raise errors.secret_key_required()

    # --- customers --------------------------------------------------------------------------------

    def list_customers(self, team_id: str, *, status: str | None = None, sentiment: str | None = None,
                       search: str | None = None, page: int | str = 1,
                       page_size: int | str = 20) -> CustomerPage:
        """Newest first, filtered; `search` is a case-insensitive substring of name or email."""
        if status:
            _check_choice(status, "status", STATUSES)
        if sentiment:
            _check_choice(sentiment, "sentiment", SENTIMENTS)
        page_no = _positive_int(page, "page")
        size = min(_positive_int(page_size, "pageSize"), MAX_PAGE_SIZE)
        needle = (search or "").lower()
        with self._lock:
            matching = [
                c for c in reversed(self._team(team_id).values())
                if (not status or c.status == status)
                and (not sentiment or c.sentiment == sentiment)
                and (not needle or needle in c.name.lower() or needle in c.email.lower())
            ]
            start = (page_no - 1) * size
            items = [c.list_item() for c in matching[start:start + size]]
        total = len(matching)
        return CustomerPage(items, page_no, size, total, math.ceil(total / size))

    def get_customer(self, team_id: str, customer_id: str, *, shape: str = "full") -> dict[str, Any]:
        """The customer (`full`, or `documented`: the spec example's fields, no metadata), or 404."""
        with self._lock:
            customer = self._find(team_id, customer_id)
            return customer.documented() if shape == "documented" else customer.full()

    def create_customer(self, team_id: str, body: Any) -> dict[str, Any]:
        """Create from name, email, tags, notes and metadata; 400 on bad input, 409 on a taken email."""
        body = _require_object(body)
        name, email = body.get("name"), body.get("email")
        if _blank(name) or _blank(email):
            raise errors.parameters_missing()
        name = _string(name, "name").strip()
        email = _email(email)
        tags = _tags(body["tags"]) if "tags" in body else []
        notes = _string(body["notes"], "notes") if "notes" in body else ""
        metadata = _merge_metadata({}, body.get("metadata"))
        with self._lock:
            customers = self._team(team_id)
            self._check_email_free(customers, email, None)
            now = iso_timestamp(self._clock())
            customer = Customer(id=f"cus_{uuid.uuid4().hex}", name=name, email=email, tags=tags,
                                notes=notes, metadata=metadata, created_at=now, updated_at=now)
            customers[customer.id] = customer
            return customer.full()

    def update_customer(self, team_id: str, customer_id: str, body: Any) -> dict[str, Any]:
        """Change the given fields; tags replace, metadata merges (null removes a key)."""
        body = _require_object(body)
        changes: dict[str, Any] = {}
        if "name" in body:
            if _blank(body["name"]):
                raise errors.invalid_parameter("name must be a non-empty string")
            changes["name"] = _string(body["name"], "name").strip()
        if "email" in body:
            changes["email"] = _email(body["email"])
        if "status" in body:
            changes["status"] = _check_choice(body["status"], "status", STATUSES)
        if "sentiment" in body:
            changes["sentiment"] = _check_choice(body["sentiment"], "sentiment", SENTIMENTS)
        if "tags" in body:
            changes["tags"] = _tags(body["tags"])
        if "notes" in body:
            changes["notes"] = _string(body["notes"], "notes")
        with self._lock:
            customer = self._find(team_id, customer_id)
            if "metadata" in body:
                changes["metadata"] = _merge_metadata(customer.metadata, body["metadata"])
            if "email" in changes:
                self._check_email_free(self._team(team_id), changes["email"], customer.id)
            for attribute, value in changes.items():
                setattr(customer, attribute, value)
            customer.updated_at = iso_timestamp(self._clock())
            return customer.full()

    def delete_customer(self, team_id: str, customer_id: str) -> None:
        """Remove the customer, or 404."""
        with self._lock:
            self._find(team_id, customer_id)
            del self._team(team_id)[customer_id]

    def dump_customers(self, team_id: str) -> list[dict[str, Any]]:
        """Every customer of the team, full objects, oldest first (for test assertions)."""
        with self._lock:
            return [c.full() for c in self._team(team_id).values()]

    def reset(self) -> None:
        """Forget every customer; teams and keys stay."""
        with self._lock:
            for customers in self._customers.values():
                customers.clear()

    # --- helpers ----------------------------------------------------------------------------------

    def _team(self, team_id: str) -> dict[str, Customer]:
        return self._customers.setdefault(team_id, {})

    def _find(self, team_id: str, customer_id: str) -> Customer:
        customer = self._team(team_id).get(customer_id)
        if customer is None:
            raise errors.customer_not_found()
        return customer

    @staticmethod
    def _check_email_free(customers: Mapping[str, Customer], email: str, own_id: str | None) -> None:
        wanted = email.lower()
        if any(c.email.lower() == wanted and c.id != own_id for c in customers.values()):
            raise errors.email_taken()


# --- validation (each raises a 400 that names the field) --------------------------------------------

def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.invalid_body("Request body must be a JSON object")
    return body


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise errors.invalid_parameter(f"{name} must be a string")
    return value


def _email(value: Any) -> str:
    email = _string(value, "email").strip()
    if not _EMAIL.match(email):
        raise errors.invalid_parameter("email must be a valid email address")
    return email


def _check_choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise errors.invalid_parameter(f"{name} must be one of: {', '.join(allowed)}")
    return str(value)


def _positive_int(value: int | str, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise errors.invalid_parameter(f"{name} must be a positive integer") from None
    if number < 1:
        raise errors.invalid_parameter(f"{name} must be a positive integer")
    return number


def _tags(value: Any) -> list[str]:
    """A list of strings, or a comma-separated string; each tag trimmed, empty ones dropped."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise errors.invalid_parameter("tags must be an array of strings or a comma-separated string")
    return [t.strip() for t in value if t.strip()]


def _merge_metadata(current: Mapping[str, Any], update: Any) -> dict[str, Any]:
    """`current` with `update` merged in: null removes a key; at most 50 keys may remain."""
    if update is None:
        return copy.deepcopy(dict(current))
    if not isinstance(update, dict):
        raise errors.invalid_parameter("metadata must be an object")
    merged = copy.deepcopy(dict(current))
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = copy.deepcopy(value)
    if len(merged) > MAX_METADATA_KEYS:
        raise errors.invalid_parameter(
            f"metadata may have at most {MAX_METADATA_KEYS} keys (this request would leave {len(merged)})")
    return merged
