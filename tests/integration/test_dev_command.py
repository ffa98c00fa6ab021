"""`cstar-bridge dev` as a user runs it: a real process tree (redis-server, sandbox, Celery worker,
gunicorn), its banner printed last, the curl it prints run by bash exactly as printed, the CLI beside
it finding its Redis, and SIGTERM / SIGHUP / Ctrl-C stopping every process it started and freeing
every port."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import alive, descendants, port_free
from workers.config_vars import load_yaml_with_vars
from workers.redis_server import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent
CLI = str(BIN / "cstar-bridge")
BANNER_END = "Ctrl-C (or SIGTERM, SIGHUP) stops everything."


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BRIDGE_", "CSTAR_", "REDIS_URL", "DEV_SOURCE_TOKEN"))}
    # `cstar-bridge` first on PATH, as after `.venv/bin/activate` (the banner says `cstar-bridge …`)
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "PYTHONUNBUFFERED": "1", **extra}


class Dev:
    """One `cstar-bridge dev` process with its output in a file."""

    def __init__(self, cwd: Path, args: list[str], env: dict[str, str]) -> None:
        self.cwd = cwd
        self.port, self.sandbox_port = free_port(), free_port()
        self.log_path = cwd / "dev.log"
        self.env = env
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([CLI, "dev", "--port", str(self.port), "--sandbox-port", str(self.sandbox_port),
                                      *args], cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_banner(self, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while BANNER_END not in self.output():
            assert self.proc.poll() is None, f"dev exited with {self.proc.returncode}:\n{self.output()[-4000:]}"
            assert time.monotonic() < deadline, f"no banner after {timeout} s:\n{self.output()[-4000:]}"
            time.sleep(0.2)
        return self.output()

    def run(self, command: str, timeout: float = 60, **extra_env: str) -> subprocess.CompletedProcess[str]:
        """A shell command, run by bash exactly as written, in dev's directory."""
        return subprocess.run(["bash", "-c", command], cwd=self.cwd, env={**self.env, **extra_env},
                              capture_output=True, text=True, timeout=timeout)

    def stop(self, sig: int, timeout: float = 90) -> set[int]:
        """Send `sig` to dev alone (not its group: as systemd or a closed terminal would reach it) and
        return the processes it had started."""
        started = descendants(self.proc.pid)
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        finally:
            self._log.close()
        return started

    def kill_everything(self) -> None:
        if self.proc.poll() is None:
            for pid in descendants(self.proc.pid) | {self.proc.pid}:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait(10)
        self._log.close()


@pytest.fixture
def dev_runs(tmp_path):
    runs: list[Dev] = []

    def start(args: list[str] = (), env: dict[str, str] | None = None, cwd: Path | None = None) -> Dev:
        d = Dev(cwd or tmp_path, list(args), env or clean_env())
        runs.append(d)
        return d

    yield start
    for d in runs:
        d.kill_everything()


def block(banner: str, title: str) -> str:
    """The shell lines of the banner block after `title` (up to the next blank line)."""
    rest = banner.split(title, 1)[1].lstrip("\n")
    return rest.split("\n\n", 1)[0]


