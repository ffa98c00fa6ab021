"""Adapter registry: one small module per provider, a dispatch table here.

Each provider module defines `ADAPTER = Adapter(...)`; `get_adapter(name)` finds it.
"""

from __future__ import annotations

import importlib

from bridge.adapters.base import Adapter, AdaptedEvent, FORM_SUBMITTED

# name in bridge.yaml -> module under bridge.adapters
ADAPTER_MODULES: dict[str, str] = {
    "json": "generic_json",
    "zapier": "generic_json",
    "form": "form",
}

_cache: dict[str, Adapter] = {}


def available_adapters() -> list[str]:
    return sorted(ADAPTER_MODULES)


def get_adapter(name: str) -> Adapter:
    """The adapter registered under `name`; KeyError with the known names otherwise."""
    if name not in _cache:
        if name not in ADAPTER_MODULES:
            raise KeyError(f"unknown adapter {name!r}; known: {', '.join(available_adapters())}")
        module = importlib.import_module(f"bridge.adapters.{ADAPTER_MODULES[name]}")
        _cache[name] = module.ADAPTER
    return _cache[name]


__all__ = ["Adapter", "AdaptedEvent", "FORM_SUBMITTED", "available_adapters", "get_adapter"]
