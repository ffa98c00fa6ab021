"""Promise 1 with Redis itself killed (SIGKILL, AOF on): 5xx while it is down, never a 2xx that is then
lost; every event that got a 2xx completes once Redis is back, and workers recover without help."""

from __future__ import annotations

import time

import pytest

from tests.faults.batch import scaled, scaled_timeout, Batch, assert_each_effect_once, note_text
from tests.support.stack import BridgeStack
from workers.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.mark.timeout(600)
@pytest.mark.slow
def test_sigkill_redis_mid_batch_then_restart_loses_no_accepted_event(tmp_path, sandbox):
    sandbox.reset()
    server = RedisServer(data_dir=tmp_path / "redis").start()
    stack = BridgeStack(tmp_path, server.url, sandbox, default_worker=True)
    try:
        stack.start_worker()
        batch = Batch()
        statuses_while_down: list[int] = []
        i = 0

        def post_one(record_down: bool) -> None:
            nonlocal i
            email = f"c{i % 20}@redis-kill.test"
            resp = stack.post(body={"email": email, "name": "R", "tag": f"t{i}", "note": note_text(i)})
            if record_down:
                statuses_while_down.append(resp.status_code)
            if 200 <= resp.status_code < 300:
                batch.ids.append(resp.get_json()["data"]["eventId"])
                batch.notes[email].append(note_text(i))
                batch.tags[email] |= {"lead", f"t{i}"}
            else:
                assert resp.status_code >= 500, resp.get_json()
            i += 1

        for _ in range(scaled(80)):
            post_one(False)
        server.kill()
        for _ in range(scaled(20)):  # the sender keeps posting while Redis is down
            post_one(True)
        assert statuses_while_down and all(s == 503 for s in statuses_while_down), statuses_while_down
        time.sleep(2.0)
        server.start()  # same port, same data dir: the AOF brings back what was acknowledged
        for _ in range(scaled(40)):
            post_one(False)

        # Well inside the age sweep (300 s + one 60 s round): what the kill left behind — a lock whose release
        # failed, a message lost in flight, unacked messages — the worker gives back itself on reconnecting.
        stack.wait_for(batch.ids, timeout=scaled_timeout(180))
        assert_each_effect_once(stack, batch)
        assert len(batch.ids) == scaled(80) + scaled(40)
    finally:
        stack.close()
        server.cleanup()


def test_negative_control_redis_without_aof_loses_accepted_events(tmp_path, sandbox):
    """The same crash with AOF off: Redis comes back empty and accepted events are gone — the
    test above depends on AOF, and would see its absence."""
    sandbox.reset()
    server = RedisServer(data_dir=tmp_path / "redis-noaof", aof=False).start()
    stack = BridgeStack(tmp_path, server.url, sandbox, default_worker=True)
    try:
        ids = [stack.accepted_id(stack.post(body={"email": f"c{i}@noaof.test", "note": note_text(i)}))
               for i in range(scaled(30))]
        server.kill()
        server.start()
        missing = [eid for eid in ids if not stack.event(eid)]
        assert missing, "events survived a crash without AOF: the test could not tell AOF matters"
    finally:
        stack.close()
        server.cleanup()
