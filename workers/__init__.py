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
            import sys

            from workers.celery_app import create_celery
            from workers.config import check_api, load_config
            from rules import RulesInvalid, load_ruleset
            from workers.errors import ConfigError

            try:
                config = load_config()
                load_ruleset(config.rule_paths())  # fail at start, not on the first event
                check_api(config)  # refuse now, not by failing every task after the ingress said 202
                _app = create_celery(config)
            except (ConfigError, RulesInvalid) as exc:
                print(f"cstar-bridge worker: cannot start: {exc}", file=sys.stderr, flush=True)
                raise SystemExit(1) from None
        return _app
    raise AttributeError(name)
