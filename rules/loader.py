"""A YAML loader that remembers where everything was written.

PyYAML composes nodes (which carry marks); we build the values ourselves so that every mapping key
and value, and every list item, keeps its line and column, duplicate keys are rejected instead of
silently overwriting, and scalars that YAML 1.1 reads as something other than what was typed
(`no` → false, `01234` → 668, `12:30` → 750, `2024-01-01` → a date) are recorded as surprises
with their original text. The linter decides, from where they sit, whether a surprise is an error.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from rules.diagnostics import START, Loc, Reporter

MAX_VALUES = 200_000  # aliases can expand a small file into a huge one ("billion laughs")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_CONTAINER_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
_NUMBER_SURPRISE = re.compile(r"^[-+]?0[0-9_]|_|:|^[-+]?0[xXbB]|inf|nan", re.IGNORECASE)

Path = tuple[Any, ...]


class YamlMap(dict):  # type: ignore[type-arg]
    """A mapping from a rule file that knows where each key and value was written."""

    __slots__ = ("key_locs", "loc", "value_locs")

    def __init__(self, loc: Loc) -> None:
        super().__init__()
        self.loc = loc
        self.key_locs: dict[str, Loc] = {}
        self.value_locs: dict[str, Loc] = {}


class YamlList(list):  # type: ignore[type-arg]
    """A list from a rule file that knows where each item was written."""

    __slots__ = ("item_locs", "loc")

    def __init__(self, loc: Loc) -> None:
        super().__init__()
        self.loc = loc
        self.item_locs: list[Loc] = []


@dataclass(frozen=True)
class Surprise:
    """A plain scalar that YAML 1.1 read as a non-text value the author probably did not mean."""

    path: Path
    loc: Loc
    text: str
    value: Any
    explanation: str


@dataclass
class YamlDocument:
    """The values of one rule file, with locations and YAML 1.1 surprises."""

    root: Any
    surprises: list[Surprise] = field(default_factory=list)

    def locate(self, path: Sequence[Any], *, key: bool = False) -> Loc:
        """Where the value at `path` was written (its key when `key`); the nearest parent otherwise."""
        node, loc = self.root, _loc_of(self.root)
        for i, step in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, YamlMap) and step in node:
                loc = node.key_locs[step] if (last and key) else node.value_locs[step]
                node = node[step]
            elif isinstance(node, YamlList) and isinstance(step, int) and 0 <= step < len(node):
                loc, node = node.item_locs[step], node[step]
            else:
                break
        return loc


def _loc_of(value: Any) -> Loc:
    return value.loc if isinstance(value, (YamlMap, YamlList)) else START


def _mark(node: Node) -> Loc:
    return Loc(node.start_mark.line + 1, node.start_mark.column + 1)


def _surprise_explanation(node: ScalarNode, value: Any) -> str | None:
    """Why a plain scalar's value differs from its text, or None when it reads as typed."""
    if node.style or isinstance(value, str) or value is None:  # plain style: None (Python) or "" (libyaml)
        return None
    text = node.value
    if isinstance(value, bool):
        if text.lower() in ("true", "false"):
            return None
        return f"YAML 1.1 reads unquoted {text} as the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        if not _NUMBER_SURPRISE.search(text):
            return None
        return f"YAML 1.1 reads unquoted {text} as the number {value}"
    if isinstance(value, (dt.date, dt.datetime)):
        return f"YAML reads unquoted {text} as a date, not text"
    return None


