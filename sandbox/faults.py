"""Fault injection for the emulator: errors, latency, and "apply the write, then drop the connection".

Faults are off until a test sets a list of rules (PUT /_sandbox/faults). For each API call the rules
are tried in order, each matching rule drawing against its `rate`: firing latency rules add their
delay; the first firing error rule answers instead of the API (nothing is applied, and later error
or drop rules are not tried); a firing drop_after_write rule lets the call change the state and
then closes the connection unanswered.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("error", "latency", "drop_after_write")
WRITE_METHODS = ("POST", "PATCH", "DELETE")
_FIELDS = {"action", "rate", "status", "latency_ms", "methods", "path_contains", "body_contains", "seed",
           "retry_after", "body", "times"}


@dataclass
class FaultRule:
    """One rule: what to do, to which share of the matching calls, and which calls match."""

    action: str
    rate: float = 1.0
    status: int = 500
    latency_ms: int = 0
    methods: tuple[str, ...] = ()
    path_contains: str | None = None
    body_contains: str | None = None
    seed: int | None = None
    retry_after: int | None = None      # error: send a Retry-After header
    body: str = "envelope"              # error: "envelope" (the API's error shape) or "html" (a proxy page)
    times: int | None = None            # fire at most this many times (None: no limit)
    fired: int = 0
    _random: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def from_dict(cls, raw: Any) -> FaultRule:
        """Validate one rule as sent by a test; ValueError says what is wrong."""
        if not isinstance(raw, dict):
            raise ValueError("each fault rule must be an object")
        unknown = set(raw) - _FIELDS
        if unknown:
            raise ValueError(f"unknown fault rule field(s): {', '.join(sorted(unknown))}")
        action = raw.get("action")
        if action not in ACTIONS:
            raise ValueError(f"action must be one of: {', '.join(ACTIONS)}")
        rate = raw.get("rate", 1.0)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError("rate must be a number from 0 to 1")
        status = raw.get("status", 500)
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        latency = raw.get("latency_ms", 0)
        if not isinstance(latency, (int, float)) or latency < 0:
            raise ValueError("latency_ms must be a number >= 0")
        methods = raw.get("methods")
        if methods is None:
            methods = WRITE_METHODS if action == "drop_after_write" else ()
        if not isinstance(methods, (list, tuple)) or not all(isinstance(m, str) for m in methods):
            raise ValueError("methods must be a list of HTTP methods")
        for name in ("path_contains", "body_contains"):
            if raw.get(name) is not None and not isinstance(raw[name], str):
                raise ValueError(f"{name} must be a string")
        for name in ("seed", "retry_after", "times"):
            if raw.get(name) is not None and (not isinstance(raw[name], int) or raw[name] < 0):
                raise ValueError(f"{name} must be an integer >= 0")
        if raw.get("body", "envelope") not in ("envelope", "html"):
            raise ValueError('body must be "envelope" or "html"')
        seed = raw.get("seed")
        return cls(action=action, rate=float(rate), status=status, latency_ms=int(latency),
                   methods=tuple(m.upper() for m in methods), path_contains=raw.get("path_contains"),
                   body_contains=raw.get("body_contains"), seed=seed, retry_after=raw.get("retry_after"),
                   body=raw.get("body", "envelope"), times=raw.get("times"),
                   _random=random.Random(seed))

    def to_dict(self) -> dict[str, Any]:
        """The rule as a test sent it, plus how often it fired."""
        return {"action": self.action, "rate": self.rate, "status": self.status,
                "latency_ms": self.latency_ms, "methods": list(self.methods),
                "path_contains": self.path_contains, "body_contains": self.body_contains,
                "seed": self.seed, "retry_after": self.retry_after, "body": self.body,
                "times": self.times, "fired": self.fired}

    def _matches(self, method: str, path: str, body: str) -> bool:
        return ((not self.methods or method in self.methods)
                and (self.path_contains is None or self.path_contains in path)
                and (self.body_contains is None or self.body_contains in body)
                and (self.times is None or self.fired < self.times))

    def _draw(self) -> bool:
        if self._random.random() < self.rate:
            self.fired += 1
            return True
        return False


@dataclass(frozen=True)
class FaultDecision:
    """What the faults do to one call."""

    latency_ms: int = 0
    error: FaultRule | None = None
    drop_after_write: bool = False

    @property
    def actions(self) -> list[str]:
        """The actions that fired, for the call log."""
        return ((["latency"] if self.latency_ms else []) + (["error"] if self.error else [])
                + (["drop_after_write"] if self.drop_after_write else []))


class FaultInjector:
    """The current fault rules (thread-safe); empty means every call is answered normally."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def set_rules(self, raw: Any) -> list[dict[str, Any]]:
        """Replace every rule (validated as a whole: a bad rule changes nothing)."""
        if not isinstance(raw, list):
            raise ValueError("faults must be a JSON array of rules")
        rules = []
        for i, item in enumerate(raw):
            try:
                rules.append(FaultRule.from_dict(item))
            except ValueError as exc:
                raise ValueError(f"fault rule {i}: {exc}") from None
        with self._lock:
            self._rules = rules
        return self.rules()

    def rules(self) -> list[dict[str, Any]]:
        """The rules as set, with their fire counts."""
        with self._lock:
            return [r.to_dict() for r in self._rules]

    def clear(self) -> None:
        """Turn every fault off."""
        with self._lock:
            self._rules = []

    def decide(self, method: str, path: str, body: str) -> FaultDecision:
        """Draw the matching rules in order; once an error fires, later error and drop rules are not drawn."""
        latency, error, drop = 0, None, False
        with self._lock:
            for rule in self._rules:
                if rule.action != "latency" and error is not None:
                    continue
                if not rule._matches(method, path, body) or not rule._draw():
                    continue
                if rule.action == "latency":
                    latency += rule.latency_ms
                elif rule.action == "error":
                    error, drop = rule, False
                else:
                    drop = True
        return FaultDecision(latency_ms=latency, error=error, drop_after_write=drop)
