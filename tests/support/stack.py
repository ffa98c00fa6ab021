"""A whole bridge for one test: real Redis, the real sandbox over HTTP, real Celery worker processes,
and the Flask app (ingress) built by the same factory production uses.

Each stack gets its own Redis key prefix and Celery queue, so tests share one redis-server and one
sandbox without seeing each other.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

import redis
import yaml

from bridge import create_app
from workers.config import load_config
from bridge.cli.serve import DEFAULT_CONCURRENCY, DEFAULT_POOL
from tests.support.worker import WorkerProcess

TOKEN = "test-token"
ADMIN = "test-admin"
_seq = itertools.count(1)
RULES_DIR = Path(__file__).resolve().parents[1] / "integration" / "rules"


class BridgeStack:
    def __init__(self, tmp: Path, redis_url: str, sandbox: Any, *, rules: Iterable[str | Path] | None = None,
                 worker: dict[str, Any] | None = None, cstar: dict[str, Any] | None = None,
                 sources: dict[str, Any] | None = None, clock: Any = None,
                 settings: dict[str, Any] | None = None, default_worker: bool = False) -> None:
        n = next(_seq)
        self.tmp = tmp
        self.sandbox = sandbox
        self.redis_url = redis_url
        self.prefix = f"t{os.getpid()}-{n}:"
        self.queue = f"q{os.getpid()}-{n}"
        self.workers: list[WorkerProcess] = []
        cfg = {
            "redis_url": redis_url,
            "key_prefix": self.prefix,
            "queue": self.queue,
            "admin_token": ADMIN,
            "cstar": {"api_url": sandbox.url, "team_id": "team_dev", "api_key": "sk_test_dev",
                      "read_timeout": 5, "connect_timeout": 2, **(cstar or {})},
            "sources": sources or {
                "demo": {"adapter": "json", "verify": {"scheme": "token", "secret": TOKEN}},
                "forms": {"adapter": "form", "verify": {"scheme": "token", "secret": TOKEN}},
            },
            "rules": [str(p) for p in (rules or [RULES_DIR / "basic.yaml"])],
            # default_worker: the `worker:` section holds only what the test names (production defaults)
            "worker": dict(worker or {}) if default_worker else {
                "reconcile_interval": 2, "reconcile_after": 20, "max_retries": 4,
                "retry_backoff_base": 0.5, "retry_backoff_cap": 2.0, "visibility_timeout": 300,
                "task_time_limit": 60, "task_soft_time_limit": 50, "soft_shutdown_timeout": 10,
                **(worker or {})},
            **(settings or {}),  # other top-level keys of bridge.yaml
        }
        self.config_path = tmp / f"bridge-{n}.yaml"
        self.config_path.write_text(yaml.safe_dump(cfg))
        self.config = load_config(self.config_path, env={})
        self.app = create_app(self.config, clock=clock)
        self.http = self.app.test_client()
        self.redis = redis.Redis.from_url(redis_url)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "CSTAR_", "REDIS_URL"))}
        self.env.update(BRIDGE_CONFIG=str(self.config_path), PYTHONUNBUFFERED="1")

    # processes -----------------------------------------------------------------------------------
    def start_worker(self, concurrency: int = DEFAULT_CONCURRENCY, pool: str = DEFAULT_POOL,
                     args: list[str] | None = None) -> WorkerProcess:
        """A worker started as `cstar-bridge worker` starts it (its pool and concurrency) unless told."""
        name = f"w{len(self.workers) + 1}"
        w = WorkerProcess(self.env, self.tmp / f"{self.queue}-{name}.log", queue=self.queue,
                          concurrency=concurrency, pool=pool, name=f"{name}-{self.queue}", args=args)
        self.workers.append(w)
        return w.start()

    def close(self) -> None:
        for w in self.workers:
            w.stop()

    # ingress -------------------------------------------------------------------------------------
    def post(self, source: str = "demo", body: Any = None, *, headers: dict[str, str] | None = None,
             token: str | None = TOKEN, form: dict[str, Any] | None = None, raw: bytes | None = None,
             content_type: str | None = None) -> Any:
        h = dict(headers or {})
        if token is not None:
            h.setdefault("X-Bridge-Token", token)
        if form is not None:
            return self.http.post(f"/hooks/{source}", data=form, headers=h)
        if raw is not None:
            return self.http.post(f"/hooks/{source}", data=raw, headers=h,
                                  content_type=content_type or "application/json")
        return self.http.post(f"/hooks/{source}", data=json.dumps(body), headers=h,
                              content_type=content_type or "application/json")

    def accepted_id(self, resp: Any) -> str:
        assert resp.status_code in (200, 202), (resp.status_code, resp.get_json())
        return str(resp.get_json()["data"]["eventId"])

    # state ---------------------------------------------------------------------------------------
    def event(self, event_id: str) -> dict[str, Any]:
        store = self.app.extensions["cstar_bridge"].store
        return store.load(event_id) or {}

    def shown(self, event_id: str) -> dict[str, Any]:
        """The event as the event API, the console and `cstar-bridge events show` give it (its trace
        worded from the kept verdicts; `event` gives the stored fields)."""
        from bridge.event_detail import event_detail
        return event_detail(self.app.extensions["cstar_bridge"].store, self.config, event_id) or {}

    def wait_for(self, event_ids: Iterable[str], *, statuses: tuple[str, ...] = ("done",),
                 timeout: float = 60.0) -> dict[str, dict[str, Any]]:
        """Wait until every event is terminal; fail with the stragglers' states otherwise."""
        ids = list(event_ids)
        deadline = time.monotonic() + timeout
        terminal = ("done", "dead", "ignored", "failed")
        while True:
            events = {eid: self.event(eid) for eid in ids}
            waiting = {eid: ev.get("status") for eid, ev in events.items() if ev.get("status") not in terminal}
            if not waiting:
                break
            if time.monotonic() > deadline:
                logs = "\n".join(w.log_tail(30) for w in self.workers)
                raise AssertionError(f"{len(waiting)} event(s) not finished after {timeout} s: "
                                     f"{dict(list(waiting.items())[:5])}\n{logs}")
            time.sleep(0.1)
        wrong = {eid: (ev.get("status"), ev.get("reason")) for eid, ev in events.items()
                 if ev.get("status") not in statuses}
        assert not wrong, f"unexpected outcomes: {dict(list(wrong.items())[:5])}"
        return events

    def customers(self) -> list[dict[str, Any]]:
        return list(self.sandbox.customers("team_dev"))

    def customer(self, email: str) -> dict[str, Any]:
        found = [c for c in self.customers() if c["email"].lower() == email.lower()]
        assert len(found) == 1, f"expected one customer {email}, found {len(found)}"
        return found[0]

    def pending(self) -> int:
        return int(self.redis.zcard(f"{self.prefix}pending"))

    def queue_length(self) -> int:
        return int(self.redis.llen(self.queue))
