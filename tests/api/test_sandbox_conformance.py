"""The sandbox answers as spec/cstar-customers-api.md documents, checked over real HTTP with plain httpx.

Each test names the documented behaviour it checks. Where the spec is silent, the sandbox's choice is
documented in docs/sandbox.md and pinned here so the bridge can rely on it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import CUSTOMERS, OTHER_SK, PK, SK
from tests.support.sandbox import SandboxProcess

AUTH_DOC = "https://www.cstar.help/developers/api-reference#authentication"
RATE_DOC = "https://www.cstar.help/developers/api-reference#rate-limiting"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CUSTOMER_ID = re.compile(r"^cus_[0-9a-f]{32}$")
FULL_FIELDS = {"id", "name", "email", "status", "sentiment", "tags", "notes", "metadata", "ticketCount",
               "createdAt", "updatedAt"}
LIST_ITEM_FIELDS = {"id", "name", "email", "status", "sentiment", "ticketCount", "createdAt"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ok(response: httpx.Response, status: int = 200) -> Any:
    """Assert the documented success envelope; return `data`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    assert re.match(r"^req_[0-9a-f]+$", body["meta"]["requestId"])
    assert TIMESTAMP.match(body["meta"]["timestamp"])
    return body["data"]


def fails(response: httpx.Response, status: int, type: str, code: str, message: str | None = None,
          doc_url: str | None = None) -> dict[str, Any]:
    """Assert the documented error envelope (doc_url only where the spec shows one); return `error`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert set(body) == {"success", "error", "meta"}
    assert set(body["meta"]) == {"timestamp"} and TIMESTAMP.match(body["meta"]["timestamp"])
    error = body["error"]
    assert (error["type"], error["code"]) == (type, code)
    if message is not None:
        assert error["message"] == message
    assert error.get("doc_url") == doc_url
    assert re.match(r"^req_[0-9a-f]+$", error["request_id"])
    return dict(error)


def create(http: httpx.Client, name: str = "Jane Smith", email: str = "jane@example.com",
           **fields: Any) -> dict[str, Any]:
    return dict(ok(http.post(CUSTOMERS, json={"name": name, "email": email, **fields}), 201))


def url(customer_id: str, team: str = "team_dev") -> str:
    return f"/api/v1/teams/{team}/customers/{customer_id}"


# --- create ---------------------------------------------------------------------------------------

def test_create_answers_201_with_the_full_new_customer(http: httpx.Client) -> None:
    data = create(http, "Jane Smith", "jane@example.com")
    assert set(data) == FULL_FIELDS
    assert CUSTOMER_ID.match(data["id"])
    assert (data["name"], data["email"]) == ("Jane Smith", "jane@example.com")
    assert (data["status"], data["sentiment"], data["ticketCount"]) == ("active", "neutral", 0)
    assert (data["tags"], data["notes"], data["metadata"]) == ([], "", {})
    assert TIMESTAMP.match(data["createdAt"]) and data["updatedAt"] == data["createdAt"]


def test_create_takes_tags_notes_and_metadata(http: httpx.Client) -> None:
    data = create(http, tags=["vip", " enterprise "], notes="Key account", metadata={"plan": "pro", "seats": 5})
    assert data["tags"] == ["vip", "enterprise"]
    assert data["notes"] == "Key account"
    assert data["metadata"] == {"plan": "pro", "seats": 5}


def test_create_accepts_tags_as_a_comma_separated_string(http: httpx.Client) -> None:
    assert create(http, tags="vip, enterprise,, ,priority ")["tags"] == ["vip", "enterprise", "priority"]


def test_create_ignores_fields_the_spec_does_not_list(http: httpx.Client) -> None:
    data = create(http, status="inactive", sentiment="negative", ticketCount=9, id="cus_mine")
    assert (data["status"], data["sentiment"], data["ticketCount"]) == ("active", "neutral", 0)
    assert data["id"] != "cus_mine"


@pytest.mark.parametrize("body", [
    {"email": "jane@example.com"},
    {"name": "Jane"},
    {},
    {"name": "  ", "email": "jane@example.com"},
    {"name": "Jane", "email": None},
])
def test_create_without_name_or_email_is_400_parameter_missing(http: httpx.Client, body: dict[str, Any]) -> None:
    fails(http.post(CUSTOMERS, json=body), 400, "validation_error", "PARAMETER_MISSING",
          "name and email are required")


@pytest.mark.parametrize("field, value", [
    ("name", 42), ("email", ["a@b.c"]), ("email", "not-an-email"), ("tags", [1, 2]), ("tags", {"a": 1}),
    ("notes", 5), ("metadata", ["a"]), ("metadata", "plan=pro"),
])
def test_create_with_a_wrong_type_is_400_naming_the_field(http: httpx.Client, field: str, value: Any) -> None:
    body = {"name": "Jane", "email": "jane@example.com", field: value}
    error = fails(http.post(CUSTOMERS, json=body), 400, "validation_error", "PARAMETER_INVALID")
    assert field in error["message"]
    assert ok(http.get(CUSTOMERS)) == []


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("raw", [b"{not json", b'{"name": "x",}', b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_400(http: httpx.Client, method: str, raw: bytes) -> None:
    path = CUSTOMERS if method == "POST" else url(create(http)["id"])
    error = fails(http.request(method, path, content=raw, headers={"Content-Type": "application/json"}),
                  400, "validation_error", "INVALID_BODY")
    assert "JSON" in error["message"]


def test_duplicate_email_is_409_compared_case_insensitively(http: httpx.Client) -> None:
    create(http, email="jane@example.com")
    fails(http.post(CUSTOMERS, json={"name": "Other", "email": "  JANE@Example.COM "}), 409, "conflict_error",
          "CONFLICT", "A customer with this email already exists")
    assert len(ok(http.get(CUSTOMERS))) == 1


def test_the_same_email_may_exist_in_another_team(http: httpx.Client) -> None:
    create(http, email="jane@example.com")
    other = http.post("/api/v1/teams/team_other/customers", json={"name": "J", "email": "jane@example.com"},
                      headers=bearer(OTHER_SK))
    assert ok(other, 201)["email"] == "jane@example.com"


def test_concurrent_creates_of_one_email_make_exactly_one_customer(sb: SandboxProcess,
                                                                    http: httpx.Client) -> None:
    statuses: list[int] = []

    def post() -> None:
        r = http.post(CUSTOMERS, json={"name": "Race", "email": "race@x.io"})
        statuses.append(r.status_code)

    threads = [threading.Thread(target=post) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [409] * 11
    assert len(sb.customers()) == 1


# --- get ------------------------------------------------------------------------------------------

def test_get_returns_the_full_customer_including_metadata(http: httpx.Client) -> None:
    created = create(http, tags="vip", notes="n", metadata={"k": "v"})
    data = ok(http.get(url(created["id"])))
    assert data == created


def _documented_get_example() -> dict[str, Any]:
    """The spec's example answer to GET /customers/{customerId} (it has no `metadata`), read from the spec."""
    spec = (Path(__file__).resolve().parents[2] / "spec" / "cstar-customers-api.md").read_text(encoding="utf-8")
    section = spec.split("GET /api/v1/teams/{teamId}/customers/{customerId}", 1)[1]
    example = section.split("200 The customer object\n", 1)[1].split("\n404 ", 1)[0]
    return dict(json.loads(example)["data"])


