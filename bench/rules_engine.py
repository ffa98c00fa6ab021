"""Rules engine throughput: events per second for 10, 100 and 1000 rules (pure engine, no I/O).

    python bench/rules_engine.py [--quick] [--sizes 10,100,1000] [--instructions] [--tree PATH]

For each size it generates a realistic rule file (`when` filters over four sources, conditions
mixing text, list, number and regex operators, named lists and conditions, templated actions),
compiles it once, then evaluates a rotation of sample events. Two baselines are measured in the
same run, because the machines are small and shared and absolute numbers drift:

    zero rules     `evaluate` with an empty rule set: the fixed cost of one evaluation
    + stored       evaluation and the trace as a worker stores it (its verdicts as JSON); + words: the
                   worded trace as JSON instead, what workers stored before verdicts
    hand-written   plain Python doing the same checks as the generated rules with dict lookups:
                   what the engine's trace, typing and templates cost on top
    hand-written, with the plan
                   the same checks, and for each match what the rule does: tags, metadata (trimmed
                   company, seats as a number), the note, the sentiment, merged per customer in rule
                   order, with f-strings for templates: the engine's whole job written by hand
    Jinja only     the same rules with every template rendered by Jinja (rules/template_fast.py off):
                   what compiling simple templates to closures saves

It prints a table and writes bench/results/rules_engine.json (rules_engine_instructions.json).

--tree PATH measures the engine of another source tree with this script (an earlier commit:
`git archive <commit> | tar -x -C PATH`), so two commits compare in one run. --instructions counts
the CPU instructions per event under valgrind's cachegrind instead of timing (a few minutes): on a
machine shared with other work, timings drift by 2-3x within minutes; instruction counts do not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TREE = Path(os.environ.get("RULES_BENCH_TREE") or REPO)  # whose `rules` is measured (--tree)
if str(TREE) not in sys.path:
    sys.path.insert(0, str(TREE))

from rules import Ruleset, compute_change, evaluate, load_ruleset_text  # noqa: E402
from rules.templates import compile_template  # noqa: E402

try:  # simple templates as closures (absent from trees before it)
    from rules import template_fast  # noqa: E402
except ImportError:  # pragma: no cover - an older tree
    template_fast = None  # type: ignore[assignment]
if template_fast is not None and os.environ.get("RULES_BENCH_JINJA") == "1":
    template_fast.ENABLED = False  # every template on Jinja: the baseline of the same run
from workers.config import Config  # noqa: E402
from workers.store import bounded_trace  # noqa: E402

try:  # the trace kept as verdicts (absent from trees before it)
    from workers.stored_trace import verdicts_text  # noqa: E402
except ImportError:  # pragma: no cover - an older tree
    verdicts_text = None  # type: ignore[assignment]

STORED_LIMIT = Config().trace_max_bytes

RESULTS = REPO / "bench" / "results" / "rules_engine.json"
SOURCES = ("typeform", "tally", "webflow", "zapier")
SIZES = ("1-9", "10-49", "50-199", "200-999", "1000-4999", "5000+")
NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)

HEADER = """\
version: 1
lists:
  free_email_domains: [gmail.com, yahoo.com, outlook.com, hotmail.com, icloud.com]
  big: ["1000-4999", "5000+"]
conditions:
  has_email: {field: data.email, op: matches, value: '^[^@\\s]+@[^@\\s]+$'}
rules:
"""

RULE = """\
  - id: rule-{i}
    when: {{source: {source}, type: form.submitted}}
    if:
      all:
        - ref: has_email
        - {{field: data.fields.company_size, op: in, value: ["{size}", "5000+"]}}
        - {{field: data.fields.seats, op: gte, value: {seats}}}
        - not: {{field: data.email, op: ends_with, list: free_email_domains}}
        - any:
            - {{field: data.form_name, op: contains, value: demo}}
            - {{field: data.fields.plan, op: eq, value: plan-{plan}}}
    actions:
      - add_tags: [lead, "segment-{i}"]
      - set_metadata:
          company: "{{{{ data.fields.company | trim }}}}"
          seats_{i}: "{{{{ data.fields.seats | int }}}}"
      - add_note: "Rule {i} matched via {{{{ event.source }}}}: {{{{ data.fields.message | default('-') }}}}"
      - if: {{field: data.fields.score, op: between, value: [0, 6]}}
        set_sentiment: negative
