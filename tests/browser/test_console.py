"""The console in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright) against a
real `cstar-bridge web` (gunicorn), a real Celery worker and the sandbox. Sign in, find an event by
email, read its trace, replay a dead letter and watch it finish, try an edited rule on stored events;
CSRF and missing-token cases fail as they should. Also takes the screenshot docs/console.png shows: into a
temporary file on every run (checked to be a real PNG), copied over docs/console.png only with
CSTAR_UPDATE_SCREENSHOT=1, so a test run leaves the work tree clean."""

from __future__ import annotations

import os
import re
import shutil
import struct
from pathlib import Path

import httpx
import pytest

from tests.support.stack import ADMIN, TOKEN
from tests.support.web import WebServer

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "console.png"
UPDATE_SCREENSHOT = os.environ.get("CSTAR_UPDATE_SCREENSHOT") == "1"
WAIT = 60_000  # ms: the machine is shared; never a timing assertion, only a generous deadline


def assert_png(path: Path) -> None:
    """A whole PNG of a page-sized picture: signature, IHDR with the size, IEND at the end."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR" and data.endswith(b"IEND\xaeB`\x82"), "a truncated PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 800 and height >= 400, (width, height)
    assert 10_000 <= len(data) <= 10_000_000, len(data)


@pytest.fixture
def browser():
    from playwright import sync_api

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


def post(url: str, body: dict) -> str:
    r = httpx.post(f"{url}/hooks/demo", json=body, headers={"X-Bridge-Token": TOKEN}, timeout=20)
    assert r.status_code == 202, r.text
    return r.json()["data"]["eventId"]


def text(locator) -> str:
    """What the element shows, whitespace collapsed."""
    return " ".join(locator.inner_text().split())


def sign_in(page, url: str) -> None:
    page.goto(f"{url}/console")
    assert page.url.endswith("/console/sign-in")
    page.fill("input[name=token]", ADMIN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/console/events", timeout=WAIT)


def test_operator_finds_an_event_replays_a_dead_letter_and_tries_a_rule(make_stack, browser, tmp_path):
    stack = make_stack(worker={"max_retries": 0})
    stack.sandbox.set_faults([{"action": "error", "status": 400, "rate": 1.0, "methods": ["POST"],
                               "body_contains": "dead@console.test"}])
    stack.start_worker(concurrency=1)
    with WebServer(stack, tmp_path / "web.log") as web:
        url = web.url
        ada = post(url, {"email": "ada@console.test", "name": "Ada Lovelace", "tag": "vip", "note": "hello",
                         "plan": "pro"})
        others = [post(url, {"email": f"other{i}@console.test"}) for i in range(3)]
        dead = post(url, {"email": "dead@console.test", "note": "will fail"})
        stack.wait_for([ada, *others])
        stack.wait_for([dead], statuses=("dead",))
        again = post(url, {"email": "ada@console.test", "tag": "gold", "seats": 12})  # an update: before -> after
        stack.wait_for([again])

        context = browser.new_context(viewport={"width": 1360, "height": 900})
        requests: list[str] = []
        context.on("request", lambda req: requests.append(req.url))
        page = context.new_page()
        page.set_default_timeout(WAIT)
        sign_in(page, url)

        # the session cookie: HttpOnly, SameSite=Strict, scoped to /console (not Secure over plain HTTP)
        cookie = next(c for c in context.cookies() if c["name"] == "cstar_console")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
        assert page.evaluate("document.cookie") == ""

        # auto-refresh: an event accepted while the list is open shows up without touching the page
        late = post(url, {"email": "late@console.test"})
        page.wait_for_selector(f"tr[data-event-id='{late}']")
        page.uncheck("#auto-refresh")

        # find Ada's event by email, open it
        page.fill("input[name=email]", "ADA@console.test")
        page.click("#filters button[type=submit]")
        page.wait_for_url(re.compile(r".*email=ADA%40console.test.*"))
        rows = page.locator("#events tbody tr")
        assert [r.get_attribute("data-event-id") for r in rows.all()] == [again, ada]  # newest first
        assert "ada@console.test" in text(rows.first) and "lead, json-details" in text(rows.first)
        rows.first.locator("a").click()
        page.wait_for_url(f"{url}/console/events/{again}")

        # its trace, the change per customer and the API calls made
        lead = page.locator("#trace li.rule[data-rule='lead']")
        assert "matched" in lead.get_attribute("class")
        skipped = text(page.locator("#trace li.rule[data-rule='form-details']"))
        assert "not matched" in skipped.lower() and "source 'demo' is not one of" in skipped
        details = text(page.locator("#trace li.rule[data-rule='json-details']"))
        assert "data.untag is missing" in details
        assert '["gold"]' in details
        changes = text(page.locator("#changes"))
        assert "ada@console.test — updated" in changes and "in cstar.help" in changes
        assert 'tags ["lead", "vip"] ["lead", "vip", "gold"]' in changes  # before -> after
        assert 'metadata {"plan": "pro"} {"plan": "pro", "seats": 12}' in changes
        calls = text(page.locator("#calls tbody"))
        assert "GET /api/v1/teams/team_dev/customers/cus_" in calls and "PATCH /api/v1/teams/team_dev/customers/cus_" in calls
        shot = tmp_path / "console.png"
        page.screenshot(path=str(shot))
        assert_png(shot)
        if UPDATE_SCREENSHOT:
            shutil.copyfile(shot, SCREENSHOT)

        # the dead letter: reason shown; fix the cause, replay it, watch it finish
        stack.sandbox.set_faults([])
        page.click("text=Dead letters")
        dead_row = page.locator(f"#dead tr[data-event-id='{dead}']")
        assert "the API refused the change" in text(dead_row)
        dead_row.locator("input.pick").check()
        page.click("#replay-selected")
        page.wait_for_selector("#watch-done")
        assert text(page.locator(f"[data-watch='{dead}']")) == "done"
        assert stack.customer("dead@console.test")["notes"].count("will fail") == 1

        # the rules: fingerprint, lint status, matches over the recent events
        page.click("text=Rules")
        assert text(page.locator("#lint")) == "ok" and len(text(page.locator("#fingerprint"))) == 64
        lead_matches = int(text(page.locator("#rules tr[data-rule='lead'] td.num")))
        assert lead_matches >= 2 + len(others)

        # try a change: an extra tag in the edited rules, on Ada's event and on the stored events
        before = stack.customer("ada@console.test")
        page.goto(f"{url}/console/events/{again}")
        page.click("text=Try a rule change on this event")
        rules_text = page.input_value("#rules-text")
        assert "add_tags: [lead]" in rules_text
        page.fill("#rules-text", rules_text.replace("add_tags: [lead]", "add_tags: [lead, tried]"))
        page.fill("#last-n", "50")
        page.click("#try-run")
        page.wait_for_selector("#try-result")
        assert text(page.locator("#try-matched")) == "lead, json-details"
        assert '"tried"' in text(page.locator("#try-result"))
        compare = text(page.locator("#try-compare"))
        total = 2 + len(others) + 2  # ada twice, others, dead, late
        assert compare.startswith(f"{total} of {total}"), compare
        assert stack.customer("ada@console.test") == before, "trying a change must send nothing"

        # CSRF: a POST from the signed-in browser without (or with a forged) token is refused
        for token in (None, "forged"):
            status = page.evaluate(
                """async ([u, t]) => { const f = new FormData(); f.append('all', '1');
                   if (t) f.append('csrf_token', t);
                   return (await fetch(u, {method: 'POST', body: f, credentials: 'same-origin'})).status; }""",
                [f"{url}/console/replay", token])
            assert status == 403, (token, status)
        assert all(r.startswith(url) for r in requests), "the console loaded something from elsewhere"
        assert not any(ADMIN in r for r in requests), "the admin token appeared in a URL"

        # without a session: every page sends you to sign in, data answers 401, a wrong token is refused
        stranger = browser.new_context().new_page()
        stranger.set_default_timeout(WAIT)
        stranger.goto(f"{url}/console/events/{ada}")
        assert stranger.url.endswith("/console/sign-in")
        assert httpx.get(f"{url}/console/status.json?ids={ada}", timeout=10).status_code == 401
        stranger.fill("input[name=token]", "not-the-token")
        stranger.click("button[type=submit]")
        assert stranger.locator("#signin-error").is_visible() and stranger.url.endswith("/console/sign-in")
        # a POST from outside the browser (no session, no CSRF token) is refused before anything runs
        assert httpx.post(f"{url}/console/replay", data={"all": "1"}, timeout=10).status_code == 403
        context.close()
    assert "Traceback" not in web.log_text()


def test_the_console_is_off_without_an_admin_token(make_stack, browser, tmp_path):
    stack = make_stack(settings={"admin_token": ""})
    with WebServer(stack, tmp_path / "web.log") as web:
        page = browser.new_page()
        resp = page.goto(f"{web.url}/console")
        assert resp.status == 404 and "console is off" in text(page.locator("body"))
        assert page.goto(f"{web.url}/console/sign-in").status == 404
        r = httpx.post(f"{web.url}/console/sign-in", data={"token": ""}, timeout=10)
        assert r.status_code == 404
