"""The editors' Synchronize action and dialog (in process; the run itself is in
test_content_sync): who sees it, where, what it lists, what it starts, what it refuses."""

from __future__ import annotations

import dataclasses

import pytest
from django.urls import reverse

from cms.models import Content, Folder
from profiles.models import Profile
from syncengine import change_log
from syncengine.models import Anchor, SyncRun
from tests.test_profile_form import a_relationship

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(make_user):
    """A staged relationship with an uploading database profile; a folder with an approved
    item, a draft and a subfolder's approved item; all synced (the anchor is current)."""
    relationship = a_relationship(staged=True)
    Profile.objects.create(relationship=relationship, name="Default DB profile1",
                           items=["database"], direction="upload")
    root = Folder.objects.create(name="Root")
    sub = Folder.objects.create(name="Sub", parent=root)
    approved = Content.objects.create(folder=root, title="Launch", status="A")
    draft = Content.objects.create(folder=root, title="Draft", status="I")
    nested = Content.objects.create(folder=sub, title="Nested", status="A")
    Anchor.objects.create(relationship=relationship, local_sent=change_log.high_water_mark())
    return {"relationship": relationship, "root": root, "approved": approved, "draft": draft,
            "nested": nested}


def test_the_action_shows_for_approved_content_to_those_with_the_role(
        client, sync_admin, editor, site):
    url = reverse("sync:content_synchronize", args=[site["approved"].id])
    draft_url = reverse("sync:content_synchronize", args=[site["draft"].id])
    folder_url = reverse("sync:folder_synchronize", args=[site["root"].id])
    client.force_login(sync_admin)
    listing = client.get(reverse("cms:browser") + f"?folder={site['root'].id}").content.decode()
    assert url in listing and draft_url not in listing and folder_url in listing
    assert url in client.get(reverse("cms:content", args=[site["approved"].id])).content.decode()
    assert url not in client.get(reverse("cms:content", args=[site["draft"].id])
                                 ).content.decode()

    client.force_login(editor)
    listing = client.get(reverse("cms:browser") + f"?folder={site['root'].id}").content.decode()
    assert url not in listing and folder_url not in listing
    assert client.get(url).status_code == 403
    assert client.post(url, {"relationship": site["relationship"].id}).status_code == 403
    assert not SyncRun.objects.exists()


def test_with_sync_disabled_there_is_no_action_and_the_url_refuses(
        client, sync_admin, site, settings):
    settings.ESYNC = dataclasses.replace(settings.ESYNC, esync_enabled=False)
    url = reverse("sync:content_synchronize", args=[site["approved"].id])
    client.force_login(sync_admin)
    assert url not in client.get(reverse("cms:content", args=[site["approved"].id])
                                 ).content.decode()
    assert client.get(url).status_code == 403
    assert client.post(url, {"relationship": site["relationship"].id}).status_code == 403


def test_sync_now_starts_a_content_sync_of_that_item_and_opens_its_progress(
        client, sync_admin, site):
    client.force_login(sync_admin)
    url = reverse("sync:content_synchronize", args=[site["approved"].id])
    dialog = client.get(url).content.decode()
    assert "production" in dialog and "Sync Now" in dialog

    response = client.post(url, {"relationship": site["relationship"].id})

    run = SyncRun.objects.get()
    assert response["Location"] == reverse("sync:run", args=[run.id])
    assert (run.kind, run.target_ids, run.user_name, run.direction) == (
        "ContentSync", [site["approved"].id], "sam", "upload")


def test_start_sync_on_a_folder_takes_its_direct_approved_items_only(client, sync_admin, site):
    client.force_login(sync_admin)
    url = reverse("sync:folder_synchronize", args=[site["root"].id])
    assert "Start Sync" in client.get(url).content.decode()
    client.post(url, {"relationship": site["relationship"].id})
    run = SyncRun.objects.get()
    assert (run.kind, run.target_ids) == ("FolderSync", [site["approved"].id])


def test_a_draft_is_refused_with_what_to_do_and_nothing_starts(client, sync_admin, site):
    client.force_login(sync_admin)
    url = reverse("sync:content_synchronize", args=[site["draft"].id])
    page = client.post(url, {"relationship": site["relationship"].id}).content.decode()
    assert "is not Approved: approve it, then synchronize it." in page.replace("&#x27;", "'")
    assert not SyncRun.objects.exists()


def test_a_relationship_without_an_uploading_database_profile_is_not_offered(
        client, sync_admin, site):
    Profile.objects.update(direction="download")
    client.force_login(sync_admin)
    page = client.get(reverse("sync:content_synchronize", args=[site["approved"].id])
                      ).content.decode()
    assert "No server to synchronize with" in page
    client.post(reverse("sync:content_synchronize", args=[site["approved"].id]),
                {"relationship": site["relationship"].id})
    assert not SyncRun.objects.exists()


def test_a_folder_changed_since_the_last_database_sync_is_refused(client, sync_admin, site):
    site["root"].description = "renamed"
    site["root"].save()
    client.force_login(sync_admin)
    page = client.post(reverse("sync:content_synchronize", args=[site["approved"].id]),
                       {"relationship": site["relationship"].id}).content.decode()
    assert "run a database sync first" in page
    assert not SyncRun.objects.exists()


def test_the_site_page_offers_synchronize_to_signed_in_users_with_the_role_only(
        client, sync_admin, editor, site, site_root):
    page_url = reverse("site_page", args=[site["approved"].id])
    action = reverse("sync:content_synchronize", args=[site["approved"].id])
    assert action not in client.get(page_url).content.decode()  # a visitor
    client.force_login(editor)
    assert action not in client.get(page_url).content.decode()
    client.force_login(sync_admin)
    page = client.get(page_url).content.decode()
    assert action in page and "Launch" in page


@pytest.mark.parametrize("kind, target, message", [
    ("forum", "content", "A forum post cannot be synchronized on its own."),
    ("blog", "folder", "A folder of blog or forum posts cannot be synchronized on its own"),
    ("forum", "folder", "A folder of blog or forum posts cannot be synchronized on its own"),
])
def test_forum_posts_and_blog_or_forum_folders_are_refused(client, sync_admin, site, kind,
                                                           target, message):
    post = Content.objects.create(folder=site["root"], title="Post", status="A", kind=kind)
    url = (reverse("sync:content_synchronize", args=[post.id]) if target == "content"
           else reverse("sync:folder_synchronize", args=[site["root"].id]))
    client.force_login(sync_admin)
    page = client.post(url, {"relationship": site["relationship"].id}).content.decode()
    assert message in page
    assert not SyncRun.objects.exists()


def test_a_folder_without_approved_content_is_refused(client, sync_admin, site):
    empty = Folder.objects.create(name="Empty", parent=site["root"])
    Anchor.objects.update(local_sent=change_log.high_water_mark())
    client.force_login(sync_admin)
    page = client.post(reverse("sync:folder_synchronize", args=[empty.id]),
                       {"relationship": site["relationship"].id}).content.decode()
    assert "has no approved content to synchronize" in page
    assert not SyncRun.objects.exists()
