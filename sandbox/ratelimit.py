"""The emulator's rate limit: N requests per window per API key, as a sliding window log."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    """Admit at most `limit` requests per `window` seconds per key (`limit` 0 = no limit).

    Only admitted requests enter the log, so a client that keeps hammering through its 429s still
    gets a slot back once the oldest admitted request leaves the window.
    """

    def __init__(self, limit: int = 0, window: float = 60.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._log: dict[str, deque[float]] = {}
        self.limit = 0
        self.window = 60.0
        self.configure(limit, window)

    def configure(self, limit: int, window: float) -> None:
        """Set a new limit and window and forget every key's history."""
        if limit < 0 or window <= 0:
            raise ValueError("rate limit must be >= 0 and the window > 0 seconds")
        with self._lock:
            self.limit, self.window = int(limit), float(window)
            self._log.clear()

    def hit(self, key: str) -> int | None:
        """Count one request for `key`; None if admitted, else the seconds until a slot frees (>= 1)."""
        if not self.limit:
            return None
        now = self._clock()
        with self._lock:
            log = self._log.setdefault(key, deque())
            while log and log[0] <= now - self.window:
                log.popleft()
            if len(log) < self.limit:
                log.append(now)
                return None
            return max(1, math.ceil(log[0] + self.window - now))
