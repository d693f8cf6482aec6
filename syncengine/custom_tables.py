"""Registered custom tables (the manual's "Syncing Custom Database Tables")."""

from __future__ import annotations

from syncengine.tracked_tables import TableSpec


def site_custom_specs() -> list[TableSpec]:
    """Specs of the custom tables registered in the site database (none can be registered
    yet: registration arrives with the custom-tables work)."""
    return []
