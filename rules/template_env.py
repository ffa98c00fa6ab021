"""The bounded sandbox that renders rule templates: limits, filters, the step budget, RuleEnvironment.

Payload values are hostile: every render is bounded in time and size. Conversions take plain,
reasonably sized numbers only; filters, methods and operators refuse results past MAX_BUILD items
before building them; loops, calls and operators spend a step budget (MAX_STEPS) and a deadline
(MAX_SECONDS); text output stops at MAX_TEXT. Macros, call blocks and recursive loops are refused.
Compiling and rendering rule values is rules.templates.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sized
from contextvars import ContextVar
from decimal import Decimal
from string import Formatter
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, Undefined, pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.filters import do_replace, sync_do_join
from jinja2.sandbox import ImmutableSandboxedEnvironment

from rules.errors import RenderFailed
from rules.values import as_number, shown

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


def start_budget() -> Any:
    """Give the render about to start its own budget (MAX_STEPS steps, MAX_SECONDS); pass the token
    returned to `end_budget` when it ends."""
    return _BUDGET.set(_Budget())


def end_budget(token: Any) -> None:
    _BUDGET.reset(token)


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
