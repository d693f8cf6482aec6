"""How much the ID-range allocator costs per created row, beside the backend's own keys.

    python bench/id_allocation.py [N] [--postgres URL]

Creates a throw-away instance (SQLite, or a scratch PostgreSQL database when --postgres is
given), then inserts N rows three ways, in transactions of 1,000:
  native   INSERT without a key: the backend's own AUTOINCREMENT / identity
  ranged   allocate_id() then INSERT with that key (what every synced table does)
  orm      Folder.objects.create() (allocator + Django's save path)
and prints rows per second for each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=20000)
    parser.add_argument("--postgres", metavar="ADMIN_URL",
                        help="e.g. postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    scratch_db = None
    db_url = None
    if args.postgres:
        import psycopg

        scratch_db = f"esync_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{scratch_db}"')
        db_url = f"{args.postgres.rsplit('/', 1)[0]}/{scratch_db}"
    try:
        run(args.n, db_url)
    finally:
        if scratch_db:
            import psycopg

            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch_db}" WITH (FORCE)')


def run(n: int, db_url: str | None) -> None:
    from esync_site import instance_setup

    os.environ.pop("DATABASE_URL", None)
    home = Path(tempfile.mkdtemp(prefix="esync-bench-"))
    config = instance_setup.plan_home(home, "bench", db_url, None, None)
    instance_setup.create_home_files(config)
    os.environ["ESYNC_HOME"] = str(home)
    os.environ["DJANGO_SETTINGS_MODULE"] = "esync_site.settings"
    import django

    django.setup()
    instance_setup.initialize_database(instance_setup.AdminAccount("admin", "bench-password-1"))

    from django.db import connection, transaction

    from cms.models import Folder
    from relationships.id_ranges import allocate_id

    pk = "BIGSERIAL PRIMARY KEY" if connection.vendor == "postgresql" else \
        "INTEGER PRIMARY KEY AUTOINCREMENT"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE bench_native (id {pk}, name VARCHAR(200))")

    def timed(label: str, insert_one) -> None:
        started = time.perf_counter()
        for batch in range(0, n, 1000):
            with transaction.atomic(), connection.cursor() as cursor:
                for i in range(batch, min(n, batch + 1000)):
                    insert_one(cursor, i)
        elapsed = time.perf_counter() - started
        print(f"{connection.vendor:<10} {label:<7} {n:>8} rows  {elapsed:7.2f} s  "
              f"{n / elapsed:10,.0f} rows/s")

    timed("native", lambda c, i: c.execute(
        "INSERT INTO bench_native (name) VALUES (%s)", [f"n{i}"]))
    timed("ranged", lambda c, i: c.execute(
        "INSERT INTO cms_folder (id, name, description, created_at, updated_at) "
        "VALUES (%s, %s, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        [allocate_id("cms_folder"), f"r{i}"]))
    timed("orm", lambda c, i: Folder.objects.create(name=f"o{i}"))
    connection.close()
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
