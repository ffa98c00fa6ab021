"""`python bench/memory.py [--parts web,worker] [--web-events 100000] [--worker-events 100000]`

Memory of the web and worker processes while they handle many events, sampled over time (RSS from
/proc), and whether it keeps growing once warmed up. A progress line every --report-every seconds
(with an ETA), and the samples so far in bench/results/<name>.<part>.partial.json.

    web      gunicorn serving the bridge (--workers/--threads as in bench/ingest.py), driven by the
             same load generator with --web-events unique events (default 100k, as issue 7 asks);
             progress is the queue length (every 202 pushes one task; no Celery worker runs).
             About 2.5 minutes on 2 cores.
    worker   Celery (prefork, --processes) applying --worker-events events to the sandbox (default
             100k; about 26 minutes on 2 cores, slowing as the sandbox's linear search meets tens of
             thousands of customers: `--worker-events 5000` for a quick look); progress is events
             taken off the ledger. Known customers' tags cycle through --tags values so customers
             stay the same size over a long run.

Growth is measured from the warm-up point (--warmup of the events done, default 10%) to the end,
and as a least-squares slope in KiB per 10k events over the samples after warm-up; a second table
gives RSS at 10/25/50/75/100% of the events and the slope over each half after warm-up. Redis's own
memory is shown for scale: it holds every event (30-day TTL) and, in the web run, every task.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402

from bench.common import Proc, Sandbox, bridge_env, start_celery, start_gunicorn, start_redis, write_config  # noqa: E402
from bench.load import run_load  # noqa: E402
from bench.report import RESULTS, machine, machine_line, print_table, rss_kib, write_json  # noqa: E402
from bench.workload import BenchBridge, existing_emails, mix, seed_bodies  # noqa: E402


class Sampler:
    """Every `interval` s: progress (a callable), the RSS of each process of `proc`, Redis's memory."""

    def __init__(self, proc: Proc, progress: Callable[[], int], r: Any, interval: float, *,
                 label: str = "", total: int = 0, report_every: float = 0.0,
                 checkpoint: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self.proc, self.progress, self.r, self.interval = proc, progress, r, interval
        self.label, self.total, self.report_every, self.checkpoint = label, total, report_every, checkpoint
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()
        self._last_report = self._t0

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
            if self.report_every and time.monotonic() - self._last_report >= self.report_every:
                self._last_report = time.monotonic()
                self.report()

    def report(self) -> None:
        """One progress line (events, rate, ETA, RSS of each process, Redis); the samples so far to
        the checkpoint, so a run that is stopped early still leaves its data."""
        s = self.samples[-1]
        done, secs = s["events"], s["t"]
        rate = done / secs if secs else 0.0
        eta = f", ETA {(self.total - done) / rate / 60:.0f} min" if rate and self.total > done else ""
        rss = " ".join(f"{kib / 1024:.1f}" for _, kib in sorted(s["rss_kib"].items(), key=lambda kv: int(kv[0])))
        print(f"  [{secs:6.0f} s] {self.label}: {done:,} of {self.total:,} events ({rate:.0f}/s{eta}); "
              f"RSS MiB {rss}; Redis {s['redis_mib']} MiB", flush=True)
        if self.checkpoint:
            self.checkpoint(self.samples)

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


def per_process(kind: str, samples: list[dict[str, Any]],
                main_pid: int) -> list[tuple[str, list[tuple[int, int]]]]:
    """("<kind> master|child <pid>", [(events done, RSS KiB), …]) for each process sampled twice or more."""
    out = []
    for pid in sorted({p for s in samples for p in s["rss_kib"]}, key=int):
        series = [(s["events"], s["rss_kib"][pid]) for s in samples if s["rss_kib"].get(pid)]
        if len(series) >= 2:
            out.append((f"{kind} {'master' if int(pid) == main_pid else 'child'} {pid}", series))
    return out


def analyse(kind: str, samples: list[dict[str, Any]], main_pid: int, total: int,
            warmup: float) -> list[dict[str, Any]]:
    """One row per process: RSS at start, at warm-up, at the end; growth after warm-up."""
    rows = []
    for name, series in per_process(kind, samples, main_pid):
        warm = next((rss for ev, rss in series if ev >= warmup * total), series[0][1])
        after = [(ev, rss) for ev, rss in series if ev >= warmup * total]
        per_10k = slope([e for e, _ in after], [r for _, r in after]) * 10_000
        rows.append({"process": name, "events": series[-1][0],
                     "start_mib": series[0][1] / 1024, "warm_mib": warm / 1024,
                     "end_mib": series[-1][1] / 1024,
                     "max_mib": max(r for _, r in series) / 1024,
                     "growth_after_warmup_mib": (series[-1][1] - warm) / 1024, "kib_per_10k": per_10k,
                     "samples": len(series)})
    return rows


def checkpoint(args: Any, part: str) -> Callable[[list[dict[str, Any]]], None]:
    path = RESULTS / f"{args.name}.{part}.partial.json"

    def write(samples: list[dict[str, Any]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"params": vars(args), "samples": samples}) + "\n")
    return write


