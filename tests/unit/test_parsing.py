"""Body parsing by content type: JSON, urlencoded, multipart; 400/415 with the parser's reason."""

from __future__ import annotations

import pytest

from bridge.errors import BodyUnreadable, TooManyFields, UnsupportedMediaType
from bridge.parsing import parse_body


def test_json():
    assert parse_body("application/json", b'{"a": 1}').payload == {"a": 1}
    assert parse_body("application/vnd.api+json", b"[1]").payload == [1]


def test_urlencoded_keeps_repeated_keys_as_lists():
    parsed = parse_body("application/x-www-form-urlencoded", b"email=a%40b.co&tag=x&tag=y&empty=")
    assert parsed.kind == "form"
    assert parsed.payload == {"email": "a@b.co", "tag": ["x", "y"], "empty": ""}


def test_multipart_fields_and_files():
    boundary = "XyZ"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.co\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n1\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n2\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n%PDF\r\n--{boundary}--\r\n").encode()
    parsed = parse_body("multipart/form-data", body, content_type_header=f"multipart/form-data; boundary={boundary}")
    assert parsed.payload == {"email": "a@b.co", "q": ["1", "2"], "_files": ["cv"]}


@pytest.mark.parametrize("raw,words", [
    (b'{"a": ', "not valid JSON"),
    (b"\xff\xfe", "not valid utf-8"),
])
def test_broken_json_says_why(raw, words):
    with pytest.raises(BodyUnreadable, match=words):
        parse_body("application/json", raw)


def test_multipart_without_boundary_is_400():
    with pytest.raises(BodyUnreadable, match="boundary"):
        parse_body("multipart/form-data", b"x", content_type_header="multipart/form-data")


def test_other_types_are_415_and_name_the_accepted_ones():
    with pytest.raises(UnsupportedMediaType, match="application/json"):
        parse_body("text/xml", b"<a/>")


def test_deeply_nested_json_is_400_not_500():
    with pytest.raises(BodyUnreadable, match="nested too deeply"):
        parse_body("application/json", b"[" * 100_000 + b"]" * 100_000)


def test_unknown_charset_is_400_not_500():
    with pytest.raises(BodyUnreadable, match="unknown charset"):
        parse_body("application/json", b"{}", charset="nope")


# --- max_fields: counted before parsing for forms, in one linear walk for JSON -------------------

@pytest.mark.parametrize("mimetype,raw,header", [
    ("application/x-www-form-urlencoded", b"&".join(b"f%d=v" % i for i in range(11)), ""),
    ("multipart/form-data", b"".join(b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i
                                     for i in range(11)) + b"--b--\r\n", "multipart/form-data; boundary=b"),
    ("application/json", b'{"a": [1, 2, 3, 4, 5], "b": {"c": 1, "d": 2, "e": 3}, "f": 1}', ""),
])
def test_more_fields_than_max_fields_is_too_many_fields(mimetype, raw, header):
    from bridge.errors import TooManyFields

    with pytest.raises(TooManyFields) as info:
        parse_body(mimetype, raw, content_type_header=header, max_fields=10, max_json_fields=10)
    assert info.value.status == 413 and "max_" in info.value.message
    assert parse_body(mimetype, raw, content_type_header=header, max_fields=11, max_json_fields=11).payload


def test_json_field_limit_counted_exactly_at_the_edge_with_the_text_bound() -> None:
    """The text bound (':' + ',' + '[') only skips the walk when it cannot be exceeded; at the limit the
    walk still decides. 3 keys + 2 items = 5."""
    raw = b'{"a":1,"b":[1,2],"c":"x"}'
    assert parse_body("application/json", raw, max_json_fields=5).payload["b"] == [1, 2]
    with pytest.raises(TooManyFields):
        parse_body("application/json", raw, max_json_fields=4)
    # strings full of ':' and ',' only raise the bound: the walk then counts the real 1 key
    assert parse_body("application/json", b'{"a":"::::,,,,[[["}', max_json_fields=1).payload == {"a": "::::,,,,[[["}


def test_headers_from_environ_match_werkzeugs() -> None:
    from werkzeug.datastructures import EnvironHeaders

    from bridge.inbound import Headers

    environ = {"HTTP_X_BRIDGE_TOKEN": "t", "HTTP_IDEMPOTENCY_KEY": "", "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": "", "HTTP_CONTENT_TYPE": "ignored", "HTTP_USER_AGENT": "wrk",
               "HTTP_X_HUBSPOT_SIGNATURE_V3": "s", "wsgi.input": None, "REQUEST_METHOD": "POST"}
    fast, slow = Headers.from_environ(environ), Headers(dict(EnvironHeaders(environ)))
    assert dict(fast.items()) == dict(slow.items()) and list(fast) == list(slow)
    assert fast.get("Idempotency-Key") == "" and "content-length" not in fast
