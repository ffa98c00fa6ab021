"""A rule's actions as values: what each renders to, checked, and how it merges into a customer's plan.

Everything that does not depend on the event is settled at load time: an action whose templates are
all constants is rendered (or refused) once (`Fixed`); any other gets a producer that renders exactly
its kind of value (no dispatch on the kind per event); each knows the plan method its kind merges with.
`render_action` is the one definition of an action's value; the producers are it, specialised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rules.errors import RenderError
from rules.plan import MERGES, Overrides, PlanBuilder
from rules.rule_schema import SENTIMENTS, STATUSES
from rules.templates import Template
from rules.values import preview

_CHOICES = {"set_status": STATUSES, "set_sentiment": SENTIMENTS}
SHARED_ROOTS = frozenset({"event", "data", "now"})  # the same for every rule of one event

Scope = Mapping[str, Any]
Render = Callable[[Any, Scope], Any]
# (the evaluation, with its `rendered` values and `render_shared`; scope) -> the action's value
Produce = Callable[[Any, Scope], Any]
Merge = Callable[[PlanBuilder, Any, str], Overrides]


class Fixed:
    """An action whose value has no template that varies: rendered (or refused) once, at load time."""

    __slots__ = ("problem", "value")

    def __init__(self, value: Any, problem: str | None) -> None:
        self.value, self.problem = value, problem


def _templates_of(kind: str, value: Any) -> Any:
    return value if kind in ("add_tags", "remove_tags") else value.values() if kind == "set_metadata" \
        else () if kind == "remove_metadata" else (value,)


def fixed_value(kind: str, value: Any) -> Fixed | None:
    """The action's value worked out once, when every template in it is a constant; else None."""
    if not all(isinstance(t, Template) and t.kind == "constant" for t in _templates_of(kind, value)):
        return None
    try:
        return Fixed(render_action(kind, value, lambda template, scope: template.render(scope), {}), None)
    except RenderError as exc:
        return Fixed(None, exc.reason)


def render_action(kind: str, value: Any, render: Render, scope: Scope) -> Any:
    """The action's value for this event; RenderError when it cannot be produced."""
    if kind in ("add_tags", "remove_tags"):
        return [_tag(render(template, scope)) for template in value]
    if kind == "set_metadata":
        return {key: render(template, scope) for key, template in value.items()}
    if kind == "remove_metadata":
        return list(value)
    text = _text(render(value, scope), kind)
    if kind in _CHOICES and text not in _CHOICES[kind]:
        raise RenderError(f"{text!r} is not one of {', '.join(_CHOICES[kind])}")
    return text


def _tag(value: Any) -> str:
    tag = _text(value, "tag")
    if "," in tag:
        raise RenderError(f"tag {tag!r} contains a comma")
    return tag


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RenderError(f"the {what} is not text: {preview(value)!r}")
    text = str(value).strip()
    if not text:
        raise RenderError(f"the {what} is empty")
    return text


def compile_action(kind: str, value: Any) -> tuple[Fixed | None, Produce | None, Merge]:
    """What the engine needs of one action, decided at load time: its fixed value (when no template
    varies) or else `render_action` specialised to it, and the plan method its kind merges with."""
    fixed = fixed_value(kind, value)
    return fixed, None if fixed is not None else _producer(kind, value), MERGES[kind]


def _shared(template: Any) -> bool:
    """Whether a template reads only the event (then the evaluation renders it once, see engine)."""
    return template.roots <= SHARED_ROOTS


def _producer(kind: str, value: Any) -> Produce:
    # A template that reads only the event is looked up in the evaluation's `rendered` (by id: the
    # template lives as long as the rule set) and rendered through it on a miss; any other renders.
    if kind in ("add_tags", "remove_tags"):
        tags = tuple((t, id(t) if _shared(t) else None) for t in value)
        return lambda run, scope: [_tag(_value(run, scope, t, key)) for t, key in tags]
    if kind == "set_metadata":
        items = tuple((name, t, id(t) if _shared(t) else None) for name, t in value.items())

        def metadata(run: Any, scope: Scope) -> dict[str, Any]:
            rendered, out = run.rendered, {}
            for name, template, key in items:
                found = rendered.get(key, _MISS) if key is not None else _MISS
                out[name] = found if found is not _MISS else _value(run, scope, template, key)
            return out
        return metadata
    if kind == "remove_metadata":
        keys = tuple(value)
        return lambda run, scope: list(keys)
    template, key, choices = value, id(value) if _shared(value) else None, _CHOICES.get(kind)
    if choices is None:
        return lambda run, scope: _text(_value(run, scope, template, key), kind)

    def choice(run: Any, scope: Scope) -> str:
        text = _text(_value(run, scope, template, key), kind)
        if text not in choices:
            raise RenderError(f"{text!r} is not one of {', '.join(choices)}")
        return text
    return choice


def _value(run: Any, scope: Scope, template: Any, key: int | None) -> Any:
    if key is None:
        return template.render(scope)
    found = run.rendered.get(key, _MISS)
    return found if found is not _MISS else run.render_shared(template, scope)


_MISS: Any = object()
