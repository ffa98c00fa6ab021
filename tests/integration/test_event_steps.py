"""The worker's one-round-trip steps (workers/event_steps.py) against a real redis-server: what each
script does atomically, that it is one round trip, and that the liveness reconciler still finds an
event that `begin` marked processing under a process that died."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterator

import pytest
import redis

from rules import CustomerPlan
from rules.ordering import Mark, Ordered
from workers import liveness
from workers.coalesce import Inbox, ParkedPlan
from workers.event_steps import EventSteps, Finish
from workers.executor import CustomerIds
from workers.ordering import OrderMarks
from workers.store import EventStore, new_event_id

pytestmark = pytest.mark.integration

AFTER = 300.0


@pytest.fixture
def r(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def store(r: redis.Redis) -> EventStore:
    return EventStore(r, prefix=f"es-{uuid.uuid4().hex[:8]}:", look_again_after=AFTER)


@pytest.fixture
def steps(store: EventStore, r: redis.Redis) -> EventSteps:
    return EventSteps(store, inbox=Inbox(r, prefix=store.prefix), order=OrderMarks(store, team="t", ttl=3600),
                      ids=CustomerIds(r, prefix=store.prefix, team="t"))


class RoundTrips:
    """Counts what the client sends: one entry per command or script call (a round trip each)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.sent: list[str] = []

    def __enter__(self) -> "RoundTrips":
        real = self.client.execute_command

        def counting(*args: Any, **kw: Any) -> Any:
            self.sent.append(str(args[0]))
            return real(*args, **kw)

        self.client.execute_command = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: Any) -> None:
        del self.client.execute_command


@pytest.fixture
def count(r: redis.Redis) -> Iterator[RoundTrips]:
    yield RoundTrips(r)


def _accept(store: EventStore, **extra: Any) -> str:
    eid = new_event_id()
    store.claim(source="demo", key=eid, fp="f", event={"id": eid, "source": "demo", "type": "t",
                                                       "data": {"email": "a@b.co"}, "status": "queued", **extra})
    return eid


def _plan(key: str = "a@b.co", **kw: Any) -> CustomerPlan:
    return CustomerPlan(email=key, key=key, name=None, create=True, add_tags=("x",), **kw)


def _warm(steps: EventSteps, store: EventStore) -> None:
    """Load the scripts once (the first call of a script may cost an EVAL after the EVALSHA)."""
    eid = _accept(store)
    steps.begin(eid, 0, time.time() + AFTER)
    steps.take(eid, ["warm"], customer="warm")
    steps.end(eid, Finish())


# begin -------------------------------------------------------------------------------------------

def test_begin_loads_counts_the_delivery_and_marks_processing_under_its_owner_in_one_round_trip(
        steps: EventSteps, store: EventStore, r: redis.Redis, count: RoundTrips) -> None:
    _warm(steps, store)
    store.owner = "host:1:abc/42"
    eid = _accept(store)
    at = time.time() + AFTER
    with count:
        begun = steps.begin(eid, 0, at)
    assert count.sent == ["EVALSHA"]
    assert begun.event is not None and begun.event["status"] == "queued"   # as it was before this delivery
    assert begun.event["data"] == '{"email":"a@b.co"}'                    # kept as text until counted
    assert begun.deliveries == 1
    stored = store.load(eid)
    assert stored is not None
    assert stored["status"] == "processing" and stored["owner"] == "host:1:abc/42" and stored["started_at"]
    assert r.sismember(store.owned_key(store.owner), eid)
    assert r.zscore(store.pending_key, eid) == pytest.approx(at)
    # another delivery of the same attempt counts on; a new attempt counts from one
    assert steps.begin(eid, 0, at).deliveries == 2
    assert steps.begin(eid, 1, at).deliveries == 1


def test_begin_changes_nothing_for_a_terminal_or_unknown_event(steps: EventSteps, store: EventStore,
                                                               r: redis.Redis) -> None:
    store.owner = "host:1:abc/42"
    eid = _accept(store)
    store.finish(eid, "done")
    before = r.hgetall(store.event_key(eid))
    begun = steps.begin(eid, 0, time.time() + AFTER)
    assert begun.event is not None and begun.event["status"] == "done" and begun.deliveries == 0
    assert r.hgetall(store.event_key(eid)) == before
    assert r.zscore(store.pending_key, eid) is None and not r.sismember(store.owned_key(store.owner), eid)
    missing = steps.begin(new_event_id(), 0, time.time() + AFTER)
    assert missing.event is None and missing.deliveries == 0


