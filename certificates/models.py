"""The trust store: peers whose exported certificates were applied here."""

from django.db import models


class TrustedPeer(models.Model):
    """One remote instance we accept, pinned by the fingerprints of its two certificates.

    Only public certificates are stored; a peer's private keys never leave it.
    """

    name = models.CharField(max_length=100)
    server_id = models.UUIDField(unique=True)
    esync_version = models.CharField(max_length=20)
    server_cert_pem = models.TextField()
    client_cert_pem = models.TextField()
    server_fingerprint = models.CharField(max_length=64, unique=True)
    client_fingerprint = models.CharField(max_length=64, unique=True)
    server_not_after = models.DateTimeField()
    client_not_after = models.DateTimeField()
    applied_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.server_id})"
