"""The events the end-to-end benchmarks send, and how they read back what became of them.

`BenchBridge` is the bridge's Flask app in the benchmark's own process (the factory gunicorn uses),
posting through its test client: no HTTP server competes with the workers for the two cores, and
`accepted_at` is stamped by the same code as in production. Event timings come from the event
hash: `accepted_at` (epoch float, set by the ingress) and `updated_at` (ms resolution, set when
the worker stores the outcome).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from bench.common import SOURCE, TOKEN, load_bridge

TERMINAL = ("done", "dead", "ignored", "failed")


class BenchBridge:
    def __init__(self, config_path: Path) -> None:
        self.app = load_bridge(config_path)
        self.http = self.app.test_client()
        state = self.app.extensions["cstar_bridge"]
        self.store = state.store
        self.redis = state.redis
        self.prefix = state.config.key_prefix
        self.queue = state.config.queue

    def post(self, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> str:
        """POST one event; its id (raises on anything but 202/200)."""
        resp = self.http.post(f"/hooks/{SOURCE}", data=json.dumps(body), content_type="application/json",
                              headers={"X-Bridge-Token": TOKEN, **(headers or {})})
        if resp.status_code not in (200, 202):
            raise RuntimeError(f"POST /hooks/{SOURCE} answered {resp.status_code}: "
                               f"{resp.get_data(as_text=True)}")
        return str(resp.get_json()["data"]["eventId"])

    def post_all(self, bodies: Iterable[Mapping[str, Any]]) -> list[str]:
        return [self.post(b) for b in bodies]

    def post_paced(self, bodies: Sequence[Mapping[str, Any]], rate: float) -> list[str]:
        """Open loop: event i is posted at t0 + i/rate, whatever happened to the ones before."""
        ids = []
        t0 = time.perf_counter()
        for i, body in enumerate(bodies):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            ids.append(self.post(body))
        return ids

    def fields(self, ids: Sequence[str], names: Sequence[str]) -> list[list[str | None]]:
        """HMGET `names` of each event hash, pipelined."""
        out: list[list[str | None]] = []
        for i in range(0, len(ids), 2000):
            pipe = self.redis.pipeline(transaction=False)
            for eid in ids[i:i + 2000]:
                pipe.hmget(self.store.event_key(eid), *names)
            for vals in pipe.execute():
                out.append([v.decode() if isinstance(v, bytes) else v for v in vals])
        return out

    def wait(self, ids: Sequence[str], *, timeout: float, poll: float = 0.1,
             progress: Callable[[int, int], None] | None = None) -> int:
        """Wait until every event is terminal (or the timeout); how many are."""
        deadline = time.monotonic() + timeout
        while True:
            done = sum(1 for (s,) in self.fields(ids, ["status"]) if s in TERMINAL)
            if progress:
                progress(done, len(ids))
            if done >= len(ids) or time.monotonic() > deadline:
                return done
            time.sleep(poll)

    def wait_ledger(self, *, timeout: float, poll: float = 0.05) -> bool:
        """Wait until no accepted event is unfinished (the ledger is empty): one ZCARD per poll, so
        the benchmark's own Redis traffic stays out of the worker's numbers."""
        deadline = time.monotonic() + timeout
        while int(self.redis.zcard(self.store.pending_key)):
            if time.monotonic() > deadline:
                return False
            time.sleep(poll)
        return True

    def command_counts(self) -> dict[str, int]:
        """Redis's calls per command so far (INFO commandstats)."""
        stats = self.redis.info("commandstats")
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}

    def timings(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Per event: status, accepted and finished (epoch s), API calls it recorded."""
        out = []
        values = self.fields(ids, ["status", "accepted_at", "updated_at", "calls"])
        for eid, (status, accepted, updated, calls) in zip(ids, values, strict=True):
            finished = iso_to_epoch(updated) if status in TERMINAL else None
            out.append({"id": eid, "status": status, "accepted": float(accepted) if accepted else None,
                        "finished": finished, "calls": json.loads(calls) if calls else []})
        return out


def iso_to_epoch(text: str | None) -> float | None:
    """`2026-01-02T03:04:05.123Z` (or without the fraction) -> epoch seconds."""
    if not text:
        return None
    import calendar

    base, _, frac = text.rstrip("Z").partition(".")
    try:
        secs = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    return secs + (float("0." + frac) if frac else 0.0)


# --- the mix ------------------------------------------------------------------------------------------

def new_customer(run: str, i: int) -> dict[str, Any]:
    """A first contact: create the customer with a tag and metadata."""
    return {"email": f"new-{run}-{i}@bench.test", "name": f"New {i}", "tag": "lead", "plan": "trial",
            "seats": i % 50 + 1}


def known_customer(email: str, i: int, tags: int | None = None) -> dict[str, Any]:
    """A later event for a customer the bridge has seen: a new tag and changed metadata. With `tags`,
    the tag cycles through that many (so a long run's customers do not grow without bound)."""
    return {"email": email, "tag": f"t{i % tags if tags else i}", "plan": ("pro", "team", "enterprise")[i % 3], "seats": i + 1}


def existing_emails(run: str, n: int) -> list[str]:
    return [f"known-{run}-{i}@bench.test" for i in range(n)]


def seed_bodies(emails: Sequence[str]) -> list[dict[str, Any]]:
    """Events that create the "existing" customers through the bridge (so it knows their ids)."""
    return [{"email": e, "name": f"Known {i}", "tag": "customer", "plan": "pro"}
            for i, e in enumerate(emails)]


def mix(n: int, *, run: str, existing: Sequence[str], new_fraction: float,
        offset: int = 0, tags: int | None = None) -> list[dict[str, Any]]:
    """n events, `new_fraction` of them for new customers, evenly interleaved; the rest cycle through
    `existing` (so one customer's events are len(existing) positions apart); `tags` as in
    known_customer."""
    out = []
    k = 0
    for i in range(offset, offset + n):
        if int((i + 1) * new_fraction) > int(i * new_fraction) or not existing:
            out.append(new_customer(run, i))
        else:
            out.append(known_customer(existing[k % len(existing)], i, tags))
            k += 1
    return out