DOCUMENTED_GET_EXAMPLE = _documented_get_example()


def test_documented_get_shape_answers_exactly_like_the_spec_example(sb: SandboxProcess,
                                                                    http: httpx.Client) -> None:
    """`get_shape: documented` (`--get-shape documented`): GET shows no metadata; the state keeps it."""
    assert sb.reset(get_shape="documented")["get_shape"] == "documented"
    created = create(http, tags="vip,enterprise", notes="n", metadata={"plan": "pro", "trial_ends": "x"})
    data = ok(http.get(url(created["id"])))
    assert list(data) == list(DOCUMENTED_GET_EXAMPLE)
    assert {k: v for k, v in created.items() if k != "metadata"} == data
    ok(http.patch(url(created["id"]), json={"metadata": {"trial_ends": None}}))
    assert "metadata" not in ok(http.get(url(created["id"])))
    assert sb.customers()[0]["metadata"] == {"plan": "pro"}
    sb.reset()  # back to the start-up shape
    assert ok(http.get(url(create(http)["id"])))["metadata"] == {}


def test_reset_refuses_an_unknown_get_shape(sb: SandboxProcess) -> None:
    with pytest.raises(RuntimeError, match="get_shape must be one of full, documented"):
        sb.reset(get_shape="minimal")


def test_get_unknown_customer_is_404_resource_missing(http: httpx.Client) -> None:
    fails(http.get(url("cus_" + "0" * 32)), 404, "not_found_error", "RESOURCE_MISSING", "Customer not found")


