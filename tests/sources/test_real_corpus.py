"""The real corpus: deliveries written by others (provider docs, official SDK tests, other projects'
fixtures and captures), one test each: the person and readable keys come out as the provider's fields mean.

A file is `tests/sources/fixtures/real/<adapter>/<name>.json` holding `source` (its provenance, also in
SOURCES.md), `headers`, `content_type`, `body` (JSON, or text for a form body), optionally `options`,
and `expected`, written by hand from what the provider's fields mean:
- `type`: the event type;
- `person`: exactly the person keys (`email`, `name`, `first_name`, `last_name`, `phone`) that must come
  out, with their values; a key not listed must be absent;
- `keys`: exactly the keys of `fields` (form adapters), of `data` (`json`, `standard_webhooks`, `stripe`:
  the sender's keys, and the person keys beside them), or of `data` without the person keys (HubSpot
  property changes);
- `values` (optional): some of those keys with their values.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bridge.adapters import ADAPTER_MODULES, get_adapter
from bridge.adapters.common import readable_ref
from bridge.adapters.person import PERSON_KEYS
from bridge.inbound import Headers
from tests.sources.support import REAL, load_fixture, payload_of, real_files

FILES = real_files()
AS_SENT = ("json", "standard_webhooks", "stripe")   # data is the sender's object: keys are checked on it
SNAKE = re.compile(r"[^\W_]+(_[^\W_]+)*")  # lower-case words of any script joined by "_"


def _adapt(path: Path) -> tuple[dict[str, Any], Any]:
    fixture = load_fixture(path)
    event = get_adapter(path.parent.name).adapt(payload_of(fixture), Headers(fixture["headers"]),
                                                fixture.get("options", {}))
    return fixture, event


def _keyed(provider: str, data: Any) -> dict[str, Any]:
    if provider in AS_SENT:
        return dict(data)  # the sender's keys, and the person keys added beside them
    if "fields" not in data:
        return {k: v for k, v in data.items() if k not in PERSON_KEYS}
    return dict(data["fields"])


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_a_real_delivery_gives_the_person_and_readable_keys(path: Path) -> None:
    fixture, event = _adapt(path)
    expected = fixture["expected"]
    assert (event.type, event.ignored) == (expected["type"], False)
    assert {k: event.data[k] for k in PERSON_KEYS if k in event.data} == expected["person"]
    keyed = _keyed(path.parent.name, event.data)
    assert sorted(keyed) == sorted(expected["keys"])
    assert {k: keyed.get(k) for k in expected.get("values", {})} == expected.get("values", {})
    if path.parent.name not in AS_SENT:  # keys the adapter makes: snake case, never a generated id
        unreadable = [k for k in keyed if not SNAKE.fullmatch(k) or k != k.lower() or readable_ref(k) is None]
        assert unreadable == []


def test_every_provider_has_at_least_four_real_deliveries() -> None:
    counts = Counter(p.parent.name for p in FILES)
    adapters = {get_adapter(name).name for name in ADAPTER_MODULES}
    assert {name: counts.get(name, 0) for name in adapters if counts.get(name, 0) < 4} == {}


def test_every_real_delivery_has_its_provenance_in_sources_md() -> None:
    listed = (REAL / "SOURCES.md").read_text(encoding="utf-8")
    missing = [f"{p.parent.name}/{p.name}" for p in FILES if f"{p.parent.name}/{p.name}" not in listed]
    assert missing == []
    assert all(load_fixture(p).get("source") for p in FILES)
