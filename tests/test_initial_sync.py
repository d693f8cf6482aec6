"""The manual's Scenarios 1 and 3 with real instances: pair, copy once, and the sites mirror."""

import json
import os
import signal
import time

import pytest

from tests.real_instances import ADMIN_PASSWORD
from tests.sync_helpers import (
    ANNOUNCED_CLIENT,
    CREATE_CONTENT,
    contents,
    create_relationship,
    seed,
    trust_both_ways,
)

pytestmark = pytest.mark.slow

PUSH_AGAIN = ANNOUNCED_CLIENT + """
from syncengine.peer_errors import PeerError
client = announced_client({port}, relationship={relationship}, run=999, kind="FullStage")
try:
    with client.open("POST", "/initial-sync/database?files=abc", body=b"",
                     headers={{"X-Esync-Source-Rows": "999999"}}):
        print("accepted")
except PeerError as error:
    print(error)
"""
TRILLION = 10**12


def test_scenario_1_staging_uploads_and_production_mirrors_it(real_instances, tmp_path,
                                                              backend):
    staging = real_instances("staging", backend=backend)
    production = real_instances("production", backend=backend)
    seed(staging)
    trust_both_ways(staging, production, tmp_path)
    before = contents(staging)
    with production.sync_serving(), staging.serving():
        relationship = create_relationship(staging, production, "upload")
        assert staging.info()["server_number"] == 1
        assert production.info()["server_number"] == 2
        result = staging.esync("initial-sync", str(relationship), "--wait")
        # The destination refuses a second copy pushed onto it, whatever the initiator says.
        pushed = staging.python(PUSH_AGAIN.format(port=production.sync_port,
                                                      relationship=relationship))
    assert "answered 409: this instance was already initialized" in pushed
    assert "Synchronization is Complete" in result.stdout
    assert "Success:" in result.stdout
    assert contents(production) == before == contents(staging)
    assert len(before["files"]) == 3
    # Production creates keys in its own range from now on; staging in its own.
    assert TRILLION < int(production.python(CREATE_CONTENT)) <= 2 * TRILLION
    assert 0 < int(staging.python(CREATE_CONTENT)) <= TRILLION
    # The log counts what was copied against what there was to copy, memberships included.
    log = json.loads(staging.esync("logs", "--json").stdout)[0]
    assert log["applied"] == log["total"] > 0, log
    listed = json.loads(staging.esync("relationship", "list", "--json").stdout)[0]
    assert listed["state"] == "staged" and listed["profiles"] == ["Default DB profile1"]
    # The copied administrator signs in on production with staging's password.
    assert production.python(
        "from django.contrib.auth import authenticate; "
        "print(authenticate(username='jsmith', password='sample-pass-1') is not None)"
    ).strip() == "True"
    # A second initial sync of a staged relationship is refused.
    again = staging.esync("initial-sync", str(relationship), check=False)
    assert again.returncode == 3 and "already staged" in again.stderr


def test_scenario_3_production_to_staging_to_development_by_download(real_instances, tmp_path):
    # SQLite only (suite time); scenario 1 runs the copy on both backends.
    production = real_instances("production")
    staging = real_instances("staging")
    development = real_instances("development")
    seed(production)
    trust_both_ways(staging, production, tmp_path)
    trust_both_ways(development, staging, tmp_path)
    expected = contents(production)
    with production.sync_serving(), staging.serving():
        relationship = create_relationship(staging, production, "download")
        staging.esync("initial-sync", str(relationship), "--wait")
    assert contents(staging) == expected
    with staging.sync_serving(), development.serving():
        relationship = create_relationship(development, staging, "download")
        development.esync("initial-sync", str(relationship), "--wait")
    assert contents(development) == expected
    numbers = [i.info()["server_number"] for i in (production, staging, development)]
    assert numbers == [1, 2, 3]
    assert 2 * TRILLION < int(development.python(CREATE_CONTENT)) <= 3 * TRILLION


def test_a_peer_killed_mid_copy_leaves_the_destination_as_it_was(real_instances, tmp_path):
    production, staging = real_instances("production"), real_instances("staging")
    production.python(
        "from cms.models import Folder, Content; f = Folder.objects.create(name='Bulk'); "
        "Content.objects.bulk_create([Content(folder=f, title=f'Page {i}', html='x' * 2000) "
        "for i in range(40000)], batch_size=2000)"
    )
    seed(staging)
    trust_both_ways(staging, production, tmp_path)
    before = contents(staging)
    with staging.serving():
        with production.sync_serving() as peer:
            relationship = create_relationship(staging, production, "download")
            staging.esync("initial-sync", str(relationship))
            progress = staging.home / "state" / "runs" / "1.json"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if progress.exists() and json.loads(progress.read_text()).get("bytes", 0):
                    break
                time.sleep(0.05)
            os.kill(peer.pid, signal.SIGKILL)
        log = staging.python(
            "import time\nfrom syncengine.models import SyncRun\nr = SyncRun.objects.get()\n"
            "while not r.finished:\n    time.sleep(0.2)\n    r.refresh_from_db()\n"
            "print(r.status, '|', r.message)")
    assert log.startswith("failed |"), log
    assert contents(staging) == before
    assert staging.python(
        "from django.contrib.auth import authenticate; "
        f"print(authenticate(username='admin', password='{ADMIN_PASSWORD}') is not None)"
    ).strip() == "True"


def test_a_destination_larger_than_the_source_is_refused(real_instances, tmp_path):
    production, staging = real_instances("production"), real_instances("staging")
    seed(staging)
    trust_both_ways(staging, production, tmp_path)
    before = contents(staging)
    with staging.sync_serving(), production.serving():
        # Production (nearly empty) would upload over staging: the direction is wrong.
        relationship = create_relationship(production, staging, "upload")
        refused = production.esync("initial-sync", str(relationship), "--wait", check=False)
    assert refused.returncode == 4
    assert "The destination's database" in refused.stdout
    assert "is larger than the source's" in refused.stdout
    assert contents(staging) == before


def test_a_write_error_on_the_destination_leaves_it_as_it_was(real_instances, tmp_path):
    staging, production = real_instances("staging"), real_instances("production")
    seed(staging)
    trust_both_ways(staging, production, tmp_path)
    production.python("from cms.folders import create_folder; create_folder(None, 'Keep me')")
    before = contents(production)
    # The destination cannot write where it stages incoming files: a file sits there.
    (production.home / "state" / "incoming").write_text("not a folder")
    with production.sync_serving(), staging.serving():
        relationship = create_relationship(staging, production, "upload")
        result = staging.esync("initial-sync", str(relationship), "--wait", check=False)
    assert result.returncode == 4
    assert "Failed:" in result.stdout and "incoming" in result.stdout, result.stdout
    assert contents(production) == before
    listed = json.loads(staging.esync("relationship", "list", "--json").stdout)[0]
    assert listed["state"] == "created"
