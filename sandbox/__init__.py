"""A faithful, stateful emulator of the cstar.help Customers API, for `dev` and for tests.

`SandboxBackend` holds the state and the rules (`sandbox.backend`), `create_sandbox_app` serves it
over HTTP (`sandbox.app`), `serve` runs it (`sandbox.server`, `python -m sandbox`). Imports nothing
of the bridge or the workers.
"""

from sandbox.backend import SandboxBackend
from sandbox.errors import SandboxError

__all__ = ["SandboxBackend", "SandboxError"]
