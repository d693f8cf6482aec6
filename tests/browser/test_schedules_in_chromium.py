"""The manual's "Setting up eSync Profiles" schedule choices and "Running a Sync", as an
administrator does them in Chromium: a Weekly profile added and read back in words, edited,
and a profile run now whose row goes running → success on the configurations screen without
the page reloading; then a One Time start fires by itself while the screen is open."""

import os
import signal

import pytest

from tests.browser.test_security_configurator_in_chromium import sign_in
from tests.db_sync_helpers import staged_pair
from tests.test_scheduled_runs import soon

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_add_a_weekly_profile_edit_it_and_watch_a_run_now_go_running_then_success(
        real_instances, chromium_page, tmp_path):
    page = chromium_page
    with staged_pair(real_instances, tmp_path) as pair:
        sign_in(page, pair.staging)
        page.click("text=Synchronization")

        # Add Sync Profile: a Weekly schedule, its day chosen.
        page.click("text=Add Sync Profile")
        assert "Time zone: UTC" in page.inner_text("main")
        page.fill("#id_name", "Weekly templates")
        page.check("input[name=items][value=templates]")
        page.check("input[name=direction][value=upload]")
        page.check("input[name=schedule][value=weekly]")
        page.fill("#id_schedule_start", "2030-01-07T02:30")
        page.select_option("#id_schedule_weekday", label="Wednesday")
        page.click("button:text('Save')")
        row = page.locator("tr", has_text="Weekly templates")
        assert row.locator("td.schedule").inner_text() == \
            "Weekly on Wednesday at 02:30 UTC from 2030-01-07"
        assert row.locator("text=Synchronize files").count() == 1
        assert row.locator("text=Preview").count() == 0

        # Its name opens Edit; it becomes Daily at 23:00.
        row.locator("a", has_text="Weekly templates").click()
        page.wait_for_selector("h1:text('Edit Synchronization Profile')")
        assert page.input_value("#id_schedule_start") == "2030-01-07T02:30"
        page.check("input[name=schedule][value=daily]")
        page.fill("#id_schedule_start", "2030-01-07T23:00")
        page.click("button:text('Save')")
        assert page.locator("tr", has_text="Weekly templates").locator(
            "td.schedule").inner_text() == "Daily at 23:00 UTC from 2030-01-07"

        # A second schedule in the same minute is refused, naming the first.
        page.click("text=Add Sync Profile")
        page.fill("#id_name", "Clash")
        page.check("input[name=items][value=database]")
        page.check("input[name=direction][value=upload]")
        page.check("input[name=schedule][value=hourly]")
        page.fill("#id_schedule_start", "2030-01-07T10:00")
        page.click("button:text('Save')")
        assert "The profile 'Weekly templates'" in page.inner_text("#field-schedule")
        page.click("text=Cancel")

        # Sync now, with production slow to answer: the progress screen opens; back on the
        # configurations screen the row shows the run going, then its end, in place.
        os.kill(pair.production_sync_service.pid, signal.SIGSTOP)
        try:
            db_row = page.locator("tr", has_text="Default DB profile1")
            db_row.locator("button:text('Sync')").click()
            page.wait_for_selector("#run")
            page.click("text=Synchronization")
            db_row = page.locator("tr", has_text="Default DB profile1")
            assert db_row.locator("td.result").inner_text().strip() in ("⟳ Running",
                                                                        "⧗ Queued")
            assert db_row.locator("a.progress-link").is_visible()
            page.evaluate("window.notReloaded = true")
        finally:
            os.kill(pair.production_sync_service.pid, signal.SIGCONT)
        page.wait_for_selector("tr[data-status=success]:has-text('Default DB profile1')",
                               timeout=60000)
        assert page.evaluate("window.notReloaded") is True
        db_row = page.locator("tr", has_text="Default DB profile1")
        assert db_row.locator("td.result").inner_text().strip() == "✓ Success"
        assert db_row.locator("button:text('Sync')").is_visible()
        assert db_row.locator("td.last-full").inner_text() != "Never"

        # A One Time start a few seconds ahead: the run fires by itself while the screen is
        # open, the row follows it, and its log names the scheduler as the user.
        row_id = db_row.get_attribute("id")
        before = db_row.get_attribute("data-run")
        pair.staging.esync("profile", "edit", "Default DB profile1", "--schedule", "once",
                           "--start", soon(6))
        page.wait_for_function(
            "([id, before]) => { const row = document.getElementById(id);"
            " return row.dataset.run !== before && row.dataset.status === 'success'; }",
            arg=[row_id, before], timeout=60000)
        assert page.evaluate("window.notReloaded") is True
        db_row.locator("a.log-icon").click()
        assert "scheduler" in page.inner_text("dl.properties")
        assert "Scheduled for:" in page.inner_text("dl.properties")
