"""The external parts tests need (PostgreSQL, Chromium): found, or skipped with a reason.

Outside CI a missing part skips the tests that need it, saying what is missing. In CI
(CI=true) the part is required: its absence fails the test instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get(
    "ESYNC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
CHROMIUM = os.environ.get("ESYNC_TEST_CHROMIUM", "/usr/bin/chromium")


def require(available: bool, what_is_missing: str) -> None:
    if available:
        return
    if IN_CI:
        pytest.fail(f"CI requires {what_is_missing}")
    pytest.skip(f"{what_is_missing} (not available here; CI runs this)")


def postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def require_postgres() -> None:
    require(postgres_reachable(), f"PostgreSQL at {POSTGRES_ADMIN_URL}")


def require_chromium() -> None:
    require(shutil.which(CHROMIUM) is not None, f"Debian Chromium at {CHROMIUM}")


@contextmanager
def scratch_postgres_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database for one real instance (empty, or a copy of `template`);
    dropped afterwards."""
    import psycopg
    from psycopg import sql

    require_postgres()
    name = f"esync_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        if template:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)))
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


REDIS_URL = os.environ.get("ESYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def require_redis() -> None:
    import redis

    try:
        reachable = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        reachable = False
    require(reachable, f"Redis at {REDIS_URL}")
