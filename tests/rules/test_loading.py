"""Loading rule files: discovery and order, problems across files, errors as values, the public shapes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rules import Diagnostic, RulesInvalid, lint_paths, load_ruleset, load_ruleset_text
from rules.diagnostics import Reporter
from rules.loader import load_yaml

RULE = """\
version: 1
rules:
  - id: {id}
    actions: [{{add_tags: [{id}]}}]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_files_load_in_name_order_wherever_they_are(tmp_path: Path) -> None:
    write(tmp_path, "b/20-second.yaml", RULE.format(id="second"))
    write(tmp_path, "a/30-third.yml", RULE.format(id="third"))
    write(tmp_path, "c/10-first.yaml", RULE.format(id="first"))
    write(tmp_path, "c/notes.txt", "not a rule file")
    ruleset = load_ruleset([tmp_path / "b", tmp_path / "a", tmp_path / "c"])
    assert [r.id for r in ruleset.rules] == ["first", "second", "third"]
    assert [Path(f).name for f in ruleset.files] == ["10-first.yaml", "20-second.yaml", "30-third.yml"]


def test_globs_and_repeated_paths(tmp_path: Path) -> None:
    first = write(tmp_path, "10-first.yaml", RULE.format(id="first"))
    write(tmp_path, "20-second.yaml", RULE.format(id="second"))
    ruleset = load_ruleset([str(tmp_path / "*.yaml"), first])
    assert [r.id for r in ruleset.rules] == ["first", "second"]


def test_rule_ids_are_unique_across_files(tmp_path: Path) -> None:
    write(tmp_path, "10-a.yaml", RULE.format(id="lead"))
    second = write(tmp_path, "20-b.yaml", "version: 1\nrules:\n  - id: other\n    actions: [{add_tags: [x]}]\n"
                                         "  - id: lead\n    actions: [{add_tags: [y]}]\n")
    [problem] = lint_paths([tmp_path])
    assert str(problem) == (f"{second}:5:9: error: duplicate rule id 'lead' (first defined at "
                            f"{tmp_path / '10-a.yaml'}:3) [lead]")


MISSING = [
    ("a missing file", "nope.yaml", "nope.yaml:1:1: error: no such file or directory"),
    ("a glob matching nothing", "*.yml", "*.yml:1:1: error: no rule files match this pattern"),
]


@pytest.mark.parametrize(("name", "expected"), [m[1:] for m in MISSING], ids=[m[0] for m in MISSING])
def test_missing_files_are_diagnostics(tmp_path: Path, name: str, expected: str) -> None:
    [problem] = lint_paths([tmp_path / name])
    assert str(problem) == f"{tmp_path}/{expected}"


