"""The ledger's timing, the age sweep and the liveness pieces against a real redis-server.

The end-to-end proofs (real workers SIGKILLed on the default settings) are in tests/faults/; these
pin the rules each piece follows, quickly: the ledger score is the time to look again (no double
`reconcile_after`), the age sweep never re-enqueues what a message still carries, a dead worker's
messages go back to the queue while a live worker's stay, and a lock left by a dead process is broken.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis

from workers import liveness
from workers.locks import CustomerBusy, CustomerLocks, LockLost
from workers.reconciler import reconcile_once
from workers.store import EventStore, new_event_id

pytestmark = pytest.mark.integration

AFTER = 300.0  # the default worker.reconcile_after


@pytest.fixture
def r(redis_url):
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def store(r):
    return EventStore(r, prefix=f"l-{uuid.uuid4().hex[:8]}:", look_again_after=AFTER)


def _accept(store: EventStore) -> str:
    eid = new_event_id()
    store.claim(source="demo", key=eid, fp="f", event={"id": eid, "source": "demo", "type": "t", "data": {},
                                                       "status": "queued"})
    return eid


def test_a_started_event_is_looked_at_again_after_reconcile_after_not_twice_that(store):
    eid = _accept(store)
    started = time.time()
    store.start_attempt(eid, 0, started + AFTER, status="processing")
    sent: list[str] = []
    assert reconcile_once(store, sent.append, after=AFTER, now=started + AFTER - 5, in_flight=set) == 0
    assert reconcile_once(store, sent.append, after=AFTER, now=started + AFTER + 5, in_flight=set) == 1
    assert sent == [eid]
    # once looked at, not again before another reconcile_after
    assert reconcile_once(store, sent.append, after=AFTER, now=started + AFTER + 10, in_flight=set) == 0


def test_an_accepted_event_is_due_reconcile_after_past_its_acceptance(store):
    eid = _accept(store)
    now = time.time()
    assert store.due(now + AFTER - 5) == []
    assert store.due(now + AFTER + 5) == [eid]


def test_the_age_sweep_leaves_alone_what_a_message_still_carries(store):
    queued, lost, done = _accept(store), _accept(store), _accept(store)
    store.finish(done, "done")
    sent: list[str] = []
    later = time.time() + 2 * AFTER
    assert reconcile_once(store, sent.append, after=AFTER, now=later, in_flight=lambda: {queued}) == 1
    assert sent == [lost]
    # a queue too long to read this round: nothing is re-enqueued
    assert reconcile_once(store, sent.append, after=AFTER, now=later + 2 * AFTER, in_flight=lambda: None) == 0
    assert store.pending_count() == 2  # the finished one left the ledger


def _held_message(r, prefix: str, queue: str, wid: str, eid: str) -> str:
    """Put a process_event message for `eid` where kombu keeps a delivered, unacked one, held by `wid`."""
    tag = str(uuid.uuid4())
    body = json.dumps([[eid], {}, {}]).encode()
    import base64

    payload = {"body": base64.b64encode(body).decode(), "headers": {"argsrepr": f"['{eid}']"},
               "properties": {"body_encoding": "base64", "delivery_tag": tag, "delivery_info": {}}}
    r.hset(liveness.UNACKED, tag, json.dumps([payload, "", queue]))
    r.zadd(liveness.UNACKED_INDEX, {tag: time.time()})
    r.sadd(f"{prefix}held:{wid}", tag)
    r.hset(f"{prefix}holder", tag, wid)
    return tag


def test_a_dead_workers_messages_and_events_come_back_a_live_workers_stay(store, r):
    prefix, queue = store.prefix, f"q-{uuid.uuid4().hex[:8]}"
    dead, live = "host:1:dead", "host:2:live"
    keys = liveness.Keys(prefix)
    for wid in (dead, live):
        r.hset(keys.workers, wid, "{}")
    r.set(keys.hb(live), "1", ex=30)
    r.set(keys.hb(f"{live}/22"), "1", ex=30)

    held_dead, processing_dead, held_live = _accept(store), _accept(store), _accept(store)
    tag_dead = _held_message(r, prefix, queue, dead, held_dead)
    tag_live = _held_message(r, prefix, queue, live, held_live)
    for eid, owner in ((processing_dead, f"{dead}/11"), (held_live, f"{live}/22")):
        store.owner = owner
        store.start_attempt(eid, 0, time.time() + AFTER, status="processing")
    pushed: list[str] = []
    reaper = liveness.Reaper(r, prefix=prefix, queue=queue, look_again_after=AFTER, push_front=pushed.append)
    out = reaper.round()

    assert out.dead_workers == [dead]
    assert out.restored == [held_dead] and pushed == [processing_dead]
    assert [liveness.event_id_of(json.loads(m)) for m in r.lrange(queue, 0, -1)] == [held_dead]
    assert r.hget(liveness.UNACKED, tag_dead) is None and r.hget(liveness.UNACKED, tag_live) is not None
    assert store.load(processing_dead)["status"] == "queued"
    assert store.load(held_live)["status"] == "processing"
    assert r.hkeys(keys.workers) == [live.encode()]
    # a second round finds nothing more to do
    assert not reaper.round() and r.llen(queue) == 1


def test_a_message_received_again_by_a_live_worker_is_not_taken_from_it(store, r):
    prefix, queue = store.prefix, f"q-{uuid.uuid4().hex[:8]}"
    dead, live = "host:1:dead", "host:2:live"
    keys = liveness.Keys(prefix)
    r.hset(keys.workers, dead, "{}")
    r.set(keys.hb(live), "1", ex=30)
    tag = _held_message(r, prefix, queue, dead, _accept(store))
    r.hset(keys.holder, tag, live)  # kombu restored it and the live worker took it again (same tag)
    liveness.Reaper(r, prefix=prefix, queue=queue, look_again_after=AFTER, push_front=lambda e: None).round()
    assert r.llen(queue) == 0 and r.hget(liveness.UNACKED, tag) is not None


def test_in_flight_event_ids_reads_the_queue_and_the_unacked_messages(store, r):
    queue = f"q-{uuid.uuid4().hex[:8]}"
    a, b = new_event_id(), new_event_id()
    r.lpush(queue, json.dumps({"headers": {"argsrepr": f"['{a}']"}}))
    _held_message(r, store.prefix, queue, "host:3:x", b)
    assert {a, b} <= liveness.in_flight_event_ids(r, queue)
    assert liveness.in_flight_event_ids(r, queue, cap=0) is None


def test_a_lock_left_by_a_dead_process_is_broken_a_live_ones_is_not(r):
    prefix = f"k-{uuid.uuid4().hex[:8]}:"
    r.set(f"{prefix}hb:host:1:a/1", "1", ex=30)   # alive; host:2:b/2 has no heartbeat
    holder, other = (CustomerLocks(r, prefix=prefix, lease=60, wait=0.1) for _ in range(2))
    holder.owner, other.owner = "host:1:a/1", "host:3:c/3"
    other.heartbeats = f"{prefix}hb:"
    with holder.hold("c@x.co"):
        with pytest.raises(CustomerBusy):
            with other.hold("c@x.co"):
                pass
    holder.owner = "host:2:b/2"   # now a holder that dies while holding the lock
    cm = holder.hold("c@x.co")
    cm.__enter__()
    with other.hold("c@x.co"):
        holder_token = r.get(holder.name("c@x.co"))
        assert holder_token.startswith(b"host:3:c/3#")
        with pytest.raises(LockLost):
            holder.fence()   # the dead holder, were it to wake up, could not write
    cm.__exit__(None, None, None)


def test_a_live_workers_dead_pool_process_gives_back_what_no_message_carries(store, r):
    """A pool process killed by a hard time limit (its message acked) or lost (Celery requeued it): the
    event goes back to `queued`, and onto the queue only if no message carries it."""
    prefix, queue = store.prefix, f"q-{uuid.uuid4().hex[:8]}"
    live = "host:4:live"
    keys = liveness.Keys(prefix)
    r.hset(keys.workers, live, "{}")
    r.set(keys.hb(live), "1", ex=30)
    acked, requeued_by_celery = _accept(store), _accept(store)
    store.owner = f"{live}/44"   # no heartbeat: this pool process is dead
    for eid in (acked, requeued_by_celery):
        store.start_attempt(eid, 0, time.time() + AFTER, status="processing")
    r.lpush(queue, json.dumps({"headers": {"argsrepr": f"['{requeued_by_celery}']"}}))
    pushed: list[str] = []
    out = liveness.Reaper(r, prefix=prefix, queue=queue, look_again_after=AFTER, push_front=pushed.append).round()
    assert sorted(out.requeued) == sorted([acked, requeued_by_celery]) and pushed == [acked]
    assert {store.load(e)["status"] for e in (acked, requeued_by_celery)} == {"queued"}
    assert not out.dead_workers


def test_in_flight_event_ids_reads_a_retry_message_too(r):
    """A retry publishes its args as a tuple: ('evt_…',); it carries the event as much as ['evt_…']."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    a = new_event_id()
    r.lpush(queue, json.dumps({"headers": {"argsrepr": f"('{a}',)"}}))
    assert a in liveness.in_flight_event_ids(r, queue)


