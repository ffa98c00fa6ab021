"""One stored event as people see it (`GET /events/<id>`, the console's event page, `events show`):
status, data, the raw body (capped) and headers, trace, changes, API calls, deliveries and errors —
with every configured secret value replaced by `[redacted]`."""

from __future__ import annotations

import json
from typing import Any, Iterator, Mapping

from workers.config import Config, Secret
from workers.store import EventStore

REDACTED = "[redacted]"
_SECRET_KEYS = ("secret", "token", "password", "key")


def secret_values(config: Config) -> list[str]:
    """Every secret the config holds: source secrets and tokens, the API key, the admin token."""
    found: list[str] = [config.cstar.api_key.reveal(), config.admin_token.reveal()]
    for source in config.sources.values():
        found.extend(_walk(source.verify, ""))
    return sorted({v for v in found if v and len(v) >= 4}, key=len, reverse=True)


def _walk(value: Any, key: str) -> Iterator[str]:
    if isinstance(value, Secret):
        yield value.reveal()
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _walk(v, str(k))
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _walk(v, key)
    elif isinstance(value, str) and any(s in key.lower() for s in _SECRET_KEYS):
        yield value


def redact(value: Any, secrets: list[str]) -> Any:
    """`value` with every secret string replaced, however deep (keys included)."""
    if isinstance(value, str):
        for s in secrets:
            if s in value:
                value = value.replace(s, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, secrets) for v in value]
    return value


def event_detail(store: EventStore, config: Config, event_id: str) -> dict[str, Any] | None:
    """The stored event, deliveries grouped, secrets redacted; None when unknown or expired."""
    ev = store.load(event_id)
    if ev is None:
        return None
    shown = {k: v for k, v in ev.items() if not k.startswith("deliveries:") and not k.startswith("step:")}
    shown["deliveries"] = {k.split(":", 1)[1]: v for k, v in ev.items() if k.startswith("deliveries:")}
    for key in ("headers",):
        if isinstance(shown.get(key), str):
            try:
                shown[key] = json.loads(shown[key])
            except ValueError:
                pass
    return redact(shown, secret_values(config))
