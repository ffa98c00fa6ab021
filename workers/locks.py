"""Per-customer serialization: the API replaces the whole `tags` list, so two workers must not
read-modify-write one customer at the same time.

A redis-py lock with a lease well above the HTTP timeouts. When the lock is busy we wait briefly,
then give up with `CustomerBusy` so the task is rescheduled instead of blocking a worker.

A holder may keep a customer for many writes (a burst of parked plans, each write waiting for the
rate limiter), longer than any fixed lease. So while a lock is held a watchdog thread renews its
lease every third of it, and every write is fenced: before a POST/PATCH/DELETE the task checks in
Redis that it still holds every lock it took (`fence`); a holder that lost one (a pause longer than
the lease) raises `LockLost` and writes nothing more — its event is retried and reads fresh state.

`CustomerLocks` is the process's registry (one watchdog renews every lock the process holds);
`TaskLocks` is one task's share of it: a process running many tasks at once (threads or gevent)
fences each task's writes on that task's locks only.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import uuid
from typing import Iterator

import redis
from redis.lock import Lock

from workers.errors import BridgeError

log = logging.getLogger("cstar_bridge.locks")


# Delete a lock whose holding process has no heartbeat any more (its token is "<owner>#<random>").
_BREAK_IF_DEAD = """
local v = redis.call('GET', KEYS[1])
if not v then return 1 end
local i = string.find(v, '#', 1, true)
if not i or i == 1 then return 0 end
if redis.call('EXISTS', ARGV[1] .. string.sub(v, 1, i - 1)) == 1 then return 0 end
redis.call('DEL', KEYS[1])
return 2
"""


class CustomerBusy(BridgeError):
    """Another worker holds this customer's lock; try again shortly."""


class LockLost(CustomerBusy):
    """This process's lease on a customer ended while it held it: it must not write; retry the event."""


