"""`esync demo`: staging and production on this machine, seeded and started, ready to click.

Each instance runs in its own processes (its own settings, database and broker), so this
module only orchestrates `esync` subprocesses and never sets Django up itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from esync_site.instance import CONFIG_FILE
from esync_site.stop_request import StopRequest

DEMO_PASSWORD = "esync-demo"  # shown on screen: a demo on loopback, not a deployment


@dataclass(frozen=True)
class DemoInstance:
    name: str
    web_port: int
    sync_port: int
    seeded: bool

    def home(self, base: Path) -> Path:
        return base / self.name


DEMO_INSTANCES = (
    DemoInstance("staging", 8000, 8732, seeded=True),
    DemoInstance("production", 8001, 8733, seeded=False),
)


def instance_environment() -> dict[str, str]:
    """The demo runs on SQLite and the embedded broker whatever the shell has exported."""
    env = dict(os.environ)
    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "ESYNC_HOME"):
        env.pop(key, None)
    return env


def _esync(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "esync_site.cli", *arguments]


def prepare(base: Path) -> None:
    env = instance_environment()
    for instance in DEMO_INSTANCES:
        home = instance.home(base)
        if not (home / CONFIG_FILE).exists():
            print(f"Creating {instance.name} in {home} …", flush=True)
            subprocess.run(_esync(
                "init", str(home), "--name", instance.name,
                "--web-port", str(instance.web_port), "--sync-port", str(instance.sync_port),
                "--admin", f"admin:{DEMO_PASSWORD}",
            ), env=env, check=True, stdout=subprocess.DEVNULL)
        if instance.seeded:
            subprocess.run(_esync("--home", str(home), "manage", "seed_demo",
                                  "--password", DEMO_PASSWORD), env=env, check=True)
    exchange_certificates(base, env)


def exchange_certificates(base: Path, env: dict[str, str]) -> None:
    """What the manual's Scenario 1 installer does: each instance trusts the other."""
    quiet = {"env": env, "check": True, "stdout": subprocess.DEVNULL}
    for instance in DEMO_INSTANCES:
        subprocess.run(_esync("--home", str(instance.home(base)), "certs", "generate"), **quiet)
    with tempfile.TemporaryDirectory() as scratch:
        staging, production = DEMO_INSTANCES
        for exporter, applier in ((staging, production), (production, staging)):
            folder = Path(scratch) / exporter.name
            subprocess.run(_esync("--home", str(exporter.home(base)), "certs", "export",
                                  str(folder)), **quiet)
            subprocess.run(_esync("--home", str(applier.home(base)), "certs", "apply",
                                  str(folder)), **quiet)
    print("Certificates generated and exchanged: staging and production trust each other.",
          flush=True)


def _wait_until_answering(
    servers: list[subprocess.Popen], stopping: StopRequest, timeout: float = 90
) -> bool:
    deadline = time.monotonic() + timeout
    pending = {i.web_port for i in DEMO_INSTANCES}
    while pending and time.monotonic() < deadline and not stopping:
        if any(s.poll() is not None for s in servers):
            return False
        for port in list(pending):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/",
                                            timeout=2):
                    pending.discard(port)
            except OSError:
                pass
        time.sleep(0.3)
    return not pending


def _stop(servers: list[subprocess.Popen]) -> None:
    for server in servers:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
    for server in servers:
        server.wait()


def _show_log_tails(logs: list[Path]) -> None:
    for instance, log_path in zip(DEMO_INSTANCES, logs, strict=True):
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        print(f"--- {instance.name}: last lines of {log_path}", *tail, sep="\n", file=sys.stderr)


def run_demo(base: Path, start: bool = True) -> int:
    try:
        prepare(base)
    except subprocess.CalledProcessError as error:
        print(f"esync demo: setting up failed ({error}); see the messages above.", file=sys.stderr)
        return 4
    if not start:
        return 0
    stop_requested = StopRequest()
    env = instance_environment()
    servers: list[subprocess.Popen] = []
    logs = [i.home(base) / "state" / "serve.log" for i in DEMO_INSTANCES]
    try:
        for instance, log_path in zip(DEMO_INSTANCES, logs, strict=True):
            with open(log_path, "a") as log:
                servers.append(subprocess.Popen(
                    _esync("--home", str(instance.home(base)), "serve"), env=env,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                ))
        print("Starting staging and production …", flush=True)
        if not _wait_until_answering(servers, stop_requested):
            if stop_requested:
                return 0
            _show_log_tails(logs)
            print("esync demo: the instances did not come up; see above.", file=sys.stderr)
            return 4
        print("\nesync demo is running:")
        for instance, log_path in zip(DEMO_INSTANCES, logs, strict=True):
            print(f"  {instance.name:<11} http://127.0.0.1:{instance.web_port}/  "
                  f"(sync port {instance.sync_port}; log {log_path})")
        print(f"  sign in as admin / {DEMO_PASSWORD} (also jsmith = editor, syncadmin = "
              "Synchronization Admin, same password)")
        print("  visitors sign up as members at /site/signup/ on either instance")
        print("  Ctrl-C stops both.\n", flush=True)
        while not stop_requested and all(s.poll() is None for s in servers):
            time.sleep(0.5)
    finally:
        _stop(servers)
    if not stop_requested:
        _show_log_tails(logs)
        print("esync demo: an instance stopped unexpectedly; see above.", file=sys.stderr)
        return 4
    return 0
