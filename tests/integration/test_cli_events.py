"""`cstar-bridge events list --status dead` and `events replay`: dead letters from a shell."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bridge.cli import main
from tests.faults.batch import FAST

pytestmark = pytest.mark.integration


def test_list_dead_letters_and_replay_them_from_the_cli(make_stack):
    stack = make_stack(worker={**FAST, "max_retries": 0})
    stack.sandbox.set_faults([{"action": "error", "status": 400, "rate": 1.0, "methods": ["POST"],
                               "body_contains": "cli@dead.test"}])
    stack.start_worker(concurrency=1)
    eid = stack.accepted_id(stack.post(body={"email": "cli@dead.test", "note": "cli-note"}))
    stack.wait_for([eid], statuses=("dead",))

    runner = CliRunner()
    listed = runner.invoke(main, ["events", "list", "--status", "dead", "--config", str(stack.config_path)])
    assert listed.exit_code == 0, listed.output
    assert eid in listed.output and "the API refused the change" in listed.output
    assert "1 event(s) with status dead" in listed.output

    shown = runner.invoke(main, ["events", "show", eid, "--config", str(stack.config_path)])
    assert shown.exit_code == 0 and '"status": "dead"' in shown.output

    stack.sandbox.set_faults([])
    replayed = runner.invoke(main, ["events", "replay", "--all-dead", "--config", str(stack.config_path)])
    assert replayed.exit_code == 0, replayed.output
    assert f"{eid}: replayed" in replayed.output and "1 of 1 replayed" in replayed.output
    stack.wait_for([eid])
    assert stack.customer("cli@dead.test")["notes"].count("cli-note") == 1

    again = runner.invoke(main, ["events", "replay", eid, "--config", str(stack.config_path)])
    assert again.exit_code == 1 and "not replayable (status done)" in again.output


def test_cli_reports_a_bad_config_without_a_traceback(tmp_path):
    bad = tmp_path / "bridge.yaml"
    bad.write_text("cstar: {api_key: '${NOT_SET_ANYWHERE}'}\n")
    result = CliRunner().invoke(main, ["events", "list", "--config", str(bad)])
    assert result.exit_code == 1
    assert "NOT_SET_ANYWHERE" in result.output and "Traceback" not in result.output
