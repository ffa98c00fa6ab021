"""The rule sets that evaluated stored events, kept in Redis so that their traces can be worded later.

An event keeps its evaluation's verdicts (workers.stored_trace), which name the rule set by its content
fingerprint. So that a reader can word them after the rule files were edited, a worker keeps the files
it compiled — (base name, text) in load order, exactly what the fingerprint is computed from — under

    ruleset:<content fingerprint>     JSON {"format": 1, "files": [[base name, text], …]}   (TTL)

The key lives as long as any event those workers stored can: `event_ttl` or the longest source
`retention`, whichever is longer, plus the refresh interval. A worker sets it before the first verdicts
it stores and again at most once per `REFRESH_EVERY` seconds per process, piggy-backing no round trip
on the events in between: a key refreshed at most that long ago outlives every event stored since.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import Any

import redis

from rules import Ruleset
from rules.lint import kept_sources
from workers.retention import policy_for

FORMAT = 1
REFRESH_EVERY = 3600.0  # seconds; at most one SET per process per interval


def kept_rules_ttl(config: Any) -> int:
    """How long a kept rule set must live: as long as the longest-lived event, plus the refresh interval."""
    longest = max([config.event_ttl] + [policy_for(config, name).retention or 0 for name in config.sources])
    return int(longest + REFRESH_EVERY)


class KeptRules:
    """Rule sets kept in Redis by their content fingerprint (see the module docstring)."""

    def __init__(self, client: redis.Redis, prefix: str, ttl: int = 0) -> None:
        self.r = client
        self.prefix = prefix
        self.ttl = ttl
        self._kept_at: dict[str, float] = {}  # fingerprint → when this process last set it (monotonic)
        self._lock = threading.Lock()

    def key(self, fingerprint: str) -> str:
        return f"{self.prefix}ruleset:{fingerprint}"

    def keep(self, ruleset: Ruleset) -> bool:
        """Set the rule set's key with its TTL when this process has not done so in the last
        REFRESH_EVERY seconds (True when it did now). Called whenever verdicts are stored."""
        fp = ruleset.content_fingerprint
        now = time.monotonic()
        with self._lock:  # tasks of a threads or gevent pool store at once: one of them sets it
            last = self._kept_at.get(fp)
            if last is not None and now - last < REFRESH_EVERY:
                return False
            self._kept_at[fp] = now
        text = json.dumps({"format": FORMAT, "files": kept_sources(ruleset)}, separators=(",", ":"))
        try:
            self.r.set(self.key(fp), text, ex=self.ttl)
        except BaseException:
            with self._lock:
                self._kept_at.pop(fp, None)  # not kept: try again with the next event
            raise
        return True

    def load(self, fingerprint: str) -> list[tuple[str, str]] | None:
        """The kept files (base name, text) of this rule set; None when not kept (never, or expired)
        or not readable."""
        raw = self.r.get(self.key(fingerprint))
        if raw is None:
            return None
        try:
            kept = json.loads(raw)
        except ValueError:
            return None
        files = kept.get("files") if isinstance(kept, dict) and kept.get("format") == FORMAT else None
        if not isinstance(files, list) or not all(_is_file(f) for f in files):
            return None
        return [(f[0], f[1]) for f in files]


def _is_file(item: Sequence[Any]) -> bool:
    return isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)