def test_unreadable_content_is_a_diagnostic_not_an_exception(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00version: 1")
    empty = write(tmp_path, "empty.yaml", "")
    listing = write(tmp_path, "list.yaml", "- a\n- b\n")
    assert [str(d) for d in lint_paths([binary, empty, listing])] == [
        f"{binary}:1:1: error: cannot read the file: not UTF-8 text",
        f"{empty}:1:1: error: the file is empty; expected a mapping with `version: 1`",
        f"{listing}:1:1: error: a rule file is a mapping with version, lists, conditions, rules and tests; "
        f"got a list",
    ]


def test_load_ruleset_raises_rules_invalid_with_every_diagnostic() -> None:
    with pytest.raises(RulesInvalid) as caught:
        load_ruleset_text("version: 1\nrules:\n  - id: a\n  - id: b\n    actions: [{add_tag: [x]}]\n", "f.yaml")
    assert str(caught.value) == (
        "f.yaml:3:5: error: missing required key 'actions' [a]\n"
        "f.yaml:5:16: error: unknown action 'add_tag' (did you mean 'add_tags'?); expected one of: add_tags, "
        "remove_tags, set_metadata, remove_metadata, add_note, set_status, set_sentiment, set_name [b]")
    assert [d.rule_id for d in caught.value.errors] == ["a", "b"]


def test_a_ruleset_carries_its_warnings_and_a_fingerprint_of_the_sources() -> None:
    text = "version: 1\nlists:\n  unused: [a]\nrules:\n  - id: a\n    actions: [{add_tags: [x]}]\n"
    ruleset = load_ruleset_text(text, "f.yaml")
    assert [str(w) for w in ruleset.warnings] == ["f.yaml:3:3: warning: list 'unused' is never used"]
    assert ruleset.fingerprint == load_ruleset_text(text, "f.yaml").fingerprint
    assert ruleset.fingerprint != load_ruleset_text(text + "\n", "f.yaml").fingerprint
    assert len(ruleset.fingerprint) == 64


def test_rules_without_customer_use_the_default_customer_and_keep_their_order() -> None:
    ruleset = load_ruleset_text(textwrap.dedent("""\
        version: 1
        rules:
          - id: b
            description: second line
            stop: true
            actions: [{add_tags: [x]}]
          - id: a
            enabled: false
            customer: {email: "{{ data.work_email }}", create: false}
            actions: [{add_tags: [x]}]
        """))
    b, a = ruleset.rules
    assert (b.id, b.description, b.enabled, b.stop, b.create, b.line) == ("b", "second line", True, True, True, 3)
    assert (b.email.source, b.name.source) == ("{{ data.email }}", "{{ data.name }}")
    assert (a.enabled, a.create, a.email.source) == (False, False, "{{ data.work_email }}")
    assert ruleset.rule("a") is a


def test_diagnostic_format() -> None:
    assert str(Diagnostic("f.yaml", 3, 7, "error", "bad", "rule-1")) == "f.yaml:3:7: error: bad [rule-1]"
    assert str(Diagnostic("f.yaml", 1, 1, "warning", "meh")) == "f.yaml:1:1: warning: meh"
    assert Diagnostic("f", 1, 2, "error", "m").to_dict() == {"file": "f", "line": 1, "col": 2, "severity": "error",
                                                            "message": "m", "rule_id": None}


def test_the_loader_keeps_locations_and_records_yaml_1_1_surprises() -> None:
    report = Reporter("f.yaml")
    doc = load_yaml("a:\n  b: [x, 01234]\n  'on': off\n", report)
    assert doc is not None and report.diagnostics == []
    assert doc.root == {"a": {"b": ["x", 668], "on": False}}
    assert doc.locate(("a", "b", 1)) == (2, 10)
    assert doc.locate(("a", "on"), key=True) == (3, 3)
    assert doc.locate(("a", "missing")) == (2, 3)
    assert [(s.path, s.loc, s.text) for s in doc.surprises] == [(("a", "b", 1), (2, 10), "01234"),
                                                                (("a", "on"), (3, 9), "off")]


def test_aliases_work_but_cannot_explode() -> None:
    report = Reporter("f.yaml")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(6))
    assert load_yaml(bomb, report) is None
    assert [str(d) for d in report.diagnostics] == [
        "f.yaml:1:1: error: the file expands to more than 200000 values (aliases?)"]
    ok = Reporter("f.yaml")
    doc = load_yaml("base: &b {x: 1}\ncopy: *b\n", ok)
    assert doc is not None and doc.root == {"base": {"x": 1}, "copy": {"x": 1}}


def test_merge_keys_and_python_tags_are_refused() -> None:
    report = Reporter("f.yaml")
    load_yaml("base: &b {x: 1}\ncopy:\n  <<: *b\nevil: !!python/object/apply:os.system [ls]\n", report)
    assert [str(d) for d in report.diagnostics] == [
        "f.yaml:3:3: error: YAML merge keys (<<) are not supported; write the keys out",
        "f.yaml:4:7: error: unsupported tag 'tag:yaml.org,2002:python/object/apply:os.system': rule files hold "
        "plain lists and mappings",
    ]


def test_a_second_document_is_an_error() -> None:
    report = Reporter("f.yaml")
    assert load_yaml("version: 1\n---\nversion: 1\n", report) is None
    assert [str(d) for d in report.diagnostics] == [
        "f.yaml:2:1: error: a rule file holds one YAML document; found a second one (---)"]


ODD_SCALARS = [
    ("an impossible date", "a: 2024-13-45", "2:4: error: cannot read '2024-13-45': month must be in 1..12; "
                                            "quote it if you mean the text"),
    ("an explicit tag that does not fit", "a: !!bool maybe", "2:4: error: cannot read 'maybe': 'maybe'; "
                                                             "quote it if you mean the text"),
    ("a forbidden character", "a: \x07", "2:4: error: YAML syntax error: special characters are not allowed "
                                         "(character #x0007 is not allowed)"),
    ("deep nesting", "a: " + "[" * 1200 + "]" * 1200, "1:1: error: the file nests too deeply"),
]


@pytest.mark.parametrize(("line", "expected"), [o[1:] for o in ODD_SCALARS], ids=[o[0] for o in ODD_SCALARS])
def test_odd_yaml_is_a_diagnostic_not_an_exception(line: str, expected: str) -> None:
    report = Reporter("f.yaml")
    load_yaml("version: 1\n" + line + "\n", report)
    assert [str(d) for d in report.diagnostics] == [f"f.yaml:{expected}"]
