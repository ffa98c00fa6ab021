"""`netlify`: `X-Webhook-Signature`, a JWS (HS256) whose claims are `iss: "netlify"` and `sha256`, the hex
SHA-256 of the raw body. Verified with the standard library: the token is decoded and checked, never
compared as a string (Netlify's header and claim order may vary). There is no timestamp.

Config keys: `secret` / `secrets` (the form notification's "JWS secret token").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

from bridge.errors import VerificationFailed
from bridge.inbound import InboundRequest
from bridge.verify.base import (VerifyContext, any_matches, constant_time_equal, hmac_digest, require_header,
                                secrets_from)
from workers.config import Secret

HEADER = "X-Webhook-Signature"
ISSUER = "netlify"


@dataclass(frozen=True)
class NetlifyVerifier:
    """Verify the JWS's HS256 signature, then its issuer, then that it names this body."""

    secrets: tuple[Secret, ...]
    scheme: str = "netlify"

    def verify(self, request: InboundRequest) -> None:
        """Raise VerificationFailed naming the first check the token fails."""
        token = require_header(request, HEADER)
        header, claims, signature, signing_input = _decode(token)
        if header.get("alg") != "HS256":
            raise VerificationFailed("algorithm", f"the {HEADER} token must be signed with HS256")
        if not any_matches([signature], [hmac_digest(s.reveal(), signing_input) for s in self.secrets]):
            raise VerificationFailed("signature_mismatch", f"the {HEADER} token is not signed with this "
                                                           "source's JWS secret")
        if claims.get("iss") != ISSUER:
            raise VerificationFailed("issuer", f"the {HEADER} token's issuer must be {ISSUER!r}")
        body_hash = hashlib.sha256(request.body).hexdigest()
        if not constant_time_equal(str(claims.get("sha256", "")).lower(), body_hash):
            raise VerificationFailed("body_hash", "the body does not match the token's sha256 claim "
                                                  "(changed in transit, or re-serialized by a proxy)")


def _decode(token: str) -> tuple[Mapping[str, Any], Mapping[str, Any], bytes, bytes]:
    """The JWS's header, claims, signature and signed bytes; signature_malformed when it is not a JWS."""
    parts = token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError("not three parts")
        header, claims = json.loads(_b64url(parts[0])), json.loads(_b64url(parts[1]))
        signature, signing_input = _b64url(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii")
    except (ValueError, binascii.Error):
        raise VerificationFailed("signature_malformed", f"the {HEADER} header is not a compact JWS") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise VerificationFailed("signature_malformed", f"the {HEADER} token's header and claims must be "
                                                        "objects")
    return header, claims, signature, signing_input


def _b64url(part: str) -> bytes:
    return base64.b64decode(part.replace("-", "+").replace("_", "/") + "=" * (-len(part) % 4), validate=True)


def build(config: Mapping[str, Any], ctx: VerifyContext) -> NetlifyVerifier:
    """The Netlify JWS verifier."""
    return NetlifyVerifier(secrets=tuple(secrets_from(config, ctx.source)))
