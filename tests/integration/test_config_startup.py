"""A config that cannot work stops at start, never after a 202; the environment overrides the file
whatever sections it has (README, Configuration). Through the production commands, as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import alive, descendants, port_free
from tests.support.stack import RULES_DIR
from workers.redis_server import free_port

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).parent / "cstar-bridge")
TOKEN = "startup-token"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "CSTAR_", "REDIS_URL"))}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def config_without_cstar(tmp_path: Path, redis_url: str, queue: str) -> Path:
    """A bridge.yaml that names no `cstar:` at all: the API comes from CSTAR_* or nowhere."""
    path = tmp_path / "bridge.yaml"
    path.write_text(f"redis_url: {redis_url}\nkey_prefix: '{queue}:'\nqueue: {queue}\n"
                    f"sources:\n  demo: {{adapter: json, verify: {{scheme: token, secret: ${{DEMO_TOKEN}}}}}}\n"
                    f"rules: ['{RULES_DIR / 'basic.yaml'}']\n")
    return path


PROCESSES = {
    "gunicorn's create_app()": ([sys.executable, "-c", "from bridge import create_app; create_app()"], 4),
    "celery -A workers worker": ([sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool", "solo"], 1),
    "cstar-bridge web": ([CLI, "web", "--port", "0"], 1),
    "cstar-bridge worker": ([CLI, "worker"], 1),
}


@pytest.mark.parametrize("name", list(PROCESSES))
def test_web_and_worker_refuse_to_start_without_team_and_key(tmp_path, redis_url, name):
    process, code = PROCESSES[name]
    cfg = config_without_cstar(tmp_path, redis_url, "q-refuse")
    done = subprocess.run(process, env=clean_env(BRIDGE_CONFIG=str(cfg), DEMO_TOKEN=TOKEN), capture_output=True,
                          text=True, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == code, out
    assert "cstar.team_id is missing" in out and "cstar.api_key is missing" in out, out
    assert "CSTAR_TEAM_ID" in out and "CSTAR_API_KEY" in out
    assert "Traceback" not in out


@pytest.mark.parametrize("name", ["cstar-bridge web", "cstar-bridge worker"])
def test_a_malformed_api_url_or_a_publishable_key_is_refused(tmp_path, redis_url, name):
    process, code = PROCESSES[name]
    cfg = config_without_cstar(tmp_path, redis_url, "q-refuse")
    for env, words in (({"CSTAR_API_URL": "localhost:8100"}, "cstar.api_url"),
                       ({"CSTAR_API_KEY": "pk_test_dev"}, "publishable key")):
        full = clean_env(BRIDGE_CONFIG=str(cfg), DEMO_TOKEN=TOKEN, **{
            "CSTAR_API_URL": "http://127.0.0.1:1", "CSTAR_TEAM_ID": "team_dev", "CSTAR_API_KEY": "sk_test_dev",
            **env})
        done = subprocess.run(process, env=full, capture_output=True, text=True, timeout=120)
        out = done.stdout + done.stderr
        assert done.returncode == code and words in out and "Traceback" not in out, out


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.2)


def test_cstar_environment_reaches_web_and_worker_when_the_file_has_no_cstar_section(tmp_path, redis_url,
                                                                                      sandbox):
    """The reproduction of issue 11 §6: the event used to stay `queued` with `cstar.team_id is empty`."""
    sandbox.reset()
    queue = f"q-env-{os.getpid()}"
    cfg = config_without_cstar(tmp_path, redis_url, queue)
    env = clean_env(BRIDGE_CONFIG=str(cfg), DEMO_TOKEN=TOKEN, CSTAR_API_URL=sandbox.url,
                    CSTAR_TEAM_ID="team_dev", CSTAR_API_KEY="sk_test_dev", BRIDGE_ADMIN_TOKEN="adm")
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    logs = {n: tmp_path / f"{n}.log" for n in ("web", "worker")}
    try:
        for name, args in (("web", [CLI, "web", "--host", "127.0.0.1", "--port", str(port), "-w", "1"]),
                           ("worker", [CLI, "worker", "-c", "1"])):
            with open(logs[name], "wb") as log:
                procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True))
        url = f"http://127.0.0.1:{port}"
        _wait_http(url + "/healthz", procs[0], logs["web"])
        r = httpx.post(url + "/hooks/demo", json={"email": "env@override.test", "tag": "from-env"},
                       headers={"X-Bridge-Token": TOKEN}, timeout=10)
        assert r.status_code == 202, r.text
        event_id = r.json()["data"]["eventId"]
        deadline = time.monotonic() + 90
        while True:
            ev = httpx.get(f"{url}/events/{event_id}", headers={"Authorization": "Bearer adm"}, timeout=10).json()
            status = ev["data"]["status"]
            if status in ("done", "dead"):
                break
            assert time.monotonic() < deadline, (status, logs["worker"].read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        assert status == "done", ev
        [customer] = [c for c in sandbox.customers("team_dev") if c["email"] == "env@override.test"]
        assert set(customer["tags"]) == {"lead", "from-env"}

        # SIGTERM to each main process (as systemd or docker sends it) stops its whole tree and frees the port
        started = set().union(*(descendants(p.pid) | {p.pid} for p in procs))
        assert len(started) >= 3, started  # gunicorn master + worker, the celery worker (threads: one process)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while any(alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in started if alive(p)]
        assert port_free(port)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    for name, log in logs.items():
        assert "sk_test_dev" not in log.read_text(errors="replace"), name
