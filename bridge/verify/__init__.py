"""Signature / authentication schemes, one module each, chosen by `verify.scheme` in a source's config.

Every scheme compares in constant time against the raw body bytes and raises
`VerificationFailed(check, message)`. The checks, as named in responses and metrics:

    signature_missing / signature_malformed / signature_mismatch / signature_version
    timestamp_missing / timestamp_malformed / timestamp (outside the tolerance)
    token_missing / token_mismatch (token), credentials_missing / _malformed / _mismatch (basic)
    id_missing, body_encoding (standard_webhooks), algorithm / issuer / body_hash (netlify)
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from bridge.verify.base import Clock, Verifier, VerifyContext
from workers.errors import ConfigError

# scheme name in bridge.yaml -> module under bridge.verify (each has `build(config, ctx) -> Verifier`)
SCHEMES: dict[str, str] = {
    "none": "none",
    "token": "token",
    "basic": "basic",
    "hmac": "generic_hmac",
    "typeform": "typeform",
    "tally": "tally",
    "webflow": "webflow",
    "calendly": "calendly",
    "stripe": "stripe",
    "hubspot": "hubspot",
    "netlify": "netlify",
    "standard_webhooks": "standard_webhooks",
}


def build_verifier(source: str, config: Mapping[str, Any], *, clock: Clock | None = None,
                   tolerance: int = 300) -> Verifier:
    """The verifier for one source; ConfigError naming the source when its config is unusable."""
    scheme = str(config.get("scheme", ""))
    if scheme not in SCHEMES:
        raise ConfigError(f"sources.{source}.verify.scheme: unknown scheme {scheme!r}; "
                          f"expected one of {', '.join(sorted(SCHEMES))}")
    module = importlib.import_module(f"bridge.verify.{SCHEMES[scheme]}")
    ctx = VerifyContext(source=source, tolerance=int(config.get("tolerance", tolerance)),
                        **({"clock": clock} if clock else {}))
    return module.build(config, ctx)


__all__ = ["SCHEMES", "Verifier", "VerifyContext", "build_verifier"]
