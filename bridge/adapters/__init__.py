"""Adapter registry: one small module per provider, a dispatch table here.

Each provider module defines `ADAPTER = Adapter(...)`; `get_adapter(name)` finds it. Shared shape
(slugs, email detection, the normalized form data) lives in `common.py`.
"""

from __future__ import annotations

import importlib

from bridge.adapters.base import Adapter, AdaptedEvent, FORM_SUBMITTED

# name in bridge.yaml -> module under bridge.adapters
ADAPTER_MODULES: dict[str, str] = {
    "json": "generic_json",
    "zapier": "generic_json",
    "form": "form",
    "typeform": "typeform",
    "tally": "tally",
    "jotform": "jotform",
    "webflow": "webflow",
    "google_forms": "google_forms",
    "calendly": "calendly",
    "stripe": "stripe",
    "hubspot": "hubspot",
    "netlify": "netlify",
    "standard_webhooks": "standard_webhooks",
}

_cache: dict[str, Adapter] = {}


def available_adapters() -> list[str]:
    """The adapter names a source may use."""
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
