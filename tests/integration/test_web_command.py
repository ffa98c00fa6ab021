"""`cstar-bridge web`: the production ingress under gunicorn with several workers, over real HTTP.
`/metrics` adds up every worker's counters, whichever worker answers the scrape."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.stack import TOKEN
from workers.redis_server import free_port

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).parent / "cstar-bridge")


def accepted(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "cstar_bridge_hooks_total" and s.labels == {"source": "demo", "outcome": "accepted"}:
                return s.value
    return 0.0


@pytest.fixture
def web(make_stack, tmp_path):
    stack = make_stack()
    port = free_port()
    env = {k: v for k, v in stack.env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    log = open(tmp_path / "web.log", "wb")
    proc = subprocess.Popen([CLI, "web", "--config", str(stack.config_path), "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "3", "--threads", "2"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "web.log").read_text()
        time.sleep(0.2)
    yield stack, url, proc, tmp_path / "web.log"
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    log.close()


def test_web_serves_hooks_and_metrics_sum_over_every_worker(web):
    stack, url, proc, log = web
    workers = {int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                               text=True).stdout.split()}
    assert len(workers) == 3, log.read_text()

    n = 30
    for i in range(n):  # a new connection each: gunicorn's workers share them out
        r = httpx.post(f"{url}/hooks/demo", json={"email": f"web-{i}@example.com"},
                       headers={"X-Bridge-Token": TOKEN}, timeout=10)
        assert r.status_code == 202, r.text
    assert stack.queue_length() == n

    scrapes = [httpx.get(f"{url}/metrics", timeout=10) for _ in range(9)]
    assert all(s.status_code == 200 for s in scrapes)
    assert [accepted(s.text) for s in scrapes] == [float(n)] * 9, "a scrape saw only one worker's counts"
    assert "Traceback" not in log.read_text()
