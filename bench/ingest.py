"""`python bench/ingest.py [--duration 10] [--connections 32] [--workers 2 --threads 4] [--worker-class gevent]`

Ingest throughput and latency of `POST /hooks/<source>` (JSON, token auth, parsing, adapter,
marshmallow validation, idempotency claim, event store, enqueue) under gunicorn, against a bare
Flask endpoint that only answers 202 (bench/baseline_app.py), with the same gunicorn settings and
the same load generator, back to back in one run. Reported as ratios to that baseline.

Variants:
    baseline   bench.baseline_app: read the body, answer 202 with a response of the same shape
    floor      the baseline plus the one Redis round trip an accepted event needs (the store's real
               claim script, fixed realistic event and task message): what no implementation that
               keeps "a 2xx means it is stored and queued" can avoid; the bridge / floor ratio is
               what the bridge's own Python work costs
    atomic     the bridge as configured by default (broker == redis_url): claim, store, ledger and
               the task push in one Lua round trip
    two-step   the bridge with a separate broker URL (another Redis db): claim (Lua), Celery
               `send_task`, then mark-queued (Lua): the path used when the broker is not the store
    tree       `atomic` served from another checkout (`--tree PATH`, e.g. a `git worktree` of an older
               commit) first on PYTHONPATH: before/after of the bridge's code in the same run

No Celery worker runs: tasks pile up in Redis (the queue length is checked against the number of
202s: every accepted event must be queued), and Redis is flushed between runs. Besides requests per
second and latency, the CPU each process group used is read from /proc, so a cost per request
(less noisy than throughput on a shared machine) is reported too.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402

from bench.common import Proc, bridge_env, child_env, start_gunicorn, start_redis, workdir, write_config  # noqa: E402
from bench.load import generator_name, run_load  # noqa: E402
from bench.report import CpuMeter, machine, machine_line, print_table, ratio, write_json  # noqa: E402

VARIANTS = ("baseline", "floor", "atomic", "two-step", "tree")
CPUS = len(os.sched_getaffinity(0))


class UnixRedis:
    """redis-server listening only on a Unix socket (production settings otherwise): `--redis-unix`."""

    def __init__(self) -> None:
        from workers.redis_server import RECOMMENDED, redis_server_binary

        folder = workdir() / "redis-unix"
        folder.mkdir(exist_ok=True)
        self.path = folder / "redis.sock"
        args = [redis_server_binary(), "--port", "0", "--unixsocket", str(self.path), "--unixsocketperm", "700",
                "--dir", str(folder), "--save", "", "--daemonize", "no"]
        for k, v in RECOMMENDED.items():
            args += [f"--{k}", v]
        self.proc = Proc("redis-unix", args).start()
        self.url = f"unix://{self.path}?db=0"
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_variant(variant: str, *, redis_url: str, redis_pid: int, configs: dict[str, Path], args: Any,
                workers: int, threads: int) -> dict[str, Any]:
    r0 = redis.Redis.from_url(redis_url)
    r0.flushall()
    if variant == "baseline":
        app, env = "bench.baseline_app:create_app()", child_env()
    elif variant == "floor":
        app, env = "bench.baseline_app:create_floor_app()", child_env(BENCH_REDIS_URL=redis_url)
    elif variant == "tree":
        env = bridge_env(configs["atomic"])
        env["PYTHONPATH"] = os.pathsep.join([str(Path(args.tree).resolve()), env["PYTHONPATH"]])
        app = "bridge:create_app()"
    else:
        app, env = "bridge:create_app()", bridge_env(configs[variant])
    proc, url = start_gunicorn(app, env, workers=workers, threads=threads, name=f"gunicorn-{variant}",
                               extra=["--worker-class", args.worker_class])
    try:
        if args.warmup > 0:
            run_load(url, duration=args.warmup, connections=args.connections, generator=args.generator)
            time.sleep(0.5)  # let the warm-up's last requests finish before the flush
        r0.flushall()
        meter = CpuMeter({"web": proc.pids, "redis": lambda: [redis_pid]}).start()
        client_before = children_cpu()
        load = run_load(url, duration=args.duration, connections=args.connections, generator=args.generator)
        client_cpu = children_cpu() - client_before
        used = meter.stop()
    finally:
        proc.stop()
    accepted = load.ok(202)
    queued = None
    if variant in ("atomic", "floor", "tree"):
        queued = int(r0.llen("bench"))
    elif variant == "two-step":
        queued = int(redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/1").llen("bench"))
    n = max(load.requests, 1)
    web_ms, redis_ms, client_ms = used["web"] * 1000 / n, used["redis"] * 1000 / n, client_cpu * 1000 / n
    row: dict[str, Any] = {"variant": variant, "settings": f"{workers}x{threads}", "requests": load.requests,
           "accepted": accepted, "rps": load.rps, "p50_ms": load.p50_ms, "p90_ms": load.p90_ms,
           "p99_ms": load.p99_ms, "max_ms": load.max_ms, "statuses": load.statuses, "errors": load.errors,
           "queued": queued, "web_cpu_ms": web_ms, "redis_cpu_ms": redis_ms, "client_cpu_ms": client_ms,
           "cpu_busy": (used["web"] + used["redis"] + client_cpu) / meter.wall, "generator": load.generator}
    # What the machine could serve if nothing else ran on it: its CPUs over the CPU one request costs
    # (web + Redis + load generator). Far less noisy than req/s on a shared machine.
    row["cpu_ceiling_rps"] = CPUS * 1000.0 / (web_ms + redis_ms + client_ms)
    # Every 202 must be on the queue. A few more may be queued than wrk counted: requests in flight
    # when a run (or the warm-up before the flush) ended were served but not counted.
    in_flight = 2 * args.connections
    if queued is not None and not accepted <= queued <= accepted + in_flight:
        row["problem"] = f"{accepted} accepted but {queued} queued"
    bad = {k: v for k, v in load.statuses.items() if not k.startswith("2")}
    if bad or load.errors:
        row["problem"] = (row.get("problem", "") + f" non-2xx {bad} errors {load.errors}").strip()
    print(f"  {variant:<9} {workers}x{threads}: {load.rps:8.1f} req/s  p50 {load.p50_ms:6.2f} ms  "
          f"p99 {load.p99_ms:6.2f} ms  web {row['web_cpu_ms']:.2f} ms CPU/req"
          + (f"  PROBLEM: {row['problem']}" if row.get("problem") else ""), flush=True)
    return row


def median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def main() -> int:
    ap = argparse.ArgumentParser(description="Ingest req/s and latency vs a bare Flask endpoint.")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of load per variant (default 10)")
    ap.add_argument("--connections", type=int, default=32, help="keep-alive connections (default 32)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    ap.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (default 4)")
    ap.add_argument("--worker-class", default="gthread", choices=("gthread", "gevent", "sync"),
                    help="gunicorn worker class (default gthread, as the recorded results; web and dev run "
                         "gevent; sync serves one request at a time per process, so --threads is 1)")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds of load first (default 2)")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the variants interleaved; medians")
    ap.add_argument("--tree", default="", help="another checkout served as the `tree` variant (before/after)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {VARIANTS}")
    ap.add_argument("--sweep", default="", help="more gunicorn settings, e.g. 1x8,4x1 (workers x threads)")
    ap.add_argument("--generator", choices=("auto", "wrk", "builtin"), default="auto")
    ap.add_argument("--name", default="ingest", help="results file name (bench/results/<name>.json)")
    ap.add_argument("--redis-unix", action="store_true",
                    help="Redis on a Unix socket (REDIS_URL unix://...) instead of TCP on 127.0.0.1")
    args = ap.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variants {sorted(unknown)}")
    if ("tree" in variants) != bool(args.tree):
        ap.error("the tree variant and --tree PATH go together")

    m = machine()
    gen = generator_name(args.generator)
    print(f"machine: {machine_line(m)}")
    print(f"load generator: {gen}" + (" (wrk, Lua script making unique bodies)" if gen == "wrk" else
                                      " (built-in: asyncio keep-alive sockets, one process per core)"))
    print(f"{args.connections} connections, {args.duration:g} s per variant after {args.warmup:g} s warm-up, "
          f"{args.rounds} round(s)")
    server: Any = UnixRedis() if args.redis_unix else start_redis()
    if args.redis_unix and "two-step" in variants:
        ap.error("two-step needs a TCP broker URL; leave it out with --redis-unix")
    configs = {"atomic": write_config(server.url, name="atomic"),
               "two-step": write_config(server.url, broker_url=server.url.rsplit("/", 1)[0] + "/1",
                                        name="two-step")}
    if args.worker_class == "sync":
        args.threads = 1  # gunicorn turns sync with threads > 1 into gthread
    settings = [(args.workers, args.threads)]
    for spec in filter(None, args.sweep.split(",")):
        w, t = spec.lower().split("x")
        if (int(w), int(t)) not in settings:
            settings.append((int(w), int(t)))

    runs: list[dict[str, Any]] = []
    for workers, threads in settings:
        print(f"\ngunicorn --workers {workers} --threads {threads} --worker-class {args.worker_class}")
        for round_ in range(args.rounds):
            for variant in variants:
                run = run_variant(variant, redis_url=server.url, redis_pid=server.proc.pid,  # type: ignore
                                  configs=configs, args=args, workers=workers, threads=threads)
                runs.append({**run, "round": round_})

    summary: list[dict[str, Any]] = []
    for workers, threads in settings:
        key = f"{workers}x{threads}"
        base = [r for r in runs if r["settings"] == key and r["variant"] == "baseline"]
        for variant in variants:
            rs = [r for r in runs if r["settings"] == key and r["variant"] == variant]
            row: dict[str, Any] = {"variant": variant, "settings": key}
            for k in ("rps", "p50_ms", "p99_ms", "web_cpu_ms", "redis_cpu_ms", "client_cpu_ms", "cpu_busy",
                      "cpu_ceiling_rps"):
                row[k] = median([r[k] for r in rs])
            row["accepted"] = sum(r["accepted"] for r in rs)
            row["problems"] = "; ".join(r["problem"] for r in rs if r.get("problem")) or ""
            if base:
                b = {k: median([r[k] for r in base])
                     for k in ("rps", "p50_ms", "p99_ms", "web_cpu_ms", "cpu_ceiling_rps")}
                row["rps_ratio"] = ratio(row["rps"], b["rps"])
                row["p50_ratio"] = ratio(row["p50_ms"], b["p50_ms"])
                row["p99_ratio"] = ratio(row["p99_ms"], b["p99_ms"])
                row["cpu_ratio"] = ratio(row["web_cpu_ms"], b["web_cpu_ms"])
                row["ceiling_ratio"] = ratio(row["cpu_ceiling_rps"], b["cpu_ceiling_rps"])
                # Each round's req/s over the baseline's of the same round (run minutes apart at most): on a
                # shared machine the load changes between rounds, and a paired ratio follows it.
                paired = [ratio(r["rps"], b_r["rps"]) for r in rs for b_r in base if b_r["round"] == r["round"]]
                row["paired_ratio"] = median(paired)
                row["paired_range"] = f"{min(paired):.2f}-{max(paired):.2f}"
            floor = [r for r in runs if r["settings"] == key and r["variant"] == "floor"]
            if floor:
                row["floor_ratio"] = ratio(row["rps"], median([r["rps"] for r in floor]))
            summary.append(row)

    table = print_table(
        f"ingest: POST /hooks/bench, {args.connections} connections, {args.duration:g} s, {gen}"
        + (f", median of {args.rounds} rounds" if args.rounds > 1 else ""),
        [("variant", "variant", ""), ("gunicorn", "settings", ""), ("req/s", "rps", ".0f"),
         ("p50 ms", "p50_ms", ".2f"), ("p99 ms", "p99_ms", ".2f"), ("x baseline req/s", "rps_ratio", ".2f"),
         ("x floor req/s", "floor_ratio", ".2f"), ("x baseline, paired by round", "paired_ratio", ".2f"),
         ("paired range", "paired_range", ""),
         ("x p50", "p50_ratio", ".2f"), ("x p99", "p99_ratio", ".2f"),
         ("web CPU ms/req", "web_cpu_ms", ".2f"),
         ("redis CPU ms/req", "redis_cpu_ms", ".3f"), ("client CPU ms/req", "client_cpu_ms", ".2f"),
         ("CPUs busy", "cpu_busy", ".2f"), ("CPU ceiling req/s", "cpu_ceiling_rps", ".0f"),
         ("x baseline ceiling", "ceiling_ratio", ".2f")],
        summary)
    problems = [r for r in summary if r["problems"]]
    for r in problems:
        print(f"PROBLEM {r['variant']} {r['settings']}: {r['problems']}")
    write_json(args.name, {**vars(args), "generator": gen},
               {"summary": summary, "runs": runs, "table": table}, m)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
