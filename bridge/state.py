"""What the Flask app holds for its lifetime: config, sources, the store and the enqueue function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from bridge.sources import Source
from workers.config import Config
from workers.store import EventStore


@dataclass
class BridgeState:
    config: Config
    sources: Mapping[str, Source]
    store: EventStore
    redis: Any
    enqueue: Callable[[str], None]
    celery: Any = None
    # Builds the task message pushed by the claim script itself (broker == the store's Redis).
    messages: Any = None
    rejections: Any = None  # bridge.rejections.RejectionLog
    claims: Any = None  # bridge.claims.Claims: step 8, grouped with concurrent requests under gevent

    def __post_init__(self) -> None:
        if self.claims is None:
            from bridge.claims import Claims

            self.claims = Claims(self.store)
