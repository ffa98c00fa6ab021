"""The commands: `rules lint`, `rules test` and `simulate`, through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bridge.cli.rules_cmd import rules_group, simulate_cmd

BROKEN = "version: 1\nrules:\n  - id: r\n    if: {field: data.x, op: equals, value: 1}\n    actions: [{add_tags: [a]}]\n"


def test_lint_of_the_examples_is_clean() -> None:
    result = CliRunner().invoke(rules_group, ["lint"])
    assert result.exit_code == 0, result.output
    assert result.output == "7 file(s) checked: 0 error(s), 0 warning(s)\n"


def test_lint_prints_each_problem_with_its_source_line_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = CliRunner().invoke(rules_group, ["lint", str(path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{path}:4:29: error: unknown operator 'equals' (did you mean 'eq'?); expected one of:")
    assert lines[0].endswith("[r]")
    assert lines[1:3] == ["        if: {field: data.x, op: equals, value: 1}",
                          "                                ^"]
    assert lines[-1] == "1 file(s) checked: 1 error(s), 0 warning(s)"


def test_lint_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(rules_group, ["lint", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert f"{tmp_path}/nope.yaml:1:1: error: no such file or directory" in result.output


def test_rules_test_runs_the_examples() -> None:
    result = CliRunner().invoke(rules_group, ["test", "-v"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].endswith(" passed, 0 failed")
    assert "ok    " in result.output


def test_rules_test_shows_failures_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("version: 1\nrules:\n  - id: r\n    actions: [{add_tags: [a]}]\ntests:\n  - name: wrong\n"
                    "    event: {source: s, type: t, data: {email: a@b.co}}\n    expect: {matched: []}\n",
                    encoding="utf-8")
    result = CliRunner().invoke(rules_group, ["test", str(path)])
    assert result.exit_code == 1
    assert result.output == (f"FAIL  {path}:6  wrong\n        matched: expected [], got [r]\n0 passed, 1 failed\n")


def test_rules_test_with_rules_that_do_not_load(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = CliRunner().invoke(rules_group, ["test", str(path)])
    assert result.exit_code == 1
    assert "the rules did not load; no tests ran" in result.output


def write_json(path: Path, value: object) -> str:
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def test_simulate_shows_matches_conditions_and_the_change_without_sending(tmp_path: Path) -> None:
    event = write_json(tmp_path / "event.json", {
        "type": "form.submitted",
        "data": {"email": "cto@bigco.com", "name": "Dana", "form_name": "Book a demo",
                 "fields": {"company": "BigCo", "company_size": "5000+"}}})
    result = CliRunner().invoke(simulate_cmd, ["--event", event, "--source", "typeform"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "from typeform (form.submitted)" in out and "matched: enterprise-lead" in out
    assert "✓ enterprise-lead" in out
    assert "✓ data.fields.company_size in: '5000+' is one of list enterprise_sizes" in out
    assert "✗ zapier-lead-import  (" in out and "skipped: stopped by rule 'enterprise-lead'" in out
    assert "cto@bigco.com (new customer):" in out
    assert 'POST   {"name": "Dana", "email": "cto@bigco.com", "tags": ["lead", "enterprise"]' in out


def test_simulate_json_with_an_existing_customer(tmp_path: Path) -> None:
    event = write_json(tmp_path / "event.json", {"email": "Lee@Acme.io", "lead_source": "Ads", "score": "90"})
    customer = write_json(tmp_path / "customer.json", {"email": "lee@acme.io", "name": "Lee", "tags": ["lead"],
                                                       "metadata": {"lead_source": "Ads"}})
    result = CliRunner().invoke(simulate_cmd, ["--event", event, "--source", "zapier", "--customer", customer,
                                               "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["evaluation"]["matched"] == ["zapier-lead-import"]
    assert out["changes"] == [{"email": "Lee@Acme.io", "exists": True, "create": None,
                               "update": {"tags": ["lead", "zapier-ads", "hot-lead"], "metadata": {"lead_score": 90}},
                               "tags_changed": True, "notes_appended": []}]


def test_simulate_with_other_rules_and_bad_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    event = write_json(tmp_path / "event.json", {"email": "a@b.co"})
    result = CliRunner().invoke(simulate_cmd, ["--event", event, "--rules", str(broken)])
    assert result.exit_code == 1 and "the rules did not load" in result.output
    (tmp_path / "bad.json").write_text("{nope", encoding="utf-8")
    result = CliRunner().invoke(simulate_cmd, ["--event", str(tmp_path / "bad.json")])
    assert result.exit_code == 1 and "is not valid JSON" in result.output
    result = CliRunner().invoke(simulate_cmd, ["--event", str(tmp_path / "missing.json")])
    assert result.exit_code == 1 and "cannot read the event file" in result.output
