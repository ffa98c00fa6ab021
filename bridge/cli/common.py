"""Helpers shared by the CLI commands: config loading with friendly errors."""

from __future__ import annotations

import click

from workers.config import Config, load_config
from workers.errors import ConfigError

config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                             envvar="BRIDGE_CONFIG", help="bridge.yaml (default: $BRIDGE_CONFIG, else environment only)")


def load_or_exit(path: str | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