"""


def rule_file(count: int) -> str:
    """A rule file with `count` generated rules."""
    return HEADER + "".join(RULE.format(i=i, source=SOURCES[i % len(SOURCES)], size=SIZES[i % len(SIZES)],
                                        seats=(i * 37) % 900, plan=i % 7) for i in range(count))


def sample_events() -> list[dict[str, Any]]:
    """A rotation of events: some match many rules, some few, one is filtered out by every `when`."""
    events = []
    for n, source in enumerate(SOURCES + ("hubspot",)):
        events.append({
            "id": f"evt_{n}", "source": source, "type": "form.submitted",
            "received_at": "2025-06-01T12:00:00Z",
            "data": {"email": f"person{n}@bigco{n}.com", "name": f"Person {n}", "form_name": "Book a demo",
                     "fields": {"company": f" BigCo {n} ", "company_size": SIZES[n % len(SIZES)],
                                "seats": str(100 * (n + 1)), "plan": f"plan-{n}", "score": str(n + 2),
                                "message": "We would like to talk about SSO."}}})
    return events


def hand_written(count: int) -> Callable[[dict[str, Any]], int]:
    """The same checks as the generated rules, as direct dict lookups (no trace, no templates)."""
    free = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com")
    specs = [(SOURCES[i % len(SOURCES)], {SIZES[i % len(SIZES)], "5000+"}, (i * 37) % 900, f"plan-{i % 7}")
             for i in range(count)]

    def run(event: dict[str, Any]) -> int:
        data = event["data"]
        fields = data.get("fields") or {}
        matched = 0
        for source, sizes, seats, plan in specs:
            if event["source"] != source:
                continue
            email = str(data.get("email", ""))
            try:
                enough = float(fields.get("seats", "x")) >= seats
            except ValueError:
                enough = False
            if ("@" in email and fields.get("company_size") in sizes and enough and not email.endswith(free)
                    and ("demo" in data.get("form_name", "").lower() or fields.get("plan") == plan)):
                matched += 1
        return matched
    return run


def hand_written_plan(count: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """`hand_written`, plus the plan each match contributes, merged per customer as the engine does."""
    free = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com")
    specs = [(i, SOURCES[i % len(SOURCES)], {SIZES[i % len(SIZES)], "5000+"}, (i * 37) % 900, f"plan-{i % 7}")
             for i in range(count)]

    def run(event: dict[str, Any]) -> dict[str, Any]:
        data = event["data"]
        fields = data.get("fields") or {}
        plans: dict[str, dict[str, Any]] = {}
        for i, source, sizes, seats, plan_name in specs:
            if event["source"] != source:
                continue
            email = str(data.get("email", ""))
            try:
                enough = float(fields.get("seats", "x")) >= seats
            except ValueError:
                enough = False
            if not ("@" in email and fields.get("company_size") in sizes and enough and not email.endswith(free)
                    and ("demo" in data.get("form_name", "").lower() or fields.get("plan") == plan_name)):
                continue
            plan = plans.setdefault(email.lower(), {"email": email, "name": data.get("name"), "tags": {},
                                                     "metadata": {}, "notes": [], "fields": {}})
            for tag in ("lead", f"segment-{i}"):
                plan["tags"].setdefault(tag.casefold(), tag)
            plan["metadata"]["company"] = str(fields.get("company", "")).strip()
            plan["metadata"][f"seats_{i}"] = int(float(fields["seats"]))
            plan["notes"].append(f"Rule {i} matched via {event['source']}: {fields.get('message') or '-'}")
            try:
                if 0 <= float(fields.get("score", "x")) <= 6:
                    plan["fields"]["sentiment"] = "negative"
            except ValueError:
                pass
        return plans
    return run


def measure(fn: Callable[[dict[str, Any]], Any], events: list[dict[str, Any]], seconds: float) -> float:
    """Events per second: the best of three timed runs of at least `seconds` / 3 each."""
    best = 0.0
    for _ in range(3):
        done, start = 0, time.perf_counter()
        while True:
            for event in events:
                fn(event)
            done += len(events)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 3:
                break
        best = max(best, done / elapsed)
    return best


def stored(evaluation: Any) -> str:
    """The trace as the JSON a worker stores: the verdicts (workers.stored_trace), or on a tree from
    before verdicts the worded trace."""
    if verdicts_text is not None:
        return verdicts_text(evaluation)
    return json.dumps(evaluation.trace, separators=(",", ":"), default=str)


def engine(ruleset: Ruleset, with_change: bool = False, with_trace: bool = False,
           with_words: bool = False) -> Callable[[dict[str, Any]], Any]:
    """One evaluation (and, optionally, the change for each new customer, the trace as a worker stores
    it, or the worded trace as JSON: what workers stored before verdicts) per event."""
    def run(event: dict[str, Any]) -> Any:
        evaluation = evaluate(ruleset, event, now=NOW)
        if with_change:
            for plan in evaluation.plans:
                compute_change(plan, None, exists=False)
        if with_trace:
            stored(evaluation)
        if with_words:
            json.dumps(evaluation.trace, separators=(",", ":"), default=str)
        return evaluation
    return run


def jinja_only(text: str, count: int) -> Ruleset:
    """The same rule file loaded with every template on Jinja (the baseline for template closures)."""
    template_fast.ENABLED = False
    compile_template.cache_clear()
    try:
        return load_ruleset_text(text, f"bench-{count}.yaml")
    finally:
        template_fast.ENABLED = True
        compile_template.cache_clear()


def count_run(mode: str, count: int, reps: int) -> None:
    """The process valgrind counts: compile, warm up (index and caches built), then `reps` rotations."""
    events = sample_events()
    ruleset = load_ruleset_text(rule_file(count), f"bench-{count}.yaml")
    for event in events:
        evaluate(ruleset, event, now=NOW)
    fn = {"engine": engine(ruleset), "stored": engine(ruleset, with_trace=True), "words": engine(ruleset, with_words=True),
          "hand": hand_written(count), "plan": hand_written_plan(count)}.get(mode)
    for _ in range(reps if fn else 0):
        for event in events:
            fn(event)  # type: ignore[misc]


def instructions(mode: str, count: int, reps: int, tree: Path, jinja: bool = False) -> int:
    """CPU instructions of one `count_run` (cachegrind, hash seed fixed so runs repeat exactly);
    `jinja`: with every template rendered by Jinja (no closures)."""
    env = {**os.environ, "RULES_BENCH_TREE": str(tree), "PYTHONHASHSEED": "0", "RULES_BENCH_JINJA": "1" if jinja else ""}
    out = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                          sys.executable, __file__, "--count", mode, str(count), str(reps)],
                         env=env, capture_output=True, text=True, check=True).stderr
    return int(re.search(r"I\s+refs:\s+([\d,]+)", out).group(1).replace(",", ""))  # type: ignore[union-attr]


def main_instructions(sizes: list[int], trees: dict[str, Path]) -> None:
    """Instructions per event: the engine of each tree, and the two hand-written baselines."""
    rows = []
    for count in sizes:
        reps = max(4, 2000 // count)
        per_event: dict[str, float] = {}
        for name, tree in trees.items():
            jinja = name == "jinja_only"
            idle = instructions("none", count, 0, tree, jinja)
            per_event[name] = (instructions("engine", count, reps, tree, jinja) - idle) / (reps * 5)
            if name == "engine":  # and with the trace as a worker stores it (verdicts), or as words
                for mode in ("stored", "words"):
                    per_event[f"engine_{mode}"] = (instructions(mode, count, reps, tree) - idle) / (reps * 5)
        idle = instructions("none", count, 0, REPO)
        for mode in ("hand", "plan"):
            per_event[mode] = (instructions(mode, count, reps * 10, REPO) - idle) / (reps * 50)
        row = {"rules": count, **{k: round(v) for k, v in per_event.items()}}
        for name in ("engine_stored", *trees):
            row[f"{name}_vs_hand"] = round(per_event[name] / per_event["hand"], 2)
            row[f"{name}_vs_plan"] = round(per_event[name] / per_event["plan"], 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    path = RESULTS.with_name("rules_engine_instructions.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": "rules_engine_instructions", "trees": {k: str(v) for k, v in trees.items()},
                                "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                "rows": rows}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(REPO)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke test, noisier numbers)")
    parser.add_argument("--sizes", default="10,100,1000", help="rule counts, comma-separated")
    parser.add_argument("--tree", type=Path, help="another source tree whose engine is measured too (instructions)"
                        " or instead (timing: run once with it and once without)")
    parser.add_argument("--instructions", action="store_true", help="count instructions per event (valgrind)")
    parser.add_argument("--count", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count:
        count_run(args.count[0], int(args.count[1]), int(args.count[2]))
        return
    if args.instructions:
        trees = {"engine": REPO, "jinja_only": REPO, **({"tree": args.tree.resolve()} if args.tree else {})}
        main_instructions([int(s) for s in args.sizes.split(",")], trees)
        return
    if args.tree and TREE == REPO:  # timing: measure the other tree's engine in a child process
        env = {**os.environ, "RULES_BENCH_TREE": str(args.tree.resolve())}
        raise SystemExit(subprocess.call([sys.executable, __file__, *[a for a in sys.argv[1:]]], env=env))
    seconds = 0.6 if args.quick else 3.0
    sizes = [int(s) for s in args.sizes.split(",")]
    events = sample_events()

    zero = load_ruleset_text("version: 1\nrules: []\n", "zero.yaml")
    baseline = measure(engine(zero), events, seconds)
    rows = []
    for count in sizes:
        text = rule_file(count)
        start = time.perf_counter()
        ruleset = load_ruleset_text(text, f"bench-{count}.yaml")
        compile_ms = (time.perf_counter() - start) * 1000
        evaluations = [evaluate(ruleset, e, now=NOW) for e in events]
        matches = sum(len(ev.matched) for ev in evaluations) / len(events)
        trace_kb = sum(len(json.dumps(ev.trace)) for ev in evaluations) / len(events) / 1024
        # What a worker keeps in Redis with each event (before verdicts: the worded trace, cut to trace_max_bytes).
        stored_kb = sum(len(stored(ev)) if hasattr(ev, "verdicts") else len(bounded_trace(ev.trace, STORED_LIMIT)[0])
                        for ev in evaluations) / len(events) / 1024
        eps = measure(engine(ruleset), events, seconds)
        eps_jinja = measure(engine(jinja_only(text, count)), events, seconds) if template_fast else None
        eps_change = measure(engine(ruleset, with_change=True), events, seconds)
        eps_trace = measure(engine(ruleset, with_trace=True), events, seconds)
        eps_words = measure(engine(ruleset, with_words=True), events, seconds)
        hand = measure(hand_written(count), events, seconds)
        hand_plan = measure(hand_written_plan(count), events, seconds)
        rows.append({
            "rules": count, "compile_ms": round(compile_ms, 1), "matched_per_event": round(matches, 1),
            "trace_kb_per_event": round(trace_kb, 1), "stored_trace_kb_per_event": round(stored_kb, 1),
            "events_per_s": round(eps),
            "events_per_s_jinja_only": round(eps_jinja) if eps_jinja else None,
            "events_per_s_with_change": round(eps_change), "events_per_s_with_trace_json": round(eps_trace),
            "events_per_s_with_worded_trace_json": round(eps_words),
            "us_per_event": round(1e6 / eps, 1),
            "us_per_rule": round((1e6 / eps - 1e6 / baseline) / count, 2),
            "vs_zero_rules": round(eps / baseline, 4), "hand_written_events_per_s": round(hand),
            "engine_vs_hand_written": round(hand / eps, 1),
            "hand_written_plan_events_per_s": round(hand_plan),
            "engine_vs_hand_written_plan": round(hand_plan / eps, 1),
        })

    print(f"rules engine of {TREE}, pure (python {platform.python_version()}, load {os.getloadavg()[0]:.2f}); "
          f"baseline: 0 rules = {baseline:,.0f} events/s")
    columns = [("rules", "rules", 6, ""), ("compile ms", "compile_ms", 10, ""),
               ("matched", "matched_per_event", 8, ""), ("trace KB", "trace_kb_per_event", 9, ""),
               ("stored KB", "stored_trace_kb_per_event", 10, ""),
               ("events/s", "events_per_s", 10, ","), ("jinja-only/s", "events_per_s_jinja_only", 13, ","),
               ("+change/s", "events_per_s_with_change", 10, ","),
               ("+stored/s", "events_per_s_with_trace_json", 10, ","),
               ("+words/s", "events_per_s_with_worded_trace_json", 9, ","),
               ("µs/event", "us_per_event", 9, ""), ("µs/rule", "us_per_rule", 8, ""),
               ("x 0 rules", "vs_zero_rules", 10, ""),
               ("hand-written/s", "hand_written_events_per_s", 15, ","),
               ("engine cost x", "engine_vs_hand_written", 14, ""),
               ("hand+plan/s", "hand_written_plan_events_per_s", 12, ","),
               ("cost x plan", "engine_vs_hand_written_plan", 12, "")]
    print(" ".join(f"{title:>{width}}" for title, _, width, _ in columns))
    for r in rows:
        print(" ".join(f"{r[key]:>{width}{fmt}}" if r[key] is not None else f"{'–':>{width}}"
                       for _, key, width, fmt in columns))
    results = RESULTS if TREE == REPO else RESULTS.with_name("rules_engine_tree.json")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps({
        "benchmark": "rules_engine", "tree": str(TREE), "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "load_average": os.getloadavg(), "seconds_per_measurement": seconds,
        "events_in_rotation": len(events),
        "baseline_zero_rules_events_per_s": round(baseline), "rows": rows,
    }, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {results.relative_to(REPO)}")


if __name__ == "__main__":
    main()
