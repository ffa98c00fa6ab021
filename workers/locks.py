"""Per-customer serialization: the API replaces the whole `tags` list, so two workers must not
read-modify-write one customer at the same time.

A redis-py lock with a lease well above the HTTP timeouts. When the lock is busy we wait briefly,
then give up with `CustomerBusy` so the task is rescheduled instead of blocking a worker.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Iterator

import redis
from redis.lock import Lock

from workers.errors import BridgeError


class CustomerBusy(BridgeError):
    """Another worker holds this customer's lock; try again shortly."""


class CustomerLocks:
    def __init__(self, client: redis.Redis, *, prefix: str, lease: int = 60, wait: float = 2.0,
                 enabled: bool = True) -> None:
        self.client = client
        self.prefix = prefix
        self.lease = lease
        self.wait = wait
        self.enabled = enabled

    def name(self, customer_key: str) -> str:
        return f"{self.prefix}lock:cust:{hashlib.sha1(customer_key.encode()).hexdigest()}"

    @contextlib.contextmanager
    def hold_all(self, customer_keys: list[str], wait: float | None = None) -> Iterator[None]:
        """Hold every listed customer's lock (taken in sorted order, so two events never deadlock)."""
        with contextlib.ExitStack() as stack:
            for key in sorted(set(customer_keys)):
                stack.enter_context(self.hold(key, wait))
            yield

    @contextlib.contextmanager
    def hold(self, customer_key: str, wait: float | None = None) -> Iterator[Lock | None]:
        """Hold the customer's lock for the block; CustomerBusy when it cannot be had soon."""
        if not self.enabled:  # only for the negative controls of the concurrency tests
            yield None
            return
        lock = Lock(self.client, self.name(customer_key), timeout=self.lease, blocking=True,
                    blocking_timeout=self.wait if wait is None else wait, thread_local=False)
        if not lock.acquire():
            raise CustomerBusy(f"customer {customer_key!r} is being updated by another worker")
        try:
            yield lock
        finally:
            with contextlib.suppress(redis.exceptions.LockError):
                lock.release()
