"""One signed delivery per provider, end to end: `POST /hooks/<source>` → Redis → a real Celery worker
running the shipped example rules (rules/examples/) → the sandbox over HTTP, ending as the exact
customer those rules describe.

One bridge and one worker serve the module; every source is configured as docs/sources.md says
(scheme, header, token place). Each request is signed here with the provider's documented algorithm
over the exact bytes sent, from the payload fixtures in tests/fixtures/<adapter>/; each test gives its
person an email of its own, so the tests share the sandbox without touching each other's customers.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from rules import EXAMPLES_DIR
from tests.sources.support import FIXTURES, load_fixture, raw_body
from tests.support.stack import BridgeStack
from workers.executor import note_marker

pytestmark = pytest.mark.integration

TYPEFORM_SECRET = "tf-e2e-3c1f0b8a9d2e4f67a1b2c3d4e5f60718"
TALLY_SECRET = "tally-e2e-5a6b7c8d9e0f1a2b3c4d"
WEBFLOW_SECRET = "webflow-e2e-8f7e6d5c4b3a29180f1e2d3c4b5a6978"
NETLIFY_SECRET = "netlify-e2e-jws-0a1b2c3d4e5f"
CALENDLY_KEY = "calendly-e2e-signing-key-77aa"
STRIPE_SECRET = "whsec_e2eStripeSecret0123456789abcdef"
HUBSPOT_SECRET = "hubspot-e2e-client-secret-4d3c2b1a"
HUBSPOT_URL = "https://bridge.example.com/hooks/hubspot"
SVIX_SECRET = "whsec_" + base64.b64encode(b"svix-e2e-signing-key-32-bytes!!!").decode()
GOOGLE_FORMS_SECRET = "gforms-e2e-secret-9e8d7c6b5a"
ZAPIER_TOKEN = "zapier-e2e-token-1f2e3d4c"
JOTFORM_TOKEN = "jotform-e2e-token-6a5b4c3d"
CONTACT_FORM_TOKEN = "contact-form-e2e-token-0f9e8d"

SOURCES: dict[str, Any] = {
    "typeform": {"adapter": "typeform", "verify": {"scheme": "typeform", "secret": TYPEFORM_SECRET}},
    "tally": {"adapter": "tally", "verify": {"scheme": "tally", "secret": TALLY_SECRET}},
    "webflow": {"adapter": "webflow", "verify": {"scheme": "webflow", "secret": WEBFLOW_SECRET}},
    "netlify": {"adapter": "netlify", "verify": {"scheme": "netlify", "secret": NETLIFY_SECRET}},
    "calendly": {"adapter": "calendly", "verify": {"scheme": "calendly", "secret": CALENDLY_KEY}},
    "stripe": {"adapter": "stripe", "verify": {"scheme": "stripe", "secret": STRIPE_SECRET}},
    "hubspot": {"adapter": "hubspot",
                "verify": {"scheme": "hubspot", "secret": HUBSPOT_SECRET, "public_url": HUBSPOT_URL}},
    "svix-sender": {"adapter": "standard_webhooks",
                    "verify": {"scheme": "standard_webhooks", "secret": SVIX_SECRET}},
    "zapier": {"adapter": "json", "verify": {"scheme": "token", "secret": ZAPIER_TOKEN}},
    "jotform": {"adapter": "jotform", "verify": {"scheme": "token", "secret": JOTFORM_TOKEN}},
    # The Apps Script snippet's config, as docs/sources.md gives it.
    "google-forms": {"adapter": "google_forms",
                     "verify": {"scheme": "hmac", "secret": GOOGLE_FORMS_SECRET,
                                "header": "X-Bridge-Signature", "prefix": "v1=", "encoding": "base64",
                                "signed": "{timestamp}.{body}", "timestamp_header": "X-Bridge-Timestamp"}},
    "contact-form": {"adapter": "form", "verify": {"scheme": "token", "secret": CONTACT_FORM_TOKEN}},
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str, sandbox: Any) -> Iterator[BridgeStack]:
    """One bridge and one worker for the module (make_stack's stacks live for one test), on the
    package's example rules in name order, with the real clock."""
    sandbox.reset()
    s = BridgeStack(tmp_path_factory.mktemp("sources-e2e"), redis_url, sandbox, sources=SOURCES,
                    rules=sorted(EXAMPLES_DIR.glob("*.yaml")))
    try:
        s.start_worker()
        yield s
    finally:
        s.close()


# --- signing, per provider's documentation -------------------------------------------------------
def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _mac(key: str | bytes, message: bytes) -> bytes:
    return hmac.new(key.encode() if isinstance(key, str) else key, message, hashlib.sha256).digest()


def _seconds() -> str:
    return str(int(time.time()))


def typeform_signed(body: bytes) -> dict[str, str]:
    return {"Typeform-Signature": "sha256=" + _b64(_mac(TYPEFORM_SECRET, body))}


def tally_signed(body: bytes) -> dict[str, str]:
    return {"Tally-Signature": _b64(_mac(TALLY_SECRET, body)), "User-Agent": "Tally Webhooks"}


def webflow_signed(body: bytes) -> dict[str, str]:
    ts = str(int(time.time() * 1000))
    return {"x-webflow-timestamp": ts,
            "x-webflow-signature": _mac(WEBFLOW_SECRET, ts.encode() + b":" + body).hex()}


def netlify_signed(body: bytes) -> dict[str, str]:
    claims = {"iss": "netlify", "sha256": hashlib.sha256(body).hexdigest()}
    signing_input = _b64url(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64url(json.dumps(claims).encode())
    signature = _b64url(_mac(NETLIFY_SECRET, signing_input.encode()))
    return {"X-Webhook-Signature": signing_input + "." + signature}


def calendly_signed(body: bytes) -> dict[str, str]:
    t = _seconds()
    return {"Calendly-Webhook-Signature": f"t={t},v1=" + _mac(CALENDLY_KEY, t.encode() + b"." + body).hex()}


def stripe_signed(body: bytes) -> dict[str, str]:
    t = _seconds()
    return {"Stripe-Signature": f"t={t},v1=" + _mac(STRIPE_SECRET, t.encode() + b"." + body).hex(),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}


def hubspot_v3_signed(body: bytes) -> dict[str, str]:
    ts = str(int(time.time() * 1000))
    signed = b"POST" + HUBSPOT_URL.encode() + body + ts.encode()
    return {"X-HubSpot-Request-Timestamp": ts, "X-HubSpot-Signature-v3": _b64(_mac(HUBSPOT_SECRET, signed))}


def svix_signed(body: bytes, msg_id: str) -> dict[str, str]:
    t = _seconds()
    key = base64.b64decode(SVIX_SECRET.removeprefix("whsec_"))
    return {"svix-id": msg_id, "svix-timestamp": t,
            "svix-signature": "v1," + _b64(_mac(key, f"{msg_id}.{t}.".encode() + body))}


def apps_script_signed(body: bytes) -> dict[str, str]:
    """What the docs' Apps Script snippet sends: base64 HMAC-SHA256 over `timestamp.body`."""
    ts = _seconds()
    mac = _mac(GOOGLE_FORMS_SECRET, ts.encode() + b"." + body)
    return {"X-Bridge-Timestamp": ts, "X-Bridge-Signature": "v1=" + _b64(mac)}


# --- helpers ---------------------------------------------------------------------------------------
def fixture(adapter: str, name: str) -> dict[str, Any]:
    return load_fixture(FIXTURES / adapter / f"{name}.json")


def json_body(fx: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(fx["body"])


def deliver(stack: BridgeStack, source: str, body: bytes, headers: dict[str, str], *, content_type: str,
            status: int = 202, token: str | None = None, query: str = "") -> dict[str, Any]:
    """POST the exact bytes, expect `status`, wait until the worker is done; the stored event."""
    resp = stack.post(source + query, raw=body, headers=headers, token=token, content_type=content_type)
    assert resp.status_code == status, resp.get_json()
    data = resp.get_json()["data"]
    assert (data["status"], data["duplicate"]) == ("queued", False)
    return stack.wait_for([data["eventId"]])[data["eventId"]]


def noted(event: dict[str, Any], email: str, note: str) -> str:
    """A note as the worker writes it: with the event's marker for this customer."""
    return f"{note} [cstar-bridge:{note_marker(event['id'], email.lower())}]"


def customer(stack: BridgeStack, email: str) -> dict[str, Any]:
    c = stack.customer(email)
    return {k: c.get(k) for k in ("name", "email", "status", "sentiment", "notes", "metadata")} | {
        "tags": sorted(c["tags"])}


def person(name: str, email: str, *, tags: list[str], metadata: dict[str, Any], notes: str = "",
           status: str = "active", sentiment: str = "neutral") -> dict[str, Any]:
    return {"name": name, "email": email, "status": status, "sentiment": sentiment, "notes": notes,
            "metadata": metadata, "tags": sorted(tags)}


# --- one test per provider ------------------------------------------------------------------------
def test_typeform_demo_request_from_a_big_company_is_an_enterprise_lead(stack: BridgeStack) -> None:
    body = json_body(fixture("typeform", "form_response__all_answer_types"))
    form = body["form_response"]
    form["definition"]["title"] = "Book a demo"
    for answer in form["answers"]:
        if answer["type"] == "email":
            answer["email"] = "laura.typeform@example.com"
        if answer["field"]["ref"] == "seats":
            answer["number"] = 1200
    raw = json.dumps(body).encode()

    event = deliver(stack, "typeform", raw, typeform_signed(raw), content_type="application/json")

    assert event["matched"] == ["enterprise-lead"]
    email = "laura.typeform@example.com"
    assert customer(stack, email) == person(
        "Laura Smith", email, tags=["lead", "enterprise"],
        metadata={"company_domain": "example.com", "company_size": "500+ (enterprise)", "seats": 1200},
        notes=noted(event, email, "Demo request via typeform from an unnamed company: (no message)"))


def test_tally_newsletter_sign_up_with_consent(stack: BridgeStack) -> None:
    body = json_body(fixture("tally", "form_response__checkboxes"))
    fields = body["data"]["fields"]
    fields[0]["value"] = "Sam.Lee.Tally@Example.com "          # Tally sends what was typed
    fields.append({"key": "question_Ns1Lt2", "label": "Newsletter", "type": "CHECKBOX", "value": True})
    raw = json.dumps(body).encode()

    event = deliver(stack, "tally", raw, tally_signed(raw), content_type="application/json")

    assert event["matched"] == ["newsletter-signup"]
    assert customer(stack, "sam.lee.tally@example.com") == person(
        "Sam Lee", "Sam.Lee.Tally@Example.com", tags=["newsletter", "source-tally"],
        metadata={"newsletter_source": "tally", "newsletter_signed_up_at": event["received_at"]})


def test_webflow_demo_request_is_a_lead_and_answered_200(stack: BridgeStack) -> None:
    body = json_body(fixture("webflow", "form_submission__schema_types"))
    body["payload"]["data"]["Work address"] = "ada.webflow@example.org"
    raw = json.dumps(body).encode()

    event = deliver(stack, "webflow", raw, webflow_signed(raw), content_type="application/json", status=200)

    assert event["matched"] == ["demo-lead"]
    email = "ada.webflow@example.org"
    assert customer(stack, email) == person("Ada Lovelace", email, tags=["lead"], metadata={},
                                            notes=noted(event, email, "Demo request via webflow"))


def test_netlify_nps_form_detractor_turns_sentiment_negative(stack: BridgeStack) -> None:
    body = json_body(fixture("netlify", "form_submitted__capture"))
    email = "kevin.netlify@example.com"
    answers = {"name": "Kevin", "email": email, "score": "3", "comment": "Pages load slowly"}
    body.update(email=email, form_name="nps", body="Pages load slowly", summary="<strong>Kevin</strong> 3")
    body["data"] = {**answers, **{k: body["data"][k] for k in ("ip", "user_agent", "referrer")}}
    body["human_fields"] = {k.title(): v for k, v in answers.items()}
    body["ordered_human_fields"] = [{"title": k.title(), "name": k, "value": v} for k, v in answers.items()]
    raw = json.dumps(body).encode()

    event = deliver(stack, "netlify", raw, netlify_signed(raw), content_type="application/json")

    assert event["matched"] == ["nps-detractor"]
    got = customer(stack, email)
    # `now` is the worker's clock while it evaluated the event
    assert got["metadata"]["last_nps_at"] in {event["started_at"][:10], event["finished_at"][:10]}
    assert got == person("Kevin", email, tags=["nps-detractor"], sentiment="negative",
                         metadata={"last_nps_score": 3, "last_nps_at": got["metadata"]["last_nps_at"]},
                         notes=noted(event, email, "NPS 3: Pages load slowly"))


def test_calendly_booking_then_cancellation(stack: BridgeStack) -> None:
    email = "jane.calendly@example.com"
    booked_body = json_body(fixture("calendly", "invitee_created__filled"))
    canceled_body = json_body(fixture("calendly", "invitee_canceled__by_invitee"))
    for b in (booked_body, canceled_body):
        b["payload"]["email"] = email
    booked_raw, canceled_raw = json.dumps(booked_body).encode(), json.dumps(canceled_body).encode()
    meeting = {"last_meeting": "30 Minute Demo", "last_meeting_start": "2024-05-03T14:00:00.000000Z",
               "timezone": "Europe/London", "phone": "+44 7700 900123", "company": "Acme Ltd",
               "utm_source": "newsletter"}

    booked = deliver(stack, "calendly", booked_raw, calendly_signed(booked_raw),
                     content_type="application/json")
    assert booked["matched"] == ["calendly-meeting-booked"]
    booked_note = noted(booked, email, 'Booked "30 Minute Demo" for 2024-05-03 14:00 UTC (Europe/London)')
    assert customer(stack, email) == person("Jane Doe", email, tags=["meeting-booked"],
                                            metadata={**meeting, "last_meeting_status": "booked"},
                                            notes=booked_note)

    canceled = deliver(stack, "calendly", canceled_raw, calendly_signed(canceled_raw),
                       content_type="application/json")
    assert canceled["matched"] == ["calendly-meeting-canceled"]
    canceled_note = noted(canceled, email,
                          'Canceled "30 Minute Demo" (2024-05-03 14:00 UTC) by Jane Doe: Meeting Conflict')
    assert customer(stack, email) == person("Jane Doe", email, tags=["meeting-canceled"],
                                            metadata={**meeting, "last_meeting_status": "canceled"},
                                            notes=booked_note + "\n\n" + canceled_note)


def test_stripe_customer_created_then_updated(stack: BridgeStack) -> None:
    email = "jennyrosen@example.com"
    created_raw = raw_body(fixture("stripe", "customer_created__api_reference"))
    updated_raw = raw_body(fixture("stripe", "customer_updated__metadata_phone_address"))
    json_type = "application/json; charset=utf-8"
    linked = {"stripe_customer_id": "cus_NffrFeUfNV2Hib", "stripe_livemode": False}

    created = deliver(stack, "stripe", created_raw, stripe_signed(created_raw), content_type=json_type)
    assert created["matched"] == ["stripe-customer"]
    note = noted(created, email, "Stripe customer cus_NffrFeUfNV2Hib created (test mode)")
    assert customer(stack, email) == person("Jenny Rosen", email, tags=["stripe-customer"], metadata=linked,
                                            notes=note)

    updated = deliver(stack, "stripe", updated_raw, stripe_signed(updated_raw), content_type=json_type)
    assert updated["matched"] == ["stripe-customer"]
    assert customer(stack, email) == person(
        "Jenny Rosen-Smith", email, tags=["stripe-customer"],
        metadata={**linked, "plan": "pro", "seats": 25, "phone": "+14155550123"}, notes=note)


def test_hubspot_workflow_contact_signed_v3(stack: BridgeStack) -> None:
    email = "jane.hubspot@example.com"
    raw = raw_body(fixture("hubspot", "form_submitted__workflow_contact")).replace(b"jane@example.com",
                                                                                   email.encode())
    headers = {**hubspot_v3_signed(raw), "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)"}

    event = deliver(stack, "hubspot", raw, headers, content_type="application/json")

    assert event["matched"] == ["hubspot-contact"]
    assert customer(stack, email) == person(
        "Jane Doe", email, tags=["hubspot"],
        metadata={"hubspot_contact_id": "3234574", "hubspot_portal_id": "62515",
                  "hubspot_lifecycle_stage": "lead", "company": "Acme"},
        notes=noted(event, email, 'HubSpot form "Contact form" submitted 2024-05-01T10:03:12Z'))


def test_standard_webhooks_customer_upsert_with_svix_headers(stack: BridgeStack) -> None:
    email = "jane.svix@example.com"
    fx = fixture("standard_webhooks", "customer_upserted__svix_headers")
    body = json_body(fx)
    body["data"]["email"] = email
    raw = json.dumps(body).encode()

    event = deliver(stack, "svix-sender", raw, svix_signed(raw, "msg_e2eSvixCustomer0001"),
                    content_type="application/json")

    assert event["matched"] == ["contact-form"]
    assert event["idempotency_key"] == "msg_e2eSvixCustomer0001"
    assert customer(stack, email) == person(
        "Jane Doe", email, tags=["contact-form", "source-svix-sender"],
        metadata={"last_contact_via": "svix-sender", "last_contact_at": event["received_at"],
                  "signup_source": "typeform"},
        notes=noted(event, email, "Note from svix-sender: Signed up via form"))


def test_zapier_lead_with_a_token_header(stack: BridgeStack) -> None:
    email = "jane.zapier@example.com"
    body = json_body(fixture("json", "form_submitted__zapier_json"))
    body.update(email=email, first_name="Jane", last_name="Doe", lead_source="Facebook Ads", score="85",
                company=" Acme ")
    raw = json.dumps(body).encode()

    event = deliver(stack, "zapier", raw, {"User-Agent": "Zapier"}, token=ZAPIER_TOKEN,
                    content_type="application/json")

    assert event["matched"] == ["zapier-lead-import"]
    assert event["idempotency_key"] == "a3a12ec67a1365927098a606107fac15"
    assert customer(stack, email) == person(
        "Jane Doe", email, tags=["lead", "zapier-facebook-ads", "hot-lead"],
        metadata={"lead_source": "Facebook Ads", "lead_score": 85, "company": "Acme"})


def test_jotform_contact_form_with_the_token_in_the_url(stack: BridgeStack) -> None:
    fx = fixture("jotform", "form_submitted__name_phone_widgets")
    email = "jane.smith@example.com"

    event = deliver(stack, "jotform", raw_body(fx), {}, content_type=fx["content_type"],
                    query="?token=" + quote(JOTFORM_TOKEN))

    assert event["matched"] == ["contact-form"]
    assert event["idempotency_key"] == "jotform:243231271343446:6084250982513018472"
    assert customer(stack, email) == person(
        "Jane Smith", email, tags=["contact-form", "source-jotform"],
        metadata={"last_contact_via": "jotform", "last_contact_at": event["received_at"],
                  "last_contact_form": "Contact Us", "phone": "(770) 555-0101", "company": "Acme Inc"},
        notes=noted(event, email, "Message via jotform: Please call me"))


def test_google_forms_apps_script_snippet_signed_with_hmac(stack: BridgeStack) -> None:
    email = "jane.gforms@example.com"
    fx = fixture("google_forms", "form_submitted__bridge_snippet")
    body = json_body(fx)
    body["respondent_email"] = email
    raw = json.dumps(body).encode()
    headers = {**apps_script_signed(raw), "User-Agent": fx["headers"]["User-Agent"]}

    event = deliver(stack, "google-forms", raw, headers, content_type="application/json; charset=utf-8")

    assert event["matched"] == ["contact-form"]
    assert customer(stack, email) == person(
        "Jane Doe", email, tags=["contact-form", "source-google-forms"],
        metadata={"last_contact_via": "google-forms", "last_contact_at": event["received_at"],
                  "last_contact_form": "Demo request", "phone": "+1 415 555 0123"})


def test_html_form_urlencoded_with_a_token(stack: BridgeStack) -> None:
    email = "sam.form@example.com"
    fx = fixture("form", "form_submitted__urlencoded")
    raw = raw_body(fx).replace(b"sam%40example.com", b"sam.form%40example.com")

    event = deliver(stack, "contact-form", raw, {}, token=CONTACT_FORM_TOKEN, content_type=fx["content_type"])

    assert event["matched"] == ["contact-form"]
    assert event["idempotency_key"] == "site-4411"
    assert customer(stack, email) == person(
        "Sam Lee", email, tags=["contact-form", "source-contact-form"],
        metadata={"last_contact_via": "contact-form", "last_contact_at": event["received_at"]},
        notes=noted(event, email, "Message via contact-form: Hello!"))


def test_a_delivery_signed_with_another_secret_is_refused_and_changes_nobody(stack: BridgeStack) -> None:
    """The control for the tests above: their sources really verify (a forged Netlify JWS is a 401)."""
    raw = raw_body(fixture("netlify", "form_submitted__capture"))
    claims = {"iss": "netlify", "sha256": hashlib.sha256(raw).hexdigest()}
    signing_input = _b64url(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64url(json.dumps(claims).encode())
    forged = signing_input + "." + _b64url(_mac("not-the-secret", signing_input.encode()))
    resp = stack.post("netlify", raw=raw, headers={"X-Webhook-Signature": forged}, token=None)
    assert resp.status_code == 401
    assert resp.get_json()["error"]["check"] == "signature_mismatch"
    assert [c for c in stack.customers() if c["email"] == "kevin@kevinang.com"] == []
