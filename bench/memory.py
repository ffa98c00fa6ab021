"""`python bench/memory.py [--web-events 100000] [--worker-events 3000] [--interval 1]`

Memory of the web and worker processes while they handle many events, sampled over time (RSS from
/proc), and whether it keeps growing once warmed up.

    web      gunicorn serving the bridge (--workers/--threads as in bench/ingest.py), driven by the
             same load generator with --web-events unique events (default 100k, as issue 7 asks);
             progress is the queue length (every 202 pushes one task; no Celery worker runs)
    worker   Celery (prefork, --processes) applying --worker-events events to the sandbox (default
             3000: at the tens of events per second two cores manage, 100k would take most of an
             hour; raise it when you have the time); progress is events taken off the ledger

Growth is measured from the warm-up point (--warmup of the events done, default 10%) to the end,
and as a least-squares slope in KiB per 10k events over the samples after warm-up. Redis's own
memory is shown for scale: it holds every event (30-day TTL) and, in the web run, every task.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402

from bench.common import Proc, Sandbox, bridge_env, start_celery, start_gunicorn, start_redis, write_config  # noqa: E402
from bench.load import run_load  # noqa: E402
from bench.report import machine, machine_line, print_table, rss_kib, write_json  # noqa: E402
from bench.workload import BenchBridge, existing_emails, mix, seed_bodies  # noqa: E402


class Sampler:
    """Every `interval` s: progress (a callable), the RSS of each process of `proc`, Redis's memory."""

    def __init__(self, proc: Proc, progress: Callable[[], int], r: Any, interval: float) -> None:
        self.proc, self.progress, self.r, self.interval = proc, progress, r, interval
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def sample(self) -> None:
        pids = self.proc.pids()
        self.samples.append({"t": round(time.monotonic() - self._t0, 2), "events": self.progress(),
                             "rss_kib": {str(p): rss_kib(p) for p in pids},
                             "redis_mib": round(int(self.r.info("memory")["used_memory"]) / 2**20, 1)})

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        self._thread.join()
        self.sample()
        return self.samples


