"""`python bench/rejections.py [--duration 8] [--connections 32] [--rounds 2]`

What recording rejected deliveries (bridge.rejections) costs the ingress, under gunicorn, the same
load generator and settings, back to back in one run:

    accepted-off      valid deliveries, recording off (`rejected: {keep: 0}`)
    accepted-on       valid deliveries, recording on (the defaults): the hot path, which must not change
    rejected-off      every delivery has a wrong token (401 after the body is read), recording off: the
                      metric is counted, nothing goes to Redis
    rejected-capped   the same, recording on with the defaults (60 a minute per source): past the cap a
                      process skips Redis altogether
    rejected-all      the same, recording every rejection (per_minute 10000): the worst case, one Lua
                      round trip (INCR + XADD + EXPIRE) per rejection

Two measurements of the same five variants, in one run:

- under gunicorn (2x4, the built-in generator or wrk, 32 connections): req/s, p50/p99, web CPU ms per
  request, and the ratio to its "off" partner. On a shared 2-CPU machine req/s moves by ±50% between
  two runs of the same code (see the accepted pair, whose code paths are identical);
- in-process (`--calls`, interleaved `--blocks`): the bridge's WSGI app called directly, CPU per request
  of this process (time.process_time) plus Redis's (from /proc), median over the blocks: steady
  enough to show what recording adds, in microseconds and as a ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402

from bench.common import TOKEN, bridge_env, load_bridge, start_gunicorn, start_redis, write_config  # noqa: E402
from bench.ingest import median  # noqa: E402
from bench.load import generator_name, run_load  # noqa: E402
from bench.report import (CpuMeter, cpu_seconds, machine, machine_line, print_table, ratio,  # noqa: E402
                          write_json)

VARIANTS = {  # name -> (the token the source expects is wrong?, `rejected:` settings)
    "accepted-off": (False, {"keep": 0}),
    "accepted-on": (False, {}),
    "rejected-off": (True, {"keep": 0}),
    "rejected-capped": (True, {}),
    "rejected-all": (True, {"per_minute": 10000}),
}
PARTNER = {"accepted-on": "accepted-off", "rejected-capped": "rejected-off", "rejected-all": "rejected-off"}


def config_for(redis_url: str, variant: str) -> Path:
    wrong, rejected = VARIANTS[variant]
    path = write_config(redis_url, name=variant)
    cfg = yaml.safe_load(path.read_text())
    if wrong:
        cfg["sources"]["bench"]["verify"]["secret"] = "not-the-token-the-load-sends"
    if rejected:
        cfg["rejected"] = rejected
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_variant(variant: str, config: Path, redis_url: str, redis_pid: int, args: Any) -> dict[str, Any]:
    r0 = redis.Redis.from_url(redis_url)
    proc, url = start_gunicorn("bridge:create_app()", bridge_env(config), workers=args.workers,
                               threads=args.threads, name=f"gunicorn-{variant}")
    try:
        run_load(url, duration=args.warmup, connections=args.connections, generator=args.generator)
        time.sleep(0.5)
        r0.flushall()
        meter = CpuMeter({"web": proc.pids, "redis": lambda: [redis_pid]}).start()
        load = run_load(url, duration=args.duration, connections=args.connections, generator=args.generator)
        used = meter.stop()
    finally:
        proc.stop()
    n = max(load.requests, 1)
    recorded = sum(int(r0.xlen(k)) for k in r0.scan_iter(match="bench:rejected:*"))
    expected = "202" if not VARIANTS[variant][0] else "401"
    row = {"variant": variant, "rps": load.rps, "p50_ms": load.p50_ms, "p99_ms": load.p99_ms,
           "web_cpu_ms": used["web"] * 1000 / n, "redis_cpu_ms": used["redis"] * 1000 / n,
           "requests": load.requests, "statuses": load.statuses, "recorded": recorded}
    other = {k: v for k, v in load.statuses.items() if k != expected}
    if other or load.errors:
        row["problem"] = f"statuses {other} errors {load.errors}"
    print(f"  {variant:<16} {load.rps:8.1f} req/s  p50 {load.p50_ms:6.2f} ms  p99 {load.p99_ms:6.2f} ms  "
          f"web {row['web_cpu_ms']:.2f} ms CPU/req  recorded {recorded}"
          + (f"  PROBLEM {row['problem']}" if row.get("problem") else ""), flush=True)
    return row


def in_process(configs: dict[str, Path], redis_url: str, redis_pid: int, calls: int, blocks: int
               ) -> list[dict[str, Any]]:
    """CPU per request of the bridge's WSGI app called in this process, variants interleaved by block."""
    from werkzeug.test import EnvironBuilder

    apps = {v: load_bridge(path) for v, path in configs.items()}
    r0 = redis.Redis.from_url(redis_url)
    samples: dict[str, list[float]] = {v: [] for v in apps}
    redis_samples: dict[str, list[float]] = {v: [] for v in apps}
    seq = 0

    def call(app: Any, n: int) -> None:
        status: list[str] = []
        env = EnvironBuilder(path="/hooks/bench", method="POST", content_type="application/json",
                             headers={"X-Bridge-Token": TOKEN},
                             data=f'{{"email":"u{n}@bench.test","name":"User","plan":"pro","seats":{n % 50}}}'
                             ).get_environ()
        body = app(env, lambda s, h, *a: status.append(s))
        b"".join(body)
        assert status and status[0][:3] in ("202", "401"), status

    for app in apps.values():  # warm up every app (imports, scripts loaded into Redis)
        for _ in range(50):
            seq += 1
            call(app, seq)
    for _ in range(blocks):
        for v, app in apps.items():
            r0.flushall()
            cpu0, rcpu0 = time.process_time(), cpu_seconds([redis_pid])
            for _ in range(calls):
                seq += 1
                call(app, seq)
            samples[v].append((time.process_time() - cpu0) * 1e6 / calls)
            redis_samples[v].append((cpu_seconds([redis_pid]) - rcpu0) * 1e6 / calls)
    rows = [{"variant": v, "us_per_req": median(samples[v]), "redis_us_per_req": median(redis_samples[v]),
             "us_spread": [round(min(samples[v]), 1), round(max(samples[v]), 1)]} for v in apps]
    by = {r["variant"]: r for r in rows}
    for row in rows:
        partner = by.get(PARTNER.get(row["variant"], ""))
        if partner:
            total, base = row["us_per_req"] + row["redis_us_per_req"], partner["us_per_req"] + partner["redis_us_per_req"]
            row["added_us"] = total - base
            row["cpu_ratio"] = ratio(total, base)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description="The ingest cost of recording rejected deliveries.")
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2, help="repeat the variants interleaved; medians")
    ap.add_argument("--generator", choices=("auto", "wrk", "builtin"), default="auto")
    ap.add_argument("--name", default="rejections")
    ap.add_argument("--calls", type=int, default=400, help="in-process requests per block (0: skip)")
    ap.add_argument("--blocks", type=int, default=9, help="in-process blocks per variant, interleaved")
    ap.add_argument("--no-gunicorn", action="store_true", help="only the in-process measurement")
    args = ap.parse_args()
    m = machine()
    print(f"machine: {machine_line(m)}; load generator: {generator_name(args.generator)}; "
          f"{args.connections} connections, {args.duration:g} s per variant, {args.rounds} round(s)")
    server = start_redis()
    configs = {v: config_for(server.url, v) for v in VARIANTS}
    inproc: list[dict[str, Any]] = []
    if args.calls:
        inproc = in_process(configs, server.url, server.proc.pid, args.calls, args.blocks)  # type: ignore[union-attr]
        print_table(f"in-process: the WSGI app called directly, {args.calls} requests x {args.blocks} interleaved "
                    "blocks, median CPU per request",
                    [("variant", "variant", ""), ("app CPU us/req", "us_per_req", ".0f"),
                     ("redis CPU us/req", "redis_us_per_req", ".1f"), ("added us/req", "added_us", ".0f"),
                     ("x off CPU/req", "cpu_ratio", ".3f")], inproc)
    runs = [] if args.no_gunicorn else [
        run_variant(v, configs[v], server.url, server.proc.pid, args)  # type: ignore[union-attr]
        for _ in range(args.rounds) for v in VARIANTS]
    summary = []
    for v in VARIANTS if runs else ():
        rs = [r for r in runs if r["variant"] == v]
        summary.append({"variant": v, **{k: median([r[k] for r in rs])
                                         for k in ("rps", "p50_ms", "p99_ms", "web_cpu_ms", "redis_cpu_ms")},
                        "recorded": max(r["recorded"] for r in rs),
                        "problems": "; ".join(r["problem"] for r in rs if r.get("problem"))})
    by = {r["variant"]: r for r in summary}
    for row in summary:
        partner = by.get(PARTNER.get(row["variant"], ""))
        if partner:
            row["rps_ratio"] = ratio(row["rps"], partner["rps"])
            row["cpu_ratio"] = ratio(row["web_cpu_ms"] + row["redis_cpu_ms"],
                                     partner["web_cpu_ms"] + partner["redis_cpu_ms"])
    table = print_table(
        f"recording rejections: POST /hooks/bench, {args.connections} connections, {args.duration:g} s, "
        f"median of {args.rounds}",
        [("variant", "variant", ""), ("req/s", "rps", ".0f"), ("p50 ms", "p50_ms", ".2f"),
         ("p99 ms", "p99_ms", ".2f"), ("web CPU ms/req", "web_cpu_ms", ".2f"),
         ("redis CPU ms/req", "redis_cpu_ms", ".3f"), ("x off req/s", "rps_ratio", ".2f"),
         ("x off CPU/req", "cpu_ratio", ".2f"), ("kept in Redis", "recorded", "")],
        summary)
    write_json(args.name, vars(args), {"summary": summary, "runs": runs, "table": table, "in_process": inproc}, m)
    return 1 if any(r["problems"] for r in summary) else 0


if __name__ == "__main__":
    raise SystemExit(main())
