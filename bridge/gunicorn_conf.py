"""gunicorn settings `cstar-bridge web` passes (`--config python:bridge.gunicorn_conf`).

With several gunicorn workers each has its own counters; prometheus_client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set by `cstar-bridge web`) keeps them in files that `/metrics` adds up,
whichever worker answers the scrape. A worker that exits is marked dead so its live-only values go.
"""

from __future__ import annotations

import os
from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
