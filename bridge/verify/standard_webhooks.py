"""`standard_webhooks`: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>…` (or Svix's
`svix-*` names), verified with the reference `standardwebhooks` library.

The library checks the timestamp against the real clock; the bridge must use the injected one. So
the library's private timestamp check is replaced by a parse (`_ClockFreeWebhook`), its signature
verification runs unchanged, and the window is checked here against `ctx.clock`.

Config keys: `secret` / `secrets` (`whsec_<base64>`; the prefix is optional), `tolerance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

from bridge.errors import VerificationFailed
from bridge.inbound import InboundRequest
from bridge.verify.base import VerifyContext, check_timestamp, parse_timestamp, require_header, secrets_from
from workers.errors import ConfigError

FAMILIES = ("webhook", "svix")


class _ClockFreeWebhook(Webhook):
    """The reference verifier with its wall-clock window switched off (the bridge checks `ctx.clock`)."""

    # Overrides Webhook.__verify_timestamp (name-mangled), which compares with datetime.now().
    def _Webhook__verify_timestamp(self, timestamp_header: str) -> datetime:
        """Parse the timestamp only; the window is checked by the caller."""
        return datetime.fromtimestamp(float(timestamp_header), tz=timezone.utc)


@dataclass(frozen=True)
class StandardWebhooksVerifier:
    """Verify a Standard Webhooks signature with the reference library, on the injected clock."""

    webhooks: tuple[Webhook, ...]
    ctx: VerifyContext
    scheme: str = "standard_webhooks"

    def verify(self, request: InboundRequest) -> None:
        """Raise VerificationFailed unless one `v1` signature matches a secret and the timestamp is recent."""
        family = next((f for f in FAMILIES if request.headers.get(f"{f}-signature")), FAMILIES[0])
        signature = require_header(request, f"{family}-signature")
        msg_id = require_header(request, f"{family}-id", check="id_missing", what="message id")
        timestamp = require_header(request, f"{family}-timestamp", check="timestamp_missing",
                                   what="timestamp")
        seconds = parse_timestamp(timestamp)
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise VerificationFailed("body_encoding", "the body is not UTF-8, so it cannot carry a Standard "
                                                      "Webhooks signature") from None
        headers = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
        # Every secret is tried (no early exit), like any_matches.
        results = [self._verified(webhook, body, headers) for webhook in self.webhooks]
        if not any(results):
            raise VerificationFailed("signature_mismatch", f"no v1 signature in {family}-signature matches "
                                                           "the body and this source's secret")
        check_timestamp(seconds, self.ctx)

    @staticmethod
    def _verified(webhook: Webhook, body: str, headers: dict[str, str]) -> bool:
        try:
            webhook.verify(body, headers, json_parse=False)
        except WebhookVerificationError:
            return False
        except ValueError:  # the library's parse of "version,signature" entries and their base64
            raise VerificationFailed("signature_malformed", "the signature header must be space-separated "
                                                            "`v1,<base64>` entries") from None
        return True


def build(config: Mapping[str, Any], ctx: VerifyContext) -> StandardWebhooksVerifier:
    """One reference verifier per secret; ConfigError when a secret is not `whsec_<base64>`."""
    webhooks = []
    for secret in secrets_from(config, ctx.source):
        try:
            webhooks.append(_ClockFreeWebhook(secret.reveal()))
        except (ValueError, EmptyWebhookSecretError) as exc:  # ValueError includes binascii.Error
            raise ConfigError(f"sources.{ctx.source}.verify.secret: not a Standard Webhooks secret "
                              f"(whsec_ followed by base64): {type(exc).__name__}") from None
    return StandardWebhooksVerifier(webhooks=tuple(webhooks), ctx=ctx)
