"""`token`: a shared secret in the `X-Bridge-Token` header (or another header) or the `?token=` query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from bridge.errors import VerificationFailed
from bridge.inbound import InboundRequest
from bridge.verify.base import VerifyContext, any_matches, secrets_from
from workers.config import Secret


@dataclass(frozen=True)
class TokenVerifier:
    secrets: tuple[Secret, ...]
    header: str = "X-Bridge-Token"
    query_param: str | None = "token"
    scheme: str = "token"

    def verify(self, request: InboundRequest) -> None:
        given = request.headers.get(self.header)
        if given is None and self.query_param:
            given = request.query.get(self.query_param)
        if not given:
            where = f"the {self.header} header" + (f" or the ?{self.query_param}= query parameter"
                                                    if self.query_param else "")
            raise VerificationFailed("token_missing", f"no token: send it in {where}")
        if not any_matches([given], [s.reveal() for s in self.secrets]):
            raise VerificationFailed("token_mismatch", "the token does not match this source's secret")


def build(config: Mapping[str, Any], ctx: VerifyContext) -> TokenVerifier:
    return TokenVerifier(
        secrets=tuple(secrets_from(config, ctx.source)),
        header=config.get("header", "X-Bridge-Token"),
        query_param=config.get("query_param", "token"),
    )
