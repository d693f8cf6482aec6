"""Registered custom tables (the manual's "Syncing Custom Database Tables")."""

from __future__ import annotations

from collections.abc import Callable

from syncengine.tracked_tables import TableSpec


def site_custom_specs() -> list[TableSpec]:
    """Specs of the custom tables registered in the site database (none can be registered
    yet: registration arrives with the custom-tables work)."""
    return []


def sync_external_sources(run, profile, client, progress: Callable[..., None]):
    """Sync the custom tables of registered ODBC data sources; returns a SyncOutcome, or None
    when there are none (none can be registered yet)."""
    return None
