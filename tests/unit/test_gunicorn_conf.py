"""bridge.gunicorn_conf: what gunicorn's master runs (before gevent patches its workers)."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace


def test_the_master_loads_no_client_library_that_gevent_must_patch_first(tmp_path):
    """gunicorn itself imports ssl (gevent copes); a library holding `from ssl import …` names (redis-py,
    prometheus_client's exposition, urllib3, kombu) loaded before the patch would not be patched."""
    code = ("import sys, bridge.gunicorn_conf as c; from gunicorn.config import Config; "
            "c.RedactingLogger(Config()); c.child_exit(None, type('W', (), {'pid': 7})); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'prometheus_client', 'urllib3', 'kombu', 'celery', 'flask')))")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip() == "[]"


def test_child_exit_drops_only_the_dead_workers_live_gauge_files(tmp_path, monkeypatch):
    from bridge.gunicorn_conf import child_exit

    names = ["gauge_livesum_41.db", "gauge_liveall_41.db", "gauge_all_41.db", "counter_41.db",
             "gauge_livesum_42.db"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    child_exit(None, SimpleNamespace(pid=41))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_41.db", "gauge_all_41.db", "gauge_livesum_42.db"]
