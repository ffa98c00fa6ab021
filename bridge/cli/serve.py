"""Production processes: `web` (gunicorn) and `worker` (Celery), thin wrappers with sane defaults."""

from __future__ import annotations

import os
import sys
import tempfile

import click

from bridge.cli.common import config_option, load_or_exit


@click.command("web")
@config_option
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", "-w", default=2, show_default=True, type=int, help="gunicorn worker processes")
@click.option("--threads", default=4, show_default=True, type=int)
def web_cmd(config_path: str | None, host: str, port: int, workers: int, threads: int) -> None:
    """Serve `bridge:create_app()` with gunicorn."""
    load_or_exit(config_path, needs_api=True)  # fail here, with the message, not in every gunicorn worker
    if config_path:
        os.environ["BRIDGE_CONFIG"] = config_path
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # /metrics adds up every gunicorn worker's counters (prometheus_client's multiprocess mode);
        # a fresh directory per start, as that mode requires.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cstar-bridge-metrics-")
    args = [sys.executable, "-m", "gunicorn", "bridge:create_app()", "--bind", f"{host}:{port}",
            "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread",
            "--config", "python:bridge.gunicorn_conf", "--access-logfile", "-"]
    os.execv(sys.executable, args)


@click.command("worker")
@config_option
@click.option("--concurrency", "-c", default=2, show_default=True, type=int)
@click.option("--loglevel", "-l", default="info", show_default=True)
def worker_cmd(config_path: str | None, concurrency: int, loglevel: str) -> None:
    """Run a Celery worker on the bridge's queue (`celery -A workers worker` with defaults)."""
    cfg = load_or_exit(config_path, needs_api=True)
    if config_path:
        os.environ["BRIDGE_CONFIG"] = config_path
    args = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", cfg.queue, "-c", str(concurrency),
            "-l", loglevel, "--without-gossip", "--without-mingle"]
    os.execv(sys.executable, args)
