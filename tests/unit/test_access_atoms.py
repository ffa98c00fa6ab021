"""The access log's atoms are redacted as the format reads them (bridge.gunicorn_conf), with the same
result as redacting every atom first: secrets masked before gunicorn escapes quotes, '-' for absent
atoms, `{header}i` lookups case-insensitive."""

from __future__ import annotations

from gunicorn.glogging import SafeAtoms

from bridge.gunicorn_conf import _RedactedAtoms
from bridge.redact import MASK, Redactor

SECRET = 'se"cret-value-99'
REDACTOR = Redactor(secrets=[SECRET])


class Atoms(_RedactedAtoms):
    redact = staticmethod(REDACTOR)


RAW = {"r": "POST /hooks/x?token=abc HTTP/1.1", "a": f'curl {SECRET}', "s": "202", "b": 12,
       "{user-agent}i": f'ua {SECRET}', "{wsgi.input}e": object()}
FORMAT = '"%(r)s" %(s)s %(b)s "%(a)s" %({User-Agent}i)s %({X-Missing}i)s %(q)s'


def test_lazy_atoms_format_as_redacting_every_atom_first() -> None:
    eager = SafeAtoms({k: REDACTOR(v) if isinstance(v, str) else v for k, v in RAW.items()})
    lazy = Atoms(RAW)
    assert FORMAT % lazy == FORMAT % eager
    line = FORMAT % lazy
    assert SECRET not in line and SECRET.replace('"', '\\"') not in line and "token=abc" not in line
    assert f'"curl {MASK}"' in line and line.endswith(" - -")


def test_negative_control_without_redaction_the_secret_shows() -> None:
    assert SECRET.replace('"', '\\"') in FORMAT % SafeAtoms(RAW)
