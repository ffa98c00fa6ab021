"""The configuration objects: `Config` and its parts (`CstarConfig`, `SourceConfig`, `WorkerConfig`,
`RejectedConfig`) with their defaults, and `Secret`. They are built by `workers.config.load_config`
(the schema, `bridge.yaml`, environment overrides), which re-exports them.

Secrets are wrapped in `Secret`, whose repr and str never show the value: a config object can be
logged, printed in an error or dumped by a debugger without leaking a key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

DEFAULT_API_URL = "https://www.cstar.help"
DEFAULT_RULES = ("rules/examples/*.yaml",)


class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True)
class CstarConfig:
    """Where the Customers API is and how to talk to it."""

    api_url: str = DEFAULT_API_URL
    team_id: str = ""
    api_key: Secret = field(default_factory=lambda: Secret(""))
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    # The team's API budget, shared by every worker process (0 = no client-side limit).
    rate_limit_per_minute: int = 0
    # Burst allowance of the shared limiter, in requests.
    rate_limit_burst: int = 1


@dataclass(frozen=True)
class SourceConfig:
    """One inbound source: `/hooks/<name>`, its adapter and how its deliveries are verified."""

    name: str
    adapter: str
    verify: Mapping[str, Any]
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerConfig:
    """Celery reliability settings (see shared notes: every countdown < visibility timeout)."""

    visibility_timeout: int = 900
    task_soft_time_limit: int = 100
    task_time_limit: int = 120
    max_retries: int = 8
    retry_backoff_base: float = 2.0
    retry_backoff_cap: float = 300.0
    # Longest a task waits out a 429 cool-down before it is rescheduled; bounded by a deadline.
    rate_limit_deadline: int = 3600
    lock_lease: int = 60
    max_deliveries: int = 6
    # The age sweep, last resort for an event no message carries any more (workers.reconciler).
    reconcile_interval: int = 60
    reconcile_after: int = 300
    # Liveness (workers.liveness): every worker and pool process refreshes a heartbeat each
    # `heartbeat_interval` s that expires after `heartbeat_ttl` s; a reconciler round runs each
    # `heartbeat_interval` s, so a dead worker's events run again within ttl + interval + a task.
    heartbeat_interval: float = 2.0
    heartbeat_ttl: float = 10.0
    soft_shutdown_timeout: float = 30.0
    # A pool process whose peak RSS passes this is replaced after its current task (Celery's
    # worker_max_memory_per_child): a guard against a leak in a library, not a limit a healthy
    # worker reaches (a pool process holds ~60 MiB; bench/memory.py). 0 turns it off.
    max_memory_per_child_mib: int = 512
    # Read the customer back after every tag write and repair if a writer outside the bridge
    # clobbered it (costs one GET per tag change; the per-customer lock covers our own writers).
    verify_tags: bool = False
    # Protection switches, for the negative controls of the fault tests only (each test shows it
    # fails with its protection off). Never turn them off in production.
    customer_locks: bool = True
    reconciler: bool = True
    liveness: bool = True
    lock_renewal: bool = True
    # Park plans for a busy customer and apply them with the lock holder's write (workers.coalesce).
    coalesce: bool = True
    note_markers: bool = True


@dataclass(frozen=True)
class RejectedConfig:
    """The record of rejected deliveries (bridge.rejections): per source, the newest `keep` requests
    for `ttl` seconds, at most `per_minute` recorded each minute (the rest are only counted)."""

    keep: int = 200
    per_minute: int = 60
    ttl: int = 7 * 24 * 3600


@dataclass(frozen=True)
class Config:
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = ""  # defaults to redis_url
    cstar: CstarConfig = field(default_factory=CstarConfig)
    sources: Mapping[str, SourceConfig] = field(default_factory=dict)
    rules: tuple[str, ...] = DEFAULT_RULES
    admin_token: Secret = field(default_factory=lambda: Secret(""))
    max_body_bytes: int = 1024 * 1024
    # Ingress limits for hostile clients (bridge.body, bridge.parsing): the most fields a form body
    # (urlencoded pairs, multipart parts) and a JSON body (object keys and array items in all; a
    # HubSpot batch of 100 events holds ~1,200) may hold — past them 413 too_many_fields — and the
    # seconds a body may take to arrive (408 past them).
    max_fields: int = 1000
    max_json_fields: int = 5000
    body_timeout: float = 30.0
    # When set, GET /metrics needs `Authorization: Bearer <metrics_token>` (it names sources).
    metrics_token: Secret = field(default_factory=lambda: Secret(""))
    signature_tolerance: int = 300
    idempotency_ttl: int = 7 * 24 * 3600
    event_ttl: int = 30 * 24 * 3600
    # The largest rule trace shown (or kept worded) with an event (JSON bytes; 0: no limit). Past it the
    # trace keeps the matched rules in full and names the others (workers.store.bounded_trace): a trace
    # grows with the rules (~200 bytes for each rule not matched). Events keep verdicts, worded when
    # read (workers.stored_trace); the worded trace is kept where verdicts cannot be worded later.
    trace_max_bytes: int = 16 * 1024
    key_prefix: str = "cb:"
    queue: str = "cstar-bridge"
    base_dir: Path = field(default_factory=Path.cwd)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    rejected: RejectedConfig = field(default_factory=RejectedConfig)

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    def rule_paths(self) -> list[Path]:
        """The rule files the globs name, relative to the config file, in name order."""
        found: dict[Path, None] = {}
        for pattern in self.rules:
            p = Path(pattern)
            base = p if p.is_absolute() else self.base_dir / p
            if any(ch in pattern for ch in "*?["):
                anchor = Path(base.anchor) if base.is_absolute() else Path(".")
                matches = sorted(anchor.glob(str(base.relative_to(anchor))))
                if not matches:
                    packaged = _packaged_examples(pattern)
                    matches = packaged
                for m in matches:
                    found[m] = None
            elif base.is_dir():  # as `cstar-bridge rules lint DIR` sees it: the folders below too
                from rules.lint import find_rule_files

                for m in find_rule_files([base])[0]:
                    found[m] = None
            else:
                found[base] = None
        return sorted(found)

    def with_overrides(self, **changes: Any) -> "Config":
        return replace(self, **changes)


def _packaged_examples(pattern: str) -> list[Path]:
    """`rules/examples/*.yaml` also resolves when run outside a checkout (installed package)."""
    if not pattern.startswith("rules/examples/"):
        return []
    import rules

    folder = Path(rules.__file__).parent / "examples"
    return sorted(folder.glob(pattern.removeprefix("rules/examples/")))
