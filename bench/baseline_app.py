"""The ingest benchmark's baseline: a bare Flask app that reads the body and answers 202.

Same framework, same gunicorn settings, same load generator, and an answer the same size as the
bridge's (`{"success": true, "data": {"eventId": …}, "meta": {…}}`), but no auth, parsing,
validation, Redis or queue. `gunicorn 'bench.baseline_app:create_app()'`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask("bench_baseline")

    @app.post("/hooks/<source>")
    def receive(source: str) -> Any:
        request.get_data(cache=False)
        data = {"eventId": "evt_" + uuid.uuid4().hex, "status": "queued", "duplicate": False}
        return jsonify({"success": True, "data": data,
                        "meta": {"requestId": "req_" + uuid.uuid4().hex[:20],
                                 "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}), 202

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"ok": True})

    return app
