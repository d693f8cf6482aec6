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
    applied = models.BigIntegerField(default=0)
    skipped = models.BigIntegerField(default=0)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    backup_file = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.id} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status not in self.ACTIVE
