"""A folder named `rules/` in the directory the bridge starts from (the natural home of a user's own rule
files) must not shadow the `rules` package: with the README's editable install (`pip install -e .`) the
current directory goes on sys.path, and an import of `rules` found a namespace package there instead of
the bridge's (issue: `celery -A workers`, gunicorn and `python -m celery` failed with ImportError). Each
production command starts from such a directory and does its work over real sockets."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from tests.support.stack import TOKEN
from tests.support.web import CLI, WebServer
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    """A user's project folder: a `rules/` folder of their own rule files, no __init__.py."""
    home = tmp_path / "my-bridge"
    (home / "rules").mkdir(parents=True)
    (home / "rules" / "my.yaml").write_text("version: 1\nrules: []\n")
    return home


def _worker_args(stack, command: str) -> list[str]:
    if command == "cstar-bridge worker":
        return [CLI, "worker", "--config", str(stack.config_path), "-c", "1"]
    return [str(BIN / "celery"), "-A", "workers", "worker", "-Q", stack.queue, "-c", "1", "-l", "info",
            "--without-gossip", "--without-mingle"]


@pytest.mark.parametrize("command", ["cstar-bridge worker", "celery -A workers worker"])
def test_a_worker_started_beside_a_rules_folder_processes_events(make_stack, user_dir, command):
    stack = make_stack()
    worker = WorkerProcess(stack.env, stack.tmp / "cwd-worker.log", queue=stack.queue,
                           args=_worker_args(stack, command), cwd=user_dir)
    stack.workers.append(worker)  # stopped with the stack
    worker.start()
    eid = stack.accepted_id(stack.post(body={"email": "cwd@rules.test", "name": "Cwd"}))
    assert stack.wait_for([eid])[eid]["status"] == "done"
    assert "ImportError" not in worker.log_text()


@pytest.mark.parametrize("command", ["cstar-bridge web", "gunicorn 'bridge:create_app()'"])
def test_the_web_started_beside_a_rules_folder_takes_webhooks(make_stack, user_dir, tmp_path, command):
    stack = make_stack()
    args = None
    if command.startswith("gunicorn"):
        args = [str(BIN / "gunicorn"), "-b", "127.0.0.1:{port}", "-w", "1", "bridge:create_app()"]
    with WebServer(stack, tmp_path / "web.log", args=args, cwd=user_dir) as web:
        resp = httpx.post(f"{web.url}/hooks/demo", json={"email": "web@rules.test"},
                          headers={"X-Bridge-Token": TOKEN}, timeout=30)
        assert resp.status_code == 202, resp.text
    assert "ImportError" not in web.log_text()
