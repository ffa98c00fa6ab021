"""`stripe`: `Stripe-Signature: t=<seconds>,v1=<hex>[,v1=…][,v0=…]` (see signed_header).

Config keys: `secret` / `secrets` (the endpoint's `whsec_…` signing secret, used as is), `tolerance`.
"""

from __future__ import annotations

from typing import Any, Mapping

from bridge.verify.base import VerifyContext, secrets_from
from bridge.verify.signed_header import SignedHeaderVerifier


def build(config: Mapping[str, Any], ctx: VerifyContext) -> SignedHeaderVerifier:
    """The `t=,v1=` verifier on Stripe's header."""
    return SignedHeaderVerifier(secrets=tuple(secrets_from(config, ctx.source)), ctx=ctx,
                                header="Stripe-Signature", scheme="stripe")
