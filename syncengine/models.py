"""Runs: one execution of a sync, updated by the worker as it goes and read by the screens."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SyncRun(models.Model):
    class Kind(models.TextChoices):
        FULL_STAGE = "FullStage", "Initial sync"
        FULL_SYNC = "FullSync", "Profile sync"
        CONTENT_SYNC = "ContentSync", "Content sync"
        FOLDER_SYNC = "FolderSync", "Folder sync"
        FILE_SYNC = "FileSync", "File sync"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCESS = "success", "Success"
        WARNING = "warning", "Warning"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    kind = models.CharField(max_length=12, choices=Kind.choices)
    relationship = models.ForeignKey("relationships.Relationship", null=True,
                                     on_delete=models.SET_NULL, related_name="runs")
    profile = models.ForeignKey("profiles.Profile", null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="runs")
    direction = models.CharField(max_length=13)
    forced = models.BooleanField(default=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    # Kept as text too: a FullStage onto this instance replaces its users.
    user_name = models.CharField(max_length=150, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=200, blank=True)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)
    # What the run expects to move, where it knows (file runs): the time-left estimate
    # weighs bytes, not only items.
    bytes_total = models.BigIntegerField(default=0)
    applied = models.BigIntegerField(default=0)
    skipped = models.BigIntegerField(default=0)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    backup_file = models.CharField(max_length=500, blank=True)
    # A FileSync run's ticked files (site root relative paths).
    selected_paths = models.JSONField(default=list, blank=True)
    # A ContentSync or FolderSync run's content items.
    target_ids = models.JSONField(default=list, blank=True)
    # A scheduled run: the start it is for (one run per profile and start, however often beat
    # sends it) and, if it started late, why.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    late_reason = models.CharField(max_length=300, blank=True)
    # The worker (Celery node name) running it, so a restarted worker closes only its own.
    claimed_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["profile", "scheduled_for"],
                                               name="one_run_per_scheduled_start")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.id} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status not in self.ACTIVE


class Anchor(models.Model):
    """Where a relationship's change-tracked sync stands, per database it syncs ("site" or a
    custom table's ODBC data source): the last local sequence number sent to the peer and
    the last of the peer's applied here. Both move only once their rows are committed."""

    relationship = models.ForeignKey("relationships.Relationship", on_delete=models.CASCADE,
                                     related_name="anchors")
    source = models.CharField(max_length=100, default="site")
    local_sent = models.BigIntegerField(default=0)
    remote_applied = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["relationship", "source"],
                                               name="one_anchor_per_source")]


class SkippedRow(models.Model):
    """A row a run could not apply, and why (the manual's sync log detail)."""

    class Stage(models.TextChoices):
        INSERTS = "ApplyingInserts", "Applying inserts"
        UPDATES = "ApplyingUpdates", "Applying updates"
        DELETES = "ApplyingDeletes", "Applying deletes"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="skipped_rows")
    side = models.CharField(max_length=6, default="local")  # where it failed: local | remote
    table_name = models.CharField(max_length=128)
    stage = models.CharField(max_length=16, choices=Stage.choices)
    error = models.TextField()
    # A file's path as the key: up to 4,096 bytes.
    remote_key = models.TextField(blank=True)
    local_key = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]


class ConflictRecord(models.Model):
    """A row changed on both sides since the last sync: which version won, and the loser kept
    so an administrator can bring it back."""

    run = models.ForeignKey(SyncRun, null=True, on_delete=models.SET_NULL,
                            related_name="conflicts")
    relationship = models.ForeignKey("relationships.Relationship", null=True,
                                     on_delete=models.SET_NULL, related_name="+")
    table_name = models.CharField(max_length=128)
    row_key = models.CharField(max_length=200)
    policy = models.CharField(max_length=11)
    winner_side = models.CharField(max_length=6)  # local | remote
    local_version = models.JSONField(null=True)   # None: deleted on that side
    remote_version = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    restored_at = models.DateTimeField(null=True, blank=True)
    restored_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-id"]

    @property
    def loser_side(self) -> str:
        return "remote" if self.winner_side == "local" else "local"

    @property
    def losing_version(self) -> dict | None:
        return self.remote_version if self.winner_side == "local" else self.local_version


class Collision(models.Model):
    """Two items with the same natural name created on both sides since the last sync; the
    more recent one was renamed with its id appended."""

    class Kind(models.TextChoices):
        USER = "user", "Users"
        FOLDER = "folder", "Folders"
        METADATA = "metadata", "Metadata"
        MESSAGE = "message", "Messages"

    run = models.ForeignKey(SyncRun, null=True, on_delete=models.SET_NULL,
                            related_name="collisions")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    table_name = models.CharField(max_length=128)
    row_id = models.BigIntegerField()
    original_name = models.CharField(max_length=300)
    modified_name = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["id"]
class HeldChange(models.Model):
    """A change from a peer to a privileged account, held until an Administrator decides.

    After the initial sync a peer may not make someone superuser, staff or an Administrator
    (or Synchronization Admin), grant permissions, or change an Administrator's password or
    e-mail, unless the relationship allows it: the change waits here instead, and the rest
    of its batch applies. Accepting applies it as it arrived; dropping discards it.
    """

    class Decision(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        DROPPED = "dropped", "Dropped"

    peer_name = models.CharField(max_length=100)
    origin = models.CharField(max_length=36)  # the server id the change came from
    table_name = models.CharField(max_length=128)
    row_key = models.CharField(max_length=200)
    username = models.CharField(max_length=150, blank=True)
    change = models.JSONField()  # the change as it travelled (Change.as_wire)
    reasons = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True)
    decision = models.CharField(max_length=8, choices=Decision.choices, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]


from syncengine.custom_table_models import CustomTable  # noqa: E402,F401
