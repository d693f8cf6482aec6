"""The Security Configurator screen, as an Administrator uses it."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from certificates.identities import list_identities
from certificates.models import TrustedPeer
from tests.certificate_helpers import export_as_peer, use_home
from tests.real_instances import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, administrator, settings, tmp_path):
    use_home(settings, tmp_path / "home", "alpha")
    client.force_login(administrator)
    return client


def upload(folder):
    return [SimpleUploadedFile(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]


def test_generate_then_see_the_fingerprints(admin_client):
    page = admin_client.get(reverse("sync:security")).content.decode()
    assert "No certificates yet" in page
    admin_client.post(reverse("sync:security_generate"), {"site": "all"})
    page = admin_client.get(reverse("sync:security")).content.decode()
    for identity in list_identities():
        assert identity.fingerprint in page
    assert "alpha_SyncServer" in page and "alpha_SyncClient" in page


def test_discarding_keys_asks_for_confirmation_first(admin_client):
    admin_client.post(reverse("sync:security_generate"), {"site": "all"})
    before = {i.fingerprint for i in list_identities()}
    asked = admin_client.post(reverse("sync:security_generate"),
                              {"site": "all", "discard_existing": "on"})
    assert "Discard existing keys?" in asked.content.decode()
    assert {i.fingerprint for i in list_identities()} == before
    admin_client.post(reverse("sync:security_generate"),
                      {"site": "all", "discard_existing": "on", "confirmed": "yes"})
    assert {i.fingerprint for i in list_identities()}.isdisjoint(before)


def test_export_downloads_public_certificates_only(admin_client):
    admin_client.post(reverse("sync:security_generate"), {"site": "all"})
    response = admin_client.get(reverse("sync:security_export"))
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == [
        "alpha_SyncClient.crt", "alpha_SyncServer.crt", "esync-peer.json"]
    assert all(b"PRIVATE KEY" not in archive.read(n) for n in archive.namelist())


def test_apply_uploaded_files_then_remove_the_peer_after_confirming(admin_client, settings,
                                                                     tmp_path):
    admin_client.post(reverse("sync:security_generate"), {"site": "all"})
    folder = export_as_peer(settings, tmp_path / "beta")
    page = admin_client.post(reverse("sync:security_apply"), {"files": upload(folder)},
                             follow=True).content.decode()
    peer = TrustedPeer.objects.get()
    assert f"Trusting beta ({peer.server_id})" in page
    remove_url = reverse("sync:security_remove_peer", args=[peer.id])
    assert "Stop trusting beta?" in admin_client.get(remove_url).content.decode()
    assert TrustedPeer.objects.exists()
    admin_client.post(remove_url)
    assert not TrustedPeer.objects.exists()


def test_apply_with_a_private_key_among_the_files_is_refused(admin_client, settings, tmp_path):
    admin_client.post(reverse("sync:security_generate"), {"site": "all"})
    folder = export_as_peer(settings, tmp_path / "beta")
    (folder / "beta_SyncServer.key").write_text("-----BEGIN PRIVATE KEY-----\n...")
    page = admin_client.post(reverse("sync:security_apply"), {"files": upload(folder)},
                             follow=True).content.decode()
    assert "holds a private key" in page
    assert not TrustedPeer.objects.exists()


def test_test_connection_to_a_stopped_peer_says_no_endpoint(admin_client, settings, tmp_path):
    admin_client.post(reverse("sync:security_generate"), {"site": "all"})
    admin_client.post(reverse("sync:security_apply"),
                      {"files": upload(export_as_peer(settings, tmp_path / "beta"))})
    port = free_port()
    page = admin_client.post(reverse("sync:security_test"), {"address": f"127.0.0.1:{port}"},
                             follow=True).content.decode()
    assert f"no endpoint listening at 127.0.0.1:{port}" in page


def test_a_synchronization_admin_cannot_open_it(client, sync_admin):
    client.force_login(sync_admin)
    assert client.get(reverse("sync:security")).status_code == 403
    assert client.post(reverse("sync:security_generate"), {"site": "all"}).status_code == 403