def test_begin_outside_a_worker_records_no_owner(steps: EventSteps, store: EventStore) -> None:
    eid = _accept(store)
    steps.begin(eid, 0, time.time() + AFTER)
    stored = store.load(eid)
    assert stored is not None and stored["status"] == "processing" and "owner" not in stored


def test_the_reconciler_finds_an_event_begun_by_a_dead_process_and_leaves_a_live_ones(
        steps: EventSteps, store: EventStore, r: redis.Redis) -> None:
    prefix = store.prefix
    keys = liveness.Keys(prefix)
    worker = "host:9:w"
    r.hset(keys.workers, worker, "{}")
    r.set(keys.hb(worker), "1", ex=30)
    r.set(keys.hb(f"{worker}/2"), "1", ex=30)      # pool process 2 is alive, pool process 1 is not
    dead_one, live_one = _accept(store), _accept(store)
    for eid, owner in ((dead_one, f"{worker}/1"), (live_one, f"{worker}/2")):
        store.owner = owner
        steps.begin(eid, 0, time.time() + AFTER)
    pushed: list[str] = []
    reaper = liveness.Reaper(r, prefix=prefix, queue=f"q-{uuid.uuid4().hex[:6]}", look_again_after=AFTER,
                             push_front=pushed.append)
    out = reaper.round()
    assert out.requeued == [dead_one] and pushed == [dead_one]
    assert (store.load(dead_one) or {})["status"] == "queued"
    assert (store.load(live_one) or {})["status"] == "processing"


# take --------------------------------------------------------------------------------------------

def test_take_reads_the_customers_part_and_drains_its_inbox_in_one_round_trip(
        steps: EventSteps, store: EventStore, r: redis.Redis, count: RoundTrips) -> None:
    _warm(steps, store)
    eid, key = _accept(store), "a@b.co"
    parked = [ParkedPlan(new_event_id(), _plan()) for _ in range(3)]
    for p in parked:
        steps.inbox.park(key, p)
    steps.inbox.note_hold(key, burst=True, quiet=False)
    mark = Mark("0002", "evt_other", "2026-01-01T00:00:00Z")
    r.hset(steps.order.key_prefix + key, "status", json.dumps(mark.to_dict()))
    steps.ids.set(key, "cus_1")
    with count:
        taken = steps.take(eid, [key], customer=key, drain_limit=2)
    assert count.sent == ["EVALSHA"]
    assert taken.steps == [None] and taken.customer and taken.burst_expected
    assert [p.event_id for p in taken.parked] == [p.event_id for p in parked[:2]]   # oldest first, up to the limit
    assert [ParkedPlan.from_json(x).event_id for x in r.lrange(steps.inbox.prefix + key, 0, -1)] == [
        parked[2].event_id]
    assert taken.marks == {"status": mark}
    assert taken.lookup == ("cus_1", False)


def test_take_drains_nothing_when_the_customers_step_is_recorded(steps: EventSteps, store: EventStore,
                                                                 r: redis.Redis) -> None:
    eid, key = _accept(store), "a@b.co"
    r.hset(store.event_key(eid), f"step:{key}", json.dumps({"action": "updated"}))
    steps.inbox.park(key, ParkedPlan(new_event_id(), _plan()))
    taken = steps.take(eid, [key], customer=key)
    assert taken.steps == [{"action": "updated"}] and not taken.customer and taken.parked == []
    assert r.llen(steps.inbox.prefix + key) == 1     # left for the holder that will apply it


def test_take_without_a_single_customer_reads_only_the_completion_records(steps: EventSteps, store: EventStore,
                                                                          r: redis.Redis) -> None:
    eid = _accept(store)
    r.hset(store.event_key(eid), "step:b@b.co", json.dumps({"action": "created"}))
    steps.inbox.park("a@b.co", ParkedPlan(new_event_id(), _plan()))
    taken = steps.take(eid, ["a@b.co", "b@b.co"])
    assert taken.steps == [None, {"action": "created"}] and not taken.customer and taken.lookup is None
    assert r.llen(steps.inbox.prefix + "a@b.co") == 1


def test_take_on_a_cache_miss_says_whether_to_create_first(steps: EventSteps, store: EventStore) -> None:
    eid = _accept(store)
    assert steps.take(eid, ["new@b.co"], customer="new@b.co").lookup == (None, True)   # no history: create
    for _ in range(3):
        steps.ids.set(f"old{_}@b.co", "cus_x", existed=True)
    assert steps.take(eid, ["new@b.co"], customer="new@b.co").lookup == (None, False)  # they existed: search


