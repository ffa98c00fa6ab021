"""What the benchmarks share: the processes they start and the bridge config they write.

    redis-server   workers.redis_server (AOF on, noeviction: as in production)
    sandbox        `python -m sandbox` on a free port, and its /_sandbox hooks
    gunicorn       `--worker-class gthread`, the way production serves `bridge:create_app()`
    celery         `python -m celery -A workers worker -Q <queue> -c N` (prefork)
    config         a bridge.yaml in the run's temp dir: source `bench` (json adapter, token auth),
                   bench/rules.yaml, production defaults otherwise

Each process runs in its own session and is stopped by its own pid (never by name); whatever is
still running is stopped at exit, also on Ctrl-C or SIGTERM. Load generation is in bench/load.py,
numbers and output in bench/report.py.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.report import descendants  # noqa: E402
from workers.redis_server import RedisServer, free_port  # noqa: E402

PY = sys.executable
RULES = REPO / "bench" / "rules.yaml"
SOURCE = "bench"
TOKEN = "bench-token"
ADMIN = "bench-admin"
API_KEY = "sk_test_dev"
TEAM = "team_dev"

_LIVE: list["Proc"] = []
_CLEANUPS: list[Callable[[], None]] = []


# --- processes ----------------------------------------------------------------------------------------

class Proc:
    """A child process in its own session, output in a log file, stopped by its pid."""

    def __init__(self, name: str, args: Sequence[str], *, env: Mapping[str, str] | None = None,
                 log_dir: Path | None = None, cwd: Path = REPO) -> None:
        self.name = name
        self.args = list(args)
        self.env = dict(env or child_env())
        self.cwd = cwd
        self.log_path = (log_dir or workdir()) / f"{name}-{int(time.time() * 1000) % 10**8}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "Proc":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=self.cwd, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        _LIVE.append(self)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        """This process and all its descendants (gunicorn workers, Celery pool processes)."""
        return [self.pid] + descendants(self.pid) if self.alive() else []

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def wait_for_log(self, needle: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise self._exited()
            if needle in self.log_text():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: {needle!r} not seen within {timeout} s:\n{self.log_tail()}")

    def wait_http(self, url: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise self._exited()
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: {url} did not answer 200 within {timeout} s:\n{self.log_tail()}")

    def _exited(self) -> RuntimeError:
        code = self.proc.returncode if self.proc else None
        return RuntimeError(f"{self.name} exited with {code}:\n{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the process group it leads, SIGKILL after `timeout`."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self in _LIVE:
            _LIVE.remove(self)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the child leads its own session: the group is exactly its tree
    except (ProcessLookupError, PermissionError):
        pass


def stop_all() -> None:
    for proc in reversed(list(_LIVE)):
        proc.stop(10)
    for fn in reversed(_CLEANUPS):
        try:
            fn()
        except Exception:
            pass
    _CLEANUPS.clear()


def _on_term(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


atexit.register(stop_all)
if multiprocessing.current_process().name == "MainProcess":  # not in a load generator's or replayer's pool
    signal.signal(signal.SIGTERM, _on_term)

_WORKDIR: Path | None = None


def workdir() -> Path:
    """One temp dir per run (configs, logs, Redis data); removed at exit unless BENCH_KEEP=1."""
    global _WORKDIR
    if _WORKDIR is None:
        _WORKDIR = Path(tempfile.mkdtemp(prefix="cstar-bench-"))
        if not os.environ.get("BENCH_KEEP"):
            _CLEANUPS.insert(0, lambda: shutil.rmtree(_WORKDIR, ignore_errors=True))  # type: ignore[arg-type]
    return _WORKDIR


def child_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would reconfigure the bridge behind the bench's back."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "CSTAR_", "REDIS_URL"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def start_redis(*, aof: bool = True) -> RedisServer:
    """A redis-server configured as in production (AOF everysec, noeviction)."""
    server = RedisServer(data_dir=workdir() / f"redis-{free_port()}", aof=aof).start()
    _CLEANUPS.append(server.cleanup)
    return server


class Sandbox:
    """`python -m sandbox` on a free port, and its /_sandbox hooks."""

    def __init__(self, *, rate_limit: int = 0, rate_window: float = 60.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = Proc("sandbox", [PY, "-m", "sandbox", "--host", "127.0.0.1", "--port", str(self.port),
                                     "--quiet", "--rate-limit", str(rate_limit),
                                     "--rate-window", str(rate_window)])
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def start(self) -> "Sandbox":
        self.proc.start()
        self.proc.wait_http(self.url + "/_sandbox/stats")
        return self

    def stop(self) -> None:
        self.http.close()
        self.proc.stop()

    def reset(self, **options: Any) -> None:
        self.http.post("/_sandbox/reset", json=options).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return dict(self.http.get("/_sandbox/stats").json())

    def calls(self, since: int = 0) -> list[dict[str, Any]]:
        return list(self.http.get(f"/_sandbox/calls?since={since}").json()["calls"])

    def last_seq(self) -> int:
        calls = self.calls()
        return int(calls[-1]["seq"]) if calls else 0

    def customers(self) -> list[dict[str, Any]]:
        return list(self.http.get(f"/_sandbox/customers?team={TEAM}").json()["customers"])

    def create_customers(self, people: Iterable[Mapping[str, Any]]) -> list[str]:
        """Create customers straight through the API (not counted against anything the bridge does)."""
        ids = []
        for body in people:
            r = self.http.post(f"/api/v1/teams/{TEAM}/customers", json=dict(body),
                               headers={"Authorization": f"Bearer {API_KEY}"})
            r.raise_for_status()
            ids.append(r.json()["data"]["id"])
        return ids


def start_gunicorn(app: str, env: Mapping[str, str], *, workers: int, threads: int, name: str,
                   health: str = "/healthz", extra: Sequence[str] = ()) -> tuple[Proc, str]:
    """`gunicorn <app>` with the gthread worker class, the way production runs the bridge."""
    port = free_port()
    args = [PY, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--threads", str(threads), "--worker-class", "gthread", "--log-level", "warning", *extra]
    proc = Proc(name, args, env=env).start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_http(url + health)
    # All workers up (gunicorn answers as soon as the first one is).
    deadline = time.monotonic() + 30
    while len(descendants(proc.pid)) < workers and time.monotonic() < deadline:
        time.sleep(0.1)
    return proc, url


def start_celery(env: Mapping[str, str], queue: str, *, concurrency: int, name: str = "w1",
                 loglevel: str = "warning") -> Proc:
    """`celery -A workers worker -Q <queue> -c N` (prefork), at production's default log level.

    Ready when the banner is out and the pool's processes exist; the callers' warm-up events (which
    they wait for) make sure it consumes.
    """
    args = [PY, "-m", "celery", "-A", "workers", "worker", "-Q", queue, "-c", str(concurrency),
            "-P", "prefork", "-l", loglevel, "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
            "--without-heartbeat"]
    proc = Proc(f"celery-{name}", args, env=env).start()
    proc.wait_for_log("[queues]")
    deadline = time.monotonic() + 60
    while len(descendants(proc.pid)) < concurrency:
        if time.monotonic() > deadline or not proc.alive():
            raise RuntimeError(f"celery pool did not start:\n{proc.log_tail()}")
        time.sleep(0.1)
    time.sleep(0.5)
    return proc


# --- the bridge's config ------------------------------------------------------------------------------

def write_config(redis_url: str, *, sandbox_url: str = "http://127.0.0.1:9", broker_url: str | None = None,
                 queue: str = "bench", prefix: str = "bench:", cstar: Mapping[str, Any] | None = None,
                 worker: Mapping[str, Any] | None = None, rules: Sequence[str | Path] = (RULES,),
                 name: str = "bridge") -> Path:
    """A bridge.yaml for the bench in the run's temp dir; production defaults unless overridden."""
    cfg: dict[str, Any] = {
        "redis_url": redis_url,
        "key_prefix": prefix,
        "queue": queue,
        "admin_token": ADMIN,
        "cstar": {"api_url": sandbox_url, "team_id": TEAM, "api_key": API_KEY, **(cstar or {})},
        "sources": {SOURCE: {"adapter": "json", "verify": {"scheme": "token", "secret": TOKEN}}},
        "rules": [str(p) for p in rules],
    }
    if broker_url:
        cfg["broker_url"] = broker_url
    if worker:
        cfg["worker"] = dict(worker)
    path = workdir() / f"{name}-{free_port()}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def bridge_env(config_path: Path) -> dict[str, str]:
    return child_env(BRIDGE_CONFIG=str(config_path))


def load_bridge(config_path: Path) -> Any:
    """The bridge's Flask app in this process (the same factory gunicorn uses)."""
    from bridge import create_app
    from workers.config import load_config

    return create_app(load_config(config_path, env={}))
