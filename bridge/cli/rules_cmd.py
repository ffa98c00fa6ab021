"""`cstar-bridge rules lint|test [PATH…]` and `cstar-bridge simulate`: the rule language from the shell.

Nothing here sends anything: `simulate` evaluates an event file and prints the change that would go
out. Without paths, the commands use the example rules shipped in the package (rules/examples).
"""

from __future__ import annotations

import glob
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from bridge.cli.common import Progress
from rules import EXAMPLES_DIR, RulesInvalid, compute_change, evaluate, lint_paths, load_ruleset, run_tests
from rules.diagnostics import Diagnostic
from rules.explain import change_lines, test_report_lines, trace_lines
from rules.lint import find_rule_files

_MANY_FILES = 20   # from here on, say that loading is under way
_MANY_TESTS = 100  # from here on, show the tests' progress


def _paths(paths: tuple[str, ...]) -> list[str]:
    """The paths to load (default: the examples); exit 2 naming where it looked when a directory holds
    no rule file or a glob matches none (checking nothing is not a pass)."""
    chosen = list(paths) or [str(EXAMPLES_DIR)]
    empty: list[str] = []
    for entry in chosen:
        path = Path(entry)
        if path.is_dir():
            if not find_rule_files([entry])[0]:
                empty.append(f"no rule files in {entry} ({path.resolve()}: looked for *.yaml and *.yml "
                             "in it and in every folder below)")
        elif glob.has_magic(entry) and not path.exists() and not find_rule_files([entry])[0]:
            empty.append(f"no rule files match {entry} (looked from {Path.cwd()})")
    if empty:
        for line in empty:
            click.echo(f"error: {line}", err=True)
        sys.exit(2)
    return chosen


def _excerpt(diagnostic: Diagnostic, sources: dict[str, list[str]]) -> list[str]:
    """The source line under a diagnostic, with a caret at its column."""
    if diagnostic.file not in sources:
        try:
            sources[diagnostic.file] = Path(diagnostic.file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            sources[diagnostic.file] = []
    lines = sources[diagnostic.file]
    if not 0 < diagnostic.line <= len(lines):
        return []
    text = lines[diagnostic.line - 1]
    return [f"    {text}", "    " + " " * (diagnostic.col - 1) + "^"]


def _echo_diagnostics(diagnostics: list[Diagnostic], with_source: bool = True) -> None:
    sources: dict[str, list[str]] = {}
    for diagnostic in diagnostics:
        click.echo(str(diagnostic), err=diagnostic.is_error)
        if with_source:
            for line in _excerpt(diagnostic, sources):
                click.echo(line, err=diagnostic.is_error)


@click.group("rules")
def rules_group() -> None:
    """Lint and test rule files."""


@rules_group.command("lint")
@click.argument("paths", nargs=-1)
@click.option("--no-source", is_flag=True, help="do not print the source line under each problem")
def lint_cmd(paths: tuple[str, ...], no_source: bool) -> None:
    """Check rule files: every problem as file:line:col, exit 1 on errors (default: the examples)."""
    paths_ = _paths(paths)
    files, _ = find_rule_files(paths_)
    diagnostics = lint_paths(paths_)
    _echo_diagnostics(diagnostics, with_source=not no_source)
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    click.echo(f"{len(files)} file(s) checked: {errors} error(s), {warnings} warning(s)")
    if errors:
        sys.exit(1)


@rules_group.command("test")
@click.argument("paths", nargs=-1)
@click.option("-v", "--verbose", is_flag=True, help="also list the tests that passed")
def test_cmd(paths: tuple[str, ...], verbose: bool) -> None:
    """Run the tests: of rule files against all of them (default: the examples); exit 1 on failure."""
    chosen = _paths(paths)
    files, _ = find_rule_files(chosen)
    if len(files) >= _MANY_FILES:
        click.echo(f"loading {len(files)} rule files…", err=True)
    progress: Progress | None = None

    def advance(done: int, total: int) -> None:
        nonlocal progress
        if progress is None:
            progress = Progress("running tests", total, minimum=_MANY_TESTS)
        progress.advance(done - progress.done)

    report = run_tests(chosen, advance)
    if progress is not None:
        progress.close()
    if any(d.is_error for d in report.diagnostics):
        _echo_diagnostics(list(report.diagnostics))
        click.echo("the rules did not load; no tests ran", err=True)
        sys.exit(1)
    for line in test_report_lines(report, verbose):
        click.echo(line)
    if not report.results:
        click.echo("no tests found (add a `tests:` section to a rule file)")
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise click.ClickException(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"the {what} file {path} is not valid JSON: {exc}") from None


def _event(raw: Any, source: str | None) -> dict[str, Any]:
    """An event envelope from a file: `{source, type, data, …}`, or a bare payload that becomes `data`."""
    if not isinstance(raw, dict):
        raise click.ClickException("the event file must hold a JSON object")
    envelope = dict(raw) if isinstance(raw.get("data"), dict) else {"data": raw}
    envelope.setdefault("id", "simulated")
    envelope.setdefault("type", "form.submitted")
    envelope.setdefault("received_at", datetime.now(timezone.utc).isoformat())
    if source:
        envelope["source"] = source
    envelope.setdefault("source", "simulate")
    return envelope


def _customers(raw: Any) -> dict[str, dict[str, Any]]:
    items = raw if isinstance(raw, list) else [raw]
    customers = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("email"), str):
            raise click.ClickException("the customer file must hold a customer object (with an email) "
                                       "or a list of them")
        customers[item["email"].strip().lower()] = item
    return customers