def test_a_customer_of_another_team_is_not_found_through_ones_own_team(http: httpx.Client) -> None:
    other = http.post("/api/v1/teams/team_other/customers", json={"name": "O", "email": "o@x.io"},
                      headers=bearer(OTHER_SK))
    fails(http.get(url(ok(other, 201)["id"])), 404, "not_found_error", "RESOURCE_MISSING")


# --- update ---------------------------------------------------------------------------------------

def test_patch_changes_the_given_fields_and_answers_the_full_customer(http: httpx.Client) -> None:
    created = create(http, tags="a", notes="old", metadata={"k": 1})
    data = ok(http.patch(url(created["id"]), json={"name": "Jane Doe", "status": "inactive",
                                                   "sentiment": "positive", "notes": "new"}))
    assert set(data) == FULL_FIELDS
    assert (data["name"], data["status"], data["sentiment"], data["notes"]) == \
        ("Jane Doe", "inactive", "positive", "new")
    assert (data["email"], data["tags"], data["metadata"]) == ("jane@example.com", ["a"], {"k": 1})
    assert data["updatedAt"] >= created["updatedAt"] and data["createdAt"] == created["createdAt"]
    assert ok(http.get(url(created["id"]))) == data


def test_patch_tags_replace_the_list_as_array_or_comma_separated_string(http: httpx.Client) -> None:
    cid = create(http, tags=["old", "keep"])["id"]
    assert ok(http.patch(url(cid), json={"tags": ["keep", "new"]}))["tags"] == ["keep", "new"]
    assert ok(http.patch(url(cid), json={"tags": "vip,enterprise,priority"}))["tags"] == \
        ["vip", "enterprise", "priority"]
    assert ok(http.patch(url(cid), json={"tags": []}))["tags"] == []


def test_patch_metadata_merges_and_null_removes_a_key(http: httpx.Client) -> None:
    cid = create(http, metadata={"plan": "free", "trial_ends": "2025-01-01", "seats": 1})["id"]
    data = ok(http.patch(url(cid), json={"metadata": {"plan": "pro", "trial_ends": None, "region": "eu",
                                                      "missing": None}}))
    assert data["metadata"] == {"plan": "pro", "seats": 1, "region": "eu"}
    assert ok(http.get(url(cid)))["metadata"] == {"plan": "pro", "seats": 1, "region": "eu"}


def test_metadata_is_limited_to_50_keys_on_create_and_after_a_merge(http: httpx.Client) -> None:
    fifty = {f"k{i}": i for i in range(50)}
    error = fails(http.post(CUSTOMERS, json={"name": "J", "email": "j@x.io", "metadata": {**fifty, "k50": 50}}),
                  400, "validation_error", "PARAMETER_INVALID")
    assert "50" in error["message"]
    cid = create(http, metadata=fifty)["id"]
    fails(http.patch(url(cid), json={"metadata": {"one_more": 1}, "notes": "not applied either"}),
          400, "validation_error", "PARAMETER_INVALID")
    unchanged = ok(http.get(url(cid)))
    assert unchanged["metadata"] == fifty and unchanged["notes"] == ""
    swapped = ok(http.patch(url(cid), json={"metadata": {"k0": None, "one_more": 1}}))
    assert len(swapped["metadata"]) == 50 and "one_more" in swapped["metadata"]


def test_patch_to_an_email_another_customer_has_is_409(http: httpx.Client) -> None:
    create(http, email="ann@x.io")
    cid = create(http, "Bob", "bob@x.io")["id"]
    fails(http.patch(url(cid), json={"email": "ANN@x.io"}), 409, "conflict_error", "CONFLICT",
          "A customer with this email already exists")
    assert ok(http.get(url(cid)))["email"] == "bob@x.io"
    assert ok(http.patch(url(cid), json={"email": "BOB@x.io"}))["email"] == "BOB@x.io"


