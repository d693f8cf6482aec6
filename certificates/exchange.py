"""Carrying identities between instances: export our public certificates, apply a peer's.

The manual copied private keys between servers by hand. We keep its workflow — generate here,
carry a folder there, apply — but an exported folder holds public certificates and a small
manifest only, and applying refuses any folder that holds a private key.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from contextlib import suppress
from pathlib import Path

from cryptography import x509
from django.db import transaction

from certificates.identities import IdentityMissing, fingerprint, identity_for
from certificates.models import TrustedPeer
from esync_site import ESYNC_VERSION
from esync_site.refusal import Refusal

MANIFEST = "esync-peer.json"
MANIFEST_FORMAT = "esync-peer/1"
CERTIFICATE_SUFFIXES = {".crt", ".cer", ".pem"}
PRIVATE_KEY_SUFFIXES = {".key", ".pvk", ".pfx", ".p12"}
MAX_FILE_BYTES = 256 * 1024
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class CertificateFolderRefused(Refusal):
    """The folder cannot be exported to or applied; the message says why and what to do."""


def export_identity(folder: Path, site: str = "default") -> list[Path]:
    """Write our public certificates and their manifest into `folder`."""
    from django.conf import settings

    from relationships.server_identity import get_server_info

    folder.mkdir(parents=True, exist_ok=True)
    clutter = [p.name for p in folder.iterdir()
               if p.name == MANIFEST or p.suffix.lower() in CERTIFICATE_SUFFIXES]
    if clutter:
        raise CertificateFolderRefused(
            f"{folder} already holds security files ({', '.join(sorted(clutter))}); export "
            "into an empty folder so that it carries one instance's set only."
        )
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": settings.ESYNC.name,
        "server_id": str(get_server_info().server_id),
        "esync_version": ESYNC_VERSION,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(),
        "certificates": {},
    }
    written = []
    for role in ("server", "client"):
        identity = identity_for(role, site)
        target = folder / f"{identity.subject}.crt"
        target.write_text(identity.certificate_pem)
        manifest["certificates"][role] = {"file": target.name, "fingerprint": identity.fingerprint}
        written.append(target)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return [*written, folder / MANIFEST]


def _read_folder(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        raise CertificateFolderRefused(f"{folder} is not a folder.")
    files: dict[str, bytes] = {}
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            raise CertificateFolderRefused(
                f"{folder} holds a subfolder ({path.name}): apply the exported folder itself, "
                "holding one peer's files only.")
        if path.suffix.lower() in PRIVATE_KEY_SUFFIXES:
            raise _private_key_refusal(path.name)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise CertificateFolderRefused(
                f"{path.name} is too large to be an esync security file.")
        files[path.name] = path.read_bytes()
    return files


def _private_key_refusal(name: str) -> CertificateFolderRefused:
    return CertificateFolderRefused(
        f"{name} holds a private key. A private key never leaves its instance: delete this "
        "folder, and on the peer run `esync certs export DIR` (or Export on its Security "
        "Configurator), which writes public certificates only.")


def _parse_manifest(files: dict[str, bytes]) -> dict:
    manifests = [n for n in files if n.lower().endswith(".json")]
    if manifests != [MANIFEST]:
        found = ", ".join(manifests) or "none"
        raise CertificateFolderRefused(
            f"Expected exactly one {MANIFEST} (found: {found}). Apply the folder written by "
            "the peer's export, with no other security files in it.")
    try:
        manifest = json.loads(files[MANIFEST])
        assert manifest["format"] == MANIFEST_FORMAT
        uuid.UUID(manifest["server_id"])
        assert NAME_PATTERN.match(manifest["name"])
        assert isinstance(manifest["esync_version"], str)
        for role in ("server", "client"):
            entry = manifest["certificates"][role]
            assert isinstance(entry["file"], str) and isinstance(entry["fingerprint"], str)
    except (ValueError, KeyError, TypeError, AssertionError) as error:
        raise CertificateFolderRefused(
            f"{MANIFEST} is malformed: export the peer's certificates again.") from error
    return manifest


def _load_certificate(name: str, data: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as error:
        raise CertificateFolderRefused(
            f"{name} is not a valid certificate (damaged in transfer?): export it again."
        ) from error


def apply_peer_folder(folder: Path) -> TrustedPeer:
    """Validate a peer's exported folder and put its certificates in our trust store."""
    from relationships.server_identity import get_server_info

    files = _read_folder(folder)
    for name, data in files.items():
        if b"PRIVATE KEY" in data:
            raise _private_key_refusal(name)
    manifest = _parse_manifest(files)
    expected = {manifest["certificates"][r]["file"] for r in ("server", "client")}
    others = sorted(set(files) - expected - {MANIFEST})
    if others:
        raise CertificateFolderRefused(
            f"The folder holds files that are not {manifest['name']}'s exported set "
            f"({', '.join(others)}). Keep one peer's files only, as exported.")
    missing = sorted(expected - set(files))
    if missing:
        raise CertificateFolderRefused(f"{', '.join(missing)} missing: export the peer again.")

    now = dt.datetime.now(dt.UTC)
    certificates: dict[str, x509.Certificate] = {}
    for role in ("server", "client"):
        entry = manifest["certificates"][role]
        certificate = _load_certificate(entry["file"], files[entry["file"]])
        if fingerprint(certificate) != entry["fingerprint"]:
            raise CertificateFolderRefused(
                f"{entry['file']} does not match the fingerprint in {MANIFEST}: the folder "
                "was altered or mixed. Export the peer's certificates again.")
        if certificate.not_valid_after_utc <= now:
            raise CertificateFolderRefused(
                f"{entry['file']} expired on {certificate.not_valid_after_utc:%Y-%m-%d}: "
                "regenerate the peer's certificates (Discard existing keys) and export again.")
        certificates[role] = certificate

    own = get_server_info()
    own_fingerprints = set()
    for role in ("server", "client"):
        with suppress(IdentityMissing):  # no identity yet: nothing of ours to confuse with
            own_fingerprints.add(identity_for(role).fingerprint)
    if manifest["server_id"] == str(own.server_id) or own_fingerprints & {
        fingerprint(c) for c in certificates.values()
    }:
        raise CertificateFolderRefused(
            "These are this instance's own certificates: apply them on the peer, and apply "
            "the peer's exported folder here.")

    pem = {role: files[manifest["certificates"][role]["file"]].decode() for role in certificates}
    with transaction.atomic():
        # Re-applying a peer replaces its old certificates (e.g. after it regenerated) in
        # place: what this instance decided about the peer (its relationships here and their
        # narrowing) stays. Another peer holding one of these certificates is replaced.
        fingerprints = [fingerprint(c) for c in certificates.values()]
        others = TrustedPeer.objects.exclude(server_id=manifest["server_id"])
        others.filter(server_fingerprint__in=fingerprints).delete()
        others.filter(client_fingerprint__in=fingerprints).delete()
        peer, _ = TrustedPeer.objects.update_or_create(
            server_id=manifest["server_id"],
            defaults=dict(
                name=manifest["name"],
                esync_version=manifest["esync_version"],
                server_cert_pem=pem["server"],
                client_cert_pem=pem["client"],
                server_fingerprint=fingerprint(certificates["server"]),
                client_fingerprint=fingerprint(certificates["client"]),
                server_not_after=certificates["server"].not_valid_after_utc,
                client_not_after=certificates["client"].not_valid_after_utc,
            ))
        return peer
