"""Real Celery worker processes for integration and fault tests (never eager, never mocked)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from bridge.cli.serve import DEFAULT_CONCURRENCY, DEFAULT_POOL


class WorkerProcess:
    """`celery -A workers worker` as a child process, with its log in a file; by default with the pool and
    concurrency `cstar-bridge worker` starts (bridge.cli.serve)."""

    def __init__(self, env: dict[str, str], log_path: Path, *, queue: str, concurrency: int = DEFAULT_CONCURRENCY,
                 pool: str = DEFAULT_POOL, name: str = "w1", args: list[str] | None = None,
                 cwd: Path | None = None) -> None:
        self.env = env
        self.args = args  # another production command line (`cstar-bridge worker ...`), run from `cwd`
        self.cwd = cwd
        self.log_path = log_path
        self.queue = queue
        self.concurrency = concurrency
        self.pool = pool
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = None

    def start(self, timeout: float = 60.0) -> "WorkerProcess":
        self._log = open(self.log_path, "ab")
        offset = self.log_path.stat().st_size
        args = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", self.queue, "-c",
                str(self.concurrency), "-P", self.pool, "-l", "info", "-n", f"{self.name}@%h",
                "--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.proc = subprocess.Popen(self.args or args, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=self.cwd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            if b" ready." in self.log_path.read_bytes()[offset:]:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready within {timeout} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def child_pids(self) -> list[int]:
        """The pool's child processes (for SIGKILLing them; none on the threads pool)."""
        out = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the main process and its pool, as a crashed host would."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 60.0) -> None:
        """SIGTERM (warm/soft shutdown), wait for the exit."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def stop(self) -> None:
        self.terminate(20)
        if self._log:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log_text()))
