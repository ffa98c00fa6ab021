"""docs/sandbox.md's `cstar-bridge sandbox --port 0 --get-shape documented`, run exactly as written: GET
answers the spec example's fields and no metadata, while the metadata is kept and merged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.api.test_sandbox_conformance import DOCUMENTED_GET_EXAMPLE

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_the_documented_get_shape_command(tmp_path):
    doc = (REPO / "docs" / "sandbox.md").read_text()
    command = next(line.split("  #", 1)[0].strip() for line in doc.splitlines() if "--get-shape documented" in line
                   and line.startswith("cstar-bridge"))
    assert command == "cstar-bridge sandbox --port 0 --get-shape documented"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("cstar sandbox listening on "), first
        url = first.split()[-1]
        auth = {"Authorization": "Bearer sk_test_dev"}
        created = httpx.post(f"{url}/api/v1/teams/team_dev/customers", headers=auth, timeout=10,
                             json={"name": "Jane", "email": "jane@example.com", "metadata": {"plan": "pro"}})
        assert created.status_code == 201 and created.json()["data"]["metadata"] == {"plan": "pro"}
        got = httpx.get(f"{url}/api/v1/teams/team_dev/customers/{created.json()['data']['id']}", headers=auth,
                        timeout=10).json()["data"]
        assert list(got) == list(DOCUMENTED_GET_EXAMPLE)
        stored = httpx.get(f"{url}/_sandbox/customers", timeout=10).json()["customers"]
        assert stored[0]["metadata"] == {"plan": "pro"}
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
