"""`typeform`: `Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, raw body)>`; no timestamp.

Config keys: `secret` / `secrets` (the secret set on the Typeform webhook).
"""

from __future__ import annotations

from typing import Any, Mapping

from bridge.verify.base import VerifyContext, secrets_from
from bridge.verify.generic_hmac import HmacVerifier


def build(config: Mapping[str, Any], ctx: VerifyContext) -> HmacVerifier:
    """The HMAC verifier with Typeform's header, prefix and encoding."""
    return HmacVerifier(secrets=tuple(secrets_from(config, ctx.source)), ctx=ctx, header="Typeform-Signature",
                        encoding="base64", prefix="sha256=", scheme="typeform")
