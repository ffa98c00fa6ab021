"""Load generation for the ingest benchmarks: closed-loop POSTs of unique JSON bodies.

`wrk` when it is on PATH (a Lua script makes every body unique, so idempotency never dedupes, and
reports percentiles from wrk's own histogram and the status codes), else a built-in generator:
asyncio over raw keep-alive sockets, one process per core, exact percentiles.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.common import SOURCE, TOKEN, workdir
from bench.report import percentile

WRK_LUA = r"""
-- Every request a unique body: idempotency must never turn the benchmark into a duplicate check.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Bridge-Token"] = "%(token)s"

local threads = {}
local counter = 0
local nonce = "x"
statuses = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  nonce = args[1] or "x"
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"email":"u%%s-%%d-%%d@bench.test","name":"User %%d","company":"Bench Inc","plan":"pro",' ..
    '"seats":%%d,"tag":"t%%d"}',
    nonce, tid, counter, counter, counter %% 50, counter %% 7)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local codes = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, n in pairs(s) do codes[code] = (codes[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(codes) do table.insert(parts, string.format('"%%d":%%d', code, n)) end
  io.write(string.format(
    'BENCHJSON {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,' ..
    '"mean_us":%%f,"max_us":%%d,' ..
    '"errors":{"connect":%%d,"read":%%d,"write":%%d,"timeout":%%d,"status":%%d},"statuses":{%%s}}\n',
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, summary.errors.status, table.concat(parts, ",")))
end
"""


@dataclass
class LoadResult:
    generator: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def ok(self, *codes: int) -> int:
        return sum(n for c, n in self.statuses.items() if int(c) in (codes or (200, 201, 202)))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rps"] = round(self.rps, 1)
        return d


def generator_name(choice: str = "auto") -> str:
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "builtin"
    if choice == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not on PATH (apt-get install -y wrk), or use --generator builtin")
    return choice


def run_load(url: str, *, path: str = f"/hooks/{SOURCE}", duration: float = 10.0, connections: int = 32,
             threads: int | None = None, nonce: str | None = None, generator: str = "auto") -> LoadResult:
    """Closed-loop load for `duration` s: `connections` keep-alive connections POSTing unique JSON bodies."""
    threads = threads or min(connections, os.cpu_count() or 2)
    nonce = nonce or f"{os.getpid()}x{time.time_ns() % 10**12}"
    gen = generator_name(generator)
    if gen == "wrk":
        return _run_wrk(url + path, duration, connections, threads, nonce)
    return _run_builtin(url, path, duration, connections, threads, nonce)


def _run_wrk(url: str, duration: float, connections: int, threads: int, nonce: str) -> LoadResult:
    script = workdir() / "unique_bodies.lua"
    script.write_text(WRK_LUA % {"token": TOKEN})
    args = ["wrk", "-t", str(threads), "-c", str(max(connections, threads)),
            "-d", f"{max(1, round(duration))}s", "--timeout", "10s", "-s", str(script), url, "--", nonce]
    out = subprocess.run(args, capture_output=True, text=True, timeout=duration + 120)
    m = re.search(r"^BENCHJSON (.*)$", out.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk gave no result (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")
    raw = json.loads(m.group(1))
    errors = {k: int(v) for k, v in raw["errors"].items() if v}
    return LoadResult("wrk", int(raw["requests"]), raw["duration_us"] / 1e6, raw["p50_us"] / 1000,
                      raw["p90_us"] / 1000, raw["p99_us"] / 1000, raw["mean_us"] / 1000, raw["max_us"] / 1000,
                      {str(k): int(v) for k, v in raw["statuses"].items()}, errors)


BODY = ('{"email":"u%s-%d-%d@bench.test","name":"User %d","company":"Bench Inc","plan":"pro","seats":%d,'
        '"tag":"t%d"}')


def _builtin_process(args: tuple[str, int, str, float, int, str, int]) -> dict[str, Any]:
    host, port, path, duration, connections, nonce, index = args
    return asyncio.run(_builtin_async(host, port, path, duration, connections, nonce, index))


async def _builtin_async(host: str, port: int, path: str, duration: float, connections: int, nonce: str,
                         index: int) -> dict[str, Any]:
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"X-Bridge-Token: {TOKEN}\r\nConnection: keep-alive\r\n").encode()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = {"connect": 0, "read": 0}
    started = time.perf_counter()
    deadline = started + duration

    async def one_connection(ci: int) -> None:
        tid = index * 1000 + ci
        counter = 0
        reader = writer = None
        while time.perf_counter() < deadline:
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except OSError:
                    errors["connect"] += 1
                    await asyncio.sleep(0.05)
                    continue
            counter += 1
            body = (BODY % (nonce, tid, counter, counter, counter % 50, counter % 7)).encode()
            t0 = time.perf_counter()
            try:
                writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
                assert reader is not None
                status = int((await reader.readline()).split()[1])
                length, close = 0, False
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                await reader.readexactly(length)
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                errors["read"] += 1
                writer.close()
                reader = writer = None
                continue
            latencies.append(time.perf_counter() - t0)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if close:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(one_connection(i) for i in range(connections)))
    return {"latencies": latencies, "statuses": statuses, "errors": errors,
            "seconds": time.perf_counter() - started}


def _run_builtin(url: str, path: str, duration: float, connections: int, processes: int,
                 nonce: str) -> LoadResult:
    host, port = url.split("//", 1)[1].split(":")
    processes = max(1, min(processes, connections))
    per = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes) as pool:
        parts = pool.map(_builtin_process, [(host, int(port), path, duration, per[i], nonce, i)
                                            for i in range(processes)])
    lat = sorted(x for p in parts for x in p["latencies"])
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    for p in parts:
        for k, v in p["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
        for k, v in p["errors"].items():
            if v:
                errors[k] = errors.get(k, 0) + v
    secs = max(p["seconds"] for p in parts)
    ms = [x * 1000 for x in lat]
    return LoadResult("builtin", len(lat), secs, percentile(ms, 50), percentile(ms, 90), percentile(ms, 99),
                      sum(ms) / len(ms) if ms else 0.0, ms[-1] if ms else 0.0, statuses, errors)