@pytest.mark.parametrize("field, value, allowed", [
    ("status", "archived", "active, inactive"),
    ("status", None, "active, inactive"),
    ("sentiment", "angry", "positive, neutral, negative"),
    ("sentiment", 1, "positive, neutral, negative"),
])
def test_patch_validates_status_and_sentiment(http: httpx.Client, field: str, value: Any, allowed: str) -> None:
    cid = create(http)["id"]
    error = fails(http.patch(url(cid), json={field: value}), 400, "validation_error", "PARAMETER_INVALID")
    assert field in error["message"] and allowed in error["message"]
    assert ok(http.get(url(cid)))[field] == {"status": "active", "sentiment": "neutral"}[field]


@pytest.mark.parametrize("body", [{"name": ""}, {"name": 3}, {"email": "nope"}, {"notes": None},
                                  {"tags": None}, {"metadata": 7}])
def test_patch_validates_types(http: httpx.Client, body: dict[str, Any]) -> None:
    cid = create(http)["id"]
    error = fails(http.patch(url(cid), json=body), 400, "validation_error", "PARAMETER_INVALID")
    assert next(iter(body)) in error["message"]


def test_patch_unknown_customer_is_404(http: httpx.Client) -> None:
    fails(http.patch(url("cus_" + "1" * 32), json={"notes": "x"}), 404, "not_found_error", "RESOURCE_MISSING",
          "Customer not found")


# --- delete ---------------------------------------------------------------------------------------

def test_delete_answers_deleted_true_and_the_customer_is_gone(http: httpx.Client) -> None:
    cid = create(http)["id"]
    assert ok(http.delete(url(cid))) == {"deleted": True}
    fails(http.get(url(cid)), 404, "not_found_error", "RESOURCE_MISSING")
    fails(http.delete(url(cid)), 404, "not_found_error", "RESOURCE_MISSING", "Customer not found")
    create(http)  # the email is free again


# --- list -----------------------------------------------------------------------------------------

def test_list_items_have_the_shape_of_the_spec_example(http: httpx.Client) -> None:
    create(http, tags="vip", notes="secret notes", metadata={"k": "v"})
    response = http.get(CUSTOMERS)
    [item] = ok(response)
    assert set(item) == LIST_ITEM_FIELDS
    assert response.json()["meta"]["pagination"] == {"page": 1, "pageSize": 20, "total": 1, "totalPages": 1}


def test_list_pages_add_up_to_the_total_newest_first(http: httpx.Client) -> None:
    ids = [create(http, f"C{i}", f"c{i}@x.io")["id"] for i in range(45)]
    seen: list[str] = []
    for page, size in ((1, 20), (2, 20), (3, 5)):
        response = http.get(CUSTOMERS, params={"page": page})
        data = ok(response)
        assert len(data) == size
        assert response.json()["meta"]["pagination"] == {"page": page, "pageSize": 20, "total": 45,
                                                         "totalPages": 3}
        seen += [c["id"] for c in data]
    assert seen == ids[::-1]
    beyond = http.get(CUSTOMERS, params={"page": 4})
    assert ok(beyond) == [] and beyond.json()["meta"]["pagination"]["total"] == 45


def test_page_size_is_capped_at_100(http: httpx.Client) -> None:
    for i in range(101):
        create(http, f"C{i}", f"c{i}@x.io")
    response = http.get(CUSTOMERS, params={"pageSize": 500})
    assert len(ok(response)) == 100
    assert response.json()["meta"]["pagination"] == {"page": 1, "pageSize": 100, "total": 101, "totalPages": 2}


def test_an_empty_list_has_zero_pages(http: httpx.Client) -> None:
    response = http.get(CUSTOMERS)
    assert ok(response) == []
    assert response.json()["meta"]["pagination"] == {"page": 1, "pageSize": 20, "total": 0, "totalPages": 0}


def test_search_is_a_case_insensitive_substring_of_name_or_email(http: httpx.Client) -> None:
    create(http, "Ann Lee", "ann@x.io")
    create(http, "Jo Ann", "joann@x.io")
    create(http, "Bob", "bob@annex.io")
    create(http, "Zed", "zed@x.io")

    def names(search: str) -> set[str]:
        return {c["name"] for c in ok(http.get(CUSTOMERS, params={"search": search}))}

    assert names("ANN") == {"Ann Lee", "Jo Ann", "Bob"}
    assert names("ann@x.io") == {"Ann Lee", "Jo Ann"}
    assert names("jo ann") == {"Jo Ann"}
    assert names("nobody") == set()


