"""Generate here, carry a folder there, apply: public certificates only; bad folders refused."""

import datetime as dt
import json
import os
import shutil
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from certificates.exchange import CertificateFolderRefused, apply_peer_folder, export_identity
from certificates.identities import generate_identities, list_identities
from certificates.models import TrustedPeer
from tests.certificate_helpers import export_as_peer, use_home

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(settings, tmp_path):
    return use_home(settings, tmp_path / "home", "alpha")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_generate_makes_a_server_and_a_client_identity_with_private_keys_0600(home):
    identities = generate_identities()
    assert [(i.role, i.subject) for i in identities] == [
        ("server", "alpha_SyncServer"), ("client", "alpha_SyncClient")]
    for identity in identities:
        assert mode(identity.key_path) == 0o600
        certificate = x509.load_pem_x509_certificate(identity.certificate_path.read_bytes())
        assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
        assert identity.not_after - identity.not_before > dt.timedelta(days=365)
    assert mode(home.keys_dir / "all") == 0o700


def test_generate_keeps_existing_keys_unless_told_to_discard_them(home):
    first = {i.fingerprint for i in generate_identities()}
    assert {i.fingerprint for i in generate_identities()} == first
    replaced = {i.fingerprint for i in generate_identities(discard_existing=True)}
    assert replaced.isdisjoint(first) and len(replaced) == 2


def test_export_holds_public_certificates_and_a_manifest_only(home, tmp_path):
    generate_identities()
    written = export_identity(tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["alpha_SyncClient.crt", "alpha_SyncServer.crt", "esync-peer.json"]
    assert len(written) == 3
    for path in written:
        assert b"PRIVATE KEY" not in path.read_bytes()
    manifest = json.loads((tmp_path / "out" / "esync-peer.json").read_text())
    own = {i.role: i.fingerprint for i in list_identities()}
    assert {r: manifest["certificates"][r]["fingerprint"] for r in own} == own
    assert manifest["name"] == "alpha" and manifest["esync_version"] == "0.1.0"


def test_export_refuses_a_folder_that_already_holds_security_files(home, tmp_path):
    generate_identities()
    export_identity(tmp_path / "out")
    with pytest.raises(CertificateFolderRefused, match="export into an empty folder"):
        export_identity(tmp_path / "out")


def test_apply_trusts_the_peer_and_reapplying_replaces_its_certificates(home, settings, tmp_path):
    generate_identities()
    beta_id = "11111111-1111-1111-1111-111111111111"
    folder = export_as_peer(settings, tmp_path / "beta", server_id=beta_id)
    peer = apply_peer_folder(folder)
    assert (peer.name, str(peer.server_id)) == ("beta", beta_id)
    assert "BEGIN CERTIFICATE" in peer.server_cert_pem

    # what this server decided about beta (a narrowed relationship) outlives its new keys
    from relationships import peer_grants

    grant = peer_grants.announce(peer, {
        "relationship": 7, "local_site": "default", "remote_site": "default",
        "initial_direction": "upload", "profiles": []})
    peer_grants.narrow(grant, ["database"], privileged=False)

    again = export_as_peer(settings, tmp_path / "beta2", server_id=str(peer.server_id))
    replaced = apply_peer_folder(again)
    assert TrustedPeer.objects.count() == 1
    assert replaced.server_fingerprint != peer.server_fingerprint
    assert replaced.pk == peer.pk
    assert peer_grants.grant_of(replaced, "7").writable_items == ["database"]


def refused(folder, message: str) -> None:
    before = list(TrustedPeer.objects.values_list("server_fingerprint", flat=True))
    with pytest.raises(CertificateFolderRefused, match=message):
        apply_peer_folder(folder)
    assert list(TrustedPeer.objects.values_list("server_fingerprint", flat=True)) == before


def test_apply_refuses_a_folder_holding_a_private_key(home, settings, tmp_path):
    generate_identities()
    folder = export_as_peer(settings, tmp_path / "beta")
    shutil.copy(home.keys_dir / "all" / "client.key", folder / "beta_SyncClient.key")
    refused(folder, "holds a private key")
    (folder / "beta_SyncClient.key").unlink()
    certificate = folder / "beta_SyncClient.crt"
    certificate.write_text(certificate.read_text() + (home.keys_dir / "all/client.key").read_text())
    refused(folder, "beta_SyncClient.crt holds a private key")


def test_apply_refuses_malformed_files(home, settings, tmp_path):
    generate_identities()
    folder = export_as_peer(settings, tmp_path / "beta")
    server = folder / "beta_SyncServer.crt"
    good = server.read_text()
    server.write_text(good.replace("MII", "XYZ", 1))
    refused(folder, "beta_SyncServer.crt is not a valid certificate")
    server.write_text(good)
    (folder / "esync-peer.json").write_text("{not json")
    refused(folder, "esync-peer.json is malformed")


def test_apply_refuses_two_peers_files_mixed(home, settings, tmp_path):
    generate_identities()
    beta = export_as_peer(settings, tmp_path / "beta", name="beta")
    gamma = export_as_peer(settings, tmp_path / "gamma", name="gamma")
    shutil.copy(gamma / "gamma_SyncServer.crt", beta)
    refused(beta, "not beta's exported set")
    shutil.copy(gamma / "esync-peer.json", beta / "gamma.json")
    refused(beta, "exactly one esync-peer.json")


def test_apply_refuses_certificates_swapped_between_peers(home, settings, tmp_path):
    generate_identities()
    beta = export_as_peer(settings, tmp_path / "beta", name="beta")
    impostor = export_as_peer(settings, tmp_path / "impostor", name="beta")
    shutil.copy(impostor / "beta_SyncServer.crt", beta / "beta_SyncServer.crt")
    refused(beta, "does not match the fingerprint")


def test_apply_refuses_our_own_files(home, tmp_path):
    generate_identities()
    export_identity(tmp_path / "own")
    refused(tmp_path / "own", "this instance's own certificates")


def test_apply_refuses_expired_certificates(home, settings, tmp_path):
    generate_identities()
    # Certificates start five minutes in the past; four minutes of validity ended a minute ago.
    folder = export_as_peer(settings, tmp_path / "beta", valid_for=dt.timedelta(minutes=4))
    refused(folder, "expired on")
