"""Group commit (bridge.claims) over real sockets: under `cstar-bridge web` (gevent workers) the claims of
concurrent requests share one Redis round trip, and every promise of a claim alone still holds —
one event per idempotency key (also when the repeats arrive together and share a batch), a 2xx only
for an event stored and queued, a 503 when the claim fails. Real gunicorn, real redis-server."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.cli.serve import gunicorn_command
from tests.support.stack import TOKEN, BridgeStack
from tests.support.web import WebServer
from workers.redis_server import RedisServer
from workers.store import ClaimRequest, EventStore

pytestmark = pytest.mark.integration

AUTH = {"X-Bridge-Token": TOKEN, "Content-Type": "application/json"}
SENDERS = 24  # concurrent connections in a storm (each process of two serves about half)


def storm(url: str, deliveries: list[tuple[bytes, dict[str, str]]]) -> list[tuple[int, Any, dict[str, str]]]:
    """Send every delivery at the same moment, one keep-alive connection each; (status, body, headers)."""
    clients = [httpx.Client(base_url=url, timeout=60) for _ in deliveries]
    for c in clients:  # connect first, so the deliveries themselves arrive together
        c.get("/healthz").raise_for_status()
    barrier = threading.Barrier(len(deliveries))
    results: list[Any] = [None] * len(deliveries)

    def send(i: int) -> None:
        body, headers = deliveries[i]
        barrier.wait()
        try:
            r = clients[i].post("/hooks/demo", content=body, headers={**AUTH, **headers})
            results[i] = (r.status_code, r.json(), dict(r.headers))
        except httpx.HTTPError as exc:
            results[i] = (0, repr(exc), {})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(deliveries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for c in clients:
        c.close()
    return results


def batch_metrics(url: str) -> dict[str, float]:
    """Claims sent, round trips, and same-batch repeats, summed over the gunicorn workers."""
    out = {"claims": 0.0, "batches": 0.0, "repeats": 0.0}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics", timeout=30).text):
        for s in family.samples:
            if s.name == "cstar_bridge_claim_batch_size_sum":
                out["claims"] += s.value
            elif s.name == "cstar_bridge_claim_batch_size_count":
                out["batches"] += s.value
            elif s.name == "cstar_bridge_claim_batch_repeats_total":
                out["repeats"] += s.value
    return out


def _body(tag: str) -> bytes:
    return json.dumps({"email": f"{tag}@group.test", "name": "Grace", "tag": tag}).encode()


def assert_one_event_per_key(stack: BridgeStack, results: list[Any]) -> str:
    """Exactly one 202; every other answer a 200 duplicate naming the same event; that event stored and
    queued."""
    statuses = sorted(r[0] for r in results)
    assert statuses == [200] * (len(results) - 1) + [202], results
    ids = {r[1]["data"]["eventId"] for r in results}
    assert len(ids) == 1, ids
    assert all(r[1]["data"]["duplicate"] for r in results if r[0] == 200)
    event_id = ids.pop()
    assert stack.event(event_id)["status"] == "queued"
    return event_id


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_url, sandbox):
    s = BridgeStack(tmp_path_factory.mktemp("group"), redis_url, sandbox)
    yield s
    s.close()


@pytest.fixture(scope="module")
def web(stack):
    """`cstar-bridge web` as users run it: two gevent workers."""
    with WebServer(stack, stack.tmp / "web.log") as srv:
        yield srv


def test_claims_of_a_batch_are_claimed_in_order_like_one_by_one(stack):
    """The store's batch call alone: a key repeated in one batch is a duplicate of its first claim, and only
    the first pushes a task message."""
    store = EventStore(stack.redis, prefix=stack.prefix + "unit:")
    queue = stack.prefix + "unit-queue"
    key = uuid.uuid4().hex
    reqs = [ClaimRequest("demo", key if i % 2 == 0 else f"{key}-{i}", f"fp{i}",
                         {"id": f"evt_{key[:8]}{i}", "source": "demo", "type": "t", "data": {}, "status": "queued"},
                         queue=queue, message=f"m{i}") for i in range(6)]
    claims = store.claim_many(reqs)
    assert [c.new for c in claims] == [True, True, False, True, False, True]
    assert claims[2].event_id == claims[4].event_id == f"evt_{key[:8]}0"
    assert claims[2].fingerprint == "fp0" and claims[2].status == "queued"
    assert sorted(x.decode() for x in stack.redis.lrange(queue, 0, -1)) == ["m0", "m1", "m3", "m5"]
    assert not stack.redis.exists(store.event_key(f"evt_{key[:8]}2"))


def test_concurrent_duplicate_deliveries_get_one_event(web, stack):
    before = stack.queue_length()
    keys = 0
    for round_ in range(8):
        key = f"dup-{uuid.uuid4().hex}"
        results = storm(web.url, [(_body(f"h{round_}"), {"Idempotency-Key": key})] * SENDERS)
        assert_one_event_per_key(stack, results)
        keys += 1
    for round_ in range(4):  # no header: the key is the body's hash
        results = storm(web.url, [(_body(f"b{round_}-{uuid.uuid4().hex[:6]}"), {})] * SENDERS)
        assert_one_event_per_key(stack, results)
        keys += 1
    assert stack.queue_length() == before + keys  # one task per key, never one per request
    seen = batch_metrics(web.url)
    # The repeats did share round trips: otherwise this test would say nothing about group commit.
    assert seen["repeats"] > 0, seen
    assert seen["claims"] > seen["batches"], seen


def test_concurrent_distinct_deliveries_are_each_stored_and_queued(web, stack):
    before = stack.queue_length()
    deliveries = [(_body(f"d{i}-{uuid.uuid4().hex[:6]}"), {}) for i in range(SENDERS)]
    ids: set[str] = set()
    for _ in range(4):
        results = storm(web.url, deliveries)
        assert all(r[0] in (200, 202) for r in results), results
        ids |= {r[1]["data"]["eventId"] for r in results}
        deliveries = [(_body(f"d{i}-{uuid.uuid4().hex[:6]}"), {}) for i in range(SENDERS)]
    assert len(ids) == 4 * SENDERS
    assert stack.queue_length() == before + 4 * SENDERS
    for event_id in ids:
        assert stack.event(event_id)["status"] == "queued"
    queued = {json.loads(m)["headers"]["id"] for m in stack.redis.lrange(stack.queue, 0, -1)}
    assert ids <= queued


def test_a_failed_batch_answers_503_to_every_request_in_it(tmp_path, sandbox):
    """Redis killed under load: every request answers 503 with Retry-After, none 2xx; back up, 202 again."""
    server = RedisServer(data_dir=tmp_path / "redis").start()
    stack = BridgeStack(tmp_path, server.url, sandbox)
    try:
        with WebServer(stack, tmp_path / "web.log") as web:
            first = storm(web.url, [(_body(f"w{i}-{uuid.uuid4().hex[:6]}"), {}) for i in range(SENDERS)])
            assert all(r[0] == 202 for r in first), first
            server.kill()
            down = storm(web.url, [(_body(f"x{i}-{uuid.uuid4().hex[:6]}"), {}) for i in range(SENDERS)])
            assert [r[0] for r in down] == [503] * SENDERS, down
            assert all(r[2].get("retry-after") == "5" for r in down)
            assert all(r[1]["error"]["code"] == "service_unavailable" for r in down), down[0]
            server.start()
            again = storm(web.url, [(_body(f"y{i}-{uuid.uuid4().hex[:6]}"), {}) for i in range(SENDERS)])
            assert all(r[0] == 202 for r in again), again
            for r in again:
                assert stack.event(r[1]["data"]["eventId"])["status"] == "queued"
    finally:
        stack.close()
        server.cleanup()


def test_negative_control_sync_workers_claim_alone(stack, tmp_path):
    """The same storm against sync workers: the same one event per key, and the batch metrics show every
    claim sent alone — so the metrics the test above relies on do tell grouped from not grouped."""
    args = gunicorn_command("127.0.0.1", "{port}", 2, worker_class="sync")  # type: ignore[arg-type]
    with WebServer(stack, tmp_path / "sync.log", args=args,
                   env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}) as srv:
        for round_ in range(3):
            results = storm(srv.url, [(_body(f"s{round_}"), {"Idempotency-Key": uuid.uuid4().hex})] * 8)
            assert_one_event_per_key(stack, results)
        seen = batch_metrics(srv.url)
    assert seen["claims"] == seen["batches"] == 3 * 8, seen
    assert seen["repeats"] == 0, seen
