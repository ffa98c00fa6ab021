"""The verifier contract: decide whether a delivery is authentic, from the raw bytes.

A verifier is built once per source from its `verify:` config and is called for each request. It
raises `VerificationFailed(check, message)` naming the check that failed (never the expected value)
and returns None when the request is authentic. Clocks are injected so tests can pin `now`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
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
    secrets = [v if isinstance(v, Secret) else Secret(str(v)) for v in values if v is not None]
    secrets = [v for v in secrets if v.reveal() != ""]
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
                                 f"the allowed window is ±{window} s (a replayed or stale delivery, "
                                 "or clock skew)")


def require_header(request: InboundRequest, name: str, *, check: str = "signature_missing",
                   what: str = "signature") -> str:
    """The header's value, stripped; VerificationFailed(check) when it is absent or empty."""
    value = (request.headers.get(name) or "").strip()
    if not value:
        raise VerificationFailed(check, f"no {what}: the {name} header is missing")
    return value


def parse_timestamp(value: str, *, milliseconds: bool = False) -> float:
    """A Unix time header (digits only) in seconds; VerificationFailed("timestamp_malformed") otherwise."""
    if not re.fullmatch(r"[0-9]{1,16}", value.strip()):
        raise VerificationFailed("timestamp_malformed", "the signature timestamp must be a Unix time in "
                                 + ("milliseconds" if milliseconds else "seconds"))
    return int(value) / 1000 if milliseconds else float(int(value))


def hmac_digest(key: str | bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    """HMAC of the message; a text key is used as its UTF-8 bytes."""
    key_bytes = key.encode() if isinstance(key, str) else key
    return hmac.new(key_bytes, message, getattr(hashlib, algorithm)).digest()


__all__ = ["Clock", "Verifier", "VerifyContext", "VerificationFailed", "secrets_from", "constant_time_equal",
           "any_matches", "check_timestamp", "require_header", "parse_timestamp", "hmac_digest"]
