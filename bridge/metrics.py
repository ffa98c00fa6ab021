"""Prometheus metrics of the ingress. Per process, except under `cstar-bridge web`, which turns on
prometheus_client's multiprocess mode so `/metrics` sums every gunicorn worker (bridge.gunicorn_conf)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS = Counter("cstar_bridge_hooks_total", "Deliveries to /hooks by source and outcome", ["source", "outcome"])
VERIFY_FAILURES = Counter("cstar_bridge_verification_failures_total",
                          "Deliveries refused by signature/token verification", ["source", "check"])
HTTP_ERRORS = Counter("cstar_bridge_http_errors_total", "Error responses by status and code", ["status", "code"])
REJECTED = Counter("cstar_bridge_rejected_total", "Deliveries to /hooks refused with a 4xx, by source (`?`: "
                   "unknown sources) and cause", ["source", "cause"])
REJECTED_UNRECORDED = Counter("cstar_bridge_rejected_unrecorded_total",
                              "Rejections counted but not recorded (over the per-minute cap, or Redis away)",
                              ["source"])
LATENCY = Histogram("cstar_bridge_hook_seconds", "Time to accept a delivery",
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
CLAIM_BATCH = Histogram("cstar_bridge_claim_batch_size", "Claims sent in one Redis round trip (group commit "
                        "under gevent: the concurrent requests of one process)",
                        buckets=(1, 2, 4, 8, 16, 32, 64))
CLAIM_BATCH_REPEATS = Counter("cstar_bridge_claim_batch_repeats_total",
                              "Claims whose idempotency key an earlier claim of the same batch carries "
                              "(concurrent duplicate deliveries, answered as duplicates)")
