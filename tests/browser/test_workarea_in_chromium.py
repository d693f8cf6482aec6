"""An editor's day in a real browser: sign in, write a page with a library image, approve it."""

import pytest

from cms.sample_data import solid_png
from tests.real_instances import ADMIN_PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_sign_in_write_a_page_with_an_image_and_approve_it(real_instances, chromium_page,
                                                           tmp_path):
    staging = real_instances("staging")
    image = tmp_path / "harbour.png"
    image.write_bytes(solid_png(20, 10, (10, 120, 200)))
    page = chromium_page
    with staging.serving():
        page.goto(f"{staging.web_url}/workarea/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", ADMIN_PASSWORD)
        page.click("button:text('Sign in')")
        page.wait_for_url("**/workarea/**")
        assert page.locator(".brand").inner_text() == "esync staging"

        page.click("text=+ New top-level folder")
        page.fill("#id_name", "News")
        page.click("button:text('Create folder')")
        page.wait_for_selector("h1:text('/News')")

        page.click("text=Library")
        page.fill("#id_title", "Harbour")
        page.set_input_files("#id_file", str(image))
        page.click("button:text('Upload')")
        page.wait_for_selector("text=added to the library")

        page.click("text=Content")
        page.click("text=News")
        page.click("text=+ New content")
        page.fill("#id_title", "Harbour opens")
        page.fill("#id_html", "<p>The harbour is open.</p>")
        page.click("button.insert-image[data-alt='Harbour']")
        html = page.input_value("#id_html")
        assert '<img src="/uploadedimages/harbour.png" alt="Harbour">' in html
        page.click("button:text('Save')")
        page.wait_for_selector("text=saved (id")

        page.click("button:text('Approve')")
        page.wait_for_selector("#status:text('Approved')")
        preview = page.frame_locator("iframe.preview")
        assert preview.locator("img").get_attribute("src") == "/uploadedimages/harbour.png"
        natural_width = preview.locator("img").evaluate("img => img.naturalWidth")
        assert natural_width == 20  # the image really loads from the site root

        page.click("text=History")
        rows = page.locator("tbody tr")
        assert rows.count() == 2
        assert "Approved" in rows.nth(0).inner_text()

        page.click("text=Synchronization")
        page.wait_for_selector("h1:text('View All Synchronization Configurations')")
