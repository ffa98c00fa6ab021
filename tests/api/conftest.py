"""Fixtures for the API tests: the session's sandbox (tests/conftest.py) reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.sandbox import SandboxProcess
from workers.client import CstarClient

SK, PK, OTHER_SK = "sk_test_dev", "pk_test_dev", "sk_test_other"
CUSTOMERS = "/api/v1/teams/team_dev/customers"


@pytest.fixture
def sb(sandbox: SandboxProcess) -> SandboxProcess:
    """The session's sandbox with no customers, calls or faults, and no rate limit."""
    sandbox.reset()
    return sandbox


@pytest.fixture(scope="session")
def anon(sandbox: SandboxProcess) -> Iterator[httpx.Client]:
    """Plain httpx against the sandbox without a key (one per session: a new httpx.Client costs ~40 ms)."""
    with httpx.Client(base_url=sandbox.url, timeout=10) as c:
        yield c


@pytest.fixture(scope="session")
def _authed(sandbox: SandboxProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {SK}"}, timeout=10) as c:
        yield c


@pytest.fixture
def http(sb: SandboxProcess, _authed: httpx.Client) -> httpx.Client:
    """Plain httpx against the reset sandbox, authenticated with team_dev's secret key."""
    return _authed


@pytest.fixture
def client(sb: SandboxProcess) -> Iterator[CstarClient]:
    """The bridge's client for team_dev."""
    with CstarClient(sb.url, "team_dev", SK) as c:
        yield c
