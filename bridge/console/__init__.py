"""`/console`: the operator console, served by the bridge itself (server-rendered, no Node, no CDN).

Sign-in takes the admin token (in a POST body, never a URL) and gives an HttpOnly, SameSite=Strict
session cookie (Secure when the request came over HTTPS); every POST carries a CSRF token. Without an
admin token the console is off (404). The pages call the same functions as the admin API and the CLI.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface

from bridge.state import BridgeState

COOKIE = "cstar_console"


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, Secure exactly when the request came over HTTPS.

    Flask opens the session on every request (`/hooks` too): outside `/console`, where the cookie is
    never sent (its path), the session is Flask's null one, with nothing to verify or save. The signing
    serializer is kept, made again only when the keys change."""

    def __init__(self) -> None:
        self._signing: tuple[Any, Any] = (None, None)

    def open_session(self, app: Flask, request: Any) -> Any:
        path = request.path
        if path != "/console" and not path.startswith("/console/"):
            return None  # Flask makes a null session (read-only, never saved)
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(request.is_secure)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if not session and not session.modified and not session.accessed:
            return  # what Flask's would do, without working out the cookie's attributes first
        super().save_session(app, session, response)

    def get_signing_serializer(self, app: Flask) -> Any:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        made_for, serializer = self._signing
        if made_for != keys:
            serializer = super().get_signing_serializer(app)
            self._signing = (keys, serializer)
        return serializer


def init_console(app: Flask, state: BridgeState) -> None:
    """Register `/console`: the pages when an admin token is set, a 404 saying how to turn it on otherwise."""
    from bridge.console import views

    token = state.config.admin_token
    if not token:
        app.register_blueprint(views.off_bp)
        return
    # The session key derives from the admin token: every gunicorn worker agrees on it without a new
    # setting, and rotating the token signs everyone out.
    app.secret_key = hmac.new(token.reveal().encode(), b"cstar-bridge console session", hashlib.sha256).digest()
    app.session_interface = _SessionInterface()
    app.config.update(SESSION_COOKIE_NAME=COOKIE, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_PATH="/console", PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
                      WTF_CSRF_TIME_LIMIT=None, WTF_CSRF_FIELD_NAME="csrf_token")
    app.register_blueprint(views.bp)


def signed_in_token_matches(state: BridgeState, given: Any) -> bool:
    """Constant-time check of a sign-in attempt against the admin token."""
    from bridge.verify.base import constant_time_equal

    return isinstance(given, str) and bool(given) and constant_time_equal(given, state.config.admin_token.reveal())
