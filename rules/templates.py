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
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sized
from contextvars import ContextVar
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from string import Formatter

from jinja2 import ChainableUndefined, StrictUndefined, Undefined, nodes, pass_eval_context
from jinja2 import meta as jinja_meta
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.filters import do_replace, sync_do_join
from jinja2.sandbox import ImmutableSandboxedEnvironment

from rules.diagnostics import did_you_mean, one_of
from rules.errors import MissingField, RenderError, RenderFailed, TemplateInvalid
from rules.values import MISSING, as_number, resolve, shown

ROOTS = ("event", "data", "customer", "vars", "now")
PATH_ROOTS = frozenset({"event", "data", "customer", "vars"})
BUILTIN_FILTERS = ("lower", "upper", "trim", "title", "join", "replace", "truncate")
MAX_TEXT = 10_000     # characters a template may produce
MAX_SEQUENCE = 10_000  # items/characters `*` may build
MAX_BUILD = 1_000_000  # characters/items any filter, method or operator may build along the way
MAX_INT_BITS = 4_096   # size of an integer `*` and `**` may build, and a result may be (~1233 digits)
MAX_EXPONENT = 100     # `int`/`float` take numbers below 10**100 (and above 10**-100, or 0)
MAX_STEPS = 100_000    # loop iterations, calls and operators one render may take
MAX_SECONDS = 1.0      # wall-clock time one render may take (a backstop for the step budget)
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
    if number is not None and number and abs(number.adjusted()) >= MAX_EXPONENT:
        number = None  # "1e99999999" is numeric text, but int() of it never finishes
    if number is None:
        if default is not _NO_DEFAULT:
            return default
        raise RenderFailed(f"cannot convert {shown(value)} to {kind.__name__}")
    return kind(number)


def _int(value: Any, default: Any = _NO_DEFAULT) -> Any:
    """`int`: a number or numeric text (plain, below 10**100) as an integer; fails (skipping the action)
    without a default."""
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


def _bounded(value: Any, what: str) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_BUILD:
        raise SecurityError(f"{what} would build more than {MAX_BUILD} items")
    return value


@pass_eval_context
def _replace(eval_ctx: Any, value: Any, old: Any, new: Any, count: Any = None) -> str:
    """`replace`: Jinja's, refused before it builds more than MAX_BUILD characters."""
    _need(value)
    text, old_text, new_text = str(value), str(old), str(new)
    times = text.count(old_text) if old_text else len(text) + 1
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        times = min(times, count)
    if len(text) + times * (len(new_text) - len(old_text)) > MAX_BUILD:
        raise SecurityError(f"replace would build more than {MAX_BUILD} characters")
    return do_replace(eval_ctx, text, old_text, new_text, count)


@pass_eval_context
def _join(eval_ctx: Any, value: Any, d: Any = "", attribute: Any = None) -> str:
    """`join`: Jinja's, refused before it builds more than MAX_BUILD characters."""
    _need(value)
    items = list(value) if isinstance(value, Iterable) else value
    if isinstance(items, list) and (len(items) > MAX_BUILD or len(str(d)) * max(len(items) - 1, 0) > MAX_BUILD):
        raise SecurityError(f"join would build more than {MAX_BUILD} characters")
    return _bounded(sync_do_join(eval_ctx, items, d, attribute), "join")


