"""Helpers shared by the CLI commands: config loading with friendly errors."""

from __future__ import annotations

import click

from workers.config import Config, check_api, load_config
from workers.errors import ConfigError

config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                             envvar="BRIDGE_CONFIG", help="bridge.yaml (default: $BRIDGE_CONFIG, else environment only)")


def load_or_exit(path: str | None, *, needs_api: bool = False) -> Config:
    """The config, or exit with the message (no traceback); `needs_api`: refuse one that cannot write
    to the Customers API (web and worker: better now than after a 202)."""
    try:
        config = load_config(path)
        if needs_api:
            check_api(config)
        return config
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
