"""`${VAR}` in `bridge.yaml`: substituted into the parsed string values, never into the YAML text.

Substituting into the text let a value change the document: an unquoted secret `abc #def` lost its
tail to a comment, a secret containing `: ` broke the parse (and the YAML error printed the line,
secret included), and a `${VAR}` in a comment was required. Here each `${…}` token is first swapped
for an inert placeholder made only of letters and digits (valid in any YAML scalar, quoted or not,
in block or flow context: `{scheme: token, secret: ${ZAPIER_TOKEN}}` keeps parsing as it always
has), the document is parsed, and only then are the placeholders left in string keys and values
replaced by the environment's values. A token in a comment vanishes with the comment; a value is
inserted as a string exactly as exported.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

import yaml

from workers.errors import ConfigError

VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_yaml_with_vars(text: str, env: Mapping[str, str] | None, where: str) -> Any:
    """Parse `text` and substitute `${VAR}` / `${VAR:-default}` in its strings from `env`.

    A variable that is unset (or empty) without a default is an error naming every such variable.
    With `env=None` the tokens are left as written (`${NAME}`): the document as the file spells it.
    """
    tokens: list[re.Match[str]] = []
    nonce = secrets.token_hex(6)
    placeholder = re.compile(rf"cbvar{nonce}n(\d+)n")

    def hide(m: re.Match[str]) -> str:
        tokens.append(m)
        return f"cbvar{nonce}n{len(tokens) - 1}n"

    hidden = VAR.sub(hide, text)
    try:
        document = yaml.safe_load(hidden)
    except yaml.YAMLError as exc:
        shown = placeholder.sub(lambda m: tokens[int(m.group(1))].group(0), str(exc))
        raise ConfigError(f"{where}: not valid YAML: {shown}") from None
    if not tokens:
        return document
    missing: set[str] = set()

    def value_of(m: re.Match[str]) -> str:
        token = tokens[int(m.group(1))]
        if env is None:
            return token.group(0)
        name, default = token.group(1), token.group(2)
        if env.get(name):
            return env[name]
        if default is not None:
            return default
        missing.add(name)
        return ""

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return placeholder.sub(value_of, node) if "cbvar" in node else node
        if isinstance(node, dict):
            return {walk(k): walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    document = walk(document)
    if missing:
        raise ConfigError(
            f"{where}: environment variable(s) {', '.join(sorted(missing))} not set; export them "
            f"(or write ${{NAME:-default}} in the file for an optional value)")
    return document

