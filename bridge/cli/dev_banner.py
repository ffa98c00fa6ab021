"""What `cstar-bridge dev` prints once everything runs: the addresses, a curl that posts to a source the
config really has, and how to see the customer it made.

The curl never shows a secret the user's config reads from the environment: a `${NAME}` secret appears
as `$NAME` (the shell fills it in); only dev's own built-in demo token is shown as it is.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from workers.config import Config

DEMO_EMAIL = "ada@example.com"
JSON_BODY = {"email": DEMO_EMAIL, "first_name": "Ada", "last_name": "Lovelace", "company": "Analytical Engines",
             "lead_source": "Webinar", "score": 91}
FORM_FIELDS = (("email", DEMO_EMAIL), ("name", "Ada Lovelace"), ("company", "Analytical Engines"),
               ("message", "Hello from the dev banner"))
_WHOLE_VAR = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}$")


@dataclass(frozen=True)
class DemoPost:
    """The source the banner's curl posts to, and how it authenticates (shown safely)."""

    source: str
    adapter: str
    header: str | None       # None: the source has `verify: none`
    token_shown: str | None  # `$NAME`, dev's demo token, or a placeholder naming where the secret lives


def raw_sources(config_path: str) -> Mapping[str, Any]:
    """`sources:` as the file spells it (`${NAME}` left as written), to tell where each secret comes from."""
    from workers.config_vars import load_yaml_with_vars

    try:
        doc = load_yaml_with_vars(Path(config_path).read_text(encoding="utf-8"), None, where=config_path)
    except Exception:  # the real load already succeeded; this is only for display
        return {}
    sources = doc.get("sources") if isinstance(doc, dict) else None
    return sources if isinstance(sources, dict) else {}


def pick_demo_source(config: Config, raw: Mapping[str, Any], shown_values: Mapping[str, str]) -> DemoPost | None:
    """The first configured source a plain curl can post to: a `json` (else `form`) adapter verified
    by a token (or not at all). `shown_values`: variables whose values dev chose and may print."""
    for adapter in ("json", "form"):
        for name, source in config.sources.items():
            scheme = source.verify.get("scheme")
            if source.adapter != adapter or scheme not in ("token", "none"):
                continue
            if scheme == "none":
                return DemoPost(name, adapter, None, None)
            raw_verify = (raw.get(name) or {}).get("verify") if isinstance(raw.get(name), dict) else None
            header = str(source.verify.get("header") or "X-Bridge-Token")
            return DemoPost(name, adapter, header, _token_shown(name, raw_verify, shown_values))
    return None


def _token_shown(source: str, raw_verify: Any, shown_values: Mapping[str, str]) -> str:
    secret: Any = None
    if isinstance(raw_verify, dict):
        secret = raw_verify.get("secret")
        if secret is None and isinstance(raw_verify.get("secrets"), list) and raw_verify["secrets"]:
            secret = raw_verify["secrets"][0]
    m = _WHOLE_VAR.match(secret) if isinstance(secret, str) else None
    if m is None:
        return f"<the secret of sources.{source}.verify in your bridge.yaml>"
    name = m.group(1)
    return shown_values.get(name) or f"${name}"


def create_curl(base_url: str, post: DemoPost) -> str:
    """A curl that posts one demo submission to the source."""
    lines = [f"curl -sS -X POST '{base_url}/hooks/{post.source}'"]
    auth = f'-H "{post.header}: {post.token_shown}"' if post.header else ""
    if post.adapter == "json":
        lines.append(" ".join(filter(None, [auth, "-H 'Content-Type: application/json'"])))
        lines.append("-d " + shlex.quote(json.dumps(JSON_BODY)))
    else:
        if auth:
            lines.append(auth)
        lines.append(" ".join(f"--data-urlencode {shlex.quote(f'{k}={v}')}" for k, v in FORM_FIELDS))
    return " \\\n  ".join(lines)


def see_it_lines(sandbox_url: str) -> list[str]:
    """Shell lines that GET the demo customer from the sandbox (tags, notes and metadata included); the
    id comes from the list, whose items carry no tags or metadata."""
    customers = f"{sandbox_url}/api/v1/teams/team_dev/customers"
    auth = "-H 'Authorization: Bearer sk_test_dev'"
    find = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"data\"][0][\"id\"])'"
    return [f"id=$(curl -sS '{customers}?search={DEMO_EMAIL}' {auth} | {find})",
            f'curl -sS "{customers}/$id" {auth}']


def banner(*, bridge_url: str, sandbox_url: str | None, admin_shown: str, config_path: str,
           post: DemoPost | None, runtime_file: str) -> str:
    """The whole banner, printed after every child's start-up output."""
    out = ["", "cstar-bridge is running",
           f"  bridge:   {bridge_url}   (POST /hooks/<source>, GET /events/<id>, /healthz, /metrics)"]
    if sandbox_url:
        out.append(f"  sandbox:  {sandbox_url}   (team_dev, secret key sk_test_dev); the bridge writes there")
    out += [f"  console:  {bridge_url}/console   (sign in with the admin token)",
            f"  admin:    Authorization: Bearer {admin_shown}",
            f"  config:   {config_path}",
            f"  runtime:  {runtime_file} (the `cstar-bridge events …` commands run here find this stack)"]
    if post is None:
        out += ["", "No source in the config takes a plain curl (a `json` or `form` source with "
                "`verify: {scheme: token}`);", "post with your provider's test delivery (docs/sources.md)."]
    else:
        out += ["", f"Create a customer (source `{post.source}`):", "", create_curl(bridge_url, post)]
        if sandbox_url:
            out += ["", "Then see it, with its tags and metadata:", "", *see_it_lines(sandbox_url)]
        out += ["", "What the bridge did:  cstar-bridge events list --status done"]
    out += ["", "Ctrl-C (or SIGTERM, SIGHUP) stops everything.", ""]
    return "\n".join(out)