class _Builder:
    """Turns composed nodes into YamlMap/YamlList/scalars, reporting problems as it goes."""

    def __init__(self, loader: yaml.SafeLoader, report: Reporter) -> None:
        self.loader = loader
        self.report = report
        self.surprises: list[Surprise] = []
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _TooLarge()
        if id(node) in self.active:
            self.report.error(_mark(node), "a recursive alias cannot be used in a rule file")
            return None
        if isinstance(node, (MappingNode, SequenceNode)) and node.tag not in _CONTAINER_TAGS:
            self.report.error(_mark(node), f"unsupported tag {node.tag!r}: rule files hold plain lists and "
                                           "mappings")
            return None
        if isinstance(node, MappingNode):
            self.active.add(id(node))
            try:
                return self._mapping(node, path)
            finally:
                self.active.discard(id(node))
        if isinstance(node, SequenceNode):
            self.active.add(id(node))
            try:
                items = YamlList(_mark(node))
                for index, item in enumerate(node.value):
                    items.append(self.build(item, path + (index,)))
                    items.item_locs.append(_mark(item))
                return items
            finally:
                self.active.discard(id(node))
        assert isinstance(node, ScalarNode)
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: Path) -> YamlMap:
        mapping = YamlMap(_mark(node))
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self.report.error(_mark(key_node), "YAML merge keys (<<) are not supported; write the keys "
                                                   "out")
                continue
            if not isinstance(key_node, ScalarNode):
                self.report.error(_mark(key_node), "a key must be text, not a list or mapping")
                continue
            key = key_node.value  # keys are always the text as written: `on:` stays "on"
            if key in mapping:
                first = mapping.key_locs[key]
                self.report.error(_mark(key_node), f"duplicate key {key!r} (first at line {first.line}); "
                                                   "YAML would silently keep only the last one")
                continue
            mapping[key] = self.build(value_node, path + (key,))
            mapping.key_locs[key] = _mark(key_node)
            mapping.value_locs[key] = _mark(value_node)
        return mapping

    def _scalar(self, node: ScalarNode, path: Path) -> Any:
        try:
            value = self.loader.construct_object(node)
        except yaml.constructor.ConstructorError as exc:
            self.report.error(_mark(node), f"cannot read this value: {exc.problem}")
            return None
        except Exception as exc:  # noqa: BLE001 - PyYAML's converters raise anything (2024-13-45, !!bool maybe)
            self.report.error(_mark(node), f"cannot read {node.value!r}: {exc}; quote it if you mean the "
                                           "text")
            return None
        explanation = _surprise_explanation(node, value)
        if explanation:
            self.surprises.append(Surprise(path, _mark(node), node.value, value, explanation))
        return value


class _TooLarge(Exception):
    """More values than MAX_VALUES: aliases expanding into a huge document."""


def _syntax_error(exc: yaml.YAMLError, text: str, report: Reporter) -> None:
    """Report a YAML error where the parser saw it (and where the construct it was reading began)."""
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow, before any parsing
        before = text[:exc.position]
        loc = Loc(before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1)
        report.error(loc, f"YAML syntax error: {exc.reason} (character #x{exc.character:04x} is not allowed)"
                     if isinstance(exc.character, int) else f"YAML syntax error: {exc.reason}")
        return
    if not isinstance(exc, yaml.MarkedYAMLError):
        report.error(START, f"YAML syntax error: {exc}")
        return
    mark = exc.problem_mark or exc.context_mark
    loc = Loc(mark.line + 1, mark.column + 1) if mark else START
    if "another document" in (exc.problem or ""):
        report.error(loc, "a rule file holds one YAML document; found a second one (---)")
        return
    started = exc.context_mark if exc.context_mark and exc.context_mark != mark else None
    where = f" that starts at {started.line + 1}:{started.column + 1}" if started else ""
    context = f" ({exc.context}{where})" if exc.context else ""
    report.error(loc, f"YAML syntax error: {exc.problem or 'invalid YAML'}{context}")


# libyaml parses ~10x faster; its error messages differ, so errors are re-read with the Python parser
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str) -> tuple[Any, Node | None]:
    """(loader, root node) with the fastest loader; syntax errors are raised by the Python one."""
    try:
        loader = _FAST_LOADER(text)
    except yaml.YAMLError:
        loader = yaml.SafeLoader(text)  # raises the same error, worded as the tests and docs expect
    try:
        return loader, loader.get_single_node()
    except yaml.YAMLError:
        loader.dispose()
        if _FAST_LOADER is yaml.SafeLoader:
            raise
    loader = yaml.SafeLoader(text)
    return loader, loader.get_single_node()


def load_yaml(text: str, report: Reporter) -> YamlDocument | None:
    """Parse one rule file; problems go to `report`, and None comes back when nothing is usable."""
    loader: Any = None
    try:
        loader, node = _compose(text)
        if node is None:
            report.error(START, "the file is empty; expected a mapping with `version: 1`")
            return None
        builder = _Builder(loader, report)
        root = builder.build(node, ())
        return YamlDocument(root, builder.surprises)
    except yaml.YAMLError as exc:
        _syntax_error(exc, text, report)
        return None
    except _TooLarge:
        report.error(START, f"the file expands to more than {MAX_VALUES} values (aliases?)")
        return None
    except RecursionError:
        report.error(START, "the file nests too deeply")
        return None
    finally:
        if loader is not None:
            loader.dispose()


def to_plain(value: Any) -> Any:
    """Plain dicts and lists (no locations), for values handed to the engine as data."""
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    return value
