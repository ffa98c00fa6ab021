"""The emulator's record of API calls, for tests that count or inspect what a client sent."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any


class CallLog:
    """Every API call (bounded to the last `maxlen`) plus counters by method and status."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._calls: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._seq = 0
        self._by_method: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()
        self._by_method_status: Counter[str] = Counter()

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append one call; gives it the next `seq`."""
        with self._lock:
            self._seq += 1
            entry = {"seq": self._seq, **entry}
            self._calls.append(entry)
            method, status = entry["method"], str(entry["status"])
            self._by_method[method] += 1
            self._by_status[status] += 1
            self._by_method_status[f"{method} {status}"] += 1
            return entry

    def calls(self, since: int = 0) -> list[dict[str, Any]]:
        """The recorded calls with `seq` greater than `since`, oldest first."""
        with self._lock:
            return [c for c in self._calls if c["seq"] > since]

    def stats(self) -> dict[str, Any]:
        """Totals since the last reset (not bounded by `maxlen`)."""
        with self._lock:
            return {"total": sum(self._by_method.values()), "by_method": dict(self._by_method),
                    "by_status": dict(self._by_status), "by_method_status": dict(self._by_method_status)}

    def clear(self) -> None:
        """Forget every call; `seq` starts again at 1."""
        with self._lock:
            self._calls.clear()
            self._seq = 0
            self._by_method.clear()
            self._by_status.clear()
            self._by_method_status.clear()
