"""The Workarea is protected from content: its pages run only our static scripts, site pages
are sandboxed into an opaque origin, and the session and CSRF cookies are HttpOnly and Lax."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from cms import content as content_service
from cms.models import Folder, UrlAlias
from esync_site.content_security import SITE_POLICY
from syncengine.models import Collision
from tests.certificate_helpers import use_home

pytestmark = pytest.mark.django_db

TEMPLATES = Path(django_settings.BASE_DIR) / "templates"
SCRIPT_TAG = re.compile(r"<script\b[^>]*>", re.IGNORECASE)
HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
OUR_SCRIPT = re.compile(r'\ssrc="(/static/[^"]+|/admin/jsi18n/)"')
EVIL = "<p>Hello</p><script>fetch('/workarea/settings/synchronization/security/')</script>"


def script_sources(policy: str) -> str:
    return next(d for d in policy.split(";") if d.strip().startswith("script-src")).strip()


def assert_only_our_scripts(html: str) -> None:
    for tag in SCRIPT_TAG.findall(html):
        assert OUR_SCRIPT.search(tag), tag
    assert not HANDLER.search(html), HANDLER.search(html).group(0)
    assert "javascript:" not in html


@pytest.mark.parametrize("template", sorted(p.relative_to(TEMPLATES).as_posix()
                                            for p in TEMPLATES.rglob("*.html")))
def test_no_template_has_inline_script_or_an_event_handler(template):
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    for tag in SCRIPT_TAG.findall(text):
        assert "src=" in tag, f"{template}: inline script {tag}"
    assert not HANDLER.search(text), f"{template}: {HANDLER.search(text).group(0)}"


@pytest.fixture
def admin_client(client, administrator, settings, tmp_path, site_root):
    use_home(settings, tmp_path / "home", "alpha")
    administrator.is_staff = administrator.is_superuser = True  # the admin's screens too
    administrator.save()
    client.force_login(administrator)
    return client


@pytest.fixture
def synced(administrator, site_root):
    folder = Folder.objects.create(name="Site")
    item = content_service.create_content(folder, "Synced", EVIL, administrator)
    content_service.approve_content(item, administrator)
    UrlAlias.objects.create(alias="synced", content=item)
    return item


def workarea_urls(synced) -> list[str]:
    return [reverse("cms:browser"), f"{reverse('cms:browser')}?folder={synced.folder_id}",
            reverse("cms:library"), reverse("cms:content", args=[synced.id]),
            reverse("cms:content_edit", args=[synced.id]),
            reverse("cms:content_history", args=[synced.id]),
            reverse("sync:configurations"), reverse("sync:collisions"), reverse("sync:logs"),
            reverse("sync:security"), reverse("sync:server_info"), reverse("sync:conflicts"),
            reverse("admin:index"), reverse("admin:cms_libraryitem_add")]


def test_every_workarea_screen_allows_only_scripts_of_our_static_files(admin_client, synced):
    Collision.objects.create(kind="user", table_name="cms_user", row_id=10027,
                             original_name="Mad", modified_name="Mad10027")
    for url in workarea_urls(synced):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        policy = response["Content-Security-Policy"]
        assert script_sources(policy) == ("script-src http://testserver/static/ "
                                          "http://testserver/admin/jsi18n/"), url
        assert "object-src 'none'" in policy and "form-action 'self'" in policy
        assert "sandbox" not in policy
        assert_only_our_scripts(response.content.decode())


def test_the_sign_in_and_sign_up_screens_have_the_workarea_policy(client):
    for url in (reverse("login"), reverse("site_signup")):
        response = client.get(url)
        assert "/static/ " in script_sources(response["Content-Security-Policy"])
        assert_only_our_scripts(response.content.decode())


def test_the_content_preview_runs_no_script(admin_client, synced):
    html = admin_client.get(reverse("cms:content", args=[synced.id])).content.decode()
    preview = re.search(r"<iframe[^>]*>", html).group(0)
    assert " sandbox " in preview and "allow-scripts" not in preview
    assert "&lt;script&gt;" in preview  # the body, escaped into srcdoc, not live in the page


@pytest.mark.parametrize("signed_in", [False, True])
def test_site_pages_are_sandboxed_into_an_opaque_origin(client, administrator, synced,
                                                        signed_in):
    if signed_in:
        client.force_login(administrator)
    for url in (f"/site/content/{synced.id}/", "/site/synced"):
        response = client.get(url)
        assert response.status_code == 200 and EVIL in response.content.decode()
        policy = response["Content-Security-Policy"]
        assert policy == SITE_POLICY
        assert policy.split()[0] == "sandbox" and "allow-same-origin" not in policy
    assert client.get("/site/no-such-page")["Content-Security-Policy"] == SITE_POLICY


def test_session_and_csrf_cookies_are_http_only_and_lax(client, administrator):
    from tests.conftest import PASSWORD

    form = client.get(reverse("login"))
    csrf = form.cookies[django_settings.CSRF_COOKIE_NAME]
    response = client.post(reverse("login"), {"username": administrator.username,
                                              "password": PASSWORD})
    assert response.status_code == 302
    session = response.cookies[django_settings.SESSION_COOKIE_NAME]
    for cookie in (csrf, session):
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"


def test_the_workarea_takes_the_csrf_token_from_the_page_not_the_cookie():
    static = Path(django_settings.BASE_DIR) / "static"
    for script in static.rglob("*.js"):
        assert "cookie" not in script.read_text(encoding="utf-8").lower(), script


def test_a_post_from_a_sandboxed_page_is_refused_by_the_csrf_check(administrator):
    """What a site page's script could send (Origin: null), even if the cookie went along."""
    from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret

    client = Client(enforce_csrf_checks=True)
    client.force_login(administrator)
    secret = _get_new_csrf_string()
    client.cookies[django_settings.CSRF_COOKIE_NAME] = secret
    response = client.post(reverse("cms:library"),
                           {"csrfmiddlewaretoken": _mask_cipher_secret(secret),
                            "quicklink-link": "/x"},
                           HTTP_ORIGIN="null")
    assert response.status_code == 403
