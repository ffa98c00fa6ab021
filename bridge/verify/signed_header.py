"""The `t=<seconds>,v1=<hex HMAC-SHA256(secret, t + "." + raw body)>` header shared by Stripe and Calendly.

Every `v1` in the header is tried (Stripe sends several while a secret is rolled); other versions,
such as Stripe's test-mode `v0`, are ignored. The secret is used as its literal UTF-8 text (Stripe's
`whsec_…` included). The timestamp must lie within the tolerance of the injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import VerificationFailed
from bridge.inbound import InboundRequest
from bridge.verify.base import (VerifyContext, any_matches, check_timestamp, hmac_digest, parse_timestamp,
                                require_header)
from workers.config import Secret


@dataclass(frozen=True)
class SignedHeaderVerifier:
    """Verify a `t=…,v1=…` signature header against the raw body."""

    secrets: tuple[Secret, ...]
    ctx: VerifyContext
    header: str
    scheme: str

    def verify(self, request: InboundRequest) -> None:
        """Raise VerificationFailed unless one `v1` signs `t.body` with a secret and `t` is recent."""
        elements = parse_elements(require_header(request, self.header), self.header)
        timestamps = [v for k, v in elements if k == "t"]
        if len(timestamps) != 1:
            raise VerificationFailed("signature_malformed", f"the {self.header} header needs exactly one t=")
        seconds = parse_timestamp(timestamps[0])
        given = [v.lower() for k, v in elements if k == "v1"]
        if not given:
            raise VerificationFailed("signature_mismatch", f"the {self.header} header has no v1 signature "
                                                           "(other versions, such as v0, are not accepted)")
        message = timestamps[0].encode() + b"." + request.body
        expected = [hmac_digest(s.reveal(), message).hex() for s in self.secrets]
        if not any_matches(given, expected):
            raise VerificationFailed("signature_mismatch", f"no v1 signature in the {self.header} header "
                                                           "matches the body and this source's secret")
        check_timestamp(seconds, self.ctx)


def parse_elements(value: str, header: str) -> list[tuple[str, str]]:
    """`t=1,v1=ab,v0=cd` -> [("t", "1"), ("v1", "ab"), ("v0", "cd")]; malformed when an item has no `=`."""
    elements = []
    for item in value.split(","):
        key, sep, val = item.partition("=")
        if not sep:
            raise VerificationFailed("signature_malformed", f"the {header} header must look like t=…,v1=…")
        elements.append((key.strip(), val.strip()))
    return elements
