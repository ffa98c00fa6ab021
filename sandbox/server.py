"""Run the emulator as a threaded HTTP server (`python -m sandbox`, `cstar-bridge sandbox`)."""

from __future__ import annotations

import logging
import sys

from werkzeug.serving import make_server

from sandbox.app import create_sandbox_app
from sandbox.backend import SEEDED_KEYS

READY_LINE = "cstar sandbox listening on"


def serve(host: str = "127.0.0.1", port: int = 8100, rate_limit: int = 0, rate_window: float = 60.0,
          *, quiet: bool = False, get_shape: str = "full") -> None:
    """Serve the emulator until interrupted; port 0 picks a free port (the first line printed names it)."""
    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_sandbox_app(rate_limit=rate_limit, rate_window=rate_window, get_shape=get_shape)
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as exc:  # a port in use is a message, not a traceback
        print(f"cstar sandbox: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    url = f"http://{host}:{server.port}"
    # These are the emulator's own test keys; printing them is the point (see docs/sandbox.md).
    lines = [f"{READY_LINE} {url}", "seeded teams and keys:"]
    lines += [f"  {team:<12} {kind:<12} {key}" for key, team, kind in SEEDED_KEYS]
    limit = f"{rate_limit} requests / {rate_window:g}s per key" if rate_limit else "off"
    lines += [f"rate limit: {limit}",
              "GET of a customer: " + ("the spec example's fields, no metadata" if get_shape == "documented"
                                       else "the full customer, metadata included"),
              f"try: curl -H 'Authorization: Bearer sk_test_dev' {url}/api/v1/teams/team_dev/customers",
              f"test hooks (no auth, test-only): {url}/_sandbox/calls, /stats, /reset, /faults, /customers"]
    print("\n".join(lines), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
