"""Read a delivery's body in full, or refuse it: never a truncated body behind a 2xx.

    Content-Length over the limit      413 at once, nothing read (gunicorn discards the rest before
                                       the next request on the connection, within its keep-alive time)
    chunked body growing past it       413 as soon as limit + 1 bytes arrived, whatever the framing
    fewer bytes than Content-Length    400 body_incomplete (the client closed early)
    broken chunked framing             400 body_incomplete
    not all there within the deadline  408 (a trickling client is dropped; the worker class keeps
                                       serving everyone else meanwhile, see bridge.gunicorn_conf)

Werkzeug's `get_data()` cannot tell these apart under gunicorn: gunicorn marks every input as
terminated, so werkzeug returns what arrived (cut at the limit for chunked bodies, short for a
half-closed one). This reads `wsgi.input` itself and checks the count.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from typing import Any, ContextManager, Mapping

from bridge.errors import BodyIncomplete, BodyTimeout, PayloadTooLarge

_CHUNK = 64 * 1024


def read_body(environ: Mapping[str, Any], limit: int, timeout: float) -> bytes:
    """The whole body (at most `limit` bytes), read within `timeout` seconds; else an HttpError."""
    declared = _content_length(environ)
    if declared is not None and declared > limit:
        raise PayloadTooLarge(_too_large(limit))
    stream = environ.get("wsgi.input")
    if stream is None or declared == 0:
        return b""
    chunked = declared is None
    want: int = limit + 1 if declared is None else declared
    sock = environ.get("gunicorn.socket")
    previous = _gettimeout(sock)
    deadline = time.monotonic() + timeout
    parts: list[bytes] = []
    got = 0
    try:
        with _deadline(timeout):
            while got < want:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout()
                _settimeout(sock, left if previous is None else min(left, previous))
                piece = stream.read(min(_CHUNK, want - got))
                if not piece:
                    break
                parts.append(piece)
                got += len(piece)
    except socket.timeout:
        got = sum(map(len, parts))
        raise BodyTimeout(f"the body did not arrive within {timeout:g} s ({got} bytes received); "
                          "send it at once") from None
    except Exception as exc:  # gunicorn's NoMoreData / InvalidChunkSize / ChunkMissingTerminator, resets
        raise BodyIncomplete(f"the body could not be read in full after {got} bytes "
                             f"({'chunked framing broken or cut' if chunked else type(exc).__name__}); "
                             "nothing was accepted") from None
    finally:
        _settimeout(sock, previous)
    if chunked and got > limit:
        raise PayloadTooLarge(_too_large(limit))
    if declared is not None and got < declared:
        raise BodyIncomplete(f"the body ended after {got} of the {declared} bytes its Content-Length "
                             "announced; nothing was accepted")
    return b"".join(parts)


def _deadline(seconds: float) -> ContextManager[Any]:
    """Under gevent (gunicorn's gevent worker patched the socket module), a deadline for the whole read:
    a client sending a byte now and then never lets a single recv time out. Under thread workers the
    socket timeout set per read bounds the silence between bytes instead."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("socket"):
        from gevent import Timeout

        return Timeout(seconds, socket.timeout)
    return contextlib.nullcontext()


def _too_large(limit: int) -> str:
    return f"the body is larger than the {limit} byte limit (max_body_bytes)"


def _content_length(environ: Mapping[str, Any]) -> int | None:
    """Content-Length as an int; None for a chunked (or unframed) body."""
    if "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower():
        return None
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not raw:
        # No length and not chunked: HTTP/1.1 says there is no body. gunicorn and werkzeug's test
        # client both agree; read nothing rather than wait for a close.
        return 0
    if not raw.isdigit():
        raise BodyIncomplete(f"Content-Length {raw[:40]!r} is not a number of bytes")
    return int(raw)


def _gettimeout(sock: Any) -> float | None:
    try:
        return sock.gettimeout() if sock is not None else None
    except OSError:
        return None


def _settimeout(sock: Any, value: float | None) -> None:
    if sock is None:
        return
    try:
        sock.settimeout(value)
    except OSError:
        pass
