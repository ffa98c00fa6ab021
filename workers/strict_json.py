"""JSON as webhook bodies are (RFC 8259), within limits the ingress and the worker both enforce.

The ingress parses a body with `loads` and answers 400 with the reason; the worker decodes the stored
event with the same function and limits, so a body the ingress accepted always decodes in the
worker, and one that does not (an older event, a hand-made replay) is dead-lettered with its reason
instead of failing before its delivery is counted.

Refused, each with a reason that names the field where there is one:
- `NaN`, `Infinity`, `-Infinity` (not JSON) and numbers that overflow to infinity;
- number literals longer than MAX_NUMBER_CHARS (a 5000-digit integer is not a value anyone sends,
  and Python's int-digits limit would turn it into an error later);
- nesting deeper than MAX_DEPTH (a form submission is a few levels deep; deep nesting only exhausts
  the stack of recursive code further down);
- lone UTF-16 surrogates (`"\\ud800"`): valid JSON text, but not Unicode, and no UTF-8 encoder can
  send them on.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64               # arrays/objects inside each other
MAX_NUMBER_CHARS = 100       # characters of one number literal (sign, digits, '.', exponent)
# An event's stored `data` (compact, ASCII-escaped JSON) may take this many times `max_body_bytes`:
# escaping takes up to 6 bytes for one character and adapters may repeat a value (email, fields.email).
STORED_FACTOR = 8
# Cheap scans decide whether the exact (slower) checks run; a false alarm only costs time.
# Numbers: digits, '.' and '-' become '0', 'e'/'E' become 'E': a run of 101 '0's is a literal too long,
# 'E000'/'E+000' an exponent that may overflow. Surrogates: a \uD800-\uDFFF escape not in a proper pair.
_NUMBER_CHARS = bytes.maketrans(b"0123456789.-eE", b"000000000000EE")
_NUMBER_SUSPECTS = (b"0" * (MAX_NUMBER_CHARS + 1), b"E000", b"E+000")
_LONE_SURROGATE = re.compile(r"\\u[dD](?:[89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
                             r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD])[c-fC-F])")
_STRING = re.compile(r'"[^"]*"')
_EMPTY_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")


class JsonRefused(ValueError):
    """The text is not JSON this bridge accepts; `reason` says why (and where)."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


def _constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not a JSON value (RFC 8259): send a number or null")


def _number_length(text: str) -> None:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonRefused(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS}) is not a value "
                          "this bridge accepts; send it as a string")


def _integer(text: str) -> int:
    _number_length(text)
    return int(text)


def _float(text: str) -> float:
    _number_length(text)
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused(f"the number {text} is out of range (it overflows a double)")
    return value


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text strictly; raises JsonRefused (a ValueError) with the reason.

    The common body costs one `json.loads` and a few C-speed passes over the text; hooks and a
    walk of the parsed value run only when a cheap scan finds something suspect."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    try:
        text = raw.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError as exc:
        raise JsonRefused(f"not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    shape = raw.translate(_NUMBER_CHARS)
    numbers = any(suspect in shape for suspect in _NUMBER_SUSPECTS)
    try:
        if text.startswith("\ufeff"):  # what json.loads says (a decoder's own decode does not check)
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = (_NUMBER_DECODER if numbers else _DECODER).decode(text)
    except JsonRefused:
        raise
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise JsonRefused(f"nested too deeply (more than {max_depth} levels)") from None
    deep = _depth_exceeds(text, max_depth)
    lone = _LONE_SURROGATE.search(text) is not None
    if deep or lone:
        check(value, max_depth=max_depth, surrogates=lone)
    return value


# Made once: json.loads/json.dumps with options build a new decoder or encoder on every call.
_DECODER = json.JSONDecoder(parse_constant=_constant)
_NUMBER_DECODER = json.JSONDecoder(parse_constant=_constant, parse_int=_integer, parse_float=_float)
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=str)


def dumps(value: Any) -> str:
    """Compact JSON text as the store keeps it (ASCII, no NaN: JsonRefused)."""
    try:
        return _ENCODER.encode(value)
    except ValueError as exc:
        raise JsonRefused(f"the value is not JSON: {exc}") from None
    except RecursionError:
        raise JsonRefused("nested too deeply to encode") from None


def encode_data(data: Any, *, max_body_bytes: int, max_depth: int = MAX_DEPTH) -> str:
    """The ingress side: an event's `data` as the text the store keeps, refused (JsonRefused) when the
    worker's `decode_data` would refuse it — the two sides cannot disagree."""
    text = dumps(data)
    limit = STORED_FACTOR * max_body_bytes
    if len(text) > limit:
        raise JsonRefused(f"the event's data takes {len(text)} bytes stored, over the limit of {limit}",
                          too_large=True)
    deep = _depth_exceeds(text, max_depth)
    if deep or _LONE_SURROGATE.search(text):
        check(data, max_depth=max_depth, surrogates=True)
    return text


def decode_data(text: str | bytes, *, max_body_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """The worker side: a stored `data` text decoded within the ingress's limits (JsonRefused otherwise)."""
    limit = STORED_FACTOR * max_body_bytes
    if len(text) > limit:
        raise JsonRefused(f"the event's data takes {len(text)} bytes stored, over the limit of {limit}",
                          too_large=True)
    return loads(text, max_depth=max_depth)


def _depth_exceeds(text: str, max_depth: int) -> bool:
    """Whether valid JSON `text` nests deeper than `max_depth`, from the text alone: strings removed,
    then each pass deletes the innermost `[]`/`{}` pairs — the number of passes is the depth."""
    if text.count("[") + text.count("{") <= max_depth:
        return False
    outside = _STRING.sub("", text.replace("\\\\", "").replace('\\"', ""))
    brackets = outside.encode("ascii", "ignore").translate(None, _NOT_BRACKET)
    for _ in range(max_depth):
        if not brackets:
            return False
        brackets = _EMPTY_PAIR.sub(b"", brackets)
    return bool(brackets)


def check(value: Any, *, max_depth: int = MAX_DEPTH, surrogates: bool = True) -> None:
    """Refuse nesting deeper than `max_depth` and (with `surrogates`) text holding lone surrogates,
    naming the first offending field. Iterative: safe on any depth."""
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 0, ())]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            items: Any = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            if surrogates and isinstance(node, str) and not _encodable(node):
                raise JsonRefused(f"{field_path(path)}: the text holds a lone UTF-16 surrogate (\\ud800-\\udfff), "
                                  "which is not Unicode; send valid UTF-8")
            continue
        if depth >= max_depth:
            raise JsonRefused(f"{field_path(path)}: nested too deeply (more than {max_depth} levels)")
        for key, child in items:
            if surrogates and isinstance(key, str) and not _encodable(key):
                raise JsonRefused(f"{field_path(path)}: a key holds a lone UTF-16 surrogate (\\ud800-\\udfff), "
                                  "which is not Unicode; send valid UTF-8")
            if isinstance(child, (dict, list)) or (surrogates and isinstance(child, str)):
                stack.append((child, depth + 1, (*path, key)))


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def field_path(path: tuple[Any, ...]) -> str:
    """("data", "items", 3, "name") -> "data.items[3].name"; the whole body is "the body"."""
    if not path:
        return "the body"
    out = ""
    for step in path:
        name = str(step) if len(str(step)) <= 40 else str(step)[:40] + "…"
        out += f"[{step}]" if isinstance(step, int) else (f".{name}" if out else name)
    return out if len(out) <= 120 else out[:60] + "…" + out[-59:]
