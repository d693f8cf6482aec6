"""`esync demo`: staging and production on this machine, seeded and started, ready to click.

Each instance runs in its own processes (its own settings, database and broker), so this
module only orchestrates `esync` subprocesses and never sets Django up itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from esync_site.instance import CONFIG_FILE

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


def run_demo(base: Path, start: bool = True) -> int:
    try:
        prepare(base)
    except subprocess.CalledProcessError as error:
        print(f"esync demo: setting up failed ({error}); see the messages above.", file=sys.stderr)
        return 4
    if not start:
        return 0
    env = instance_environment()
    servers = [
        subprocess.Popen(_esync("--home", str(i.home(base)), "serve"), env=env,
                         start_new_session=True)
        for i in DEMO_INSTANCES
    ]
    print("\nesync demo is starting:")
    for instance in DEMO_INSTANCES:
        print(f"  {instance.name:<11} http://127.0.0.1:{instance.web_port}/  "
              f"(sync port {instance.sync_port}, home {instance.home(base)})")
    print(f"  sign in as admin / {DEMO_PASSWORD} (also jsmith = editor, syncadmin = "
          "Synchronization Admin, same password)")
    print("  Ctrl-C stops both.\n", flush=True)
    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        while not stopping and all(s.poll() is None for s in servers):
            time.sleep(0.5)
    finally:
        for server in servers:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait()
    failed = [i.name for i, s in zip(DEMO_INSTANCES, servers, strict=True) if s.returncode]
    if failed and not stopping:
        print(f"esync demo: {', '.join(failed)} stopped unexpectedly; see the messages above.",
              file=sys.stderr)
        return 4
    return 0
