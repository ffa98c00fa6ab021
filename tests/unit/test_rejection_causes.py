"""The typed cause of each rejection, and a record that never changes the sender's answer."""

from __future__ import annotations

import pytest
import redis

from bridge import errors
from bridge.inbound import Headers
from bridge.rejections import Rejected, RejectionLog, cause_of
from workers.redis_server import free_port


@pytest.mark.parametrize("exc, content_type, cause", [
    (errors.VerificationFailed("timestamp", "too old"), "application/json", "verification_failed.timestamp"),
    (errors.VerificationFailed("signature_mismatch", "no"), "application/json", "verification_failed.signature_mismatch"),
    (errors.BodyUnreadable("bad json"), "application/json", "unparsable_json"),
    (errors.BodyUnreadable("bad form"), "application/x-www-form-urlencoded", "unparsable_form"),
    (errors.BodyUnreadable("?"), "text/plain", "unparsable_body"),
    (errors.BodyIncomplete("short"), "application/json", "body_incomplete"),
    (errors.PayloadTooLarge("big"), "application/json", "payload_too_large"),
    (errors.TooManyFields("many"), "application/json", "too_many_fields"),
    (errors.UnknownSource("who"), "", "unknown_source"),
    (errors.UnsupportedMediaType("xml"), "text/xml", "unsupported_media_type"),
    (errors.PayloadInvalid({"email": ["missing"]}), "application/json", "invalid_payload"),
    (errors.IdempotencyMismatch("reused"), "application/json", "idempotency_key_reused"),
])
def test_each_rejection_has_a_typed_cause(exc: errors.HttpError, content_type: str, cause: str) -> None:
    assert cause_of(exc, content_type) == cause


def test_redis_away_never_changes_the_answer() -> None:
    client = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    log = RejectionLog(client, prefix="t:", keep=10, per_minute=10, ttl=60)
    req = Rejected(source="demo", known=True, method="POST", path="/hooks/demo", content_type="application/json",
                   headers=Headers({"Content-Type": "application/json"}), body=b"{}")
    assert log.record(req, errors.VerificationFailed("token_mismatch", "wrong token")) is False
