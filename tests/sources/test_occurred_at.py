"""Adapters expose the provider's event time (and the entity the event is about) for per-customer order."""

from __future__ import annotations

import pytest

from bridge.adapters import get_adapter
from bridge.inbound import Headers
from rules.ordering import iso_ms, time_ms
from tests.sources.support import FIXTURES, load_fixture, payload_of

# fixture -> (the provider field it comes from, the time it holds in UTC, tie-break, entity)
EXPECTED = {
    "stripe/customer_created__api_reference": ("created (s)", "2023-04-07T18:59:53.000Z", "0", "cus_NffrFeUfNV2Hib"),
    "stripe/customer_updated__metadata_phone_address": ("created (s)", "2023-04-07T19:08:20.000Z", "1",
                                                        "cus_NffrFeUfNV2Hib"),
    "hubspot/contact_propertychange__docs_batch": ("occurredAt (ms)", "2016-05-02T19:11:47.945Z", "", "1246965"),
    "hubspot/form_submitted__workflow_contact": ("form-submissions[].timestamp (ms)", "2024-05-01T10:03:12.000Z",
                                                 "", "3234574"),
    "calendly/invitee_created__official": ("created_at", "2020-11-23T17:51:19.000Z", "",
                                           "https://api.calendly.com/scheduled_events/AAAAAAAAAAAAAAAA/invitees/"
                                           "AAAAAAAAAAAAAAAA"),
    "typeform/form_response__official": ("form_response.submitted_at", "2018-01-18T18:17:02.000Z", "",
                                         "a3a12ec67a1365927098a606107fac15"),
    "tally/form_response__official": ("data.createdAt", "2023-06-28T15:00:21.000Z", "", "2wgx4n"),
    "webflow/form_submission__official": ("payload.submittedAt", "2022-09-14T12:35:16.117Z", "",
                                          "6321ca84df3949bfc6752327"),
    "google_forms/form_submitted__bridge_snippet": ("submitted_at", "2024-05-01T10:03:12.345Z", "",
                                                    "2_ABaOnud0S_zjpIn9oGqBpmY65p_NsuiBSqvdwPlapEig0GM4EPdeStVqalz"
                                                    "lAb3AEovoWgA"),
    "netlify/form_submitted__capture": ("created_at", "2021-09-24T01:36:17.633Z", "", "614d2b91e3695a1fb8eb52c5"),
}
# No provider time: arrival order stands (never the receive time).
WITHOUT = ["json/form_submitted__zapier_json", "form/form_submitted__urlencoded",
           "google_forms/form_submitted__named_values", "hubspot/form_submitted__custom_body"]


def _adapt(name: str):  # type: ignore[no-untyped-def]
    path = FIXTURES / f"{name}.json"
    fixture = load_fixture(path)
    return get_adapter(path.parent.name).adapt(payload_of(fixture), Headers(fixture["headers"]),
                                               fixture.get("options", {}))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_adapter_exposes_the_providers_event_time(name: str) -> None:
    _, iso, tie, entity = EXPECTED[name]
    event = _adapt(name)
    ms = time_ms(event.occurred_at)
    assert ms is not None and iso_ms(ms) == iso
    assert event.order_tie == tie
    assert event.entity == entity


@pytest.mark.parametrize("name", WITHOUT)
def test_without_a_provider_time_there_is_none(name: str) -> None:
    assert _adapt(name).occurred_at is None


@pytest.mark.parametrize("value, iso", [
    (1680893993, "2023-04-07T18:59:53.000Z"),            # Stripe: seconds
    (1462216307945, "2016-05-02T19:11:47.945Z"),         # HubSpot: milliseconds
    ("1680893993", "2023-04-07T18:59:53.000Z"),
    ("2024-05-01T10:03:13.000000Z", "2024-05-01T10:03:13.000Z"),   # Calendly: microseconds
    ("2024-05-01T12:03:12+02:00", "2024-05-01T10:03:12.000Z"),
    ("2024-05-01T10:03:12", "2024-05-01T10:03:12.000Z"),           # no zone: UTC
])
def test_times_are_read_in_each_providers_form(value: object, iso: str) -> None:
    ms = time_ms(value)
    assert ms is not None and iso_ms(ms) == iso


@pytest.mark.parametrize("value", [None, True, "", "yesterday", "5/1/2024 10:03:12", -1, float("nan"), [1], {},
                                   "9" * 30, 10 ** 20])
def test_what_is_not_a_time_is_none(value: object) -> None:
    assert time_ms(value) is None
