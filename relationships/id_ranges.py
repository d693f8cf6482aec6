"""Unique ID numbering: every synced table allocates keys in this server's range.

Server N allocates keys in ((N-1)·10^12, N·10^12], so rows created on any server of a sync
configuration never collide. A key past the end of the range is an error, never a wrap.

Allocation happens in the database on both backends, one statement each, so it is atomic
across the web, worker and sync-service processes:
- PostgreSQL: the table's identity sequence, bounded with MINVALUE/MAXVALUE NO CYCLE.
- SQLite: an upsert on IdAllocator (see its docstring for why not AUTOINCREMENT).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.apps import apps
from django.db import DataError, connections, models, router

from relationships.models import ID_RANGE_SIZE


class IdRangeExhausted(Exception):
    """A synced table has used every key of this server's range."""

    def __init__(self, table: str, first: int, last: int) -> None:
        super().__init__(
            f"Table {table} has used up this server's ID range ({first:,}–{last:,}); "
            "no new row can be created. The range is set by the server number."
        )
        self.table = table


class RangedAutoField(models.BigAutoField):
    """A 64-bit primary key allocated inside this server's ID range."""

    def get_pk_value_on_save(self, instance: models.Model) -> int:
        using = router.db_for_write(type(instance), instance=instance)
        return allocate_id(self.model._meta.db_table, using=using)


def ranged_models() -> list[type[models.Model]]:
    """Every installed model whose key comes from the ID range: the synced tables."""
    return [m for m in apps.get_models() if isinstance(m._meta.pk, RangedAutoField)]


def current_multiplier(using: str = "default") -> int:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT max_id FROM relationships_serverinfo ORDER BY id LIMIT 1")
        row = cursor.fetchone()
    return row[0] if row else 1


def range_for(multiplier: int) -> tuple[int, int]:
    return (multiplier - 1) * ID_RANGE_SIZE + 1, multiplier * ID_RANGE_SIZE


_SQLITE_ALLOCATE = """
WITH r AS (
    SELECT (COALESCE((SELECT max_id FROM relationships_serverinfo ORDER BY id LIMIT 1), 1) - 1)
           * {size} AS lo
)
INSERT INTO relationships_idallocator (table_name, range_start, last_id)
SELECT %s, r.lo,
       (SELECT COALESCE(MAX(id), r.lo) FROM {table} WHERE id > r.lo AND id <= r.lo + {size}) + 1
FROM r WHERE true
ON CONFLICT (table_name) DO UPDATE SET
    last_id = MAX(
        CASE WHEN relationships_idallocator.range_start = excluded.range_start
             THEN relationships_idallocator.last_id + 1
             ELSE excluded.last_id END,
        excluded.last_id),
    range_start = excluded.range_start
RETURNING last_id, range_start
"""


def allocate_id(table: str, using: str = "default") -> int:
    connection = connections[using]
    quoted = connection.ops.quote_name(table)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(_SQLITE_ALLOCATE.format(size=ID_RANGE_SIZE, table=quoted), [table])
            last_id, range_start = cursor.fetchone()
        if last_id > range_start + ID_RANGE_SIZE:
            raise IdRangeExhausted(table, range_start + 1, range_start + ID_RANGE_SIZE)
        return last_id
    if connection.vendor == "postgresql":
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [quoted])
                return cursor.fetchone()[0]
        except DataError as error:  # SQLSTATE 2200H: sequence reached its MAXVALUE
            first, last = range_for(current_multiplier(using))
            raise IdRangeExhausted(table, first, last) from error
    raise NotImplementedError(f"ID ranges are not yet supported on {connection.vendor}")


def apply_id_range(using: str = "default", models_: Iterable[type[models.Model]] = ()) -> None:
    """Bound every synced table's key allocation to the current range.

    SQLite needs nothing: its allocator reads the range on every allocation. PostgreSQL's
    sequences are re-bounded; a sequence already inside the range keeps its position, so a
    key once handed out (perhaps deleted since, and known to peers as a tombstone) is never
    handed out again.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    first, last = range_for(current_multiplier(using))
    with connection.cursor() as cursor:
        for model in models_ or ranged_models():
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            sequence = cursor.fetchone()[0]
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
            last_value, is_called = cursor.fetchone()
            upcoming = last_value + 1 if is_called else last_value
            cursor.execute(
                f"SELECT COALESCE(MAX(id), 0) FROM {table} WHERE id >= %s AND id <= %s",
                [first, last],
            )
            highest_used = cursor.fetchone()[0]
            start = upcoming if first <= upcoming <= last + 1 else first
            start = max(start, highest_used + 1)
            if start > last:
                # Exhausted: point at the end; the next nextval fails with the range error.
                cursor.execute(
                    f"ALTER TABLE {table} ALTER COLUMN id SET MINVALUE {first} "
                    f"SET MAXVALUE {last} SET NO CYCLE SET START WITH {first} RESTART WITH {last}"
                )
                cursor.execute(f"SELECT setval('{sequence}', {last}, true)")
                continue
            cursor.execute(
                f"ALTER TABLE {table} ALTER COLUMN id SET MINVALUE {first} "
                f"SET MAXVALUE {last} SET NO CYCLE SET START WITH {first} RESTART WITH {start}"
            )


def apply_id_range_after_migrate(sender, using: str = "default", **kwargs) -> None:
    # post_migrate fires once per app after the whole plan; once is enough.
    if getattr(sender, "label", None) == "relationships":
        apply_id_range(using=using)
