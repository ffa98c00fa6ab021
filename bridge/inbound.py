"""What the ingress knows about one delivery before any parsing: the raw bytes and the headers.

Verifiers and adapters receive this (never the Flask request), so both are plain functions that
unit tests call with literal bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only header mapping."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = {k.lower(): v for k, v in (items or {}).items()}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return self._items.get(key.lower(), default)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({sorted(self._items)})"


@dataclass(frozen=True)
class InboundRequest:
    """One delivery as received: raw body bytes (read before any parsing) and its metadata."""

    source: str
    method: str
    url: str                          # full URL as the sender addressed it (HubSpot v2/v3 sign it)
    headers: Headers
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)
    content_type: str = ""            # mimetype only, lower case, no parameters
