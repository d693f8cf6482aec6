"""Loading whole tables fast on PostgreSQL: set secondary indexes and constraints aside while
the rows go in, and build them again afterwards, as pg_dump's restore does.

Everything happens inside the caller's transaction (PostgreSQL's DDL is transactional), so a
load that fails leaves every index and constraint as it was. Primary keys stay: other tables'
foreign keys point at them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection

_CONSTRAINTS = """
SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
FROM pg_constraint c
WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('f', 'u')
ORDER BY c.contype DESC
"""
_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""


@contextmanager
def indexes_set_aside(tables: Iterable[str]) -> Iterator[None]:
    """Within a transaction: drop the tables' foreign keys, unique constraints and secondary
    indexes, let the caller load rows, then recreate them all (checking every row)."""
    if connection.vendor != "postgresql":
        yield
        return
    quote = connection.ops.quote_name
    names = [quote(t) for t in tables]
    with connection.cursor() as cursor:
        # Deletes just made leave deferred checks pending; PostgreSQL will not alter a table
        # with pending checks, so run them now (the load itself needs none: its keys are off).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(_CONSTRAINTS, [names])
        constraints = cursor.fetchall()  # unique ones first, so foreign keys find them again
        cursor.execute(_INDEXES, [names])
        indexes = cursor.fetchall()
        for table, name, _definition in reversed(constraints):
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}")
        for index, _definition in indexes:
            cursor.execute(f"DROP INDEX {index}")
    yield
    with connection.cursor() as cursor:
        # pg_restore's advice: room to sort in memory while indexes and keys are rebuilt.
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _index, definition in indexes:
            cursor.execute(definition)
        for table, name, definition in constraints:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}")
