"""The worker's context: what a process shares between its tasks, and what each task has of its own.

`WorkerContext` (one per process, built lazily after Celery forks a prefork pool, never shared across
a fork): Redis, the store, the API client's connection pool, the limiter, the locks' registry, the
rules. Every part of it is safe to use from many tasks at once (threads or greenlets): redis-py and
urllib3 check a connection out of their pools per command, the limiter and the id cache keep their
state in Redis, the locks' registry is guarded by a mutex.

`TaskContext` (one per task, `WorkerContext.for_task()`): the same shared parts, plus what belongs to
one event only — the API calls it made and the customer locks it holds, which fence its own writes.
With many tasks running in one process, nothing of one event leaks into another's.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import redis

from rules import Ruleset, load_ruleset
from workers.client import CallRecord, CstarClient
from workers.coalesce import Inbox
from workers.config import Config
from workers.event_steps import EventSteps
from workers.executor import CustomerIds
from workers.kept_rules import KeptRules, kept_rules_ttl
from workers.liveness import start_process_heartbeat
from workers.locks import CustomerLocks, TaskLocks
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
    """One process's shared parts (see the module docstring)."""

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
    steps: Any = None  # workers.event_steps.EventSteps
    kept: Any = None   # workers.kept_rules.KeptRules: the rule set kept for wording traces later

    def for_task(self) -> TaskContext:
        """A context for one task: the shared parts, its own call log and its own locks."""
        task = TaskContext(config=self.config, redis=self.redis, store=self.store, client=self.client,
                           limiter=self.limiter, locks=TaskLocks(self.locks), ids=self.ids, ruleset=self.ruleset,
                           verify_tags=self.verify_tags, coalesce=self.coalesce, inbox=self.inbox, order=self.order,
                           steps=self.steps, kept=self.kept)
        task.client = self.client.with_hooks(before_request=task.before_request, on_response=task.on_response)
        return task


@dataclass
class TaskContext:
    """One task's context: the process's shared parts, the API calls this event made, the locks it holds."""

    config: Config
    redis: redis.Redis
    store: EventStore
    client: CstarClient       # shares the process's connection pool; its hooks are this task's
    limiter: SharedRateLimiter
    locks: TaskLocks
    ids: CustomerIds
    ruleset: Ruleset
    verify_tags: bool = False
    coalesce: bool = True
    inbox: Any = None
    order: Any = None
    steps: Any = None
    kept: Any = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def before_request(self, method: str, path: str) -> None:
        """Wait for a rate-limit slot; a write must still hold this task's customer locks (fencing,
        checked in the same round trip as the slot)."""
        self.limiter.before_request(method, path, fence=self.locks.fence_tokens() if method != "GET" else ())

    def on_response(self, record: CallRecord) -> None:
        """Count every API call of this event; a 429 cools every process down."""
        self.calls.append({"method": record.method, "path": record.path, "status": record.status,
                           "ms": round(record.duration_ms, 1), "error": record.error})
        if record.status == 429:
            self.limiter.cool_down(record.retry_after or 60.0)


def build_context(config: Config, concurrency: int = 1) -> WorkerContext:
    r = redis_client(config.redis_url)
    team = config.cstar.team_id or "default"
    limiter = SharedRateLimiter(r, key=f"{config.key_prefix}ratelimit:{team}",
                                per_minute=config.cstar.rate_limit_per_minute, burst=config.cstar.rate_limit_burst)
    ctx = WorkerContext(
        config=config, redis=r, store=make_store(config, r),
        # Sized for the pool's concurrency: every task in flight keeps its own keep-alive connection.
        client=CstarClient.from_config(config.cstar, max_connections=max(20, concurrency)),
        limiter=limiter,
        locks=CustomerLocks(r, prefix=config.key_prefix, lease=config.worker.lock_lease,
                            enabled=config.worker.customer_locks, renew=config.worker.lock_renewal),
        ids=CustomerIds(r, prefix=config.key_prefix, team=team),
        ruleset=load_ruleset(config.rule_paths()),
        verify_tags=config.worker.verify_tags,
        coalesce=config.worker.coalesce and config.worker.customer_locks,
        inbox=Inbox(r, prefix=config.key_prefix),
        kept=KeptRules(r, config.key_prefix, kept_rules_ttl(config)),
    )
    ctx.order = OrderMarks(ctx.store, team=team, ttl=config.event_ttl)
    ctx.steps = EventSteps(ctx.store, inbox=ctx.inbox, order=ctx.order, ids=ctx.ids)
    if config.worker.liveness:
        ctx.store.owner = ctx.locks.owner = start_process_heartbeat(
            r, config.key_prefix, config.worker.heartbeat_interval, config.worker.heartbeat_ttl)
        ctx.locks.heartbeats = f"{config.key_prefix}hb:"
    return ctx


_contexts: dict[int, WorkerContext] = {}
_building = threading.Lock()
_concurrency = 1   # tasks one process runs at once (set from the worker's pool at start; sizes the HTTP pool)


def set_concurrency(n: int) -> None:
    """Record how many tasks a process of this worker runs at once (1 for a prefork child)."""
    global _concurrency
    _concurrency = max(1, n)


def context_for(config: Config) -> WorkerContext:
    """This process's context (rebuilt in a forked child, never inherited); built once even when the
    first tasks of a threads or gevent pool ask for it at the same time."""
    pid = os.getpid()
    ctx = _contexts.get(pid)
    if ctx is None:
        with _building:
            ctx = _contexts.get(pid)
            if ctx is None:
                _contexts.clear()
                ctx = _contexts[pid] = build_context(config, _concurrency)
    return ctx
