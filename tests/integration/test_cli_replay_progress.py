"""`cstar-bridge events replay --all-dead` on many dead letters shows each result as it goes and its
progress, and every replayed event ends done (the installed console script, a real worker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).parent / "cstar-bridge")


def test_replay_all_dead_shows_progress_and_replays_each(make_stack):
    stack = make_stack(worker={"max_retries": 0})
    stack.sandbox.set_faults([{"action": "error", "status": 400, "rate": 1.0, "methods": ["POST"]}])
    ids = [stack.accepted_id(stack.post(body={"email": f"r{i}@dead.test", "note": f"n{i}"})) for i in range(30)]
    stack.start_worker(concurrency=2)
    stack.wait_for(ids, statuses=("dead",), timeout=120)
    stack.sandbox.set_faults([])

    done = subprocess.run([CLI, "events", "replay", "--all-dead", "--config", str(stack.config_path)],
                          env=stack.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done
    assert "30 of 30 replayed" in done.stdout
    assert all(f"{eid}: replayed" in done.stdout for eid in ids)
    steps = [line for line in done.stderr.splitlines() if line.startswith("replaying: ")]
    assert len(steps) >= 2 and steps[-1] == "replaying: 30/30", done.stderr
    stack.wait_for(ids, timeout=120)
    for i in range(30):
        assert stack.customer(f"r{i}@dead.test")["notes"].count(f"n{i}") == 1
