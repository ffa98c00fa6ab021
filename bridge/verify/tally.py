"""`tally`: `Tally-Signature: <base64 HMAC-SHA256(signing secret, body)>`; no timestamp.

Tally's own sample signs `JSON.stringify(parsed body)`, so when the raw body does not match, its
compact re-serialization (key order and non-ASCII kept, like JSON.stringify) is tried. Config keys:
`secret` / `secrets`.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from bridge.verify.base import VerifyContext, secrets_from
from bridge.verify.generic_hmac import HmacVerifier


def compact_json(body: bytes) -> list[bytes]:
    """The body as JSON.stringify would write it; nothing when it is not JSON."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to re-serialize
        return []
    compact = json.dumps(parsed, ensure_ascii=False, separators=(",", ":")).encode()
    return [compact] if compact != body else []


def build(config: Mapping[str, Any], ctx: VerifyContext) -> HmacVerifier:
    """The HMAC verifier with Tally's header and encoding, falling back to the compact body."""
    return HmacVerifier(secrets=tuple(secrets_from(config, ctx.source)), ctx=ctx, header="Tally-Signature",
                        encoding="base64", body_variants=compact_json, scheme="tally")