# end ---------------------------------------------------------------------------------------------

def test_end_records_the_step_finishes_and_disowns_in_one_round_trip(
        steps: EventSteps, store: EventStore, r: redis.Redis, count: RoundTrips) -> None:
    _warm(steps, store)
    store.owner = "host:1:abc/42"
    eid, key = _accept(store), "a@b.co"
    steps.begin(eid, 0, time.time() + AFTER)
    mark = Mark("0005", eid, "2026-01-01T00:00:05Z")
    finish = Finish(key, {"action": "updated", "customer_id": "cus_1"}, Ordered(_plan(), (), {"status": mark}),
                    hold="one")
    with count:
        recorded = steps.end(eid, finish, changes=[{"action": "updated"}], finished_at="2026-01-01T00:00:06Z")
    assert count.sent == ["EVALSHA"]
    assert recorded == {"action": "updated", "customer_id": "cus_1"}
    stored = store.load(eid)
    assert stored is not None
    assert stored["status"] == "done" and stored[f"step:{key}"] == recorded and "owner" not in stored
    assert stored["changes"] == [{"action": "updated"}] and stored["finished_at"] == "2026-01-01T00:00:06Z"
    assert r.zscore(store.pending_key, eid) is None and not r.sismember(store.owned_key(store.owner), eid)
    assert json.loads(r.hget(steps.order.key_prefix + key, "status")) == mark.to_dict()
    assert r.get(steps.inbox.burst_key(key)) == b"1" and 0 < r.pttl(steps.inbox.burst_key(key)) <= 3000


def test_end_never_moves_a_high_water_mark_back_and_records_what_was_stale(
        steps: EventSteps, store: EventStore, r: redis.Redis) -> None:
    eid, key = _accept(store), "a@b.co"
    newer = Mark("0009", "evt_newer", "2026-01-01T00:00:09Z")
    r.hset(steps.order.key_prefix + key, "status", json.dumps(newer.to_dict()))
    older = Mark("0003", eid, "2026-01-01T00:00:03Z")
    stale = ({"field": "metadata.plan", "verdict": "stale"},)
    finish = Finish(key, {"action": "updated"}, Ordered(_plan(), stale, {"status": older, "name": older}))
    recorded = steps.end(eid, finish)
    assert recorded == {"action": "updated", "stale": list(stale)}
    assert json.loads(r.hget(steps.order.key_prefix + key, "status")) == newer.to_dict()
    assert json.loads(r.hget(steps.order.key_prefix + key, "name")) == older.to_dict()
    assert r.get(steps.inbox.burst_key(key)) is None      # no hold to remember


def test_end_keeps_a_quiet_mark_for_a_single_write_and_without_a_record_only_finishes(
        steps: EventSteps, store: EventStore, r: redis.Redis) -> None:
    key = "a@b.co"
    steps.inbox.note_hold(key, burst=False, quiet=True)
    eid = _accept(store)
    steps.end(eid, Finish(key, {"action": "updated"}, Ordered(_plan(), (), {}), hold="one"))
    assert r.get(steps.inbox.burst_key(key)) == b"0"       # as Inbox.note_hold: one write keeps "quiet"
    other = _accept(store)
    steps.end(other, Finish(), matched=[])
    stored = store.load(other)
    assert stored is not None and stored["status"] == "done" and stored["matched"] == []
    assert not any(k.startswith("step:") for k in stored)


# the customer lock -------------------------------------------------------------------------------

def test_take_takes_a_free_lock_and_reads_and_a_busy_one_reads_and_drains_nothing(
        steps: EventSteps, store: EventStore, r: redis.Redis) -> None:
    eid, key, name = _accept(store), "a@b.co", f"{store.prefix}lock:cust:x"
    steps.inbox.park(key, ParkedPlan(new_event_id(), _plan()))
    taken = steps.take(eid, [key], customer=key, lock=(name, "w/1#tok", 60))
    assert not taken.busy and taken.customer and len(taken.parked) == 1
    assert r.get(name) == b"w/1#tok" and 59_000 < r.pttl(name) <= 60_000
    steps.inbox.park(key, ParkedPlan(new_event_id(), _plan()))
    other = steps.take(_accept(store), [key], customer=key, lock=(name, "w/2#tok", 60))
    assert other.busy and other.steps == [] and other.parked == []
    assert r.get(name) == b"w/1#tok" and r.llen(steps.inbox.prefix + key) == 1   # still parked for the holder


