"""TLS contexts built from our identities and the trust store, and who a certificate belongs to.

Trust is pinning: the sync service accepts exactly the client certificates of trusted peers,
and the client accepts exactly the server certificate trusted for the peer it calls. No
certificate authority, no system store. A stamp file changes whenever identities or trust
change, so the running sync service rebuilds its context without a restart.
"""

from __future__ import annotations

import os
import ssl
import time
from pathlib import Path

from django.conf import settings

from certificates.identities import fingerprint_of_pem, identity_for
from certificates.models import TrustedPeer


def _stamp_path() -> Path:
    return Path(settings.ESYNC.state_dir) / "trust.stamp"


def note_trust_changed() -> None:
    path = _stamp_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(time.time_ns()))
    os.utime(path)


def trust_version() -> str:
    try:
        return _stamp_path().read_text()
    except FileNotFoundError:
        return ""


def _base_context(purpose: int) -> ssl.SSLContext:
    context = ssl.SSLContext(purpose)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # TLS 1.3 is negotiated when both can
    context.verify_mode = ssl.CERT_REQUIRED
    # Pinned self-signed certificates are their own trust anchors.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def server_context(site: str = "default") -> ssl.SSLContext:
    """For the sync service: our server identity; client certificates of trusted peers only."""
    identity = identity_for("server", site)
    context = _base_context(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(identity.certificate_path, identity.key_path)
    trusted = "\n".join(TrustedPeer.objects.values_list("client_cert_pem", flat=True))
    if trusted:
        context.load_verify_locations(cadata=trusted)
    return context


def client_context(server_certificates_pem: list[str], site: str = "default") -> ssl.SSLContext:
    """For calling a peer: our client identity; only the given server certificates accepted."""
    identity = identity_for("client", site)
    context = _base_context(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # identity is the pinned certificate, not a host name
    context.load_cert_chain(identity.certificate_path, identity.key_path)
    context.load_verify_locations(cadata="\n".join(server_certificates_pem))
    return context


def peer_for_client_certificate(pem: str | None) -> TrustedPeer | None:
    if not pem:
        return None
    return TrustedPeer.objects.filter(client_fingerprint=fingerprint_of_pem(pem)).first()
