"""The one config object: file + environment, ${VAR} expansion, errors that name what to fix."""

from __future__ import annotations

import pytest

from pathlib import Path

from workers.config import Config, Secret, check_api, load_config
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


# --- environment overrides whatever the file holds ----------------------------------------------------

API_ENV = {"CSTAR_API_URL": "http://127.0.0.1:9", "CSTAR_TEAM_ID": "team_env", "CSTAR_API_KEY": "sk_env"}


@pytest.mark.parametrize("text", [
    "sources: {zapier: {adapter: json, verify: none}}\n",   # no cstar: section at all
    "cstar:\nsources: {}\n",                                 # an empty one
    "cstar: {}\n",
    "",                                                      # an empty file
])
def test_cstar_overrides_apply_whatever_sections_the_file_has(tmp_path, text):
    cfg = load_config(write(tmp_path, text), env={**API_ENV, "REDIS_URL": "redis://env:1/2",
                                                  "BRIDGE_ADMIN_TOKEN": "adm"})
    assert (cfg.cstar.api_url, cfg.cstar.team_id, cfg.cstar.api_key.reveal()) == \
        ("http://127.0.0.1:9", "team_env", "sk_env")
    assert cfg.redis_url == "redis://env:1/2" and cfg.admin_token.reveal() == "adm"
    check_api(cfg)


# --- ${VAR} goes into parsed values, never into the YAML text -------------------------------------------

def test_an_unquoted_secret_with_a_hash_stays_whole(tmp_path):
    p = write(tmp_path, "sources:\n  zapier:\n    adapter: json\n    verify:\n      scheme: token\n"
                        "      secret: ${ZAPIER_TOKEN}\n")
    cfg = load_config(p, env={"ZAPIER_TOKEN": "abc #def"})
    assert cfg.sources["zapier"].verify["secret"].reveal() == "abc #def"


def test_a_secret_with_colon_space_loads_and_never_shows_in_an_error(tmp_path):
    secret = "s3cr3t: part two {x} [y], 'q' \"dq\" # not a comment"
    good = "cstar: {api_key: ${CSTAR_KEY_X}, team_id: t}\nsources:\n  z: {adapter: json, verify: {scheme: token, secret: ${TOK}}}\n"
    cfg = load_config(write(tmp_path, good), env={"CSTAR_KEY_X": secret, "TOK": secret})
    assert cfg.cstar.api_key.reveal() == secret and cfg.sources["z"].verify["secret"].reveal() == secret
    for broken in (good + "max_body_bytes: not-a-number\n",          # a validation error
                   good + "worker: [unclosed\n",                      # a YAML syntax error
                   good + "cstar: {api_key: ${CSTAR_KEY_X}\n"):      # another one, on the secret's line
        with pytest.raises(ConfigError) as exc:
            load_config(write(tmp_path, broken), env={"CSTAR_KEY_X": secret, "TOK": secret})
        assert "s3cr3t" not in str(exc.value), str(exc.value)
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, good + "worker: [unclosed\n"), env={"CSTAR_KEY_X": secret, "TOK": secret})
    assert "not valid YAML" in str(exc.value)


def test_a_variable_in_a_comment_is_not_required(tmp_path):
    p = write(tmp_path, "# api_key: ${OLD_KEY_NOBODY_SET}\ncstar: {team_id: t}  # was ${ALSO_UNSET}\n")
    assert load_config(p, env={}).cstar.team_id == "t"


def test_values_are_inserted_as_strings_exactly_as_exported(tmp_path):
    p = write(tmp_path, "cstar: {team_id: ${T}, api_key: x${K}y}\nmax_body_bytes: ${MAX}\n"
                        "sources: {z: {adapter: json, verify: {scheme: token, secret: ${TOK}}}}\n")
    cfg = load_config(p, env={"T": "0123", "K": "-mid-", "MAX": "4096", "TOK": "007"})
    assert cfg.cstar.team_id == "0123" and cfg.cstar.api_key.reveal() == "x-mid-y"
    assert cfg.max_body_bytes == 4096 and cfg.sources["z"].verify["secret"].reveal() == "007"


def _readme_config_block() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_documented_config_loads_as_written(tmp_path):
    """README's bridge.yaml, unquoted `${X}` inside flow mappings included."""
    text = _readme_config_block()
    assert "secret: ${ZAPIER_TOKEN}}" in text
    p = write(tmp_path, text)
    env = {**API_ENV, "ZAPIER_TOKEN": "zt #1: x", "TYPEFORM_SECRET": "tf"}
    cfg = load_config(p, env=env)
    assert cfg.cstar.api_url == "http://127.0.0.1:9" and cfg.cstar.team_id == "team_env"
    assert cfg.sources["zapier"].verify == {"scheme": "token", "secret": Secret("zt #1: x")}
    assert cfg.sources["typeform"].adapter == "typeform"
    assert cfg.rules == ("rules/examples/*.yaml",)
    with pytest.raises(ConfigError, match="ZAPIER_TOKEN, TYPEFORM_SECRET|TYPEFORM_SECRET, ZAPIER_TOKEN"):
        load_config(p, env=API_ENV)


def test_dev_default_config_loads():
    from bridge.cli.dev import DEFAULT_CONFIG

    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "bridge.yaml"
        p.write_text(DEFAULT_CONFIG)
        cfg = load_config(p, env={**API_ENV, "DEV_SOURCE_TOKEN": "dev-token"})
    assert {s.verify["secret"].reveal() for s in cfg.sources.values()} == {"dev-token"}


# --- a config that cannot write to the API is refused at start -------------------------------------------

@pytest.mark.parametrize("cstar,named", [
    ({}, ["cstar.team_id is missing", "cstar.api_key is missing"]),
    ({"team_id": "t"}, ["cstar.api_key is missing"]),
    ({"api_key": "sk_x"}, ["cstar.team_id is missing"]),
    ({"team_id": "t", "api_key": "pk_test_dev"}, ["publishable key"]),
    ({"team_id": "t", "api_key": "sk_x", "api_url": "ftp://host"}, ["cstar.api_url"]),
])
def test_check_api_names_what_is_missing(cstar, named):
    from workers.config import CstarConfig

    fields = {**cstar, "api_key": Secret(cstar.get("api_key", ""))}
    with pytest.raises(ConfigError) as exc:
        check_api(Config(cstar=CstarConfig(**fields)))
    for words in named:
        assert words in str(exc.value)
    assert "sk_x" not in str(exc.value)


def test_a_rules_directory_loads_the_folders_below_as_rules_lint_sees_them(tmp_path):
    (tmp_path / "rules" / "team").mkdir(parents=True)
    (tmp_path / "rules" / ".old").mkdir()
    for name in ("rules/a.yaml", "rules/team/b.yml", "rules/.old/c.yaml", "rules/team/notes.txt"):
        (tmp_path / name).write_text("version: 1\nrules: []\n")
    cfg = load_config(write(tmp_path, "rules: [rules]\n"), env={})
    assert [p.relative_to(tmp_path).as_posix() for p in cfg.rule_paths()] == ["rules/a.yaml", "rules/team/b.yml"]