def test_a_dead_workers_message_it_never_recorded_holding_comes_back(store, r):
    """Killed between kombu's record of the delivery (`unacked`) and its own (`held:`/`holder`): the
    message is found as unclaimed once it is older than a heartbeat's life, and goes back to the
    queue; a recent unclaimed message (a live worker about to record it), a claimed one and another
    queue's are left alone."""
    prefix, queue = store.prefix, f"q-{uuid.uuid4().hex[:8]}"
    keys = liveness.Keys(prefix)
    dead, live = "host:7:dead", "host:8:live"
    r.hset(keys.workers, dead, "{}")
    r.hset(keys.workers, live, "{}")
    r.set(keys.hb(live), "1", ex=30)
    orphan, recent, claimed, other = (new_event_id() for _ in range(4))
    tags = {}
    for eid, q in ((orphan, queue), (recent, queue), (claimed, queue), (other, f"{queue}-other")):
        tags[eid] = _held_message(r, prefix, q, live, eid)
    for eid in (orphan, recent, other):   # delivered, never recorded as held
        r.srem(keys.held(live), tags[eid])
        r.hdel(keys.holder, tags[eid])
    for eid in (orphan, claimed, other):
        r.zadd(liveness.UNACKED_INDEX, {tags[eid]: time.time() - 60})
    out = liveness.Reaper(r, prefix=prefix, queue=queue, look_again_after=AFTER, push_front=lambda e: None).round()
    assert out.dead_workers == [dead] and out.restored == [orphan]
    assert [json.loads(m)["headers"]["argsrepr"] for m in r.lrange(queue, 0, -1)] == [f"['{orphan}']"]
    assert r.hget(liveness.UNACKED, tags[orphan]) is None
    for eid in (recent, claimed, other):
        assert r.hget(liveness.UNACKED, tags[eid]) is not None


def test_the_age_sweep_looks_twice_before_it_takes_an_event_for_lost(store):
    """A message being received (taken off the queue, its delivery not yet recorded) carries its event
    nowhere for a moment: the sweep sends only what is still missing on a second look."""
    being_received, lost = _accept(store), _accept(store)
    looks: list[int] = []

    def in_flight() -> set[str]:
        looks.append(1)
        return set() if len(looks) == 1 else {being_received}   # recorded by the second look

    sent: list[str] = []
    assert reconcile_once(store, sent.append, after=AFTER, now=time.time() + 2 * AFTER, in_flight=in_flight) == 1
    assert sent == [lost] and len(looks) == 2
