"""`hmac`: an HMAC of the raw body (or of a template such as `{timestamp}.{body}`) in one header.

Config keys: `secret` / `secrets` (rotation), `header` (default `X-Bridge-Signature`), `algorithm`
(`sha256` | `sha512`), `encoding` (`hex` | `base64`), `prefix` (e.g. `sha256=` or `v1=`, required in
the header when set), `signed` (default `{body}`; `{timestamp}` may appear too), `timestamp_header`
(needed when `{timestamp}` is signed) with `timestamp_unit` (`s` | `ms`), and `tolerance`.

The Typeform, Tally and Webflow schemes are this verifier with their provider's settings.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from bridge.errors import VerificationFailed
from bridge.inbound import InboundRequest
from bridge.verify.base import (VerifyContext, any_matches, check_timestamp, hmac_digest, parse_timestamp,
                                require_header, secrets_from)
from workers.config import Secret
from workers.errors import ConfigError

ALGORITHMS = ("sha256", "sha512")
ENCODINGS = ("hex", "base64")
PLACEHOLDERS = ("body", "timestamp")
BodyVariants = Callable[[bytes], Sequence[bytes]]


@dataclass(frozen=True)
class HmacVerifier:
    """Recompute the HMAC over the raw body (and the signed timestamp) and compare in constant time."""

    secrets: tuple[Secret, ...]
    ctx: VerifyContext
    header: str = "X-Bridge-Signature"
    algorithm: str = "sha256"
    encoding: str = "hex"
    prefix: str = ""
    signed: str = "{body}"
    timestamp_header: str | None = None
    timestamp_unit: str = "s"
    # Other bodies the sender may have signed, tried only when the raw body fails (Tally's sample).
    body_variants: BodyVariants | None = None
    scheme: str = "hmac"

    def verify(self, request: InboundRequest) -> None:
        """Raise VerificationFailed unless the header holds the HMAC of this request."""
        given = require_header(request, self.header)
        if not given.startswith(self.prefix):
            raise VerificationFailed("signature_malformed", f"the {self.header} header must start with "
                                                            f"{self.prefix!r}")
        given = given[len(self.prefix):].strip()
        if self.encoding == "hex":
            given = given.lower()
        timestamp, seconds = "", None
        if self.timestamp_header:
            timestamp = require_header(request, self.timestamp_header, check="timestamp_missing",
                                       what="timestamp")
            seconds = parse_timestamp(timestamp, milliseconds=self.timestamp_unit == "ms")
        if not self._matches(given, request.body, timestamp):
            variants = self.body_variants(request.body) if self.body_variants else ()
            if not any(self._matches(given, body, timestamp) for body in variants):
                raise VerificationFailed("signature_mismatch", f"the {self.header} signature does not match "
                                                               "the body and this source's secret")
        if seconds is not None:
            check_timestamp(seconds, self.ctx)

    def _matches(self, given: str, body: bytes, timestamp: str) -> bool:
        before, after = self.signed.replace("{timestamp}", timestamp).split("{body}")
        message = before.encode() + body + after.encode()
        expected = [_encode(hmac_digest(s.reveal(), message, self.algorithm), self.encoding)
                    for s in self.secrets]
        return any_matches([given], expected)


def _encode(digest: bytes, encoding: str) -> str:
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


def build(config: Mapping[str, Any], ctx: VerifyContext) -> HmacVerifier:
    """The generic HMAC verifier; ConfigError naming the key when the settings cannot work."""
    where = f"sources.{ctx.source}.verify"
    algorithm = str(config.get("algorithm", "sha256")).lower()
    encoding = str(config.get("encoding", "hex")).lower()
    unit = str(config.get("timestamp_unit", "s")).lower()
    signed = str(config.get("signed", "{body}"))
    timestamp_header = config.get("timestamp_header")
    for key, value, allowed in (("algorithm", algorithm, ALGORITHMS), ("encoding", encoding, ENCODINGS),
                                ("timestamp_unit", unit, ("s", "ms"))):
        if value not in allowed:
            raise ConfigError(f"{where}.{key}: {value!r} is not supported; use one of {', '.join(allowed)}")
    unknown = set(re.findall(r"\{(\w*)\}", signed)) - set(PLACEHOLDERS)
    if signed.count("{body}") != 1 or unknown:
        raise ConfigError(f"{where}.signed: must contain {{body}} exactly once and no placeholder other than "
                          f"{{timestamp}}; got {signed!r}")
    if ("{timestamp}" in signed) != bool(timestamp_header):
        raise ConfigError(f"{where}: `signed` uses {{timestamp}} exactly when `timestamp_header` is set "
                          "(an unsigned timestamp would protect nothing)")
    return HmacVerifier(secrets=tuple(secrets_from(config, ctx.source)), ctx=ctx,
                        header=str(config.get("header", "X-Bridge-Signature")), algorithm=algorithm,
                        encoding=encoding, prefix=str(config.get("prefix", "")), signed=signed,
                        timestamp_header=str(timestamp_header) if timestamp_header else None,
                        timestamp_unit=unit)
