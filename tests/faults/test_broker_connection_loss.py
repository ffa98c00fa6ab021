"""A worker must survive losing Redis while it holds an unacknowledged message (workers.broker): Redis
SIGKILLed while a task waits on the API, then restarted — the same worker finishes every event, well
before the age sweep. The negative control runs the same app on kombu's own transport, which stops
the worker ("Unrecoverable error: AttributeError ... 'hostname'")."""

from __future__ import annotations

import time

import pytest
import sys

from tests.faults.batch import Batch, assert_each_effect_once, note_text
from tests.support.stack import BridgeStack
from workers.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.mark.timeout(300)
def test_redis_killed_while_a_task_waits_on_the_api_the_same_worker_finishes_everything(tmp_path, sandbox):
    """One task waits on the API (its message unacknowledged) while the consumer waits on the queue for
    the second pool slot: the state in which the lost connection used to stop the worker."""
    _kill_redis_while_a_task_waits(tmp_path, sandbox, stock_kombu=False)


def test_negative_control_on_kombus_own_transport_the_worker_stops(tmp_path, sandbox):
    _kill_redis_while_a_task_waits(tmp_path, sandbox, stock_kombu=True)


def _kill_redis_while_a_task_waits(tmp_path, sandbox, *, stock_kombu: bool) -> None:
    sandbox.reset()
    sandbox.set_faults([{"action": "latency", "latency_ms": 3000}])
    server = RedisServer(data_dir=tmp_path / "redis").start()
    stack = BridgeStack(tmp_path, server.url, sandbox, default_worker=True)
    try:
        if stock_kombu:
            worker = stack.start_worker(concurrency=2, args=[
                sys.executable, "-m", "celery", "-A", "tests.support.stock_kombu_app", "worker", "-Q", stack.queue,
                "-c", "2", "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"])
        else:
            worker = stack.start_worker()
        batch = Batch()

        def post(i: int) -> None:
            email = f"h{i}@broker-loss.test"
            batch.ids.append(stack.accepted_id(stack.post(body={"email": email, "note": note_text(i)})))
            batch.notes[email].append(note_text(i))
            batch.tags[email] |= {"lead"}

        post(0)
        deadline = time.monotonic() + 60
        while stack.event(batch.ids[0]).get("status") != "processing":
            assert time.monotonic() < deadline, "the event did not start"
            time.sleep(0.05)
        time.sleep(0.3)
        server.kill()
        time.sleep(1.0)
        server.start()
        sandbox.set_faults([])
        if stock_kombu:
            deadline = time.monotonic() + 60
            while worker.alive() and time.monotonic() < deadline:
                time.sleep(0.2)
            log = worker.log_tail(400)
            assert not worker.alive() and "hostname" in log, "the worker survived on kombu's transport: the " \
                "test above could not tell the repair matters\n" + log[-3000:]
            return
        for i in range(1, 6):
            post(i)
        stack.wait_for(batch.ids, timeout=120)   # well inside the 300 s age sweep: the worker itself did it
        assert worker.alive(), worker.log_tail(80)
        assert "Unrecoverable error" not in worker.log_tail(400)
        assert_each_effect_once(stack, batch)
    finally:
        stack.close()
        server.cleanup()
