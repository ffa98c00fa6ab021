"""The one config object: file + environment, ${VAR} expansion, errors that name what to fix."""

from __future__ import annotations

import pytest

from workers.config import Config, Secret, load_config
from workers.errors import ConfigError


def write(tmp_path, text):
    p = tmp_path / "bridge.yaml"
    p.write_text(text)
    return p


def test_env_vars_expand_and_secrets_are_wrapped(tmp_path):
    p = write(tmp_path, """
cstar: {api_url: "${API}", team_id: team_x, api_key: "${KEY}"}
sources:
  zapier: {adapter: json, verify: {scheme: token, secret: "${ZAP}"}}
rules: ["r/*.yaml"]
""")
    cfg = load_config(p, env={"API": "http://localhost:9", "KEY": "sk_live_abc", "ZAP": "t0k"})
    assert cfg.cstar.api_url == "http://localhost:9"
    assert isinstance(cfg.cstar.api_key, Secret) and cfg.cstar.api_key.reveal() == "sk_live_abc"
    assert cfg.sources["zapier"].verify == {"scheme": "token", "secret": Secret("t0k")}
    assert "t0k" not in repr(cfg.sources)
    assert cfg.base_dir == tmp_path
    assert "sk_live_abc" not in repr(cfg) and "sk_live_abc" not in str(cfg)


def test_missing_variable_is_named_in_the_error(tmp_path):
    p = write(tmp_path, "cstar: {api_key: '${CSTAR_API_KEY}', team_id: '${TEAM}'}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p, env={})
    assert "CSTAR_API_KEY" in str(exc.value) and "TEAM" in str(exc.value)


def test_default_syntax_fills_optional_values(tmp_path):
    p = write(tmp_path, "cstar: {api_url: '${URL:-https://www.cstar.help}'}\n")
    assert load_config(p, env={}).cstar.api_url == "https://www.cstar.help"


def test_unknown_key_is_reported_with_its_path(tmp_path):
    p = write(tmp_path, "cstar: {api_ky: x}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p, env={})
    assert "cstar.api_ky" in str(exc.value)


def test_environment_overrides_the_file(tmp_path):
    p = write(tmp_path, "redis_url: redis://file:6379/0\ncstar: {team_id: from_file}\n")
    cfg = load_config(p, env={"REDIS_URL": "redis://env:6379/3", "CSTAR_TEAM_ID": "from_env"})
    assert cfg.redis_url == "redis://env:6379/3" and cfg.cstar.team_id == "from_env"


def test_missing_file_says_where_it_looked(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", env={})


def test_verify_must_be_explicit(tmp_path):
    p = write(tmp_path, "sources: {x: {adapter: json, verify: {secret: a}}}\n")
    with pytest.raises(ConfigError, match="scheme"):
        load_config(p, env={})
    p = write(tmp_path, "sources: {x: {adapter: json, verify: none}}\n")
    assert load_config(p, env={}).sources["x"].verify == {"scheme": "none"}


def test_defaults_are_sane():
    cfg = Config()
    assert cfg.max_body_bytes == 1024 * 1024
    assert cfg.cstar.api_url == "https://www.cstar.help"
    assert cfg.effective_broker_url == cfg.redis_url
