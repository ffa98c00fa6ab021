"""`webflow`: `x-webflow-signature: hex HMAC-SHA256(secret, "<x-webflow-timestamp>:" + raw body)`.

The timestamp is in milliseconds. Config keys: `secret` / `secrets` (the OAuth app's client secret,
or the webhook's own secret for API-created webhooks), `tolerance`. Webhooks created in the Webflow
dashboard are not signed: use `scheme: token` for them.
"""

from __future__ import annotations

from typing import Any, Mapping

from bridge.verify.base import VerifyContext, secrets_from
from bridge.verify.generic_hmac import HmacVerifier


def build(config: Mapping[str, Any], ctx: VerifyContext) -> HmacVerifier:
    """The HMAC verifier with Webflow's headers, message layout and millisecond timestamps."""
    return HmacVerifier(secrets=tuple(secrets_from(config, ctx.source)), ctx=ctx,
                        header="x-webflow-signature", encoding="hex", signed="{timestamp}:{body}",
                        timestamp_header="x-webflow-timestamp", timestamp_unit="ms", scheme="webflow")
