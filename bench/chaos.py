"""`python bench/chaos.py [--scale 10] [-k EXPR]`: the fault-injection tests (tests/faults), bigger.

The same tests CI runs, with every batch multiplied by --scale (CSTAR_CHAOS_SCALE). Prints a table
of each scenario's result and duration and writes bench/results/chaos.json.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=10.0)
    ap.add_argument("-k", default=None, help="pytest -k expression to pick scenarios")
    args = ap.parse_args()
    env = dict(os.environ, CSTAR_CHAOS_SCALE=str(args.scale))
    cmd = [sys.executable, "-m", "pytest", "tests/faults", "-q", "-rA", "--durations=0", "-p", "no:cacheprovider",
           "--timeout", str(int(600 * max(1.0, args.scale)))]
    if args.k:
        cmd += ["-k", args.k]
    print(f"running: CSTAR_CHAOS_SCALE={args.scale} {' '.join(cmd[2:])}", flush=True)
    started = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    results = {m.group(2): m.group(1) for m in re.finditer(r"^(PASSED|FAILED|ERROR) (\S+)", out, re.M)}
    durations = {m.group(2): float(m.group(1)) for m in re.finditer(r"^([\d.]+)s call\s+(\S+)", out, re.M)}
    rows = [(name.split("::")[-1], res, durations.get(name, 0.0)) for name, res in results.items()]
    width = max([len(r[0]) for r in rows] + [8])
    print(f"\n{'scenario':<{width}}  result  seconds")
    for name, res, secs in rows:
        print(f"{name:<{width}}  {res:<6}  {secs:7.1f}")
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    print(f"\n{summary}  (scale {args.scale}, {time.time() - started:.0f} s wall)")
    report = {"scale": args.scale, "results": [dict(zip(("test", "result", "seconds"), r)) for r in rows],
              "summary": summary, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                              "platform": platform.platform()}}
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "chaos.json").write_text(json.dumps(report, indent=2))
    if proc.returncode != 0:
        print(out[-6000:], file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
