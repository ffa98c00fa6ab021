"""The dev banner's curl: a configured source, and never the value of a secret read from `${NAME}`."""

from __future__ import annotations

import pytest

from bridge.cli.dev_banner import banner, create_curl, pick_demo_source, raw_sources
from workers.config import load_config


def pick(tmp_path, sources: str, env: dict[str, str], shown: dict[str, str] | None = None):
    p = tmp_path / "bridge.yaml"
    p.write_text(f"sources:\n{sources}")
    return pick_demo_source(load_config(p, env=env), raw_sources(str(p)), shown or {})


def test_a_secret_from_the_environment_shows_as_its_variable(tmp_path):
    post = pick(tmp_path, "  crm: {adapter: json, verify: {scheme: token, secret: ${CRM_TOKEN}}}\n",
                {"CRM_TOKEN": "tok-VALUE-123"})
    curl = create_curl("http://127.0.0.1:8000", post)
    assert post.source == "crm" and '-H "X-Bridge-Token: $CRM_TOKEN"' in curl
    assert "tok-VALUE-123" not in curl


def test_dev_own_demo_token_may_be_shown(tmp_path):
    post = pick(tmp_path, "  zapier: {adapter: json, verify: {scheme: token, secret: ${DEV_SOURCE_TOKEN}}}\n",
                {"DEV_SOURCE_TOKEN": "dev-token"}, shown={"DEV_SOURCE_TOKEN": "dev-token"})
    assert '"X-Bridge-Token: dev-token"' in create_curl("http://h:1", post)
    # the same variable exported by the user is theirs: not shown
    post = pick(tmp_path, "  zapier: {adapter: json, verify: {scheme: token, secret: ${DEV_SOURCE_TOKEN}}}\n",
                {"DEV_SOURCE_TOKEN": "users-own"})
    assert '"X-Bridge-Token: $DEV_SOURCE_TOKEN"' in create_curl("http://h:1", post)


def test_a_secret_written_in_the_file_is_not_printed(tmp_path):
    post = pick(tmp_path, "  crm: {adapter: json, verify: {scheme: token, secret: literal-secret, "
                          "header: X-Crm-Key}}\n", {})
    curl = create_curl("http://h:1", post)
    assert "literal-secret" not in curl and '"X-Crm-Key: <the secret of sources.crm.verify' in curl


@pytest.mark.parametrize("sources,expected", [
    ("  tf: {adapter: typeform, verify: {scheme: typeform, secret: x}}\n"
     "  site: {adapter: form, verify: none}\n", ("site", "form", None)),
    ("  tf: {adapter: typeform, verify: {scheme: typeform, secret: x}}\n"
     "  form: {adapter: form, verify: {scheme: token, secret: ${F}}}\n"
     "  api: {adapter: json, verify: {scheme: token, secret: ${A}}}\n", ("api", "json", "$A")),
])
def test_the_curl_uses_a_source_a_plain_curl_can_reach(tmp_path, sources, expected):
    post = pick(tmp_path, sources, {"F": "f", "A": "a"})
    assert (post.source, post.adapter, post.token_shown) == expected
    curl = create_curl("http://h:1", post)
    assert f"/hooks/{post.source}'" in curl
    if post.adapter == "form":
        assert "--data-urlencode email=ada@example.com" in curl and "X-Bridge-Token" not in curl


def test_no_suitable_source_says_so_instead_of_inventing_one(tmp_path):
    post = pick(tmp_path, "  tf: {adapter: typeform, verify: {scheme: typeform, secret: x}}\n", {})
    assert post is None
    text = banner(bridge_url="http://h:1", sandbox_url=None, admin_shown="$BRIDGE_ADMIN_TOKEN",
                  config_path="bridge.yaml", post=None, runtime_file=".dev/runtime.json")
    assert "No source in the config takes a plain curl" in text and "curl -sS" not in text
