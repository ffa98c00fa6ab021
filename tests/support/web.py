"""A real `cstar-bridge web` (gunicorn over real sockets) for a BridgeStack's config, and raw-socket
requests that send exactly the bytes a hostile client would (chunked framing, short bodies)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from workers.redis_server import free_port

CLI = str(Path(sys.executable).parent / "cstar-bridge")


class WebServer:
    """`cstar-bridge web --config <stack's bridge.yaml> ...` (or any gunicorn command line) as a child."""

    def __init__(self, stack: Any, log_path: Path, *extra: str, args: list[str] | None = None,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.cwd = cwd  # the directory the command starts from (default: the test's)
        self.host, self.port = "127.0.0.1", free_port()
        self.log_path = log_path
        base_env = {k: v for k, v in stack.env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        self.env = {**base_env, **(env or {})}
        self.args = args or [CLI, "web", "--config", str(stack.config_path), "--host", self.host,
                             "--port", str(self.port), *extra]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> "WebServer":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([a.replace("{port}", str(self.port)) for a in self.args], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.cwd)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"web did not come up:\n{self.log_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)  # the master alone: it stops its workers gracefully
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> "WebServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(host: str, port: int, head: bytes, body_parts: list[bytes] = (), *,  # type: ignore[assignment]
                half_close: bool = True, timeout: float = 30.0) -> RawResponse:
    """Send the head and body bytes as given, half-close (the client is done), read the answer."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(head)
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered (413) and closed before the rest: read the answer
        if half_close:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        data = b""
        while True:
            try:
                piece = sock.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            data += piece
            if complete(data):
                break
    return parse_response(data)


def complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def parse_response(data: bytes) -> RawResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/"):
        raise AssertionError(f"no HTTP response: {data[:200]!r}")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(status, headers, body)


def post_head(path: str, *, content_type: str, length: int | None = None, chunked: bool = False,
              headers: dict[str, str] | None = None) -> bytes:
    """The request line and headers of a POST; framed by Content-Length or chunked."""
    lines = [f"POST {path} HTTP/1.1", "Host: bridge.test", f"Content-Type: {content_type}"]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(body: bytes, size: int = 8192) -> list[bytes]:
    """The body in chunked framing, `size` bytes per chunk, with the final zero chunk."""
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return parts + [b"0\r\n\r\n"]
