"""Where a running `cstar-bridge dev` is: `.dev/runtime.json` in the directory it runs in.

`dev` picks a Redis port nobody else knows (an embedded redis-server) and sets the variables its
generated `bridge.yaml` reads. It records them here, and the CLI commands started beside it (`events
list`, …) use them when the shell names no config (`--config`, `BRIDGE_CONFIG`) and no `REDIS_URL`.
Only values `dev` chose itself are recorded (its demo tokens, the sandbox's test key, the addresses),
never a secret the user exported; the file is readable by its owner only and removed when dev stops.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

RUNTIME_FILE = Path(".dev") / "runtime.json"


def write_runtime(info: Mapping[str, Any], path: Path = RUNTIME_FILE) -> Path:
    """Record this dev run (atomically, mode 0600)."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"pid": os.getpid(), **info}, f, indent=2)
    os.replace(tmp, path)
    return path


def remove_runtime(path: Path = RUNTIME_FILE) -> None:
    """Forget this dev run (only if the file is still ours)."""
    found = read_runtime(path, alive_only=False)
    if found is not None and found.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def read_runtime(path: Path = RUNTIME_FILE, *, alive_only: bool = True) -> dict[str, Any] | None:
    """The record of the dev run in this directory, or None (no file, unreadable, or dev not running)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("env"), dict):
        return None
    if alive_only and not _alive(info.get("pid")):
        return None
    return info


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dev_environment(environ: Mapping[str, str]) -> tuple[dict[str, str], str] | None:
    """The environment to use beside a running dev, and where it came from — or None when the shell
    already says where things are (BRIDGE_CONFIG or REDIS_URL) or no dev runs here."""
    if environ.get("BRIDGE_CONFIG") or environ.get("REDIS_URL"):
        return None
    info = read_runtime()
    if info is None:
        return None
    env = {**environ, **{str(k): str(v) for k, v in info["env"].items()}}
    return env, str(RUNTIME_FILE)
