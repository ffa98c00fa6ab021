"""Step 8 of the ingress (claim + store + ledger + enqueue) for one request — alone, or with the claims
of the requests this process is serving at the same moment, in one Redis round trip (group commit).

Under gunicorn's gevent workers a process serves many requests at once, and one synchronous round
trip costs far more web CPU (the hub's switches, two syscalls, redis-py's packing and parsing) than
the Lua script costs Redis. So each process runs one committer greenlet: a request hands it its
claim and waits for that claim's own result; the committer sends every claim that is waiting as one
`EventStore.claim_many` call, and while that is in flight the next batch gathers. Nothing waits on a
timer: a lone request is sent at once, and batches grow only with the concurrency actually there.

What a request learns is exactly what claiming alone would have told it: the batch is claimed in
order inside one atomic script (a key repeated in the batch is a duplicate of its first claim), and a
request answers 2xx only after its own claim came back stored and queued. A batch that fails fails
every request in it (each answers 503; a claim the script did write before failing is found as a
duplicate by the sender's retry).

Sync and gthread workers claim directly: a sync process has one request at a time, and handing a
claim to another OS thread costs more than the round trip it would share.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Sequence

import redis

from bridge import metrics
from workers.store import Claim, ClaimRequest, EventStore

log = logging.getLogger("cstar_bridge.claims")
MAX_BATCH = 64  # claims per round trip: bounds the script's run (Redis serves nothing else meanwhile)


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
    """One committer greenlet per process, sending the waiting claims as one `claim_many` per batch."""

    def __init__(self, store: EventStore, *, max_batch: int = MAX_BATCH) -> None:
        from gevent.event import Event

        self.store = store
        self.max_batch = max_batch
        self._waiting: list[tuple[ClaimRequest, Any]] = []
        self._wake = Event()
        self._committer: Any = None

    def claim(self, request: ClaimRequest) -> Claim:
        from gevent.event import AsyncResult

        if self._committer is None or self._committer.dead:
            import gevent

            self._committer = gevent.spawn(self._run)
        result = AsyncResult()
        self._waiting.append((request, result))
        self._wake.set()
        return result.get()  # this claim's own outcome: a Claim, or the batch's exception raised here

    def _run(self) -> None:
        batch: Sequence[tuple[ClaimRequest, Any]] = ()
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                while self._waiting:
                    batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
                    self._commit(batch)
                    batch = ()
        finally:  # killed (worker exit): nobody may wait forever on a batch that will not be sent
            stopped = CommitterStopped("the claim committer stopped; nothing was accepted")
            for _, result in [*batch, *self._waiting]:
                if not result.ready():
                    result.set_exception(stopped)
            self._waiting = []

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
