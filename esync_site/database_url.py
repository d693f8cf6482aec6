"""Turn a DATABASE_URL (postgres://… or sqlite:///…) into a Django DATABASES entry."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from esync_site.instance import InstanceConfigError

# SQLite is shared by web, worker, beat and the sync service at once: WAL lets readers go on
# while one process writes, IMMEDIATE takes the write lock at BEGIN (so a transaction never
# fails half-way on an upgrade from read to write), and the busy timeout makes others wait.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": (
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=NORMAL;"
        "PRAGMA foreign_keys=ON;"
        "PRAGMA busy_timeout=30000;"
    ),
}


def sqlite_database(path: Path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": dict(SQLITE_OPTIONS),
    }


def parse_database_url(url: str) -> dict:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # The usual convention: sqlite:////abs/path.sqlite3 is absolute, sqlite:///name relative.
        path = unquote(parts.path)[1:]
        if not path:
            raise InstanceConfigError(f"DATABASE_URL {url!r} names no SQLite file")
        return sqlite_database(Path(path))
    if scheme in ("postgres", "postgresql", "pgsql"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise InstanceConfigError(f"DATABASE_URL {url!r} names no database")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "OPTIONS": dict(parse_qsl(parts.query)),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    raise InstanceConfigError(
        f"DATABASE_URL scheme {scheme!r} is not supported: use postgres://USER@HOST:PORT/NAME "
        "or sqlite:////absolute/path.sqlite3"
    )
