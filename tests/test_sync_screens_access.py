"""Only Administrators and Synchronization Admins reach the Synchronization screens."""

import pytest
from django.urls import URLPattern, reverse

from esync_site import sync_urls

pytestmark = pytest.mark.django_db


SAMPLE_ARGUMENTS = {"<int:peer_id>": [1], "<int:relationship_id>": [1], "<int:run_id>": [1],
                    "<int:profile_id>": [1], "<int:conflict_id>": [1], "<int:content_id>": [1],
                    "<int:folder_id>": [1], "<int:held_id>": [1]}


def synchronization_urls(role: str | None = None) -> list[str]:
    """Every screen under the Synchronization menu (those open to `role`, if given)."""
    urls = []
    for pattern in sync_urls.urlpatterns:
        if not isinstance(pattern, URLPattern):
            continue
        if role and role not in pattern.callback.allowed_roles:
            continue
        arguments = next((v for k, v in SAMPLE_ARGUMENTS.items() if k in str(pattern.pattern)),
                         [])
        urls.append(reverse(f"sync:{pattern.name}", args=arguments))
    assert urls, "no Synchronization screens found"
    return urls


def test_every_synchronization_screen_is_guarded_by_a_role_check():
    for pattern in sync_urls.urlpatterns:
        assert getattr(pattern.callback, "allowed_roles", None), pattern.name


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


@pytest.mark.parametrize("who, role", [("administrator", "Administrators"),
                                       ("sync_admin", "Synchronization Admin")])
def test_each_role_gets_into_its_screens_and_no_others(client, request, who, role):
    from certificates.models import TrustedPeer
    from profiles.models import Profile
    from relationships.models import Relationship
    from syncengine.models import ConflictRecord, SyncRun

    peer = TrustedPeer.objects.create(
        id=1, name="peer", server_id="00000000-0000-0000-0000-000000000001",
        esync_version="0.1.0", server_cert_pem="", client_cert_pem="",
        server_fingerprint="a", client_fingerprint="b",
        server_not_after="2030-01-01T00:00Z", client_not_after="2030-01-01T00:00Z")
    relationship = Relationship.objects.create(
        id=1, remote_host="127.0.0.1", remote_server_id=peer.server_id, remote_name="peer",
        remote_database="esync", certificate=peer, initial_direction="upload")
    run = SyncRun.objects.create(id=1, kind="FullStage", relationship=relationship,
                                 direction="upload", status="success")
    Profile.objects.create(id=1, relationship=relationship, name="Database",
                           items=["database"], direction="upload")
    from cms.models import Content, Folder

    folder = Folder.objects.create(id=1, name="Root")
    Content.objects.create(id=1, folder=folder, title="Home", status="A")
    ConflictRecord.objects.create(id=1, run=run, relationship=relationship,
                                  table_name="cms_content", row_key="1", policy="local-wins",
                                  winner_side="local", local_version=None,
                                  remote_version=None)
    client.force_login(request.getfixturevalue(who))
    allowed = synchronization_urls(role)
    for url in allowed:
        response = client.get(url)  # reaches the view (a POST-only action answers 405)
        assert response.status_code in (200, 302, 405), url
        assert "/accounts/login/" not in response.get("Location", ""), url
    for url in set(synchronization_urls()) - set(allowed):
        assert client.get(url).status_code == 403, url


def test_the_security_configurator_is_for_administrators_only():
    url = reverse("sync:security")
    assert url in synchronization_urls("Administrators")
    assert url not in synchronization_urls("Synchronization Admin")


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


@pytest.mark.parametrize("typed", ["²", "٣", "99999999999999999999", "-1", "1e3"])
def test_a_number_typed_into_a_screen_address_is_never_a_server_error(client, administrator,
                                                                      typed):
    """Given an Administrator, when the logs or collisions are asked with a relationship or
    collision that is not a whole number, then the screen shows everything instead."""
    client.force_login(administrator)
    assert client.get(reverse("sync:logs"), {"relationship": typed}).status_code == 200
    response = client.post(reverse("sync:collisions"), {"collision": [typed]})
    assert response.status_code in (200, 302)


@pytest.mark.parametrize("text, number", [("0", 0), ("42", 42), (str(2**63 - 1), 2**63 - 1),
                                          (str(2**63), None), ("²", None), ("٣", None),
                                          ("", None), (" 1", None), ("+1", None), (None, None),
                                          (7, None), ("1" * 400, None)])
def test_whole_numbers_are_ascii_digits_below_two_to_the_63(text, number):
    from esync_site.whole_numbers import whole_number

    assert whole_number(text) == number
