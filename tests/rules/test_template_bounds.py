"""Poison payloads against rule templates: every filter, conversion, method and operator is bounded in
time and size, so a hostile value fails the action (RenderFailed, the trace says why) instead of
holding a worker. Each case would hang or exhaust memory without its bound."""

from __future__ import annotations

from typing import Any

import pytest

from rules.errors import RenderFailed, TemplateInvalid
from rules.templates import MAX_BUILD, MAX_STEPS, compile_template

BIG = "a" * 900_000
SCOPE: dict[str, Any] = {
    "data": {"seats": "1e99999999", "neg": "-1E+99999999", "tiny": "1e-99999999", "huge_float": 1e300,
             "big": BIG, "list": list(range(100_000)), "n": int("9" * 100), "s": "ab", "width": 10**9,
             "spaced": " 12 ", "plain": "12.5", "sci": "1.5e3"},
    "event": {}, "vars": {}, "customer": {}, "now": None,
}

POISON = [
    ("int of a numeric text with a huge exponent", "{{ data.seats | int }}", "cannot convert '1e99999999' to int"),
    ("float of it", "{{ data.seats | float }}", "cannot convert '1e99999999' to float"),
    ("int of a huge negative exponent", "{{ data.neg | int }}", "cannot convert"),
    ("int of a tiny exponent", "{{ data.tiny | int }}", "cannot convert"),
    ("int of a float near the double limit", "{{ data.huge_float | int }}", "cannot convert"),
    ("replace growing text past the limit", "{{ data.big | replace('a', 'bbbbbbbbbb') }}", "refused by the sandbox: replace would build"),
    ("replace of the empty string", "{{ data.big | replace('', 'x') }}", "refused by the sandbox: replace would build"),
    ("join with a long separator", "{{ data.list | join('x' * 20) }}", "refused by the sandbox: join would build"),
    ("str.center with a huge width", "{{ data.s.center(data.width) }}", "refused by the sandbox: str.center() would build"),
    ("str.ljust", "{{ data.s.ljust(999999999) }}", "refused by the sandbox: str.ljust() would build"),
    ("str.zfill", "{{ data.s.zfill(999999999) }}", "refused by the sandbox: str.zfill() would build"),
    ("str.replace method", "{{ data.s.replace('', data.big) }}", "refused by the sandbox: str.replace() would build"),
    ("str.join method", "{{ ('x' * 5000).join(data.list) }}", "refused by the sandbox: str.join() would build"),
    ("str.join over the characters of a long text", "{{ ('x' * 5000).join(data.big) }}",
     "refused by the sandbox: str.join() would build"),
    ("str.expandtabs is not offered", "{{ data.s.expandtabs(999999999) }}", "refused by the sandbox: str.expandtabs()"),
    ("int.to_bytes is not offered", "{{ (7).to_bytes(999999999, 'big') }}", "refused by the sandbox: int.to_bytes()"),
    ("str.encode is not offered", "{{ data.s.encode() }}", "refused by the sandbox: str.encode()"),
    ("format width", "{{ '{:>999999999}'.format(1) }}", "refused by the sandbox: format widths"),
    ("format width from an argument", "{{ '{:>{w}}'.format(1, w=data.width) }}", "refused by the sandbox: format widths"),
    ("format precision", "{{ '{:.999999999f}'.format(1.0) }}", "refused by the sandbox: format widths"),
    ("% width", "{{ '%0999999999d' % 1 }}", "refused by the sandbox: format widths"),
    ("% width from an argument", "{{ '%*d' % (999999999, 1) }}", "refused by the sandbox: format widths"),
    ("* on text", "{{ data.s * 100000 }}", "refused by the sandbox: the result of * would exceed"),
    ("* on a list", "{{ data.list * 2 }}", "refused by the sandbox: the result of * would exceed"),
    ("* on huge integers", "{{ data.n * data.n * data.n * data.n * data.n * data.n * data.n * data.n * data.n * data.n * data.n * data.n * data.n }}",
     "refused by the sandbox: the result of * would exceed"),
    ("** on a big base", "{{ data.n ** 100 }}", "refused by the sandbox: the result of ** would exceed"),
    ("nested loops over a long list", "{% for a in data.list %}{% for b in data.list %}{% endfor %}{% endfor %}",
     f"refused by the sandbox: the template took more than {MAX_STEPS} steps"),
    ("a loop writing past the text limit", "{% for a in data.list %}{{ a }}{% endfor %}", "the result is longer than"),
    ("concatenating big text", "{{ data.big ~ data.big ~ data.big }}", "the result is longer than"),
    ("a loop doing slow work each time", "{% for a in data.list %}{% if data.big in data.big %}{% endif %}{% endfor %}",
     "refused by the sandbox"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("source", "reason"), [p[1:] for p in POISON], ids=[p[0] for p in POISON])
def test_poison_values_fail_the_template_instead_of_hanging(source: str, reason: str) -> None:
    with pytest.raises(RenderFailed) as caught:
        compile_template(source).render(SCOPE)
    assert caught.value.reason.startswith(reason), caught.value.reason


FINE = [
    ("int of plain text with spaces", "{{ data.spaced | int }}", 12),
    ("float of a plain decimal", "{{ data.plain | float }}", 12.5),
    ("int of a small exponent", "{{ data.sci | int }}", 1500),
    ("a long payload text, truncated", "{{ data.big | truncate(12) }}", "aaaaaaaaa..."),
    ("a long list joined and truncated", "{{ data.list | join(',') | truncate(12) }}", "0,1,2,3,4..."),
    ("methods in the allowed list", "{{ data.s.upper().center(6, '*') }}", "**AB**"),
    ("format with a modest width", "{{ '{:>5}'.format(data.s) }}", "   ab"),
    ("% with a modest width", "{{ '%05d' % 42 }}", "00042"),
    ("a loop within the budget", "{% for a in data.list[:3] %}{{ a }};{% endfor %}", "0;1;2;"),
]


@pytest.mark.parametrize(("source", "expected"), [f[1:] for f in FINE], ids=[f[0] for f in FINE])
def test_ordinary_templates_still_render(source: str, expected: Any) -> None:
    assert compile_template(source).render(SCOPE) == expected


@pytest.mark.parametrize("source,words", [
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "macros are not available"),
    ("{% for x in data.items recursive %}{{ loop(x) }}{% endfor %}", "recursive loops are not available"),
    ("{% call data.x() %}y{% endcall %}", "call blocks are not available"),
])
def test_recursion_in_templates_is_refused_at_load(source: str, words: str) -> None:
    with pytest.raises(TemplateInvalid, match=words):
        compile_template(source)


def test_the_build_limit_is_above_the_body_limit() -> None:
    """A payload text of the largest accepted body can still pass through replace/join/truncate."""
    assert MAX_BUILD >= 1024 * 1024 - 1024 * 64
    value = compile_template("{{ data.big | replace('a', 'b') | truncate(5) }}").render(SCOPE)
    assert value == "bb..."
