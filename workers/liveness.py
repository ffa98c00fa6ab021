"""Worker liveness: heartbeats, who holds what, and recovering what a dead worker held — in seconds.

Keys (under `Config.key_prefix`):

    workers            hash: worker id -> {"host", "pid", "started"}   every worker that has run here
    hb:<id>            a heartbeat, expires after `heartbeat_ttl`      one per worker and per pool process
    held:<worker id>   set of delivery tags                             messages the worker took off the queue
    holder             hash: delivery tag -> worker id                  who holds each (a redelivered message
                                                                        keeps its tag: the latest receiver wins)
    owned:<worker id>  set of event ids                                 events its pool processes are processing

A worker id is `host:pid:nonce` (the nonce tells a restarted process that reuses a pid from its
predecessor); a pool process is `<worker id>/<pid>`, and an event being processed records it as its
`owner`. The main process adds a message's delivery tag to `held:` when it receives the message and
removes it when it acks or rejects it; kombu keeps the message itself in its `unacked` hash until then.

`recover_dead_workers` (one reconciler at a time, every `heartbeat_interval`) looks at every registered
worker: one whose heartbeat has expired is dead — killed with its whole host, no shutdown hook run —
so its unacked messages go back to the head of the queue and its `processing` events back to
`queued` (re-enqueued if no restored message carries them). A live worker's messages and events, and
whatever merely waits in the queue, are never touched: the cost of a round is one pipeline of
EXISTS per worker plus the work a death leaves behind.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import redis

log = logging.getLogger("cstar_bridge.liveness")

_main_id = ""          # this worker's id, set in the main process before the pool forks (children inherit it)
_process: dict[int, "Heartbeat"] = {}   # pid -> the heartbeat of this process

# Requeue a processing event whose owner is dead: only if it is still processing under that owner.
_REQUEUE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'processing' then return 0 end
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return 0 end
if ARGV[1] ~= '' and owner ~= ARGV[1] then return 0 end
if ARGV[1] == '' and string.sub(owner, 1, string.len(ARGV[2]) + 1) ~= ARGV[2] .. '/' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'queued', 'requeued_from', owner, 'updated_at', ARGV[3])
redis.call('HDEL', KEYS[1], 'owner')
redis.call('ZADD', KEYS[2], 'XX', tonumber(ARGV[4]), ARGV[5])
return 1
"""

# Move one unacked message back to the head of the queue, if it is still exactly what we read and
# the worker is still its holder (not a live worker that received it again since), or it has no
# recorded holder (the record was lost with the connection to Redis).
_RESTORE = """
local holder = redis.call('HGET', KEYS[4], ARGV[1])
if holder and holder ~= ARGV[4] then return 0 end
redis.call('HDEL', KEYS[4], ARGV[1])
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[3])
return 1
"""

# An unacked message of our queue that no worker ever recorded holding: its receiver died between
# kombu's record of the delivery and its own (milliseconds; longer when many task threads share the
# process's GIL). Back to the head of the queue, if it is still exactly what we read.
_RESTORE_UNCLAIMED = """
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then return 0 end
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[3])
return 1
"""

UNACKED = "unacked"            # kombu's Redis transport: delivery tag -> [message, exchange, routing key]
UNACKED_INDEX = "unacked_index"
# The event id in a task message: ['evt_…'] as enqueued, ('evt_…',) as a retry publishes it.
_ARGSREPR = re.compile(rb'"argsrepr": ?"[\[(]\'([^\'"\\]+)\',?[\])]"')


def main_id() -> str:
    """This worker's id ("" outside a Celery worker)."""
    return _main_id


def owner_id() -> str:
    """The id an event records as its owner while this process processes it ("" outside a worker)."""
    return f"{_main_id}/{os.getpid()}" if _main_id else ""


def worker_of(owner: str) -> str:
    return owner.split("/", 1)[0]


def new_main_id() -> str:
    """Called once in a worker's main process, before its pool forks."""
    global _main_id
    _main_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return _main_id


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.workers = f"{prefix}workers"
        self.holder = f"{prefix}holder"

    def hb(self, ident: str) -> str:
        return f"{self.prefix}hb:{ident}"

    def held(self, worker: str) -> str:
        return f"{self.prefix}held:{worker}"

    def owned(self, worker: str) -> str:
        return f"{self.prefix}owned:{worker}"


@dataclass
class Heartbeat:
    """Keeps `hb:<ident>` alive from a daemon thread; the first beat is written before `start` returns."""

    r: redis.Redis
    keys: Keys
    ident: str
    interval: float
    ttl: float
    register: bool = False   # the main process also (re)registers itself in `workers`
    _stop: threading.Event = field(default_factory=threading.Event)

    def beat(self) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.set(self.keys.hb(self.ident), repr(time.time()), px=int(self.ttl * 1000))
        if self.register:
            host, pid, _ = self.ident.split(":", 2) if self.ident.count(":") >= 2 else (self.ident, "", "")
            pipe.hset(self.keys.workers, self.ident, json.dumps({"host": host, "pid": pid}))
        pipe.execute()

    def start(self) -> "Heartbeat":
        self.beat()
        threading.Thread(target=self._run, name="cstar-heartbeat", daemon=True).start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception:  # Redis away: keep trying; a long outage reads as death, which is safe
                log.warning("heartbeat %s failed", self.ident, exc_info=True)

    def stop(self, *, forget: bool = True) -> None:
        self._stop.set()
        if forget:
            try:
                self.r.delete(self.keys.hb(self.ident))
            except redis.RedisError:
                pass


