"""`python bench/e2e.py [--events 300] [--new-fraction 0.5] [--workers default,prefork:2] [--paced-seconds 10]
[--api-latency-ms 100]`

End to end: from POST to the customer changed in the sandbox, with a real Celery worker started the
way `cstar-bridge worker` starts it, a real redis-server and the sandbox over HTTP.

Workers (`--workers`, each measured in turn in one run): `default` is `cstar-bridge worker` exactly as
it starts by default (its default pool and concurrency); `POOL:N` is `cstar-bridge worker --pool POOL
-c N` (`prefork:2` is the worker before issue 15). `--api-latency-ms` sets the sandbox's `latency`
fault on every API call (a SaaS API over the internet answers in 50–300 ms). Each row also reports the
worker's total RSS (main process and pool processes, the highest sample while it drains the batch).

For each worker:
    seed        create the "existing" customers through the bridge (so it has their ids cached),
                which also warms the workers up; not measured
    saturation  queue --events events with the workers stopped (half new customers, half existing
                ones: a new tag and changed metadata), start the workers, and measure events/s over
                the middle 80% of the finish times (posting and start-up are not measured)
    paced       post at --paced-fraction of that rate for --paced-seconds (open loop, default 30%: the
                posting shares the two CPUs with the workers), measure the accepted -> done latency
                p50/p99 (under saturation, latency would only measure the backlog)
    round trips Redis round trips per event, counted in the measured worker's processes and put down
                to Celery or to the bridge's own code by file and function (bench/roundtrips.py);
                INFO commandstats, the "Redis cmds/event" column, also counts what scripts run
    baseline    the same API calls the bridge made in the saturation phase (from the sandbox's call
                log: same methods, paths, queries and bodies; creates get fresh emails), replayed
                straight at the sandbox by as many processes as the worker has (at most 4) with
                keep-alive clients; under --api-latency-ms by as many threads as the worker has
                events in flight (its concurrency), which also shows whether the sandbox itself
                keeps up at that concurrency.
                That is the rate the API itself allows for this work on this machine; the bridge's
                events/s divided by (that rate / the bridge's calls per event) is the share of it
                the bridge achieves. A Celery no-op baseline would measure only Celery; the API
                calls are what an event cannot do without.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import threading  # noqa: E402

from bridge.cli.serve import DEFAULT_CONCURRENCY  # noqa: E402
from bench.common import API_KEY, PY, Proc, Sandbox, bridge_env, start_redis, write_config  # noqa: E402
from bench.pyspy import Recording, by_library, summarise  # noqa: E402
from bench.roundtrips import RoundTrips, per_event  # noqa: E402
from bench.report import (CpuMeter, descendants, machine, machine_line, percentile, print_table, ratio,  # noqa: E402
                          rss_kib, write_json)
from bench.workload import BenchBridge, existing_emails, mix, seed_bodies  # noqa: E402


def _replay_slice(job: tuple[str, list[dict[str, Any]], str]) -> tuple[int, float, dict[str, int]]:
    """Replay calls one after another over one keep-alive connection, with urllib3 (the bridge's own
    HTTP library), so the baseline is the API's rate, not a slower client's."""
    import json
    from urllib.parse import urlencode

    import urllib3

    url, calls, tag = job
    statuses: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json",
               "Content-Type": "application/json"}
    pool = urllib3.connection_from_url(url, maxsize=1, retries=False, timeout=30.0)
    try:
        started = time.perf_counter()
        for i, call in enumerate(calls):
            body = call.get("body")
            if call["method"] == "POST" and isinstance(body, dict):
                body = {**body, "email": f"replay-{tag}-{i}@bench.test"}
            query = call.get("query")
            payload = json.dumps(body).encode() if call["method"] in ("POST", "PATCH", "PUT") else None
            r = pool.urlopen(call["method"], call["path"] + (f"?{urlencode(query)}" if query else ""),
                             body=payload, headers=headers, redirect=False, preload_content=True)
            statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
        return len(calls), time.perf_counter() - started, statuses
    finally:
        pool.close()


def replay_in_flight(url: str, calls: list[dict[str, Any]], in_flight: int, tag: str) -> dict[str, Any]:
    """The calls replayed by `in_flight` threads of this process at once (keep-alive urllib3
    connections): with API latency, the rate the sandbox allows at the worker's concurrency — also
    the check that the sandbox serves that many requests at once and is not the bottleneck."""
    from concurrent.futures import ThreadPoolExecutor

    n = len(calls)
    slices = [calls[i * n // in_flight:(i + 1) * n // in_flight] for i in range(in_flight)]
    with ThreadPoolExecutor(in_flight) as pool:
        parts = list(pool.map(_replay_slice, [(url, s, f"{tag}-{i}") for i, s in enumerate(slices)]))
    return _combined(n, parts)


def _combined(n: int, parts: list[tuple[int, float, dict[str, int]]]) -> dict[str, Any]:
    """The slices' results as one: the slowest slice's time, the status counts added up."""
    seconds = max(p[1] for p in parts)
    statuses: dict[str, int] = {}
    for p in parts:
        for k, v in p[2].items():
            statuses[k] = statuses.get(k, 0) + v
    return {"calls": n, "seconds": seconds, "calls_per_s": n / seconds if seconds else 0.0,
            "statuses": statuses}


def replay(url: str, calls: list[dict[str, Any]], processes: int, tag: str) -> dict[str, Any]:
    """The calls, split in `processes` contiguous slices, each replayed sequentially by one process."""
    n = len(calls)
    slices = [calls[i * n // processes:(i + 1) * n // processes] for i in range(processes)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes) as pool:
        parts = pool.map(_replay_slice, [(url, s, f"{tag}-{i}") for i, s in enumerate(slices)])
    return _combined(n, parts)


def redis_commands(before: dict[str, int], after: dict[str, int], posted: int) -> dict[str, int]:
    """The workers' Redis commands: all of them, less the benchmark's (one claim per event posted,
    ZCARD polls, INFO)."""
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}
    delta.pop("zcard", None)
    delta.pop("info", None)
    if "evalsha" in delta:
        delta["evalsha"] -= posted
    return {k: v for k, v in sorted(delta.items(), key=lambda kv: -kv[1]) if v > 0}


def profile_tables(stacks: Any, processes: str) -> dict[str, Any]:
    """Where a worker process's Python time goes during the saturation phase (py-spy, GIL holder)."""
    s = summarise(stacks, "process_event", "workers/pipeline.py")
    cols = [("where", "where", ""), ("%", "share", ".1f")]
    print(f"\n  worker profile, {processes}: {s['samples']} samples")
    s["tables"] = [print_table("worker: by step of process_event (% of samples)", cols, s["steps"]),
                   print_table("worker: one level deeper (top 25)", cols, s["nested"]),
                   print_table("worker: self time by library", cols, by_library(stacks))]
    return s


