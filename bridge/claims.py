"""Step 8 of the ingress (claim + store + ledger + enqueue) for one request — alone, or with the claims
of the requests this process is serving at the same moment, in one Redis round trip (group commit).

Under gunicorn's gevent workers a process serves many requests at once, and one synchronous round
trip costs far more web CPU (the hub's switches, two syscalls, redis-py's packing and parsing) than
the Lua script costs Redis. So each process runs committer greenlets: a request hands its claim over and
waits for that claim's own result; a free committer sends every claim that is waiting as one
`EventStore.claim_many` call, and while that is in flight the next batch gathers. Nothing waits on a
timer: a lone request is sent at once, and batches grow only with the concurrency actually there.

What a request learns is exactly what claiming alone would have told it: the batch is claimed in
order inside one atomic script (a key repeated in the batch is a duplicate of its first claim), and a
request answers 2xx only after its own claim came back stored and queued. A batch that fails fails
every request in it (each answers 503; a claim the script did write before failing is found as a
duplicate by the sender's retry).

Sync and gthread workers claim directly: a sync process has one request at a time, and grouping
across gthread's OS threads was not measured (BENCHMARKS.md, "Issue 15 §4: ingest").
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import redis

from bridge import metrics
from workers.store import Claim, ClaimRequest, EventStore

MAX_BATCH = 64  # claims per round trip: bounds the script's run (Redis serves nothing else meanwhile)
IN_FLIGHT = 2   # batches a process may have at Redis at once


def gevent_active() -> bool:
    """Whether this process runs under gevent's monkey-patching (gunicorn's gevent worker)."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return bool(monkey.is_module_patched("socket"))


class Claims:
    """Claims for one process's requests: grouped under gevent, direct otherwise (decided on first use,
    in the serving process: gunicorn may build the app before its worker patches anything)."""

    def __init__(self, store: EventStore, *, grouped: Callable[[], bool] = gevent_active) -> None:
        self.store = store
        self._grouped = grouped
        self._group: GroupCommit | None = None
        self._decided_in = 0  # the pid that decided (a forked child decides again)

    def claim(self, request: ClaimRequest) -> Claim:
        """Claim, store, ledger and enqueue `request`; raises redis.RedisError when that failed."""
        if self._decided_in != os.getpid():
            self._group = GroupCommit(self.store) if self._grouped() else None
            self._decided_in = os.getpid()
        if self._group is None:
            metrics.CLAIM_BATCH.observe(1)
            return self.store.claim_many([request])[0]
        return self._group.claim(request)


class CommitterStopped(redis.ConnectionError):
    """The committer ended before this claim's batch was sent (the worker is shutting down)."""


class GroupCommit:
    """Committer greenlets (`in_flight` per process), each sending the claims waiting when it is free as
    one `claim_many`. More than one batch may be at Redis at once, so the process keeps parsing the
    next requests while a batch runs instead of idling on it."""

    def __init__(self, store: EventStore, *, max_batch: int = MAX_BATCH, in_flight: int = IN_FLIGHT) -> None:
        from gevent.event import Event

        self.store = store
        self.max_batch = max_batch
        self.in_flight = in_flight
        self._waiting: list[tuple[ClaimRequest, Any]] = []
        self._wake = Event()
        self._committers: list[Any] = []

    def claim(self, request: ClaimRequest) -> Claim:
        from gevent.event import AsyncResult

        if len(self._committers) < self.in_flight or any(c.dead for c in self._committers):
            import gevent

            alive = [c for c in self._committers if not c.dead]
            self._committers = alive + [gevent.spawn(self._run) for _ in range(self.in_flight - len(alive))]
        result = AsyncResult()
        self._waiting.append((request, result))
        self._wake.set()
        return result.get()  # this claim's own outcome: a Claim, or the batch's exception raised here

    def _run(self) -> None:
        import gevent

        batch: Sequence[tuple[ClaimRequest, Any]] = ()
        try:
            while True:
                while not self._waiting:  # greenlets switch only at the wait: no wake-up is lost
                    self._wake.clear()
                    self._wake.wait()
                batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
                self._commit(batch)
                batch = ()
        finally:  # killed (worker exit): nobody may wait forever on a batch that will not be sent
            stopped = CommitterStopped("the claim committer stopped; nothing was accepted")
            leftover = list(batch)
            if not any(c is not gevent.getcurrent() and not c.dead for c in self._committers):
                leftover += self._waiting  # no committer left to send them
                self._waiting = []
            for _, result in leftover:
                if not result.ready():
                    result.set_exception(stopped)

    def _commit(self, batch: Sequence[tuple[ClaimRequest, Any]]) -> None:
        metrics.CLAIM_BATCH.observe(len(batch))
        repeats = len(batch) - len({(request.source, request.key) for request, _ in batch})
        if repeats:
            metrics.CLAIM_BATCH_REPEATS.inc(repeats)
        try:
            claims = self.store.claim_many([request for request, _ in batch])
        except Exception as exc:  # every request of the batch answers for it (503 for a RedisError)
            for _, result in batch:
                result.set_exception(exc)
            return
        for (_, result), claim in zip(batch, claims):
            result.set(claim)
