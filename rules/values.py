"""Reading and coercing payload values: paths, text, numbers and booleans.

One set of rules everywhere: a JSON null counts as missing, text is trimmed, numbers are Decimals
parsed strictly ("1,000" and "12abc" do not convert), booleans accept true/yes/1/on and
false/no/0/off. A value that does not convert gives None, and the caller treats that as "false".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off"})
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
PREVIEW_TEXT = 120
PREVIEW_ITEMS = 20


class _Missing:
    """The value of a field that is not there (or is null); MISSING is its only instance."""

    def __repr__(self) -> str:
        return "<missing>"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def split_path(path: str) -> tuple[str, ...]:
    """`data.items.0` → ("data", "items", "0")."""
    return tuple(path.split("."))


def resolve(scope: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The value at a dotted path (mapping keys first; digits index lists), or MISSING."""
    value: Any = scope
    for step in path:
        if isinstance(value, (dict, Mapping)):  # dict first: the ABC check is slow
            value = value.get(step, MISSING)
        elif isinstance(value, (list, tuple)) and step.isdigit():
            index = int(step)
            value = value[index] if index < len(value) else MISSING
        else:
            return MISSING
        if value is None or value is MISSING:
            return MISSING
    return value


def is_scalar(value: Any) -> bool:
    """True for text, numbers and booleans."""
    return isinstance(value, (str, int, float))


def as_text(value: Any) -> str | None:
    """Trimmed text of a scalar (numbers and booleans spelled as in JSON), None otherwise."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return None


def as_number(value: Any) -> Decimal | None:
    """A Decimal for a number or numeric text, None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 100 or not _NUMBER.match(text):
            return None
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern already excludes these
            return None
    return None


def as_bool(value: Any) -> bool | None:
    """True/False for booleans, 1/0 and the words true/yes/1/on, false/no/0/off; None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def fold(text: str, case_sensitive: bool) -> str:
    """Text as compared: case-folded unless case-sensitive (it is already trimmed)."""
    return text if case_sensitive else text.casefold()


def preview(value: Any) -> Any:
    """A JSON-safe, size-bounded copy of a value for traces."""
    if value is MISSING:
        return None
    if isinstance(value, str):
        return value if len(value) <= PREVIEW_TEXT else value[:PREVIEW_TEXT] + "…"
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dict, Mapping)):
        items = list(value.items())
        out = {str(k): preview(v) for k, v in items[:PREVIEW_ITEMS]}
        if len(items) > PREVIEW_ITEMS:
            out["…"] = f"{len(items) - PREVIEW_ITEMS} more"
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        seq = list(value)
        out_list = [preview(v) for v in seq[:PREVIEW_ITEMS]]
        if len(seq) > PREVIEW_ITEMS:
            out_list.append(f"… {len(seq) - PREVIEW_ITEMS} more")
        return out_list
    return str(value)[:PREVIEW_TEXT]


def shown(value: Any) -> str:
    """A value as it appears in a trace reason."""
    if value is MISSING:
        return "<missing>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(preview(value))
    if isinstance(value, (list, tuple)):
        more = ", …" if len(value) > PREVIEW_ITEMS else ""
        return "[" + ", ".join(shown(v) for v in value[:PREVIEW_ITEMS]) + more + "]"
    if isinstance(value, Decimal):
        return str(value)
    return repr(preview(value))
