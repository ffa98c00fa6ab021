"""One stored event as people see it (`GET /events/<id>`, the console's event page, `events show`):
status, data, the raw body (capped) and headers, trace, changes, API calls, deliveries and errors —
with every configured secret value replaced by `[redacted]`."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Iterator, Mapping

from workers.config import Config, Secret
from workers.kept_rules import KeptRules
from workers.retention import policy_for, redact_event
from workers.store import EventStore
from workers.stored_trace import worded_trace_fields

REDACTED = "[redacted]"
RAW_KEEP = 16 * 1024  # bytes of the raw body kept with each event
_SECRET_KEYS = ("secret", "token", "password", "key")
# Headers never stored: credentials, signatures and anything that looks like them.
_CREDENTIAL_HEADER = re.compile(r"auth|token|sign|secret|key|cookie|password|session", re.I)


def stored_request(raw: bytes, headers: Mapping[str, str], verify: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
    """What the ingress keeps of the request for people to read: the first RAW_KEEP bytes of the body,
    its size, and the headers without credentials or signatures (nor any header the source's verify
    config names, such as a custom HMAC header)."""
    named = {str(v).lower() for k, v in (verify or {}).items() if "header" in str(k) and isinstance(v, str)}
    kept = {k: v for k, v in headers.items() if not _credential(k) and k.lower() not in named}
    return {"raw_body": raw[:RAW_KEEP].decode("utf-8", "replace"), "raw_size": str(len(raw)),
            "raw_truncated": "1" if len(raw) > RAW_KEEP else "", "headers": _HEADERS_JSON.encode(kept)}


_HEADERS_JSON = json.JSONEncoder(sort_keys=True)  # json.dumps(kept, sort_keys=True), its encoder made once


@lru_cache(maxsize=1024)
def _credential(name: str) -> bool:
    """Whether a header name looks like a credential's (senders repeat the same few names)."""
    return _CREDENTIAL_HEADER.search(name) is not None


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
    # a trace kept as verdicts is worded from the data as processed, before anything is redacted for display
    # (with the rule set that evaluated it, as a worker kept it, when the rule files changed since)
    ev.update(worded_trace_fields(ev, event_id, config.rule_paths(), config.trace_max_bytes,
                                  KeptRules(store.r, store.prefix)))
    ev = redact_event(ev, policy_for(config, ev.get("source")))  # before processing ends, too
    shown = {k: v for k, v in ev.items() if not k.startswith("deliveries:") and not k.startswith("step:")}
    shown["deliveries"] = {k.split(":", 1)[1]: v for k, v in ev.items() if k.startswith("deliveries:")}
    if isinstance(shown.get("headers"), str):
        try:
            shown["headers"] = json.loads(shown["headers"])
        except ValueError:
            pass
    if isinstance(shown.get("changes"), list):
        shown["changes"] = [{**s, "fields": change_rows(s)} if isinstance(s, dict) else s for s in shown["changes"]]
    return redact(shown, secret_values(config))


_SHOWN_FIELDS = ("tags", "metadata", "notes", "status", "sentiment", "name")


def change_rows(step: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per field a step sent: the value before (when the customer was read) and after the write
    (metadata merges, null removing a key, as the API does)."""
    change: Mapping[str, Any] = step["change"] if isinstance(step.get("change"), Mapping) else {}
    body: Mapping[str, Any] = change.get("update") or change.get("create") or {}
    before: Mapping[str, Any] | None = step["before"] if isinstance(step.get("before"), Mapping) else None
    rows = []
    for name in (f for f in _SHOWN_FIELDS if f in body):
        after = body[name]
        known = before is not None and name in before
        was = before.get(name) if before is not None else None
        if name == "metadata" and isinstance(after, Mapping):
            base = dict(was) if known and isinstance(was, Mapping) else {}
            if known or change.get("create") is not None:
                after = {k: v for k, v in {**base, **after}.items() if v is not None}
        rows.append({"field": name, "known": known, "before": was, "after": after})
    return rows
