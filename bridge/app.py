"""The Flask app factory: one config in, a ready ingress out. Errors are rendered in one place."""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from bridge import envelope, metrics
from bridge.errors import HttpError
from bridge.sources import build_sources
from bridge.state import BridgeState
from bridge.verify import Clock
from workers.config import Config, check_api, load_config
from workers.errors import ConfigError
from workers.logsafe import exception_summary

log = logging.getLogger("cstar_bridge.app")


def check_rules(config: Config) -> None:
    """Stop start-up on invalid rules, with the lint output (never a traceback)."""
    from rules import RulesInvalid, load_ruleset

    paths = config.rule_paths()
    if not paths:
        raise ConfigError(f"no rule files match {list(config.rules)} (from `rules:` in bridge.yaml or BRIDGE_RULES)")
    try:
        load_ruleset(paths)
    except RulesInvalid as exc:
        raise ConfigError(f"the rules have errors:\n{exc}") from None


def create_app(config: Config | None = None, *, clock: Clock | None = None,
               enqueue: Callable[[str], None] | None = None) -> Flask:
    """Build the ingress for `config` (default: from the environment / BRIDGE_CONFIG).

    Without a config (the production path, `gunicorn 'bridge:create_app()'`), an unusable config or
    invalid rules print what to fix and exit with gunicorn's "app failed to load" status, never a
    traceback. With a config (tests, embedding), the ConfigError is raised to the caller.
    """
    if config is None:
        try:
            config = load_config()
            check_rules(config)
            check_api(config)
            from workers.celery_app import check_timing

            check_timing(config)
        except ConfigError as exc:
            print(f"cstar-bridge: cannot start: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(4) from None  # gunicorn's APP_LOAD_ERROR: the arbiter stops, no restart loop
    else:
        check_rules(config)
    from bridge.rejections import rejection_log
    from workers.celery_app import create_celery
    from workers.runtime import make_store, redis_client
    from workers.enqueue import TaskMessages, send_via_celery

    app = Flask("cstar_bridge")
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    r = redis_client(config.redis_url)
    celery = create_celery(config)

    # When the broker is the store's Redis, the claim script pushes the task itself (one atomic round
    # trip); a separate broker, or an injected enqueue (tests), goes through Celery after the claim.
    atomic = enqueue is None and config.effective_broker_url == config.redis_url
    app.extensions["cstar_bridge"] = BridgeState(
        config=config, sources=build_sources(config, clock=clock), store=make_store(config, r), redis=r,
        enqueue=enqueue or (lambda event_id: send_via_celery(celery, event_id)), celery=celery,
        messages=TaskMessages(celery, config.queue) if atomic else None, rejections=rejection_log(config, r))

    from bridge import admin, ingest, openapi
    from bridge.console import init_console

    app.register_blueprint(ingest.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(openapi.bp)
    init_console(app, app.extensions["cstar_bridge"])
    _register_errors(app)
    return app


def _register_errors(app: Flask) -> None:
    @app.after_request
    def count_errors(resp: Response) -> Response:
        """Every error response is counted once, whichever handler (or view) produced it."""
        if resp.status_code >= 400:
            metrics.HTTP_ERRORS.labels(status=str(resp.status_code), code=g.get("error_code", "http_error")).inc()
        return resp

    @app.errorhandler(HttpError)
    def on_http_error(exc: HttpError) -> Any:
        g.error_code = exc.code
        return envelope.error(exc.status, exc.type, exc.code, exc.message, details=exc.details, headers=exc.headers)

    @app.errorhandler(HTTPException)
    def on_werkzeug(exc: HTTPException) -> Any:
        status = exc.code or 500
        if status == 413:
            limit = app.config["MAX_CONTENT_LENGTH"]
            g.error_code = "payload_too_large"
            return envelope.error(413, "invalid_request_error", "payload_too_large",
                                  f"the body is larger than the {limit} byte limit (max_body_bytes)")
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        type_ = "not_found_error" if status == 404 else "invalid_request_error"
        g.error_code = code
        methods = getattr(exc, "valid_methods", None)
        allow = {"Allow": ", ".join(methods)} if methods else None
        return envelope.error(status, type_, code, exc.description or exc.name, headers=allow)

    @app.errorhandler(Exception)
    def on_unexpected(exc: Exception) -> Any:
        log.error("unexpected error: %s", exception_summary(exc))  # never the message: it may quote the payload
        g.error_code = "internal_error"
        return envelope.error(500, "api_error", "internal_error",
                              "unexpected error; the event was not accepted, retry later")
