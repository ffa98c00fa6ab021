"""Every signature vector of tests/fixtures/vectors passes its verifier with the clock pinned, and the
same request with one byte changed, a wrong secret, a stale timestamp, or a missing or malformed
header is refused with the check that failed; a rotated (second) secret still works."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bridge.errors import VerificationFailed
from bridge.inbound import InboundRequest
from bridge.verify import build_verifier
from tests.sources.support import VECTORS, request, vectors

SCHEME = {"typeform": "typeform", "tally": "tally", "webflow": "webflow", "netlify": "netlify",
          "calendly": "calendly", "hubspot-v1": "hubspot", "hubspot-v2": "hubspot", "hubspot-v3": "hubspot",
          "stripe": "stripe", "standard-webhooks": "standard_webhooks"}
SIGNATURE_HEADER = {"typeform": "Typeform-Signature", "tally": "Tally-Signature",
                    "webflow": "x-webflow-signature", "netlify": "X-Webhook-Signature",
                    "calendly": "Calendly-Webhook-Signature",
                    "hubspot-v1": "X-HubSpot-Signature", "hubspot-v2": "X-HubSpot-Signature",
                    "hubspot-v3": "X-HubSpot-Signature-v3", "stripe": "Stripe-Signature",
                    "standard-webhooks": "webhook-signature"}
# A header value that cannot be a signature, and the check that says so (schemes whose signature is
# a bare digest cannot tell a malformed value from a wrong one).
MALFORMED = {"typeform": ("ur7EE5BUZQ4yW9R2/IHYWvRTMRrpQGJBPrV28xjMfrQ=", "signature_malformed"),
             "tally": ("not base64 at all", "signature_mismatch"),
             "webflow": ("zz-not-hex", "signature_mismatch"),
             "netlify": ("not-a-jws", "signature_malformed"),
             "calendly": ("v1=7714d109ad02b57f2fb88c2b8893d8f24fa9823a1bd58a57", "signature_malformed"),
             "hubspot-v1": ("xyz", "signature_mismatch"), "hubspot-v2": ("xyz", "signature_mismatch"),
             "hubspot-v3": ("%%%", "signature_mismatch"),
             "stripe": ("t:1700000000;v1:4f1cd7fe", "signature_malformed"),
             "standard-webhooks": ("v1", "signature_malformed")}
# How a stale request is made: the clock moves; the signed timestamp stays as it was signed.
# Wrong secrets that are still valid Standard Webhooks secrets (whsec_ + base64).
WRONG_SECRET = "whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="
OLD_SECRET = "whsec_b2xkLXNlY3JldC1iZWZvcmUtcm90YXRpb24="
TIMESTAMPED = {"webflow", "calendly", "hubspot-v3", "stripe", "standard-webhooks"}
VECTORS_ALL = vectors()
TIMED = [v for v in VECTORS_ALL if v["provider"] in TIMESTAMPED]


def _flipped(vector: dict[str, Any]) -> bytes:
    """The vector's body with one bit of its middle byte changed."""
    body = bytearray((VECTORS / vector["body_file"]).read_bytes())
    body[len(body) // 2] ^= 0x01
    return bytes(body)


def _id(vector: dict[str, Any]) -> str:
    return f"{vector['provider']}:{vector['body_file']}"


def _now(vector: dict[str, Any]) -> float:
    return float(vector["now"]) if "now" in vector else vector.get("now_ms", 1_700_000_000_000) / 1000


def _verify(vector: dict[str, Any], *, secrets: list[str] | None = None, body: bytes | None = None,
            headers: dict[str, str] | None = None, now: float | None = None) -> None:
    config = {"scheme": SCHEME[vector["provider"]], "secrets": secrets or [vector["secret"]]}
    clock_at = _now(vector) if now is None else now
    verifier = build_verifier("src", config, clock=lambda: clock_at)
    verifier.verify(_request(vector, body=body, headers=headers))


def _request(vector: dict[str, Any], *, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> InboundRequest:
    raw = (VECTORS / vector["body_file"]).read_bytes() if body is None else body
    return request(raw, vector["headers"] if headers is None else headers,
                   url=vector.get("uri", "https://bridge.example.com/hooks/src"),
                   method=vector.get("method", "POST"))


def _refused(vector: dict[str, Any], **kwargs: Any) -> VerificationFailed:
    with pytest.raises(VerificationFailed) as caught:
        _verify(vector, **kwargs)
    return caught.value


def test_every_provider_has_a_vector() -> None:
    assert {v["provider"] for v in VECTORS_ALL} == set(SCHEME)
    assert len(VECTORS_ALL) == 13


@pytest.mark.parametrize("vector", VECTORS_ALL, ids=_id)
def test_vector_verifies_with_the_clock_pinned(vector: dict[str, Any]) -> None:
    _verify(vector)


@pytest.mark.parametrize("vector", VECTORS_ALL, ids=_id)
def test_one_changed_byte_is_refused(vector: dict[str, Any]) -> None:
    failure = _refused(vector, body=_flipped(vector))
    assert failure.check == ("body_hash" if vector["provider"] == "netlify" else "signature_mismatch")


@pytest.mark.parametrize("vector", VECTORS_ALL, ids=_id)
def test_a_wrong_secret_is_refused(vector: dict[str, Any]) -> None:
    assert _refused(vector, secrets=[WRONG_SECRET]).check == "signature_mismatch"


@pytest.mark.parametrize("vector", VECTORS_ALL, ids=_id)
def test_the_second_secret_of_a_rotation_works(vector: dict[str, Any]) -> None:
    _verify(vector, secrets=[OLD_SECRET, vector["secret"]])


@pytest.mark.parametrize("vector", TIMED, ids=_id)
@pytest.mark.parametrize("offset", [301, -301], ids=["stale", "future"])
def test_a_timestamp_outside_the_window_is_refused(vector: dict[str, Any], offset: int) -> None:
    assert _refused(vector, now=_now(vector) + offset).check == "timestamp"


@pytest.mark.parametrize("vector", TIMED, ids=_id)
@pytest.mark.parametrize("offset", [300, -300], ids=["oldest", "newest"])
def test_a_timestamp_at_the_edge_of_the_window_passes(vector: dict[str, Any], offset: int) -> None:
    _verify(vector, now=_now(vector) + offset)


@pytest.mark.parametrize("vector", VECTORS_ALL, ids=_id)
def test_a_missing_signature_header_is_refused(vector: dict[str, Any]) -> None:
    name = SIGNATURE_HEADER[vector["provider"]]
    headers = {k: v for k, v in vector["headers"].items() if k.lower() != name.lower()}
    assert _refused(vector, headers=headers).check == "signature_missing"


@pytest.mark.parametrize("vector", VECTORS_ALL, ids=_id)
def test_a_malformed_signature_header_is_refused(vector: dict[str, Any]) -> None:
    value, check = MALFORMED[vector["provider"]]
    headers = {**vector["headers"], SIGNATURE_HEADER[vector["provider"]]: value}
    assert _refused(vector, headers=headers).check == check


@pytest.mark.parametrize("vector", TIMED, ids=_id)
def test_a_malformed_timestamp_is_refused(vector: dict[str, Any]) -> None:
    headers = {k: v.replace("t=1700000000", "t=soon") for k, v in vector["headers"].items()}
    for name in ("x-webflow-timestamp", "X-HubSpot-Request-Timestamp", "webhook-timestamp"):
        if name in headers:
            headers[name] = "1.7e9"
    assert _refused(vector, headers=headers).check == "timestamp_malformed"


@pytest.mark.parametrize("vector", VECTORS_ALL, ids=_id)
def test_failures_never_echo_the_secret_or_the_signature(vector: dict[str, Any]) -> None:
    signature = vector["headers"][SIGNATURE_HEADER[vector["provider"]]]
    digests = re.findall(r"[A-Za-z0-9+/_-]{16,}", signature)
    for failure in (_refused(vector, body=_flipped(vector)), _refused(vector, secrets=[WRONG_SECRET])):
        shown = failure.message + repr(failure.details)
        assert vector["secret"] not in shown
        assert digests and not [d for d in digests if d in shown]


# --- vectors published by providers beyond shared/providers/vectors --------------------------------

PUBLISHED = [
    # Svix docs, "Verifying Webhooks Manually": the example secret, headers, body and signature.
    ("svix-docs", {"scheme": "standard_webhooks", "secret": "whsec_plJ3nmyCDGBKInavdOK15jsl"},
     b'{"event_type":"ping","data":{"success":true}}',
     {"svix-id": "msg_loFOjxBNrRLzqYUf", "svix-timestamp": "1731705121",
      "svix-signature": "v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0="}, 1731705121),
]


@pytest.mark.parametrize(("name", "verify", "body", "headers", "now"), PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_a_published_vector_verifies_and_a_changed_byte_does_not(name: str, verify: dict[str, Any], body: bytes,
                                                                headers: dict[str, str], now: int) -> None:
    verifier = build_verifier(name, verify, clock=lambda: now)
    verifier.verify(request(body, headers))
    with pytest.raises(VerificationFailed) as caught:
        verifier.verify(request(body.replace(b"true", b"True"), headers))
    assert caught.value.check == "signature_mismatch"
