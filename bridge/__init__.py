"""The ingress: Flask app factory, sources, adapters, verifiers, the event API and the CLI.

Production: `gunicorn 'bridge:create_app()'`.
"""

from bridge.app import create_app

__all__ = ["create_app"]
