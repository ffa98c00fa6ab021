"""The console's session cookie and CSRF guard, at the HTTP level: Secure exactly under HTTPS, sign-in
itself needs the CSRF token, and rotating the admin token signs everyone out."""

from __future__ import annotations

import re

import pytest

from bridge import create_app
from tests.support.stack import ADMIN

pytestmark = pytest.mark.integration


def csrf(client, path: str = "/console/sign-in", **kw) -> str:
    html = client.get(path, **kw).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, **kw):
    token = csrf(client, **kw)
    return client.post("/console/sign-in", data={"token": ADMIN, "csrf_token": token}, **kw)


@pytest.mark.parametrize("scheme, secure", [("https", True), ("http", False)])
def test_the_session_cookie_is_secure_exactly_under_https(make_stack, scheme, secure):
    client = make_stack().app.test_client()
    resp = sign_in(client, base_url=f"{scheme}://bridge.test")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/console/events")
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert ("; Secure" in cookie) is secure
    assert ADMIN not in cookie


def test_sign_in_needs_the_csrf_token_and_the_right_admin_token(make_stack):
    client = make_stack().app.test_client()
    csrf(client)  # a session with a CSRF token exists, but the form does not send it
    assert client.post("/console/sign-in", data={"token": ADMIN}).status_code == 403
    wrong = client.post("/console/sign-in", data={"token": "nope", "csrf_token": csrf(client)})
    assert wrong.status_code == 401
    assert client.get("/console/events").status_code == 302  # still signed out
    assert sign_in(client).status_code == 303
    assert client.get("/console/events").status_code == 200
    # sign-out is an action too: without the token it is refused and the session stays
    assert client.post("/console/sign-out").status_code == 403
    assert client.get("/console/events").status_code == 200
    assert client.post("/console/sign-out", data={"csrf_token": csrf(client, "/console/events")}).status_code == 303
    assert client.get("/console/events").status_code == 302


def test_a_new_admin_token_signs_everyone_out(make_stack):
    stack = make_stack()
    client = stack.app.test_client()
    assert sign_in(client).status_code == 303
    cookie = client.get_cookie("cstar_console", path="/console")
    rotated = create_app(stack.config.with_overrides(admin_token=type(stack.config.admin_token)("rotated")))
    other = rotated.test_client()
    other.set_cookie("cstar_console", cookie.value, path="/console")
    assert other.get("/console/events").status_code == 302