def slope(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def analyse(kind: str, samples: list[dict[str, Any]], main_pid: int, total: int,
            warmup: float) -> list[dict[str, Any]]:
    """One row per process: RSS at start, at warm-up, at the end; growth after warm-up."""
    rows = []
    pids = sorted({p for s in samples for p in s["rss_kib"]}, key=int)
    for pid in pids:
        series = [(s["events"], s["rss_kib"][pid]) for s in samples if s["rss_kib"].get(pid)]
        if len(series) < 2:
            continue
        warm = next((rss for ev, rss in series if ev >= warmup * total), series[0][1])
        after = [(ev, rss) for ev, rss in series if ev >= warmup * total]
        per_10k = slope([e for e, _ in after], [r for _, r in after]) * 10_000
        role = "master" if int(pid) == main_pid else "child"
        rows.append({"process": f"{kind} {role} {pid}", "events": series[-1][0],
                     "start_mib": series[0][1] / 1024, "warm_mib": warm / 1024,
                     "end_mib": series[-1][1] / 1024,
                     "max_mib": max(r for _, r in series) / 1024,
                     "growth_after_warmup_mib": (series[-1][1] - warm) / 1024, "kib_per_10k": per_10k,
                     "samples": len(series)})
    return rows


def web_part(args: Any, server: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    r = redis.Redis.from_url(server.url)
    config = write_config(server.url, name="memory-web")
    proc, url = start_gunicorn("bridge:create_app()", bridge_env(config), workers=args.workers,
                               threads=args.threads, name="gunicorn-memory")
    try:
        accepted = lambda: int(r.llen("bench"))  # noqa: E731
        sampler = Sampler(proc, accepted, r, args.interval).start()
        # The load generators run for a time, not a count: chunks of at most 10 s until enough are in.
        started, rate = time.monotonic(), 0.0
        statuses: dict[str, int] = {}
        while accepted() < args.web_events:
            left = args.web_events - accepted()
            load = run_load(url, connections=args.connections, generator=args.generator,
                            duration=max(1.0, min(10.0, left / rate if rate else 2.0)))
            rate = load.rps
            for k, v in load.statuses.items():
                statuses[k] = statuses.get(k, 0) + v
        seconds = time.monotonic() - started
        time.sleep(0.5)
        samples = sampler.stop()
    finally:
        proc.stop()
    print(f"  web: {accepted()} events accepted in {seconds:.0f} s ({load.generator}), statuses {statuses}",
          flush=True)
    r.flushall()
    return analyse("web", samples, proc.pid, args.web_events, args.warmup), samples


def worker_part(args: Any, server: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    r = redis.Redis.from_url(server.url)
    sandbox = Sandbox().start()
    config = write_config(server.url, sandbox_url=sandbox.url, name="memory-worker")
    bridge = BenchBridge(config)
    worker = start_celery(bridge_env(config), bridge.queue, concurrency=args.processes, name="memory")
    try:
        known = existing_emails("mem", 200)
        seeded = bridge.post_all(seed_bodies(known))
        bridge.wait(seeded, timeout=300)
        posted = {"n": 0}
        pending_key = bridge.store.pending_key
        sampler = Sampler(worker, lambda: posted["n"] - int(r.zcard(pending_key)), r, args.interval).start()
        ids = []
        for body in mix(args.worker_events, run="mem", existing=known, new_fraction=0.3):
            ids.append(bridge.post(body))
            posted["n"] += 1
        done = bridge.wait(ids, timeout=args.timeout)
        samples = sampler.stop()
    finally:
        worker.stop()
        sandbox.stop()
    print(f"  worker: {done} of {len(ids)} events done", flush=True)
    return analyse("worker", samples, worker.pid, args.worker_events, args.warmup), samples


def main() -> int:
    ap = argparse.ArgumentParser(description="RSS of web and worker processes over many events.")
    ap.add_argument("--web-events", type=int, default=100_000, help="events through gunicorn (100000)")
    ap.add_argument("--worker-events", type=int, default=3000, help="events through Celery (default 3000)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    ap.add_argument("--threads", type=int, default=4, help="gunicorn threads (default 4)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--processes", type=int, default=2, help="Celery worker processes (default 2)")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between samples (default 1)")
    ap.add_argument("--warmup", type=float, default=0.1, help="share of the events counted as warm-up (0.1)")
    ap.add_argument("--parts", default="web,worker")
    ap.add_argument("--generator", choices=("auto", "wrk", "builtin"), default="auto")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--name", default="memory")
    args = ap.parse_args()
    m = machine()
    print(f"machine: {machine_line(m)}")
    server = start_redis()
    rows: list[dict[str, Any]] = []
    samples: dict[str, Any] = {}
    parts = [p for p in args.parts.split(",") if p]
    if "web" in parts:
        web_rows, samples["web"] = web_part(args, server)
        rows += web_rows
    if "worker" in parts:
        worker_rows, samples["worker"] = worker_part(args, server)
        rows += worker_rows
    table = print_table(
        f"memory (RSS): web {args.web_events} events, worker {args.worker_events} events; "
        f"growth after the first {args.warmup:.0%}",
        [("process", "process", ""), ("events", "events", "d"), ("start MiB", "start_mib", ".1f"),
         ("after warm-up MiB", "warm_mib", ".1f"), ("end MiB", "end_mib", ".1f"),
         ("max MiB", "max_mib", ".1f"), ("growth after warm-up MiB", "growth_after_warmup_mib", "+.2f"),
         ("KiB per 10k events", "kib_per_10k", "+.1f")],
        rows)
    write_json(args.name, vars(args), {"rows": rows, "samples": samples, "table": table}, m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
