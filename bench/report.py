"""Numbers and output: percentiles, CPU seconds and RSS from /proc, Markdown tables, JSON, the machine."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks; `sorted_values` must be sorted."""
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    if lo == hi:
        return float(sorted_values[int(k)])
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo))


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cpu_seconds(pids: Iterable[int]) -> float:
    """user + system CPU seconds of these processes so far (those still alive)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class CpuMeter:
    """CPU seconds used by groups of processes between start() and stop()."""

    def __init__(self, groups: Mapping[str, Callable[[], Iterable[int]]]) -> None:
        self.groups = groups
        self.before: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> "CpuMeter":
        self._pids = {name: list(fn()) for name, fn in self.groups.items()}
        self.before = {name: cpu_seconds(p) for name, p in self._pids.items()}
        self._t0 = time.perf_counter()
        return self

    def stop(self) -> dict[str, float]:
        self.wall = time.perf_counter() - self._t0
        self.used = {name: cpu_seconds(p) - self.before[name] for name, p in self._pids.items()}
        return self.used


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# --- output -------------------------------------------------------------------------------------------

def fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return format(value, spec) if spec else str(value)


def print_table(title: str, columns: Sequence[tuple[str, str, str]],
                rows: Sequence[Mapping[str, Any]]) -> str:
    """columns: (header, key, format spec). Prints and returns the table as Markdown."""
    cells = [[fmt(row.get(key), spec) for _, key, spec in columns] for row in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (h, _, _) in enumerate(columns)]
    right = [bool(spec) for _, _, spec in columns]

    def line(values: Sequence[str]) -> str:
        cells = (v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True))
        return "| " + " | ".join(cells) + " |"

    out = [line([h for h, _, _ in columns]),
           "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2))
                          for w, r in zip(widths, right, strict=True)) + "|"]
    out += [line(c) for c in cells]
    text = "\n".join(out)
    print(f"\n{title}\n{text}", flush=True)
    return text


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    except OSError:
        pass
    versions: dict[str, str] = {}
    for dist in ("flask", "werkzeug", "gunicorn", "celery", "kombu", "redis", "marshmallow", "urllib3"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:
            pass
    try:
        from workers.redis_server import redis_server_binary

        out = subprocess.run([redis_server_binary(), "--version"], capture_output=True, text=True).stdout
        versions["redis-server"] = re.search(r"v=(\S+)", out).group(1)  # type: ignore[union-attr]
    except Exception:
        pass
    if shutil.which("wrk"):
        ran = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        words = (ran.stdout + ran.stderr).split()
        versions["wrk"] = words[1] if len(words) > 1 else "?"
    return {"cpus": len(os.sched_getaffinity(0)), "cpu_model": model, "memory": mem, "code": code_version(),
            "python": platform.python_version(), "platform": platform.platform(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()], "versions": versions}


def code_version() -> str:
    """The commit measured, and whether the product's files differ from it (others commit as we go)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "bridge", "workers", "rules",
                                "sandbox"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"
    return head + (f" + uncommitted changes in {len(dirty.splitlines())} product file(s)" if dirty else "")


def machine_line(m: Mapping[str, Any]) -> str:
    return (f"{m['cpus']} CPU(s) {m['cpu_model']}, {m['memory']} RAM, Python {m['python']}, "
            f"load average at start {m['loadavg_at_start'][0]}; code {m.get('code', '?')}")


def write_json(name: str, params: Mapping[str, Any], results: Any, m: Mapping[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    doc = {"benchmark": name, "command": " ".join([Path(sys.executable).name, *sys.argv]),
           "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": m,
           "params": dict(params), "results": results}
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(f"\nwrote {path.relative_to(REPO)}", flush=True)
    return path
