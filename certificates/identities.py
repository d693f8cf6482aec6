"""This instance's own identities: a server and a client key pair with self-signed certificates.

Keys are EC P-256, written owner-only (0600) in owner-only folders (0700) under HOME/keys and
never exported or logged. A new identity is written whole: every key and certificate is staged
beside its target before any replaces the old one (see esync_site.private_files), so a failed
or interrupted generate leaves the old identity in use. Certificates are named as the manual
names them, `<name>_SyncServer` and `<name>_SyncClient`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

from esync_site.private_files import PRIVATE_FILE, PUBLIC_FILE, make_private_folder, write_files
from esync_site.refusal import Refusal

ROLES = ("server", "client")
ALL_SITES = "all"
DEFAULT_VALIDITY = dt.timedelta(days=825)


class IdentityMissing(Refusal):
    """No identity has been generated yet; the message says how to generate one."""


@dataclass(frozen=True)
class Identity:
    role: str
    scope: str
    subject: str
    fingerprint: str
    not_before: dt.datetime
    not_after: dt.datetime
    certificate_path: Path
    key_path: Path

    @property
    def certificate_pem(self) -> str:
        return self.certificate_path.read_text()

    @property
    def expired(self) -> bool:
        return self.not_after <= dt.datetime.now(dt.UTC)

    def as_dict(self) -> dict:
        return {
            "role": self.role, "scope": self.scope, "subject": self.subject,
            "fingerprint": self.fingerprint, "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
        }


def keys_dir() -> Path:
    return Path(settings.ESYNC.keys_dir)


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER encoding, hex: what the manifest, the trust store and logs show."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def fingerprint_of_pem(pem: str | bytes) -> str:
    data = pem.encode() if isinstance(pem, str) else pem
    return fingerprint(x509.load_pem_x509_certificate(data))


def subject_name(role: str) -> str:
    return f"{settings.ESYNC.name}_Sync{role.title()}"


def _scope_dir(scope: str) -> Path:
    return keys_dir() / scope


def _self_signed(role: str, key: ec.EllipticCurvePrivateKey, valid_for: dt.timedelta,
                 not_before: dt.datetime) -> x509.Certificate:
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, subject_name(role)),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "esync"),
    ])
    usage = ExtendedKeyUsageOID.SERVER_AUTH if role == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_encipherment=False, content_commitment=False,
            data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public),
                       critical=False)
        .sign(key, hashes.SHA256())
    )


def generate_identities(
    scope: str = ALL_SITES,
    discard_existing: bool = False,
    valid_for: dt.timedelta = DEFAULT_VALIDITY,
) -> list[Identity]:
    """Create the server and client identities for a site (or all sites).

    Existing identities are kept unless `discard_existing` is set: generating over them by
    accident would silently break trust with every peer. Discarded ones are replaced in place,
    not removed first, so that until the new files are complete the old ones still serve.
    """
    from certificates.trust import note_trust_changed

    folder = _scope_dir(scope)
    if not discard_existing and (folder / "server.crt").exists():
        return list_identities(scope)
    make_private_folder(keys_dir())
    make_private_folder(folder)
    not_before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    files: list[tuple[Path, bytes, int]] = []
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _self_signed(role, key, valid_for, not_before)
        files.append((folder / f"{role}.key", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()), PRIVATE_FILE))
        files.append((folder / f"{role}.crt",
                      certificate.public_bytes(serialization.Encoding.PEM), PUBLIC_FILE))
    write_files(files)
    note_trust_changed()
    return list_identities(scope)


def generate_or_keep(scope: str = ALL_SITES, discard_existing: bool = False,
                     ) -> tuple[list[Identity], bool]:
    """Like generate_identities, also saying whether new identities were made (False: the
    existing ones were kept)."""
    before = {i.fingerprint for i in list_identities(scope)}
    identities = generate_identities(scope, discard_existing=discard_existing)
    return identities, not before or {i.fingerprint for i in identities} != before


def _load(role: str, scope: str) -> Identity | None:
    folder = _scope_dir(scope)
    certificate_path, key_path = folder / f"{role}.crt", folder / f"{role}.key"
    if not certificate_path.exists() or not key_path.exists():
        return None
    certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
    subject = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return Identity(
        role=role, scope=scope, subject=str(subject), fingerprint=fingerprint(certificate),
        not_before=certificate.not_valid_before_utc, not_after=certificate.not_valid_after_utc,
        certificate_path=certificate_path, key_path=key_path,
    )


def list_identities(scope: str | None = None) -> list[Identity]:
    scopes = [scope] if scope else sorted(p.name for p in keys_dir().glob("*") if p.is_dir())
    return [i for s in scopes for role in ROLES if (i := _load(role, s)) is not None]


def identity_for(role: str, site: str = "default") -> Identity:
    """The identity used for a site: its own if it has one, else the all-sites one."""
    for scope in (site, ALL_SITES):
        identity = _load(role, scope)
        if identity is not None:
            return identity
    raise IdentityMissing(
        f"This instance has no {role} certificate yet: generate one on the Security "
        "Configurator screen or with `esync certs generate`."
    )
