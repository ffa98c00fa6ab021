"""`python bench/api_calls.py [--reps 5] [--burst 10] [--processes 2] [--import-size 500]`

API calls per event, read from the sandbox's call log, for the changes the bridge makes most,
against the targets of issues 7 and 15:

    metadata-only change to a known customer           1 call   (PATCH)
    tag or note change to a known customer             2 calls  (read + write)
    no change to a known customer                      at most 1 call
    new customer (tags, metadata, a note)              1 call   (POST)
    a burst of N events for one customer               fewer calls than events (coalesced)
    an import of customers that exist but that the     no more than search + PATCH each (what it
    bridge has not seen (--import-size of them)        cost before creating first)

"Known" means the bridge has seen the customer before (it has the id cached). Each scenario runs
--reps times on fresh customers (the import once, all its events posted back to back); setup
events are not counted. Bursts are posted back to back with --processes worker processes consuming them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Sandbox, bridge_env, start_celery, start_redis, write_config  # noqa: E402
from bench.report import machine, machine_line, print_table, write_json  # noqa: E402
from bench.workload import BenchBridge  # noqa: E402

Bodies = Callable[[str, int], list[dict[str, Any]]]


class Scenario:
    def __init__(self, name: str, measured: Bodies, *, setup: str = "bridge", target: float | None = None,
                 target_text: str = "-", burst: bool = False, setup_body: dict[str, Any] | None = None,
                 reps: int | None = None) -> None:
        self.name = name
        self.measured = measured
        self.setup = setup            # "bridge": created through the bridge first; "api": directly; "none"
        self.setup_body = setup_body or {"name": "Known"}  # what the setup gives each customer
        self.reps = reps              # None: --reps
        self.target = target          # calls per event must be <= target (bursts: < 1 call per event)
        self.target_text = target_text
        self.burst = burst


def scenarios(burst: int, import_size: int) -> list[Scenario]:
    return [
        Scenario("metadata-only change, known customer", lambda e, r: [{"email": e, "plan": f"plan-{r}"}],
                 target=1, target_text="1"),
        Scenario("tag change, known customer", lambda e, r: [{"email": e, "tag": f"vip-{r}"}],
                 target=2, target_text="2"),
        Scenario("note change, known customer", lambda e, r: [{"email": e, "note": f"called back ({r})"}],
                 target=2, target_text="2"),
        Scenario("tag + metadata + note, known customer",
                 lambda e, r: [{"email": e, "tag": "paying", "plan": "team", "note": f"upgraded ({r})"}],
                 target=2, target_text="2"),
        Scenario("no change (the same tag and metadata again), known customer",
                 lambda e, r: [{"email": e, "tag": "vip", "plan": "pro"}],
                 setup_body={"name": "Known", "tag": "vip", "plan": "pro"}, target=1, target_text="<= 1"),
        Scenario("new customer: name + tag + metadata",
                 lambda e, r: [{"email": e, "name": f"New {r}", "tag": "lead", "plan": "trial"}],
                 setup="none", target=1, target_text="1"),
        Scenario("new customer: name + tag + metadata + note",
                 lambda e, r: [{"email": e, "name": f"New {r}", "tag": "lead", "plan": "trial",
                                "note": "hi"}],
                 setup="none", target=1, target_text="1"),
        Scenario("metadata-only, customer exists but the bridge has not seen it",
                 lambda e, r: [{"email": e, "plan": f"plan-{r}"}], setup="api"),
        Scenario(f"import: {import_size} customers that exist but the bridge has not seen (metadata)",
                 lambda e, r: [{"email": _imported(e, i), "plan": "imported"} for i in range(import_size)],
                 setup="api", reps=1, target=2, target_text="<= 2 (search + PATCH)", burst=False),
        Scenario(f"burst: {burst} identical events for one known customer (import repeating an email)",
                 lambda e, r: [{"email": e, "tag": "imported", "plan": "pro", "id": f"row-{r}-{i}"}
                               for i in range(burst)], target=1, target_text="< 1", burst=True),
        Scenario(f"burst: {burst} events for one known customer, a different tag each",
                 lambda e, r: [{"email": e, "tag": f"form-{i}"} for i in range(burst)],
                 target=1, target_text="< 1", burst=True),
        Scenario(f"burst: {burst} events for one new customer (import creating it)",
                 lambda e, r: [{"email": e, "name": "Imported", "tag": "imported", "plan": "pro", "seats": i}
                               for i in range(burst)], setup="none", target=1, target_text="< 1", burst=True),
    ]


def _imported(email: str, i: int) -> str:
    return f"i{i}-{email}"


def run_scenario(sc: Scenario, index: int, args: Any, bridge: BenchBridge,
                 sandbox: Sandbox) -> dict[str, Any]:
    reps = sc.reps or args.reps
    emails = [f"s{index}-r{r}-{int(time.time() * 1000) % 10**8}@bench.test" for r in range(reps)]
    people = [b["email"] for r, e in enumerate(emails) for b in sc.measured(e, r)]
    if sc.setup == "bridge":
        ids = bridge.post_all({"email": e, **sc.setup_body} for e in sorted(set(people)))
        if bridge.wait(ids, timeout=args.timeout) < len(ids):
            raise RuntimeError(f"setup of {sc.name!r} did not finish")
    elif sc.setup == "api":
        sandbox.create_customers({"email": e, "name": "Known"} for e in sorted(set(people)))
    since = sandbox.last_seq()
    events = 0
    sequences = []
    spans = []
    for r, email in enumerate(emails):
        bodies = sc.measured(email, r)
        seq_before = sandbox.last_seq()
        t0 = time.time()
        ids = bridge.post_all(bodies)
        bridge.wait(ids, timeout=args.timeout)
        times = bridge.timings(ids)
        bad = [t["status"] for t in times if t["status"] != "done"]
        if bad:
            raise RuntimeError(f"{sc.name}: events ended {bad}")
        spans.append(max(t["finished"] for t in times) - t0)
        events += len(ids)
        made = [c for c in sandbox.calls(seq_before) if c["path"].startswith("/api/")]
        sequences.append(_summary([_call_name(c) for c in made]))
    calls = [c for c in sandbox.calls(since) if c["path"].startswith("/api/")]
    per_event = len(calls) / events
    verdict = "-"
    if sc.target is not None:
        ok = per_event < 1 if sc.burst else per_event <= sc.target + 1e-9
        verdict = "PASS" if ok else "MISS"
    typical = max(set(sequences), key=sequences.count)
    row = {"scenario": sc.name, "events": events, "calls": len(calls), "calls_per_event": per_event,
           "target": sc.target_text, "verdict": verdict, "calls_of_one": typical,
           "seconds_to_done": sum(spans) / len(spans), "statuses": _statuses(calls)}
    print(f"  {verdict:<4} {per_event:5.2f} calls/event  {sc.name}  [{typical}]", flush=True)
    return row


def _call_name(c: dict[str, Any]) -> str:
    if c["method"] == "GET":
        return "GET?search" if "search" in (c.get("query") or {}) else "GET"
    return c["method"] + ("" if str(c["status"]).startswith("2") else f"({c['status']})")


def _summary(names: list[str]) -> str:
    """`GET PATCH`, or counts (`10 GET, 10 PATCH`) when there are many."""
    if len(names) <= 4:
        return " ".join(names)
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return ", ".join(f"{v} {k}" for k, v in counts.items())


def _statuses(calls: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in calls:
        out[str(c["status"])] = out.get(str(c["status"]), 0) + 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="API calls per event (sandbox call log) against the targets.")
    ap.add_argument("--reps", type=int, default=5, help="customers per scenario (default 5)")
    ap.add_argument("--burst", type=int, default=10, help="events per burst (default 10)")
    ap.add_argument("--processes", type=int, default=2, help="Celery worker processes (default 2)")
    ap.add_argument("--import-size", type=int, default=500, help="customers in the import scenario (default 500)")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--name", default="api_calls")
    args = ap.parse_args()
    m = machine()
    print(f"machine: {machine_line(m)}")
    server = start_redis()
    sandbox = Sandbox().start()
    config = write_config(server.url, sandbox_url=sandbox.url, name="api-calls")
    bridge = BenchBridge(config)
    worker = start_celery(bridge_env(config), bridge.queue, concurrency=args.processes, name="calls")
    try:
        rows = [run_scenario(sc, i, args, bridge, sandbox) for i, sc in enumerate(scenarios(args.burst, args.import_size))]
    finally:
        worker.stop()
        sandbox.stop()
    table = print_table(
        f"API calls per event (sandbox call log), {args.reps} customers per scenario, "
        f"{args.processes} worker processes",
        [("scenario", "scenario", ""), ("events", "events", "d"), ("calls", "calls", "d"),
         ("calls/event", "calls_per_event", ".2f"), ("target", "target", ""), ("", "verdict", ""),
         ("calls for one customer", "calls_of_one", ""), ("s to done", "seconds_to_done", ".2f")],
        rows)
    write_json(args.name, vars(args), {"rows": rows, "table": table}, m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
