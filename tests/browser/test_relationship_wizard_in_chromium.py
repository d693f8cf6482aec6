"""The manual's Parts Three and Four in a real browser: the wizard, then Start Initial Sync."""

import pytest

from tests.browser.test_security_configurator_in_chromium import sign_in
from tests.real_instances import free_port
from tests.sync_helpers import contents, seed, trust_both_ways

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_pair_staging_with_production_and_copy_it_up(real_instances, chromium_page, tmp_path):
    staging, production = real_instances("staging"), real_instances("production")
    seed(staging)
    trust_both_ways(staging, production, tmp_path)
    page = chromium_page
    with production.sync_serving(), staging.serving():
        sign_in(page, staging)
        page.click("text=Synchronization")
        page.wait_for_selector("text=There are no configurations")
        page.click("a[title='Create Synchronization Server Relationship']")

        page.fill("#id_remote_server", "127.0.0.1")
        page.fill("#id_port", str(free_port()))
        page.click("button:text('Connect')")
        assert "no endpoint listening" in page.locator("#connect-error").inner_text()

        page.fill("#id_port", str(production.sync_port))
        assert page.locator("#id_certificate option:checked").inner_text().startswith("production")
        page.click("button:text('Connect')")
        page.wait_for_selector("h2:text('Step 2 of 3')")
        assert page.locator("input[name=database]").first.is_checked()
        page.click("button:text('Next')")

        page.wait_for_selector("h2:text('Step 3 of 3')")
        assert page.locator("#direction").get_attribute("aria-label") == "upload"
        page.click("button:text('Switch Synchronization Direction')")
        assert page.locator("#direction").get_attribute("aria-label") == "download"
        page.click("button:text('Switch Synchronization Direction')")
        assert page.locator("#direction").get_attribute("aria-label") == "upload"
        page.click("button:text('Create')")

        page.wait_for_selector("text=Relationship with production created")
        page.click("button:text('Start Initial Sync')")
        page.wait_for_selector("#run-phase:text('Synchronization is Complete')", timeout=60000)
        assert page.locator("#run-status").inner_text() == "success"
        page.click("text=Synchronization")
        block = page.locator(".relationship").inner_text()
        assert "Staged" in block and "Default DB profile1" in block
        assert "Start Initial Sync" not in block
    assert contents(production) == contents(staging)
    assert production.info()["server_number"] == 2
