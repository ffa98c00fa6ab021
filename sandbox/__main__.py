"""`python -m sandbox [--host H] [--port P] [--rate-limit N] [--rate-window S] [--quiet] [--get-shape S]`."""

from __future__ import annotations

import argparse

from sandbox.backend import GET_SHAPES
from sandbox.server import serve


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the emulator."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="cstar.help Customers API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    parser.add_argument("--rate-limit", type=int, default=0, help="requests per window per key (0 = off)")
    parser.add_argument("--rate-window", type=float, default=60.0, help="window length in seconds")
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    parser.add_argument("--get-shape", choices=GET_SHAPES, default="full",
                        help="documented: GET of a customer answers the spec example's fields (no metadata)")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.rate_limit, args.rate_window, quiet=args.quiet, get_shape=args.get_shape)


if __name__ == "__main__":
    main()
