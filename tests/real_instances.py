"""Real esync instances for tests: each its own home, database and processes, driven by `esync`."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.services import POSTGRES_ADMIN_URL

ADMIN_PASSWORD = "instance-admin-pass"
ESYNC = [str(Path(sys.executable).parent / "esync")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_environment() -> dict[str, str]:
    """What an instance process sees: nothing of the test process's own instance, and UTC
    as the machine's time zone (a new instance takes the machine's; tests expect UTC)."""
    env = dict(os.environ)
    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "ESYNC_HOME", "ESYNC_TEST_HOME_READY",
                "DJANGO_SETTINGS_MODULE"):
        env.pop(key, None)
    env["TZ"] = "UTC"
    return env


def run_esync(*arguments: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*ESYNC, *arguments], capture_output=True, text=True,
                          env=child_environment(), timeout=timeout)


def wait_for_http(url: str, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


# Runs snippets sent on stdin inside one long-lived `esync manage shell` of an instance: each
# snippet in fresh globals, what it prints captured, database connections closed after it (so
# the next one sees the files and rows as they are then, even if a restore replaced them).
SNIPPET_RUNNER = r"""
import contextlib, io, json, sys, traceback
from django.db import connections
while True:
    size = sys.stdin.buffer.readline()
    if not size:
        break
    code = sys.stdin.buffer.read(int(size)).decode()
    printed, ok = io.StringIO(), True
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "<snippet>", "exec"), {"__name__": "__main__"})
    except BaseException:
        ok = False
        printed.write(traceback.format_exc())
    finally:
        connections.close_all()
    answer = json.dumps({"ok": ok, "printed": printed.getvalue()}).encode()
    sys.stdout.buffer.write(b"ESYNC-SNIPPET %d\n" % len(answer) + answer)
    sys.stdout.buffer.flush()
"""


class SnippetRunner:
    """One `esync manage shell` of an instance kept running for its snippets: a Django start
    per snippet is most of what an end-to-end test spends. Restarted when esync.toml changes
    (settings are read at start)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.config_stamp = (home / "esync.toml").stat().st_mtime_ns
        self.process = subprocess.Popen(
            [*ESYNC, "--home", str(home), "manage", "shell", "--no-imports", "-c",
             SNIPPET_RUNNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=child_environment())

    @property
    def current(self) -> bool:
        return self.process.poll() is None and \
            (self.home / "esync.toml").stat().st_mtime_ns == self.config_stamp

    def run(self, code: str) -> tuple[bool, str]:
        data = code.encode()
        self.process.stdin.write(b"%d\n" % len(data) + data)
        self.process.stdin.flush()
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"the snippet runner of {self.home} stopped")
            if line.startswith(b"ESYNC-SNIPPET "):
                answer = json.loads(self.process.stdout.read(int(line.split()[1])))
                return answer["ok"], answer["printed"]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class RealInstance:
    home: Path
    name: str
    web_port: int
    sync_port: int
    _runner: SnippetRunner | None = None
    # Nothing has run against it since it was created (see sync_helpers.seed).
    pristine: bool = True

    def esync(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
        self.pristine = False
        result = run_esync("--home", str(self.home), *arguments)
        if check and result.returncode != 0:
            raise AssertionError(
                f"esync {' '.join(arguments)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def python(self, code: str) -> str:
        """Run Python inside this instance's Django and return what it printed."""
        self.pristine = False
        if self._runner is None or not self._runner.current:
            self.close()
            self._runner = SnippetRunner(self.home)
        ok, printed = self._runner.run(code)
        if not ok:
            raise AssertionError(f"a snippet failed in {self.name}:\n{code}\n{printed}")
        return printed

    def close(self) -> None:
        """Stop this instance's snippet runner, if it has one."""
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def info(self) -> dict:
        return json.loads(self.esync("info", "--json").stdout)

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @contextmanager
    def serving(self) -> Iterator[Served]:
        """`esync serve` running; stopped with Ctrl-C (SIGINT) at the end."""
        self.pristine = False
        log_path = self.home / "state" / "serve-under-test.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen([*ESYNC, "--home", str(self.home), "serve"],
                                       env=child_environment(), stdout=log,
                                       stderr=subprocess.STDOUT, text=True)
        served = Served(process, log_path)
        try:
            wait_for_http(f"{self.web_url}/accounts/login/")
            yield served
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


    @contextmanager
    def sync_serving(self, **extra_env: str) -> Iterator[subprocess.Popen]:
        """`esync syncservice` alone, listening on this instance's sync port."""
        self.pristine = False
        log_path = self.home / "state" / "syncservice-under-test.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen([*ESYNC, "--home", str(self.home), "syncservice"],
                                       env={**child_environment(), **extra_env}, stdout=log,
                                       stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.sync_port)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def trust(self, other: RealInstance, scratch: Path) -> None:
        """Export `other`'s certificates and apply them here (the manual's Steps 3 and 4)."""
        folder = scratch / f"{other.name}-export-{time.monotonic_ns()}"
        other.esync("certs", "export", str(folder))
        self.esync("certs", "apply", str(folder))

    def test_connection(self, other: RealInstance) -> subprocess.CompletedProcess:
        return self.esync("certs", "test", f"127.0.0.1:{other.sync_port}", check=False)


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on port {port}")
        time.sleep(0.2)


