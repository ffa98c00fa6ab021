"""Log lines about failures without payload values: the exception's type and where it was raised,
never its message (a ValueError's message can quote the payload: an email, a free-text answer).
The full message is stored with the event (dead-letter reason, last error), where the source's `pii`
policy and the admin token govern who sees it."""

from __future__ import annotations

import traceback


def exception_summary(exc: BaseException, *, frames: int = 8) -> str:
    """`ValueError at workers/pipeline.py:120 in _apply < …`: the type and the innermost frames."""
    stack = traceback.extract_tb(exc.__traceback__)[-frames:]
    where = " < ".join(f"{_short(f.filename)}:{f.lineno} in {f.name}" for f in reversed(stack))
    return f"{type(exc).__name__}" + (f" at {where}" if where else "")


def _short(path: str) -> str:
    for root in ("/workers/", "/bridge/", "/rules/", "/site-packages/"):
        if root in path:
            return root.strip("/") + "/" + path.split(root, 1)[1] if root != "/site-packages/" else path.split(root, 1)[1]
    return path.rsplit("/", 1)[-1]
