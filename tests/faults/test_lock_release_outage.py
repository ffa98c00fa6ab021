"""A customer lock whose release meets a Redis outage: the holder is alive, so neither liveness (which
breaks only a dead process's locks) nor anyone else frees it — without a second release the customer
stays locked for the whole lease (60 s on the defaults) and its events park until then. The holder
releases it again once Redis is back."""

from __future__ import annotations

import time

import pytest
import redis

from workers.locks import CustomerLocks
from workers.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.faults]

LEASE = 60   # the default worker.lock_lease


def _hold_through_outage(tmp_path, locks_class: type[CustomerLocks]) -> tuple[redis.Redis, str, RedisServer]:
    server = RedisServer(data_dir=tmp_path / "redis").start()   # AOF on: the lock survives the restart
    r = redis.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=1)
    locks = locks_class(r, prefix="lro:", lease=LEASE, wait=0.2)
    name = locks.name("c@outage.test")
    with locks.hold("c@outage.test"):
        assert r.get(name) is not None
        server.kill()                      # the release at the end of the block cannot reach Redis
    time.sleep(0.5)
    server.start()
    return r, name, server


def _gone_within(r: redis.Redis, name: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if r.get(name) is None:
                return True
        except redis.ConnectionError:
            pass
        time.sleep(0.1)
    return False


def test_a_lock_whose_release_met_a_redis_outage_is_released_when_redis_is_back(tmp_path):
    r, name, server = _hold_through_outage(tmp_path, CustomerLocks)
    try:
        assert _gone_within(r, name, 10.0), "the customer stayed locked after Redis came back"
    finally:
        server.cleanup()


class _NoSecondRelease(CustomerLocks):
    RELEASE_RETRY = 3600.0   # the release is never tried again within the test


def test_negative_control_without_a_second_release_the_customer_stays_locked_for_the_lease(tmp_path):
    r, name, server = _hold_through_outage(tmp_path, _NoSecondRelease)
    try:
        assert not _gone_within(r, name, 5.0), "the lock went away by itself: the test above proves nothing"
        assert 0 < r.ttl(name) <= LEASE
    finally:
        server.cleanup()
