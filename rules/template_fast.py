"""Simple templates as plain Python closures: the same results as Jinja, without its per-render cost.

A rule's template is "simple" when it is literal text and `{{ path }}` holes, each an optional chain of
filters from FAST_FILTERS with constant arguments (`{{ data.fields.company | trim }}`,
`Rule 3 via {{ event.source }}: {{ data.message | default('-') }}`). Such a template is rendered by a
closure that reads the path as the sandbox does (mapping keys only, null as missing, list items by
index) and calls the very filter functions the Jinja environment calls.

Exactness by construction: the closure handles only the common case and gives up on anything else, and
`FastTemplate.render` then renders with Jinja. It gives up (at run time) when a path meets a value that
is not a dict, a list indexed by a number or a missing one (Jinja's attribute lookups, methods and
string indexing stay Jinja's), when a root is not in the scope, when a filter or `str` raises (a
missing field used by a filter, a failed conversion, ...: Jinja raises the same error with its
message), when a single-expression template's value is missing, and when the text passes MAX_TEXT. So
every error, and every missing-field message, comes from the Jinja path; the fast path only returns
values Jinja would return. Anything outside the subset (tags, calls, operators, other filters,
non-constant arguments) is never compiled here. `ENABLED = False` (before rules are loaded) keeps
every template on Jinja, for benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import Undefined, nodes
from jinja2.parser import Parser

from rules import templates as _templates
from rules.templates import MAX_TEXT, Template

ENABLED = True
FAST_FILTERS = frozenset({"default", "lower", "upper", "trim", "title", "int", "float", "email_domain", "date"})

Getter = Callable[[Mapping[str, Any]], Any]


class _Slow(Exception):
    """This render is not the common case: Jinja renders it."""


class FastTemplate(Template):
    """A Template that renders by closure, and by Jinja whenever the closure gives up."""

    __slots__ = ("_fast",)
    _fast: Getter

    def render(self, scope: Mapping[str, Any]) -> Any:
        """The value for this scope, as `Template.render` gives it (one expression: its type kept)."""
        try:
            value = self._fast(scope)
        except Exception:  # noqa: BLE001 - any surprise is Jinja's to render (and word)
            return Template.render(self, scope)
        if type(value) is str and len(value) <= MAX_TEXT:
            return value
        return _templates._to_data(value, self, scope)


class FastText(FastTemplate):
    """A text template (holes in literal text) rendered by closure; its closure gives the final text."""

    __slots__ = ()

    def render(self, scope: Mapping[str, Any]) -> Any:
        """The text for this scope, as `Template.render` gives it."""
        try:
            return self._fast(scope)
        except Exception:  # noqa: BLE001 - any surprise is Jinja's to render (and word)
            return Template.render(self, scope)


def accelerate(template: Template) -> Template:
    """`template` as a FastTemplate when it is simple (else itself, rendered by Jinja)."""
    if not ENABLED or type(template) is not Template or template.kind not in ("expression", "text"):
        return template
    try:
        fast = _expression_render(template.source) if template.kind == "expression" \
            else _text_render(template.source)
    except Exception:  # noqa: BLE001 - anything this module does not understand stays on Jinja
        return template
    if fast is None:
        return template
    quick = (FastText if template.kind == "text" else FastTemplate)(template.source, template.kind)
    for name in Template.__slots__:
        setattr(quick, name, getattr(template, name))
    quick._fast = fast
    return quick


def _expression_render(source: str) -> Getter | None:
    """A closure for a template that is exactly one `{{ expression }}`, parsed as compile_template
    has Jinja parse it (`compile_expression` of the text inside the braces)."""
    match = _templates._SINGLE.match(source.strip())
    if match is None:
        return None
    parser = Parser(_templates.ENV, match.group(1), state="variable")
    node = parser.parse_expression()
    if not parser.stream.eos:
        return None
    get = _getter(node)
    if get is None:
        return None

    def render(scope: Mapping[str, Any]) -> Any:
        value = get(scope)
        if isinstance(value, Undefined):
            raise _Slow
        return value

    return render


def _text_render(source: str) -> Getter | None:
    """A closure for literal text with `{{ }}` holes: each hole as `str(finalize(value))`, as Jinja
    writes an output node without autoescaping."""
    head = ""
    holes: list[tuple[Getter, str]] = []  # each hole, and the literal text after it
    for node in _templates.ENV.parse(source).body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                if holes:
                    holes[-1] = (holes[-1][0], holes[-1][1] + child.data)
                else:
                    head += child.data
                continue
            get = _getter(child)
            if get is None:
                return None
            holes.append((get, ""))
    finalize: Callable[[Any], Any] = _templates.ENV.finalize or _as_is  # what Jinja applies to every output
    steps = tuple(holes)
    if len(head) > MAX_TEXT:
        return None

    def render(scope: Mapping[str, Any]) -> str:
        out = [head]
        size = len(head)
        for get, after in steps:
            value = get(scope)
            text = value if type(value) is str else str(finalize(value))
            size += len(text) + len(after)
            if size > MAX_TEXT:  # Jinja stops here and says so
                raise _Slow
            out.append(text)
            out.append(after)
        return "".join(out)

    return render


def _getter(node: nodes.Node) -> Getter | None:
    """A path with optional simple filters, as a closure; None for anything else."""
    if isinstance(node, nodes.Filter):
        if node.name not in FAST_FILTERS or node.node is None or node.dyn_args is not None \
                or node.dyn_kwargs is not None:
            return None
        if not all(isinstance(a, nodes.Const) for a in node.args) \
                or not all(isinstance(k.value, nodes.Const) for k in node.kwargs):
            return None
        inner = _getter(node.node)
        if inner is None:
            return None
        function = _templates.ENV.filters[node.name]
        args = tuple(a.value for a in node.args)  # type: ignore[attr-defined]
        kwargs: dict[str, Any] = {str(k.key): k.value.value for k in node.kwargs}  # type: ignore[attr-defined]
        if kwargs:
            return lambda scope: function(inner(scope), *args, **kwargs)
        if args:
            return lambda scope: function(inner(scope), *args)
        return lambda scope: function(inner(scope))
    keys: list[Any] = []
    while not isinstance(node, nodes.Name):
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
                and type(node.arg.value) in (str, int):
            keys.append(node.arg.value)
        else:
            return None
        node = node.node
    if node.ctx != "load":
        return None
    return _path(node.name, tuple(reversed(keys)))


def _as_is(value: Any) -> Any:
    return value


_GONE = _templates.ENV.undefined()  # a missing field; only `default` looks at it, everything else gives up


def _path(root: str, keys: tuple[Any, ...]) -> Getter:
    """The sandbox's lookups for the common values: a dict's key (null as missing), a list's item by
    a number (missing past its end); the missing value chains. Anything else gives up. Paths of one
    or two text keys through dicts are unrolled (the common case), and take the general way otherwise."""

    def get(scope: Mapping[str, Any]) -> Any:
        value = scope[root]  # a root not in the scope: Jinja's
        for key in keys:
            kind = type(value)
            if kind is dict:
                value = value.get(key)
                if value is None:
                    return _GONE
            elif kind is list and type(key) is int:
                try:
                    value = value[key]
                except IndexError:
                    return _GONE
            else:
                raise _Slow
        return value

    if len(keys) == 1 and type(keys[0]) is str:
        (first,) = keys

        def get_one(scope: Mapping[str, Any]) -> Any:
            value = scope[root]
            if type(value) is dict:
                value = value.get(first)
                return _GONE if value is None else value
            return get(scope)

        return get_one
    if len(keys) == 2 and type(keys[0]) is str and type(keys[1]) is str:
        first, second = keys

        def get_two(scope: Mapping[str, Any]) -> Any:
            value = scope[root]
            if type(value) is dict:
                value = value.get(first)
                if value is None:
                    return _GONE
                if type(value) is dict:
                    value = value.get(second)
                    return _GONE if value is None else value
            return get(scope)

        return get_two
    return get
