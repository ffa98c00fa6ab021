"""Sandboxed Jinja2 templates for rule values, compiled once at load time.

- Only rule-file text is a template; payload values are data and are never rendered.
- Roots: `event`, `data`, `customer`, `vars`, `now`. Mapping keys win over attributes
  (`data.items` is the payload key), and a JSON null reads as missing.
- A value that is exactly one `{{ expression }}` keeps its type (a number stays a number).
- Reading a missing field raises `MissingField` unless `default()` is used, so the engine can skip
  the action and say why.
- Payload values are hostile: every render is bounded in time and size. Conversions take plain,
  reasonably sized numbers only; filters, methods and operators refuse results past MAX_BUILD items
  before building them; loops, calls and operators spend a step budget (MAX_STEPS) and a deadline
  (MAX_SECONDS); text output stops at MAX_TEXT. Macros, call blocks and recursive loops are refused.
  That sandbox and its limits are rules.template_env; this module compiles and renders with it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from jinja2 import Undefined, nodes
from jinja2 import meta as jinja_meta
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError

from rules.diagnostics import did_you_mean, one_of
from rules.errors import MissingField, RenderError, RenderFailed, TemplateInvalid
from rules.template_env import (ENV, FILTERS, MAX_BUILD, MAX_EXPONENT, MAX_INT_BITS, MAX_SECONDS, MAX_STEPS,
                                 MAX_TEXT, PATH_ROOTS, ROOTS, end_budget, start_budget)
from rules.values import MISSING, resolve

__all__ = ["FILTERS", "MAX_BUILD", "MAX_EXPONENT", "MAX_INT_BITS", "MAX_SECONDS", "MAX_STEPS", "MAX_TEXT", "ROOTS",
           "Renderable", "Template", "compile_template", "compile_value"]

_SINGLE = re.compile(r"^\{\{-?(.*?)-?\}\}$", re.DOTALL)


class Renderable(Protocol):
    """A compiled rule value: `render(scope)` gives JSON data or raises RenderError."""

    roots: frozenset[str]
    var_names: frozenset[str]

    def render(self, scope: Mapping[str, Any]) -> Any: ...


def _chain(node: nodes.Node) -> tuple[str, ...] | None:
    """`data.a['b'].0` → ("data", "a", "b", "0"); None for anything that is not a plain path."""
    steps: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            steps.append(node.attr)
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
                and isinstance(node.arg.value, (str, int)) and not isinstance(node.arg.value, bool):
            steps.append(str(node.arg.value))
        elif isinstance(node, nodes.Name):
            steps.append(node.name)
            return tuple(reversed(steps))
        else:
            return None
        node = node.node


def _reads(ast: nodes.Template) -> list[tuple[str, ...]]:
    """The field paths a template reads outside `default()`, in source order (to name what is missing)."""
    guarded = {id(f.node) for f in ast.find_all(nodes.Filter) if f.name == "default" and f.node is not None}
    inner = {id(n.node) for n in ast.find_all((nodes.Getattr, nodes.Getitem))}  # type: ignore[attr-defined]
    found = []
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if id(node) in inner or id(node) in guarded:
            continue
        chain = _chain(node)
        if chain:
            found.append(chain)
    return found


def _problems(ast: nodes.Template, roots: tuple[str, ...]) -> Iterator[TemplateInvalid]:
    """Unknown filters, unknown roots and private attributes, each with its template line."""
    for f in ast.find_all(nodes.Filter):
        if f.name not in ENV.filters:
            yield TemplateInvalid(f"unknown filter {f.name!r}{did_you_mean(f.name, FILTERS)}; "
                                  f"{one_of(FILTERS)}", f.lineno)
    for name in sorted(jinja_meta.find_undeclared_variables(ast)):
        if name not in roots:
            where = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == name), 1)
            hint = did_you_mean(name, roots) or did_you_mean(name, ROOTS)
            if name in ROOTS:
                yield TemplateInvalid(f"{name!r} cannot be used here; {one_of(roots)}", where)
            else:
                yield TemplateInvalid(f"unknown template root {name!r}{hint}; {one_of(roots)}", where)
    for g in ast.find_all(nodes.Getattr):
        if g.attr.startswith("_"):
            yield TemplateInvalid(f"private attribute {g.attr!r} is not accessible in templates", g.lineno)
    for node in ast.find_all((nodes.Macro, nodes.CallBlock, nodes.For)):  # type: ignore[arg-type]
        if isinstance(node, nodes.Macro):
            yield TemplateInvalid("macros are not available in rule templates", node.lineno)
        elif isinstance(node, nodes.CallBlock):
            yield TemplateInvalid("call blocks are not available in rule templates", node.lineno)
        elif node.recursive:  # type: ignore[attr-defined]
            yield TemplateInvalid("recursive loops are not available in rule templates", node.lineno)


class Template:
    """One compiled template (or a constant): `render(scope)` returns its value."""

    __slots__ = ("_code", "_path", "_reads", "_value", "kind", "roots", "source", "var_names")

    def __init__(self, source: Any, kind: str = "constant") -> None:
        self.source = source
        self.kind = kind  # constant | path | expression | text
        self.roots: frozenset[str] = frozenset()
        self.var_names: frozenset[str] = frozenset()
        self._value = source
        self._path: tuple[str, ...] = ()
        self._code: Any = None
        self._reads: list[tuple[str, ...]] = []

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def render(self, scope: Mapping[str, Any]) -> Any:
        """The value for this scope; raises MissingField or RenderFailed."""
        if self.kind == "constant":
            return self._value
        if self.kind == "path":
            value = resolve(scope, self._path)
            if value is MISSING:
                raise MissingField(self._missing(scope))
            return _to_data(value, self, scope)
        token = start_budget()
        try:
            value = self._code(**scope) if self.kind == "expression" else _render_text(self._code, scope)
        except UndefinedError as exc:
            raise MissingField(self._missing(scope, str(exc))) from None
        except RenderError:
            raise
        except SecurityError as exc:
            raise RenderFailed(f"refused by the sandbox: {exc}") from None
        except RecursionError:
            raise RenderFailed("RecursionError: the template nests too deeply") from None
        except Exception as exc:  # noqa: BLE001 - templates are rule code running on arbitrary payloads
            raise RenderFailed(f"{type(exc).__name__}: {str(exc)[:300]}") from None
        finally:
            end_budget(token)
        return _to_data(value, self, scope)

    def _missing(self, scope: Mapping[str, Any], fallback: str = "") -> str:
        for chain in self._reads:
            for end in range(1, len(chain) + 1):
                if resolve(scope, chain[:end]) is MISSING:
                    return f"{'.'.join(chain[:end])} is missing"
        return fallback or "a field it reads is missing"


def _render_text(code: Any, scope: Mapping[str, Any]) -> str:
    """Render chunk by chunk and stop as soon as the text passes MAX_TEXT (never build it all)."""
    parts: list[str] = []
    size = 0
    for chunk in code.generate(scope):
        size += len(chunk)
        if size > MAX_TEXT:
            raise RenderFailed(f"the result is longer than {MAX_TEXT} characters")
        parts.append(chunk)
    return "".join(parts)


def _to_data(value: Any, template: Template, scope: Mapping[str, Any]) -> Any:
    """JSON data from a template's result; text is capped, Undefined means missing."""
    if isinstance(value, Undefined):
        raise MissingField(template._missing(scope))
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise RenderFailed(f"the result is longer than {MAX_TEXT} characters")
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise RenderFailed(f"the result is a number of more than {MAX_INT_BITS} bits")
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RenderFailed(f"{value} is not a finite number")
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _to_data(v, template, scope) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_data(v, template, scope) for v in value]
    raise RenderFailed(f"the result is a {type(value).__name__}, not data")


