"""The manual's "Running a Sync" as an administrator does it in the browser: an edit on
staging and a sign-up on production, previewed, synced both ways, then a deliberate conflict
settled by the policy, and the losing version restored."""

import pytest

from tests.browser.test_security_configurator_in_chromium import sign_in
from tests.db_sync_helpers import EDIT_CONTENT, FIRST_CONTENT, TITLE_OF, run_python, staged_pair
from tests.sync_helpers import contents

pytestmark = [pytest.mark.slow, pytest.mark.browser]

USERS = """
from cms.models import User
result = [[u.id, u.username, u.password, u.email, u.kind, u.is_active]
          for u in User.objects.order_by("id")]
"""


def test_edit_on_staging_and_sign_up_on_production_previewed_synced_and_a_conflict_restored(
        real_instances, chromium_page, tmp_path):
    page = chromium_page
    with staged_pair(real_instances, tmp_path, production_web=True) as pair:
        staging, production = pair.staging, pair.production
        content_id = run_python(staging, FIRST_CONTENT)

        # A visitor signs up on production's site.
        page.goto(f"{production.web_url}/site/signup/")
        page.fill("#id_username", "newcomer")
        page.fill("#id_password", "a-long-member-pass-1")
        page.click("button:text('Sign up')")
        page.wait_for_selector("text=Welcome, newcomer")

        # The administrator edits a page on staging.
        sign_in(page, staging)
        page.goto(f"{staging.web_url}/workarea/content/{content_id}/edit/")
        page.fill("#id_title", "Edited on staging")
        page.click("button:text('Save')")
        page.wait_for_url(f"**/content/{content_id}/")

        # A bidirectional profile; the preview shows exactly those two changes.
        page.click("text=Synchronization")
        page.click("text=Add Sync Profile")
        page.fill("#id_name", "Both ways")
        page.check("input[name=items][value=database]")
        page.check("input[name=direction][value=bidirectional]")
        page.check("input[name=policy][value=local-wins]")
        page.click("button:text('Save')")
        row = page.locator("tr", has_text="Both ways")
        row.locator("text=Preview").click()
        page.wait_for_selector("h1:text('Synchronization Preview')")
        shown = page.inner_text("main")
        # The edit is the page and its new history version; the sign-up one user.
        assert page.locator("table.changes").count() == 3
        assert "Local Changes [Table: cms_content]" in shown
        assert "Local Changes [Table: cms_contenthistory]" in shown
        assert "Remote Changes [Table: cms_user]" in shown
        edited = page.locator("table.changes").nth(0).inner_text()
        assert "Edited on staging" in edited and edited.count("\n") == 1  # header + one row
        assert "No conflicts" in page.inner_text("main")

        # Sync now: the run page follows it to the end; its log says applied 3
        # (the page, its history version, the member).
        page.click("text=Synchronization")
        page.locator("tr", has_text="Both ways").locator("button:text('Sync')").click()
        page.wait_for_selector("#run-phase:text('Synchronization is Complete')", timeout=60000)
        page.click("text=Synchronization")
        row = page.locator("tr", has_text="Both ways")
        assert row.locator("td.result").inner_text().strip() == "✓ Success"
        row.locator("a.log-icon").click()
        assert "Applied:3 Skipped:0 Total:3" in page.inner_text("dl.properties")
        assert run_python(production, TITLE_OF.format(id=content_id)) == "Edited on staging"

        # A deliberate conflict: the same page edited on both; local wins (staging's).
        run_python(staging, EDIT_CONTENT.format(id=content_id, title="Staging's wording"))
        run_python(production, EDIT_CONTENT.format(id=content_id, title="Production's wording"))
        page.click("text=Synchronization")
        page.locator("tr", has_text="Both ways").locator("button:text('Sync')").click()
        page.wait_for_selector("#run-phase:text('Synchronization is Complete')", timeout=60000)
        assert run_python(production, TITLE_OF.format(id=content_id)) == "Staging's wording"

        # The loser is kept and restorable: restore it, sync, and production's wording is back.
        page.click("text=Synchronization")
        page.click("text=Conflicts")
        conflict = page.locator("tr", has_text="cms_content").first
        assert "local version" in conflict.inner_text()
        conflict.locator("text=Restore").click()
        assert "Production's wording" in page.inner_text("main")
        page.click("button:text('Restore')")
        assert run_python(staging, TITLE_OF.format(id=content_id)) == "Production's wording"
        page.click("text=Synchronization")
        page.locator("tr", has_text="Both ways").locator("button:text('Sync')").click()
        page.wait_for_selector("#run-phase:text('Synchronization is Complete')", timeout=60000)
        assert run_python(production, TITLE_OF.format(id=content_id)) == "Production's wording"
    # Equal, but for the administrator's last sign-in, which is each server's own.
    here, there = contents(staging), contents(production)
    assert here["tables"].pop("cms_user") != there["tables"].pop("cms_user")
    assert here == there
    assert run_python(staging, USERS) == run_python(production, USERS)
