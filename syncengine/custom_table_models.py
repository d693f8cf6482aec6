"""A registered custom table: one of the site database's own, or one of an ODBC data source."""

from __future__ import annotations

from django.db import models

SITE = "site"


class CustomTable(models.Model):
    """A table synced like ours although no model describes it (the manual's "Syncing Custom
    Database Tables"). Its columns, key and references are read from the database's own
    catalogue whenever they are needed, so a column added later is picked up.

    `source` is "site" for a table of the site database, otherwise the name of an ODBC data
    source, which both instances must register under the same name (each with its own
    connection string, which may hold a password: it is never listed in full).
    """

    table_name = models.CharField(max_length=128)
    source = models.CharField(max_length=100, default=SITE)
    connection_string = models.TextField(blank=True)
    registered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["source", "table_name"]
        constraints = [models.UniqueConstraint(fields=["source", "table_name"],
                                               name="one_registration_per_table")]

    def __str__(self) -> str:
        return self.table_name if self.is_site else f"{self.source}:{self.table_name}"

    @property
    def is_site(self) -> bool:
        return self.source == SITE
