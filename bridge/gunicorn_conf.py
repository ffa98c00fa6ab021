"""gunicorn settings of `cstar-bridge web` and `cstar-bridge dev` (`--config python:bridge.gunicorn_conf`).

Worker class: gevent. A webhook endpoint faces the internet, where a client may open a connection
and send its headers or body a byte at a time (slowloris). gunicorn's sync and gthread workers give
each such connection a thread until it finishes, so a handful of slow clients (2 × 4 threads:
eight) starve every sender and /healthz. gevent's workers park a slow connection as a cheap greenlet
(up to `worker_connections` each) and keep serving the rest. Slow clients are still dropped: the
request line and headers must arrive within `keepalive` seconds (gunicorn's gevent worker bounds
them by it) and a body within `body_timeout` (bridge.body, 408). A buffering proxy in front (see
docker-compose.yml) is welcome but not required: `dev` must hold on its own.

redis-py, kombu (Celery publishing) and prometheus_client's multiprocess files all work under
gevent's monkey-patching (patched sockets and locks); the tests run the real commands.

Logging: `RedactingLogger` masks credential query parameters (`?token=`) and every configured
secret in the access log and the error log, and routes the app's own loggers through the same
redacting handlers (bridge.redact).

With several gunicorn workers each has its own counters; prometheus_client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set by `cstar-bridge web`) keeps them in files that `/metrics` adds up,
whichever worker answers the scrape. A worker that exits is marked dead so its live-only values go.
"""

from __future__ import annotations

import glob
import logging
import os
from typing import Any

from gunicorn.glogging import Logger, SafeAtoms

worker_class = "gevent"
worker_connections = 1000
keepalive = 5                 # seconds: idle keep-alive, and (gevent) the deadline for a request's headers
timeout = 30                  # a worker whose loop is stuck this long is replaced
graceful_timeout = 20
accesslog = "-"
# gunicorn's default line plus the time taken (ms); the query string is redacted, not dropped.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
logger_class = "bridge.gunicorn_conf.RedactingLogger"


class RedactingLogger(Logger):
    """gunicorn's logger whose every line, access and error, goes through bridge.redact."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        from bridge.redact import install

        self.redactor = _redactor()
        install(self.redactor, [self.error_log, self.access_log])
        # The app's loggers (cstar_bridge.*) and libraries logging to the root write through the same
        # redacting handlers instead of Python's unfiltered last-resort stderr handler.
        app_log = logging.getLogger("cstar_bridge")
        app_log.handlers = list(self.error_log.handlers)
        app_log.setLevel(logging.INFO)
        app_log.propagate = False
        root = logging.getLogger()
        if not root.handlers:
            for handler in self.error_log.handlers:
                root.addHandler(handler)

        redactor = self.redactor

        class Atoms(_RedactedAtoms):
            redact = staticmethod(redactor)

        # gunicorn wraps each request's atoms in this class and formats the line with it
        self.atoms_wrapper_class = Atoms


class _RedactedAtoms(SafeAtoms):
    """gunicorn's SafeAtoms (case-insensitive `{header}i` lookups, '-' when absent, quotes escaped),
    redacting each atom as the access-log format reads it: a line uses about ten of the sixty-odd
    atoms (every request header and environ entry), and redacting all of them was most of the
    logging's cost per request. Redacted before the quotes are escaped, as before."""

    redact: Any = staticmethod(lambda text: text)

    def __init__(self, atoms: Any) -> None:
        dict.__init__(self, atoms)  # the raw values; escaped on lookup

    def __getitem__(self, k: str) -> Any:
        value = super().__getitem__(k)
        return self.redact(value).replace('"', '\\"') if isinstance(value, str) else value


def _redactor() -> Any:
    """From the bridge's config (BRIDGE_CONFIG and the environment); the usual parameters if it fails."""
    from bridge.redact import Redactor, redactor_for

    try:
        from workers.config import load_config

        return redactor_for(load_config())
    except Exception:  # the app reports an unusable config itself, clearly; logging must not fail first
        return Redactor()


def child_exit(server: Any, worker: Any) -> None:
    """prometheus_client's `multiprocess.mark_process_dead(pid)`: drop the dead worker's live-gauge files.

    Done here with glob, not by importing prometheus_client: this runs in the master, inside its
    SIGCHLD handler (an import there was interrupted by the next signal at shutdown), and the master
    must not load ssl (prometheus_client's exposition does) before the gevent workers patch it."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        for path in glob.glob(os.path.join(folder, f"gauge_live*_{worker.pid}.db")):
            try:
                os.remove(path)
            except OSError:
                pass
