"""`basic`: HTTP Basic authentication (`Authorization: Basic base64(user:password)`), e.g. Zapier's
"Basic Auth" field (`user|password` there).

Config keys: `username`, `password` / `passwords` (rotation).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Mapping

from bridge.errors import VerificationFailed
from bridge.inbound import InboundRequest
from bridge.verify.base import VerifyContext, any_matches, secrets_from
from workers.config import Secret
from workers.errors import ConfigError


@dataclass(frozen=True)
class BasicAuthVerifier:
    """Compare the Basic credentials with `username:password` in constant time."""

    username: str
    passwords: tuple[Secret, ...]
    scheme: str = "basic"

    def verify(self, request: InboundRequest) -> None:
        """Raise VerificationFailed unless the request carries this source's Basic credentials."""
        kind, _, value = str(request.headers.get("Authorization") or "").strip().partition(" ")
        if kind.lower() != "basic" or not value.strip():
            raise VerificationFailed("credentials_missing", "send HTTP Basic credentials: "
                                                            "Authorization: Basic base64(username:password)")
        try:
            given = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise VerificationFailed("credentials_malformed", "the Basic credentials are not base64 of "
                                                              "username:password") from None
        expected = [f"{self.username}:{p.reveal()}" for p in self.passwords]
        if ":" not in given or not any_matches([given], expected):
            raise VerificationFailed("credentials_mismatch", "the username or password is wrong")


def build(config: Mapping[str, Any], ctx: VerifyContext) -> BasicAuthVerifier:
    """The Basic verifier; ConfigError without a username or password."""
    username = str(config.get("username") or "")
    if not username:
        raise ConfigError(f"sources.{ctx.source}.verify.username: scheme 'basic' needs a username")
    passwords = tuple(secrets_from(config, ctx.source, key="password"))
    return BasicAuthVerifier(username=username, passwords=passwords)