class CustomerLocks:
    def __init__(self, client: redis.Redis, *, prefix: str, lease: int = 60, wait: float = 2.0,
                 enabled: bool = True, renew: bool = True) -> None:
        self.client = client
        self.prefix = prefix
        self.lease = lease
        self.wait = wait
        self.enabled = enabled
        self.renew = renew   # watchdog + fence; off only for the negative control of the lease test
        self._held: dict[str, Lock] = {}
        self._lost: set[str] = set()
        self._unreleased: dict[str, tuple[Lock, str]] = {}   # released while Redis was away: released again later
        self._mutex = threading.Lock()
        self._watchdog_pid = 0
        self._wake = threading.Event()
        # Liveness (workers.liveness): the token names the holding process, so a lock left by a
        # process that died (its heartbeat expired) is broken at once instead of after its lease.
        self.owner = ""
        self.heartbeats = ""   # key prefix of the heartbeats ("": liveness off, locks only expire)
        self._break = client.register_script(_BREAK_IF_DEAD)

    def name(self, customer_key: str) -> str:
        return f"{self.prefix}lock:cust:{hashlib.sha1(customer_key.encode()).hexdigest()}"

    @contextlib.contextmanager
    def hold_all(self, customer_keys: list[str], wait: float | None = None,
                 names: list[str] | None = None) -> Iterator[None]:
        """Hold every listed customer's lock (taken in sorted order, so two events never deadlock);
        `names` (a task's list) gets each lock's name while it is held."""
        with contextlib.ExitStack() as stack:
            for key in sorted(set(customer_keys)):
                stack.enter_context(self.hold(key, wait, names))
            yield

    @contextlib.contextmanager
    def hold(self, customer_key: str, wait: float | None = None,
             names: list[str] | None = None) -> Iterator[Lock | None]:
        """Hold the customer's lock for the block; CustomerBusy when it cannot be had soon."""
        if not self.enabled:  # only for the negative controls of the concurrency tests
            yield None
            return
        name = self.name(customer_key)
        lock = self._lock(name, self.wait if wait is None else wait)
        token = self.new_token()
        if not lock.acquire(token=token) and not (self._break_if_dead(name) and lock.acquire(token=token)):
            raise CustomerBusy(f"customer {customer_key!r} is being updated by another worker")
        with self._keep(name, lock, names):
            yield lock

    def new_token(self) -> str:
        """A lock token; it names the holding process when liveness is on (see _BREAK_IF_DEAD)."""
        return f"{self.owner}#{uuid.uuid4().hex}" if self.owner else uuid.uuid4().hex

    @contextlib.contextmanager
    def taken(self, customer_key: str, token: str, names: list[str] | None = None) -> Iterator[Lock]:
        """Hold a lock a script already took with `token` (workers.event_steps takes it together with
        the reads under it): renewed and fenced like `hold`'s, released at the end of the block
        unless `let_go` said a script released it."""
        name = self.name(customer_key)
        with self._keep(name, self._with_token(name, token), names) as lock:
            yield lock

    def release(self, customer_key: str, token: str) -> None:
        """Release the customer's lock if `token` still holds it (a script may have taken it before the
        step that took it failed)."""
        name = self.name(customer_key)
        self._release(name, self._with_token(name, token))

    def _with_token(self, name: str, token: str) -> Lock:
        lock = self._lock(name, 0.0)
        lock.local.token = self.client.get_encoder().encode(token)
        return lock

    def let_go(self, lock: Lock) -> None:
        """A script released `lock` (workers.event_steps `end`): no renewal, no release any more."""
        with self._mutex:
            self._held.pop(lock.name, None)
            self._lost.discard(lock.name)
        lock.local.token = None

    def _lock(self, name: str, wait: float) -> Lock:
        return Lock(self.client, name, timeout=self.lease, blocking=True, blocking_timeout=wait,
                    thread_local=False)

    @contextlib.contextmanager
    def _keep(self, name: str, lock: Lock, names: list[str] | None) -> Iterator[Lock]:
        """Renew and fence `lock` while the block runs; release it after (unless let go already)."""
        if self.renew:
            self._start_watchdog()
            with self._mutex:
                self._held[name] = lock
                self._lost.discard(name)
        if names is not None:
            names.append(name)
        try:
            yield lock
        finally:
            if names is not None:
                names.remove(name)
            with self._mutex:
                self._held.pop(name, None)
                self._lost.discard(name)
            if lock.local.token is not None:   # not let go (see let_go)
                self._release(name, lock)

    def _release(self, name: str, lock: Lock) -> None:
        """Release the lock; if Redis is away, keep trying from the watchdog — the holder is alive, so
        nothing else would free the customer before the lease ran out."""
        token = lock.local.token   # redis-py forgets the token before it asks Redis: keep it for a retry
        try:
            lock.release()
        except redis.exceptions.LockError:
            pass                                   # the lease ran out, or another holder has it now
        except redis.RedisError:
            log.warning("could not release lock %s (Redis away); releasing it when Redis is back", name)
            with self._mutex:
                self._unreleased[name] = (lock, token)
            self._start_watchdog()
            self._wake.set()

    def _break_if_dead(self, name: str) -> bool:
        """Free the lock if the process holding it has no heartbeat any more (one round trip); True if
        it is free now."""
        if not self.heartbeats:
            return False
        freed = int(self._break(keys=[name], args=[self.heartbeats]))
        if freed == 2:
            log.warning("broke the lock %s: the process holding it is dead", name)
        return freed > 0

    def fence(self, names: list[str] | None = None) -> None:
        """Raise LockLost unless this process still holds every customer lock it took — or, given
        `names`, every one of those (one task's) — checked in one MGET."""
        held = self.fence_tokens(names)
        if not held:
            return
        tokens = self.client.mget([name for name, _ in held])
        for (name, mine), token in zip(held, tokens):
            if token is None or token != mine:
                raise LockLost(f"the lease on {name} ended while this worker held it; nothing more is written")

    def fence_tokens(self, names: list[str] | None = None) -> list[tuple[str, bytes]]:
        """The name and token of every customer lock this process holds (or, given `names`, of those),
        for a write's fence checked in Redis by the caller: `fence`, or the rate limiter in the same
        round trip as the write's slot. LockLost at once for a lock the watchdog saw lost; empty when
        there is nothing to fence."""
        if not (self.enabled and self.renew):
            return []
        with self._mutex:
            held = [(n, lock.local.token) for n, lock in self._held.items() if names is None or n in names]
            lost = set(self._lost)
        for name, token in held:
            if name in lost or token is None:
                raise LockLost(f"the lease on {name} ended while this worker held it; nothing more is written")
        return held

    # the watchdog ---------------------------------------------------------------------------------
    RELEASE_RETRY = 0.5   # s between attempts to release a lock whose release met a Redis outage

    def _release_left_over(self) -> None:
        with self._mutex:
            pending = list(self._unreleased.items())
        for name, (lock, token) in pending:
            try:
                lock.do_release(token)             # deletes the key only if it still holds our token
            except redis.exceptions.LockError:
                pass                               # expired meanwhile, or taken over: nothing to free
            except redis.RedisError:
                continue                           # still away: next time
            with self._mutex:
                if self._unreleased.get(name, (None,))[0] is lock:
                    del self._unreleased[name]
            log.info("released lock %s after the Redis outage", name)

    def _start_watchdog(self) -> None:
        if self._watchdog_pid == os.getpid():
            return
        with self._mutex:
            if self._watchdog_pid == os.getpid():
                return
            self._watchdog_pid = os.getpid()  # one thread per process (a forked child starts its own)
        threading.Thread(target=self._watch, name="cstar-lock-watchdog", daemon=True).start()

    def _watch(self) -> None:
        period = max(0.2, self.lease / 3.0)
        while True:
            with self._mutex:
                pending = bool(self._unreleased)
            self._wake.wait(min(period, self.RELEASE_RETRY) if pending else period)
            self._wake.clear()
            self._release_left_over()
            with self._mutex:
                held = list(self._held.items())
            for name, lock in held:
                try:
                    lock.reacquire()   # the lease starts again, if the token is still ours
                except redis.exceptions.LockNotOwnedError:
                    log.warning("lost the lock %s while holding it (paused past its %s s lease)", name, self.lease)
                    with self._mutex:
                        if name in self._held:
                            self._lost.add(name)
                except Exception:  # Redis away: try again next period; the fence stops a stale write
                    log.warning("could not renew lock %s", name, exc_info=True)


