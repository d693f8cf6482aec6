"""Schedules with real Celery beat and workers: a profile set up once runs on time, once.

Given staging and production paired and staged, with staging served (web, sync service,
worker and beat) ... the manual's "Setting up eSync Profiles" schedule choices.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import time

import pytest

from tests.db_sync_helpers import (
    EDIT_CONTENT,
    FIRST_CONTENT,
    TITLE_OF,
    run_python,
    staged_pair,
)
from tests.real_instances import ESYNC, child_environment

pytestmark = pytest.mark.slow

RUNS_OF = """
from syncengine.models import SyncRun
result = [dict(id=r.id, status=r.status, user=r.user_name, kind=r.kind,
               scheduled_for=r.scheduled_for, started=r.started_at, ended=r.ended_at,
               late=r.late_reason, worker=r.claimed_by, phase=r.phase)
          for r in SyncRun.objects.filter(profile__name={name!r}).order_by("id")]
"""


def runs_of(instance, name: str) -> list[dict]:
    return run_python(instance, RUNS_OF.format(name=name))


def wait_until(check, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def finished(runs: list[dict]) -> bool:
    return bool(runs) and all(r["status"] not in ("queued", "running") for r in runs)


def soon(seconds: int) -> str:
    """A start `seconds` from now, as `--start` takes it (UTC offset given)."""
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat(
        timespec="seconds")


def add_scheduled(pair, name: str, *schedule: str) -> None:
    pair.staging.esync("profile", "add", str(pair.relationship), "--name", name,
                       "--items", "database", "--direction", "upload", *schedule)


@pytest.mark.parametrize("broker", ["embedded", "redis"])
def test_a_one_time_schedule_runs_by_itself_exactly_once_and_its_log_names_the_scheduler(
        real_instances, tmp_path, broker):
    url = ""
    if broker == "redis":
        from tests.services import REDIS_URL, require_redis

        require_redis()
        url = f"{REDIS_URL}/{random.randint(1, 15)}"
    with staged_pair(real_instances, tmp_path, staging_broker=url) as pair:
        add_scheduled(pair, "Soon", "--schedule", "once", "--start", soon(8))
        listed = json.loads(pair.staging.esync("profile", "list", "--json").stdout)
        assert [p["schedule_in_words"].startswith("Once on") for p in listed
                if p["name"] == "Soon"] == [True]

        runs = wait_until(lambda: finished(r := runs_of(pair.staging, "Soon")) and r, 60,
                          "the One Time run")
        time.sleep(8)  # beat keeps ticking: nothing more may start
        runs = runs_of(pair.staging, "Soon")
        assert [(r["status"], r["user"]) for r in runs] == [("success", "scheduler")]
        assert runs[0]["late"] == ""
        logs = json.loads(pair.staging.esync("logs", "--json").stdout)
        assert [(entry["user"], entry["profile"]) for entry in logs][0] == ("scheduler", "Soon")


def test_a_schedule_due_while_a_run_is_busy_starts_when_it_ends_on_either_of_two_workers(
        real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        second_worker = subprocess.Popen(
            [*ESYNC, "--home", str(pair.staging.home), "worker", "--node", "second"],
            env=child_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            pair.add_profile("Long", "upload")
            content_id = run_python(pair.staging, FIRST_CONTENT)
            run_python(pair.staging, EDIT_CONTENT.format(id=content_id, title="Busy"))
            # Production's database is busy (another writer holds it): "Long" waits there to
            # apply its change, up to the database's 30 s busy timeout.
            writer = sqlite3.connect(pair.production.home / "esync.sqlite3",
                                     isolation_level=None)
            writer.execute("BEGIN IMMEDIATE")
            try:
                pair.staging.esync("sync", "Long")
                wait_until(lambda: [r["status"] for r in runs_of(pair.staging, "Long")]
                           == ["running"], 20, "the long run to start")
                add_scheduled(pair, "Due", "--schedule", "once", "--start", soon(5))
                wait_until(lambda: runs_of(pair.staging, "Due"), 15,
                           "the scheduled run to be queued")
                # Two workers, one run running and one due: the due one waits.
                for _ in range(4):
                    long_run, due = runs_of(pair.staging, "Long")[0], runs_of(pair.staging, "Due")
                    assert long_run["status"] == "running", long_run
                    assert [r["status"] for r in due] == ["queued"], due
                    time.sleep(0.5)
            finally:
                writer.execute("ROLLBACK")
                writer.close()
            wait_until(lambda: finished(runs_of(pair.staging, "Due")), 120,
                       "the scheduled run after the long one")
            long_run = runs_of(pair.staging, "Long")[0]
            due = runs_of(pair.staging, "Due")
            assert long_run["status"] == "success", long_run
            assert len(due) == 1 and due[0]["status"] == "success", due
            assert due[0]["started"] >= long_run["ended"], (long_run, due)
            assert run_python(pair.production, TITLE_OF.format(id=content_id)) == "Busy"
        finally:
            second_worker.terminate()
            second_worker.wait(timeout=30)


def next_minute(at_least: int = 5) -> str:
    """The next whole minute at least `at_least` seconds away (recurring starts are whole
    minutes), as `--start` takes it."""
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=at_least + 60)
    return moment.replace(second=0, microsecond=0).isoformat()


def triggers_received(served) -> int:
    return len(re.findall(r"Task esync\.run_scheduled_profile\[[^\]]+\] received",
                          served.output()))


def test_beat_killed_after_sending_a_start_sends_it_again_but_it_runs_once(
        real_instances, tmp_path):
    # Beat saves what it sent only every few minutes: killed in between, it sends the same
    # start again when it comes back. A daily schedule shows it (a One Time entry disables
    # itself at once).
    with staged_pair(real_instances, tmp_path) as pair:
        add_scheduled(pair, "Nightly", "--schedule", "daily", "--start", next_minute())
        wait_until(lambda: runs_of(pair.staging, "Nightly"), 90, "the scheduled run")
        served = pair.staging_served
        assert triggers_received(served) == 1
        beat_pid = int(re.search(r"beat pid (\d+)", served.output()).group(1))
        os.kill(beat_pid, signal.SIGKILL)
        served.wait_for_output("restarting beat", timeout=30)

        wait_until(lambda: triggers_received(served) >= 2, 60, "the start sent again")
        time.sleep(2)
        runs = runs_of(pair.staging, "Nightly")
        assert len(runs) == 1, runs
        wait_until(lambda: finished(runs_of(pair.staging, "Nightly")), 60, "the run's end")
        assert runs_of(pair.staging, "Nightly")[0]["status"] == "success"
