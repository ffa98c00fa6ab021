"""The ingest benchmark's baselines, served by the same gunicorn settings as the bridge.

`create_app()`: a bare Flask app that reads the body and answers 202 with an answer the same size
as the bridge's (`{"success": true, "data": {"eventId": …}, "meta": {…}}`): no auth, parsing,
validation, Redis or queue. `gunicorn 'bench.baseline_app:create_app()'`.

`create_floor_app()`: the same, plus the one Redis round trip every accepted event needs — the
store's real claim script (idempotency key, event hash, ledger, task push) with a fixed, realistic
event and task message (Redis at BENCH_REDIS_URL). Between it and the bare app: the price of that
round trip. Between it and the bridge: the bridge's own Python work per request.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, Callable

from flask import Flask, jsonify, request


def _app(accept: Callable[[str, bytes, str], None]) -> Flask:
    app = Flask("bench_baseline")

    @app.post("/hooks/<source>")
    def receive(source: str) -> Any:
        raw = request.get_data(cache=False)
        event_id = "evt_" + uuid.uuid4().hex
        accept(source, raw, event_id)
        data = {"eventId": event_id, "status": "queued", "duplicate": False}
        return jsonify({"success": True, "data": data,
                        "meta": {"requestId": "req_" + uuid.uuid4().hex[:20],
                                 "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}), 202

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"ok": True})

    return app


def create_app() -> Flask:
    return _app(lambda source, raw, event_id: None)


def create_floor_app() -> Flask:
    import redis

    from workers.runtime import redis_client
    from workers.store import EventStore

    url = os.environ["BENCH_REDIS_URL"]
    # redis_client's TCP keep-alive option is refused by redis-py's Unix-socket connection
    client = redis.Redis.from_url(url, socket_timeout=10) if url.startswith("unix:") else redis_client(url)
    store = EventStore(client, prefix="floor:")
    data = {"email": "u1@bench.test", "name": "User 1", "company": "Bench Inc", "plan": "pro", "seats": 3,
            "tag": "t1"}
    message = "m" * 1100  # about the size of the Celery task message the bridge pushes

    def accept(source: str, raw: bytes, event_id: str) -> None:
        event = {"id": event_id, "source": source, "type": "form.submitted", "data": data,
                 "received_at": "2026-01-01T00:00:00Z", "accepted_at": repr(time.time()),
                 "idempotency_key": event_id, "status": "queued"}
        store.claim(source=source, key=event_id, fp=str(len(raw)), event=event, queue="bench",
                    message=message)

    return _app(accept)
