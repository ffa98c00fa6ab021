"""Helpers shared by the source tests: fixture files, vectors, requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from bridge.inbound import Headers, InboundRequest
from bridge.parsing import parse_body

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
_SHARED_VECTORS = Path(__file__).resolve().parents[2].parent / "shared/providers/vectors"
# The shared folder when it is there, else the copy kept in the repo (identical bytes).
VECTORS = _SHARED_VECTORS if (_SHARED_VECTORS / "vectors.json").is_file() else FIXTURES / "vectors"


REAL = Path(__file__).resolve().parent / "fixtures" / "real"


def fixture_files() -> list[Path]:
    """Every adapter fixture: tests/fixtures/<adapter>/<event>__<variant>.json."""
    return sorted(p for p in FIXTURES.glob("*/*.json") if p.parent.name != "vectors")


def real_files() -> list[Path]:
    """The real corpus: tests/sources/fixtures/real/<adapter>/<name>.json (see test_real_corpus.py)."""
    return sorted(REAL.glob("*/*.json"))


def load_fixture(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def raw_body(fixture: Mapping[str, Any]) -> bytes:
    """The bytes on the wire: a form body is stored as text, a JSON body as JSON."""
    body = fixture["body"]
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


def payload_of(fixture: Mapping[str, Any]) -> Any:
    """The payload the ingress hands the adapter, parsed by bridge.parsing as in production."""
    content_type = fixture["content_type"]
    mimetype = content_type.split(";")[0].strip().lower()
    return parse_body(mimetype, raw_body(fixture), content_type_header=content_type).payload


def vectors() -> list[dict[str, Any]]:
    return json.loads((VECTORS / "vectors.json").read_text())  # type: ignore[no-any-return]


def request(body: bytes, headers: Mapping[str, str], *, url: str = "https://bridge.example.com/hooks/src",
            method: str = "POST") -> InboundRequest:
    """An InboundRequest as the ingress builds it."""
    return InboundRequest(source="src", method=method, url=url, headers=Headers(dict(headers)), body=body,
                          content_type="application/json")
