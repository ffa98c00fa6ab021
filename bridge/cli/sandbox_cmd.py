"""`cstar-bridge sandbox`: the Customers API emulator alone (the sandbox package loads on use)."""

from __future__ import annotations

import click


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8100, show_default=True, type=int, help="0 picks a free port")
@click.option("--rate-limit", default=0, show_default=True, type=click.IntRange(min=0),
              help="requests per window per API key (0 = no limit)")
@click.option("--rate-window", default=60.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="rate limit window in seconds")
@click.option("--quiet", is_flag=True, help="do not log every request")
@click.option("--get-shape", type=click.Choice(["full", "documented"]), default="full", show_default=True,
              help="documented: GET of a customer answers exactly the spec example's fields (no metadata)")
def sandbox_cmd(host: str, port: int, rate_limit: int, rate_window: float, quiet: bool, get_shape: str) -> None:
    """Run the Customers API emulator (team_dev: sk_test_dev, pk_test_dev; team_other: sk_test_other)."""
    from sandbox.server import serve

    serve(host, port, rate_limit, rate_window, quiet=quiet, get_shape=get_shape)
