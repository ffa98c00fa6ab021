"""The `sources:` entries shown in docs/sources.md load through the real config loader and build."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.sources import build_sources
from bridge.verify import build_verifier
from tests.sources.support import request
from tests.sources.test_verify_schemes import APPS_SCRIPT_HEADERS, GAS_BODY, GAS_SECRET
from workers.config import load_config
from workers.config_vars import load_yaml_with_vars

DOC = Path(__file__).resolve().parents[2] / "docs" / "sources.md"
# One value that suits every scheme, including Standard Webhooks' base64 secrets.
ENV_VALUE = "c2VjcmV0LXZhbHVlLWZvci1kb2NzLXRlc3Q="


class _EveryVariable(dict):  # type: ignore[type-arg]
    """An environment in which every variable is set to ENV_VALUE."""

    def get(self, key: str, default: Any = None) -> str:
        return ENV_VALUE

    def __getitem__(self, key: str) -> str:
        return ENV_VALUE


def _documented_sources() -> dict[str, Any]:
    """Every source entry of the doc's YAML blocks, by name."""
    found: dict[str, Any] = {}
    for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        # through the loader load_config uses: ${VAR} into the parsed values, every variable set
        loaded = load_yaml_with_vars(textwrap.dedent(block), _EveryVariable(), "docs/sources.md") or {}
        entries = loaded.get("sources", loaded)
        found.update({name: cfg for name, cfg in entries.items()
                      if isinstance(cfg, dict) and "adapter" in cfg})
    return found


SOURCES = _documented_sources()


def test_the_doc_shows_an_entry_for_every_adapter() -> None:
    assert {cfg["adapter"] for cfg in SOURCES.values()} == {
        "typeform", "form", "tally", "jotform", "webflow", "google_forms", "calendly", "stripe", "hubspot",
        "netlify", "json", "standard_webhooks"}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_documented_source_entry_builds(name: str, tmp_path: Path) -> None:
    text = yaml.safe_dump({"sources": {name: SOURCES[name]}})
    config_file = tmp_path / "bridge.yaml"
    config_file.write_text(text, encoding="utf-8")
    sources = build_sources(load_config(config_file, env={}))
    assert sources[name].verifier.scheme == SOURCES[name]["verify"]["scheme"]


def test_the_documented_apps_script_config_verifies_what_the_snippet_sends() -> None:
    verify = {**SOURCES["google-forms"]["verify"], "secret": GAS_SECRET}
    verifier = build_verifier("google-forms", verify, clock=lambda: 1714557792)
    verifier.verify(request(GAS_BODY, APPS_SCRIPT_HEADERS))
