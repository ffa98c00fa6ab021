"""The console's blueprint: sign-in, the session and CSRF guard, the events list and one event.
Dead letters, rules and "try a change" are in `bridge.console.actions` (same blueprint)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from marshmallow import ValidationError
from wtforms.validators import ValidationError as CsrfInvalid

from bridge.console import signed_in_token_matches
from bridge.errors import flatten_messages
from bridge.event_detail import event_detail
from bridge.events_query import STATUSES, find_events, parse_query
from bridge.state import BridgeState

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")
off_bp = Blueprint("console_off", __name__)
TERMINAL = ("done", "dead", "ignored", "failed")
_OPEN = {"console.sign_in", "console.static"}


def state() -> BridgeState:
    return current_app.extensions["cstar_bridge"]


@off_bp.route("/console", defaults={"rest": ""})
@off_bp.route("/console/<path:rest>", methods=["GET", "POST"])
def console_off(rest: str) -> Any:
    g.error_code = "console_off"
    return Response("The console is off: set BRIDGE_ADMIN_TOKEN (or admin_token in bridge.yaml) to turn it on.\n",
                    status=404, mimetype="text/plain")


def page_error(status: int, title: str, message: str) -> Any:
    g.error_code = title.lower().replace(" ", "_")
    return render_template("console/error.html", title=title, message=message), status


@bp.before_request
def guard() -> Any:
    """Signed in for everything but the sign-in page; a valid CSRF token on every POST."""
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token") or request.headers.get("X-CSRF-Token"))
        except (CsrfInvalid, CSRFError) as exc:
            return page_error(403, "CSRF check failed",
                              f"{exc} Reload the page and try again (the form's CSRF token is checked on every action).")
    if request.endpoint in _OPEN:
        return None
    if not session.get("admin"):
        if request.method == "GET" and not request.path.endswith(".json"):
            return redirect(url_for("console.sign_in"))
        return page_error(401, "Sign-in required", "Sign in with the admin token first.")
    return None


@bp.after_request
def headers(resp: Response) -> Response:
    """Nothing from elsewhere (no CDN, no inline script), never framed, never cached."""
    resp.headers["Content-Security-Policy"] = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                               "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.app_context_processor
def template_globals() -> dict[str, Any]:
    return {"csrf_token": generate_csrf, "signed_in": bool(session.get("admin")), "statuses": STATUSES}


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    """The admin token in a POST body (never a URL) buys a session cookie; then the events list."""
    if request.method == "GET":
        return render_template("console/sign_in.html")
    if not signed_in_token_matches(state(), request.form.get("token")):
        g.error_code = "authentication_required"
        return render_template("console/sign_in.html", failed=True), 401
    session.clear()  # a fresh session (and CSRF token) on every sign-in
    session["admin"] = True
    session.permanent = True
    return redirect(url_for("console.events"), 303)


@bp.post("/sign-out")
def sign_out() -> Any:
    session.clear()
    return redirect(url_for("console.sign_in"), 303)


@bp.get("/")
def home() -> Any:
    return redirect(url_for("console.events"))


@bp.get("/events")
def events() -> Any:
    """Newest first, filtered and paginated (the same listing as `GET /events`)."""
    args = {k: v for k, v in request.args.items() if v.strip() and k != "refresh"}
    try:
        query = parse_query(args)
    except ValidationError as exc:
        fields = flatten_messages(exc.messages)
        return render_template("console/events.html", page=None, args=args, query_error=fields), 400
    page = find_events(state().store, query, state().config)
    nav = {k: v for k, v in args.items() if k != "offset"}
    return render_template("console/events.html", page=page, args=args, nav=nav, query_error=None)


@bp.get("/events/<event_id>")
def event(event_id: str) -> Any:
    """Data, raw body, trace, changes, API calls, deliveries and errors of one event."""
    st = state()
    ev = event_detail(st.store, st.config, event_id)
    if ev is None:
        return page_error(404, "No such event", f"No event {event_id!r} (unknown, or expired after event_ttl).")
    return render_template("console/event.html", ev=ev, customer_url=customer_url)


def customer_url(customer_id: str) -> str:
    """The customer's page in cstar.help."""
    cfg = state().config.cstar
    return f"{cfg.api_url.rstrip('/')}/dashboard/customers/{customer_id}"


@bp.get("/status.json")
def statuses() -> Any:
    """Current status of some events (the replay page polls it while they finish)."""
    ids = [i for i in request.args.get("ids", "").split(",") if i][:500]
    store = state().store
    pipe = store.r.pipeline(transaction=False)
    for eid in ids:
        pipe.hget(store.event_key(eid), "status")
    found = pipe.execute() if ids else []
    out = {eid: (s.decode() if isinstance(s, bytes) else s) or "missing" for eid, s in zip(ids, found)}
    return {"statuses": out, "finished": all(s in TERMINAL or s == "missing" for s in out.values())}


from bridge.console import actions  # noqa: E402,F401  (registers the remaining pages on bp)
