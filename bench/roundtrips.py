"""Redis round trips per event, counted in the worker processes themselves and split by who made
them: Celery (kombu's fetch, acks, restores) or the bridge's own code (by file and function).

INFO commandstats counts commands, including those a Lua script or a MULTI runs, so it cannot tell
how often a worker waited on Redis. `RoundTrips.env()` puts `bench/roundtrip_probe` on the worker's
PYTHONPATH (its sitecustomize counts every redis-py send, see there); `totals()` adds up what every
process of that worker counted. Counts include the worker's start-up (a few dozen) and its periodic
work (heartbeats, the reconciler), spread over the events of the run.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Mapping

from bench.common import workdir

PROBE = Path(__file__).resolve().parent / "roundtrip_probe"


class RoundTrips:
    """One directory of per-process counts (one measured worker)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="roundtrips-", dir=workdir()))   # removed with the run's workdir

    def env(self, env: Mapping[str, str]) -> dict[str, str]:
        """`env` with the probe switched on for the processes started with it."""
        path = env.get("PYTHONPATH", "")
        return {**env, "PYTHONPATH": f"{PROBE}:{path}" if path else str(PROBE),
                "CSTAR_BENCH_ROUNDTRIPS_DIR": str(self.dir)}

    def totals(self) -> dict[str, int]:
        """Round trips by site, summed over every process that wrote counts."""
        out: dict[str, int] = {}
        for f in self.dir.glob("rt-*.json"):
            try:
                counts = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            for k, v in counts.items():
                out[k] = out.get(k, 0) + int(v)
        return out


def per_event(totals: Mapping[str, int], events: int) -> dict[str, Any]:
    """Round trips per event: all, the bridge's own, Celery's, and the bridge's by site."""
    n = max(1, events)
    ours = {k.removeprefix("ours:"): v for k, v in totals.items() if k.startswith("ours:")}
    celery = {k.removeprefix("celery:"): v for k, v in totals.items() if k.startswith("celery:")}
    other = {k: v for k, v in totals.items() if not k.startswith(("ours:", "celery:"))}
    return {
        "all": sum(totals.values()) / n,
        "ours": sum(ours.values()) / n,
        "celery": sum(celery.values()) / n,
        "other": sum(other.values()) / n,
        "ours_by_site": {k: round(v / n, 2) for k, v in sorted(ours.items(), key=lambda kv: -kv[1])},
        "celery_by_site": {k: round(v / n, 2) for k, v in sorted(celery.items(), key=lambda kv: -kv[1])},
        "other_by_site": {k: round(v / n, 2) for k, v in sorted(other.items(), key=lambda kv: -kv[1])},
    }
