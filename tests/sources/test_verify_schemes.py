"""Scheme details beyond the shared vectors: each provider's documented negative controls, the
generic HMAC and Basic schemes, configuration errors, and the injected clock governing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import VerificationFailed
from bridge.verify import SCHEMES, build_verifier
from tests.sources.support import VECTORS, request
from workers.errors import ConfigError

HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
STDWH_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STDWH_HEADERS = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
                 "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
STDWH_BODY = b'{"test": 2432232314}'
NETLIFY_BODY = (VECTORS / "netlify_vector_body.json").read_bytes()
# Generic HMAC values computed with `openssl dgst -hmac gas_shared_secret` (not with the code under test).
GAS_BODY = (b'{"response_id":"2_ABaOnud0S","form_id":"118EoaS7eK2q","answers":[{"title":"Email",'
            b'"type":"TEXT","value":"jane@example.com"}]}')
GAS_SECRET = "gas_shared_secret"
APPS_SCRIPT = {"encoding": "base64", "prefix": "v1=", "signed": "{timestamp}.{body}",
               "timestamp_header": "X-Bridge-Timestamp"}   # the docs/sources.md snippet's settings
APPS_SCRIPT_HEADERS = {"X-Bridge-Signature": "v1=GqQmI3wMY8W4BLC/mnulPdx8KQjUa0f/7174la5SKeU=",
                       "X-Bridge-Timestamp": "1714557792"}


def _check(scheme_config: dict[str, Any], body: bytes, headers: dict[str, str], *, now: float = 1_700_000_000,
           url: str = "https://bridge.example.com/hooks/src", method: str = "POST") -> str | None:
    """None when the request verifies, else the name of the failed check."""
    verifier = build_verifier("src", scheme_config, clock=lambda: now)
    try:
        verifier.verify(request(body, headers, url=url, method=method))
    except VerificationFailed as exc:
        return exc.check
    return None


# --- typeform, tally -------------------------------------------------------------------------------

TALLY = {"scheme": "tally", "secret": "tally_test_secret"}

def test_typeform_refuses_the_hex_digest_of_the_right_hmac() -> None:
    body = (VECTORS / "typeform_vector_body.json").read_bytes()
    hex_header = "sha256=babec4139054650e325bd476fc81d85af453311ae94062413eb576f318cc7eb4"
    assert _check({"scheme": "typeform", "secret": "abc123"}, body, {"Typeform-Signature": hex_header}) \
        == "signature_mismatch"


def test_tally_accepts_a_pretty_body_signed_in_its_compact_form() -> None:
    compact = (VECTORS / "tally_vector_body.json").read_bytes()
    pretty = json.dumps(json.loads(compact), indent=2).encode()
    header = {"Tally-Signature": "KI0+Ce+u2N+bVXeE6ju/bICDSBf2gxoyiEPE5mQHIy0="}
    assert _check(TALLY, pretty, header) is None


def test_tally_refuses_the_pretty_bodys_signature_on_the_compact_body() -> None:
    compact = (VECTORS / "tally_vector_body.json").read_bytes()
    header = {"Tally-Signature": "+/M08il5r28riUJ7RkkB0pJpHOIlbtWR83T69gtgQYM="}
    assert _check(TALLY, compact, header) == "signature_mismatch"


def test_tally_refuses_a_body_that_is_not_json_without_crashing() -> None:
    header = {"Tally-Signature": "KI0+Ce+u2N+bVXeE6ju/bICDSBf2gxoyiEPE5mQHIy0="}
    for body in (b"\xff\xfe not json", b"[" * 100_000):
        assert _check(TALLY, body, header) == "signature_mismatch"


# --- stripe, calendly ------------------------------------------------------------------------------

STRIPE_BODY = (VECTORS / "stripe_customer_created.json").read_bytes()
STRIPE_V1 = "c6b3fbd075e5542eb7f6e7347c02ee94c05a540a24fa0772767a666e28d372e2"
STRIPE = {"scheme": "stripe", "secret": "whsec_test_secret"}


def test_stripe_accepts_any_of_several_v1_signatures_and_ignores_v0() -> None:
    header = f"t=1700000000,v1={'0' * 64},v1={STRIPE_V1},v0=deadbeef"
    assert _check(STRIPE, STRIPE_BODY, {"Stripe-Signature": header}) is None


def test_stripe_refuses_a_header_with_only_v0() -> None:
    header = {"Stripe-Signature": f"t=1700000000,v0={STRIPE_V1}"}
    assert _check(STRIPE, STRIPE_BODY, header) == "signature_mismatch"


@pytest.mark.parametrize("secret", ["test_secret", "dGVzdF9zZWNyZXQ="], ids=["prefix stripped", "base64"])
def test_stripe_uses_the_whsec_secret_literally(secret: str) -> None:
    header = {"Stripe-Signature": f"t=1700000000,v1={STRIPE_V1}"}
    assert _check({"scheme": "stripe", "secret": secret}, STRIPE_BODY, header) == "signature_mismatch"


@pytest.mark.parametrize(("now", "expected"), [(1700000100, None), (1700000301, "timestamp")])
def test_stripe_window_matches_the_documented_examples(now: int, expected: str | None) -> None:
    header = {"Stripe-Signature": f"t=1700000000,v1={STRIPE_V1}"}
    assert _check(STRIPE, STRIPE_BODY, header, now=now) == expected


def test_stripe_refuses_a_header_without_t() -> None:
    header = {"Stripe-Signature": f"v1={STRIPE_V1}"}
    assert _check(STRIPE, STRIPE_BODY, header) == "signature_malformed"


@pytest.mark.parametrize(("now", "expected"), [(1700000180, None), (1700000181, "timestamp")])
def test_calendly_tolerance_comes_from_the_source_config(now: int, expected: str | None) -> None:
    body = (VECTORS / "calendly_vector_body.json").read_bytes()
    header = {"Calendly-Webhook-Signature": "t=1700000000,v1=7714d109ad02b57f2fb88c2b8893d8f24fa9823a1bd58a57"
                                            "63aa6bf90916f3ec"}
    config = {"scheme": "calendly", "secret": "calendly_test_signing_key", "tolerance": 180}
    assert _check(config, body, header, now=now) == expected


# --- hubspot ---------------------------------------------------------------------------------------

HUBSPOT_BODY = b'{"example_field":"example_value"}'
V3_TS = {"X-HubSpot-Request-Timestamp": "1700000000000"}
HUBSPOT = {"scheme": "hubspot", "secret": HUBSPOT_SECRET}


def test_hubspot_v3_decodes_the_listed_escapes_of_the_uri() -> None:
    url = "https://example.com/api/hubspot/webhooks?src=hs%3Aapp%2Fv3&x=%28a%29"
    good = {**V3_TS, "X-HubSpot-Signature-v3": "H+U+cz54E5F7Gh1Q5rpe8zNerDfThOwAIEc4yg5C8bM="}
    undecoded = {**V3_TS, "X-HubSpot-Signature-v3": "eGCJ/5Fjdfefq58tRfnr4mNCKzsfLCT8dorXvIGdmQA="}
    config = {"scheme": "hubspot", "secret": HUBSPOT_SECRET}
    assert _check(config, HUBSPOT_BODY, good, url=url) is None
    assert _check(config, HUBSPOT_BODY, undecoded, url=url) == "signature_mismatch"


def test_hubspot_v3_signs_the_v1_batch_body() -> None:
    body = (VECTORS / "hubspot_v1_body.json").read_bytes()
    headers = {**V3_TS, "X-HubSpot-Signature-v3": "/pXDSgWeGksQpwCsgqd43P0eY6gBIse9UX0tfkudUrE="}
    assert _check({"scheme": "hubspot", "secret": HUBSPOT_SECRET}, body, headers,
                  url="https://www.example.com/webhook_uri") is None


def test_hubspot_v2_signs_the_method_of_a_get_with_an_empty_body() -> None:
    headers = {"X-HubSpot-Signature-Version": "v2",
               "X-HubSpot-Signature": "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"}
    config = {"scheme": "hubspot", "secret": HUBSPOT_SECRET}
    assert _check(config, b"", headers, url="https://www.example.com/webhook_uri", method="GET") is None
    assert _check(config, b"", headers, url="https://www.example.com/webhook_uri", method="POST") \
        == "signature_mismatch"


@pytest.mark.parametrize("headers", [
    {**V3_TS, "X-HubSpot-Signature-v3": "rQEKkaNUiu+1qGF//O/pw4BCzstSqO1PyUnGICmf+7o="},
    {"X-HubSpot-Signature-Version": "v2",
     "X-HubSpot-Signature": "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"},
], ids=["v3", "v2"])
def test_hubspot_public_url_replaces_the_url_a_proxy_rewrote(headers: dict[str, str]) -> None:
    internal = "http://10.0.0.5:8000/hooks/hubspot"
    config = {"scheme": "hubspot", "secret": HUBSPOT_SECRET}
    assert _check(config, HUBSPOT_BODY, headers, url=internal) == "signature_mismatch"
    assert _check({**config, "public_url": "https://www.example.com/webhook_uri"}, HUBSPOT_BODY, headers,
                  url=internal) is None


def test_hubspot_public_url_keeps_the_request_query() -> None:
    headers = {**V3_TS, "X-HubSpot-Signature-v3": "H+U+cz54E5F7Gh1Q5rpe8zNerDfThOwAIEc4yg5C8bM="}
    config = {**HUBSPOT, "public_url": "https://example.com/api/hubspot/webhooks"}
    url = "http://internal/hooks/hubspot?src=hs:app/v3&x=(a)"
    assert _check(config, HUBSPOT_BODY, headers, url=url) is None


def test_hubspot_can_refuse_the_versions_without_timestamp() -> None:
    body = (VECTORS / "hubspot_v1_body.json").read_bytes()
    headers = {"X-HubSpot-Signature-Version": "v1",
               "X-HubSpot-Signature": "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"}
    assert _check({"scheme": "hubspot", "secret": HUBSPOT_SECRET, "versions": ["v3"]}, body, headers) \
        == "signature_version"


def test_hubspot_refuses_an_unknown_signature_version() -> None:
    headers = {"X-HubSpot-Signature-Version": "v9", "X-HubSpot-Signature": "00"}
    assert _check(HUBSPOT, HUBSPOT_BODY, headers) == "signature_malformed"


def test_hubspot_v3_without_its_timestamp_is_refused() -> None:
    headers = {"X-HubSpot-Signature-v3": "rQEKkaNUiu+1qGF//O/pw4BCzstSqO1PyUnGICmf+7o="}
    assert _check({"scheme": "hubspot", "secret": HUBSPOT_SECRET}, HUBSPOT_BODY, headers,
                  url="https://www.example.com/webhook_uri") == "timestamp_missing"


# --- netlify ---------------------------------------------------------------------------------------

# Tokens signed with `openssl dgst -sha256 -hmac netlify_jws_test_secret` (HS512: -sha512).
HS256, HS512 = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9"
NONE = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"
# {"iss":"netlify","sha256":<the body's>}
CLAIMS = ("eyJpc3MiOiJuZXRsaWZ5Iiwic2hhMjU2IjoiN2MwMjc1ZDk1Njk0Y2MwNjFiZWFhMzBlNGNkYjAzMzk3NzhiNDRj"
          "ZjI1Njk2NzAzNDJjZDM3MjY1ZTRmMTI5MCJ9")
# {"sha256":<the body's>,"iss":"netlify"}
REORDERED = ("eyJzaGEyNTYiOiI3YzAyNzVkOTU2OTRjYzA2MWJlYWEzMGU0Y2RiMDMzOTc3OGI0NGNmMjU2OTY3MDM0MmNkMzcy"
             "NjVlNGYxMjkwIiwiaXNzIjoibmV0bGlmeSJ9")
# {"iss":"netlify2","sha256":<the body's>}
ISSUER2 = ("eyJpc3MiOiJuZXRsaWZ5MiIsInNoYTI1NiI6IjdjMDI3NWQ5NTY5NGNjMDYxYmVhYTMwZTRjZGIwMzM5Nzc4YjQ0"
           "Y2YyNTY5NjcwMzQyY2QzNzI2NWU0ZjEyOTAifQ")
# {"iss":"netlify","sha256":<sha256 of {"other":"body"}>}
OTHER_BODY = ("eyJpc3MiOiJuZXRsaWZ5Iiwic2hhMjU2IjoiMzQ2MjhjMmNiYjU0NWE5OTY1ZmI5MjNkMWMxNWViYmUyN2EwZTky"
              "NWE3NjUyMjgyMzkxNDM4MjQ1ZTkzZDVkYiJ9")
NETLIFY_TOKENS = {
    "claims in another order": (f"{HS256}.{REORDERED}.68P2VRTFW_vZKi8qFXmQbogsQ5JrKdfrnXJP_BHXj9w", None),
    "issuer netlify2": (f"{HS256}.{ISSUER2}.smXP4n76PgLxy4kdqngccAtzrRCoi4uTBqda_Ovvl9U", "issuer"),
    "another body's sha256": (f"{HS256}.{OTHER_BODY}.8MNUPuLJbuwLP5RWL28nLPMagtBpHWfcGqJAJzFZGPw",
                              "body_hash"),
    "alg none": (f"{NONE}.{CLAIMS}.", "algorithm"),
    "alg HS512": (f"{HS512}.{CLAIMS}.udQBSOJzw0R2BbJ40gxccgUt33RCpmm2zoxDmcBzmmpRAHGs6E3q94Mc43uFC"
                  "-yhcdGtqJIN2gBhoWp-QwSbog", "algorithm"),
    "signed with another key": (f"{HS256}.{CLAIMS}.zkNsxcQpi_ZSjXxvw-KXxo0bW11KVcWytIeJHGCv3tA",
                                "signature_mismatch"),
    "not base64url": ("e30.e30.!!!", "signature_malformed"),
    "claims not an object": ("e30.WzFd.AAAA", "signature_malformed"),
}


@pytest.mark.parametrize("name", list(NETLIFY_TOKENS))
def test_netlify_token_is_decoded_and_each_claim_checked(name: str) -> None:
    token, expected = NETLIFY_TOKENS[name]
    config = {"scheme": "netlify", "secret": "netlify_jws_test_secret"}
    assert _check(config, NETLIFY_BODY, {"X-Webhook-Signature": token}) == expected


# --- standard webhooks -----------------------------------------------------------------------------

def test_standard_webhooks_window_is_the_injected_clock_not_the_librarys() -> None:
    config = {"scheme": "standard_webhooks", "secret": STDWH_SECRET}
    assert _check(config, STDWH_BODY, STDWH_HEADERS, now=1614265330) is None
    verifier = build_verifier("src", config, clock=time.time)
    with pytest.raises(VerificationFailed) as caught:
        verifier.verify(request(STDWH_BODY, STDWH_HEADERS))
    assert caught.value.check == "timestamp"


@pytest.mark.parametrize(("signature", "expected"), [
    ("v1,TcxlhK9b6UD6iVI1ZU2tTqp8PEVfYRseNNfa6b+LcUg=", "signature_mismatch"),  # the secret's text as key
    ("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", "signature_mismatch"),  # last character changed
    ("v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==",
     "signature_mismatch"),                                                   # ed25519 is not accepted
    ("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", None),
    ("v1,not*base64", "signature_malformed"),
], ids=["literal key", "changed", "v1a only", "several", "bad base64"])
def test_standard_webhooks_signature_list(signature: str, expected: str | None) -> None:
    headers = {**STDWH_HEADERS, "webhook-signature": signature}
    assert _check({"scheme": "standard_webhooks", "secret": STDWH_SECRET}, STDWH_BODY, headers,
                  now=1614265330) == expected


def test_standard_webhooks_accepts_svix_headers_and_a_secret_without_prefix() -> None:
    svix = {k.replace("webhook-", "svix-"): v for k, v in STDWH_HEADERS.items()}
    config = {"scheme": "standard_webhooks", "secret": STDWH_SECRET.removeprefix("whsec_")}
    assert _check(config, STDWH_BODY, svix, now=1614265330) is None


@pytest.mark.parametrize(("drop", "expected"), [("webhook-id", "id_missing"),
                                                ("webhook-timestamp", "timestamp_missing")])
def test_standard_webhooks_needs_every_header(drop: str, expected: str) -> None:
    headers = {k: v for k, v in STDWH_HEADERS.items() if k != drop}
    assert _check({"scheme": "standard_webhooks", "secret": STDWH_SECRET}, STDWH_BODY, headers,
                  now=1614265330) == expected


def test_standard_webhooks_refuses_a_body_that_is_not_utf8() -> None:
    assert _check({"scheme": "standard_webhooks", "secret": STDWH_SECRET}, b"\xff\xfe", STDWH_HEADERS,
                  now=1614265330) == "body_encoding"


def test_standard_webhooks_secret_must_be_base64() -> None:
    with pytest.raises(ConfigError, match="whsec_ followed by base64"):
        build_verifier("src", {"scheme": "standard_webhooks", "secret": "whsec_not-base64!"})


# --- generic hmac ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "headers"), [
    ({}, {"X-Bridge-Signature": "3c5d12eec5a3bccb890b984e9bcd5d169e4f36e8858332cdf85ebfafbc46e5cf"}),
    ({}, {"X-Bridge-Signature": "3C5D12EEC5A3BCCB890B984E9BCD5D169E4F36E8858332CDF85EBFAFBC46E5CF"}),
    ({"header": "X-Signature", "algorithm": "sha512", "encoding": "base64", "prefix": "sha512="},
     {"X-Signature": "sha512=t/5bQjxvI8jdnmWfHRlrEkuw41jC4uX9bZmkbll9xvA1BZIIYxbGGdf5Tf09z"
                     "RqxBYqRFuBcq3ItP8TS8XUKhQ=="}),
    (APPS_SCRIPT, APPS_SCRIPT_HEADERS),
    ({"signed": "{timestamp}:{body}", "timestamp_header": "X-Ts", "timestamp_unit": "ms"},
     {"X-Bridge-Signature": "8805111b8e719bcc74828a4d4be479c7a4ed59308d672e83ab44490e03787c66",
      "X-Ts": "1714557792000"}),
], ids=["sha256 hex", "hex upper case", "sha512 base64 prefix", "apps script snippet", "ms timestamp"])
def test_generic_hmac_matches_openssl(config: dict[str, Any], headers: dict[str, str]) -> None:
    full = {"scheme": "hmac", "secret": GAS_SECRET, **config}
    assert _check(full, GAS_BODY, headers, now=1714557792) is None
    assert _check(full, GAS_BODY + b" ", headers, now=1714557792) == "signature_mismatch"


def test_generic_hmac_checks_the_signed_timestamp_window() -> None:
    config = {"scheme": "hmac", "secret": GAS_SECRET, **APPS_SCRIPT}
    headers = APPS_SCRIPT_HEADERS
    assert _check(config, GAS_BODY, headers, now=1714557792 + 301) == "timestamp"
    assert _check(config, GAS_BODY, {**headers, "X-Bridge-Timestamp": "1714557793"}, now=1714557792) \
        == "signature_mismatch"
    unsigned_time = {"X-Bridge-Signature": headers["X-Bridge-Signature"]}
    no_prefix = {**headers, "X-Bridge-Signature": headers["X-Bridge-Signature"].removeprefix("v1=")}
    assert _check(config, GAS_BODY, unsigned_time) == "timestamp_missing"
    assert _check(config, GAS_BODY, no_prefix) == "signature_malformed"


@pytest.mark.parametrize("config", [
    {"algorithm": "md5"}, {"encoding": "base32"}, {"timestamp_unit": "minutes"}, {"signed": "{timestamp}"},
    {"signed": "{body}{body}"}, {"signed": "{id}.{body}"}, {"signed": "{timestamp}.{body}"},
    {"timestamp_header": "X-Ts"},
], ids=lambda c: next(iter(c.items()))[0] + "=" + str(next(iter(c.values()))))
def test_generic_hmac_refuses_settings_that_cannot_work(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"sources\.src\.verify"):
        build_verifier("src", {"scheme": "hmac", "secret": GAS_SECRET, **config})


# --- basic, token ----------------------------------------------------------------------------------

BASIC = {"scheme": "basic", "username": "zapier", "passwords": ["old-pass", "s3cret"]}


@pytest.mark.parametrize(("authorization", "expected"), [
    ("Basic emFwaWVyOnMzY3JldA==", None),                    # zapier:s3cret
    ("basic emFwaWVyOm9sZC1wYXNz", None),                    # zapier:old-pass (rotation)
    ("Basic emFwaWVyOndyb25n", "credentials_mismatch"),      # zapier:wrong
    ("Basic b3RoZXI6czNjcmV0", "credentials_mismatch"),      # other:s3cret
    ("Basic emFwaWVy", "credentials_mismatch"),              # zapier (no colon)
    ("Basic !!!", "credentials_malformed"),
    ("Bearer s3cret", "credentials_missing"),
    ("", "credentials_missing"),
])
def test_basic_auth(authorization: str, expected: str | None) -> None:
    assert _check(BASIC, b"{}", {"Authorization": authorization}) == expected


@pytest.mark.parametrize("config", [{"scheme": "basic", "password": "x"},
                                    {"scheme": "basic", "username": "zapier"}])
def test_basic_needs_a_username_and_a_password(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"sources\.src\.verify"):
        build_verifier("src", config)


@pytest.mark.parametrize(("headers", "url", "expected"), [
    ({"X-Bridge-Token": "tok"}, "https://b.example/hooks/src", None),
    ({}, "https://b.example/hooks/src?token=tok", None),
    ({"X-Bridge-Token": "nope"}, "https://b.example/hooks/src", "token_mismatch"),
    ({}, "https://b.example/hooks/src", "token_missing"),
])
def test_token(headers: dict[str, str], url: str, expected: str | None) -> None:
    verifier = build_verifier("src", {"scheme": "token", "secret": "tok"})
    req = request(b"{}", headers, url=url).replace(query={"token": "tok"} if "token=" in url else {})
    try:
        verifier.verify(req)
        got = None
    except VerificationFailed as exc:
        got = exc.check
    assert got == expected


# --- the registry ----------------------------------------------------------------------------------

MINIMAL = {"none": {}, "basic": {"username": "u", "password": "p"},
           "standard_webhooks": {"secret": STDWH_SECRET}}


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_every_scheme_builds_and_names_itself(scheme: str) -> None:
    verifier = build_verifier("src", {"scheme": scheme, **MINIMAL.get(scheme, {"secret": "s"})})
    assert verifier.scheme == scheme


@pytest.mark.parametrize("scheme", sorted(set(SCHEMES) - {"none", "basic"}))
def test_every_secret_scheme_needs_a_secret(scheme: str) -> None:
    with pytest.raises(ConfigError, match=r"sources\.src\.verify: scheme .* needs `secret`"):
        build_verifier("src", {"scheme": scheme, "secret": ""})


def test_an_unknown_scheme_is_a_config_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown scheme 'sha1'; expected one of basic, calendly, hmac"):
        build_verifier("src", {"scheme": "sha1"})


# --- no header value makes a verifier crash ------------------------------------------------------

FUZZ_CONFIGS = {**{s: {"scheme": s, "secret": "s"} for s in SCHEMES},
                "basic": {"scheme": "basic", "username": "u", "password": "p"},
                "standard_webhooks": {"scheme": "standard_webhooks", "secret": STDWH_SECRET},
                "hmac": {"scheme": "hmac", "secret": "s", **APPS_SCRIPT}}
SIGNATURE_HEADERS = ["Typeform-Signature", "Tally-Signature", "x-webflow-signature", "x-webflow-timestamp",
                     "X-Webhook-Signature", "Calendly-Webhook-Signature", "Stripe-Signature",
                     "X-HubSpot-Signature", "X-HubSpot-Signature-Version", "X-HubSpot-Signature-v3",
                     "X-HubSpot-Request-Timestamp", "webhook-id", "webhook-timestamp", "webhook-signature",
                     "svix-signature", "Authorization", "X-Bridge-Signature", "X-Bridge-Timestamp",
                     "X-Bridge-Token"]
HEADER_VALUES = (st.text(max_size=60)
                 | st.text(alphabet="tv01a9=,. +/_-:Basic", max_size=60)
                 | st.from_regex(r"(t=\d{0,12},)?(v[01]=[0-9a-f]{0,64},?){0,3}", fullmatch=True)
                 | st.from_regex(r"(v1a?,[A-Za-z0-9+/=]{0,44} ?){0,3}", fullmatch=True)
                 | st.from_regex(r"[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,43}",
                                 fullmatch=True))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(FUZZ_CONFIGS)),
       st.dictionaries(st.sampled_from(SIGNATURE_HEADERS), HEADER_VALUES), st.binary(max_size=64))
def test_no_header_value_makes_a_verifier_raise_anything_else(scheme: str, headers: dict[str, str],
                                                              body: bytes) -> None:
    verifier = build_verifier("src", FUZZ_CONFIGS[scheme], clock=lambda: 1_700_000_000)
    try:
        verifier.verify(request(body, headers, url="https://b.example/hooks/src?x=%3A"))
    except VerificationFailed as exc:
        assert exc.check and exc.message
