"""The manual's Part Two in a real browser: generate, export, apply both ways, test connection."""

import zipfile

import pytest

from tests.real_instances import ADMIN_PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def sign_in(page, instance) -> None:
    page.goto(f"{instance.web_url}/accounts/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("button:text('Sign in')")
    page.wait_for_url("**/workarea/**")


def open_security_configurator(page) -> None:
    page.click("text=Synchronization")
    page.click("text=Security Configurator")
    page.wait_for_selector("h1:text('Security Configurator')")


def generate_and_export(page, tmp_path, name: str) -> list[str]:
    page.click("button:text('Generate')")
    page.wait_for_selector(f"#identities >> text={name}_SyncServer")
    with page.expect_download() as download:
        page.click("text=Export for a peer")
    archive = tmp_path / f"{name}.zip"
    download.value.save_as(archive)
    folder = tmp_path / f"{name}-export"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(folder)
    return sorted(str(p) for p in folder.iterdir())


def test_two_administrators_pair_their_instances_from_the_screen(real_instances, chromium_page,
                                                                 tmp_path):
    alpha, beta = real_instances("alpha"), real_instances("beta")
    page_a = chromium_page
    page_b = page_a.context.browser.new_page()
    with alpha.serving(), beta.serving():
        for page, instance in ((page_a, alpha), (page_b, beta)):
            sign_in(page, instance)
            open_security_configurator(page)
        alpha_files = generate_and_export(page_a, tmp_path, "alpha")
        beta_files = generate_and_export(page_b, tmp_path, "beta")

        for page, files, peer in ((page_b, alpha_files, "alpha"), (page_a, beta_files, "beta")):
            page.set_input_files("#apply-files", files)
            page.click("button:text('Apply')")
            page.wait_for_selector(f"text=Trusting {peer}")
            assert page.locator("#peers").inner_text().startswith("Peer")

        for page, other in ((page_a, beta), (page_b, alpha)):
            page.fill("#address", f"127.0.0.1:{other.sync_port}")
            page.click("button:text('Test connection')")
            message = page.locator(".message").inner_text()
            assert f"Connection OK: {other.name}" in message, message
