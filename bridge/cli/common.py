"""Helpers shared by the CLI commands: config loading with friendly errors, beside a running `dev` too."""

from __future__ import annotations

import os
import re
import sys

import click

from workers.config import Config, check_api, load_config
from workers.errors import ConfigError

config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                             envvar="BRIDGE_CONFIG", help="bridge.yaml (default: $BRIDGE_CONFIG, else the "
                             "running `cstar-bridge dev` of this directory, else environment only)")

REDIS_META = "cstar_bridge.redis_url"


def load_or_exit(path: str | None, *, needs_api: bool = False, beside_dev: bool = False) -> Config:
    """The config, or exit with the message (no traceback).

    `needs_api`: refuse one that cannot write to the Customers API (web and worker: better now than
    after a 202). `beside_dev`: with no config and no REDIS_URL named, use the addresses a running
    `cstar-bridge dev` recorded in this directory (.dev/runtime.json).
    """
    env = dict(os.environ)
    if beside_dev and not path:
        from bridge.cli.dev_runtime import dev_environment

        found = dev_environment(env)
        if found is not None:
            env, where = found
            path = env.get("BRIDGE_CONFIG") or None
            click.echo(f"(using the running `cstar-bridge dev` recorded in {where})", err=True)
    try:
        config = load_config(path, env=env)
        if needs_api:
            check_api(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[REDIS_META] = config.redis_url
    return config


def shown_url(url: str) -> str:
    """A Redis/broker URL without its password."""
    return re.sub(r"//([^@/]*)@", "//***@", url)


def connection_error_message(exc: BaseException, redis_url: str | None) -> str:
    """What to do when Redis (or the broker) does not answer: no traceback, the exports that fix it."""
    from bridge.cli.dev_runtime import RUNTIME_FILE

    where = f" at {shown_url(redis_url)}" if redis_url else ""
    reason = str(exc).strip() or type(exc).__name__
    if RUNTIME_FILE.exists():
        hint = (f"{RUNTIME_FILE} is here but the `cstar-bridge dev` that wrote it is not running: start it "
                f"again, or export REDIS_URL=redis://HOST:PORT/DB and BRIDGE_CONFIG=path/to/bridge.yaml")
    else:
        hint = ("if `cstar-bridge dev` runs, run this command in its directory (it records its addresses in "
                f"{RUNTIME_FILE}); otherwise export REDIS_URL=redis://HOST:PORT/DB (and "
                "BRIDGE_CONFIG=path/to/bridge.yaml) for the bridge's Redis")
    return f"cannot reach Redis{where}: {reason}\n{hint}"


class Progress:
    """`label: done/total` on stderr for a long run: redrawn in place on a terminal, else a line every
    tenth of the way. Short runs (under `minimum` items) print nothing."""

    def __init__(self, label: str, total: int, *, minimum: int = 20) -> None:
        self.label, self.total = label, total
        self.enabled = total >= minimum
        self.tty = sys.stderr.isatty()
        self.done = 0
        self._next_line = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        if self.tty:
            click.echo(f"\r{self.label}: {self.done}/{self.total}", err=True, nl=False)
        elif self.done >= self._next_line or self.done >= self.total:
            click.echo(f"{self.label}: {self.done}/{self.total}", err=True)
            self._next_line = self.done + max(1, self.total // 10)

    def close(self) -> None:
        if self.enabled and self.tty:
            click.echo("", err=True)
