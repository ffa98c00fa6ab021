"""The per-process worker context: Redis, the store, the API client, the limiter, the rules.

Built lazily in each process (after Celery forks its pool), never shared across a fork.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import redis

from rules import Ruleset, load_ruleset
from workers.client import CallRecord, CstarClient
from workers.coalesce import Inbox
from workers.config import Config
from workers.executor import CustomerIds
from workers.liveness import start_process_heartbeat
from workers.locks import CustomerLocks
from workers.ordering import OrderMarks
from workers.ratelimit import SharedRateLimiter
from workers.store import EventStore


def redis_client(url: str) -> redis.Redis:
    """A Redis client with timeouts and keep-alive (the same settings everywhere)."""
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, socket_keepalive=True,
                                health_check_interval=25, retry_on_timeout=True)


def make_store(config: Config, client: redis.Redis) -> EventStore:
    return EventStore(client, prefix=config.key_prefix, idempotency_ttl=config.idempotency_ttl,
                      event_ttl=config.event_ttl, look_again_after=config.worker.reconcile_after)


@dataclass
class WorkerContext:
    config: Config
    redis: redis.Redis
    store: EventStore
    client: CstarClient
    limiter: SharedRateLimiter
    locks: CustomerLocks
    ids: CustomerIds
    ruleset: Ruleset
    verify_tags: bool = False
    coalesce: bool = True
    inbox: Any = None
    order: Any = None  # workers.ordering.OrderMarks
    calls: list[dict[str, Any]] = field(default_factory=list)

    def before_request(self, method: str, path: str) -> None:
        """Wait for a rate-limit slot; a write must still hold its customers' locks (fencing)."""
        self.limiter.before_request(method, path)
        if method != "GET":
            self.locks.fence()

    def on_response(self, record: CallRecord) -> None:
        """Count every API call of the current event; a 429 cools every process down."""
        self.calls.append({"method": record.method, "path": record.path, "status": record.status,
                           "ms": round(record.duration_ms, 1), "error": record.error})
        if record.status == 429:
            self.limiter.cool_down(record.retry_after or 60.0)


def build_context(config: Config) -> WorkerContext:
    r = redis_client(config.redis_url)
    team = config.cstar.team_id or "default"
    limiter = SharedRateLimiter(r, key=f"{config.key_prefix}ratelimit:{team}",
                                per_minute=config.cstar.rate_limit_per_minute, burst=config.cstar.rate_limit_burst)
    ctx = WorkerContext(
        config=config, redis=r, store=make_store(config, r),
        client=None,  # type: ignore[arg-type]  # set below: its hooks need the context
        limiter=limiter,
        locks=CustomerLocks(r, prefix=config.key_prefix, lease=config.worker.lock_lease,
                            enabled=config.worker.customer_locks, renew=config.worker.lock_renewal),
        ids=CustomerIds(r, prefix=config.key_prefix, team=team),
        ruleset=load_ruleset(config.rule_paths()),
        verify_tags=config.worker.verify_tags,
        coalesce=config.worker.coalesce and config.worker.customer_locks,
        inbox=Inbox(r, prefix=config.key_prefix),
    )
    ctx.order = OrderMarks(ctx.store, team=team, ttl=config.event_ttl)
    ctx.client = CstarClient.from_config(config.cstar, before_request=ctx.before_request,
                                         on_response=ctx.on_response)
    if config.worker.liveness:
        ctx.store.owner = ctx.locks.owner = start_process_heartbeat(
            r, config.key_prefix, config.worker.heartbeat_interval, config.worker.heartbeat_ttl)
        ctx.locks.heartbeats = f"{config.key_prefix}hb:"
    return ctx


_contexts: dict[int, WorkerContext] = {}


def context_for(config: Config) -> WorkerContext:
    """This process's context (rebuilt in a forked child, never inherited)."""
    pid = os.getpid()
    ctx = _contexts.get(pid)
    if ctx is None:
        _contexts.clear()
        ctx = _contexts[pid] = build_context(config)
    return ctx
