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
