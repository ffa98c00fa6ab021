"""`python bench/rate_limited.py [--limit 50] [--window 5] [--duration 15] [--headroom 0.9]`

Under the API's rate limit: the sandbox admits --limit requests per --window seconds per key (a
scaled-down minute, so a run takes seconds instead of minutes), and the bridge's shared limiter is
configured a bit below it (cstar.rate_limit_per_minute = limit x 60/window x headroom). A backlog
bigger than the limit allows is posted at once. The first window is not measured (it starts with a
full allowance, a burst no steady state sees); over the next --duration seconds we count:

    events/min achieved   events finished in the window, scaled to a minute
    ceiling               the API's limit per minute / the API calls per event actually made
    429s                  answers the sandbox refused with 429 (each one costs a retry and a wait)

The mix: half the events create a customer, half change one created earlier in the run (a tag and
metadata; read + write). Variants: `limited` (the bridge's limiter on, as configured above) and
`unlimited` (cstar.rate_limit_per_minute: 0, the bridge relying on 429s and their Retry-After).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Sandbox, bridge_env, start_celery, start_redis, write_config  # noqa: E402
from bench.report import machine, machine_line, print_table, write_json  # noqa: E402
from bench.workload import BenchBridge, known_customer, new_customer  # noqa: E402


def workload(n: int, run: str) -> list[dict[str, Any]]:
    """Even events create customer i/2; odd ones change the customer created ten events pairs before."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        earlier = i // 2 - 10
        if i % 2 == 0 or earlier < 0:
            out.append(new_customer(run, i))
        else:
            out.append(known_customer(f"new-{run}-{2 * earlier}@bench.test", i))
    return out


def run_variant(variant: str, args: Any, redis_url: str, sandbox: Sandbox) -> dict[str, Any]:
    api_per_min = args.limit * 60.0 / args.window
    budget = int(api_per_min * args.headroom) if variant == "limited" else 0
    sandbox.reset()
    config = write_config(redis_url, sandbox_url=sandbox.url, name=f"rl-{variant}", prefix=f"rl-{variant}:",
                          queue=f"rl-{variant}", cstar={"rate_limit_per_minute": budget})
    bridge = BenchBridge(config)
    worker = start_celery(bridge_env(config), bridge.queue, concurrency=args.processes, name=f"rl-{variant}")
    try:
        warmup = args.window if args.warmup is None else args.warmup
        n = math.ceil(api_per_min / 60.0 * (warmup + args.duration) * 1.2) + 20  # more than the limit serves
        t0 = time.time()
        ids = bridge.post_all(workload(n, f"{variant}{int(t0) % 100000}"))
        # The first window starts with a full allowance: measure the steady state after it.
        t_start = t0 + warmup
        time.sleep(max(0.0, t_start + args.duration - time.time()))
        t_end = time.time()
        timings = bridge.timings(ids)
    finally:
        worker.stop()
    calls = [c for c in sandbox.calls() if c["path"].startswith("/api/")]
    in_window = [c for c in calls if t_start < c["ts"] <= t_end]
    done = [e for e in timings if e["status"] == "done" and e["finished"] is not None
            and t_start < e["finished"] <= t_end]
    ok_calls = [c for c in in_window if str(c["status"]).startswith("2")]
    rejected = [c for c in in_window if c["status"] == 429]
    calls_per_event = len(ok_calls) / len(done) if done else float("nan")
    seconds = t_end - t_start
    achieved = len(done) / seconds * 60.0
    ceiling = api_per_min / calls_per_event if done else float("nan")
    row = {"variant": variant, "api_limit_per_min": api_per_min, "bridge_budget_per_min": budget or None,
           "posted": len(ids), "done": len(done), "seconds": seconds, "events_per_min": achieved,
           "calls_per_event": calls_per_event, "ceiling_per_min": ceiling,
           "share_of_ceiling": achieved / ceiling, "calls_per_min": len(in_window) / seconds * 60.0,
           "ok_calls_per_min": len(ok_calls) / seconds * 60.0,
           "rate_429": len(rejected), "rate_429_whole_run": sum(1 for c in calls if c["status"] == 429),
           "other_errors": len(in_window) - len(ok_calls) - len(rejected),
           "dead": sum(1 for e in timings if e["status"] == "dead")}
    print(f"  {variant}: {achieved:.0f} events/min of a {ceiling:.0f}/min ceiling "
          f"({row['share_of_ceiling']:.0%}), "
          f"{calls_per_event:.2f} calls/event, {len(rejected)} x 429", flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description="Events/min under the API's rate limit vs its ceiling; 429s.")
    ap.add_argument("--limit", type=int, default=50, help="sandbox: requests per window (default 50)")
    ap.add_argument("--window", type=float, default=5.0, help="sandbox: window in seconds (default 5)")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds before measuring (default: one window, whose full allowance is a burst)")
    ap.add_argument("--duration", type=float, default=15.0, help="seconds measured per variant (default 15)")
    ap.add_argument("--headroom", type=float, default=0.9,
                    help="the bridge's budget as a share of the API's limit (default 0.9)")
    ap.add_argument("--processes", type=int, default=2, help="Celery worker processes (default 2)")
    ap.add_argument("--variants", default="limited,unlimited")
    ap.add_argument("--name", default="rate_limited")
    args = ap.parse_args()
    m = machine()
    print(f"machine: {machine_line(m)}")
    per_min = args.limit * 60 / args.window
    print(f"sandbox limit: {args.limit} requests / {args.window:g} s = {per_min:.0f}/min; "
          f"bridge budget {args.headroom:.0%} of that")
    server = start_redis()
    sandbox = Sandbox(rate_limit=args.limit, rate_window=args.window).start()
    try:
        rows = [run_variant(v, args, server.url, sandbox) for v in args.variants.split(",") if v]
    finally:
        sandbox.stop()
    table = print_table(
        f"under the rate limit: sandbox {args.limit}/{args.window:g} s, {args.duration:g} s measured, "
        f"{args.processes} worker processes",
        [("variant", "variant", ""), ("API limit /min", "api_limit_per_min", ".0f"),
         ("bridge budget /min", "bridge_budget_per_min", ""), ("calls/event", "calls_per_event", ".2f"),
         ("ceiling events/min", "ceiling_per_min", ".0f"), ("events/min", "events_per_min", ".0f"),
         ("x ceiling", "share_of_ceiling", ".2f"), ("API calls/min", "calls_per_min", ".0f"),
         ("429s measured", "rate_429", "d"), ("429s whole run", "rate_429_whole_run", "d"),
         ("dead", "dead", "d")],
        rows)
    write_json(args.name, vars(args), {"rows": rows, "table": table}, m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