def assert_all_stopped(dev: Dev, started: set[int], redis_port: int | None) -> None:
    assert started, "dev had no child processes to stop"
    deadline = time.monotonic() + 30
    while any(alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = sorted(p for p in started if alive(p))
    assert not left, f"still running after dev stopped: {left}\n{dev.output()[-3000:]}"
    ports = [dev.port, dev.sandbox_port] + ([redis_port] if redis_port else [])
    assert all(port_free(p) for p in ports), f"a port is still taken: {ports}"
    assert "stopped: no process left behind" in dev.output()
    assert not (dev.cwd / ".dev" / "runtime.json").exists()


def found_customer(run: subprocess.CompletedProcess[str]) -> dict[str, Any] | None:
    """The customer a "then see it" run printed, or None while it does not exist yet."""
    try:
        body = json.loads(run.stdout)
    except ValueError:
        return None
    return body["data"] if run.returncode == 0 and body.get("success") else None


def wait_for(check: Any, what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not after {timeout} s"
        time.sleep(0.5)


def test_dev_banner_last_its_curls_work_the_cli_finds_it_and_sigterm_stops_everything(dev_runs):
    dev = dev_runs()
    out = dev.wait_banner()
    # the banner comes after Celery's banner, its task list and its "ready" line
    banner_at = out.index("cstar-bridge is running")
    assert out.index("[tasks]") < banner_at and out.index(" ready.") < banner_at
    banner = out[banner_at:]
    runtime = json.loads((dev.cwd / ".dev" / "runtime.json").read_text())
    assert runtime["bridge_url"] == f"http://127.0.0.1:{dev.port}"
    assert oct((dev.cwd / ".dev" / "runtime.json").stat().st_mode & 0o777) == "0o600"
    redis_port = int(runtime["redis_url"].rsplit(":", 1)[1].split("/")[0])

    # the console the banner names answers with its sign-in page
    console = banner.split("console:", 1)[1].split()[0]
    assert console == f"http://127.0.0.1:{dev.port}/console"
    signin = dev.run(f"curl -sS -L '{console}'")
    assert signin.returncode == 0 and 'name="token"' in signin.stdout, signin

    create = block(banner, "Create a customer (source `zapier`):")
    assert "X-Bridge-Token: dev-token" in create  # dev's own demo token may be shown
    posted = dev.run(create)
    assert posted.returncode == 0 and '"eventId"' in posted.stdout, posted
    event_id = json.loads(posted.stdout)["data"]["eventId"]

    # the CLI beside dev finds its Redis by itself: the banner's command, then README's, exactly as written
    what = banner.split("What the bridge did:", 1)[1].split("\n", 1)[0].strip()
    assert what == "cstar-bridge events list --status done"
    listed = wait_for(lambda: (r := dev.run(what)).returncode == 0 and event_id in r.stdout and r,
                      "the event listed as done")
    assert "Traceback" not in listed.stdout + listed.stderr
    shown = dev.run(f"cstar-bridge events show {event_id}")
    assert shown.returncode == 0 and json.loads(shown.stdout)["status"] == "done", shown
    dead = dev.run("cstar-bridge events list --status dead")
    assert dead.returncode == 0 and "0 event(s) with status dead" in dead.stdout, dead
    replay = dev.run("cstar-bridge events replay --all-dead")
    assert replay.returncode == 0 and "no dead letters to replay" in replay.stdout, replay
    replay_one = dev.run(f"cstar-bridge events replay {event_id}")
    assert replay_one.returncode == 1 and "not replayable (status done)" in replay_one.stdout, replay_one

    # "then see it": a GET that shows the customer's tags and metadata
    see = dev.run(block(banner, "Then see it, with its tags and metadata:"))
    customer = found_customer(see)
    assert customer, see
    assert customer["email"] == "ada@example.com"
    assert {"lead", "zapier-webinar", "hot-lead"} <= set(customer["tags"])
    assert customer["metadata"]["lead_score"] == 91 and customer["metadata"]["lead_source"] == "Webinar"

    # every source dev configures has an example rule that visibly changes the customer
    sources = load_yaml_with_vars((dev.cwd / ".dev" / "bridge.yaml").read_text(), None, "dev")["sources"]
    assert set(sources) == {"zapier", "contact-form"}
    for name, source in sources.items():
        email = f"{name}@visible.test"
        data = (f"-H 'Content-Type: application/json' -d '{{\"email\": \"{email}\"}}'"
                if source["adapter"] == "json" else f"--data-urlencode 'email={email}'")
        r = dev.run(f"curl -sS -X POST 'http://127.0.0.1:{dev.port}/hooks/{name}' -H 'X-Bridge-Token: dev-token' "
                    f"{data}")
        assert '"eventId"' in r.stdout, (name, r.stdout)
        get = block(banner, "Then see it, with its tags and metadata:").replace("ada@example.com", email)
        seen = wait_for(lambda: found_customer(dev.run(get)), f"the customer of {name}")
        assert seen["tags"], f"source {name}: the example rules changed nothing"

    started = dev.stop(signal.SIGTERM)
    assert dev.proc.returncode == 0
    assert_all_stopped(dev, started, redis_port)


def test_dev_with_a_config_without_cstar_uses_its_sandbox_shows_no_secret_and_sighup_stops_it(dev_runs, tmp_path):
    secret = "s3cr3t #with: colon"
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("sources:\n  leads: {adapter: json, verify: {scheme: token, secret: ${MY_LEADS_TOKEN}}}\n"
                   "  zapier: {adapter: json, verify: {scheme: token, secret: ${MY_LEADS_TOKEN}}}\n"
                   "rules: ['my-rules/*.yaml']\n")
    (tmp_path / "my-rules").mkdir()  # not `rules/`: beside an editable install it would shadow the package
    (tmp_path / "my-rules" / "leads.yaml").write_text(
        "version: 1\nrules:\n  - id: leads\n    when: {source: [leads, zapier]}\n"
        "    customer: {email: '{{ data.email }}', create: true}\n"
        "    actions:\n      - add_tags: [from-leads]\n      - set_metadata: {seen: \"ok\"}\n")
    dev = dev_runs(["--config", str(cfg)], clean_env(MY_LEADS_TOKEN=secret))
    out = dev.wait_banner()
    assert secret not in out and "s3cr3t" not in out
    create = block(out, "Create a customer (source `leads`):")
    assert '"X-Bridge-Token: $MY_LEADS_TOKEN"' in create
    posted = dev.run(create)  # the shell fills the token in
    assert '"eventId"' in posted.stdout, posted
    see = block(out, "Then see it, with its tags and metadata:")
    seen = wait_for(lambda: found_customer(dev.run(see)), "the customer in dev's sandbox")
    assert "from-leads" in seen["tags"] and seen["metadata"] == {"seen": "ok"}
    redis_port = int(json.loads((tmp_path / ".dev" / "runtime.json").read_text())["redis_url"]
                     .rsplit(":", 1)[1].split("/")[0])
    started = dev.stop(signal.SIGHUP)
    assert_all_stopped(dev, started, redis_port)
    assert secret not in dev.output()


def test_ctrl_c_stops_everything_and_leaves_a_redis_from_redis_url_alone(dev_runs, redis_url):
    dev = dev_runs(["-c", "1"], clean_env(REDIS_URL=redis_url))
    out = dev.wait_banner()
    assert f"redis:    {redis_url} (from REDIS_URL)" in out
    listed = dev.run("cstar-bridge events list --status dead", **{"REDIS_URL": ""})  # a shell without it
    assert listed.returncode == 0 and "event(s) with status dead" in listed.stdout, listed
    assert "using the running `cstar-bridge dev`" in listed.stderr
    started = dev.stop(signal.SIGINT)
    assert_all_stopped(dev, started, None)
    import redis

    assert redis.Redis.from_url(redis_url).ping()


def test_dev_without_sandbox_refuses_a_config_that_cannot_reach_the_api(dev_runs, tmp_path):
    cfg = tmp_path / "noapi.yaml"
    cfg.write_text("sources:\n  zapier: {adapter: json, verify: {scheme: token, secret: abc}}\n")
    dev = dev_runs(["--config", str(cfg), "--no-sandbox"])
    dev.proc.wait(120)
    out = dev.output()
    assert dev.proc.returncode == 1, out
    assert "cstar.team_id is missing" in out and "cstar.api_key is missing" in out
    assert "Traceback" not in out
    port = re.search(r"redis:\s+redis://127\.0\.0\.1:(\d+)/", out)
    assert port and port_free(int(port.group(1))), out  # the embedded redis it had started is gone


def test_the_cli_says_what_to_export_when_redis_does_not_answer(tmp_path):
    env = clean_env(REDIS_URL=f"redis://:pw@127.0.0.1:{free_port()}/0")
    for args in (["events", "list"], ["events", "show", "x"], ["events", "replay", "--all-dead"]):
        done = subprocess.run([CLI, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        out = done.stdout + done.stderr
        assert done.returncode == 1, out
        assert "cannot reach Redis at redis://***@127.0.0.1" in out and "export REDIS_URL=" in out, out
        assert "Traceback" not in out and ":pw@" not in out
    # a runtime file left by a dev that is gone: said so, not used
    (tmp_path / ".dev").mkdir()
    (tmp_path / ".dev" / "runtime.json").write_text(json.dumps({"pid": 2 ** 22 + 7, "env": {
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}}))
    done = subprocess.run([CLI, "events", "list"], cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "is not running" in done.stderr and "Traceback" not in done.stderr, done


def test_a_taken_port_is_a_message_not_a_traceback(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        dev = subprocess.run([CLI, "dev", "--port", str(port), "--sandbox-port", str(free_port())], cwd=tmp_path,
                             env=clean_env(), capture_output=True, text=True, timeout=120)
        assert dev.returncode == 1 and f"the bridge cannot listen on 127.0.0.1:{port}" in dev.stderr, dev
        assert "--port" in dev.stderr and "Traceback" not in dev.stdout + dev.stderr
        sandbox = subprocess.run([CLI, "sandbox", "--port", str(port)], env=clean_env(), capture_output=True,
                                 text=True, timeout=60)
        assert sandbox.returncode == 1 and f"{port} is in use" in sandbox.stderr, sandbox
        assert "Traceback" not in sandbox.stdout + sandbox.stderr


def test_a_redis_url_that_does_not_answer_stops_dev_with_a_message(tmp_path):
    url = f"redis://:pw@127.0.0.1:{free_port()}/0"
    done = subprocess.run([CLI, "dev", "--port", str(free_port()), "--sandbox-port", str(free_port())], cwd=tmp_path,
                          env=clean_env(REDIS_URL=url), capture_output=True, text=True, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "does not answer" in out and "unset REDIS_URL" in out, out
    assert "Traceback" not in out and ":pw@" not in out


def test_a_closed_terminal_sighup_still_stops_everything(tmp_path):
    """The terminal is gone (its output pipe closed), then SIGHUP arrives: nothing is left running."""
    port, sandbox_port = free_port(), free_port()
    proc = subprocess.Popen([CLI, "dev", "-c", "1", "--port", str(port), "--sandbox-port", str(sandbox_port)],
                            cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    started: set[int] = set()
    try:
        assert proc.stdout is not None
        seen = b""
        deadline = time.monotonic() + 180
        while BANNER_END.encode() not in seen:
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, seen.decode(errors="replace")[-3000:]
            seen += line
        started = descendants(proc.pid)
        proc.stdout.close()  # the terminal closes
        proc.send_signal(signal.SIGHUP)
        proc.wait(90)
        deadline = time.monotonic() + 30
        while any(alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert started and not [p for p in started if alive(p)]
        assert port_free(port) and port_free(sandbox_port)
        assert not (tmp_path / ".dev" / "runtime.json").exists()
    finally:
        if proc.poll() is None:
            for pid in descendants(proc.pid) | {proc.pid}:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait(10)
