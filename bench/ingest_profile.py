"""`python bench/ingest_profile.py [--variant atomic] [--worker-class gevent] [--duration 10] [--iterations 2000]`

Where the ingest's time goes, two ways:

1. Under load: gunicorn serves the bridge exactly as in bench/ingest.py while `py-spy record`
   samples every gunicorn worker, only the thread holding the GIL (`--gil`: Python work on a CPU;
   waiting on a socket, or for the GIL, is not counted). Each
   sample is attributed to the step of `bridge.ingest.receive` it was in (the view's direct callee),
   or to the server around the view (gunicorn, werkzeug, Flask). Needs py-spy
   (`.venv/bin/pip install py-spy`, not a dependency of the project).
2. In one process, one thread: each step of the hot path timed on its own (µs per call), and the
   whole request through Flask's test client against the bare baseline app's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SOURCE, TOKEN, bridge_env, load_bridge, start_gunicorn, start_redis, write_config  # noqa: E402
from bench.load import run_load  # noqa: E402
from bench.pyspy import FRAME, Recording, by_library, label, py_spy, summarise  # noqa: E402
from bench.report import machine, machine_line, print_table, write_json  # noqa: E402


def _in_package(frame: str, package: str) -> bool:
    m = FRAME.match(frame)
    file = m.group("file") if m else frame
    return file.startswith(package + "/") or f"/{package}/" in file


def outside_label(frames: list[str]) -> str:
    """The server part a sample outside the view belongs to (innermost library wins)."""
    for frame in reversed(frames):
        if _in_package(frame, "flask") or _in_package(frame, "werkzeug") or _in_package(frame, "blinker"):
            return "Flask/Werkzeug around the view (contexts, routing, request/response objects)"
        if _in_package(frame, "gunicorn") or "email/utils.py" in frame:
            return "gunicorn (event loop, HTTP parsing, writing the response)"
        if _in_package(frame, "concurrent") or "threading.py" in frame or "selectors.py" in frame:
            return "gunicorn's thread pool and selector (futures, locks, epoll)"
    return "other (" + (label(frames[-1]) if frames else "?") + ")"


def profile_under_load(args: Any, redis_url: str) -> dict[str, Any]:
    if py_spy() is None:
        print("py-spy not found: `.venv/bin/pip install py-spy` (profiling only; not a project dependency)")
        return {}
    broker = None if args.variant == "atomic" else redis_url.rsplit("/", 1)[0] + "/1"
    config = write_config(redis_url, broker_url=broker, name=f"profile-{args.variant}")
    proc, url = start_gunicorn("bridge:create_app()", bridge_env(config), workers=args.workers,
                               threads=args.threads, name="gunicorn-profile",
                               extra=["--worker-class", args.worker_class])
    try:
        run_load(url, duration=2, connections=args.connections)
        rec = Recording(proc.pids()[1:], rate=args.rate, tag="ingest")  # the workers, not the arbiter
        load = run_load(url, duration=args.duration, connections=args.connections)
        stacks = rec.stop()
    finally:
        proc.stop()
    s = summarise(stacks, "receive", "bridge/ingest.py", outside=outside_label)
    print(f"\nunder load ({args.variant}): {load.rps:.0f} req/s with py-spy attached, {s['samples']} samples "
          f"of the GIL-holding thread at {args.rate} Hz")
    cols = [("where", "where", ""), ("%", "share", ".1f")]
    tables = [print_table("where the busy time goes (% of samples)", cols, s["steps"]),
              print_table("inside the view, one level deeper (top 25)", cols, s["nested"]),
              print_table("hottest functions (self time, top 20)", cols, s["leaves"]),
              print_table("self time by library", cols, by_library(stacks))]
    return {"rps_with_profiler": load.rps, **s, "tables": tables}


def timed(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    """(wall µs, CPU µs of this process) per call, each the best of 3 rounds of n calls."""
    wall = cpu = float("inf")
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(n):
            fn()
        wall = min(wall, (time.perf_counter() - t) / n)
        cpu = min(cpu, (time.process_time() - c) / n)
    return wall * 1e6, cpu * 1e6


def stages_in_process(args: Any, redis_url: str) -> dict[str, Any]:
    import redis as redis_lib

    from bench.baseline_app import create_app as baseline_app
    from bridge.inbound import Headers, InboundRequest
    from bridge.parsing import parse_body
    from bridge.schemas import ENVELOPE
    from workers.store import fingerprint, new_event_id

    n = args.iterations
    rows: list[dict[str, Any]] = []
    for variant in ("atomic", "two-step"):
        broker = None if variant == "atomic" else redis_url.rsplit("/", 1)[0] + "/1"
        app = load_bridge(write_config(redis_url, broker_url=broker, name=f"stages-{variant}"))
        client = app.test_client()
        seq = iter(range(10**9))

        def post(c: Any = client, seq: Any = seq) -> None:
            i = next(seq)
            body = (f'{{"email":"s{i}@bench.test","name":"User {i}","company":"Bench Inc","plan":"pro",'
                    f'"seats":{i % 50},"tag":"t{i % 7}"}}')
            r = c.post(f"/hooks/{SOURCE}", data=body, content_type="application/json",
                       headers={"X-Bridge-Token": TOKEN})
            assert r.status_code == 202, r.get_data()

        wall, cpu = timed(post, n)
        rows.append({"step": f"whole request, bridge {variant} (test client)", "us": wall, "cpu_us": cpu})
        redis_lib.Redis.from_url(redis_url).flushall()
        redis_lib.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/1").flushall()

    base = baseline_app().test_client()
    wall, cpu = timed(lambda: base.post(f"/hooks/{SOURCE}", data=b'{"email":"x@bench.test"}',
                                        content_type="application/json",
                                        headers={"X-Bridge-Token": TOKEN}), n)
    rows.append({"step": "whole request, bare baseline app (test client)", "us": wall, "cpu_us": cpu})

    app = load_bridge(write_config(redis_url, name="stages-parts"))
    state = app.extensions["cstar_bridge"]
    src = state.sources[SOURCE]
    raw = b'{"email":"s1@bench.test","name":"User 1","company":"Bench Inc","plan":"pro","seats":3,"tag":"t1"}'
    headers = Headers({"Content-Type": "application/json", "X-Bridge-Token": TOKEN})
    inbound = InboundRequest(source=SOURCE, method="POST", url="http://x/hooks/bench", headers=headers,
                             body=raw, query={}, content_type="application/json")
    parsed = parse_body("application/json", raw)
    adapted = src.adapter.adapt(parsed.payload, headers, src.options)
    env_in = {"source": SOURCE, "type": adapted.type, "data": dict(adapted.data), "delivery_id": None,
              "idempotency_key": None}
    env = ENVELOPE.load(env_in)
    counter = iter(range(10**9))

    def claim() -> None:
        eid = new_event_id()
        event = {"id": eid, "source": SOURCE, "type": env["type"], "data": env["data"], "received_at": "x",
                 "accepted_at": repr(time.time()), "idempotency_key": str(next(counter)), "status": "queued"}
        state.store.claim(source=SOURCE, key=event["idempotency_key"], fp="f" * 64, event=event, pending=True,
                          queue=state.config.queue, message=state.messages.build(eid))

    from flask import g

    from bridge import envelope, metrics

    ctx = app.test_request_context()
    ctx.push()

    def respond() -> None:
        g.pop("request_id", None)
        envelope.ok({"eventId": "evt_x", "status": "queued", "duplicate": False}, 202)

    parts: list[tuple[str, Callable[[], Any]]] = [
        ("verify token (constant-time compare)", lambda: src.verifier.verify(inbound)),
        ("parse JSON body", lambda: parse_body("application/json", raw)),
        ("adapter (json)", lambda: src.adapter.adapt(parsed.payload, headers, src.options)),
        ("envelope validation (marshmallow ENVELOPE.load)", lambda: ENVELOPE.load(env_in)),
        ("idempotency key + fingerprint (2x sha256)",
         lambda: (hashlib.sha256(b"bench\0" + raw).hexdigest(), fingerprint(raw))),
        ("new_event_id (uuid4)", new_event_id),
        ("build the Celery task message (TaskMessages.build)", lambda: state.messages.build("evt_x")),
        ("claim: store + ledger + LPUSH, one Lua round trip (incl. message build)", claim),
        ("Redis PING round trip (for scale)", state.redis.ping),
        ("response: envelope.ok / jsonify (request id, timestamp, JSON)", respond),
        ("metrics counter inc", lambda: metrics.EVENTS.labels(source=SOURCE, outcome="accepted").inc()),
        ("json.dumps of the event data", lambda: json.dumps(env["data"], separators=(",", ":"))),
    ]
    for step, fn in parts:
        wall, cpu = timed(fn, n)
        rows.append({"step": step, "us": wall, "cpu_us": cpu})
    ctx.pop()
    redis_lib.Redis.from_url(redis_url).flushall()
    table = print_table(f"in one process, one thread (µs per call, best of 3 x {n})",
                        [("step", "step", ""), ("wall µs", "us", ".1f"), ("CPU µs", "cpu_us", ".1f")], rows)
    return {"rows": rows, "table": table}


def main() -> int:
    ap = argparse.ArgumentParser(description="Profile the ingest hot path (py-spy + step timings).")
    ap.add_argument("--variant", choices=("atomic", "two-step"), default="atomic")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--worker-class", default="gthread", choices=("gthread", "gevent", "sync"),
                    help="gunicorn worker class (default gthread; web and dev run gevent)")
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second (default 250)")
    ap.add_argument("--iterations", type=int, default=2000, help="calls per step timing (default 2000)")
    ap.add_argument("--skip-load", action="store_true", help="only the in-process step timings")
    ap.add_argument("--name", default="ingest_profile")
    args = ap.parse_args()
    if args.worker_class == "sync":
        args.threads = 1  # gunicorn turns sync with threads > 1 into gthread
    m = machine()
    print(f"machine: {machine_line(m)}")
    server = start_redis()
    results: dict[str, Any] = {}
    if not args.skip_load:
        results["under_load"] = profile_under_load(args, server.url)
    results["in_process"] = stages_in_process(args, server.url)
    write_json(args.name, vars(args), results, m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
