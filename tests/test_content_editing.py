"""Editors in the Workarea: create content in a folder, save versions, submit, approve, history."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cms.models import Content, Folder, LibraryItem
from cms.sample_data import solid_png
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def news():
    return factories.folder("News")


def test_an_editor_creates_content_in_a_folder(client, editor, news):
    client.force_login(editor)
    response = client.post(f"{reverse('cms:content_new')}?folder={news.id}", {
        "folder": news.id, "title": "Spring launch", "html": "<p>Out now</p>", "kind": "html",
    })
    content = Content.objects.get(title="Spring launch")
    assert response.status_code == 302
    assert (content.folder, content.last_editor, content.language) == (news, editor, 1033)
    assert content.status == Content.Status.CHECKED_IN
    assert [v.version for v in content.history.all()] == [1]
    listing = client.get(f"{reverse('cms:browser')}?folder={news.id}").content.decode()
    assert "Spring launch" in listing


def test_saving_an_edit_keeps_the_old_version_in_history(client, editor, news):
    content = factories.content(news, "Draft", editor)
    client.force_login(editor)
    client.post(reverse("cms:content_edit", args=[content.id]), {
        "title": "Final", "html": "<p>v2</p>", "kind": "html",
    })
    content.refresh_from_db()
    versions = list(content.history.order_by("version").values_list("version", "title"))
    assert content.title == "Final"
    assert versions == [(1, "Draft"), (2, "Final")]
    page = client.get(reverse("cms:content_history", args=[content.id]) + "?version=1")
    assert "Version 1: Draft" in page.content.decode()


def test_submit_then_approve(client, editor, administrator, news):
    content = factories.content(news, "Ready", editor)
    client.force_login(editor)
    client.post(reverse("cms:content_submit", args=[content.id]))
    content.refresh_from_db()
    assert content.status == Content.Status.SUBMITTED

    response = client.post(reverse("cms:content_approve", args=[content.id]), follow=True)
    content.refresh_from_db()
    assert content.status == Content.Status.SUBMITTED  # an editor cannot approve
    assert "Only Administrators and approvers can approve" in response.content.decode()

    client.force_login(administrator)
    client.post(reverse("cms:content_approve", args=[content.id]))
    content.refresh_from_db()
    assert content.status == Content.Status.APPROVED
    assert content.history.first().comment == "Approved"


def test_status_changes_are_posts_with_csrf(news, editor):
    from django.test import Client

    content = factories.content(news, "Guarded", editor)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(editor)
    assert strict.get(reverse("cms:content_submit", args=[content.id])).status_code == 405
    assert strict.post(reverse("cms:content_submit", args=[content.id])).status_code == 403


def test_upload_a_library_image_and_insert_it_into_content(client, editor, news, site_root):
    client.force_login(editor)
    png = SimpleUploadedFile("Team Photo.PNG", solid_png(8, 8, (1, 2, 3)), "image/png")
    client.post(reverse("cms:library"), {"title": "Team", "file": png})
    image = LibraryItem.objects.get(title="Team")
    assert image.path == "uploadedimages/Team-Photo.png"
    assert (site_root / image.path).read_bytes().startswith(b"\x89PNG")
    form = client.get(f"{reverse('cms:content_new')}?folder={news.id}").content.decode()
    assert f'data-src="{image.url}"' in form  # offered by the editor's image picker

    client.post(f"{reverse('cms:content_new')}?folder={news.id}", {
        "folder": news.id, "title": "Team page", "kind": "html",
        "html": f'<p><img src="{image.url}" alt="Team"></p>',
    })
    assert client.get(image.url).status_code == 200  # the public site serves the image


def test_a_file_that_is_not_what_it_claims_is_refused(client, editor, site_root):
    client.force_login(editor)
    fake = SimpleUploadedFile("photo.png", b"<script>alert(1)</script>", "image/png")
    response = client.post(reverse("cms:library"), {"title": "Fake", "file": fake})
    assert "is not a PNG image" in response.content.decode()
    assert not LibraryItem.objects.exists()
    assert not any((site_root / "uploadedimages").iterdir())


def test_folder_names_are_unique_among_siblings(client, editor, news):
    client.force_login(editor)
    url = f"{reverse('cms:folder_new')}?folder={news.id}"
    client.post(url, {"folder": news.id, "name": "2026"})
    response = client.post(url, {"folder": news.id, "name": "2026"})
    assert "already exists in /News" in response.content.decode()
    assert Folder.objects.filter(parent=news, name="2026").count() == 1
    assert Folder.objects.get(parent=news, name="2026").path == "/News/2026"


def test_content_html_is_shown_sandboxed(client, editor, news):
    content = factories.content(news, "Tricky", editor)
    content.html = "<script>steal()</script>"
    content.save()
    client.force_login(editor)
    page = client.get(reverse("cms:content", args=[content.id])).content.decode()
    assert "<script>steal()" not in page
    assert 'sandbox srcdoc="&lt;script&gt;steal()' in page


def test_membership_users_cannot_use_the_workarea(client, member):
    client.force_login(member)
    assert client.get(reverse("cms:browser")).status_code == 403


def test_anonymous_visitors_sign_in_first(client):
    response = client.get(reverse("cms:browser"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
