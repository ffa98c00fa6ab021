"""Parse a delivery's raw bytes by content type: JSON, x-www-form-urlencoded, multipart.

JSON is parsed strictly (RFC 8259: no NaN/Infinity) within the limits the worker also applies
(nesting depth, number length, no lone surrogates): see `workers.strict_json`.

Form bodies become a dict: a key seen once maps to a str, a repeated key to a list of str. Uploaded
files are not kept; their field names are listed under "_files".

`max_fields` and `max_json_fields` bound the work a body can cause (413 too_many_fields past them):
urlencoded pairs and multipart parts are counted before they are parsed, JSON object keys and array
items after (one linear walk; json.loads itself is linear in the bytes).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import parse_form_data

from bridge.errors import BodyUnreadable, TooManyFields, UnsupportedMediaType
from workers import strict_json

JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class ParsedBody:
    kind: str           # "json" | "form"
    payload: Any


def is_json_type(mimetype: str) -> bool:
    return mimetype in JSON_TYPES or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def parse_body(mimetype: str, raw: bytes, *, content_type_header: str = "", charset: str = "utf-8",
               max_fields: int | None = None, max_json_fields: int | None = None) -> ParsedBody:
    """The parsed payload; 415 for other types, 400 with the parser's reason for broken bodies."""
    parsed = _parse(mimetype, raw, content_type_header, charset, max_fields)
    if parsed.kind == "json" and max_json_fields is not None:
        check_json_fields(parsed.payload, max_json_fields, raw if charset.lower().replace("_", "-") in _ASCII_SUPERSETS
                          else None)
    return parsed


# Charsets in which ':', ',' and '[' are the bytes they are in ASCII and no other character contains
# those bytes: the raw body can be counted without decoding it.
_ASCII_SUPERSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"})


def _too_many(limit: int, what: str, key: str = "max_fields") -> TooManyFields:
    return TooManyFields(f"the body has more than {limit} {what} ({key}); send fewer fields")


def check_json_fields(value: Any, limit: int, text: bytes | str | None = None) -> None:
    """413 when the JSON holds more than `limit` object keys and array items in all (one linear walk).

    With the JSON `text` the walk is skipped when the text cannot hold that many: every key has its
    ':', every array item is its array's first (one '[') or follows a ','; counted in C, strings included,
    so the sum is an upper bound."""
    if text is not None:
        if isinstance(text, str):
            bound = text.count(":") + text.count(",") + text.count("[")
        else:
            bound = text.count(b":") + text.count(b",") + text.count(b"[")
        if bound <= limit:
            return
    count = 0
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            count += len(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            count += len(item)
            pending.extend(item)
        else:
            continue
        if count > limit:
            raise _too_many(limit, "JSON keys and array items", "max_json_fields")


def _parse(mimetype: str, raw: bytes, content_type_header: str, charset: str, max_fields: int | None
           ) -> ParsedBody:
    try:
        if charset != "utf-8":
            "".encode(charset)
    except LookupError:
        raise BodyUnreadable(f"unknown charset {charset!r} in the Content-Type header; send utf-8") from None
    if is_json_type(mimetype) or (not mimetype and raw.lstrip()[:1] in (b"{", b"[")):
        try:
            text = raw.decode(charset)
        except UnicodeDecodeError as exc:
            raise BodyUnreadable(f"the body is not valid {charset}: {exc.reason} at byte {exc.start}") from None
        try:  # the same strict parser and limits as the worker's (workers.strict_json)
            return ParsedBody("json", strict_json.loads(text))
        except strict_json.JsonRefused as exc:
            raise BodyUnreadable(f"the JSON body was refused: {exc.reason}") from None
    if mimetype == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(raw.decode(charset), keep_blank_values=True, strict_parsing=False,
                              max_num_fields=max_fields)
        except UnicodeDecodeError as exc:
            raise BodyUnreadable(f"the form body is not valid {charset}: {exc.reason}") from None
        except ValueError:  # parse_qsl's "Max number of fields exceeded", counted before any parsing
            raise _too_many(max_fields or 0, "form fields") from None
        return ParsedBody("form", _flatten(MultiDict(pairs)))
    if mimetype == "multipart/form-data":
        if "boundary=" not in content_type_header:
            raise BodyUnreadable("multipart/form-data without a boundary in the Content-Type header")
        environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type_header,
                   "CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw)}
        try:
            _, form, files = parse_form_data(environ, silent=False, max_form_parts=max_fields)
        except RequestEntityTooLarge:
            raise _too_many(max_fields or 0, "multipart parts") from None
        except Exception as exc:  # werkzeug raises ValueError subclasses for broken multipart
            raise BodyUnreadable(f"the multipart body could not be parsed: {exc}") from None
        if None in form or None in files:  # werkzeug's name for a part whose name it cannot read
            raise BodyUnreadable("a multipart part has no readable name (Content-Disposition: form-data; name=...)")
        out = _flatten(form)
        if files:
            out["_files"] = sorted(set(files.keys()))
        return ParsedBody("form", out)
    shown = mimetype or "(none)"
    raise UnsupportedMediaType(f"Content-Type {shown} is not accepted; send application/json, "
                               "application/x-www-form-urlencoded or multipart/form-data")


def _flatten(md: MultiDict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in md.keys():
        values = md.getlist(key)
        out[key] = values[0] if len(values) == 1 else values
    return out
