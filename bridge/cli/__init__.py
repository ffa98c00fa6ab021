"""`cstar-bridge`: one console script; each command lives in its own module and loads on use."""

from __future__ import annotations

import importlib
from typing import Any

import click

COMMANDS: dict[str, str] = {
    "dev": "bridge.cli.dev:dev_cmd",
    "sandbox": "bridge.cli.sandbox_cmd:sandbox_cmd",
    "rules": "bridge.cli.rules_cmd:rules_group",
    "simulate": "bridge.cli.rules_cmd:simulate_cmd",
    "web": "bridge.cli.serve:web_cmd",
    "worker": "bridge.cli.serve:worker_cmd",
    "events": "bridge.cli.events_cmd:events_group",
}

HELP = {
    "dev": "Run the whole stack: Redis, the bridge, a worker and the sandbox.",
    "sandbox": "Run the Customers API emulator alone.",
    "rules": "Lint and test rule files.",
    "simulate": "Show what an event would do, without sending anything.",
    "web": "Run the ingress under gunicorn (production).",
    "worker": "Run a Celery worker (production).",
    "events": "List, show and replay events (dead letters).",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        cmd: click.Command = getattr(importlib.import_module(module), attr)
        return cmd

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a Redis or broker that does not answer is a message, never a traceback."""
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if not isinstance(exc, _connection_errors()):
                raise
            from bridge.cli.common import REDIS_META, connection_error_message

            # meta is shared by every context of the invocation: the subcommand recorded its Redis URL
            raise click.ClickException(connection_error_message(exc, ctx.meta.get(REDIS_META))) from None

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(n, HELP.get(n, "")) for n in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cstar-bridge")
def main() -> None:
    """cstar-bridge: form and automation webhooks -> cstar.help customers, driven by YAML rules."""


def _connection_errors() -> tuple[type[BaseException], ...]:
    """Redis, kombu (the broker) and socket errors that mean "nothing answers there"."""
    import redis
    from kombu.exceptions import OperationalError

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError,
            ConnectionError, TimeoutError)
