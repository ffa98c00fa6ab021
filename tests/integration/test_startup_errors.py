"""Invalid config or rules stop start-up with the message (the lint output), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BAD_RULES = "version: 1\nrules:\n  - id: x\n    actions:\n      - add_tag: [a]\n"


@pytest.fixture
def bad_env(tmp_path):
    def make(kind: str) -> dict[str, str]:
        cfg = tmp_path / "bridge.yaml"
        if kind == "missing-var":
            cfg.write_text("cstar: {api_key: '${SURELY_NOT_SET_VAR}'}\n")
        else:
            (tmp_path / "rules.yaml").write_text(BAD_RULES)
            cfg.write_text(f"rules: ['{tmp_path / 'rules.yaml'}']\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "CSTAR_"))}
        env["BRIDGE_CONFIG"] = str(cfg)
        return env
    return make


@pytest.mark.parametrize("kind,words", [("missing-var", "SURELY_NOT_SET_VAR"),
                                        ("bad-rules", "rules.yaml:5:9: error: unknown action 'add_tag' "
                                                      "(did you mean 'add_tags'?)")])
@pytest.mark.parametrize("process,code", [
    ([sys.executable, "-c", "from bridge import create_app; create_app()"], 4),   # what gunicorn calls
    ([sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool", "solo"], 1),
])
def test_bad_config_stops_start_up_with_the_message(bad_env, kind, words, process, code):
    done = subprocess.run(process, env=bad_env(kind), capture_output=True, text=True, timeout=60)
    assert done.returncode == code, done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
