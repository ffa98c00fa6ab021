"""`cstar-bridge events list|show|replay`: look at events and replay dead letters, straight from Redis."""

from __future__ import annotations

import json
from typing import Any

import click

from bridge.cli.common import Progress, config_option, load_or_exit
from bridge.events_query import STATUSES

_REPLAY_CHUNK = 25


def _store(config_path: str | None) -> Any:
    from workers.runtime import make_store, redis_client

    cfg = load_or_exit(config_path, beside_dev=True)
    return cfg, make_store(cfg, redis_client(cfg.redis_url))


@click.group("events")
def events_group() -> None:
    """Inspect and replay events."""


@events_group.command("list")
@config_option
@click.option("--status", type=click.Choice(STATUSES), default="pending", show_default=True)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
def list_cmd(config_path: str | None, status: str, limit: int, as_json: bool) -> None:
    """List events by status, newest first (the same listing as `GET /events` and the console)."""
    from bridge.events_query import find_events, parse_query

    cfg, store = _store(config_path)
    rows = find_events(store, parse_query({"status": status, "limit": limit}), cfg).events
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['id']}  {r.get('status') or '-':<10} {r.get('source') or '-':<12} "
                   f"{r.get('received_at') or '-'}  {r.get('reason') or ''}")
    click.echo(f"{len(rows)} event(s) with status {status}")


@events_group.command("rejected")
@config_option
@click.option("--source", help="only this source (`?`: deliveries to unknown sources)")
@click.option("--cause", help="only this cause, or a family (verification_failed)")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
def rejected_cmd(config_path: str | None, source: str | None, cause: str | None, limit: int, as_json: bool) -> None:
    """Deliveries refused with a 4xx, newest first, with their cause (the same as `GET /events/rejected`)."""
    from marshmallow import ValidationError

    from bridge.rejections import RejectedQuerySchema, rejection_log
    from workers.runtime import redis_client

    cfg = load_or_exit(config_path, beside_dev=True)
    try:
        query = RejectedQuerySchema().load({k: v for k, v in (("source", source), ("cause", cause),
                                                               ("limit", limit)) if v is not None})
    except ValidationError as exc:
        raise click.UsageError(f"{exc.messages}") from None
    rows = rejection_log(cfg, redis_client(cfg.redis_url)).recent(**query)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['at']}  {r['status']}  {r['source']:<12} {r['cause']:<36} {r['message'][:100]}")
    click.echo(f"{len(rows)} rejected deliver{'y' if len(rows) == 1 else 'ies'}")


@events_group.command("show")
@config_option
@click.argument("event_id")
def show_cmd(config_path: str | None, event_id: str) -> None:
    """Everything stored about one event: status, matched rules, trace, changes, API calls."""
    from bridge.event_detail import event_detail

    cfg, store = _store(config_path)
    ev = event_detail(store, cfg, event_id)
    if ev is None:
        raise click.ClickException(f"no event {event_id} (unknown, or expired)")
    click.echo(json.dumps(ev, indent=2, default=str))


@events_group.command("replay")
@config_option
@click.argument("event_ids", nargs=-1)
@click.option("--all-dead", is_flag=True, help="replay every dead letter")
def replay_cmd(config_path: str | None, event_ids: tuple[str, ...], all_dead: bool) -> None:
    """Replay dead events once their cause is fixed; each change still applies once."""
    from workers.celery_app import create_celery
    from workers.replay import dead_event_ids, replay
    from workers.tasks import PROCESS_EVENT

    cfg, store = _store(config_path)
    ids = list(dict.fromkeys(list(event_ids) + (dead_event_ids(store) if all_dead else [])))
    if not ids:
        if all_dead:
            click.echo("no dead letters to replay")
            return
        raise click.UsageError("name event ids or pass --all-dead")
    celery = create_celery(cfg)
    progress = Progress("replaying", len(ids))
    results: dict[str, str] = {}
    for start in range(0, len(ids), _REPLAY_CHUNK):  # each result as it happens: a long replay shows progress
        chunk = replay(store, lambda eid: celery.send_task(PROCESS_EVENT, args=[eid], task_id=eid),
                       ids[start:start + _REPLAY_CHUNK])
        for eid, res in chunk.items():
            click.echo(f"{eid}: {res}")
        results.update(chunk)
        progress.advance(len(chunk))
    progress.close()
    n = sum(1 for r in results.values() if r == "replayed")
    click.echo(f"{n} of {len(results)} replayed")
    if n < len(results):
        raise SystemExit(1)
