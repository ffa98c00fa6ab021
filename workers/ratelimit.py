"""One rate limiter shared by every worker process: GCRA in a Lua script, plus a 429 cool-down.

GCRA (the generic cell rate algorithm) keeps one timestamp per budget, the "theoretical arrival
time". A request is allowed when it would not push that time more than `burst` emission intervals
past now. Redis's own clock (`TIME`) is used so that workers on different hosts agree.

A write's fence (workers.locks: the customer locks it was planned under must still be held) is
checked in the same script as its slot, so a write costs one round trip before it goes out.

When the API answers 429 anyway (another client shares the budget, or our numbers are off), every
process stops for the window the API named (`Retry-After` / "Try again in N seconds"): the cool-down
key holds the time until which nobody calls.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Sequence

import redis

from workers.errors import BridgeError
from workers.locks import LockLost

_GCRA = """
for i = 3, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[i] then return {-1, i - 3} end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cool = tonumber(redis.call('GET', KEYS[2]) or '0')
if cool > now then return {0, cool - now} end
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then return {0, allow_at - now} end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(math.max(1, new_tat - now)) + 1000)
return {1, 0}
"""

_COOL_DOWN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > cur then redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]) + 1000) end
return until_ms
"""


class RateLimitWait(BridgeError):
    """The shared budget is spent for longer than a worker should sleep: reschedule after `wait` s."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"API rate limit: next slot in {wait:.1f} s")
        self.wait = wait


@dataclass
class SharedRateLimiter:
    """`per_minute` requests per minute across all processes; sleeps up to `max_sleep` for a slot."""

    client: redis.Redis
    key: str
    per_minute: int
    burst: int = 1
    max_sleep: float = 5.0
    enabled: bool = True

    def __post_init__(self) -> None:
        self._gcra = self.client.register_script(_GCRA)
        self._cool = self.client.register_script(_COOL_DOWN)

    @property
    def cool_down_key(self) -> str:
        return self.key + ":cooldown"

    def try_acquire(self, fence: Sequence[tuple[str, bytes]] = ()) -> float:
        """Take a slot if one is free now; else return the seconds until one will be. With `fence`
        (lock name, token pairs: `CustomerLocks.fence_tokens`), only while every one of those locks
        still holds its token, checked in the same round trip: LockLost otherwise (no slot taken)."""
        interval_ms = 60000.0 / self.per_minute if (self.enabled and self.per_minute > 0) else 0.0
        allowed, wait_ms = self._gcra(keys=[self.key, self.cool_down_key, *[n for n, _ in fence]],
                                      args=[interval_ms, self.burst, *[t for _, t in fence]])
        if int(allowed) < 0:
            raise LockLost(f"the lease on {fence[int(wait_ms)][0]} ended while this worker held it; "
                           "nothing more is written")
        return 0.0 if int(allowed) else float(wait_ms) / 1000.0

    def acquire(self, fence: Sequence[tuple[str, bytes]] = ()) -> None:
        """Block briefly for a slot (and the `fence`, see try_acquire); raise RateLimitWait when the
        wait is longer than `max_sleep`."""
        while True:
            wait = self.try_acquire(fence)
            if wait <= 0:
                return
            if wait > self.max_sleep:
                raise RateLimitWait(wait)
            time.sleep(wait + random.uniform(0, 0.01))

    def cool_down(self, seconds: float) -> None:
        """Nobody calls the API for `seconds` (a 429 said so); the later deadline wins."""
        self._cool(keys=[self.cool_down_key], args=[max(1, int(seconds * 1000))])

    def before_request(self, method: str, path: str, fence: Sequence[tuple[str, bytes]] = ()) -> None:
        """Hook for `CstarClient(before_request=...)`; `fence` for a write (see try_acquire)."""
        self.acquire(fence)
