"""Backing up the destination database before a sync, and restoring it if the sync fails.

The file is named as the manual names it: `<db><yyyymmddhhmmssmmm>.esync.bak`, in the folder
of esync.toml's [backup] table. SQLite uses its online backup API; PostgreSQL pg_dump and
pg_restore.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
from pathlib import Path

from django.conf import settings
from django.db import connection

from esync_site.private_files import PRIVATE_FOLDER, create_private


class BackupFailed(Exception):
    pass


def backup_wanted(initial: bool) -> bool:
    mode = settings.ESYNC.backup.mode
    return mode == "every" or (mode == "initial" and initial)


def _pg_environment() -> dict[str, str]:
    s = connection.settings_dict
    env = dict(os.environ)
    env.update({"PGHOST": s.get("HOST") or "", "PGPORT": str(s.get("PORT") or ""),
                "PGUSER": s.get("USER") or "", "PGPASSWORD": s.get("PASSWORD") or "",
                "PGDATABASE": s["NAME"]})
    return {k: v for k, v in env.items() if v != ""}


def backup_database() -> Path:
    folder = Path(settings.ESYNC.backup_folder)
    # A folder made here is owner-only; one the administrator named keeps its own modes.
    folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S%f")[:17]
    name = Path(connection.settings_dict["NAME"]).stem
    target = folder / f"{name}{stamp}.esync.bak"
    if connection.vendor not in ("sqlite", "postgresql"):
        raise BackupFailed(f"Backups are not yet supported on {connection.vendor}.")
    # A copy of the database, password hashes included: owner-only from its first byte.
    if not create_private(target):
        raise BackupFailed(f"{target} already exists; try again.")
    try:
        if connection.vendor == "sqlite":
            connection.ensure_connection()
            with sqlite3.connect(target) as copy:
                connection.connection.backup(copy)
            copy.close()
        else:
            result = subprocess.run(["pg_dump", "--format=custom", "--file", str(target)],
                                    env=_pg_environment(), capture_output=True, text=True)
            if result.returncode != 0:
                raise BackupFailed(f"pg_dump failed: {result.stderr.strip()}")
    except BaseException:
        target.unlink(missing_ok=True)  # half a backup is worse than none: it looks whole
        raise
    return target


def restore_database(backup: Path) -> None:
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with sqlite3.connect(backup) as source:
            source.backup(connection.connection)
        source.close()
        return
    connection.close()
    result = subprocess.run(["pg_restore", "--clean", "--if-exists", "--single-transaction",
                             "--dbname", connection.settings_dict["NAME"], str(backup)],
                            env=_pg_environment(), capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupFailed(f"pg_restore failed: {result.stderr.strip()}")
