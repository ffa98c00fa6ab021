"""Retention and personal data, per source: how long a finished event is kept, and what of it is
redacted or dropped once it has been processed.

    sources:
      typeform:
        adapter: typeform
        retention: 7d                     # seconds, or 90m / 12h / 7d; default: event_ttl (30 days)
        pii:
          redact: [data.phone, data.fields.message]
          drop_raw_body: true

After an event finishes (done or ignored) each `redact` path of its data becomes `[redacted]`, and so
does every occurrence of those values anywhere else the event holds them (the rule trace, the changes
sent, the API calls, the completion records, the raw body); `drop_raw_body` removes the raw request
body; and the event expires `retention` after it finished. A dead letter keeps its data until it is
replayed and done (it must stay replayable); the admin API and the console show it redacted meanwhile
(`redact_event`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from workers.errors import ConfigError

MASK = "[redacted]"
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_MIN_SUBSTRING = 4   # shorter values are redacted only where a whole string equals them
# Stored fields that may repeat payload values (JSON, except raw_body which is text).
_JSON_FIELDS = ("trace", "changes", "outcome", "calls", "error", "last_error", "plan", "matched")
_TEXT_FIELDS = ("reason", "retry_reason")


@dataclass(frozen=True)
class Policy:
    """A source's retention (seconds; None: event_ttl) and personal-data handling."""

    retention: int | None = None
    redact: tuple[tuple[str, ...], ...] = ()   # paths under `data`, split
    drop_raw_body: bool = False

    @property
    def active(self) -> bool:
        return bool(self.retention or self.redact or self.drop_raw_body)


def parse_policy(name: str, options: Mapping[str, Any]) -> Policy:
    """The source's policy from its options; ConfigError naming the option otherwise."""
    retention = options.get("retention")
    seconds: int | None = None
    if retention is not None:
        match = _DURATION.match(str(retention)) if not isinstance(retention, bool) else None
        if match is None or int(match.group(1)) * _UNITS[match.group(2)] < 60:
            raise ConfigError(f"sources.{name}.retention: expected a duration of at least a minute, in seconds "
                              f"or as 90m, 12h, 7d; got {retention!r}")
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    pii = options.get("pii") or {}
    if not isinstance(pii, Mapping) or set(pii) - {"redact", "drop_raw_body"}:
        raise ConfigError(f"sources.{name}.pii: expected {{redact: [data.field, …], drop_raw_body: true|false}}, "
                          f"got {pii!r}")
    paths = pii.get("redact") or []
    if isinstance(paths, str):
        paths = [paths]
    bad = [p for p in paths if not isinstance(p, str) or not p.startswith("data.") or not all(p.split("."))]
    if not isinstance(paths, list) or bad:
        raise ConfigError(f"sources.{name}.pii.redact: expected paths into the event's data such as data.phone or "
                          f"data.fields.message; got {bad or paths!r}")
    drop = pii.get("drop_raw_body", False)
    if not isinstance(drop, bool):
        raise ConfigError(f"sources.{name}.pii.drop_raw_body: expected true or false, got {drop!r}")
    return Policy(seconds, tuple(tuple(p.split(".")[1:]) for p in paths), drop)


def policy_for(config: Any, source: str | None) -> Policy:
    """The policy of a configured source (an empty one for an unknown or unconfigured source)."""
    sc = config.sources.get(source) if source else None
    return parse_policy(source or "", sc.options) if sc is not None else Policy()


def redact_data(data: Any, policy: Policy) -> tuple[Any, list[str]]:
    """`data` with each redact path's value masked, and the text of every value masked (to find again
    elsewhere). Lists along a path apply to each item."""
    found: list[str] = []

    def walk(node: Any, path: tuple[str, ...]) -> Any:
        if not path:
            found.extend(_scalars(node))
            return MASK
        if isinstance(node, Mapping) and path[0] in node:
            return {**node, path[0]: walk(node[path[0]], path[1:])}
        if isinstance(node, list):
            return [walk(item, path) for item in node]
        return node

    for path in policy.redact:
        data = walk(data, path)
    return data, sorted({v for v in found if v and v != MASK}, key=len, reverse=True)


def scrub(value: Any, values: Iterable[str]) -> Any:
    """`value` with every occurrence of these texts masked, however deep (keys are kept)."""
    values = list(values)
    if not values:
        return value
    if isinstance(value, str):
        for v in values:
            if len(v) >= _MIN_SUBSTRING:
                value = value.replace(v, MASK)
            elif value == v:
                return MASK
        return value
    if isinstance(value, Mapping):
        return {k: scrub(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, values) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and str(value) in values:
        return MASK
    return value


def redact_event(ev: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    """A loaded event (decoded fields) as people may see it: the policy's paths and their values masked
    everywhere, the raw body removed when the source drops it."""
    shown = dict(ev)
    if not policy.redact and not policy.drop_raw_body:
        return shown
    data, values = redact_data(ev.get("data"), policy)
    shown = {k: (scrub(v, values) if k not in ("data", "raw_body") else v) for k, v in shown.items()}
    shown["data"] = data
    if "raw_body" in shown:
        shown["raw_body"] = "" if policy.drop_raw_body else _scrub_text(str(shown["raw_body"]), values)
    return shown


def apply_after_processing(store: Any, event_id: str, policy: Policy) -> bool:
    """Redact and drop what the source's policy says in the stored event, and set its expiry to the
    retention; one read and one transaction. False when there was nothing to do."""
    if not policy.active:
        return False
    key = store.event_key(event_id)
    raw = {_s(k): _s(v) for k, v in (store.r.hgetall(key) or {}).items()}
    if not raw:
        return False
    updates: dict[str, str] = {}
    drop: list[str] = []
    if policy.redact:
        try:
            data = json.loads(raw.get("data") or "{}")
        except ValueError:
            data = None
        if data is not None:
            data, values = redact_data(data, policy)
            updates["data"] = json.dumps(data, separators=(",", ":"), default=str)
            for name, text in raw.items():
                if name in _JSON_FIELDS or name.startswith("step:"):
                    try:
                        updates[name] = json.dumps(scrub(json.loads(text), values), separators=(",", ":"),
                                                   default=str)
                    except ValueError:
                        updates[name] = _scrub_text(text, values)
                elif name in _TEXT_FIELDS or (name == "raw_body" and not policy.drop_raw_body):
                    updates[name] = _scrub_text(text, values)
            updates["pii_redacted"] = json.dumps([".".join(("data",) + p) for p in policy.redact])
    if policy.drop_raw_body and "raw_body" in raw:
        drop.append("raw_body")
        updates["raw_body_dropped"] = "1"
    pipe = store.r.pipeline(transaction=True)
    if updates:
        pipe.hset(key, mapping=updates)
    if drop:
        pipe.hdel(key, *drop)
    if policy.retention and raw.get("status") != "dead":
        pipe.expire(key, policy.retention)
    pipe.execute()
    return True


def _scrub_text(text: str, values: Iterable[str]) -> str:
    """Text (the raw body) with each value masked, as written and as JSON escapes it."""
    for v in values:
        for form in {v, json.dumps(v)[1:-1]}:
            if len(form) >= _MIN_SUBSTRING:
                text = text.replace(form, MASK)
    return text


def _scalars(node: Any) -> list[str]:
    pending, out = [node], []
    while pending:
        item = pending.pop()
        if isinstance(item, Mapping):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif item is not None and not isinstance(item, bool):
            out.append(str(item))
    return out


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
