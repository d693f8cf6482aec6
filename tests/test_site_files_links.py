"""Links in the site root never lead the public file views out of it, nor to privateassets;
library quicklinks and paths are only relative or http(s), and shown as text when they are not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from cms.library import LinkRefused, check_library_path, check_quicklink
from cms.models import LibraryItem
from cms.site_root import create_site_root

pytestmark = pytest.mark.django_db

SECRET = "secret-key-of-this-home"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nnot-for-the-web\n"
PRIVATE_REPORT = "private report"


@pytest.fixture
def home(settings, tmp_path) -> Path:
    """An instance home laid out as `esync init` does: keys, secret key, the site root."""
    home = tmp_path / "home"
    root = home / "siteroot"
    create_site_root(root)
    (home / "keys" / "alpha").mkdir(parents=True)
    (home / "keys" / "alpha" / "server.key").write_text(PRIVATE_KEY)
    (home / "secret_key").write_text(SECRET)
    (root / "privateassets" / "report.pdf").write_text(PRIVATE_REPORT)
    for relative, text in PUBLIC_FILES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    settings.ESYNC_HOME, settings.SITE_ROOT = home, root
    return home


PUBLIC_FILES = {
    "assets/site.css": "body { color: navy }",
    "uploadedimages/photos/caf\u00e9 au lait.png": "an image",
    "uploadedfiles/menu.pdf": "a menu",
    "css/site.css": "h1 { color: teal }",
}

# (link in the site root, where it points, the URL that would have served through it)
LINKS = [
    ("assets/passwd", "/etc/passwd", "/assets/passwd"),
    ("css/passwd.css", "/etc/passwd", "/css/passwd.css"),
    ("uploadedimages/keys", "HOME/keys", "/uploadedimages/keys/alpha/server.key"),
    ("scripts/keys", "HOME/keys", "/scripts/keys/alpha/server.key"),
    ("uploadedfiles/secret.pdf", "HOME/secret_key", "/uploadedfiles/secret.pdf"),
    ("scripts/secret.js", "HOME/secret_key", "/scripts/secret.js"),
    ("uploadedfiles/report.pdf", "../privateassets/report.pdf", "/uploadedfiles/report.pdf"),
    ("assets/mirror", "../privateassets", "/assets/mirror/report.pdf"),
    ("docs", "privateassets", "/docs/report.pdf"),
    ("outside", "/etc", "/outside/passwd"),
]


def make_link(home: Path, link: str, target: str) -> None:
    path = home / "siteroot" / link
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target.replace("HOME", str(home)))


@pytest.fixture(params=["anonymous", "signed in"])
def visitor(request, administrator) -> Client:
    client = Client()
    if request.param == "signed in":
        client.force_login(administrator)
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize(("link", "target", "url"), LINKS, ids=[row[0] for row in LINKS])
def test_a_link_in_the_site_root_is_not_followed(home, visitor, link, target, url):
    make_link(home, link, target)
    assert (home / "siteroot" / url.lstrip("/")).exists()  # the link does lead somewhere

    response = visitor.get(url)

    assert response.status_code == 404
    text = body(response).decode(errors="replace")
    for leaked in (SECRET, "not-for-the-web", PRIVATE_REPORT, "root:", str(home)):
        assert leaked not in text


@pytest.mark.parametrize("url", [
    "/privateassets/report.pdf", "/PrivateAssets/report.pdf", "/assets/../privateassets/report.pdf",
    "/css/../privateassets/report.pdf", "/css/%2e%2e/privateassets/report.pdf",
    "/assets//report.pdf", "/assets/./site.css", "/css/", "/assets/",
])
def test_privateassets_and_dotted_paths_are_never_served(home, visitor, url):
    response = visitor.get(url)
    assert response.status_code == 404
    assert PRIVATE_REPORT not in body(response).decode(errors="replace")


@pytest.mark.parametrize("relative", sorted(PUBLIC_FILES))
def test_ordinary_site_files_are_still_served(home, visitor, relative):
    for link, target, _ in LINKS:  # links beside them change nothing for real files
        make_link(home, link, target)

    response = visitor.get("/" + relative)

    assert response.status_code == 200
    assert body(response).decode() == PUBLIC_FILES[relative]
    assert "Last-Modified" in response
    again = visitor.get("/" + relative, HTTP_IF_MODIFIED_SINCE=response["Last-Modified"])
    assert again.status_code == 304


def test_a_site_root_that_holds_the_home_does_not_serve_the_home(settings, tmp_path, visitor):
    """A site root configured as the home's parent: the home inside it stays unserved."""
    home = tmp_path / "home"
    (home / "keys" / "alpha").mkdir(parents=True)
    (home / "keys" / "alpha" / "server.key").write_text(PRIVATE_KEY)
    (home / "secret_key").write_text(SECRET)
    (tmp_path / "css").mkdir()
    (tmp_path / "css" / "site.css").write_text("ok")
    settings.ESYNC_HOME, settings.SITE_ROOT = home, tmp_path

    assert visitor.get("/home/secret_key").status_code == 404
    assert visitor.get("/home/keys/alpha/server.key").status_code == 404
    assert body(visitor.get("/css/site.css")) == b"ok"


