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