def worker_args(spec: str) -> list[str]:
    """`cstar-bridge worker` for a --workers entry: `default` (no options) or `POOL:N`."""
    if spec == "default":
        return [PY, "-m", "bridge", "worker"]
    pool, _, n = spec.partition(":")
    return [PY, "-m", "bridge", "worker", "--pool", pool, "-c", n or "1"]


def start_worker(env: dict[str, str], spec: str) -> Proc:
    """The worker, ready (its banner out, its pool processes, if any, started)."""
    proc = Proc(f"worker-{spec.replace(':', '-')}", worker_args(spec), env=env).start()
    proc.wait_for_log(" ready.")
    if spec.startswith("prefork:"):
        deadline = time.monotonic() + 60
        while len(descendants(proc.pid)) < int(spec.split(":")[1]) and time.monotonic() < deadline:
            time.sleep(0.1)
    time.sleep(0.5)
    return proc


class RssPeak:
    """The highest total RSS (KiB) of a process and its descendants, sampled every 0.2 s."""

    def __init__(self, proc: Proc) -> None:
        self.proc = proc
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(rss_kib(p) for p in self.proc.pids()))
            self._stop.wait(0.2)

    def start(self) -> "RssPeak":
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run(spec: str, args: Any, bridge: BenchBridge, sandbox: Sandbox, env: dict[str, str],
        redis_pid: int) -> dict[str, Any]:
    tag = spec.replace(":", "")
    processes = int(spec.split(":")[1]) if spec.startswith("prefork:") else 1
    in_flight = int(spec.split(":")[1]) if ":" in spec else DEFAULT_CONCURRENCY
    run_id = f"{tag}x{int(time.time()) % 100000}"
    worker = start_worker(env, spec)
    try:
        known = existing_emails(run_id, max(1, int(args.events * (1 - args.new_fraction))))
        t = time.perf_counter()
        seeded = bridge.post_all(seed_bodies(known))
        if bridge.wait(seeded, timeout=args.timeout) < len(seeded):
            raise RuntimeError(f"seeding did not finish in {args.timeout} s:\n{worker.log_tail()}")
        print(f"  {spec}: seeded {len(known)} customers in {time.perf_counter() - t:.1f} s",
              flush=True)

        # Saturation: the batch is queued while the workers are stopped (so posting it, which costs
        # CPU in this process, is not what is measured), then they drain it. Throughput is taken
        # over the middle 80% of the finish times: no start-up, no tail.
        worker.stop()
        since = sandbox.last_seq()
        commands_before = bridge.command_counts()
        ids = bridge.post_all(mix(args.events, run=run_id, existing=known, new_fraction=args.new_fraction))
        trips = RoundTrips()  # counted in the worker's processes (bench/roundtrips.py)
        worker = start_worker(trips.env(env), spec)
        rss = RssPeak(worker).start()
        meter = CpuMeter({"worker_main": lambda: [worker.pid], "worker_pool": lambda: worker.pids()[1:],
                          "sandbox": sandbox.proc.pids, "redis": lambda: [redis_pid]})
        meter.start()
        rec = Recording(worker.pids()[1:] or [worker.pid], tag=f"worker-{tag}") if args.profile else None
        bridge.wait_ledger(timeout=args.timeout)
        cpu = meter.stop()
        rss_peak = rss.stop()
        commands = redis_commands(commands_before, bridge.command_counts(), posted=len(ids))
        time.sleep(1.0)  # the probe writes its counts every half second
        round_trips = trips.totals()
        finished = bridge.wait(ids, timeout=args.timeout)
        profile = profile_tables(rec.stop(), spec) if rec else None
        calls = [c for c in sandbox.calls(since) if c["path"].startswith("/api/")]
        sat = bridge.timings(ids)
        done = [e for e in sat if e["status"] == "done"]
        if finished < len(ids) or len(done) < len(ids):
            print(f"  WARNING: {len(ids) - len(done)} of {len(ids)} events not done", flush=True)
        sample = [bridge.store.event_key(e["id"]) for e in done[:100]]
        event_bytes = sum(int(bridge.redis.memory_usage(k) or 0) for k in sample) / max(1, len(sample))
        ends = sorted(e["finished"] for e in done)
        lo, hi = int(len(ends) * 0.1), int(len(ends) * 0.9) - 1
        eps = (hi - lo) / (ends[hi] - ends[lo]) if hi > lo and ends[hi] > ends[lo] else float("nan")
        per_event_calls = len(calls) / max(1, len(done))
        api_ms = sum(c.get("ms") or 0 for e in done for c in e["calls"]) / max(1, len(done))

        # Paced: open loop at a fraction of that rate; latency.
        rate = max(1.0, eps * args.paced_fraction)
        n_paced = max(10, int(rate * args.paced_seconds))
        bodies = mix(n_paced, run=run_id + "p", existing=known, new_fraction=args.new_fraction,
                     offset=args.events)
        pids = bridge.post_paced(bodies, rate)
        bridge.wait(pids, timeout=args.timeout)
        paced = [e for e in bridge.timings(pids) if e["status"] == "done"]
        lat = sorted((e["finished"] - e["accepted"]) * 1000 for e in paced)

        # Baseline: the same API calls straight at the sandbox, as many processes as the worker has.
        if args.api_latency_ms:   # as many calls in flight as the worker can have
            base = replay_in_flight(sandbox.url, calls, in_flight, run_id)
        else:
            base = replay(sandbox.url, calls, min(4, processes), run_id)
        base_eps = base["calls_per_s"] / per_event_calls if per_event_calls else float("nan")
    finally:
        worker.stop()
    methods: dict[str, int] = {}
    for c in calls:
        key = c["method"] + (" search" if c["method"] == "GET" and "search" in (c.get("query") or {}) else "")
        methods[key] = methods.get(key, 0) + 1
    row = {
        "worker": spec, "command": " ".join(["cstar-bridge"] + worker_args(spec)[3:]), "processes": processes,
        "rss_mib": rss_peak / 1024, "in_flight": in_flight, "events": len(ids), "done": len(done), "events_per_s": eps,
        "calls_per_event": per_event_calls, "calls_by_method": methods, "api_ms_per_event": api_ms,
        "redis_commands_per_event": sum(commands.values()) / max(1, len(done)),
        "redis_bytes_per_done_event": event_bytes,
        "redis_commands": {k: round(v / max(1, len(done)), 2) for k, v in commands.items()},
        "round_trips": per_event(round_trips, len(done)),
        "paced_rate": rate, "paced_events": len(pids), "paced_done": len(paced),
        "p50_ms": percentile(lat, 50), "p90_ms": percentile(lat, 90), "p99_ms": percentile(lat, 99),
        "max_ms": lat[-1] if lat else None,
        "baseline_calls_per_s": base["calls_per_s"], "baseline_events_per_s": base_eps,
        "baseline_statuses": base["statuses"], "ratio": ratio(eps, base_eps),
        "worker_cpu_ms_per_event": (cpu["worker_main"] + cpu["worker_pool"]) * 1000 / max(1, len(done)),
        "worker_main_cpu_ms_per_event": cpu["worker_main"] * 1000 / max(1, len(done)),
        "worker_pool_cpu_ms_per_event": cpu["worker_pool"] * 1000 / max(1, len(done)),
        "sandbox_cpu_ms_per_call": cpu["sandbox"] * 1000 / max(1, len(calls)),
        "redis_cpu_ms_per_event": cpu["redis"] * 1000 / max(1, len(done)),
        "cpus_busy": sum(cpu.values()) / meter.wall,
        "statuses": {s: sum(1 for e in sat if e["status"] == s) for s in {e["status"] for e in sat}},
        "profile": profile,
    }
    print(f"  {spec}: {eps:.1f} events/s, RSS {rss_peak / 1024:.0f} MiB ({per_event_calls:.2f} calls/event), paced at "
          f"{rate:.1f}/s: p50 {row['p50_ms']:.0f} ms p99 {row['p99_ms']:.0f} ms; API replay baseline "
          f"{base_eps:.1f} events/s -> ratio {row['ratio']:.2f}", flush=True)
    rt = row["round_trips"]
    print(f"  {spec}: Redis round trips per event {rt['all']:.2f} = bridge {rt['ours']:.2f} + "
          f"Celery {rt['celery']:.2f} + other {rt['other']:.2f}; bridge by site: "
          + ", ".join(f"{k} {v}" for k, v in rt["ours_by_site"].items() if v >= 0.01)
          + "; Celery by site: " + ", ".join(f"{k} {v}" for k, v in rt["celery_by_site"].items() if v >= 0.01),
          flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description="POST -> customer changed: events/s and accepted->done latency.")
    ap.add_argument("--events", type=int, default=300, help="events in the saturation batch (default 300)")
    ap.add_argument("--new-fraction", type=float, default=0.5, help="share of events for new customers (0.5)")
    ap.add_argument("--workers", default="default,prefork:2",
                    help="workers to measure, in turn: `default` (`cstar-bridge worker` as it starts by "
                         "default) or POOL:N (`--pool POOL -c N`); default: default,prefork:2")
    ap.add_argument("--processes", default=None,
                    help="the earlier form: prefork worker process counts, e.g. 1,2 (= --workers prefork:1,prefork:2)")
    ap.add_argument("--api-latency-ms", type=int, default=0,
                    help="the sandbox's latency fault on every API call, in ms (default 0)")
    ap.add_argument("--paced-seconds", type=float, default=10.0, help="length of the paced phase (10)")
    ap.add_argument("--paced-fraction", type=float, default=0.3,
                    help="paced rate as a share of the saturation rate (default 0.3: posting shares "
                         "the CPUs)")
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--profile", action="store_true",
                    help="py-spy the worker processes during the saturation phase (needs py-spy)")
    ap.add_argument("--name", default="e2e")
    args = ap.parse_args()
    specs = [x for x in args.workers.split(",") if x]
    if args.processes:
        specs = [f"prefork:{n}" for n in args.processes.split(",") if n]

    m = machine()
    print(f"machine: {machine_line(m)}")
    server = start_redis()
    sandbox = Sandbox().start()
    config = write_config(server.url, sandbox_url=sandbox.url, name="e2e")
    env = bridge_env(config)
    bridge = BenchBridge(config)
    if args.api_latency_ms:
        sandbox.http.put("/_sandbox/faults", json=[{"action": "latency", "latency_ms": args.api_latency_ms,
                                                    "rate": 1.0}]).raise_for_status()
    rows = [run(spec, args, bridge, sandbox, env, server.proc.pid) for spec in specs]  # type: ignore[union-attr]
    for r in rows:
        r["round_trips_all"], r["round_trips_ours"] = r["round_trips"]["all"], r["round_trips"]["ours"]
    table = print_table(
        f"end to end: {args.events} events, {args.new_fraction:.0%} new customers, the rest a tag + metadata "
        f"change to a known customer; API latency {args.api_latency_ms} ms",
        [("worker", "command", ""), ("events/s", "events_per_s", ".1f"), ("RSS MiB", "rss_mib", ".0f"),
         ("API calls/event", "calls_per_event", ".2f"),
         ("Redis cmds/event", "redis_commands_per_event", ".1f"),
         ("round trips/event", "round_trips_all", ".2f"), ("of which the bridge's", "round_trips_ours", ".2f"),
         ("API replay events/s", "baseline_events_per_s", ".1f"),
         ("x API replay", "ratio", ".2f"), ("paced at /s", "paced_rate", ".1f"), ("p50 ms", "p50_ms", ".0f"),
         ("p99 ms", "p99_ms", ".0f"), ("worker CPU ms/event", "worker_cpu_ms_per_event", ".1f"),
         ("of which Celery main", "worker_main_cpu_ms_per_event", ".1f"),
         ("API wait ms/event", "api_ms_per_event", ".1f"),
         ("sandbox CPU ms/call", "sandbox_cpu_ms_per_call", ".2f"),
         ("CPUs busy", "cpus_busy", ".2f")],
        rows)
    write_json(args.name, vars(args), {"rows": rows, "table": table}, m)
    sandbox.stop()
    return 0 if all(r["done"] == r["events"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
