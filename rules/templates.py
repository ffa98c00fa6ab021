"""Sandboxed Jinja2 templates for rule values, compiled once at load time.

- Only rule-file text is a template; payload values are data and are never rendered.
- Roots: `event`, `data`, `customer`, `vars`, `now`. Mapping keys win over attributes
  (`data.items` is the payload key), and a JSON null reads as missing.
- A value that is exactly one `{{ expression }}` keeps its type (a number stays a number).
- Reading a missing field raises `MissingField` unless `default()` is used, so the engine can skip
  the action and say why.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from jinja2 import ChainableUndefined, StrictUndefined, Undefined, nodes
from jinja2 import meta as jinja_meta
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from rules.diagnostics import did_you_mean, one_of
from rules.errors import MissingField, RenderError, RenderFailed, TemplateInvalid
from rules.values import MISSING, as_number, resolve, shown

ROOTS = ("event", "data", "customer", "vars", "now")
PATH_ROOTS = frozenset({"event", "data", "customer", "vars"})
BUILTIN_FILTERS = ("lower", "upper", "trim", "title", "join", "replace", "truncate")
MAX_TEXT = 10_000     # characters a template may produce
MAX_SEQUENCE = 10_000  # items/characters `*` may build
_SINGLE = re.compile(r"^\{\{-?(.*?)-?\}\}$", re.DOTALL)
_NO_DEFAULT: Any = object()


class _Missing(ChainableUndefined, StrictUndefined):
    """Undefined that chains (`data.a.b | default('x')` works) but fails as soon as it is used."""

    __slots__ = ()


def _need(value: Any) -> None:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()


def _default(value: Any, fallback: Any = "", boolean: bool = False) -> Any:
    """`default`: replaces a missing, null or blank value (and any falsy one when `boolean`)."""
    if isinstance(value, Undefined) or value is None or (isinstance(value, str) and not value.strip()):
        return fallback
    return fallback if boolean and not value else value


def _convert(value: Any, default: Any, kind: type) -> Any:
    _need(value)
    number = Decimal(int(value)) if isinstance(value, bool) else as_number(value)
    if number is None:
        if default is not _NO_DEFAULT:
            return default
        raise RenderFailed(f"cannot convert {shown(value)} to {kind.__name__}")
    return kind(number)


def _int(value: Any, default: Any = _NO_DEFAULT) -> Any:
    """`int`: a number or numeric text as an integer; fails (skipping the action) without a default."""
    return _convert(value, default, int)


def _float(value: Any, default: Any = _NO_DEFAULT) -> Any:
    """`float`: like `int`, for decimals."""
    return _convert(value, default, float)


def _email_domain(value: Any) -> str:
    """`email_domain`: the lower-cased domain of an email address."""
    _need(value)
    _, at, domain = str(value).strip().rpartition("@")
    if not at or not domain.strip():
        raise RenderFailed(f"{shown(value)} is not an email address")
    return domain.strip().lower()


def _parse_date(value: Any) -> dt.date:
    if isinstance(value, (dt.date, dt.datetime)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            pass
    raise RenderFailed(f"{shown(value)} is not a date")


def _date(value: Any, fmt: str = "%Y-%m-%d") -> str:
    """`date(fmt)`: formats a date, an ISO-8601 text or epoch seconds with strftime."""
    _need(value)
    return _parse_date(value).strftime(fmt)


def _finalize(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


class RuleEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox: payload keys before attributes, null as missing, and bounded `*` and `**`."""

    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Mappings give only their keys (`data.items` is the payload's `items`)."""
        if isinstance(obj, Mapping):
            return self._key(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """`data['items']` also means the key, never the dict method."""
        if isinstance(obj, Mapping):
            return self._key(obj, argument)
        return super().getitem(obj, argument)

    def _key(self, obj: Mapping[Any, Any], key: Any) -> Any:
        try:
            value = obj.get(key)
        except TypeError:
            value = None
        return self.undefined(obj=obj, name=key) if value is None else value

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Refuse `'x' * 10**9` and `9 ** 9 ** 9` instead of exhausting memory."""
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, (str, list, tuple)) and isinstance(times, int)
                if sized and len(seq) * times > MAX_SEQUENCE:
                    raise SecurityError(f"the result of * would exceed {MAX_SEQUENCE} items")
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 100:
            raise SecurityError("exponents above 100 are not allowed")
        return super().call_binop(context, operator, left, right)


def _make_environment() -> RuleEnvironment:
    env = RuleEnvironment(undefined=_Missing, autoescape=False, finalize=_finalize)
    builtins = env.filters
    env.filters = {name: builtins[name] for name in BUILTIN_FILTERS}
    env.filters.update(default=_default, int=_int, float=_float, email_domain=_email_domain, date=_date)
    env.globals.clear()
    return env


ENV = _make_environment()
FILTERS = tuple(sorted(ENV.filters))


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
        try:
            value = self._code(**scope) if self.kind == "expression" else self._code.render(scope)
        except UndefinedError as exc:
            raise MissingField(self._missing(scope, str(exc))) from None
        except RenderError:
            raise
        except SecurityError as exc:
            raise RenderFailed(f"refused by the sandbox: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - templates are rule code running on arbitrary payloads
            raise RenderFailed(f"{type(exc).__name__}: {exc}") from None
        return _to_data(value, self, scope)

    def _missing(self, scope: Mapping[str, Any], fallback: str = "") -> str:
        for chain in self._reads:
            for end in range(1, len(chain) + 1):
                if resolve(scope, chain[:end]) is MISSING:
                    return f"{'.'.join(chain[:end])} is missing"
        return fallback or "a field it reads is missing"


def _to_data(value: Any, template: Template, scope: Mapping[str, Any]) -> Any:
    """JSON data from a template's result; text is capped, Undefined means missing."""
    if isinstance(value, Undefined):
        raise MissingField(template._missing(scope))
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise RenderFailed(f"the result is longer than {MAX_TEXT} characters")
        return str(value)
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
            template._code = ENV.from_string(ast)
    except TemplateError as exc:
        raise TemplateInvalid(f"template error: {exc}", getattr(exc, "lineno", 1) or 1) from None
    return template


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
