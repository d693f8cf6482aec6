"""`esync serve`: web, worker and beat as children; Ctrl-C stops them all; crashes are reported."""

import os
import re
import signal
import time

import pytest

from tests.real_instances import run_esync, wait_for_http

pytestmark = pytest.mark.slow


def child_pids(served) -> dict[str, int]:
    banner = served.wait_for_output("Ctrl-C stops.")
    found = re.findall(r"(web|syncservice|worker|beat) pid (\d+)", banner)
    return {part: int(pid) for part, pid in found}


PING_WORKER = """
import time
from esync_site.celery import app
from django.conf import settings
deadline = time.monotonic() + 30
replies = []
while not replies and time.monotonic() < deadline:
    replies = app.control.ping(timeout=2)
print(settings.CELERY_BROKER_URL, replies)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_answers_on_the_web_port_and_stops_everything_on_ctrl_c(real_instances):
    staging = real_instances("staging")
    with staging.serving() as server:
        pids = child_pids(server)
        assert set(pids) == {"web", "syncservice", "worker", "beat"}
        assert wait_for_http(f"{staging.web_url}/accounts/login/") == 200
        assert wait_for_http(f"{staging.web_url}/static/esync/workarea.css") == 200
        # The worker really consumes from this instance's broker: it answers a ping.
        replies = staging.python(PING_WORKER)
        assert "esync-staging@" in replies and "'ok': 'pong'" in replies
        second = run_esync("--home", str(staging.home), "serve")
        assert second.returncode == 3 and "already being served" in second.stderr
    assert server.process.returncode == 0
    assert "esync staging: stopped." in server.output()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in pids.values())


def test_a_crashed_child_is_reported_and_restarted(real_instances):
    staging = real_instances("staging")
    with staging.serving() as server:
        pids = child_pids(server)
        os.kill(pids["beat"], signal.SIGKILL)
        output = server.wait_for_output("restarting beat")
        assert "beat exited with code -9" in output
        assert server.process.poll() is None  # the instance goes on


def test_a_web_port_already_taken_is_refused_with_what_to_do(real_instances):
    staging = real_instances("staging")
    production = real_instances("production")
    config = production.home / "esync.toml"
    config.write_text(config.read_text().replace(
        f"web_port = {production.web_port}", f"web_port = {staging.web_port}"))
    with staging.serving():
        result = run_esync("--home", str(production.home), "serve")
    assert result.returncode == 3
    assert f"Web port 127.0.0.1:{staging.web_port} is already in use" in result.stderr


def test_with_redis_as_broker_the_worker_answers_on_its_own_database(real_instances):
    import random

    from tests.services import REDIS_URL, require_redis

    require_redis()
    staging = real_instances("staging")
    config = staging.home / "esync.toml"
    broker = f"{REDIS_URL}/{random.randint(1, 15)}"
    config.write_text(config.read_text().replace('broker_url = ""', f'broker_url = "{broker}"'))
    with staging.serving():
        replies = staging.python(PING_WORKER)
    assert replies.startswith(broker)
    assert "esync-staging@" in replies and "'ok': 'pong'" in replies


@pytest.mark.parametrize("part", ["syncservice", "web"])
def test_two_interrupts_back_to_back_still_stop_a_server(real_instances, part):
    # Ctrl-C in a terminal, then a supervisor's own signal: the second must not cut the
    # first one's clean stop short (cheroot's threads would keep the process alive).
    import subprocess

    from tests.real_instances import ESYNC, child_environment, wait_for_port

    instance = real_instances("staging")
    port = instance.web_port
    if part == "syncservice":
        instance.esync("certs", "generate")  # the service listens once it has a certificate
        port = instance.sync_port
    for _ in range(3):
        process = subprocess.Popen([*ESYNC, "--home", str(instance.home), part],
                                   env=child_environment(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            process.send_signal(signal.SIGINT)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0  # a requested stop is a clean one
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
