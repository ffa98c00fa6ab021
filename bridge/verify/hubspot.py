"""`hubspot`: HubSpot request signatures v3, and the older v1/v2.

- v3: `X-HubSpot-Signature-v3: base64 HMAC-SHA256(secret, method + URI + body + timestamp)` with
  `X-HubSpot-Request-Timestamp` in milliseconds; the URI is the full URL HubSpot called, with the
  escapes HubSpot lists decoded (`%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B`).
- v2: `X-HubSpot-Signature: hex SHA-256(secret + method + URI + body)` (workflow webhooks).
- v1: `X-HubSpot-Signature: hex SHA-256(secret + body)` (Webhooks API); v1/v2 have no timestamp.
v3 is used whenever its header is present (and v3 is accepted); otherwise `X-HubSpot-Signature-Version`
says v1 or v2.

Config keys: `secret` / `secrets` (the app's client secret), `versions` (default `[v1, v2, v3]`; list
only `v3` to refuse the older schemes, which carry no timestamp), `public_url` (the URL HubSpot calls, e.g.
`https://bridge.example.com/hooks/hubspot`, when a proxy changes the one the bridge sees; the
request's query string is appended unless `public_url` has its own), `tolerance`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

from bridge.errors import VerificationFailed
from bridge.inbound import InboundRequest
from bridge.verify.base import (VerifyContext, any_matches, check_timestamp, hmac_digest, parse_timestamp,
                                require_header, secrets_from)
from workers.config import Secret
from workers.errors import ConfigError

VERSIONS = ("v1", "v2", "v3")
V3_HEADER = "X-HubSpot-Signature-v3"
LEGACY_HEADER = "X-HubSpot-Signature"
_DECODED = re.compile(r"%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)


@dataclass(frozen=True)
class HubSpotVerifier:
    """Verify whichever HubSpot signature version the request carries."""

    secrets: tuple[Secret, ...]
    ctx: VerifyContext
    versions: tuple[str, ...] = VERSIONS
    public_url: str | None = None
    scheme: str = "hubspot"

    def verify(self, request: InboundRequest) -> None:
        """Raise VerificationFailed unless the request's HubSpot signature is valid (and recent, for v3)."""
        use_v3 = "v3" in self.versions or not request.headers.get(LEGACY_HEADER)
        if request.headers.get(V3_HEADER) and use_v3:
            self._allow("v3")
            self._verify_v3(request)
            return
        given = require_header(request, LEGACY_HEADER).lower()
        version = str(request.headers.get("X-HubSpot-Signature-Version") or "v1").strip().lower()
        if version not in ("v1", "v2"):
            raise VerificationFailed("signature_malformed", "X-HubSpot-Signature-Version must be v1 or v2")
        self._allow(version)
        prefix = (request.method.upper() + self.signed_url(request)).encode() if version == "v2" else b""
        expected = [hashlib.sha256(s.reveal().encode() + prefix + request.body).hexdigest()
                    for s in self.secrets]
        if not any_matches([given], expected):
            raise VerificationFailed("signature_mismatch", f"the {version} {LEGACY_HEADER} does not match")

    def _verify_v3(self, request: InboundRequest) -> None:
        given = require_header(request, V3_HEADER)
        timestamp = require_header(request, "X-HubSpot-Request-Timestamp", check="timestamp_missing",
                                   what="timestamp")
        seconds = parse_timestamp(timestamp, milliseconds=True)
        uri = _DECODED.sub(lambda m: bytes.fromhex(m.group(1)).decode(), self.signed_url(request))
        message = (request.method.upper() + uri).encode() + request.body + timestamp.encode()
        expected = [base64.b64encode(hmac_digest(s.reveal(), message)).decode() for s in self.secrets]
        if not any_matches([given], expected):
            raise VerificationFailed("signature_mismatch", f"the {V3_HEADER} signature does not match "
                                     "(if a proxy rewrites the URL, set public_url)")
        check_timestamp(seconds, self.ctx)

    def signed_url(self, request: InboundRequest) -> str:
        """The URL HubSpot signed: `public_url` (plus the request's query) if set, else the request's."""
        if not self.public_url:
            return request.url
        query = urlsplit(request.url).query
        return self.public_url + (f"?{query}" if query and "?" not in self.public_url else "")

    def _allow(self, version: str) -> None:
        if version not in self.versions:
            raise VerificationFailed("signature_version", f"HubSpot {version} signatures are not accepted by "
                                     f"this source (accepted: {', '.join(self.versions)})")


def build(config: Mapping[str, Any], ctx: VerifyContext) -> HubSpotVerifier:
    """The HubSpot verifier; ConfigError for an unknown version."""
    versions = tuple(str(v).lower() for v in (config.get("versions") or VERSIONS))
    if not versions or set(versions) - set(VERSIONS):
        raise ConfigError(f"sources.{ctx.source}.verify.versions: use some of {', '.join(VERSIONS)}")
    public_url = config.get("public_url")
    return HubSpotVerifier(secrets=tuple(secrets_from(config, ctx.source)), ctx=ctx, versions=versions,
                           public_url=str(public_url) if public_url else None)
