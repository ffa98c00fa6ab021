"""Production processes: `web` (gunicorn) and `worker` (Celery), thin wrappers with sane defaults."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

import click

from bridge.cli.common import config_option, load_or_exit


WORKER_CLASSES = ("gevent", "gthread", "sync")


def gunicorn_command(host: str, port: int, workers: int, *, worker_class: str = "gevent",
                     threads: int = 4) -> list[str]:
    """The gunicorn command `web` and `dev` both run: bridge.gunicorn_conf's settings (gevent workers,
    bounded header and body time, redacted logs, access log on stdout)."""
    args = [sys.executable, "-m", "gunicorn", "bridge:create_app()", "--bind", f"{host}:{port}",
            "--workers", str(workers), "--worker-class", worker_class, "--config", "python:bridge.gunicorn_conf"]
    if worker_class == "gthread":
        args += ["--threads", str(threads)]
    return args


@click.command("web")
@config_option
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", "-w", default=2, show_default=True, type=int, help="gunicorn worker processes")
@click.option("--worker-class", default="gevent", show_default=True, type=click.Choice(WORKER_CLASSES),
              help="gevent keeps serving while slow clients trickle; gthread/sync give each one a thread")
@click.option("--threads", default=4, show_default=True, type=int, help="threads per worker (gthread only)")
def web_cmd(config_path: str | None, host: str, port: int, workers: int, worker_class: str, threads: int) -> None:
    """Serve `bridge:create_app()` with gunicorn."""
    load_or_exit(config_path, needs_api=True)  # fail here, with the message, not in every gunicorn worker
    if config_path:
        os.environ["BRIDGE_CONFIG"] = config_path
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # /metrics adds up every gunicorn worker's counters (prometheus_client's multiprocess mode);
        # a fresh directory per start, as that mode requires.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cstar-bridge-metrics-")
    args = gunicorn_command(host, port, workers, worker_class=worker_class, threads=threads)
    os.execv(sys.executable, args)


POOLS = ("threads", "prefork", "gevent")
DEFAULT_POOL = "threads"
DEFAULT_CONCURRENCY = 64   # tasks in flight per worker process (threads, gevent); processes for prefork


def celery_worker_command(queue: str, *, pool: str = DEFAULT_POOL, concurrency: int = DEFAULT_CONCURRENCY,
                          loglevel: str = "info") -> list[str]:
    """The Celery worker command `worker` and `dev` both run. A worker waits on the API almost all the
    time, so one process keeps many events in flight, each in a thread (the time limits and the
    memory guard are workers.pool_guards'); `--pool prefork -c N` is N processes, one event each."""
    return [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queue, "-P", pool,
            "-c", str(concurrency), "-l", loglevel, "--without-gossip", "--without-mingle"]


def pool_options(f: Any) -> Any:
    """`--pool` and `--concurrency`, the same for `worker` and `dev`."""
    f = click.option("--concurrency", "-c", default=DEFAULT_CONCURRENCY, show_default=True, type=click.IntRange(1),
                     help="events in flight at once: threads, processes (prefork) or greenlets (gevent)")(f)
    return click.option("--pool", "-P", default=DEFAULT_POOL, show_default=True, type=click.Choice(POOLS),
                        help="threads: one process, many events in flight (the API's latency, not processes, "
                             "bounds throughput); prefork: a process per event; gevent: greenlets (only "
                             "the hard time limit, CPU work stops every event of the process)")(f)


@click.command("worker")
@config_option
@pool_options
@click.option("--loglevel", "-l", default="info", show_default=True)
def worker_cmd(config_path: str | None, pool: str, concurrency: int, loglevel: str) -> None:
    """Run a Celery worker on the bridge's queue (`celery -A workers worker` with defaults)."""
    cfg = load_or_exit(config_path, needs_api=True)
    if config_path:
        os.environ["BRIDGE_CONFIG"] = config_path
    args = celery_worker_command(cfg.queue, pool=pool, concurrency=concurrency, loglevel=loglevel)
    os.execv(sys.executable, args)
