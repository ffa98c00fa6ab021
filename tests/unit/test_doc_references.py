"""Every file the docs and the code's docstrings and comments point at exists in the project (paths
that only exist at run time, or are examples of the user's own files, are listed below)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# a relative path with a folder and a file extension: `docs/sandbox.md`, `../spec/x.md`, `rules/examples/a.yaml`
PATH_REF = re.compile(r"(?<![\w/.$:-])((?:\.\./|\./)?(?:[\w.-]+/)+[\w.-]+\.(?:md|py|yaml|yml|json|toml|txt|cfg))\b")
BARE_MD = re.compile(r"(?<![\w/.-])([\w-]+\.md)\b")  # `BENCHMARKS.md`, `DESIGN.md`: somewhere in the project
NOT_PROJECT_FILES = (
    ".dev/",            # written by `cstar-bridge dev` at run time
    "bench/results/",   # written by the benchmarks (ignored by git)
    "path/to/",         # placeholders in messages
    "email/utils.py",   # the standard library
)
SCANNED = [REPO / "README.md", REPO / "BENCHMARKS.md", *sorted((REPO / "docs").glob("*.md")),
           *[p for d in ("bridge", "workers", "rules", "sandbox", "bench") for p in sorted((REPO / d).rglob("*.py"))]]


def references(path: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if "://" in line and not path.suffix == ".md":
            line = re.sub(r"\w+://\S+", "", line)
        for m in PATH_REF.finditer(line):
            ref = m.group(1)
            if "*" in ref or "<" in ref or ref.startswith(NOT_PROJECT_FILES):
                continue
            found.append((number, ref))
        found += [(number, m.group(1)) for m in BARE_MD.finditer(line)]
    return found


def test_every_referenced_file_exists():
    broken = []
    markdown_names = {p.name for p in REPO.rglob("*.md") if ".venv" not in p.parts}
    for path in SCANNED:
        for number, ref in references(path):
            if "/" not in ref and ref in markdown_names:
                continue
            if not any((base / ref).exists() for base in (path.parent, REPO, REPO / "docs")):
                broken.append(f"{path.relative_to(REPO)}:{number}: {ref}")
    assert not broken, "references to files the project does not have:\n" + "\n".join(broken)


def test_the_docs_name_the_spec_the_sandbox_follows():
    assert (REPO / "spec" / "cstar-customers-api.md").is_file()
    assert "(../spec/cstar-customers-api.md)" in (REPO / "docs" / "sandbox.md").read_text()
