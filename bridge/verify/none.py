"""`none`: no verification. Allowed only when a source says `verify: none` explicitly; `dev` warns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from bridge.inbound import InboundRequest
from bridge.verify.base import VerifyContext


@dataclass(frozen=True)
class NoVerifier:
    scheme: str = "none"

    def verify(self, request: InboundRequest) -> None:
        return None


def build(config: Mapping[str, Any], ctx: VerifyContext) -> NoVerifier:
    return NoVerifier()