@lru_cache(maxsize=4096)  # rule sets repeat templates ("{{ data.email }}"); a Template never changes
def compile_template(source: str, roots: tuple[str, ...] = ROOTS) -> Template:
    """Compile rule-file text; raises TemplateInvalid with the line inside the template."""
    if "{{" not in source and "{%" not in source and "{#" not in source:
        return Template(source)
    try:
        ast = ENV.parse(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", 1) or 1
        raise TemplateInvalid(f"template syntax error: {exc.message}", line) from None
    for problem in _problems(ast, roots):
        raise problem
    template = Template(source, "text")
    template.roots = frozenset(jinja_meta.find_undeclared_variables(ast))
    template._reads = _reads(ast)
    template.var_names = frozenset(c[1] for c in _all_chains(ast) if len(c) > 1 and c[0] == "vars")
    stripped = source.strip()
    body = (ENV.parse(stripped) if stripped != source else ast).body
    single = len(body) == 1 and isinstance(body[0], nodes.Output) and len(body[0].nodes) == 1 \
        and not isinstance(body[0].nodes[0], nodes.TemplateData) and _SINGLE.match(stripped)
    try:
        if single:
            expression = body[0].nodes[0]  # type: ignore[attr-defined]
            path = _chain(expression)
            if path and path[0] in PATH_ROOTS:
                template.kind, template._path = "path", path
            else:
                template.kind = "expression"
                template._code = ENV.compile_expression(_SINGLE.match(stripped).group(1),  # type: ignore[union-attr]
                                                        undefined_to_none=False)
        else:
            for loop in ast.find_all(nodes.For):  # every iteration spends a step of the render's budget
                loop.iter = nodes.Filter(loop.iter, "_loop_budget", [], [], None, None, lineno=loop.lineno)
            template._code = ENV.from_string(ast)
    except TemplateError as exc:
        raise TemplateInvalid(f"template error: {exc}", getattr(exc, "lineno", 1) or 1) from None
    from rules.template_fast import accelerate  # simple templates as closures (it imports this module)
    return accelerate(template)


def _all_chains(ast: nodes.Template) -> list[tuple[str, ...]]:
    return [c for c in (_chain(n) for n in ast.find_all((nodes.Getattr, nodes.Getitem))) if c]


class _Composite:
    """A list or mapping value whose text items are templates."""

    __slots__ = ("is_map", "items", "roots", "var_names")

    def __init__(self, items: list[tuple[Any, Renderable]], is_map: bool) -> None:
        self.items = items
        self.is_map = is_map
        self.roots = frozenset().union(*(r.roots for _, r in items))
        self.var_names = frozenset().union(*(r.var_names for _, r in items))

    def render(self, scope: Mapping[str, Any]) -> Any:
        """Each item rendered; the first failure fails the whole value."""
        if self.is_map:
            return {key: item.render(scope) for key, item in self.items}
        return [item.render(scope) for _, item in self.items]


def compile_value(value: Any, roots: tuple[str, ...] = ROOTS) -> Renderable:
    """Compile a rule value of any shape: text is a template, lists and mappings are walked."""
    if isinstance(value, str):
        return compile_template(value, roots)
    if isinstance(value, list):
        return _Composite([(i, compile_value(v, roots)) for i, v in enumerate(value)], is_map=False)
    if isinstance(value, dict):
        return _Composite([(str(k), compile_value(v, roots)) for k, v in value.items()], is_map=True)
    return Template(value)
