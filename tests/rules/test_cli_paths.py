"""`cstar-bridge rules lint|test` find what the README says they find: directories recurse, checking
nothing is an error that says where it looked (exit 2), and a long run shows its progress. The README's
commands run here exactly as written, through the installed console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXAMPLES = sorted((REPO / "rules" / "examples").glob("*.yaml"))


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def readme_rules_commands() -> list[str]:
    section = (REPO / "README.md").read_text().split("\n## Rules\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_rules_commands_check_the_example_files(tmp_path):
    lint, test, simulate = readme_rules_commands()
    assert (lint, test) == ("cstar-bridge rules lint rules/", "cstar-bridge rules test rules/")
    linted = shell(lint, REPO)
    assert linted.returncode == 0, linted
    assert f"{len(EXAMPLES)} file(s) checked: 0 error(s)" in linted.stdout
    tested = shell(test, REPO)
    assert tested.returncode == 0, tested
    assert " passed, 0 failed" in tested.stdout and not tested.stdout.startswith("0 passed")
    (tmp_path / "event.json").write_text('{"source": "zapier", "data": {"email": "lee@acme.io", "score": 91}}')
    simulated = shell(simulate, tmp_path)
    assert simulated.returncode == 0 and "matched: zapier-lead-import" in simulated.stdout, simulated


def test_a_directory_recurses_into_its_folders(tmp_path):
    deep = tmp_path / "team" / "sales"
    deep.mkdir(parents=True)
    (deep / "leads.yml").write_text((REPO / "rules" / "examples" / "50-zapier-leads.yaml").read_text())
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "broken.yaml").write_text("version: 1\nrules: [")
    linted = shell("cstar-bridge rules lint .", tmp_path)
    assert linted.returncode == 0 and "1 file(s) checked: 0 error(s)" in linted.stdout, linted
    tested = shell("cstar-bridge rules test .", tmp_path)
    assert tested.returncode == 0 and "4 passed, 0 failed" in tested.stdout, tested


@pytest.mark.parametrize("command", ["lint", "test"])
def test_checking_nothing_is_exit_2_naming_where_it_looked(tmp_path, command):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("not a rule file")
    done = shell(f"cstar-bridge rules {command} empty/", tmp_path)
    assert done.returncode == 2, done
    assert f"no rule files in empty/ ({tmp_path / 'empty'}" in done.stderr
    assert "every folder below" in done.stderr and "Traceback" not in done.stderr
    globbed = shell(f"cstar-bridge rules {command} 'nowhere/*.yaml' {REPO / 'rules' / 'examples'}", tmp_path)
    assert globbed.returncode == 2, globbed
    assert f"no rule files match nowhere/*.yaml (looked from {tmp_path})" in globbed.stderr


def test_rules_test_on_many_files_shows_progress(tmp_path):
    for i in range(120):
        (tmp_path / f"r{i:03d}.yaml").write_text(
            f"version: 1\nrules:\n  - id: r{i}\n    when: {{source: s{i}}}\n"
            f"    customer: {{email: '{{{{ data.email }}}}', create: true}}\n    actions:\n      - add_tags: [t{i}]\n"
            f"tests:\n  - name: tagged {i}\n    event: {{source: s{i}, type: form.submitted, data: {{email: a@b.co}}}}\n"
            f"    expect: {{matched: [r{i}], customer: {{tags: [t{i}]}}}}\n")
    done = shell("cstar-bridge rules test .", tmp_path)
    assert done.returncode == 0, done
    assert "120 passed, 0 failed" in done.stdout
    assert "loading 120 rule files" in done.stderr
    steps = [line for line in done.stderr.splitlines() if line.startswith("running tests: ")]
    assert len(steps) >= 5 and steps[-1] == "running tests: 120/120", done.stderr
