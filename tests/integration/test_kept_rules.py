"""The rule set a worker evaluated with, kept in Redis by its content fingerprint (workers.kept_rules):
set before the first verdicts a process stores, refreshed at most once per REFRESH_EVERY (no round
trip per event), living as long as the longest-lived event, and read back exactly as compiled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from rules import load_ruleset
from rules.lint import kept_ruleset
from tests.support.stack import RULES_DIR
from workers import kept_rules
from workers.config import load_config
from workers.kept_rules import REFRESH_EVERY, KeptRules, kept_rules_ttl

pytestmark = pytest.mark.integration


class Counted(redis.Redis):
    """A real client that counts the commands it sends."""

    sent: list[str]

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]))
        return super().execute_command(*args, **options)


def test_a_process_keeps_its_rule_set_once_per_interval_and_reads_it_back(redis_url: str, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    r = Counted.from_url(redis_url)
    r.sent = []
    ruleset = load_ruleset([RULES_DIR / "basic.yaml"])
    kept = KeptRules(r, f"kept-{tmp_path.name}:", ttl=7200)
    key = kept.key(ruleset.content_fingerprint)
    clock = [1000.0]
    monkeypatch.setattr(kept_rules.time, "monotonic", lambda: clock[0])

    assert kept.keep(ruleset) and r.sent == ["SET"]
    assert 7000 < r.ttl(key) <= 7200
    for _ in range(50):  # the events in between: no round trip
        clock[0] += REFRESH_EVERY / 100
        assert not kept.keep(ruleset)
    assert r.sent == ["SET", "TTL"]
    clock[0] += REFRESH_EVERY / 2
    assert kept.keep(ruleset) and r.sent[-1] == "SET"  # refreshed once the interval is over

    files = kept.load(ruleset.content_fingerprint)
    assert files == [("basic.yaml", (RULES_DIR / "basic.yaml").read_text())]
    again = kept_ruleset(files)
    assert again is not None and again.content_fingerprint == ruleset.content_fingerprint
    assert [(x.id, x.file, x.line) for x in again.rules] == [(x.id, "basic.yaml", x.line) for x in ruleset.rules]
    assert kept.load("0" * 64) is None  # never kept, or expired
    r.delete(key)


def test_a_kept_rule_set_lives_as_long_as_the_longest_lived_event(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump({"event_ttl": 3 * 86400, "rules": [str(RULES_DIR / "basic.yaml")], "sources": {
        "a": {"adapter": "json", "verify": {"scheme": "none"}},
        "b": {"adapter": "json", "verify": {"scheme": "none"}, "retention": "60d"}}}))
    assert kept_rules_ttl(load_config(path, env={})) == 60 * 86400 + REFRESH_EVERY
    path.write_text(yaml.safe_dump({"event_ttl": 3 * 86400, "rules": [str(RULES_DIR / "basic.yaml")]}))
    assert kept_rules_ttl(load_config(path, env={})) == 3 * 86400 + REFRESH_EVERY