MARKS = (0.1, 0.25, 0.5, 0.75, 1.0)


def trajectory(kind: str, samples: list[dict[str, Any]], main_pid: int, total: int,
               warmup: float) -> list[dict[str, Any]]:
    """RSS of each process when a share of the events was done, and the growth rate over the first
    and the second half of the run after warm-up: growth that levels off shows as a smaller second."""
    rows = []
    for name, series in per_process(kind, samples, main_pid):
        row: dict[str, Any] = {"process": name}
        for mark in MARKS:
            hit = next((rss for ev, rss in series if ev >= mark * total), series[-1][1])
            row[f"at_{int(mark * 100)}"] = hit / 1024
        start, end = warmup * total, series[-1][0]
        mid = (start + end) / 2
        for name, lo, hi in (("first_half", start, mid), ("second_half", mid, end + 1)):
            part = [(ev, rss) for ev, rss in series if lo <= ev < hi]
            row[name] = slope([e for e, _ in part], [r for _, r in part]) * 10_000
        rows.append(row)
    return rows


def web_part(args: Any, server: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    r = redis.Redis.from_url(server.url)
    config = write_config(server.url, name="memory-web")
    proc, url = start_gunicorn("bridge:create_app()", bridge_env(config), workers=args.workers,
                               threads=args.threads, name="gunicorn-memory")
    try:
        accepted = lambda: int(r.llen("bench"))  # noqa: E731
        sampler = Sampler(proc, accepted, r, args.interval, label="web", total=args.web_events,
                          report_every=args.report_every, checkpoint=checkpoint(args, "web")).start()
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
    return analyse("web", samples, proc.pid, args.web_events, args.warmup), samples, proc.pid


def worker_part(args: Any, server: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    r = redis.Redis.from_url(server.url)
    sandbox = Sandbox().start()
    config = write_config(server.url, sandbox_url=sandbox.url, name="memory-worker")
    bridge = BenchBridge(config)
    worker = start_celery(bridge_env(config), bridge.queue, concurrency=args.processes, name="memory")
    try:
        known = existing_emails("mem", args.customers)
        seeded = bridge.post_all(seed_bodies(known))
        bridge.wait(seeded, timeout=300)
        posted = {"n": 0}
        pending_key = bridge.store.pending_key
        sampler = Sampler(worker, lambda: posted["n"] - int(r.zcard(pending_key)), r, args.interval,
                          label="worker", total=args.worker_events, report_every=args.report_every,
                          checkpoint=checkpoint(args, "worker")).start()
        ids = []
        for body in mix(args.worker_events, run="mem", existing=known, new_fraction=args.new_fraction,
                        tags=args.tags or None):
            ids.append(bridge.post(body))
            posted["n"] += 1
        # One ZCARD per poll until the ledger is empty, then one status read: polling 100k statuses
        # would load Redis and this process more than the worker being measured.
        bridge.wait_ledger(timeout=args.timeout, poll=0.5)
        samples = sampler.stop()
        done = bridge.wait(ids, timeout=0)
    finally:
        worker.stop()
        sandbox.stop()
    print(f"  worker: {done} of {len(ids)} events done", flush=True)
    return analyse("worker", samples, worker.pid, args.worker_events, args.warmup), samples, worker.pid


def main() -> int:
    ap = argparse.ArgumentParser(description="RSS of web and worker processes over many events.")
    ap.add_argument("--web-events", type=int, default=100_000, help="events through gunicorn (100000)")
    ap.add_argument("--worker-events", type=int, default=100_000,
                    help="events through Celery (default 100000, ~26 min on 2 cores)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    ap.add_argument("--threads", type=int, default=4, help="gunicorn threads (default 4)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--processes", type=int, default=2, help="Celery worker processes (default 2)")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between samples (default 1)")
    ap.add_argument("--warmup", type=float, default=0.1, help="share of the events counted as warm-up (0.1)")
    ap.add_argument("--parts", default="web,worker")
    ap.add_argument("--generator", choices=("auto", "wrk", "builtin"), default="auto")
    ap.add_argument("--customers", type=int, default=200,
                    help="known customers the worker's events cycle through (default 200)")
    ap.add_argument("--new-fraction", type=float, default=0.3,
                    help="share of the worker's events that create a customer (default 0.3)")
    ap.add_argument("--tags", type=int, default=20,
                    help="distinct tags a known customer's events cycle through, so customers stay "
                         "bounded over a long run (default 20; 0: a new tag every event)")
    ap.add_argument("--report-every", type=float, default=30.0,
                    help="seconds between progress lines (default 30; 0: none)")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--name", default="memory")
    args = ap.parse_args()
    m = machine()
    print(f"machine: {machine_line(m)}")
    server = start_redis()
    rows: list[dict[str, Any]] = []
    samples: dict[str, Any] = {}
    pids: dict[str, int] = {}
    parts = [p for p in args.parts.split(",") if p]
    if "web" in parts:
        web_rows, samples["web"], pids["web"] = web_part(args, server)
        rows += web_rows
    if "worker" in parts:
        worker_rows, samples["worker"], pids["worker"] = worker_part(args, server)
        rows += worker_rows
    table = print_table(
        "memory (RSS): " + ", ".join(f"{p} {getattr(args, p + '_events'):,} events" for p in parts)
        + f"; growth after the first {args.warmup:.0%}",
        [("process", "process", ""), ("events", "events", "d"), ("start MiB", "start_mib", ".1f"),
         ("after warm-up MiB", "warm_mib", ".1f"), ("end MiB", "end_mib", ".1f"),
         ("max MiB", "max_mib", ".1f"), ("growth after warm-up MiB", "growth_after_warmup_mib", "+.2f"),
         ("KiB per 10k events", "kib_per_10k", "+.1f")],
        rows)
    over_time = [row for part in parts
                 for row in trajectory(part, samples[part], pids[part],
                                       getattr(args, part + "_events"), args.warmup)]
    table2 = print_table(
        "RSS (MiB) when a share of the events was done; growth (KiB per 10k events) over each half "
        "of the run after warm-up",
        [("process", "process", "")] + [(f"{int(m * 100)}%", f"at_{int(m * 100)}", ".1f") for m in MARKS]
        + [("growth, 1st half", "first_half", "+.1f"), ("growth, 2nd half", "second_half", "+.1f")],
        over_time)
    write_json(args.name, vars(args), {"rows": rows, "over_time": over_time, "samples": samples,
                                       "table": table + "\n\n" + table2}, m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
