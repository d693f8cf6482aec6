"""A profile run cut off by a killed worker: the next run finishes the job (DESIGN.md: applying
is idempotent, anchors move only once their rows are in), and a second sync asked for while
one runs is refused.
"""

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.db_sync_helpers import LAST_RUN, run_python
from tests.sync_helpers import contents, create_relationship, seed, trust_both_ways

pytestmark = pytest.mark.slow

ROWS = 20000

BULK_CONTENT = f"""
from cms.models import Content, Folder
folder = Folder.objects.create(name="Bulk")
Content.objects.bulk_create([Content(folder=folder, title=f"Page {{i}}", html="x" * 500)
                             for i in range({ROWS})], batch_size=2000)
result = True
"""

BULK_EDIT = """
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("UPDATE cms_content SET title = title || ' (spring)', html = html || 'y'")
    result = cursor.rowcount
"""

ROW_COUNTS = """
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT COUNT(*), COUNT(DISTINCT id), "
                   "SUM(CASE WHEN title LIKE '%(spring)' THEN 1 ELSE 0 END) FROM cms_content")
    result = list(cursor.fetchone())
"""


def worker_pid(home) -> int:
    """The Celery worker `esync serve` started for this home."""
    wanted = ["--home", str(home), "worker"]
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # gone meanwhile
        if argv[-4:-1] == wanted or argv[-3:] == wanted:
            found.append(int(cmdline.parent.name))
    assert len(found) == 1, found
    return found[0]


def progress(home, run_id: int) -> dict:
    path = home / "state" / "runs" / f"{run_id}.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("direction", ["bidirectional"])
def test_a_run_whose_worker_is_killed_is_finished_by_the_next_run(
        real_instances, tmp_path, direction):
    staging, production = real_instances("staging"), real_instances("production")
    seed(staging)
    run_python(staging, BULK_CONTENT)
    trust_both_ways(staging, production, tmp_path)
    with production.sync_serving(), staging.serving() as served:
        relationship = create_relationship(staging, production, "upload")
        staging.esync("initial-sync", str(relationship), "--wait")
        staging.esync("profile", "add", str(relationship), "--name", "Big", "--items",
                      "database", "--direction", direction, "--policy", "local-wins")
        assert run_python(staging, BULK_EDIT) >= ROWS

        staging.esync("sync", "Big")
        run_id = run_python(staging, "from syncengine.models import SyncRun\n"
                                     "result = SyncRun.objects.order_by('-id').first().id")
        # Only one sync at a time: a second one asked for meanwhile is refused.
        again = staging.esync("sync", "Big", check=False)
        assert again.returncode == 3, again.stdout + again.stderr
        assert "a sync is already running" in again.stderr.lower()

        # Kill the worker once some of the changes are in on production.
        wait_until(lambda: progress(staging.home, run_id).get("phase", "").startswith("Send")
                   and progress(staging.home, run_id).get("applied", 0) > 0, 120,
                   "the first batches to be applied on production")
        os.kill(worker_pid(staging.home), signal.SIGKILL)
        served.wait_for_output("restarting worker")
        interrupted = wait_until(lambda: (r := run_python(staging, LAST_RUN))["status"]
                                 != "running" and r, 60, "the cut-off run to be closed")
        assert interrupted["status"] == "failed", interrupted
        assert "Interrupted" in interrupted["message"]
        # Cut off half way: production has some of the edits, not all.
        assert 0 < run_python(production, ROW_COUNTS)[2] < ROWS

        finished = staging.esync("sync", "Big", "--wait")

        assert "Success" in finished.stdout, finished.stdout
        assert run_python(staging, LAST_RUN)["skipped"] == 0
        counts = run_python(production, ROW_COUNTS)
        assert counts == run_python(staging, ROW_COUNTS)
        assert counts[0] == counts[1] and counts[2] >= ROWS  # every row once, every edit in
        assert contents(staging) == contents(production)
        staging.esync("sync", "Big", "--wait")
        assert run_python(staging, LAST_RUN)["total"] == 0
