"""A message lost in flight: kombu takes a message off the queue (BRPOP) and records the delivery in
a second round trip; when the connection to Redis is lost in between, the message exists only in the
memory of the worker that lost it. On reconnecting, the worker puts back every unfinished event that
no message carries (workers.reconciler.give_back_lost) — seconds, not the age sweep's 300 s + 60 s."""

from __future__ import annotations

import time

import pytest

from tests.faults.batch import note_text
from tests.support.stack import BridgeStack
from workers.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def _accept_then_lose_its_message(stack: BridgeStack) -> str:
    """Accept an event with no worker running, then take its message off the queue as a BRPOP would."""
    eid = stack.accepted_id(stack.post(body={"email": "lost@in-flight.test", "note": note_text(1)}))
    assert stack.redis.rpop(stack.queue) is not None
    assert stack.redis.llen(stack.queue) == 0 and stack.event(eid)["status"] == "queued"
    return eid


@pytest.mark.timeout(300)
def test_an_event_whose_message_was_lost_in_flight_is_given_back_when_the_worker_reconnects(tmp_path, sandbox):
    sandbox.reset()
    server = RedisServer(data_dir=tmp_path / "redis").start()
    stack = BridgeStack(tmp_path, server.url, sandbox, default_worker=True)
    try:
        eid = _accept_then_lose_its_message(stack)
        worker = stack.start_worker()
        server.kill()
        time.sleep(1.0)
        server.start()
        stack.wait_for([eid], timeout=90)        # the age sweep would take 300 s + one 60 s round
        assert "unfinished event(s) that no message carried went back" in worker.log_tail(400)
        assert sum(1 for c in stack.customers() if c["email"] == "lost@in-flight.test") == 1
    finally:
        stack.close()
        server.cleanup()


@pytest.mark.timeout(120)
def test_negative_control_without_a_reconnect_the_lost_event_waits(tmp_path, sandbox):
    """The same loss with no reconnect: nothing but the age sweep would bring the event back, so the
    test above sees the reconnect's work, not something else's."""
    sandbox.reset()
    server = RedisServer(data_dir=tmp_path / "redis").start()
    stack = BridgeStack(tmp_path, server.url, sandbox, default_worker=True)
    try:
        eid = _accept_then_lose_its_message(stack)
        stack.start_worker()
        time.sleep(20)
        assert stack.event(eid)["status"] == "queued"
    finally:
        stack.close()
        server.cleanup()
