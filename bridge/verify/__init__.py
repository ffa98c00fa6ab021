"""Signature / authentication schemes, one module each, chosen by `verify.scheme` in a source's config."""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from bridge.verify.base import Clock, Verifier, VerifyContext
from workers.errors import ConfigError

# scheme name in bridge.yaml -> module under bridge.verify (each has `build(config, ctx) -> Verifier`)
SCHEMES: dict[str, str] = {
    "none": "none",
    "token": "token",
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
