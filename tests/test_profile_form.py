"""Add Synchronization Profile, Delete, and the Sync button on the configurations screen."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from certificates.models import TrustedPeer
from profiles.models import Profile
from relationships.models import Relationship
from syncengine.models import Collision, SyncRun

pytestmark = pytest.mark.django_db


def a_relationship(staged: bool = False) -> Relationship:
    peer = TrustedPeer.objects.create(
        name="production", server_id="00000000-0000-0000-0000-00000000000b",
        esync_version="0.1.0", server_cert_pem="", client_cert_pem="",
        server_fingerprint="a", client_fingerprint="b",
        server_not_after="2030-01-01T00:00Z", client_not_after="2030-01-01T00:00Z")
    return Relationship.objects.create(
        remote_host="127.0.0.1", remote_server_id=peer.server_id, remote_name="production",
        remote_database="esync", certificate=peer, initial_direction="upload",
        state=Relationship.State.STAGED if staged else Relationship.State.CREATED)


VALID = {"name": "Nightly", "items": ["database"], "filter_mode": "none",
         "filter_extensions": "", "direction": "bidirectional", "policy": "local-wins"}


def test_add_a_profile_from_the_configurations_screen(client, sync_admin):
    relationship = a_relationship()
    client.force_login(sync_admin)
    screen = client.get(reverse("sync:configurations")).content.decode()
    add_url = reverse("sync:profile_add", args=[relationship.id])
    assert add_url in screen  # the Add Sync Profile button

    form = client.get(add_url).content.decode()
    for label in ("Synchronization Name", "Items To Synchronize", "Workarea Files", "Templates",
                  "bin (precompiled sites)", "Include/Exclude Files",
                  "Synchronization Direction", "Conflict Resolution Policy",
                  "Version on Local Site Wins"):
        assert label in form, label

    response = client.post(add_url, {**VALID, "items": ["database", "templates"],
                                     "filter_mode": "include", "filter_extensions": "*.txt"})
    assert response.status_code == 302
    profile = Profile.objects.get(relationship=relationship)
    assert (profile.name, profile.items, profile.direction, profile.policy,
            profile.filter_mode, profile.filter_extensions) == (
        "Nightly", ["database", "templates"], "bidirectional", "local-wins", "include",
        "*.txt")
    screen = client.get(reverse("sync:configurations")).content.decode()
    assert "Nightly" in screen
    assert reverse("sync:profile_sync", args=[profile.id]) in screen
    assert reverse("sync:profile_preview", args=[profile.id]) in screen
    assert reverse("sync:profile_delete", args=[profile.id]) in screen


def field_block(page: str, field: str) -> str:
    start = page.index(f'id="field-{field}"')
    return page[start:page.index("</p>", start)]


@pytest.mark.parametrize("changes, field, message", [
    ({"name": "  "}, "name", "Enter a synchronization name."),
    ({"items": []}, "items", "Choose at least one item to synchronize."),
    ({"items": ["database", "bin"]}, "items", "tick Templates too"),
    ({"filter_mode": "include", "filter_extensions": ""}, "filter_extensions",
     "List the file extensions"),
    ({"filter_mode": "exclude", "filter_extensions": "my files/*.doc"}, "filter_extensions",
     "is not a file extension"),
    ({"direction": ""}, "direction", "Choose Bidirectional, Upload or Download."),
])
def test_mistakes_are_shown_next_to_their_field_and_nothing_is_added(
        client, administrator, changes, field, message):
    relationship = a_relationship()
    client.force_login(administrator)
    response = client.post(reverse("sync:profile_add", args=[relationship.id]),
                           {**VALID, **changes})
    assert response.status_code == 200
    assert message in field_block(response.content.decode(), field)
    assert not Profile.objects.exists()


def test_a_second_profile_with_the_same_name_is_refused(client, administrator):
    relationship = a_relationship()
    client.force_login(administrator)
    url = reverse("sync:profile_add", args=[relationship.id])
    client.post(url, VALID)
    page = client.post(url, {**VALID, "direction": "upload"}).content.decode()
    assert "already has a profile named" in field_block(page, "name").replace("&#x27;", "'")
    assert Profile.objects.count() == 1


def test_delete_asks_first_and_keeps_the_run_logs(client, sync_admin):
    relationship = a_relationship()
    profile = Profile.objects.create(relationship=relationship, name="Old",
                                     items=["database"], direction="upload")
    run = SyncRun.objects.create(kind="FullSync", relationship=relationship, profile=profile,
                                 direction="upload", status="success")
    client.force_login(sync_admin)
    url = reverse("sync:profile_delete", args=[profile.id])

    asked = client.get(url).content.decode()
    assert "Delete the profile Old?" in asked
    assert Profile.objects.filter(id=profile.id).exists()

    assert client.post(url).status_code == 302
    assert not Profile.objects.filter(id=profile.id).exists()
    assert SyncRun.objects.filter(id=run.id).exists()


def test_sync_now_starts_a_run_and_opens_its_progress(client, sync_admin):
    relationship = a_relationship(staged=True)
    profile = Profile.objects.create(relationship=relationship, name="Db",
                                     items=["database"], direction="bidirectional")
    client.force_login(sync_admin)
    response = client.post(reverse("sync:profile_sync", args=[profile.id]))
    run = SyncRun.objects.get(profile=profile)
    assert response["Location"] == reverse("sync:run", args=[run.id])
    assert (run.kind, run.status, run.direction, run.user_name) == (
        "FullSync", "queued", "bidirectional", "sam")


def test_sync_now_while_another_sync_runs_is_refused_and_starts_nothing(client, sync_admin):
    relationship = a_relationship(staged=True)
    profile = Profile.objects.create(relationship=relationship, name="Db",
                                     items=["database"], direction="upload")
    running = SyncRun.objects.create(kind="FullSync", relationship=relationship,
                                     direction="upload", status="running")
    client.force_login(sync_admin)
    page = client.post(reverse("sync:profile_sync", args=[profile.id]),
                       follow=True).content.decode()
    assert f"A sync is already running (Profile sync #{running.id})" in page
    assert list(SyncRun.objects.values_list("id", flat=True)) == [running.id]


def test_sync_now_is_a_post_with_its_csrf_token(sync_admin):
    relationship = a_relationship(staged=True)
    profile = Profile.objects.create(relationship=relationship, name="Db",
                                     items=["database"], direction="upload")
    client = Client(enforce_csrf_checks=True)
    client.force_login(sync_admin)
    url = reverse("sync:profile_sync", args=[profile.id])
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    assert not SyncRun.objects.exists()


def test_the_review_collisions_button_shows_only_while_collisions_wait(client, sync_admin):
    client.force_login(sync_admin)
    a_relationship()
    button = reverse("sync:collisions")
    assert button not in client.get(reverse("sync:configurations")).content.decode()
    collision = Collision.objects.create(kind="folder", table_name="cms_folder", row_id=11329,
                                         original_name="Marketing",
                                         modified_name="Marketing11329")
    assert button in client.get(reverse("sync:configurations")).content.decode()
    Collision.objects.filter(id=collision.id).update(reviewed_by="sam",
                                                     reviewed_at="2030-01-01T00:00Z")
    assert button not in client.get(reverse("sync:configurations")).content.decode()