@dataclass
class Served:
    """A running `esync serve` and what it has printed so far."""

    process: subprocess.Popen
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not printed; output so far:\n{self.output()}")
            time.sleep(0.2)
        return self.output()


def create_instance(root: Path, name: str, database_url: str | None = None) -> RealInstance:
    """An instance as `esync init` makes it: copied from one made once per name and backend in
    this test process (init spends seconds migrating an empty database, the same each time;
    instances of one name never meet, a test's instances have different names). On PostgreSQL
    `database_url` is a copy of that instance's database (`postgres_template_for`)."""
    instance = RealInstance(home=root / name, name=name, web_port=free_port(),
                            sync_port=free_port())
    template = _initialized_home(name, "postgres" if database_url else "sqlite")
    shutil.copytree(template, instance.home, symlinks=True)
    config = instance.home / "esync.toml"
    text = re.sub(r"(?m)^web_port = \d+$", f"web_port = {instance.web_port}", config.read_text())
    text = re.sub(r"(?m)^sync_port = \d+$", f"sync_port = {instance.sync_port}", text)
    if database_url:
        text = re.sub(r"(?m)^database_url = .*$", f'database_url = "{database_url}"', text)
    config.write_text(text)
    return instance


_INITIALIZED: dict[tuple[str, str], tuple[Path, str | None]] = {}


def postgres_template_for(name: str) -> str:
    """The PostgreSQL database `esync init` filled for this name, to copy (TEMPLATE) from."""
    _initialized_home(name, "postgres")
    return _INITIALIZED[(name, "postgres")][1]


def _initialized_home(name: str, backend: str) -> Path:
    known = _INITIALIZED.get((name, backend))
    if known is not None:
        return known[0]
    template = Path(tempfile.mkdtemp(prefix="esync-initialized-")) / name
    atexit.register(shutil.rmtree, template.parent, ignore_errors=True)
    arguments = ["init", str(template), "--name", name, "--web-port", str(free_port()),
                 "--sync-port", str(free_port()), "--admin", f"admin:{ADMIN_PASSWORD}"]
    database = None
    if backend == "postgres":
        database = _template_database()
        arguments += ["--db", f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{database}"]
    result = run_esync(*arguments)
    if result.returncode != 0:
        raise AssertionError(f"esync init failed:\n{result.stdout}\n{result.stderr}")
    _INITIALIZED[(name, backend)] = (template, database)
    return template


def _template_database() -> str:
    import psycopg
    from psycopg import sql

    name = f"esync_tpl_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))

    atexit.register(drop)
    return name
