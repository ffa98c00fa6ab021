"""The Celery app, built from the same Config as the bridge, with reliable defaults on Redis.

Why each setting: Redis can redeliver and lose tasks, so tasks ack late, a lost worker's task is
rejected back to the queue, each process prefetches one task, every countdown stays below the
visibility timeout (checked at start), and a reconciler re-enqueues whatever the ledger says is
unfinished.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_init

from workers.config import Config
from workers.errors import ConfigError
from workers.timing import max_countdown

log = logging.getLogger("cstar_bridge.worker")


def check_timing(config: Config) -> None:
    """Refuse a config whose retry delays or time limits could reach the visibility timeout."""
    w = config.worker
    if w.task_time_limit <= w.task_soft_time_limit:
        raise ConfigError("worker.task_time_limit must be above worker.task_soft_time_limit")
    if max_countdown(config) <= 0:
        raise ConfigError(f"worker.visibility_timeout ({w.visibility_timeout} s) must exceed "
                          f"task_time_limit ({w.task_time_limit} s) plus a 30 s margin")
    if w.retry_backoff_cap >= max_countdown(config):
        raise ConfigError(f"worker.retry_backoff_cap ({w.retry_backoff_cap} s) can reach the visibility timeout; "
                          f"keep it below {max_countdown(config):.0f} s or raise worker.visibility_timeout")
    if w.lock_lease <= config.cstar.connect_timeout + config.cstar.read_timeout:
        raise ConfigError("worker.lock_lease must be well above the API timeouts (connect + read)")
    if w.heartbeat_ttl < 3 * w.heartbeat_interval:
        raise ConfigError(f"worker.heartbeat_ttl ({w.heartbeat_ttl} s) must be at least three heartbeat "
                          f"intervals ({3 * w.heartbeat_interval} s), or a busy worker would be taken for dead")
    worst = worst_case_hold(config)
    if not w.lock_renewal and w.lock_lease < worst:
        # Only the negative control of the lease test runs like this: say loudly that it is unsafe.
        log.warning("worker.lock_renewal is off and worker.lock_lease (%s s) is shorter than the longest a "
                    "holder may keep a customer (%.0f s): concurrent events can lose tags", w.lock_lease, worst)


def worst_case_hold(config: Config) -> float:
    """The longest one event may hold a customer's lock: every write of a drained burst (a GET and a
    PATCH each) waiting the limiter's longest sleep and the API's timeouts, plus the linger between
    writes (workers.coalesce). The lease is renewed every
    third of itself while held, so it needs to cover only a pause, not this; without renewal it would."""
    from workers.coalesce import LINGER_MAX
    from workers.pipeline import _DRAIN_ROUNDS
    from workers.ratelimit import SharedRateLimiter

    per_call = SharedRateLimiter.max_sleep + config.cstar.connect_timeout + config.cstar.read_timeout
    return _DRAIN_ROUNDS * (2 * per_call + LINGER_MAX)


def create_celery(config: Config) -> Celery:
    """A Celery app for this config, with the process_event task registered."""
    check_timing(config)
    w = config.worker
    app = Celery("cstar_bridge", broker=config.effective_broker_url, set_as_current=False)
    transport = {
        "visibility_timeout": w.visibility_timeout,
        "socket_timeout": 10, "socket_connect_timeout": 5, "socket_keepalive": True,
        "health_check_interval": 25, "retry_on_timeout": True,
    }
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,          # + the delivery-count guard against poison loops
        worker_prefetch_multiplier=1,
        task_time_limit=w.task_time_limit,
        task_soft_time_limit=w.task_soft_time_limit,
        task_serializer="json", accept_content=["json"], result_serializer="json",
        task_ignore_result=True, result_backend=None,
        broker_transport_options=transport,
        # kombu's Redis transport with the repair of workers.broker (a redis:// broker; others keep their own)
        **({"broker_transport": "workers.broker:Transport"}
           if config.effective_broker_url.startswith("redis://") else {}),
        visibility_timeout=w.visibility_timeout,
        task_default_queue=config.queue,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_soft_shutdown_timeout=w.soft_shutdown_timeout,
        worker_max_memory_per_child=w.max_memory_per_child_mib * 1024 or None,  # KiB; prefork (else pool_guards)
        worker_enable_soft_shutdown_on_idle=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        # An ingress must not hang when Redis is down: fail fast, answer 503, the sender retries.
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.05, "interval_step": 0.1,
                                   "interval_max": 0.25},
        broker_heartbeat=0,
    )
    from workers import pool_guards, reconciler, tasks

    @worker_init.connect(weak=False)
    def size_for_the_pool(sender: Any = None, **_: Any) -> None:
        """A threads or gevent process runs `concurrency` tasks at once: its HTTP pool is sized for them."""
        if sender is not None and getattr(sender, "app", None) is app:
            from workers.runtime import set_concurrency

            set_concurrency(int(getattr(sender, "concurrency", 1) or 1))

    tasks.register(app, config)
    reconciler.install(app, config)
    pool_guards.install(app, config)   # time limits and the memory guard on the threads pool
    return app
