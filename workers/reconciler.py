"""Re-enqueue events the ledger says are accepted but unfinished after a while.

Celery on Redis can lose a task (a worker killed between BRPOP and the unacked bookkeeping, a
retry that failed to publish, a restore racing a restart). The ledger (`pending` zset) is written by
the ingress before it enqueues, so this loop closes every such window. It runs in each worker's
main process; a short Redis lock makes one worker do each round. Re-enqueueing an event that is
merely slow is harmless: completion records and note markers make a second run apply nothing twice.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from workers.config import Config
from workers.store import TERMINAL, EventStore

log = logging.getLogger("cstar_bridge.reconciler")


def reconcile_once(store: EventStore, enqueue: Any, *, after: float, now: float | None = None) -> int:
    """Re-enqueue due, unfinished ledger entries; drop finished ones. Returns how many were sent."""
    now = time.time() if now is None else now
    sent = 0
    for event_id in store.due(now - after):
        ev = store.load(event_id)
        if ev is None or ev.get("status") in TERMINAL:
            store.r.zrem(store.pending_key, event_id)
            continue
        enqueue(event_id)
        store.touch_pending(event_id, now)
        sent += 1
    if sent:
        log.warning("reconciler re-enqueued %d unfinished event(s)", sent)
    return sent


def install(app: Celery, config: Config) -> None:
    """Start the reconciler loop when a worker is ready; stop it on shutdown."""
    if not config.worker.reconciler:
        return
    stop = threading.Event()

    def loop() -> None:
        from workers.runtime import make_store, redis_client
        from workers.tasks import PROCESS_EVENT

        r = redis_client(config.redis_url)
        store = make_store(config, r)
        interval = config.worker.reconcile_interval
        while not stop.is_set():
            try:
                if r.set(f"{config.key_prefix}reconciler", "1", nx=True, ex=max(1, interval - 1)):
                    reconcile_once(store, lambda eid: app.send_task(PROCESS_EVENT, args=[eid]),
                                   after=config.worker.reconcile_after)
            except Exception:  # Redis down: try again next round, never die
                log.exception("reconciler round failed")
            stop.wait(interval)

    def on_ready(sender: Any = None, **_: Any) -> None:
        if sender is not None and getattr(sender, "app", app) is not app:
            return
        threading.Thread(target=loop, name="cstar-reconciler", daemon=True).start()

    worker_ready.connect(on_ready, weak=False)
    worker_shutdown.connect(lambda **_: stop.set(), weak=False)
