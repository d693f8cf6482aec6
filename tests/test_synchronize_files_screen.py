"""Synchronize files: the site root as a tree with check boxes; Sync now queues a FileSync run of
the ticked files; only files the profile syncs can be ticked; only sync admins get there."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from profiles.models import Profile
from syncengine.models import SyncRun
from tests.test_profile_form import a_relationship

pytestmark = pytest.mark.django_db


@pytest.fixture
def site_files():
    root = Path(settings.SITE_ROOT)
    made = ["css/site.css", "css/print.css", "templates/page.html", "web.config",
            "workarea/custom/menu.js"]
    for relative in made:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(relative)
    yield
    for relative in made:
        (root / relative).unlink(missing_ok=True)


def templates_profile() -> Profile:
    return Profile.objects.create(relationship=a_relationship(staged=True), name="Templates",
                                  items=["templates"], direction="upload")


def test_the_tree_shows_the_files_the_profile_syncs_and_sync_now_queues_the_ticked_ones(
        client, sync_admin, site_files):
    profile = templates_profile()
    client.force_login(sync_admin)
    url = reverse("sync:profile_files", args=[profile.id])
    page = client.get(url).content.decode()
    assert 'value="css/site.css"' in page and 'value="templates/page.html"' in page
    assert "web.config" not in page and "menu.js" not in page

    response = client.post(url, {"path": ["css/site.css", "templates/page.html"]})

    run = SyncRun.objects.get()
    assert response["Location"] == reverse("sync:run", args=[run.id])
    assert (run.kind, run.direction, run.selected_paths) == (
        "FileSync", "upload", ["css/site.css", "templates/page.html"])


@pytest.mark.parametrize(("ticked", "message"), [
    ([], "Tick at least one file"),
    (["web.config"], "Not files this profile synchronizes on this server: web.config"),
    (["../esync.toml"], "Not files this profile synchronizes"),
])
def test_nothing_or_a_file_outside_the_profile_is_refused_and_nothing_queued(
        client, sync_admin, site_files, ticked, message):
    profile = templates_profile()
    client.force_login(sync_admin)
    page = client.post(reverse("sync:profile_files", args=[profile.id]),
                       {"path": ticked}).content.decode()
    assert message in page
    assert not SyncRun.objects.exists()


def test_an_editor_without_the_role_is_turned_away(client, django_user_model, site_files):
    profile = templates_profile()
    editor = django_user_model.objects.create_user("ed", password="editor-pass-1")
    client.force_login(editor)
    url = reverse("sync:profile_files", args=[profile.id])
    assert client.get(url).status_code == 403
    assert client.post(url, {"path": ["css/site.css"]}).status_code == 403
    assert not SyncRun.objects.exists()