def start_process_heartbeat(r: redis.Redis, prefix: str, interval: float, ttl: float) -> str:
    """Start this pool process's heartbeat (once per process) and return its owner id ("" outside a worker)."""
    owner = owner_id()
    if not owner:
        return ""
    hb = _process.get(os.getpid())
    if hb is None:
        _process.clear()
        _process[os.getpid()] = Heartbeat(r, Keys(prefix), owner, interval, ttl).start()
    return owner


class HeldTags:
    """The main process's record of the messages it holds (delivery tags), for `recover_dead_workers`."""

    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.r = r
        self.keys = Keys(prefix)

    def add(self, tag: str) -> None:
        if _main_id:
            pipe = self.r.pipeline(transaction=False)
            pipe.sadd(self.keys.held(_main_id), tag)
            pipe.hset(self.keys.holder, tag, _main_id)
            pipe.execute()

    def remove(self, tag: str) -> None:
        if _main_id:
            pipe = self.r.pipeline(transaction=False)
            pipe.srem(self.keys.held(_main_id), tag)
            pipe.hdel(self.keys.holder, tag)
            pipe.execute()


@dataclass
class Recovery:
    dead_workers: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)      # event ids whose messages went back to the queue
    requeued: list[str] = field(default_factory=list)      # processing events put back to queued
    enqueued: list[str] = field(default_factory=list)      # of those, the ones that needed a new message

    def __bool__(self) -> bool:
        return bool(self.dead_workers or self.requeued)


def event_id_of(payload: dict[str, Any]) -> str | None:
    """The event id a `process_event` task message carries (its only argument)."""
    try:
        body = payload["body"]
        if payload.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return str(args[0]) if args else None
    except (KeyError, IndexError, TypeError, ValueError):
        return None