def test_end_releases_the_lock_only_while_its_token_holds_it(steps: EventSteps, store: EventStore,
                                                             r: redis.Redis) -> None:
    name = f"{store.prefix}lock:cust:y"
    r.set(name, "w/1#mine", px=60_000)
    steps.end(_accept(store), Finish(lock=(name, "w/1#mine")))
    assert r.get(name) is None
    r.set(name, "w/2#theirs", px=60_000)   # our lease ended and another worker took the customer
    eid = _accept(store)
    steps.end(eid, Finish(lock=(name, "w/1#mine")))
    assert r.get(name) == b"w/2#theirs" and (store.load(eid) or {})["status"] == "done"


def test_a_lock_taken_by_take_is_fenced_and_let_go_without_another_round_trip(
        steps: EventSteps, store: EventStore, r: redis.Redis, count: RoundTrips) -> None:
    from workers.locks import CustomerLocks, LockLost

    locks = CustomerLocks(r, prefix=store.prefix, lease=60)
    key = "a@b.co"
    token = locks.new_token()
    assert not steps.take(_accept(store), [key], customer=key, lock=(locks.name(key), token, locks.lease)).busy
    block = locks.taken(key, token)
    lock = block.__enter__()
    locks.fence()                                       # ours: writes may go on
    r.set(locks.name(key), "someone-else#x", px=60_000)
    with pytest.raises(LockLost):                        # lost: nothing more is written
        locks.fence()
    r.set(locks.name(key), token, px=60_000)
    steps.end(_accept(store), Finish(lock=(lock.name, token)))
    locks.let_go(lock)
    with count:
        block.__exit__(None, None, None)
    assert count.sent == [] and r.get(locks.name(key)) is None
    locks.fence()                                       # nothing held any more: nothing to fence
    # a lock that was not let go (the event failed before `end`) is released when the block ends
    token = locks.new_token()
    r.set(locks.name(key), token, px=60_000)
    with locks.taken(key, token):
        pass
    assert r.get(locks.name(key)) is None


# the write's fence, checked with its rate-limit slot ---------------------------------------------

def test_a_write_is_fenced_in_the_same_round_trip_as_its_rate_limit_slot(
        store: EventStore, r: redis.Redis, count: RoundTrips) -> None:
    from workers.locks import CustomerLocks, LockLost
    from workers.ratelimit import SharedRateLimiter

    limiter = SharedRateLimiter(r, key=f"{store.prefix}ratelimit:t", per_minute=1, burst=1)
    locks = CustomerLocks(r, prefix=store.prefix, lease=60)
    limiter.try_acquire()   # loads the script
    r.delete(limiter.key)
    with locks.hold("a@b.co"):
        fence = locks.fence_tokens()
        assert [name for name, _ in fence] == [locks.name("a@b.co")]
        r.set(locks.name("a@b.co"), "someone-else#x", px=60_000)     # the lease ended, another took it
        with count, pytest.raises(LockLost):
            limiter.try_acquire(fence)
        assert count.sent == ["EVALSHA"]
        assert r.get(limiter.key) is None                  # refused before taking a slot
        r.set(locks.name("a@b.co"), fence[0][1], px=60_000)
        assert limiter.try_acquire(fence) == 0.0           # ours again: the slot is taken
        assert limiter.try_acquire(fence) > 0              # and it counted (1 a minute)


def test_a_lock_the_watchdog_saw_lost_is_refused_without_asking_redis(store: EventStore, r: redis.Redis,
                                                                      count: RoundTrips) -> None:
    from workers.locks import CustomerLocks, LockLost, TaskLocks

    locks = CustomerLocks(r, prefix=store.prefix, lease=60)
    task, other = TaskLocks(locks), TaskLocks(locks)
    with task.hold_all(["a@b.co"]), other.hold_all(["c@d.co"]):
        assert [n for n, _ in task.fence_tokens()] == [locks.name("a@b.co")]   # a task fences its own locks
        with locks._mutex:
            locks._lost.add(locks.name("a@b.co"))
        with count, pytest.raises(LockLost):
            task.fence_tokens()
        assert count.sent == []
        assert [n for n, _ in other.fence_tokens()] == [locks.name("c@d.co")]
    assert task.fence_tokens() == [] and other.fence_tokens() == []
