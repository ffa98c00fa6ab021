"""The Redis pieces against a real redis-server: the one-round-trip claim, the ledger, the GCRA limiter."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis

from workers.ratelimit import RateLimitWait, SharedRateLimiter
from workers.store import EventStore, fingerprint, new_event_id

pytestmark = pytest.mark.integration


@pytest.fixture
def r(redis_url):
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def store(r):
    return EventStore(r, prefix=f"s-{uuid.uuid4().hex[:8]}:")


def _event(eid, status="accepting"):
    return {"id": eid, "source": "demo", "type": "form.submitted", "data": {"email": "a@b.co"}, "status": status}


def test_claim_is_one_round_trip_and_stores_event_and_ledger(store, r):
    store.claim(source="demo", key="warm-up", fp="f", event=_event(new_event_id()))  # loads the script once
    sent = []
    real = store.r.execute_command

    def counting(*args, **kw):
        sent.append(args[0])
        return real(*args, **kw)

    store.r.execute_command = counting
    eid = new_event_id()
    claim = store.claim(source="demo", key="k1", fp="f1", event=_event(eid))
    store.r.execute_command = real
    assert sent == ["EVALSHA"]  # one round trip: never GET, then SET, then HSET, ...
    assert claim.new and claim.event_id == eid
    assert store.load(eid)["data"] == {"email": "a@b.co"}
    assert store.pending_count() == 2


def test_second_claim_returns_the_first_event(store):
    first = store.claim(source="demo", key="k", fp="f1", event=_event(new_event_id()))
    store.mark_queued(first.event_id)
    again = store.claim(source="demo", key="k", fp="f2", event=_event(new_event_id()))
    assert not again.new and again.event_id == first.event_id
    assert again.fingerprint == "f1" and again.status == "queued"
    assert store.pending_count() == 1


def test_concurrent_claims_of_one_key_have_exactly_one_winner(store):
    results = []

    def go():
        results.append(store.claim(source="demo", key="race", fp="f", event=_event(new_event_id())))

    threads = [threading.Thread(target=go) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(c.new for c in results) == 1
    assert len({c.event_id for c in results}) == 1


def test_release_frees_the_key_and_forgets_the_event(store):
    eid = new_event_id()
    store.claim(source="demo", key="k", fp="f", event=_event(eid))
    store.release(source="demo", key="k", event_id=eid)
    assert store.load(eid) is None and store.pending_count() == 0
    assert store.claim(source="demo", key="k", fp="f", event=_event(new_event_id())).new


def test_keys_are_scoped_by_source(store):
    a = store.claim(source="a", key="same", fp="f", event=_event(new_event_id()))
    b = store.claim(source="b", key="same", fp="f", event=_event(new_event_id()))
    assert a.new and b.new


def test_dead_letter_and_replay_round_trip(store):
    eid = new_event_id()
    store.claim(source="demo", key="k", fp="f", event=_event(eid, "processing"))
    store.dead_letter(eid, reason="API said 400", error={"status": 400}, attempts=1)
    assert store.load(eid)["status"] == "dead" and store.pending_count() == 0
    assert [d["event_id"] for d in store.dead_letters()] == [eid]
    assert store.prepare_replay(eid)
    assert store.load(eid)["status"] == "queued" and store.pending_count() == 1
    assert store.dead_letters() == []
    assert not store.prepare_replay(eid)  # not dead any more


def test_fingerprint_is_sha256_of_the_raw_body():
    assert fingerprint(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_gcra_spaces_requests_across_processes_sharing_redis(r):
    key = f"rl-{uuid.uuid4().hex[:8]}"
    a = SharedRateLimiter(r, key=key, per_minute=600, burst=1)  # one slot per 100 ms
    b = SharedRateLimiter(r, key=key, per_minute=600, burst=1)
    assert a.try_acquire() == 0.0
    wait = b.try_acquire()  # the other "process" sees the same budget
    assert 0.05 < wait <= 0.1
    time.sleep(wait + 0.01)
    assert b.try_acquire() == 0.0


@pytest.mark.parametrize("per_minute", [7, 540, 999])
def test_gcra_handles_fractional_intervals(r, per_minute):
    lim = SharedRateLimiter(r, key=f"rl-{uuid.uuid4().hex[:8]}", per_minute=per_minute)
    assert lim.try_acquire() == 0.0
    assert 0 < lim.try_acquire() <= 60.0 / per_minute + 0.01


def test_cool_down_stops_everyone_and_long_waits_raise(r):
    key = f"rl-{uuid.uuid4().hex[:8]}"
    lim = SharedRateLimiter(r, key=key, per_minute=0, max_sleep=0.5)  # no budget limit, only the 429 window
    assert lim.try_acquire() == 0.0
    lim.cool_down(3)
    other = SharedRateLimiter(r, key=key, per_minute=0, max_sleep=0.5)
    assert 2.5 < other.try_acquire() <= 3.0
    with pytest.raises(RateLimitWait) as exc:
        other.acquire()
    assert exc.value.wait > 2
    lim.cool_down(1)  # a shorter window never shortens the current one
    assert other.try_acquire() > 2