class Reaper:
    """Finds dead workers and gives back what they held (see the module docstring)."""

    def __init__(self, r: redis.Redis, *, prefix: str, queue: str, look_again_after: float,
                 push_front: Callable[[str], None]) -> None:
        self.r = r
        self.keys = Keys(prefix)
        self.prefix = prefix
        self.queue = queue
        self.look_again_after = look_again_after
        self.push_front = push_front
        self._requeue = r.register_script(_REQUEUE)
        self._restore = r.register_script(_RESTORE)
        self._restore_unclaimed = r.register_script(_RESTORE_UNCLAIMED)

    def alive(self, idents: list[str]) -> dict[str, bool]:
        pipe = self.r.pipeline(transaction=False)
        for ident in idents:
            pipe.exists(self.keys.hb(ident))
        return {ident: bool(n) for ident, n in zip(idents, pipe.execute())}

    def round(self) -> Recovery:
        """One round: recover every dead worker; tidy the ownership of live ones."""
        out = Recovery()
        workers = [_s(w) for w in self.r.hkeys(self.keys.workers)]
        if not workers:
            return out
        for worker, is_alive in self.alive(workers).items():
            if is_alive:
                self._tidy_live(worker, out)
            else:
                self._recover(worker, out)
        if out:
            log.warning("liveness: dead worker(s) %s; %d message(s) restored to the queue, %d processing "
                        "event(s) requeued (%d re-enqueued)", out.dead_workers, len(out.restored),
                        len(out.requeued), len(out.enqueued))
        return out

    def _recover(self, worker: str, out: Recovery) -> None:
        out.dead_workers.append(worker)
        restored = set(self.restore_held(worker)) | set(self.restore_unclaimed())
        out.restored.extend(restored)
        for eid in [_s(e) for e in self.r.smembers(self.keys.owned(worker))]:
            if self._requeue_event(eid, worker=worker, owner=""):
                out.requeued.append(eid)
                if eid not in restored:
                    self.push_front(eid)
                    out.enqueued.append(eid)
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.keys.held(worker), self.keys.owned(worker))
        pipe.hdel(self.keys.workers, worker)
        pipe.execute()

    def restore_held(self, worker: str, also: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Put every message `worker` still holds back at the head of the queue (those another worker
        has received since are left to it), with the tags in `also` (held by `worker`, known only to
        itself); the event ids they carry."""
        restored = []
        for tag in {_s(t) for t in self.r.smembers(self.keys.held(worker))} | set(also):
            eid = self._restore_tag(tag, worker)
            if eid:
                restored.append(eid)
        self.r.delete(self.keys.held(worker))
        return restored

    def restore_unclaimed(self, older_than: float = 10.0) -> list[str]:
        """Put back every message of this queue delivered more than `older_than` s ago (a live worker
        records what it receives within milliseconds) that no worker recorded holding; the event ids."""
        tags = [_s(t) for t in self.r.zrangebyscore(UNACKED_INDEX, "-inf", time.time() - older_than)]
        if not tags:
            return []
        pipe = self.r.pipeline(transaction=False)
        for tag in tags:
            pipe.hexists(self.keys.holder, tag)
        unclaimed = [t for t, held in zip(tags, pipe.execute()) if not held]
        restored = []
        for tag in unclaimed:
            raw = self.r.hget(UNACKED, tag)
            if raw is None:   # acked or restored meanwhile
                continue
            try:
                payload, _exchange, routing_key = json.loads(raw)
            except (TypeError, ValueError):
                continue
            if routing_key != self.queue or not isinstance(payload, dict):
                continue
            with_flag = json.loads(raw)[0]
            try:
                with_flag["headers"]["redelivered"] = True
            except (KeyError, TypeError):
                pass
            if self._restore_unclaimed(keys=[UNACKED, UNACKED_INDEX, self.queue, self.keys.holder],
                                       args=[tag, raw, json.dumps(with_flag)]):
                eid = event_id_of(payload)
                if eid:
                    restored.append(eid)
        if restored:
            log.warning("liveness: %d delivered message(s) no worker recorded holding went back to the queue",
                        len(restored))
        return restored

    def _tidy_live(self, worker: str, out: Recovery) -> None:
        """A live worker whose pool process died: the event says `queued` again instead of `processing`
        under a dead process, and — unless a message still carries it (Celery requeues the message of a
        lost pool process itself; a hard time limit acks it) — goes back to the head of the queue.
        Stale entries are dropped."""
        owned = [_s(e) for e in self.r.smembers(self.keys.owned(worker))]
        if not owned:
            return
        pipe = self.r.pipeline(transaction=False)
        for eid in owned:
            pipe.hmget(f"{self.prefix}event:{eid}", ["status", "owner"])
        states = pipe.execute()
        owners = {eid: _s(o) for eid, (st, o) in zip(owned, states) if _s(st) == "processing" and o}
        stale = [eid for eid in owned if eid not in owners or worker_of(owners[eid]) != worker]
        if stale:
            self.r.srem(self.keys.owned(worker), *stale)
        children = sorted({o for eid, o in owners.items() if eid not in stale})
        requeued = []
        for child, child_alive in self.alive(children).items():
            if child_alive:
                continue
            for eid in [e for e, o in owners.items() if o == child]:
                if self._requeue_event(eid, worker=worker, owner=child):
                    requeued.append(eid)
                    self.r.srem(self.keys.owned(worker), eid)
        out.requeued.extend(requeued)
        if requeued:
            flying = in_flight_event_ids(self.r, self.queue)
            for eid in requeued:
                if flying is not None and eid not in flying:
                    self.push_front(eid)
                    out.enqueued.append(eid)

    def _requeue_event(self, eid: str, *, worker: str, owner: str) -> bool:
        now = time.time()
        return bool(self._requeue(keys=[f"{self.prefix}event:{eid}", f"{self.prefix}pending"],
                                  args=[owner, worker, _iso(now), repr(now + self.look_again_after), eid]))

    def _restore_tag(self, tag: str, worker: str) -> str | None:
        raw = self.r.hget(UNACKED, tag)
        if raw is None:   # acked, or restored already (by kombu at shutdown, or an earlier round)
            if _s(self.r.hget(self.keys.holder, tag)) == worker:
                self.r.hdel(self.keys.holder, tag)
            return None
        try:
            payload, _exchange, _routing_key = json.loads(raw)
        except (TypeError, ValueError):
            return None
        try:
            payload["headers"]["redelivered"] = True
            payload["properties"]["delivery_info"]["redelivered"] = True
        except (KeyError, TypeError):
            pass
        if not self._restore(keys=[UNACKED, UNACKED_INDEX, self.queue, self.keys.holder],
                             args=[tag, raw, json.dumps(payload), worker]):
            return None
        return event_id_of(payload)


def in_flight_event_ids(r: redis.Redis, queue: str, *, cap: int = 50_000) -> set[str] | None:
    """Every event id with a message on `queue` or delivered and unacknowledged, read in one
    transaction; None when the queue is longer than `cap` (too big to read this round)."""
    if int(r.llen(queue)) > cap:
        return None
    pipe = r.pipeline(transaction=True)
    pipe.lrange(queue, 0, -1)
    pipe.hvals(UNACKED)
    queued, unacked = pipe.execute()
    ids: set[str] = set()
    for raw in list(queued) + list(unacked):
        ids.update(m.decode() for m in _ARGSREPR.findall(raw))
    return ids


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else ("" if v is None else str(v))


def _iso(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
