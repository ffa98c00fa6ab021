"""The verifier contract: decide whether a delivery is authentic, from the raw bytes.

A verifier is built once per source from its `verify:` config and is called for each request. It
raises `VerificationFailed(check, message)` naming the check that failed (never the expected value)
and returns None when the request is authentic. Clocks are injected so tests can pin `now`.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence

from bridge.errors import VerificationFailed
from bridge.inbound import InboundRequest
from workers.config import Secret
from workers.errors import ConfigError

Clock = Callable[[], float]  # returns seconds since the epoch


class Verifier(Protocol):
    scheme: str

    def verify(self, request: InboundRequest) -> None: ...


@dataclass(frozen=True)
class VerifyContext:
    """What every scheme's factory receives besides its own config."""

    source: str
    clock: Clock = time.time
    tolerance: int = 300  # seconds, for timestamped schemes


def secrets_from(config: Mapping[str, Any], source: str, *, key: str = "secret") -> list[Secret]:
    """A source's secret(s): `secret: x` or `secrets: [x, y]` (rotation); at least one, non-empty."""
    values: list[Any] = []
    if config.get(key) is not None:
        values.append(config[key])
    values.extend(config.get(key + "s") or [])
    secrets = [Secret(str(v)) for v in values if v is not None and str(v) != ""]
    if not secrets:
        raise ConfigError(f"sources.{source}.verify: scheme {config.get('scheme')!r} needs `{key}` "
                          f"(or `{key}s: [...]` for rotation); set it from an environment variable, "
                          f"e.g. {key}: ${{{source.upper()}_SECRET}}")
    return secrets


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    """Compare two values without leaking where they differ."""
    a_b = a.encode() if isinstance(a, str) else a
    b_b = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_b, b_b)


def any_matches(candidates: Sequence[str | bytes], expected: Sequence[str | bytes]) -> bool:
    """True when any candidate equals any expected value; every pair is compared (no early exit)."""
    ok = False
    for c in candidates:
        for e in expected:
            ok |= constant_time_equal(c, e)
    return ok


def check_timestamp(ts: float, ctx: VerifyContext, *, tolerance: int | None = None) -> None:
    """Reject a timestamp (seconds) outside the window around `now`."""
    window = ctx.tolerance if tolerance is None else tolerance
    now = ctx.clock()
    if abs(now - ts) > window:
        raise VerificationFailed("timestamp", f"the signature timestamp is {int(now - ts)} s away from now; "
                                 f"the allowed window is ±{window} s (replayed or stale delivery, or clock skew)")


__all__ = ["Clock", "Verifier", "VerifyContext", "VerificationFailed", "secrets_from", "constant_time_equal",
           "any_matches", "check_timestamp"]
