"""The one configuration object, built in one place from the environment and `bridge.yaml`.

It lives in `workers/` because both halves need it: the bridge (which imports `workers`) and the
Celery worker (which must not import the bridge). Everything else receives a `Config`; nothing
else reads the environment.

The objects themselves (and their defaults) are `workers.config_model`, re-exported here; this module
loads them: the schema of `bridge.yaml`, environment overrides, the start-up checks.

Secrets are wrapped in `Secret`, whose repr and str never show the value: a config object can be
logged, printed in an error or dumped by a debugger without leaking a key.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, validate

from workers.config_model import (DEFAULT_API_URL, DEFAULT_RULES, Config, CstarConfig, RejectedConfig, Secret,
                                  SourceConfig, WorkerConfig)
from workers.config_vars import load_yaml_with_vars
from workers.errors import ConfigError

__all__ = ["DEFAULT_API_URL", "DEFAULT_RULES", "Config", "CstarConfig", "RejectedConfig", "Secret", "SourceConfig",
           "WorkerConfig", "check_api", "load_config"]


# --- loading ---------------------------------------------------------------------------------------

class _CstarSchema(Schema):
    class Meta:
        unknown = RAISE

    api_url = fields.Url(require_tld=False, schemes={"http", "https"}, load_default=DEFAULT_API_URL)
    team_id = fields.String(load_default="")
    api_key = fields.String(load_default="")
    connect_timeout = fields.Float(validate=validate.Range(min=0.1), load_default=3.05)
    read_timeout = fields.Float(validate=validate.Range(min=0.1), load_default=10.0)
    rate_limit_per_minute = fields.Integer(validate=validate.Range(min=0), load_default=0)
    rate_limit_burst = fields.Integer(validate=validate.Range(min=1), load_default=1)


class _SourceSchema(Schema):
    class Meta:
        unknown = INCLUDE  # provider options (e.g. field mappings) ride along

    adapter = fields.String(required=True)
    verify = fields.Raw(required=True)


class _WorkerSchema(Schema):
    class Meta:
        unknown = RAISE

    visibility_timeout = fields.Integer(validate=validate.Range(min=10))
    task_soft_time_limit = fields.Integer(validate=validate.Range(min=1))
    task_time_limit = fields.Integer(validate=validate.Range(min=1))
    max_retries = fields.Integer(validate=validate.Range(min=0))
    retry_backoff_base = fields.Float(validate=validate.Range(min=0))
    retry_backoff_cap = fields.Float(validate=validate.Range(min=0))
    rate_limit_deadline = fields.Integer(validate=validate.Range(min=0))
    lock_lease = fields.Integer(validate=validate.Range(min=1))
    max_deliveries = fields.Integer(validate=validate.Range(min=1))
    reconcile_interval = fields.Integer(validate=validate.Range(min=1))
    reconcile_after = fields.Integer(validate=validate.Range(min=1))
    heartbeat_interval = fields.Float(validate=validate.Range(min=0.1))
    heartbeat_ttl = fields.Float(validate=validate.Range(min=0.5))
    soft_shutdown_timeout = fields.Float(validate=validate.Range(min=0))
    max_memory_per_child_mib = fields.Integer(validate=validate.Range(min=0))
    verify_tags = fields.Boolean()
    customer_locks = fields.Boolean()
    coalesce = fields.Boolean()
    reconciler = fields.Boolean()
    liveness = fields.Boolean()
    lock_renewal = fields.Boolean()
    note_markers = fields.Boolean()


class _RejectedSchema(Schema):
    class Meta:
        unknown = RAISE

    keep = fields.Integer(validate=validate.Range(min=0, max=10000))
    per_minute = fields.Integer(validate=validate.Range(min=0, max=10000))
    ttl = fields.Integer(validate=validate.Range(min=60))


class _ConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    redis_url = fields.String()
    broker_url = fields.String()
    cstar = fields.Nested(_CstarSchema, load_default=dict)
    sources = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]*$")),
                          values=fields.Nested(_SourceSchema), load_default=dict)
    rules = fields.List(fields.String(), load_default=lambda: list(DEFAULT_RULES))
    admin_token = fields.String()
    max_body_bytes = fields.Integer(validate=validate.Range(min=1024))
    max_fields = fields.Integer(validate=validate.Range(min=10))
    max_json_fields = fields.Integer(validate=validate.Range(min=10))
    body_timeout = fields.Float(validate=validate.Range(min=1))
    metrics_token = fields.String()
    signature_tolerance = fields.Integer(validate=validate.Range(min=1))
    idempotency_ttl = fields.Integer(validate=validate.Range(min=60))
    event_ttl = fields.Integer(validate=validate.Range(min=60))
    trace_max_bytes = fields.Integer(validate=validate.Range(min=0))
    key_prefix = fields.String()
    queue = fields.String()
    worker = fields.Nested(_WorkerSchema, load_default=dict)
    rejected = fields.Nested(_RejectedSchema, load_default=dict)


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None,
                **overrides: Any) -> Config:
    """Build the Config from `bridge.yaml` (path, or BRIDGE_CONFIG) and the environment.

    Precedence: explicit overrides > environment variables > the file > defaults.
    """
    env = dict(os.environ if env is None else env)
    path = path or env.get("BRIDGE_CONFIG") or None
    raw: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} not found (from --config or BRIDGE_CONFIG)")
        base_dir = p.resolve().parent
        loaded = load_yaml_with_vars(p.read_text(encoding="utf-8"), env, where=str(p))
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping (cstar:, sources:, rules:)")
        raw = loaded

    env_map = {
        "REDIS_URL": ("redis_url",),
        "BROKER_URL": ("broker_url",),
        "CSTAR_API_URL": ("cstar", "api_url"),
        "CSTAR_TEAM_ID": ("cstar", "team_id"),
        "CSTAR_API_KEY": ("cstar", "api_key"),
        "CSTAR_RATE_LIMIT": ("cstar", "rate_limit_per_minute"),
        "BRIDGE_ADMIN_TOKEN": ("admin_token",),
        "BRIDGE_METRICS_TOKEN": ("metrics_token",),
    }
    for var, keys in env_map.items():
        if env.get(var):
            target = raw
            for k in keys[:-1]:  # a section the file lacks, or left empty (`cstar:`), is made here
                if not isinstance(target.get(k), dict):
                    target[k] = {}
                target = target[k]
            target[keys[-1]] = env[var]
    if env.get("BRIDGE_RULES"):
        raw["rules"] = [s for s in env["BRIDGE_RULES"].split(os.pathsep) if s]

    for section in ("cstar", "sources", "worker", "rejected"):
        if section in raw and raw[section] is None:  # `cstar:` with nothing under it: not set
            del raw[section]
    try:
        data = _ConfigSchema().load(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc.messages, where=str(path or "environment"))) from None

    cstar_raw = dict(data.pop("cstar"))
    cstar = CstarConfig(**{**cstar_raw, "api_key": Secret(cstar_raw.get("api_key", ""))})
    sources = {
        name: SourceConfig(name=name, adapter=s.pop("adapter"), verify=_normalize_verify(name, s.pop("verify")),
                           options=s)
        for name, s in data.pop("sources").items()
    }
    worker = WorkerConfig(**data.pop("worker"))
    rejected = RejectedConfig(**data.pop("rejected"))
    for key in ("admin_token", "metrics_token"):
        if key in data:
            data[key] = Secret(data[key])
    data["rules"] = tuple(data["rules"])
    cfg = Config(cstar=cstar, sources=sources, worker=worker, rejected=rejected, base_dir=base_dir, **data)
    return replace(cfg, **overrides) if overrides else cfg


_KEY_CHARS = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: anything else cannot go in a header


def check_api(config: Config) -> None:
    """Refuse a config whose Customers API settings cannot work: a well-formed http(s) `api_url`, a
    team id and a secret key must be there (no connectivity probe: the API may be down at start)."""
    cstar = config.cstar
    problems: list[str] = []
    url = urlsplit(cstar.api_url.strip())
    if not cstar.api_url.strip():
        problems.append("cstar.api_url is empty (set CSTAR_API_URL or cstar.api_url in bridge.yaml)")
    elif url.scheme not in ("http", "https") or not url.hostname:
        problems.append("cstar.api_url is not an http:// or https:// URL with a host (CSTAR_API_URL or "
                        "cstar.api_url in bridge.yaml)")
    if not cstar.team_id.strip():
        problems.append("cstar.team_id is missing (set CSTAR_TEAM_ID or cstar.team_id in bridge.yaml)")
    key = cstar.api_key.reveal().strip()
    if not key:
        problems.append("cstar.api_key is missing (set CSTAR_API_KEY to the team's secret key, sk_…)")
    elif key.startswith("pk_"):
        problems.append("cstar.api_key is a publishable key (pk_…), which cannot write; use the team's "
                        "secret key (sk_…)")
    elif not _KEY_CHARS.match(key):
        problems.append("cstar.api_key has characters an API key cannot have (check CSTAR_API_KEY)")
    if problems:
        raise ConfigError("the Customers API is not configured:\n  " + "\n  ".join(problems))


_SECRET_KEYS = frozenset({"secret", "secrets", "password", "passwords"})


def _normalize_verify(source: str, verify: Any) -> Mapping[str, Any]:
    """`none` / a scheme name / a mapping -> a mapping whose secrets are wrapped in `Secret`."""
    if verify is None or verify == "none" or verify is False:
        return {"scheme": "none"}
    if isinstance(verify, str):
        return {"scheme": verify}
    if not isinstance(verify, dict) or "scheme" not in verify:
        shown = sorted(verify) if isinstance(verify, dict) else type(verify).__name__
        raise ConfigError(f"sources.{source}.verify: expected a mapping with a `scheme` "
                          f"(token, hmac, typeform, …) or `none`, got {shown}")
    out: dict[str, Any] = {}
    for key, value in verify.items():
        if key in _SECRET_KEYS and isinstance(value, list):
            out[key] = [Secret(str(v)) for v in value if v is not None]
        elif key in _SECRET_KEYS and value is not None:
            out[key] = Secret(str(value))
        else:
            out[key] = value
    return out


def _format_validation(messages: Any, where: str, prefix: str = "") -> str:
    lines: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, (dict, list)):
                    walk(item, path)
                else:
                    hint = " (check the spelling; see README, Configuration)" if "Unknown field" in str(item) else ""
                    lines.append(f"  {path}: {item}{hint}")

    walk(messages, prefix)
    return f"{where}: invalid configuration:\n" + "\n".join(lines)
