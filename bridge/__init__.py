"""The ingress: Flask app factory, sources, adapters, verifiers, the event API and the CLI.

Production: `gunicorn 'bridge:create_app()'`.

`create_app` is imported on first use: gunicorn's master imports `bridge.gunicorn_conf`, and must not
load redis-py, ssl and the app before its gevent workers monkey-patch them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from bridge.app import create_app

        return create_app
    raise AttributeError(name)
