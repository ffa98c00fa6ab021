"""Bring back what Celery on Redis can strand: a dead worker's events within seconds, anything else late.

Two rounds run from a thread in each worker's main process; a short Redis lock makes one worker do
each round at a time:

- the liveness round, every `heartbeat_interval` s (workers.liveness): a worker whose heartbeat has
  expired is dead — its delivered-but-unacknowledged messages go back to the head of the queue and
  its `processing` events back to `queued`. Nothing a live worker holds, nothing waiting in the
  queue, is touched.
- the age sweep, every `reconcile_interval` s, the last resort: a ledger entry whose time to look
  again has come (`reconcile_after` s after its last step) and that no message carries any more —
  not on the queue, not delivered to anyone — is enqueued again. This closes the windows liveness
  cannot see (a worker killed between BRPOP and kombu's bookkeeping, a retry that failed to publish).

And when a worker's consumer reconnects to Redis it gives back what the lost connection voided: the
messages it held, and any unfinished event that no message carries any more (`give_back_lost`: a
message taken off the queue just before the connection broke, before kombu recorded the delivery).

Re-enqueueing an event that is merely slow is harmless: completion records and note markers make a
second run apply nothing twice. It is only wasteful, which is why both rounds look before they push.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from celery import Celery, bootsteps
from celery.signals import worker_init, worker_ready, worker_shutdown
from celery.worker.request import Request

from workers import liveness
from workers.config import Config
from workers.store import TERMINAL, EventStore

log = logging.getLogger("cstar_bridge.reconciler")

InFlight = Callable[[], "set[str] | None"]


SECOND_LOOK = 0.2  # s: a worker records a message it took off the queue a moment after taking it


def reconcile_once(store: EventStore, enqueue: Any, *, after: float, now: float | None = None,
                   in_flight: InFlight | None = None) -> int:
    """The age sweep: re-enqueue due, unfinished ledger entries that no message carries; drop finished
    ones; look again `after` s later at the rest. `in_flight` gives the event ids on the queue or
    delivered (None: unknown this round, so nothing is re-enqueued). An entry no message seems to
    carry is looked at again `SECOND_LOOK` s later: kombu takes a message off the queue (BRPOP) and
    records the delivery in a second round trip, so a message being received carries its event in
    neither place for that moment. Returns how many were sent."""
    now = time.time() if now is None else now
    flying: set[str] | None = None
    checked = False
    lost: list[str] = []
    for event_id in store.due(now):
        ev = store.load(event_id)
        if ev is None or ev.get("status") in TERMINAL:
            store.r.zrem(store.pending_key, event_id)
            continue
        if in_flight is not None and not checked:
            flying, checked = in_flight(), True
            if flying is None:
                log.info("age sweep: the queue is too long to read this round; waiting events left alone")
        if in_flight is not None and (flying is None or event_id in flying):
            store.touch_pending(event_id, now + after)   # on the queue or delivered: it will run
            continue
        lost.append(event_id)
    if lost and in_flight is not None:
        time.sleep(SECOND_LOOK)
        again = in_flight()
        if again is None:   # too long to read this time: leave them to the next round
            again = set(lost)
        for event_id in [e for e in lost if e in again]:
            store.touch_pending(event_id, now + after)
        lost = [e for e in lost if e not in again]
    sent = 0
    for event_id in lost:
        enqueue(event_id)
        store.touch_pending(event_id, now + after)
        sent += 1
    if sent:
        log.warning("age sweep re-enqueued %d unfinished event(s) that no message carried", sent)
    return sent


def give_back_lost(store: EventStore, r: Any, queue: str, push: Callable[[str], None], *, after: float,
                   cap: int = 50_000, why: str = "reconnected") -> int:
    """After a reconnect to Redis: put back on the queue every unfinished event that no message carries
    any more, now rather than at the age sweep. A broker connection lost between kombu's BRPOP and its
    record of the delivery (a separate round trip) leaves the message only in the memory of the worker
    that lost it; the connection loss voids it there. Unfinished events are read first, then what the
    queue and the deliveries carry, so an event accepted in between is never taken for lost. Returns
    how many were sent (0 when the queue is too long to read: the age sweep remains)."""
    ids = store.due(float("inf"), limit=cap)
    if not ids:
        return 0
    pipe = r.pipeline(transaction=False)
    for eid in ids:
        pipe.hget(store.event_key(eid), "status")
    statuses = pipe.execute()
    flying = liveness.in_flight_event_ids(r, queue)
    if flying is None:
        return 0
    sent = 0
    for eid, status in zip(ids, statuses):
        if status is None or _text(status) in TERMINAL or eid in flying:
            continue
        push(eid)
        store.touch_pending(eid, time.time() + after)
        sent += 1
    if sent:
        log.warning("%s: %d unfinished event(s) that no message carried went back on the queue", why, sent)
    return sent


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _front_pusher(app: Celery, config: Config, r: Any) -> Callable[[str], None]:
    """Put a task at the head of the queue: an event that already waited should not wait behind a backlog."""
    from workers.enqueue import TaskMessages
    from workers.tasks import PROCESS_EVENT

    messages = TaskMessages(app, config.queue)

    def push_front(eid: str) -> None:
        if config.effective_broker_url == config.redis_url:
            r.rpush(config.queue, messages.build(eid))
        else:
            app.send_task(PROCESS_EVENT, args=[eid])

    return push_front


# --- the worker's side: which messages this worker holds ------------------------------------------

_held: liveness.HeldTags | None = None
# The same, in this process's memory: what the Redis record missed because Redis was going away just then
# is still known here, and given back on reconnecting.
_held_here: set[str] = set()
_held_here_lock = threading.Lock()


def _track(tag: Any, *, add: bool) -> None:
    if _held is None or tag is None:
        return
    with _held_here_lock:
        (_held_here.add if add else _held_here.discard)(str(tag))
    try:
        (_held.add if add else _held.remove)(str(tag))
    except Exception:  # Redis away: the record in memory still gives it back on reconnecting
        log.warning("could not record delivery tag %s", tag, exc_info=True)


def _take_held_here() -> set[str]:
    """The tags this process received and has not settled; cleared (a reconnect voids them all)."""
    with _held_here_lock:
        tags = set(_held_here)
        _held_here.clear()
    return tags


class TrackedRequest(Request):
    """Celery's task request, recording in Redis which messages this worker holds until it acks them."""

    def __init__(self, message: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(message, *args, **kwargs)
        _track(getattr(message, "delivery_tag", None), add=True)

    def acknowledge(self) -> None:
        super().acknowledge()
        self._settled()

    def reject(self, requeue: bool = False) -> None:
        super().reject(requeue=requeue)
        self._settled()

    def _settled(self) -> None:
        """Forget the message only if Redis took the ack or reject: Celery logs a failed one (the
        connection was lost) and carries on, and the message must then be given back on reconnecting."""
        if getattr(self.message, "acknowledged", True):
            _track(getattr(self.message, "delivery_tag", None), add=False)


# --- wiring ----------------------------------------------------------------------------------------

def _consumer_restarts(config: Config) -> type:
    """A consumer bootstep: when the consumer restarts after losing its broker connection, the messages
    it had received are void (Celery dropped them, and kombu could not put them back with Redis away),
    so this worker gives them back to the queue itself instead of leaving them to the visibility timeout."""

    class GiveBackOnReconnect(bootsteps.StartStopStep):
        requires = {"celery.worker.consumer.tasks:Tasks"}

        def __init__(self, parent: Any, **kwargs: Any) -> None:
            super().__init__(parent, **kwargs)
            self.starts = 0

        def start(self, parent: Any) -> None:
            self.starts += 1
            if self.starts == 1 or not liveness.main_id():
                return
            from workers.runtime import make_store, redis_client

            r = redis_client(config.redis_url)
            reaper = liveness.Reaper(r, prefix=config.key_prefix, queue=config.queue,
                                     look_again_after=config.worker.reconcile_after, push_front=lambda eid: None)
            try:
                restored = reaper.restore_held(liveness.main_id(), also=_take_held_here())
                if restored:
                    log.warning("reconnected: gave back %d message(s) received before the connection was lost",
                                len(restored))
                if config.effective_broker_url == config.redis_url:
                    give_back_lost(make_store(config, r), r, config.queue, _front_pusher(parent.app, config, r),
                                   after=config.worker.reconcile_after)
            except Exception:  # still no Redis: the age sweep remains
                log.exception("could not give back the messages held before the reconnect")

    return GiveBackOnReconnect


def install(app: Celery, config: Config) -> None:
    """Start heartbeats and the reconciler rounds in a worker; stop them on shutdown."""
    w = config.worker
    if not (w.reconciler or w.liveness):
        return
    stop = threading.Event()
    beat: list[liveness.Heartbeat] = []

    def ours(sender: Any) -> bool:
        return sender is None or getattr(sender, "app", app) is app

    def on_init(sender: Any = None, **_: Any) -> None:
        global _held
        if not ours(sender) or not w.liveness:
            return
        from workers.runtime import redis_client

        r = redis_client(config.redis_url)
        ident = liveness.new_main_id()
        _held = liveness.HeldTags(r, config.key_prefix)
        beat.append(liveness.Heartbeat(r, liveness.Keys(config.key_prefix), ident, w.heartbeat_interval,
                                       w.heartbeat_ttl, register=True).start())

    def loop() -> None:
        from workers.runtime import make_store, redis_client
        from workers.tasks import PROCESS_EVENT

        r = redis_client(config.redis_url)
        store = make_store(config, r)
        same_redis = config.effective_broker_url == config.redis_url
        push_front = _front_pusher(app, config, r)
        reaper = liveness.Reaper(r, prefix=config.key_prefix, queue=config.queue,
                                 look_again_after=w.reconcile_after, push_front=push_front)
        in_flight = (lambda: liveness.in_flight_event_ids(r, config.queue)) if same_redis else None
        interval = w.heartbeat_interval if w.liveness else w.reconcile_interval
        next_sweep = 0.0
        while not stop.is_set():
            try:
                if w.liveness and r.set(f"{config.key_prefix}reconciler:live", "1", nx=True,
                                        px=max(100, int(interval * 900))):
                    if reaper.round().dead_workers and same_redis:
                        # A worker killed between kombu's BRPOP and its record of the delivery took the
                        # message with it (no record anywhere): its event goes back now, not at the sweep.
                        give_back_lost(store, r, config.queue, push_front, after=w.reconcile_after,
                                       why="a worker died")
                if w.reconciler and time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + w.reconcile_interval
                    if r.set(f"{config.key_prefix}reconciler", "1", nx=True, ex=max(1, w.reconcile_interval - 1)):
                        reconcile_once(store, lambda eid: app.send_task(PROCESS_EVENT, args=[eid]),
                                       after=w.reconcile_after, in_flight=in_flight)
            except Exception:  # Redis down: try again next round, never die
                log.exception("reconciler round failed")
            stop.wait(interval)

    def on_ready(sender: Any = None, **_: Any) -> None:
        if ours(sender):
            threading.Thread(target=loop, name="cstar-reconciler", daemon=True).start()

    def on_shutdown(sender: Any = None, **_: Any) -> None:
        stop.set()
        for hb in beat:
            hb.stop(forget=False)   # kombu restores what we held; the heartbeat simply runs out

    if w.liveness:
        app.steps["consumer"].add(_consumer_restarts(config))
    worker_init.connect(on_init, weak=False)
    worker_ready.connect(on_ready, weak=False)
    worker_shutdown.connect(on_shutdown, weak=False)