def test_status_and_sentiment_filters_combine_with_search(http: httpx.Client) -> None:
    a = create(http, "A", "a@x.io")["id"]
    b = create(http, "B", "b@x.io")["id"]
    create(http, "C", "c@y.io")
    http.patch(url(a), json={"status": "inactive", "sentiment": "negative"})
    http.patch(url(b), json={"status": "inactive"})

    def ids(**params: str) -> set[str]:
        response = http.get(CUSTOMERS, params=params)
        data = ok(response)
        assert response.json()["meta"]["pagination"]["total"] == len(data)
        return {c["id"] for c in data}

    assert ids(status="inactive") == {a, b}
    assert ids(status="inactive", sentiment="negative") == {a}
    assert len(ids(status="active")) == 1
    assert ids(sentiment="neutral", search="x.io") == {b}


@pytest.mark.parametrize("params", [{"status": "archived"}, {"sentiment": "meh"}, {"page": "0"},
                                    {"page": "two"}, {"pageSize": "0"}, {"pageSize": "-5"}])
def test_bad_list_parameters_are_400(http: httpx.Client, params: dict[str, str]) -> None:
    error = fails(http.get(CUSTOMERS, params=params), 400, "validation_error", "PARAMETER_INVALID")
    assert next(iter(params)) in error["message"]


# --- keys -----------------------------------------------------------------------------------------

ENDPOINTS = [("GET", ""), ("POST", ""), ("GET", "/cus_x"), ("PATCH", "/cus_x"), ("DELETE", "/cus_x")]


@pytest.mark.parametrize("method, suffix", ENDPOINTS)
@pytest.mark.parametrize("headers", [{}, bearer("sk_test_nope"), {"Authorization": "Basic c2tfdGVzdF9kZXY="},
                                     {"Authorization": "Bearer"}, {"Authorization": SK}])
def test_a_missing_or_invalid_key_is_401_on_every_endpoint(sb: SandboxProcess, anon: httpx.Client, method: str,
                                                           suffix: str, headers: dict[str, str]) -> None:
    response = anon.request(method, CUSTOMERS + suffix, headers=headers, json={"name": "J"})
    fails(response, 401, "authentication_error", "authentication_required", "Invalid or expired API key",
          AUTH_DOC)


@pytest.mark.parametrize("method, suffix", [m for m in ENDPOINTS if m[0] != "GET"])
def test_a_publishable_key_cannot_write(http: httpx.Client, method: str, suffix: str) -> None:
    cid = create(http)["id"]
    path = CUSTOMERS + suffix.replace("cus_x", cid)
    response = http.request(method, path, json={"name": "P", "email": "p@x.io"}, headers=bearer(PK))
    fails(response, 403, "authorization_error", "insufficient_permissions",
          "Secret key required for this endpoint", AUTH_DOC)
    assert [c["name"] for c in ok(http.get(CUSTOMERS))] == ["Jane Smith"]


def test_a_publishable_key_can_read(http: httpx.Client) -> None:
    cid = create(http)["id"]
    assert len(ok(http.get(CUSTOMERS, headers=bearer(PK)))) == 1
    assert ok(http.get(url(cid), headers=bearer(PK)))["id"] == cid


@pytest.mark.parametrize("method, suffix", ENDPOINTS)
def test_a_key_of_another_team_is_403_on_every_endpoint(http: httpx.Client, method: str, suffix: str) -> None:
    cid = create(http)["id"]
    path = CUSTOMERS + suffix.replace("cus_x", cid)
    response = http.request(method, path, json={"name": "O", "email": "o@x.io"}, headers=bearer(OTHER_SK))
    error = fails(response, 403, "authorization_error", "insufficient_permissions", doc_url=AUTH_DOC)
    assert "team" in error["message"]
    assert ok(http.get(url(cid)))["name"] == "Jane Smith"


# --- rate limit -----------------------------------------------------------------------------------

def test_the_rate_limit_counts_every_endpoint_per_key_and_answers_429_with_retry_after(
        sb: SandboxProcess, http: httpx.Client) -> None:
    sb.reset(rate_limit=3, rate_window=60)
    cid = create(http)["id"]
    ok(http.get(CUSTOMERS))
    ok(http.patch(url(cid), json={"notes": "x"}))
    response = http.get(url(cid))
    fails(response, 429, "rate_limit_error", "rate_limit_exceeded", "Rate limit exceeded. Try again in 60 seconds",
          RATE_DOC)
    assert response.headers["Retry-After"] == "60"
    # Another key has its own budget; a bad key is refused before it is counted.
    ok(http.get("/api/v1/teams/team_other/customers", headers=bearer(OTHER_SK)))
    fails(http.get(CUSTOMERS, headers=bearer("sk_bad")), 401, "authentication_error", "authentication_required",
          doc_url=AUTH_DOC)
    assert [c["status"] for c in sb.calls()] == [201, 200, 200, 429, 200, 401]


