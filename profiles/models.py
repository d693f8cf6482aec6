"""Synchronization profiles: what to sync, in which direction, on which schedule."""

from __future__ import annotations

from django.db import models


class Profile(models.Model):
    class Item(models.TextChoices):
        DATABASE = "database", "Database/Resources"
        WORKAREA = "workarea", "Workarea Files"
        TEMPLATES = "templates", "Templates"
        BIN = "bin", "bin (precompiled sites)"

    class Direction(models.TextChoices):
        BIDIRECTIONAL = "bidirectional", "Bidirectional"
        UPLOAD = "upload", "Upload"
        DOWNLOAD = "download", "Download"

    class Policy(models.TextChoices):
        LOCAL_WINS = "local-wins", "Version on Local Site Wins"
        REMOTE_WINS = "remote-wins", "Version on Remote Site Wins"

    relationship = models.ForeignKey("relationships.Relationship", on_delete=models.CASCADE,
                                     related_name="profiles")
    name = models.CharField(max_length=100)
    items = models.JSONField(default=list)
    filter_mode = models.CharField(max_length=8, default="none")  # none | include | exclude
    filter_extensions = models.CharField(max_length=500, blank=True)
    direction = models.CharField(max_length=13, choices=Direction.choices)
    policy = models.CharField(max_length=11, choices=Policy.choices, default=Policy.REMOTE_WINS)
    # The schedule (profiles.schedules): its kind, start, and weekly's weekday (0 Monday) or
    # monthly's day; the beat entry that runs it is profiles.beat_entries'.
    schedule = models.CharField(max_length=8, default="none")
    schedule_start = models.DateTimeField(null=True, blank=True)
    schedule_weekday = models.PositiveSmallIntegerField(null=True, blank=True)
    schedule_day = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["relationship", "name"]
        constraints = [models.UniqueConstraint(fields=["relationship", "name"],
                                               name="profile_name_unique_in_relationship")]

    def __str__(self) -> str:
        return self.name

    @property
    def schedule_rule(self):
        """The schedule as profiles.schedules works with it, in the instance's time zone."""
        from django.conf import settings

        from profiles.schedules import Schedule

        return Schedule(self.schedule, self.schedule_start, self.schedule_weekday,
                        self.schedule_day, settings.ESYNC.time_zone)

    @property
    def schedule_in_words(self) -> str:
        from profiles.schedules import describe

        return describe(self.schedule_rule)
