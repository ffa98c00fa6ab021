"""Adapters beyond their fixtures: payloads they cannot use get a 422 naming the field, the shared
helpers behave as documented, and no mutation of a real payload makes an adapter crash."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.adapters import ADAPTER_MODULES, available_adapters, get_adapter
from bridge.adapters.common import Answer, delivery_id, form_data, ignored, slugify
from bridge.adapters.generic_json import unflatten
from bridge.errors import PayloadInvalid
from bridge.inbound import Headers
from tests.sources.support import fixture_files, load_fixture, payload_of, real_files


def _adapt(name: str, payload: Any, options: dict[str, Any] | None = None) -> Any:
    return get_adapter(name).adapt(payload, Headers({}), options or {})


def _invalid(name: str, payload: Any) -> dict[str, Any]:
    with pytest.raises(PayloadInvalid) as caught:
        _adapt(name, payload)
    return caught.value.details["fields"]  # type: ignore[no-any-return]


# --- the registry ----------------------------------------------------------------------------------

def test_registry_lists_every_adapter_by_name() -> None:
    assert available_adapters() == ["calendly", "form", "google_forms", "hubspot", "jotform", "json",
                                    "netlify", "standard_webhooks", "stripe", "tally", "typeform", "webflow",
                                    "zapier"]
    assert get_adapter("zapier") is get_adapter("json")


def test_an_unknown_adapter_is_a_key_error_naming_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown adapter 'typeforms'; known: calendly, form"):
        get_adapter("typeforms")


# --- payloads an adapter cannot use: 422 with the field ------------------------------------------

@pytest.mark.parametrize("name", sorted(set(ADAPTER_MODULES) - {"hubspot"}))
@pytest.mark.parametrize("payload", ["a string", 42, None], ids=["string", "number", "null"])
def test_a_body_that_is_not_an_object_is_refused(name: str, payload: Any) -> None:
    assert set(_invalid(name, payload)) == {"_body"}


TYPEFORM = {"event_type": "form_response", "form_response": {"form_id": "f", "token": "t", "answers": []}}


@pytest.mark.parametrize(("name", "payload", "field"), [
    ("typeform", {"event_type": "form_response"}, "form_response"),
    ("typeform", {"form_response": TYPEFORM["form_response"]}, "event_type"),
    ("typeform", {**TYPEFORM, "form_response": {**TYPEFORM["form_response"], "answers": [{"type": "text"}]}},
     "form_response.answers.0.field"),
    ("typeform", {**TYPEFORM, "form_response": {**TYPEFORM["form_response"], "token": ["t"]}},
     "form_response.token"),
    ("tally", {"eventType": "FORM_RESPONSE", "data": {"formId": "f", "fields": {"not": "a list"}}},
     "data.fields"),
    ("tally", {"eventType": "FORM_RESPONSE", "data": {"formId": "f", "fields": [{"key": "k"}]}},
     "data.fields.0.type"),
    ("jotform", {"formID": "1", "submissionID": "2", "rawRequest": "{not json"}, "rawRequest"),
    ("jotform", {"formID": "1", "submissionID": "2", "rawRequest": "[1, 2]"}, "rawRequest"),
    ("jotform", {"formID": "1", "submissionID": "2", "rawRequest": "[" * 100_000}, "rawRequest"),
    ("jotform", {"formID": "1", "rawRequest": "{}"}, "submissionID"),
    ("webflow", {"triggerType": "form_submission", "payload": {"name": "x"}}, "payload.data"),
    ("webflow", {"name": "legacy without data"}, "data"),
    ("calendly", {"event": "invitee.created", "payload": {"email": "a@b.co"}}, "payload.uri"),
    ("stripe", {"id": "evt_1", "type": "customer.created",
                "data": {"object": {"id": "ch_1", "object": "charge"}}}, "data.object.object"),
    ("stripe", {"id": "evt_1", "type": "customer.created",
                "data": {"object": {"id": "cus_1", "object": "customer", "created": 10**20}}},
     "data.object.created"),
    ("hubspot", {"vid": 1}, "properties"),
    ("hubspot", {"vid": 1, "properties": {}, "form-submissions": [{"timestamp": -5}]},
     "form-submissions.0.timestamp"),
    ("netlify", {"form_id": "f", "data": {}}, "id"),
    ("google_forms", {"answers": "Jane"}, "answers"),
    ("json", [{"a": 1}, {"b": 2}], "_body"),
])
def test_a_payload_missing_what_the_adapter_needs_names_the_field(name: str, payload: Any,
                                                                  field: str) -> None:
    assert field in _invalid(name, payload)


def test_a_value_nested_deeper_than_python_recurses_is_adapted() -> None:
    nested: Any = "deep"
    for _ in range(5000):
        nested = [nested]
    event = _adapt("tally", {"eventType": "FORM_RESPONSE", "data": {"formId": "f", "fields": [
        {"key": "k", "label": "Deep", "type": "INPUT_TEXT", "value": nested}]}})
    assert event.data["fields"]["deep"] is nested


def test_an_unhandled_type_is_ignored_with_a_type_the_envelope_accepts() -> None:
    event = _adapt("tally", {"eventType": "FORM DELETED!", "data": {}})
    assert (event.type, event.ignored, event.data) == ("FORM_DELETED_", True, {})
    assert event.ignored_reason == "Tally event 'FORM DELETED!' is not handled (handled: FORM_RESPONSE)"
    assert ignored(None, "why").type == "unknown"


def test_an_empty_hubspot_batch_is_ignored() -> None:
    assert (_adapt("hubspot", []).type, _adapt("hubspot", []).ignored) == ("hubspot.batch", True)


# --- shared helpers --------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "slug"), [
    ("Company size?", "company_size"), ("  E-mail Address ", "e_mail_address"), ("Qualité", "qualite"),
    ("tags[]", "tags"), ("名前", "名前"), ("[readable_ref_long_text", "readable_ref_long_text"), ("???", ""),
])
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


def _person(answers: list[Answer], **kwargs: Any) -> dict[str, Any]:
    data = form_data(answers, options=kwargs.pop("options", {}), **kwargs)
    return {k: data.get(k) for k in ("email", "name", "first_name", "last_name", "phone")}


def test_a_typed_email_answer_wins_over_a_field_named_email() -> None:
    answers = [Answer("email", "named@example.com"), Answer("q1", "typed@example.com", role="email")]
    assert _person(answers)["email"] == "typed@example.com"


def test_a_field_map_wins_over_everything() -> None:
    answers = [Answer("email", "a@example.com", role="email"), Answer("work", "w@example.com")]
    person = _person(answers, options={"field_map": {"email": "Work"}}, known={"email": "k@example.com"})
    assert person["email"] == "w@example.com"


def test_a_value_that_cannot_be_an_email_or_a_phone_is_not_used() -> None:
    answers = [Answer("email_updates", "yes"), Answer("contact_email", "c@example.com"),
               Answer("phone_verified", "true"), Answer("mobile", "5"), Answer("phone", 4155550123)]
    person = _person(answers)
    assert (person["email"], person["phone"]) == ("c@example.com", "4155550123")


def test_the_label_is_used_when_the_key_says_nothing() -> None:
    answers = [Answer("q7", "Ada", label="What is your first name?"),
               Answer("q8", "Lovelace", label="Surname")]
    assert _person(answers) == {"email": None, "name": "Ada Lovelace", "first_name": "Ada",
                                "last_name": "Lovelace", "phone": None}


def test_a_full_name_is_never_split_and_a_company_name_is_not_a_name() -> None:
    answers = [Answer("company_name", "Acme"), Answer("full_name", "Mary Ann Smith")]
    assert _person(answers) == {"email": None, "name": "Mary Ann Smith", "first_name": None,
                                "last_name": None, "phone": None}


def test_blank_answers_are_left_out_and_repeated_keys_numbered() -> None:
    data = form_data([Answer("a", ""), Answer("b", None), Answer("c", []), Answer("d", {"x": " "}),
                      Answer("e", False), Answer("e", 0), Answer("e", "x")], options={})
    assert data == {"fields": {"e": False, "e_2": 0, "e_3": "x"}, "hidden": {}}


def test_delivery_id_needs_every_part() -> None:
    assert delivery_id("tally", "f1", 7) == "tally:f1:7"
    assert delivery_id("tally", "f1", None) is None
    assert delivery_id("tally", "", "s") is None


@pytest.mark.parametrize(("body", "nested"), [
    ({"metadata__source": "x", "metadata__form": "y"}, {"metadata": {"source": "x", "form": "y"}}),
    ({"a": 1, "a__b": 2}, {"a": 1, "a__b": 2}),
    ({"a__b": 1, "a__b__c": 2}, {"a": {"b": 1}, "a__b__c": 2}),
    ({"a": {"x": 1}, "a__y": 2}, {"a": {"x": 1, "y": 2}}),
    ({"__private": 1, "trailing__": 2, "a____b": 3}, {"__private": 1, "trailing__": 2, "a____b": 3}),
])
def test_unflatten(body: dict[str, Any], nested: dict[str, Any]) -> None:
    original = copy.deepcopy(body)
    assert unflatten(body) == nested
    assert body == original


# --- no crash on any mutation of a real payload -------------------------------------------------

FIXTURES = fixture_files() + real_files()  # ours and the real corpus's: mutations of both
PASS_THROUGH = ("json", "standard_webhooks")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: (st.lists(children, max_size=3)
                      | st.dictionaries(st.text(max_size=6), children, max_size=3)),
    max_leaves=6)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node[path[0]] = _replace(node[path[0]], path[1:], value)
    return node


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURES), st.data())
def test_no_mutation_of_a_real_payload_crashes_an_adapter(path: Path, data: st.DataObject) -> None:
    payload = copy.deepcopy(payload_of(load_fixture(path)))
    raw_request = isinstance(payload, dict) and isinstance(payload.get("rawRequest"), str)
    if raw_request:  # Jotform's answers are JSON inside a form field: mutate inside it too
        payload["rawRequest"] = json.loads(payload["rawRequest"])
    target = data.draw(st.sampled_from(_paths(payload)))
    payload = _replace(payload, target, data.draw(JSON_VALUES))
    if raw_request and isinstance(payload, dict) and "rawRequest" in payload:
        payload["rawRequest"] = json.dumps(payload["rawRequest"])
    try:
        event = _adapt(path.parent.name, payload)
    except PayloadInvalid as exc:
        assert exc.details["fields"]
        return
    json.dumps(event.data)
    if path.parent.name not in PASS_THROUGH:  # these keep the sender's data as sent; the envelope checks it
        assert isinstance(event.data.get("email", ""), str)


# --- issue 13 classes the real corpus does not show on its own ------------------------------------

def test_typeform_questions_inside_a_group_are_titled_and_give_the_person() -> None:
    refs = [f"c7b1f3a2-1111-4b2c-9d3e-00000000000{i}" for i in range(3)]
    inner = [{"id": f"a{i}", "ref": refs[i], "type": kind, "title": title}
             for i, (kind, title) in enumerate([("short_text", "First name"), ("short_text", "Last name"),
                                                ("email", "Email")])]
    answers = [{"type": kind, kind: value, "field": {"id": f"a{i}", "ref": refs[i]}}
               for i, (kind, value) in enumerate([("text", "Ada"), ("text", "Lovelace"), ("email", "ada@example.com")])]
    event = _adapt("typeform", {"event_type": "form_response", "form_response": {
        "form_id": "f", "token": "t", "answers": answers,
        "definition": {"fields": [{"id": "g", "type": "contact_info", "title": "You",
                                   "properties": {"fields": inner}}]}}})
    assert event.data["fields"] == {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    assert (event.data["name"], event.data["email"]) == ("Ada Lovelace", "ada@example.com")


def test_a_hubspot_batch_of_changes_to_several_contacts_lists_them_without_a_person() -> None:
    event = _adapt("hubspot", [
        {"subscriptionType": "contact.propertyChange", "objectId": 1, "propertyName": "email",
         "propertyValue": "a@example.com", "portalId": 7, "eventId": 1, "occurredAt": 1462216307945},
        {"subscriptionType": "contact.propertyChange", "objectId": 2, "propertyName": "email",
         "propertyValue": "b@example.com", "portalId": 7, "eventId": 2, "occurredAt": 1462216307946}])
    assert event.type == "contact.propertyChange" and event.delivery_id is None
    assert [c["contact_id"] for c in event.data["changes"]] == ["1", "2"]
    assert "email" not in event.data and "contact_id" not in event.data


def test_a_hubspot_batch_without_property_changes_is_ignored() -> None:
    event = _adapt("hubspot", [{"subscriptionType": "contact.creation", "objectId": 1, "portalId": 7}])
    assert (event.type, event.ignored) == ("contact.creation", True)


@pytest.mark.parametrize(("body", "person"), [
    ({"respondentEmail": "Anonymous", "answers": {"Email": "x@example.com"}}, {"email": "x@example.com"}),
    ({"respondent_email": "r@example.com", "answers": [{"title": "Name", "value": "Ada"}]},
     {"email": "r@example.com", "name": "Ada"}),
    ({"namedValues": {"Nombre": ["Ana"], "Apellido": ["Ruiz"]}}, {"first_name": "Ana", "last_name": "Ruiz",
                                                                  "name": "Ana Ruiz"}),
])
def test_google_forms_script_shapes_give_the_person(body: dict[str, Any], person: dict[str, str]) -> None:
    data = _adapt("google_forms", body).data
    assert {k: data[k] for k in ("email", "name", "first_name", "last_name") if k in data} == person


def test_the_json_adapter_keeps_the_senders_keys_and_adds_only_missing_person_keys() -> None:
    body = {"Prénom": "Jean", "Nom": "Dupont", "Courriel": "jean@example.fr", "name": "Acme form"}
    data = _adapt("json", body).data
    assert {k: data[k] for k in body} == body
    assert (data["first_name"], data["last_name"], data["email"], data["name"]) == (
        "Jean", "Dupont", "jean@example.fr", "Acme form")


def test_a_form_builders_bracketed_field_groups_are_one_answer_each() -> None:
    """Elementor's advanced data: fields[<id>][title|type|value|raw_value|required]."""
    group = {"id": "email", "type": "email", "title": "Adresse e-mail", "value": "lea@example.fr",
             "raw_value": "lea@example.fr", "required": "1"}
    body = {"form[name]": "Contact", **{f"fields[email][{k}]": v for k, v in group.items()},
            **{f"fields[name][{k}]": v for k, v in {"id": "name", "type": "text", "title": "Nom complet",
                                                     "value": "Léa Petit"}.items()},
            "fields[x][title]": "no value: kept flat"}
    data = _adapt("form", body).data
    assert data["fields"] == {"form_name": "Contact", "adresse_e_mail": "lea@example.fr",
                              "nom_complet": "Léa Petit", "fields_x_title": "no value: kept flat"}
    assert (data["email"], data["name"]) == ("lea@example.fr", "Léa Petit")
