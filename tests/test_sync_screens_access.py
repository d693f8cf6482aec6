"""Only Administrators and Synchronization Admins reach the Synchronization screens."""

import pytest
from django.urls import URLPattern, reverse

from esync_site import sync_urls

pytestmark = pytest.mark.django_db


def synchronization_urls() -> list[str]:
    """Every screen under the Synchronization menu, as the URLconf lists them today."""
    names = [p.name for p in sync_urls.urlpatterns if isinstance(p, URLPattern)]
    assert names, "the Synchronization URLconf lists no screens"
    return [reverse(f"sync:{name}") for name in names]


def test_every_synchronization_screen_is_guarded_by_the_role_check():
    for pattern in sync_urls.urlpatterns:
        assert getattr(pattern.callback, "requires_sync_admin", False), pattern.name


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in synchronization_urls():
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_an_editor_without_the_role_is_refused(client, editor):
    client.force_login(editor)
    for url in synchronization_urls():
        assert client.get(url).status_code == 403, url


def test_a_membership_user_is_refused(client, member):
    client.force_login(member)
    for url in synchronization_urls():
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("who", ["administrator", "sync_admin"])
def test_administrators_and_synchronization_admins_get_in(client, request, who):
    client.force_login(request.getfixturevalue(who))
    for url in synchronization_urls():
        assert client.get(url).status_code == 200, url


def test_the_menu_shows_synchronization_only_to_those_with_the_role(client, editor, sync_admin):
    link = reverse("sync:configurations")
    client.force_login(editor)
    assert link not in client.get(reverse("cms:browser")).content.decode()
    client.force_login(sync_admin)
    assert link in client.get(reverse("cms:browser")).content.decode()


def test_server_information_shows_identity_and_range(client, administrator):
    from relationships.server_identity import get_server_info

    client.force_login(administrator)
    page = client.get(reverse("sync:server_info")).content.decode()
    info = get_server_info()
    assert str(info.server_id) in page
    assert "1 – 1,000,000,000,000" in page
    assert "not assigned yet" in page


def test_the_empty_configurations_screen_gives_the_manuals_hint(client, administrator):
    client.force_login(administrator)
    page = client.get(reverse("sync:configurations")).content.decode()
    assert 'Please click the "+" button above' in page.replace("&quot;", '"')
