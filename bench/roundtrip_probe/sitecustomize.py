"""Counts a process's Redis round trips by who made them (bench/roundtrips.py puts this directory on
PYTHONPATH of the worker it measures; nothing else imports it).

One round trip is one `send_packed_command` of redis-py (a command, a pipeline or a transaction, a
script call; a blocking BRPOP is one too). Each is put down to the innermost caller outside redis-py:
`celery` for celery/kombu/billiard, `ours` for the bridge's own packages, keyed by file and function.
The counts go to `$CSTAR_BENCH_ROUNDTRIPS_DIR/rt-<pid>.json`, rewritten every half second.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading

_DIR = os.environ.get("CSTAR_BENCH_ROUNDTRIPS_DIR")


def _install(directory: str) -> None:
    import redis.connection as rc

    counts: dict[str, int] = {}
    lock = threading.Lock()
    state = {"pid": os.getpid(), "dirty": False}
    original = rc.AbstractConnection.send_packed_command
    redis_dir = os.path.dirname(rc.__file__) + os.sep

    def site() -> str:
        f = sys._getframe(2)
        while f is not None and f.f_code.co_filename.startswith(redis_dir):
            f = f.f_back
        if f is None:
            return "other:?"
        path = f.f_code.co_filename
        for lib in ("kombu", "celery", "billiard"):
            if f"{os.sep}{lib}{os.sep}" in path:
                return f"celery:{lib}/{path.rsplit(os.sep + lib + os.sep, 1)[1]}:{f.f_code.co_name}"
        for pkg in ("workers", "bridge", "rules"):
            marker = f"{os.sep}{pkg}{os.sep}"
            if marker in path:
                return f"ours:{pkg}/{path.rsplit(marker, 1)[1]}:{f.f_code.co_name}"
        return f"other:{os.path.basename(path)}:{f.f_code.co_name}"

    def counted(self: object, command: object, check_health: bool = True) -> object:
        key = site()
        with lock:
            if state["pid"] != os.getpid():   # a forked child starts from zero
                counts.clear()
                state["pid"] = os.getpid()
            counts[key] = counts.get(key, 0) + 1
            state["dirty"] = True
        return original(self, command, check_health)

    def flush() -> None:
        with lock:
            if not state["dirty"] or state["pid"] != os.getpid():
                return
            snapshot = dict(counts)
            state["dirty"] = False
        path = os.path.join(directory, f"rt-{os.getpid()}.json")
        with open(path + ".tmp", "w") as fh:
            json.dump(snapshot, fh)
        os.replace(path + ".tmp", path)

    def loop() -> None:
        while True:
            threading.Event().wait(0.5)
            try:
                flush()
            except OSError:
                pass

    def start_thread() -> None:
        threading.Thread(target=loop, name="roundtrip-probe", daemon=True).start()

    rc.AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    start_thread()
    os.register_at_fork(after_in_child=start_thread)
    atexit.register(flush)


if _DIR:
    _install(_DIR)