def test_a_slot_frees_when_the_window_slides(sb: SandboxProcess, http: httpx.Client) -> None:
    sb.reset(rate_limit=2, rate_window=1.0)
    started = time.monotonic()
    ok(http.get(CUSTOMERS))
    ok(http.get(CUSTOMERS))
    refused = http.get(CUSTOMERS)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.json()["error"]["message"] == "Rate limit exceeded. Try again in 1 seconds"
    time.sleep(max(0.0, 1.05 - (time.monotonic() - started)))
    ok(http.get(CUSTOMERS))


def test_reset_restores_the_start_up_rate_limit(sb: SandboxProcess, http: httpx.Client) -> None:
    sb.reset(rate_limit=1)
    ok(http.get(CUSTOMERS))
    assert http.get(CUSTOMERS).status_code == 429
    assert sb.reset() == {"reset": True, "rate_limit": 0, "rate_window": 60.0, "get_shape": "full"}
    for _ in range(5):
        ok(http.get(CUSTOMERS))


# --- fault injection ------------------------------------------------------------------------------

def test_an_error_fault_answers_instead_of_the_api_and_applies_nothing(sb: SandboxProcess,
                                                                         http: httpx.Client) -> None:
    sb.set_faults([{"action": "error", "status": 503, "retry_after": 7, "methods": ["POST"]}])
    response = http.post(CUSTOMERS, json={"name": "J", "email": "j@x.io"})
    fails(response, 503, "api_error", "internal_error")
    assert response.headers["Retry-After"] == "7"
    assert ok(http.get(CUSTOMERS)) == []
    assert sb.customers() == []
    assert sb.faults()[0]["fired"] == 1


def test_fault_filters_select_calls_by_path_and_body(sb: SandboxProcess, http: httpx.Client) -> None:
    cid = create(http, email="keep@x.io")["id"]
    sb.set_faults([{"action": "error", "status": 500, "body_contains": "boom@x.io"},
                   {"action": "error", "status": 502, "path_contains": cid, "methods": ["PATCH"]}])
    assert http.post(CUSTOMERS, json={"name": "B", "email": "boom@x.io"}).status_code == 500
    create(http, email="fine@x.io")
    assert http.patch(url(cid), json={"notes": "x"}).status_code == 502
    ok(http.get(url(cid)))
    assert {c["email"] for c in sb.customers()} == {"keep@x.io", "fine@x.io"}


def test_a_seeded_fault_rate_fails_a_reproducible_share_of_calls(sb: SandboxProcess, http: httpx.Client) -> None:
    rule = {"action": "error", "status": 500, "rate": 0.3, "seed": 7}

    def run() -> list[int]:
        sb.reset()
        sb.set_faults([rule])
        return [http.get(CUSTOMERS).status_code for _ in range(60)]

    first = run()
    assert 5 <= first.count(500) <= 35 and set(first) == {200, 500}
    assert run() == first


def test_a_fault_with_times_fires_only_that_often(sb: SandboxProcess, http: httpx.Client) -> None:
    sb.set_faults([{"action": "error", "status": 500, "times": 2}])
    assert [http.get(CUSTOMERS).status_code for _ in range(4)] == [500, 500, 200, 200]


def test_an_html_error_fault_imitates_a_proxy_page(sb: SandboxProcess, http: httpx.Client) -> None:
    sb.set_faults([{"action": "error", "status": 502, "body": "html"}])
    response = http.get(CUSTOMERS)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html>" in response.text


def test_a_latency_fault_delays_the_answer(sb: SandboxProcess, http: httpx.Client) -> None:
    sb.set_faults([{"action": "latency", "latency_ms": 300, "methods": ["GET"]}])
    started = time.monotonic()
    ok(http.get(CUSTOMERS))
    assert time.monotonic() - started >= 0.3
    create(http)
    [get, post] = sb.calls()
    assert get["duration_ms"] >= 300 and get["faults"] == ["latency"]
    assert post["duration_ms"] < 300 and post["faults"] == []


