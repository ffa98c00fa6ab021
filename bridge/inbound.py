"""What the ingress knows about one delivery before any parsing: the raw bytes and the headers.

Verifiers and adapters receive this (never the Flask request), so both are plain functions that
unit tests call with literal bytes.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only header mapping."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = {k.lower(): v for k, v in (items or {}).items()}

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any]) -> "Headers":
        """The request's headers straight from the WSGI environ: the same names and values as
        `Headers(dict(request.headers))` (werkzeug's EnvironHeaders), without its per-key lookups."""
        items: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                if key != "HTTP_CONTENT_TYPE" and key != "HTTP_CONTENT_LENGTH":
                    items[key[5:].replace("_", "-").lower()] = value  # names are ASCII tokens: title() adds nothing
            elif (key == "CONTENT_TYPE" or key == "CONTENT_LENGTH") and value:
                items[key.replace("_", "-").lower()] = value
        headers = cls.__new__(cls)
        headers._items = items
        return headers

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return self._items.get(key.lower(), default)

    def items(self):  # type: ignore[no-untyped-def,override]
        return self._items.items()  # the names already lower case: no per-key lookup

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({sorted(self._items)})"


class InboundRequest:
    """One delivery as received: raw body bytes (read before any parsing) and its metadata.

    `url` and `query` may be given as zero-argument callables: they are computed on first use, since
    only a few schemes need them and building them costs time on the hot path.
    """

    __slots__ = ("source", "method", "headers", "body", "content_type", "_url", "_query")

    def __init__(self, *, source: str, method: str, url: str | Callable[[], str], headers: Headers, body: bytes,
                 query: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
                 content_type: str = "") -> None:
        self.source = source
        self.method = method
        self.headers = headers
        self.body = body
        self.content_type = content_type  # mimetype only, lower case, no parameters
        self._url = url
        self._query = {} if query is None else query

    @property
    def url(self) -> str:
        """The full URL as the sender addressed it (HubSpot v2/v3 sign it)."""
        if callable(self._url):
            self._url = self._url()
        return self._url

    @property
    def query(self) -> Mapping[str, str]:
        if callable(self._query):
            self._query = self._query()
        return self._query

    def replace(self, **changes: Any) -> "InboundRequest":
        """A copy with some attributes changed (tests build variants of one delivery this way)."""
        fields = {"source": self.source, "method": self.method, "url": self._url, "headers": self.headers,
                  "body": self.body, "query": self._query, "content_type": self.content_type}
        return InboundRequest(**{**fields, **changes})

    def __repr__(self) -> str:
        return f"InboundRequest(source={self.source!r}, method={self.method!r}, {len(self.body)} bytes)"
