"""The source registry: `/hooks/<name>` -> its adapter, verifier and options, built once from Config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from bridge.adapters import Adapter, available_adapters, get_adapter
from bridge.verify import Clock, Verifier, build_verifier
from workers.config import Config
from workers.errors import ConfigError


@dataclass(frozen=True)
class Source:
    name: str
    adapter: Adapter
    verifier: Verifier
    options: Mapping[str, Any]

    @property
    def success_status(self) -> int:
        """202 unless the provider needs another 2xx (Webflow: exactly 200) or the source says so."""
        return int(self.options.get("success_status", self.adapter.success_status))

    @property
    def unverified(self) -> bool:
        return self.verifier.scheme == "none"


def build_sources(config: Config, *, clock: Clock | None = None) -> dict[str, Source]:
    """Every configured source, or one ConfigError listing every problem."""
    problems: list[str] = []
    out: dict[str, Source] = {}
    for name, sc in config.sources.items():
        try:
            adapter = get_adapter(sc.adapter)
        except KeyError:
            problems.append(f"sources.{name}.adapter: unknown adapter {sc.adapter!r}; "
                            f"expected one of {', '.join(available_adapters())}")
            continue
        try:
            verifier = build_verifier(name, sc.verify, clock=clock, tolerance=config.signature_tolerance)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        status = sc.options.get("success_status", adapter.success_status)
        if status not in (200, 202):
            problems.append(f"sources.{name}.success_status: expected 200 or 202, got {status!r}")
            continue
        out[name] = Source(name=name, adapter=adapter, verifier=verifier, options=dict(sc.options))
    if problems:
        raise ConfigError("invalid sources:\n  " + "\n  ".join(problems))
    return out