class TaskLocks:
    """The customer locks one task holds; its writes are fenced on these, not on other tasks' locks."""

    def __init__(self, locks: CustomerLocks) -> None:
        self.locks = locks
        self.names: list[str] = []

    def hold_all(self, customer_keys: list[str], wait: float | None = None) -> contextlib.AbstractContextManager[None]:
        """`CustomerLocks.hold_all`, remembering what this task holds."""
        return self.locks.hold_all(customer_keys, wait, self.names)

    def fence(self) -> None:
        """Raise LockLost unless this task still holds every lock it took."""
        if self.names:
            self.locks.fence(list(self.names))

    def fence_tokens(self) -> list[tuple[str, bytes]]:
        """`CustomerLocks.fence_tokens` of this task's locks."""
        return self.locks.fence_tokens(list(self.names)) if self.names else []

    # a lock taken by a script (workers.event_steps): see CustomerLocks.taken
    @property
    def enabled(self) -> bool:
        return self.locks.enabled

    @property
    def lease(self) -> int:
        return self.locks.lease

    def name(self, customer_key: str) -> str:
        return self.locks.name(customer_key)

    def new_token(self) -> str:
        return self.locks.new_token()

    def taken(self, customer_key: str, token: str) -> contextlib.AbstractContextManager[Lock]:
        """`CustomerLocks.taken`, remembering what this task holds."""
        return self.locks.taken(customer_key, token, self.names)

    def release(self, customer_key: str, token: str) -> None:
        self.locks.release(customer_key, token)

    def let_go(self, lock: Lock) -> None:
        self.locks.let_go(lock)