def test_a_fifo_is_not_served_and_does_not_hang_the_view(home, visitor):
    os.mkfifo(home / "siteroot" / "assets" / "pipe.css")
    assert visitor.get("/assets/pipe.css").status_code == 404


def test_site_files_carry_the_sandboxing_policy(home, visitor):
    response = visitor.get("/assets/site.css")
    policy = response["Content-Security-Policy"]
    assert policy.startswith("sandbox ") and "allow-same-origin" not in policy
    assert visitor.get("/assets/missing.css")["Content-Security-Policy"] == policy


# -- quicklinks and library paths -------------------------------------------------------------

@pytest.mark.parametrize("link", [
    "/content/12", "news/", "?page=2", "#top", "https://example.org/a?b=c", "HTTP://Example.org",
    "uploadedfiles/caf\u00e9 au lait.pdf",
])
def test_relative_and_http_links_are_quicklinks(link):
    assert check_quicklink(link) == link


@pytest.mark.parametrize("link", [
    "javascript:alert(document.cookie)", "JavaScript:alert(1)", " javascript:alert(1)",
    "java\tscript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:x",
    "//evil.example/", "/\\evil.example/", "https:evil.example", "http://", "", "   ",
    "file:///etc/passwd",
])
def test_other_links_are_refused_with_a_sentence(link):
    with pytest.raises(LinkRefused) as refused:
        check_quicklink(link)
    assert str(refused.value).startswith("A quicklink")


@pytest.mark.parametrize("path", [
    "javascript:alert(1)", "/etc/passwd", "uploadedimages/../../secret_key", "", "a//b.png",
    "uploadedimages\\x.png",
])
def test_a_library_file_path_is_a_relative_path_below_the_site_root(path):
    with pytest.raises(LinkRefused, match="relative path below the site root"):
        check_library_path(path)


def test_the_library_screen_refuses_a_javascript_quicklink(client, editor, home):
    client.force_login(editor)

    response = client.post(reverse("cms:library"), {"quicklink-title": "Trap",
                                                    "quicklink-link": "javascript:alert(1)"})

    assert response.status_code == 400
    assert "“javascript:” links are refused" in response.content.decode()
    assert not LibraryItem.objects.exists()


def test_the_library_screen_adds_an_http_quicklink(client, editor, home):
    client.force_login(editor)

    response = client.post(reverse("cms:library"), {"quicklink-title": "Harbour",
                                                    "quicklink-link": "https://example.org/h"},
                           follow=True)

    assert LibraryItem.objects.get().path == "https://example.org/h"
    assert '<a href="https://example.org/h">' in response.content.decode()


def test_a_stored_javascript_quicklink_shows_as_text_not_as_a_link(client, editor, home):
    """A row that came in some other way (a peer, the admin, an older version)."""
    LibraryItem.objects.create(kind="quicklink", title="Trap", path="javascript:alert(1)")
    LibraryItem.objects.create(kind="image", title="Odd", path="javascript:alert(2)")
    LibraryItem.objects.create(kind="quicklink", title="Fine", path="/content/3")
    client.force_login(editor)

    page = client.get(reverse("cms:library")).content.decode()

    assert "javascript:" in page  # the stored value is shown ...
    assert 'href="javascript' not in page and 'src="javascript' not in page  # ... as text
    assert 'src="/javascript' not in page
    assert '<a href="/content/3">' in page


def test_the_admin_form_refuses_a_javascript_quicklink():
    from cms.forms import LibraryItemForm

    form = LibraryItemForm({"kind": "quicklink", "title": "Trap", "path": "javascript:x",
                            "uploaded_at": "2026-01-01 00:00"})
    assert not form.is_valid()
    assert "links are refused" in form.errors["path"][0]
