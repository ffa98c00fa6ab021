"""Run the Customers API sandbox as a real subprocess for tests, and drive its /_sandbox/ hooks.

    proc = start_sandbox()              # python -m sandbox --port 0: the OS picks a free port
    proc.url                            # http://127.0.0.1:<port>
    proc.reset(rate_limit=5)            # no customers, calls or faults; optional rate limit
    proc.set_faults([{"action": "error", "status": 503, "methods": ["POST"]}])
    proc.calls(), proc.stats(), proc.customers("team_dev")
    proc.stop()                         # terminate, then kill; also runs at interpreter exit
"""

from __future__ import annotations

import atexit
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "cstar sandbox listening on"  # printed first by sandbox.server.serve


class SandboxProcess:
    """A running `python -m sandbox` and its test hooks."""

    def __init__(self, process: subprocess.Popen[str], url: str, log_path: str) -> None:
        self.process = process
        self.url = url
        self.log_path = log_path
        self._http = httpx.Client(base_url=url, timeout=10)  # one pool: a new httpx.Client costs ~40 ms

    def reset(self, **options: Any) -> dict[str, Any]:
        """Clear customers, calls and faults; `rate_limit`/`rate_window` override the start-up values."""
        return self._hook("POST", "/_sandbox/reset", json=options)

    def set_faults(self, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the fault rules (an empty list turns faults off)."""
        return list(self._hook("PUT", "/_sandbox/faults", json=rules)["faults"])

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules in force, with how often each fired."""
        return list(self._hook("GET", "/_sandbox/faults")["faults"])

    def calls(self, since: int = 0) -> list[dict[str, Any]]:
        """The API calls the sandbox answered (after `since`), oldest first."""
        return list(self._hook("GET", f"/_sandbox/calls?since={since}")["calls"])

    def stats(self) -> dict[str, Any]:
        """Call counts by method and status since the last reset."""
        return self._hook("GET", "/_sandbox/stats")

    def customers(self, team: str = "team_dev") -> list[dict[str, Any]]:
        """Every customer of the team, full objects with metadata, oldest first."""
        return list(self._hook("GET", f"/_sandbox/customers?team={team}")["customers"])

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 5 s); safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._http.close()
        if self.process.stdout is not None:
            self.process.stdout.close()
        Path(self.log_path).unlink(missing_ok=True)

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _hook(self, method: str, path: str, json: Any = None) -> Any:
        response = self._http.request(method, path, json=json)
        if response.status_code != 200:
            raise RuntimeError(f"sandbox {method} {path}: HTTP {response.status_code}: {response.text}")
        return response.json()


def start_sandbox(*, rate_limit: int = 0, rate_window: float = 60.0, timeout: float = 20.0) -> SandboxProcess:
    """Start `python -m sandbox` on a free port and return once it answers."""
    log = tempfile.NamedTemporaryFile(prefix="cstar-sandbox-", suffix=".log", delete=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", "0", "--quiet",
         "--rate-limit", str(rate_limit), "--rate-window", str(rate_window)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True,
        preexec_fn=_die_with_parent if _PRCTL is not None else None,  # noqa: PLW1509 (no locks taken)
    )
    log.close()
    proc: SandboxProcess | None = None
    try:
        url = _read_url(process, timeout, log.name)
        proc = SandboxProcess(process, url, log.name)
        atexit.register(proc.stop)
        _wait_until_answering(proc, timeout)
        return proc
    except BaseException:
        process.kill()
        process.wait(timeout=5)
        raise


def _read_url(process: subprocess.Popen[str], timeout: float, log_path: str) -> str:
    """The URL from the first line the server prints; keep draining stdout in the background."""
    lines: queue.Queue[str | None] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=_drain, args=(process.stdout, lines), daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        if line is None:
            break
        if line.startswith(READY_LINE):
            return line[len(READY_LINE):].strip()
    log = Path(log_path).read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the sandbox did not start (exit code {process.poll()}); its log:\n{log}")


def _drain(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    try:
        for line in stream:
            lines.put(line.rstrip("\n"))
    except (OSError, ValueError):
        pass
    lines.put(None)


def _wait_until_answering(proc: SandboxProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            proc.stats()
            return
        except (httpx.HTTPError, RuntimeError):
            if time.monotonic() > deadline or proc.process.poll() is not None:
                raise RuntimeError(f"the sandbox at {proc.url} does not answer; log: {proc.log_path}") from None
            time.sleep(0.05)


def _load_prctl() -> Any:
    # Resolved here, in the parent: a preexec_fn must not import or load libraries after fork().
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl() if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, so a killed pytest leaves no sandbox behind."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
