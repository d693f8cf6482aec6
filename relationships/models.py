"""Server identity: who this instance is in a sync configuration, and its ID range."""

from __future__ import annotations

import uuid

from django.db import models

ID_RANGE_SIZE = 10**12


class ServerInfo(models.Model):
    """One row: the manual's serverinfo.xml.

    `server_number` is empty until the instance pairs; until then it allocates like server 1,
    which is what the originating server becomes. `max_id` is the manual's MaxId: multiply by
    10^12 for the largest key this server may allocate.
    """

    server_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    server_number = models.PositiveIntegerField(null=True, blank=True)
    max_id = models.PositiveIntegerField(default=1)
    # The highest server number this instance has seen in its configuration: numbers are
    # handed out above it, so they never repeat, even after a relationship is deleted.
    highest_known_number = models.PositiveIntegerField(default=0)
    staged_at = models.DateTimeField(null=True, blank=True)  # last initialized by a FullStage
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "server information"
        verbose_name_plural = "server information"

    def __str__(self) -> str:
        return f"server {self.server_number or '(unnumbered)'} {self.server_id}"

    @property
    def id_range(self) -> tuple[int, int]:
        """(first, last) keys this server allocates, both inclusive."""
        return (self.max_id - 1) * ID_RANGE_SIZE + 1, self.max_id * ID_RANGE_SIZE


class IdAllocator(models.Model):
    """Per synced table on SQLite, the last key handed out inside the current range.

    PostgreSQL uses the table's identity sequence bounded to the range instead. SQLite's own
    AUTOINCREMENT cannot be used: it continues after the largest key in the table, which after
    a sync is often a key from another server's range.
    """

    table_name = models.CharField(max_length=128, primary_key=True)
    range_start = models.BigIntegerField()
    last_id = models.BigIntegerField()


class Relationship(models.Model):
    """A sync server relationship: our site ↔ a remote instance's database and site."""

    class Direction(models.TextChoices):
        UPLOAD = "upload", "Upload (local → remote)"
        DOWNLOAD = "download", "Download (remote → local)"

    class State(models.TextChoices):
        CREATED = "created", "Created, not yet staged"
        STAGED = "staged", "Staged"

    local_site = models.CharField(max_length=100, default="default")
    remote_host = models.CharField(max_length=255)
    remote_port = models.PositiveIntegerField(default=8732)
    remote_server_id = models.UUIDField()
    remote_name = models.CharField(max_length=100)
    remote_database = models.CharField(max_length=255)
    remote_site = models.CharField(max_length=100, default="default")
    certificate = models.ForeignKey("certificates.TrustedPeer", on_delete=models.PROTECT,
                                    related_name="relationships")
    initial_direction = models.CharField(max_length=8, choices=Direction.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.CREATED)
    staged_at = models.DateTimeField(null=True, blank=True)
    # Changes from the peer that make someone superuser, staff or an Administrator, or change
    # an Administrator's password or e-mail, are held for review unless this is on.
    accept_privileged_changes = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["local_site", "remote_server_id", "remote_site"],
                                    name="one_relationship_per_site_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.local_site} ↔ {self.remote_name} ({self.remote_database})"

    @property
    def address(self) -> str:
        return f"{self.remote_host}:{self.remote_port}"

    @property
    def is_staged(self) -> bool:
        return self.state == self.State.STAGED


class PeerRelationshipQuerySet(models.QuerySet):
    def active(self) -> PeerRelationshipQuerySet:
        """The relationships the peer still holds (not withdrawn)."""
        return self.filter(withdrawn_at=None)


class PeerRelationship(models.Model):
    """A relationship that a peer holds with this instance: the answering side's record.

    The initiator announces it (and its profiles) when it creates the relationship, saves or
    deletes a profile, and at the start of every run. What the peer may write here is what
    its announced profiles move towards this instance, narrowed by this instance's
    administrator (`writable_items`); privileged-account changes are
    held unless `accept_privileged_changes` is on.
    """

    peer = models.ForeignKey("certificates.TrustedPeer", on_delete=models.CASCADE,
                             related_name="peer_relationships")
    remote_relationship_id = models.BigIntegerField()
    local_site = models.CharField(max_length=100, default="default")
    remote_site = models.CharField(max_length=100, default="default")
    # The initial copy's direction as the initiator named it: "upload" copies onto here.
    initial_direction = models.CharField(max_length=8, choices=Relationship.Direction.choices)
    # This administrator's narrowing: the items the peer may write here at most
    # ("database" is the database and its resource folders; the others are file categories).
    writable_items = models.JSONField(default=list)
    accept_privileged_changes = models.BooleanField(default=False)
    announced_at = models.DateTimeField(auto_now=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The peer deleted it: nothing of it reads or writes here, but the record stays, so the
    # narrowing above still bounds any relationship the peer announces later.
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    objects = PeerRelationshipQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["peer", "remote_relationship_id"],
                                    name="one_record_per_peer_relationship"),
        ]

    def __str__(self) -> str:
        return f"{self.peer.name} relationship {self.remote_relationship_id}"


class AnnouncedProfile(models.Model):
    """A profile of a peer's relationship with this instance, as the peer announced it."""

    relationship = models.ForeignKey(PeerRelationship, on_delete=models.CASCADE,
                                     related_name="profiles")
    remote_profile_id = models.BigIntegerField()
    name = models.CharField(max_length=100)
    items = models.JSONField(default=list)
    direction = models.CharField(max_length=13)
    # The profile's file filter: the global exceptions (.config, .txt, .sln) are written
    # here only for a profile whose Include filter names their extension.
    file_filter = models.CharField(max_length=8, default="none")
    extensions = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["relationship", "remote_profile_id"],
                                    name="one_record_per_announced_profile"),
        ]

    @property
    def writes_here(self) -> bool:
        """Upload and bidirectional profiles (of the initiator) write onto this instance."""
        return self.direction in ("upload", "bidirectional")


class IncomingRun(models.Model):
    """A peer's run that writes here, from its start to its end: writes outside one are
    refused, so nothing a peer sends (a chunk, a change set) belongs to no run."""

    relationship = models.ForeignKey(PeerRelationship, on_delete=models.CASCADE,
                                     related_name="runs")
    remote_run_id = models.BigIntegerField()
    kind = models.CharField(max_length=12)
    stamp = models.CharField(max_length=40, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["relationship", "remote_run_id"],
                                    name="one_record_per_incoming_run"),
        ]
