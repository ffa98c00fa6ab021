"""Sampling profiles of running processes with py-spy, summarised as tables.

py-spy is a profiling tool, not a dependency of the project: `.venv/bin/pip install py-spy`.
Only the thread holding the GIL is sampled (`--gil`): Python work on a CPU, not threads waiting
on a socket or for the GIL. Each sample is attributed to the direct callee of an anchor function
(e.g. `bridge.ingest.receive`, `workers.pipeline.process_event`) — the step it was in — or, outside
the anchor, to the library it was in.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

from bench.common import workdir

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
LIBRARIES = ("flask", "werkzeug", "gunicorn", "celery", "kombu", "billiard", "redis", "urllib3", "httpx",
             "httpcore", "h11", "marshmallow", "jinja2", "prometheus_client", "concurrent", "json", "logging", "rules",
             "workers", "bridge")


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


class Recording:
    """`py-spy record` on each pid until stop() (SIGINT makes py-spy write its output)."""

    def __init__(self, pids: Iterable[int], *, rate: int = 250, tag: str = "spy") -> None:
        spy = py_spy()
        if spy is None:
            raise RuntimeError("py-spy not found: `.venv/bin/pip install py-spy` (profiling only)")
        self.outputs: list[Path] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        for pid in pids:
            out = workdir() / f"{tag}-{pid}.txt"
            self.outputs.append(out)
            self.procs.append(subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--rate", str(rate), "--gil", "--format", "raw",
                 "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self) -> Counter[str]:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        stacks: Counter[str] = Counter()
        for out in self.outputs:
            if out.exists():
                for line in out.read_text().splitlines():
                    stack, _, n = line.rpartition(" ")
                    if n.isdigit():
                        stacks[stack] += int(n)
        return stacks


def short(file: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/", "lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def label(frame: str) -> str:
    m = FRAME.match(frame)
    return f"{m.group('func')} ({short(m.group('file'))})" if m else frame


def library(frame: str) -> str:
    m = FRAME.match(frame)
    file = short(m.group("file")) if m else frame
    top = file.split("/", 1)[0].removesuffix(".py")
    return top if top in LIBRARIES else ("stdlib: " + top if "/" not in file else top)


def frames_of(stack: str) -> list[str]:
    return [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]


def summarise(stacks: Counter[str], anchor: str, anchor_file: str,
              outside: Any = None) -> dict[str, Any]:
    """Shares (% of samples) by step of the anchor, one level deeper, by leaf function."""
    steps: Counter[str] = Counter()
    nested: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = sum(stacks.values())
    for stack, n in stacks.items():
        frames = frames_of(stack)
        if frames:
            leaves[label(frames[-1])] += n
        idx = next((i for i, f in enumerate(frames)
                    if f.startswith(anchor + " (") and anchor_file in f), None)
        if idx is None:
            steps[outside(frames) if outside else "outside " + anchor + ": " + _outside_lib(frames)] += n
            continue
        if idx + 1 >= len(frames):
            steps[f"{anchor}: its own lines"] += n
            continue
        step = f"{anchor} > {label(frames[idx + 1])}"
        steps[step] += n
        nested[step + " > " + (label(frames[idx + 2]) if idx + 2 < len(frames) else "(self)")] += n

    def pct(c: Counter[str], k: int | None = None) -> list[dict[str, Any]]:
        return [{"where": key, "share": 100.0 * v / total} for key, v in c.most_common(k)]

    return {"samples": total, "steps": pct(steps), "nested": pct(nested, 25), "leaves": pct(leaves, 20)}


def _outside_lib(frames: Sequence[str]) -> str:
    for frame in reversed(frames):
        lib = library(frame)
        if not lib.startswith("stdlib"):
            return lib
    return library(frames[-1]) if frames else "?"


def by_library(stacks: Counter[str]) -> list[dict[str, Any]]:
    """Self time by the library of the leaf frame."""
    libs: Counter[str] = Counter()
    total = sum(stacks.values())
    for stack, n in stacks.items():
        frames = frames_of(stack)
        libs[library(frames[-1]) if frames else "?"] += n
    return [{"where": k, "share": 100.0 * v / total} for k, v in libs.most_common()]
