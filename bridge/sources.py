"""The source registry: `/hooks/<name>` -> its adapter, verifier and options, built once from Config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from bridge.adapters import Adapter, AdaptedEvent, available_adapters, get_adapter
from bridge.errors import PayloadInvalid
from bridge.verify import Clock, Verifier, build_verifier
from rules.ordering import time_ms
from rules.values import MISSING, resolve
from workers.config import Config
from workers.errors import ConfigError
from workers.retention import parse_policy


@dataclass(frozen=True)
class Source:
    name: str
    adapter: Adapter
    verifier: Verifier
    options: Mapping[str, Any]

    @property
    def success_status(self) -> int:
        """202 unless the provider needs another 2xx (Webflow: exactly 200) or the source says so."""
        return int(self.options.get("success_status", self.adapter.success_status))

    @property
    def unverified(self) -> bool:
        return self.verifier.scheme == "none"

    def delivery_id_from(self, payload: Any) -> str | None:
        """The delivery id at the body field the source option `delivery_id` names (a dotted path, digits
        index lists); None when the option is not set or the field is absent, null or blank. A body's
        own `id` is never guessed to be one: senders put entity ids there (a contact, an order)."""
        path = self.options.get("delivery_id")
        if not path:
            return None
        value = resolve(payload, tuple(path.split(".")))  # a list body (Zapier's wrapped array): "0.id"
        if value is MISSING:
            return None
        if isinstance(value, str):
            return value.strip() or None
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise PayloadInvalid({path: [f"the delivery id (source option delivery_id) must be text or a whole "
                                     f"number, got {type(value).__name__}"]})

    def occurred_ms(self, payload: Any, adapted: AdaptedEvent) -> int | None:
        """The provider's time of the event in Unix milliseconds: the body field the source option
        `occurred_at` names (a dotted path), else the adapter's; None (arrival order) when neither
        gives one. A named field holding something that is not a time is the sender's mistake (422)."""
        path = self.options.get("occurred_at")
        if not path:
            return time_ms(adapted.occurred_at)
        value = resolve(payload, tuple(path.split(".")))
        if value is MISSING or value is None or (isinstance(value, str) and not value.strip()):
            return None
        ms = time_ms(value)
        if ms is None:
            raise PayloadInvalid({path: ["the event time (source option occurred_at) must be an ISO 8601 time "
                                         "or a Unix time in seconds or milliseconds"]})
        return ms


def build_sources(config: Config, *, clock: Clock | None = None) -> dict[str, Source]:
    """Every configured source, or one ConfigError listing every problem."""
    problems: list[str] = []
    out: dict[str, Source] = {}
    for name, sc in config.sources.items():
        try:
            adapter = get_adapter(sc.adapter)
        except KeyError:
            problems.append(f"sources.{name}.adapter: unknown adapter {sc.adapter!r}; "
                            f"expected one of {', '.join(available_adapters())}")
            continue
        try:
            verifier = build_verifier(name, sc.verify, clock=clock, tolerance=config.signature_tolerance)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        field = sc.options.get("delivery_id")
        if field is not None and (not isinstance(field, str) or not all(field.split("."))):
            problems.append(f"sources.{name}.delivery_id: expected the body field holding the sender's delivery "
                            f"id as a dotted path (e.g. event_id or meta.delivery_id), got {field!r}")
            continue
        field = sc.options.get("occurred_at")
        if field is not None and (not isinstance(field, str) or not all(field.split("."))):
            problems.append(f"sources.{name}.occurred_at: expected the body field holding the event's time as a "
                            f"dotted path (e.g. updated_at or meta.occurred_at), got {field!r}")
            continue
        try:
            parse_policy(name, sc.options)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        status = sc.options.get("success_status", adapter.success_status)
        if status not in (200, 202):
            problems.append(f"sources.{name}.success_status: expected 200 or 202, got {status!r}")
            continue
        out[name] = Source(name=name, adapter=adapter, verifier=verifier, options=dict(sc.options))
    if problems:
        raise ConfigError("invalid sources:\n  " + "\n  ".join(problems))
    return out
