"""Slowloris: 100 connections trickling incomplete headers or bodies do not starve the ingress.

Under `cstar-bridge web` (2 gevent workers) and the gunicorn command `cstar-bridge dev` runs (1 worker),
normal deliveries and /healthz are answered while 100 slow clients stay connected (each dropped one
reconnects, as an attacker would); slow clients are dropped in the end (headers: keepalive, 5 s;
bodies: body_timeout, 408). Negative control: the server settings `dev` used before (gthread, 1 × 8
threads) answer nothing while the same clients trickle.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid

import httpx
import pytest

from bridge.cli.serve import gunicorn_command
from tests.support.stack import TOKEN, BridgeStack
from tests.support.web import WebServer, complete, parse_response, post_head

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOW_CLIENTS = 100
DEADLINE = 30.0  # generous: a request answered at all while the trickle goes on is the point


class Trickle:
    """N connections that send a request one byte at a time and reconnect when the server drops them."""

    def __init__(self, host: str, port: int, n: int) -> None:
        self.addr = (host, port)
        self.n = n
        self.socks: list[socket.socket | None] = [None] * n
        self.sent = [0] * n
        self.dropped = 0
        self.answers: dict[int, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _payload(self, i: int) -> bytes:
        if i % 2:  # incomplete headers, forever
            return b"POST /hooks/demo HTTP/1.1\r\nHost: bridge.test\r\n" + b"X-Slow: a\r\n" * 10_000
        head = post_head("/hooks/demo", content_type="application/json", length=100_000,
                         headers={"X-Bridge-Token": TOKEN})
        return head + b'{"email": "slow@example.com", "pad": "' + b"x" * 100_000

    def _connect(self, i: int) -> None:
        s = socket.create_connection(self.addr, timeout=5)
        # At once: the request line and Host (headers never finished), or the whole head (the body then
        # never finished); then a byte at a time. Every connection has something to read from the start.
        payload = self._payload(i)
        first = payload.index(b"X-Slow") if i % 2 else payload.index(b"\r\n\r\n") + 4
        s.sendall(payload[:first])
        s.setblocking(False)
        self.socks[i], self.sent[i] = s, first

    def open(self) -> "Trickle":
        for i in range(self.n):
            self._connect(i)
        self._thread.start()
        return self

    def connected(self) -> int:
        return sum(1 for s in self.socks if s is not None)

    def _run(self) -> None:
        payloads = [self._payload(i) for i in range(2)]
        while not self._stop.is_set():
            for i in range(self.n):
                s = self.socks[i]
                try:
                    if s is None:
                        self._connect(i)
                        continue
                    data = payloads[i % 2]
                    s.send(data[self.sent[i]:self.sent[i] + 1])
                    self.sent[i] += 1
                    peek = s.recv(600, socket.MSG_PEEK)
                    if peek == b"":  # the server closed it
                        raise ConnectionResetError
                    self.answers.setdefault(i, peek)  # answered before it finished: kept for the report
                except BlockingIOError:
                    pass  # nothing to read: still connected
                except OSError:
                    self.dropped += 1
                    if s is not None:
                        s.close()
                    self.socks[i] = None
            self._stop.wait(0.5)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for s in self.socks:
            if s is not None:
                s.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_url, sandbox):
    s = BridgeStack(tmp_path_factory.mktemp("slow"), redis_url, sandbox)
    yield s
    s.close()


def _deliver(url: str, timeout: float) -> int:
    return httpx.post(f"{url}/hooks/demo", json={"email": f"fast-{uuid.uuid4().hex[:8]}@example.com"},
                      headers={"X-Bridge-Token": TOKEN}, timeout=timeout).status_code


@pytest.mark.parametrize("command", ["web", "dev"])
def test_100_trickling_clients_do_not_starve_deliveries_or_healthz(stack, command):
    args = None if command == "web" else gunicorn_command("127.0.0.1", "{port}", 1)  # type: ignore[arg-type]
    with WebServer(stack, stack.tmp / f"slow-{command}.log", args=args) as srv:
        trickle = Trickle(srv.host, srv.port, SLOW_CLIENTS).open()
        try:
            time.sleep(1.0)
            assert trickle.connected() == SLOW_CLIENTS
            statuses = [_deliver(srv.url, DEADLINE) for _ in range(20)]
            health = httpx.get(f"{srv.url}/healthz", timeout=DEADLINE).status_code
            assert statuses == [202] * 20 and health == 200
            assert trickle.connected() >= SLOW_CLIENTS * 0.9, "the slow clients were still connected meanwhile"
            # Incomplete headers are dropped after keepalive (5 s); the clients reconnect and trickle on.
            deadline = time.monotonic() + 60
            while trickle.dropped < SLOW_CLIENTS // 4 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert trickle.dropped >= SLOW_CLIENTS // 4, "slow clients are dropped in the end"
            assert [_deliver(srv.url, DEADLINE) for _ in range(5)] == [202] * 5
            assert not [a for a in trickle.answers.values() if a.startswith(b"HTTP/1.1 2")], "an unfinished body got a 2xx"
        finally:
            trickle.close()
        assert "Traceback" not in srv.log_text()


def test_negative_control_gthread_workers_starve_under_the_same_trickle(stack):
    """The settings `dev` ran before: gthread, 1 worker × 8 threads; eight slow clients hold every thread.
    (With 2 workers the same happens once both hold slow clients, but which worker accepts which
    connection is up to the kernel, so one worker may stay free for a while: not a stable control.)"""
    with WebServer(stack, stack.tmp / "slow-gthread.log", "--worker-class", "gthread", "--workers", "1",
                   "--threads", "8") as srv:
        assert _deliver(srv.url, DEADLINE) == 202  # it works while nobody trickles
        trickle = Trickle(srv.host, srv.port, SLOW_CLIENTS).open()
        try:
            time.sleep(2.0)
            assert trickle.connected() == SLOW_CLIENTS
            with pytest.raises(httpx.TimeoutException):
                _deliver(srv.url, 5.0)
            with pytest.raises(httpx.TimeoutException):
                httpx.get(f"{srv.url}/healthz", timeout=5.0)
        finally:
            trickle.close()


def test_a_body_that_trickles_past_body_timeout_gets_408(tmp_path, redis_url, sandbox):
    """The mechanism, with body_timeout shortened to 2 s (default 30 s) so the test stays short."""
    s = BridgeStack(tmp_path, redis_url, sandbox, settings={"body_timeout": 2})
    with WebServer(s, tmp_path / "web.log") as srv:
        with socket.create_connection((srv.host, srv.port), timeout=30) as sock:
            sock.sendall(post_head("/hooks/demo", content_type="application/json", length=1000,
                                   headers={"X-Bridge-Token": TOKEN}) + b'{"email": ')
            started = time.monotonic()
            data = b""
            sock.settimeout(0.5)
            while not complete(data) and time.monotonic() - started < 30:
                try:
                    sock.sendall(b" ")  # a byte every half second: never idle, never done
                except OSError:
                    pass
                try:
                    piece = sock.recv(65536)
                except socket.timeout:
                    continue
                if not piece:
                    break
                data += piece
            resp = parse_response(data)
        assert resp.status == 408
        assert b"request_timeout" in resp.body