def _finalize(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


class _Budget:
    """What one render may still spend: steps, and time until its deadline."""

    __slots__ = ("deadline", "steps")

    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.deadline = time.monotonic() + MAX_SECONDS


_BUDGET: ContextVar[_Budget | None] = ContextVar("rule_template_budget", default=None)


def _spend() -> None:
    budget = _BUDGET.get()
    if budget is None:
        return
    budget.steps -= 1
    if budget.steps < 0:
        raise SecurityError(f"the template took more than {MAX_STEPS} steps")
    if time.monotonic() > budget.deadline:
        raise SecurityError(f"the template ran longer than {MAX_SECONDS:g} s")


def _loop_budget(value: Any) -> Any:
    """Wraps the iterable of every `{% for %}`: each iteration spends a step."""
    if isinstance(value, Undefined):
        return value
    return _counted(value)


def _counted(value: Any) -> Iterator[Any]:
    for item in value:
        _spend()
        yield item


# Methods templates may call on payload values and `now`; sizes of what they build are checked.
_SAFE_METHODS: dict[type, frozenset[str]] = {
    str: frozenset({"capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
                    "isascii", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper",
                    "join", "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind",
                    "rindex", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip",
                    "swapcase", "title", "upper", "center", "ljust", "rjust", "zfill"}),
    int: frozenset({"bit_length", "conjugate", "is_integer"}),
    float: frozenset({"conjugate", "is_integer", "hex"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    dt.datetime: frozenset({"date", "time", "isoformat", "isocalendar", "isoweekday", "weekday", "timestamp",
                            "strftime", "toordinal", "utcoffset", "tzname", "ctime", "replace", "astimezone"}),
    dt.date: frozenset({"isoformat", "isocalendar", "isoweekday", "weekday", "strftime", "toordinal", "ctime",
                        "replace"}),
}
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
_FORMAT_SPEC_NUMBER = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_method(method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse methods outside _SAFE_METHODS, and calls that would build more than MAX_BUILD items."""
    owner: Any = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    kind = next((k for k in _SAFE_METHODS if type(owner) is k), None)
    if kind is None:
        if isinstance(owner, (str, int, float, list, tuple, dict, dt.date)):
            raise SecurityError(f"{type(owner).__name__}.{name}() is not available in templates")
        return
    if name not in _SAFE_METHODS[kind]:
        raise SecurityError(f"{kind.__name__}.{name}() is not available in templates")
    values = [*args, *kwargs.values()]
    if name in _WIDTH_METHODS and any(isinstance(v, int) and v > MAX_BUILD for v in values):
        raise SecurityError(f"str.{name}() would build more than {MAX_BUILD} characters")
    if name == "replace" and kind is str and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        times = owner.count(old) if old else len(owner) + 1
        if len(owner) + times * (len(new) - len(old)) > MAX_BUILD:
            raise SecurityError(f"str.replace() would build more than {MAX_BUILD} characters")
    if name == "join" and kind is str and args:
        items = args[0]
        if isinstance(items, Sized) and len(owner) * max(len(items) - 1, 0) > MAX_BUILD:
            raise SecurityError(f"str.join() would build more than {MAX_BUILD} characters")


def _check_format(template: str, is_format: bool) -> None:
    """`'{:>999999999}'.format(x)` and `'%0999999999d' % x` are refused: widths and precisions above
    MAX_TEXT, and widths taken from the arguments."""
    if is_format:
        for _, _, spec, _ in Formatter().parse(template):
            if spec and ("{" in spec or any(int(n) > MAX_TEXT for n in _FORMAT_SPEC_NUMBER.findall(spec))):
                raise SecurityError(f"format widths above {MAX_TEXT} (or taken from arguments) are not allowed")
        return
    for match in _PERCENT_SPEC.finditer(template):
        for part in match.groups():
            if part == "*" or (part and int(part) > MAX_TEXT):
                raise SecurityError(f"format widths above {MAX_TEXT} (or taken from arguments) are not allowed")


class RuleEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox: payload keys before attributes, null as missing, and every operation bounded."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

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

    def wrap_str_format(self, value: Any) -> Any:
        """`str.format`: the sandbox's formatter, with bounded widths."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template = value.__self__

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            _check_format(template, is_format=True)
            return _bounded(wrapped(*args, **kwargs), "format")

        return bounded_format

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Every call spends a step; methods of payload values are limited to _SAFE_METHODS."""
        _spend()
        _check_method(__obj, args, kwargs)
        return _bounded(super().call(__context, __obj, *args, **kwargs), "the call")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Refuse `'x' * 10**9`, `9 ** 9 ** 9` and `'%0999999999d' % 1` instead of exhausting memory."""
        _spend()
        ints = isinstance(left, int) and isinstance(right, int)
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, (str, list, tuple)) and isinstance(times, int)
                if sized and len(seq) * times > MAX_SEQUENCE:
                    raise SecurityError(f"the result of * would exceed {MAX_SEQUENCE} items")
            if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise SecurityError(f"the result of * would exceed {MAX_INT_BITS} bits")
        if operator == "**" and isinstance(right, (int, float)):
            if abs(right) > 100:
                raise SecurityError("exponents above 100 are not allowed")
            if isinstance(left, int) and left.bit_length() * abs(right) > MAX_INT_BITS:
                raise SecurityError(f"the result of ** would exceed {MAX_INT_BITS} bits")
        if operator == "%" and isinstance(left, str):
            _check_format(left, is_format=False)
        return _bounded(super().call_binop(context, operator, left, right), f"the result of {operator}")


def _make_environment() -> RuleEnvironment:
    env = RuleEnvironment(undefined=_Missing, autoescape=False, finalize=_finalize)
    builtins = env.filters
    env.filters = {name: builtins[name] for name in BUILTIN_FILTERS}
    env.filters.update(default=_default, int=_int, float=_float, email_domain=_email_domain, date=_date,
                       replace=_replace, join=_join, _loop_budget=_loop_budget)
    env.globals.clear()
    return env


ENV = _make_environment()
FILTERS = tuple(sorted(name for name in ENV.filters if not name.startswith("_")))


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
        token = _BUDGET.set(_Budget())
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
            _BUDGET.reset(token)
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