def test_drop_after_write_applies_the_write_but_the_client_sees_a_connection_error(
        sb: SandboxProcess, http: httpx.Client) -> None:
    sb.set_faults([{"action": "drop_after_write"}])
    with pytest.raises(httpx.TransportError) as caught:
        http.post(CUSTOMERS, json={"name": "Dropped", "email": "dropped@x.io", "tags": "a"})
    assert not isinstance(caught.value, httpx.TimeoutException)
    [stored] = sb.customers()
    assert (stored["email"], stored["tags"]) == ("dropped@x.io", ["a"])
    with pytest.raises(httpx.TransportError):
        http.patch(url(stored["id"]), json={"tags": ["a", "b"]})
    assert sb.customers()[0]["tags"] == ["a", "b"]
    ok(http.get(url(stored["id"])))  # reads are not dropped unless the rule names GET
    calls = sb.calls()
    assert [(c["method"], c["status"], c["dropped"]) for c in calls] == \
        [("POST", 201, True), ("PATCH", 200, True), ("GET", 200, False)]


@pytest.mark.parametrize("rules", [
    {"action": "error"}, [{"action": "explode"}], [{"action": "error", "rate": 2}],
    [{"action": "error", "status": 200}], [{"action": "latency", "latency_ms": -1}],
    [{"action": "error", "methods": "POST"}], [{"action": "error", "colour": "red"}],
])
def test_invalid_fault_rules_are_refused_and_change_nothing(sb: SandboxProcess, anon: httpx.Client,
                                                            rules: Any) -> None:
    sb.set_faults([{"action": "latency", "latency_ms": 1}])
    response = anon.put("/_sandbox/faults", json=rules)
    assert response.status_code == 400 and response.json()["error"]
    assert [f["action"] for f in sb.faults()] == ["latency"]


# --- test hooks and the rest ----------------------------------------------------------------------

def test_the_call_log_records_each_api_call(sb: SandboxProcess, http: httpx.Client) -> None:
    cid = create(http, tags="a")["id"]
    http.get(CUSTOMERS, params={"search": "jane", "page": 1}, headers=bearer(PK))
    http.delete(url(cid), headers=bearer("nope"))
    sb.customers()  # hooks are not API calls
    post, get, delete = sb.calls()
    assert (post["seq"], post["method"], post["path"], post["status"]) == (1, "POST", CUSTOMERS, 201)
    assert post["body"] == {"name": "Jane Smith", "email": "jane@example.com", "tags": "a"}
    assert (post["key_type"], post["team"]) == ("secret", "team_dev")
    assert get["query"] == {"search": "jane", "page": "1"} and get["key_type"] == "publishable"
    assert "body" not in get
    assert (delete["status"], delete["key_type"], delete["team"]) == (401, None, None)
    assert all(c["duration_ms"] >= 0 and c["ts"] > 0 and c["request_id"].startswith("req_") for c in (post, get))
    assert [c["seq"] for c in sb.calls(since=2)] == [3]
    assert sb.stats() == {"total": 3, "by_method": {"POST": 1, "GET": 1, "DELETE": 1},
                          "by_status": {"201": 1, "200": 1, "401": 1},
                          "by_method_status": {"POST 201": 1, "GET 200": 1, "DELETE 401": 1}}


def test_reset_clears_customers_calls_and_faults_but_keeps_the_keys(sb: SandboxProcess,
                                                                      http: httpx.Client) -> None:
    create(http)
    sb.set_faults([{"action": "latency", "latency_ms": 1}])
    sb.reset()
    assert (sb.customers(), sb.calls(), sb.faults(), sb.stats()["total"]) == ([], [], [], 0)
    create(http)


def test_the_customer_dump_holds_full_objects_per_team(sb: SandboxProcess, http: httpx.Client) -> None:
    created = create(http, metadata={"k": "v"})
    assert sb.customers() == [created]
    assert sb.customers("team_other") == []


def test_unknown_routes_and_methods_answer_in_the_error_envelope(sb: SandboxProcess, http: httpx.Client) -> None:
    fails(http.get("/api/v2/teams/team_dev/customers"), 404, "not_found_error", "ROUTE_NOT_FOUND")
    fails(http.put(CUSTOMERS), 405, "invalid_request_error", "METHOD_NOT_ALLOWED")
