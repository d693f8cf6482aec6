"""The manual's "Using Content and Folder Level Sync" in Chromium: an editor with the
Synchronization Admin role edits and approves a page with a new image on staging, clicks
Synchronize in the content list's row, picks the server, Sync Now, and production's site
serves the new text and image; an editor without the role sees no action and gets 403."""

import urllib.request

import pytest

from tests.db_sync_helpers import run_python, staged_pair
from tests.test_content_sync import PNG

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PREPARE = """
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from cms.library import add_to_library
from cms.models import Content, User
editor = User.objects.get(username="syncadmin")
editor.user_permissions.add(Permission.objects.get(codename="approve_content"))
image = add_to_library(SimpleUploadedFile("opening.png", {png!r}), "Opening", editor)
page = Content.objects.select_related("folder").order_by("id").first()
result = dict(id=page.id, folder=page.folder_id, image=image.url)
"""


def sign_in_as(page, instance, username: str) -> None:
    page.context.clear_cookies()  # signed out
    page.goto(f"{instance.web_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "sample-pass-1")
    page.click("button:text('Sign in')")
    page.wait_for_url("**/workarea/**")


def test_an_editor_approves_a_page_and_synchronizes_just_that_item(
        real_instances, chromium_page, tmp_path):
    page = chromium_page
    with staged_pair(real_instances, tmp_path, production_web=True) as pair:
        staging, production, relationship = pair.staging, pair.production, pair.relationship
        made = run_python(staging, PREPARE.format(png=PNG))

        # Edit and approve, with the new image.
        sign_in_as(page, staging, "syncadmin")
        page.goto(f"{staging.web_url}/workarea/content/{made['id']}/edit/")
        page.fill("#id_title", "Grand opening")
        page.fill("#id_html", f'<p>Doors open at nine.</p><img src="{made["image"]}" alt="">')
        page.click("button:text('Save')")
        page.wait_for_url(f"**/content/{made['id']}/")
        page.click("button:text('Approve')")
        page.wait_for_selector("#status:text('Approved')")

        # Synchronize from the content list's row: pick the server, Sync Now.
        page.goto(f"{staging.web_url}/workarea/?folder={made['folder']}")
        page.locator("tr", has_text="Grand opening").locator("text=Synchronize").click()
        page.check(f"input[name=relationship][value='{relationship}']")
        page.click("button:text('Sync Now')")
        page.wait_for_selector("#run-phase:text('Synchronization is Complete')", timeout=60000)

        # Production's site serves the new text and its image.
        page.goto(f"{production.web_url}/site/content/{made['id']}/")
        assert "Doors open at nine." in page.inner_text("body")
        with urllib.request.urlopen(f"{production.web_url}{made['image']}") as response:
            assert response.read() == PNG

        # An editor without the role: no action, and the URL answers 403.
        sign_in_as(page, staging, "jsmith")
        page.goto(f"{staging.web_url}/workarea/?folder={made['folder']}")
        assert page.locator("text=Synchronize").count() == 0
        response = page.goto(
            f"{staging.web_url}/workarea/settings/synchronization/content/{made['id']}"
            "/synchronize/")
        assert response.status == 403
