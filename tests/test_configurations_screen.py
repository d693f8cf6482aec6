"""View All Synchronization Configurations, complete: per relationship its header, last run,
actions; per profile its schedule in words, Last Full Sync, Last Run Result with its icon and
log, Sync / Preview / Synchronize files; in queries that do not grow with the data."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from certificates.models import TrustedPeer
from profiles.models import Profile
from relationships.models import Relationship
from syncengine.models import SyncRun

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2030, 1, 1, 2, 0, tzinfo=dt.UTC)
numbers = itertools.count(1)


def a_relationship(staged: bool = True) -> Relationship:
    n = next(numbers)
    peer = TrustedPeer.objects.create(
        name=f"peer{n}", server_id=f"00000000-0000-0000-0000-{n:012d}", esync_version="0.1.0",
        server_cert_pem="", client_cert_pem="", server_fingerprint=f"s{n}",
        client_fingerprint=f"c{n}", server_not_after="2030-01-01T00:00Z",
        client_not_after="2030-01-01T00:00Z")
    return Relationship.objects.create(
        remote_host="127.0.0.1", remote_server_id=peer.server_id, remote_name=f"peer{n}",
        remote_database=f"db{n}", certificate=peer, initial_direction="upload",
        state=Relationship.State.STAGED if staged else Relationship.State.CREATED)


def a_profile(relationship, name: str, items=("database",), **fields) -> Profile:
    return Profile.objects.create(relationship=relationship, name=name, items=list(items),
                                  direction="upload", **fields)


def a_run(profile, status: str, minutes: int, kind: str = "FullSync") -> SyncRun:
    return SyncRun.objects.create(
        kind=kind, relationship=profile.relationship, profile=profile, direction="upload",
        status=status, started_at=T0 + dt.timedelta(minutes=minutes),
        ended_at=None if status in SyncRun.ACTIVE else T0 + dt.timedelta(minutes=minutes + 1))


def screen_queries(client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("sync:configurations")).content.decode()
    return len(queries), page


def test_the_screens_queries_do_not_grow_with_relationships_profiles_and_runs(
        client, sync_admin):
    client.force_login(sync_admin)
    first = a_relationship()
    a_run(a_profile(first, "Only"), "success", 0)
    small, _ = screen_queries(client)

    for r in [first, *(a_relationship() for _ in range(3))]:
        for i in range(4):
            profile = a_profile(r, f"P{i}", schedule="daily", schedule_start=T0)
            for minutes, status in enumerate(["success", "warning", "failed"]):
                a_run(profile, status, minutes)
    large, page = screen_queries(client)

    assert large == small
    assert page.count('data-profile="') == 17


def test_a_profile_row_says_its_schedule_last_full_sync_result_and_offers_its_actions(
        client, sync_admin):
    client.force_login(sync_admin)
    relationship = a_relationship()
    database = a_profile(relationship, "Default DB profile1", schedule="daily",
                         schedule_start=T0)
    templates = a_profile(relationship, "Templates", items=["templates", "bin"])
    a_run(database, "success", 0)
    a_run(database, "warning", 10)   # the last full sync: ended 02:11
    a_run(database, "failed", 20)    # the last run: failed
    running = a_run(templates, "running", 30)
    client.get(reverse("sync:configurations"))
    page = client.get(reverse("sync:configurations")).content.decode()

    row = page[page.index(f'id="profile-{database.id}"'):]
    row = row[:row.index("</tr>")]
    assert "Daily at 02:00 UTC from 2030-01-01" in row
    assert '<td class="last-full">2030-01-01 02:11</td>' in row
    assert 'aria-label="Failed">✗</span> <span class="status-text">Failed</span>' in row
    for name, argument in (("profile_edit", database.id), ("profile_log", database.id),
                           ("profile_sync", database.id), ("profile_preview", database.id),
                           ("profile_delete", database.id)):
        assert reverse(f"sync:{name}", args=[argument]) in row, name
    assert reverse("sync:profile_files", args=[database.id]) not in row

    row = page[page.index(f'id="profile-{templates.id}"'):]
    row = row[:row.index("</tr>")]
    assert "<td class=\"schedule\">Never</td>" in row
    assert '<td class="last-full">Never</td>' in row
    assert 'aria-label="Running"' in row
    # Sync, while it runs, opens its progress; the Sync-now button waits hidden.
    assert f'class="button progress-link" href="{reverse("sync:run", args=[running.id])}"' \
        in row
    assert 'formaction="' + reverse("sync:profile_sync", args=[templates.id]) + '" title=' \
        '"Sync now" hidden' in row
    assert reverse("sync:profile_files", args=[templates.id]) in row
    assert reverse("sync:profile_preview", args=[templates.id]) not in row
    assert "Times in UTC" in page


def test_the_row_states_for_the_screens_script(client, sync_admin):
    client.force_login(sync_admin)
    profile = a_profile(a_relationship(), "Db")
    run = a_run(profile, "running", 0)
    states = client.get(reverse("sync:configurations_state")).json()["profiles"]
    assert states == [{
        "id": profile.id, "name": "Db", "summary": "database · Upload", "schedule": "Never",
        "preview": True, "files": False, "status": "running", "status_label": "Running",
        "icon": "⟳", "icon_text": "Running", "running": True, "run_id": run.id,
        "run_url": reverse("sync:run", args=[run.id]), "last_run": "", "last_full": "Never"}]


def test_a_running_initial_sync_is_reopened_from_its_relationship(client, sync_admin):
    client.force_login(sync_admin)
    relationship = a_relationship(staged=False)
    page = client.get(reverse("sync:configurations")).content.decode()
    assert 'class="initial-sync" method="post"' in page  # Start Initial Sync, shown
    assert f'id="progress-{relationship.id}" href="" title="Show the progress of the ' \
           'running sync" hidden' in page

    run = SyncRun.objects.create(kind="FullStage", relationship=relationship,
                                 direction="upload", status="running", started_at=T0)
    page = client.get(reverse("sync:configurations")).content.decode()
    assert f'href="{reverse("sync:run", args=[run.id])}"' in page
    assert "Initial sync running: show progress" in page
    assert 'action="' + reverse("sync:relationship_initial_sync", args=[relationship.id]) + \
        '" hidden>' in page
    # ...and for the screen's script, started from anywhere:
    states = client.get(reverse("sync:configurations_state")).json()["relationships"]
    assert states == [{"id": relationship.id, "staged": False, "running": True,
                       "run_url": reverse("sync:run", args=[run.id]),
                       "label": "Initial sync running: show progress"}]


def test_sync_on_a_running_profile_opens_its_progress_instead_of_refusing(client, sync_admin):
    client.force_login(sync_admin)
    profile = a_profile(a_relationship(), "Db")
    run = a_run(profile, "running", 0)
    response = client.post(reverse("sync:profile_sync", args=[profile.id]))
    assert response["Location"] == reverse("sync:run", args=[run.id])
    assert SyncRun.objects.count() == 1


def test_names_are_escaped_in_the_rows(client, sync_admin):
    client.force_login(sync_admin)
    a_profile(a_relationship(), '<script>alert("x")</script> & co')
    page = client.get(reverse("sync:configurations")).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page
