"""The public site: a visitor signs up as a member; approved content shows through the
site root's page template."""

import pytest

from cms import content as content_service
from cms.models import Folder, User

pytestmark = pytest.mark.django_db


def test_a_visitor_signs_up_as_a_membership_user(client):
    response = client.post("/site/signup/", {"username": "newcomer", "email": "n@example.org",
                                             "password": "a-long-member-pass-1"})

    assert response.status_code == 200
    assert "Welcome, newcomer" in response.text
    member = User.objects.get(username="newcomer")
    assert member.kind == User.Kind.MEMBERSHIP and member.check_password("a-long-member-pass-1")
    assert not member.is_staff and not member.groups.exists()


def test_sign_up_refuses_a_taken_name_and_a_weak_password_and_creates_nothing(client,
                                                                              member):
    response = client.post("/site/signup/", {"username": member.username.upper(),
                                             "password": "123"})

    assert response.status_code == 400
    assert "That user name is taken" in response.text
    assert "too short" in response.text
    assert User.objects.count() == 1


def test_approved_content_shows_through_the_site_template_and_drafts_do_not(client,
                                                                           site_root,
                                                                           administrator):
    folder = Folder.objects.create(name="Site")
    item = content_service.create_content(folder, "Opening hours", "<p>9 to 5</p>",
                                          administrator)
    assert client.get(f"/site/content/{item.id}/").status_code == 404
    content_service.approve_content(item, administrator)

    page = client.get(f"/site/content/{item.id}/")

    assert page.status_code == 200
    assert "<h1>Opening hours</h1>" in page.text and "<p>9 to 5</p>" in page.text


@pytest.mark.parametrize(("path", "served"), [
    ("css/public-test.css", True),
    ("scripts/public-test.js", True),
    ("web.config", False),
    ("workarea/public-test.js", False),
    ("bin/public-test.dll", False),
])
def test_the_site_root_serves_its_template_files_and_nothing_else(client, path, served):
    from pathlib import Path

    from django.conf import settings

    file = Path(settings.SITE_ROOT) / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("served")
    try:
        response = client.get("/" + path)
        assert response.status_code == (200 if served else 404)
        if served:
            assert b"".join(response.streaming_content) == b"served"
    finally:
        file.unlink()