@click.command("simulate")
@click.option("--event", "event_path", required=True, type=click.Path(dir_okay=False),
              help="JSON: an event {source, type, data} or a bare payload (it becomes data)")
@click.option("--source", help="the source name (overrides the file's)")
@click.option("--customer", "customer_path", type=click.Path(dir_okay=False),
              help="JSON: the existing customer (or a list of them); others are treated as new")
@click.option("--json", "as_json", is_flag=True, help="print the evaluation and changes as JSON")
@click.option("--rules", "rule_paths", multiple=True,
              help="rule files or directories (default: the examples)")
def simulate_cmd(event_path: str, source: str | None, customer_path: str | None, as_json: bool,
                 rule_paths: tuple[str, ...]) -> None:
    """Show which rules an event matches, why, and the change that would be sent (nothing is sent)."""
    try:
        ruleset = load_ruleset(_paths(rule_paths))
    except RulesInvalid as exc:
        _echo_diagnostics(exc.diagnostics)
        raise click.ClickException("the rules did not load") from None
    event = _event(_read_json(event_path, "event"), source)
    customers = _customers(_read_json(customer_path, "customer")) if customer_path else {}
    evaluation = evaluate(ruleset, event, customers)
    changes = []
    for plan in evaluation.plans:
        current = customers.get(plan.key)
        exists = current is not None
        changes.append((plan.email, exists, compute_change(plan, current, exists=exists)))
    if as_json:
        click.echo(json.dumps({"event": event, "evaluation": evaluation.to_dict(),
                               "changes": [{"email": e, "exists": x, **c.to_dict()} for e, x, c in changes]},
                              indent=2, ensure_ascii=False, default=str))
        return
    click.echo(f"event {event['id']} from {event['source']} ({event['type']}): {len(ruleset.rules)} rule(s), "
               f"matched: {', '.join(evaluation.matched) or 'none'}")
    click.echo("")
    for line in trace_lines(evaluation):
        click.echo(line)
    click.echo("")
    click.echo("changes (not sent):" if changes else "no changes: no rule matched")
    for email, exists, change in changes:
        for line in change_lines(email, exists, change):
            click.echo(f"  {line}")
