"""Keep secrets out of every log line: access log, error log, the app's own logs.

Two rules, applied to the finished text of each line:

- the value of a query parameter that carries a credential (`?token=` of the token scheme, any
  `query_param` a source configures, and a few usual names) becomes `[redacted]`, whatever it is:
  a wrong guess is often a mistyped real token;
- every configured secret value (the API key, the admin and metrics tokens, each source's
  secret(s), a password in the Redis URL), as written and percent-encoded, becomes `[redacted]`
  wherever it appears (in a Referer, a header atom of a custom access-log format, a traceback).

The rest of the line is kept: method, path, status, size, timing, user agent.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Iterable
from urllib.parse import quote, quote_plus, urlsplit

MASK = "[redacted]"
# Credential-carrying query parameters redacted whatever the config says.
USUAL_PARAMS = ("token", "access_token", "api_key", "apikey", "key", "secret", "password", "signature", "sig")
_MIN_SECRET = 4  # shorter "secrets" would blank out ordinary words; config refuses nothing for it


class Redactor:
    """`redactor(text)` -> text with credential query values and secret values masked."""

    def __init__(self, params: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
        names = sorted({p.lower() for p in (*USUAL_PARAMS, *params) if p})
        self._param = re.compile(r"(?i)([?&;](?:%s)=)[^&;#\s\"']*" % "|".join(map(re.escape, names)))
        variants = {v for s in secrets if len(s) >= _MIN_SECRET for v in (s, quote(s, safe=""), quote_plus(s))}
        # Longest first, so a secret that contains another is masked whole.
        self._secret = (re.compile("|".join(map(re.escape, sorted(variants, key=len, reverse=True))))
                        if variants else None)

    def __call__(self, text: str) -> str:
        text = self._param.sub(lambda m: m.group(1) + MASK, text)
        if self._secret is not None:
            text = self._secret.sub(MASK, text)
        return text


def redactor_for(config: Any) -> Redactor:
    """The redactor for a Config: every verify scheme's query parameter and every secret value."""
    from workers.config import Secret

    params: list[str] = []
    secrets: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, Secret):
            secrets.append(value.reveal())
        elif isinstance(value, (list, tuple)):
            for v in value:
                collect(v)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)

    for src in config.sources.values():
        verify = dict(src.verify)
        if verify.get("query_param"):
            params.append(str(verify["query_param"]))
        collect(verify)
    for secret in (config.cstar.api_key, config.admin_token, getattr(config, "metrics_token", None)):
        collect(secret)
    for url in (config.redis_url, config.broker_url):
        try:
            password = urlsplit(url).password if url else None
        except ValueError:
            password = None
        if password:
            secrets.append(password)
    return Redactor(params, secrets)


class RedactingFilter(logging.Filter):
    """A handler filter that rewrites each record's final text (message, args, traceback) redacted."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw text, redacted
            message = str(record.msg)
        record.msg, record.args = self.redactor(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        return True


def install(redactor: Redactor, loggers: Iterable[logging.Logger]) -> None:
    """Put one RedactingFilter on every handler of these loggers (replacing an earlier one)."""
    for logger in loggers:
        for handler in logger.handlers:
            for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(old)
            handler.addFilter(RedactingFilter(redactor))
