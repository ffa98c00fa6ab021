"""Loading rule files: find them, parse, validate, compile; every problem becomes a Diagnostic.

`lint_paths` never raises for bad content; `load_ruleset` raises RulesInvalid when there is any
error. Files load in name order (then path), so `10-leads.yaml` runs before `20-scoring.yaml`
wherever they live.
"""

from __future__ import annotations

import gc
import glob
import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rules.compiler import CompiledFile, FileCompiler, check_across_files
from rules.diagnostics import START, Diagnostic, Reporter, sort_diagnostics
from rules.errors import RulesInvalid
from rules.file_schema import FileShape, check_file
from rules.loader import load_yaml
from rules.model import Ruleset

EXAMPLES_DIR = Path(__file__).parent / "examples"
RULE_SUFFIXES = (".yaml", ".yml")


def find_rule_files(paths: Sequence[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Files named or globbed by `paths` (a directory means every *.yaml/*.yml in it and in the folders
    below, hidden ones excepted), in name order."""
    found: list[Path] = []
    problems: list[Diagnostic] = []
    for entry in paths:
        text = str(entry)
        path = Path(text)
        if path.is_dir():
            found += [p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file()
                      and not any(part.startswith(".") for part in p.relative_to(path).parts)]
        elif path.is_file():
            found.append(path)
        elif glob.has_magic(text):
            matches = [Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file()]
            if not matches:
                problems.append(Diagnostic(text, START.line, START.col, "error",
                                           "no rule files match this pattern"))
            found += matches
        else:
            problems.append(Diagnostic(text, START.line, START.col, "error", "no such file or directory"))
    unique = {p.resolve(): p for p in found}
    return sorted(unique.values(), key=lambda p: (p.name, str(p))), problems


def _read(path: Path) -> tuple[str | None, Diagnostic | None]:
    try:
        return path.read_text(encoding="utf-8"), None
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else (exc.strerror or str(exc))
        return None, Diagnostic(str(path), START.line, START.col, "error", f"cannot read the file: {reason}")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Loading allocates many long-lived objects, and the cyclic GC would rescan them all, again and
    again (1000 rules: 6 s instead of under 1 s); nothing made here is garbage until loading ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def fingerprint(sources: Sequence[tuple[str, str]]) -> str:
    """The rule set's fingerprint: sha256 over its files' names and texts, in load order."""
    digest = hashlib.sha256()
    for name, text in sources:
        digest.update(f"{len(name)}:{name}{len(text)}:{text}".encode())
    return digest.hexdigest()


def content_fingerprint(sources: Sequence[tuple[str, str]]) -> str:
    """`fingerprint` over the files' base names instead of their paths (see Ruleset.content_fingerprint)."""
    return fingerprint([(Path(name).name, text) for name, text in sources])


def build(sources: Sequence[tuple[str, str]]) -> tuple[Ruleset, list[Diagnostic]]:
    """Compile (file name, text) pairs into a Ruleset and every diagnostic (unusable if there are errors)."""
    compiled: list[CompiledFile] = []
    shapes: dict[str, FileShape] = {}
    reports: list[Reporter] = []
    with _gc_paused():
        for name, text in sources:
            report = Reporter(name)
            reports.append(report)
            doc = load_yaml(text, report)
            if doc is None:
                continue
            shapes[name] = check_file(doc, report)
            compiled.append(FileCompiler(name, doc, shapes[name], report).compile())
        check_across_files(compiled, shapes)
    diagnostics = sort_diagnostics((d for r in reports for d in r.diagnostics), [n for n, _ in sources])
    rules = tuple(rule for c in compiled for rule in c.rules)
    ruleset = Ruleset(
        rules=rules, files=tuple(name for name, _ in sources),
        needs_customer=any(r.reads_customer for r in rules if r.enabled), fingerprint=fingerprint(sources),
        content_fingerprint=content_fingerprint(sources),
        warnings=tuple(d for d in diagnostics if not d.is_error),
        tests=tuple(t for c in compiled for t in c.tests), sources=tuple(sources))
    return ruleset, diagnostics


def read_sources(paths: Sequence[str | Path]) -> tuple[list[tuple[str, str]], list[Diagnostic]]:
    """(file name, text) of the rule files these paths name, in load order, and what could not be read."""
    files, problems = find_rule_files(paths)
    sources: list[tuple[str, str]] = []
    for path in files:
        text, problem = _read(path)
        if problem:
            problems.append(problem)
        else:
            sources.append((str(path), text or ""))
    return sources, problems


def load_paths(paths: Sequence[str | Path]) -> tuple[Ruleset, list[Diagnostic]]:
    """The ruleset of these paths and every diagnostic (the ruleset is unusable when there are errors)."""
    sources, problems = read_sources(paths)
    ruleset, diagnostics = build(sources)
    return ruleset, problems + diagnostics


# fingerprint → the rule set (None: it has errors), the last few: the files now and the kept rule sets of
# the events being read
_CURRENT: dict[str, Ruleset | None] = {}
_CURRENT_KEPT = 6
_CURRENT_LOCK = threading.Lock()
_UNKNOWN: Any = object()


def current_ruleset(paths: Sequence[str | Path]) -> tuple[Ruleset | None, str]:
    """The rule set these files hold now (None when they cannot be read or have errors) and its
    content fingerprint, compiled once per content: for readers that ask on every request (a stored
    trace is worded with the rule set that evaluated it)."""
    sources, problems = read_sources(paths)
    return (None if problems else _compiled(sources)), content_fingerprint(sources)


def kept_sources(ruleset: Ruleset) -> list[tuple[str, str]]:
    """What a worker keeps of its rule set to word its traces later: (base name, text) per file, in
    load order — exactly what `content_fingerprint` is computed from."""
    return [(Path(name).name, text) for name, text in ruleset.sources]


def kept_ruleset(files: Sequence[tuple[str, str]]) -> Ruleset | None:
    """The rule set of kept files (`kept_sources`: base name, text) as it was compiled, its
    `content_fingerprint` the same (None when they have errors); compiled once per content, like
    `current_ruleset`. Its rules name their files by these base names; a base name repeated (two
    folders' `rules.yaml`) is told apart as `(2)/rules.yaml`."""
    seen: dict[str, int] = {}
    named: list[tuple[str, str]] = []
    for name, text in files:
        seen[name] = seen.get(name, 0) + 1
        named.append((name if seen[name] == 1 else f"({seen[name]})/{name}", text))
    return _compiled(named)


def _compiled(sources: list[tuple[str, str]]) -> Ruleset | None:
    key = fingerprint(sources)
    found: Ruleset | None = _CURRENT.get(key, _UNKNOWN)
    if found is _UNKNOWN:
        ruleset, diagnostics = build(sources)
        found = None if any(d.is_error for d in diagnostics) else ruleset
        with _CURRENT_LOCK:  # web threads or greenlets may ask at once
            while len(_CURRENT) >= _CURRENT_KEPT:
                del _CURRENT[next(iter(_CURRENT))]
            _CURRENT[key] = found
    return found


def lint_paths(paths: Sequence[str | Path]) -> list[Diagnostic]:
    """Every error and warning in these rule files (never raises for bad content)."""
    return load_paths(paths)[1]


def load_ruleset(paths: Sequence[str | Path]) -> Ruleset:
    """The compiled rules of these files; RulesInvalid (with every diagnostic) if any has an error."""
    ruleset, diagnostics = load_paths(paths)
    if any(d.is_error for d in diagnostics):
        raise RulesInvalid(diagnostics)
    return ruleset


def load_ruleset_text(text: str, filename: str = "<rules>") -> Ruleset:
    """Like load_ruleset, from one file's text."""
    ruleset, diagnostics = build([(filename, text)])
    if any(d.is_error for d in diagnostics):
        raise RulesInvalid(diagnostics)
    return ruleset
