"""One test per fixture file: the provider's payload in, the exact normalized event out.

A fixture is `tests/fixtures/<adapter>/<event>__<variant>.json` holding `headers`, `content_type`,
`body` (JSON, or text for a form body), optionally `options` (the source's extra config) and `note`
(where it comes from), and `expected` (type, delivery_id, ignored, data).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bridge.adapters import ADAPTER_MODULES, AdaptedEvent, get_adapter
from bridge.inbound import Headers
from bridge.schemas import ENVELOPE
from tests.sources.support import FIXTURES, fixture_files, load_fixture, payload_of

FILES = fixture_files()
# Providers whose payload names an event type: each has a fixture of a type it does not handle.
TYPED_PROVIDERS = ("typeform", "tally", "webflow", "calendly", "stripe", "hubspot")


def _adapt(path: Path) -> tuple[dict[str, Any], AdaptedEvent]:
    fixture = load_fixture(path)
    adapter = get_adapter(path.parent.name)
    headers = Headers(fixture["headers"])
    return fixture, adapter.adapt(payload_of(fixture), headers, fixture.get("options", {}))


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_fixture_adapts_to_exactly_the_expected_event(path: Path) -> None:
    fixture, event = _adapt(path)
    expected = fixture["expected"]
    assert event.type == expected["type"]
    assert event.delivery_id == expected["delivery_id"]
    assert event.ignored is expected["ignored"]
    assert dict(event.data) == expected["data"]
    assert bool(event.ignored_reason) is expected["ignored"]


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_fixture_event_passes_the_ingress_envelope(path: Path) -> None:
    _, event = _adapt(path)
    loaded = ENVELOPE.load({"source": path.parent.name, "type": event.type, "data": dict(event.data),
                            "delivery_id": event.delivery_id, "idempotency_key": None})
    assert json.loads(json.dumps(loaded["data"])) == event.data


def test_every_fixture_folder_is_a_registered_adapter() -> None:
    folders = {p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name != "vectors"}
    assert folders <= set(ADAPTER_MODULES)


def test_every_handled_event_type_has_a_fixture() -> None:
    handled_by_fixture: dict[str, set[str]] = {}
    for path in FILES:
        expected = load_fixture(path)["expected"]
        if not expected["ignored"]:
            handled_by_fixture.setdefault(get_adapter(path.parent.name).name, set()).add(expected["type"])
    missing = []
    for name in ADAPTER_MODULES:
        adapter = get_adapter(name)
        seen = handled_by_fixture.get(adapter.name, set())
        wanted = set(adapter.event_types) - {"*"}
        if "*" in adapter.event_types and not seen:
            missing.append(f"{adapter.name}: any event")
        missing += [f"{adapter.name}: {t}" for t in sorted(wanted - seen)]
    assert missing == []


@pytest.mark.parametrize("provider", TYPED_PROVIDERS)
def test_every_typed_provider_has_an_unhandled_event_fixture(provider: str) -> None:
    ignored = [p for p in FILES if p.parent.name == provider and load_fixture(p)["expected"]["ignored"]]
    assert len(ignored) >= 1
