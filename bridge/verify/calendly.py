"""`calendly`: `Calendly-Webhook-Signature: t=<seconds>,v1=<hex>` (see signed_header).

Config keys: `secret` / `secrets` (the subscription's `signing_key`), `tolerance` (Calendly's own
sample allows 180 s; the bridge default is 300 s).
"""

from __future__ import annotations

from typing import Any, Mapping

from bridge.verify.base import VerifyContext, secrets_from
from bridge.verify.signed_header import SignedHeaderVerifier


def build(config: Mapping[str, Any], ctx: VerifyContext) -> SignedHeaderVerifier:
    """The `t=,v1=` verifier on Calendly's header."""
    return SignedHeaderVerifier(secrets=tuple(secrets_from(config, ctx.source)), ctx=ctx,
                                header="Calendly-Webhook-Signature", scheme="calendly")
