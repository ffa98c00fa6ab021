"""Workers: the Celery app and thin tasks, the executor, the cstar.help client, Redis locks and records.

`celery -A workers worker` finds `workers.app`, built on first access from the environment
(`BRIDGE_CONFIG`, `REDIS_URL`, `CSTAR_*`), the same way the bridge builds its config.
"""

from __future__ import annotations

from typing import Any

_app: Any = None


def __getattr__(name: str) -> Any:
    global _app
    if name in ("app", "celery"):
        if _app is None:
            from workers.celery_app import create_celery
            from workers.config import load_config

            _app = create_celery(load_config())
        return _app
    raise AttributeError(name)
