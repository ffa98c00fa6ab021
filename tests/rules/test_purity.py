"""rules/ is pure: it imports only the standard library, yaml, marshmallow, jinja2 and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import rules

ALLOWED = {"yaml", "marshmallow", "jinja2", "rules", "__future__"}
RULES_DIR = Path(rules.__file__).parent


def imported_roots(path: Path) -> set[str]:
    """Top-level package names imported by one module (relative imports stay inside rules/)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_rules_imports_nothing_impure() -> None:
    files = sorted(RULES_DIR.rglob("*.py"))
    assert len(files) > 10
    impure = {str(path.relative_to(RULES_DIR)): sorted(root for root in imported_roots(path)
                                                       if root not in ALLOWED and root not in sys.stdlib_module_names)
              for path in files}
    assert {name: roots for name, roots in impure.items() if roots} == {}


def test_the_scan_would_catch_an_impure_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import os\nfrom flask import Flask\nimport redis.client\nfrom . import sibling\n")
    assert imported_roots(module) == {"os", "flask", "redis"}
