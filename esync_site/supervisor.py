"""`esync serve`: run the instance's processes as children, report crashes, stop them together.

Children run in their own sessions so that Ctrl-C reaches only this supervisor, which then
stops them in order (SIGTERM, then SIGKILL after a grace period). A child that dies is
reported and restarted; one that keeps dying stops the whole instance with exit code 4, since
an instance without its worker silently never syncs.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from esync_site.refusal import Refusal
from esync_site.stop_request import StopRequest

PARTS = ("web", "syncservice", "worker", "beat")
GRACE_SECONDS = 15
MAX_CRASHES, CRASH_WINDOW_SECONDS = 3, 60


@dataclass
class Child:
    part: str
    argv: list[str]
    process: subprocess.Popen | None = None
    crashes: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, start_new_session=True,
                                        preexec_fn=_die_with_parent)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM if the supervisor itself is killed."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _take_lock(home: Path):
    """One `serve` per home: a second would run a second worker and beat on the same data."""
    lock_path = home / "state" / "serve.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+")  # noqa: SIM115 - held for the process lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise Refusal(f"{home} is already being served (pid {owner}).") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def serve(home: Path, parts: tuple[str, ...] = PARTS) -> int:
    config = settings.ESYNC
    lock = _take_lock(home)
    for what, host, port, key in (("Web", config.web_host, config.web_port, "web_port"),
                                  ("Sync", config.sync_host, config.sync_port, "sync_port")):
        if port_in_use(host, port):
            raise Refusal(
                f"{what} port {host}:{port} is already in use (another instance or program?). "
                f"Stop it, or change {key} in {home / 'esync.toml'}."
            )
    children = [
        Child(part, [sys.executable, "-m", "esync_site.cli", "--home", str(home), part])
        for part in parts
    ]
    stopping = StopRequest()
    for child in children:
        child.start()
    print(f"esync {config.name}: Workarea at http://{config.web_host}:{config.web_port}/ "
          f"({', '.join(f'{c.part} pid {c.process.pid}' for c in children)}). Ctrl-C stops.",
          flush=True)
    exit_code = 0
    try:
        while not stopping:
            time.sleep(0.5)
            for child in children:
                if stopping or child.running():
                    continue
                code = child.process.returncode
                now = time.monotonic()
                child.crashes = [t for t in child.crashes if now - t < CRASH_WINDOW_SECONDS]
                child.crashes.append(now)
                print(f"esync {config.name}: {child.part} exited with code {code}", file=sys.stderr,
                      flush=True)
                if len(child.crashes) >= MAX_CRASHES:
                    print(f"esync {config.name}: {child.part} failed {MAX_CRASHES} times within "
                          f"{CRASH_WINDOW_SECONDS}s; stopping the instance.", file=sys.stderr,
                          flush=True)
                    exit_code, stopping.requested = 4, True
                else:
                    print(f"esync {config.name}: restarting {child.part}", file=sys.stderr,
                          flush=True)
                    child.start()
    finally:
        _stop_all(children)
        lock.close()
    print(f"esync {config.name}: stopped.", flush=True)
    return exit_code


def _stop_all(children: list[Child]) -> None:
    for child in children:
        if child.running():
            os.killpg(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()
