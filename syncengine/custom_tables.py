"""Registered custom tables (the manual's "Syncing Custom Database Tables").

A custom table is one no model of ours describes: a table of the site database, or of an
ODBC data source reached through pyodbc. It is read from the database's own catalogue, and
must have a primary key and no identity, serial or auto-increment column: nothing allocates
such keys across instances, so two servers would hand out the same ones.

Site tables join the site database's sync (`site_custom_specs` feeds `site_specs`, so the
change log, change sets and applier treat them like ours). The tables of an ODBC data source
are synced per source, after the site database, by `sync_external_sources` (the hook the
profile run calls), through `odbc_source`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db import connection, transaction

from esync_site.refusal import Refusal
from syncengine.custom_table_models import SITE, CustomTable
from syncengine.tracked_tables import ForeignKey, TableSpec

TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
SOURCE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
# Values of these types travel as their text, cast back on arrival (JSON and arrays).
TEXT_CARRIED = re.compile(r"^(json|jsonb)$|\[\]$")


class CustomTableRefused(Refusal):
    pass


@dataclass
class TableShape:
    """What the catalogue says about a table: enough to refuse it or to sync it."""

    name: str
    columns: tuple[str, ...]
    pk: tuple[str, ...]
    types: dict[str, str] = field(default_factory=dict)
    foreign_keys: tuple[ForeignKey, ...] = ()
    auto_columns: tuple[str, ...] = ()   # identity, serial, AUTOINCREMENT, rowid alias
    generated: tuple[str, ...] = ()      # computed by the database, never written

    def spec(self, source: str = SITE) -> TableSpec:
        return TableSpec(name=self.name, pk=self.pk, columns=self.columns,
                         foreign_keys=self.foreign_keys, source=source)

    def carried_as_text(self, column: str) -> bool:
        return bool(TEXT_CARRIED.search(self.types.get(column, "")))


Query = Callable[[str, Sequence[object]], list[tuple]]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- the catalogues ---------------------------------------------------------------------------

def describe(vendor: str, query: Query, table: str) -> TableShape | None:
    """The table's shape, or None when the database has no such table. `query` runs SQL
    written with %s placeholders and returns the rows."""
    if vendor == "sqlite":
        return _describe_sqlite(query, table)
    if vendor == "postgresql":
        return _describe_postgresql(query, table)
    raise CustomTableRefused(f"Custom tables in a {vendor} database are not supported.")


def _describe_sqlite(query: Query, table: str) -> TableShape | None:
    found = query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table])
    if not found:
        return None
    create_sql = found[0][0] or ""
    # cid, name, type, notnull, default, pk (position in the key, 0 if not), hidden
    info = query(f"PRAGMA table_xinfo({quote(table)})", [])
    columns = tuple(r[1] for r in info if r[6] == 0)
    generated = tuple(r[1] for r in info if r[6] in (2, 3))
    pk = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
    declared = {r[1]: (r[2] or "").strip().upper() for r in info}
    auto: tuple[str, ...] = ()
    if re.search(r"\bAUTOINCREMENT\b", create_sql, re.IGNORECASE):
        auto = pk
    elif len(pk) == 1 and declared[pk[0]] == "INTEGER" and \
            not re.search(r"\bWITHOUT\s+ROWID\b", create_sql, re.IGNORECASE):
        auto = pk  # an INTEGER PRIMARY KEY is the rowid: SQLite allocates it
    nullable = {r[1]: not r[3] for r in info}
    # id, seq, parent table, column, parent column, ...; single-column references only
    references = query(f"PRAGMA foreign_key_list({quote(table)})", [])
    counts: dict[int, int] = {}
    for r in references:
        counts[r[0]] = counts.get(r[0], 0) + 1
    foreign_keys = []
    for r in references:
        if counts[r[0]] != 1:
            continue
        target_column = r[4]
        if target_column is None:  # refers to the parent's primary key
            parent = query(f"PRAGMA table_info({quote(r[2])})", [])
            target_column = next((p[1] for p in parent if p[5] == 1), "rowid")
        foreign_keys.append(ForeignKey(r[3], r[2], target_column, nullable.get(r[3], True)))
    return TableShape(table, columns, pk, declared, tuple(foreign_keys), auto, generated)


_PG_COLUMNS = """
SELECT c.column_name, c.is_identity, coalesce(c.column_default, ''), c.is_generated,
       format_type(a.atttypid, a.atttypmod)
  FROM information_schema.columns c
  JOIN pg_attribute a
    ON a.attrelid = to_regclass(quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))
   AND a.attname = c.column_name
 WHERE c.table_schema = current_schema() AND c.table_name = %s
 ORDER BY c.ordinal_position"""

_PG_KEY = """
SELECT k.column_name
  FROM information_schema.table_constraints t
  JOIN information_schema.key_column_usage k
    ON k.constraint_schema = t.constraint_schema AND k.constraint_name = t.constraint_name
   AND k.table_name = t.table_name
 WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = current_schema()
   AND t.table_name = %s
 ORDER BY k.ordinal_position"""

_PG_REFERENCES = """
SELECT a.attname, parent.relname, pa.attname, NOT a.attnotnull
  FROM pg_constraint r
  JOIN pg_attribute a ON a.attrelid = r.conrelid AND a.attnum = r.conkey[1]
  JOIN pg_class parent ON parent.oid = r.confrelid
  JOIN pg_attribute pa ON pa.attrelid = r.confrelid AND pa.attnum = r.confkey[1]
 WHERE r.contype = 'f' AND array_length(r.conkey, 1) = 1
   AND r.conrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident(%s))"""


def _describe_postgresql(query: Query, table: str) -> TableShape | None:
    kind = query("SELECT table_type FROM information_schema.tables "
                 "WHERE table_schema = current_schema() AND table_name = %s", [table])
    if not kind or kind[0][0] != "BASE TABLE":
        return None
    rows = query(_PG_COLUMNS, [table])
    auto = tuple(name for name, identity, default, _, _ in rows
                 if identity == "YES" or default.startswith("nextval("))
    generated = tuple(r[0] for r in rows if r[3] == "ALWAYS")
    columns = tuple(r[0] for r in rows if r[0] not in generated)
    pk = tuple(r[0] for r in query(_PG_KEY, [table]))
    foreign_keys = tuple(ForeignKey(c, t, tc, bool(n))
                         for c, t, tc, n in query(_PG_REFERENCES, [table]))
    return TableShape(table, columns, pk, {r[0]: r[4] for r in rows}, foreign_keys, auto,
                      generated)


# Key columns whose values compare exactly after a round trip through JSON (a decimal or a
# time would be written differently by the change log's triggers and by a row read).
KEY_TYPES = re.compile(r"^(integer|int|int2|int4|int8|smallint|bigint|tinyint|mediumint|"
                       r"text|varchar.*|character varying.*|char.*|character.*|nvarchar.*|"
                       r"nchar.*|clob|uuid|citext)$", re.IGNORECASE)


def refuse_unless_syncable(shape: TableShape | None, table: str, where: str) -> TableShape:
    """The manual's rule: a primary key, and no column whose values the database allocates."""
    if shape is None:
        raise CustomTableRefused(f"There is no table {table!r} in {where}: create it first "
                                 "(the same table on both servers), then register it.")
    if not shape.pk:
        raise CustomTableRefused(f"The table {table!r} has no primary key: a custom table "
                                 "must have one, or its rows cannot be matched across servers.")
    if shape.auto_columns:
        names = ", ".join(shape.auto_columns)
        raise CustomTableRefused(
            f"The table {table!r} has an identity/auto-increment column ({names}): a custom "
            "table cannot use one, since nothing allocates its keys across servers and two "
            "servers would hand out the same keys. Use a key the application chooses.")
    odd_keys = [c for c in shape.pk if not KEY_TYPES.search(shape.types.get(c, "") or "")]
    if odd_keys:
        raise CustomTableRefused(
            f"The key of {table!r} has columns that are neither integers nor text "
            f"({', '.join(odd_keys)}): a custom table's key must be integer or text columns, "
            "whose values read back exactly the same on every server.")
    if shape.generated:
        raise CustomTableRefused(f"The table {table!r} has generated columns "
                                 f"({', '.join(shape.generated)}), which cannot be written.")
    return shape


def _site_query(sql: str, params: Sequence[object]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params) or None)
        return cursor.fetchall()


def describe_site_table(table: str) -> TableShape | None:
    return describe(connection.vendor, _site_query, table)


# -- registering ------------------------------------------------------------------------------

def _own_tables() -> set[str]:
    from django.apps import apps

    return {m._meta.db_table for m in apps.get_models(include_auto_created=True)}


def register(table: str, odbc: str | None = None, source: str | None = None) -> CustomTable:
    """Register `table` of the site database, or (with a source) of an ODBC data source,
    and start tracking its changes. Refused, with the reason, when it cannot be synced."""
    if not TABLE_NAME.match(table):
        raise CustomTableRefused(f"{table!r} is not a plain table name (letters, digits and "
                                 "underscores, not starting with a digit).")
    if odbc is not None or source is not None:
        return _register_external(table, odbc, source)
    if table in _own_tables() or table.startswith("esync_"):
        raise CustomTableRefused(f"{table!r} is one of esync's own tables, not a custom table.")
    if CustomTable.objects.filter(source=SITE, table_name=table).exists():
        raise CustomTableRefused(f"The table {table!r} is already registered.")
    refuse_unless_syncable(describe_site_table(table), table, "the site database")
    from syncengine import change_log

    with transaction.atomic():
        registration = CustomTable.objects.create(table_name=table, source=SITE)
        change_log.install()  # picks the table up through site_custom_specs()
    return registration


def _register_external(table: str, odbc: str | None, source: str | None) -> CustomTable:
    from syncengine import odbc_source

    if not source or source == SITE or not SOURCE_NAME.match(source):
        raise CustomTableRefused("An ODBC table needs --source NAME (letters, digits, - and _; "
                                 "not 'site'): the name both servers know the data source by.")
    known = CustomTable.objects.filter(source=source).first()
    if known is not None and odbc is not None and odbc != known.connection_string:
        raise CustomTableRefused(
            f"The data source {source!r} is registered with another connection string; give "
            "the same one (or none, to use it), or choose another source name.")
    connection_string = odbc if odbc is not None else getattr(known, "connection_string", "")
    if not connection_string:
        raise CustomTableRefused(f"The data source {source!r} is new here: give its "
                                 "connection string with --odbc.")
    if CustomTable.objects.filter(source=source, table_name=table).exists():
        raise CustomTableRefused(f"The table {table!r} of {source!r} is already registered.")
    with odbc_source.connect(connection_string, source) as database:
        shape = refuse_unless_syncable(database.describe(table), table,
                                       f"the data source {source!r}")
        database.install_tracking(shape)
    return CustomTable.objects.create(table_name=table, source=source,
                                      connection_string=connection_string)


def unregister(table: str, source: str | None = None) -> CustomTable:
    """Stop syncing `table`: its registration goes and its triggers are dropped."""
    found = list(CustomTable.objects.filter(table_name=table, **(
        {"source": source} if source else {})))
    if not found:
        raise CustomTableRefused(f"The table {table!r} is not registered"
                                 + (f" in {source!r}." if source else "."))
    if len(found) > 1:
        raise CustomTableRefused(f"{table!r} is registered in several data sources ("
                                 + ", ".join(r.source for r in found) + "): say which with "
                                 "--source.")
    registration = found[0]
    if registration.is_site:
        from syncengine import change_log

        with transaction.atomic():
            registration.delete()
            change_log.install()  # every trigger again, but this table's
    else:
        from syncengine import odbc_source

        with odbc_source.connect(registration.connection_string,
                                 registration.source) as database:
            database.drop_tracking(table)
        registration.delete()
    return registration


def masked(connection_string: str) -> str:
    """A connection string fit to show: its password hidden."""
    return re.sub(r"((?:^|;)\s*(?:PWD|PASSWORD)\s*=)(\{[^}]*\}|[^;]*)", r"\1***",
                  connection_string, flags=re.IGNORECASE)


def listing() -> list[dict]:
    return [{"table": r.table_name, "source": r.source,
             "connection": masked(r.connection_string) if r.connection_string else "",
             "registered_at": r.registered_at.isoformat()}
            for r in CustomTable.objects.all()]


# -- syncing ----------------------------------------------------------------------------------

def site_custom_specs() -> list[TableSpec]:
    """Specs of the custom tables registered in the site database that are there.

    Called whenever the synced tables are listed, also by migrations that ran before the
    registrations' own table existed: then there are none.
    """
    existing = set(connection.introspection.table_names())
    if CustomTable._meta.db_table not in existing:
        return []
    specs = []
    for registration in CustomTable.objects.filter(source=SITE):
        if registration.table_name in existing:
            shape = describe_site_table(registration.table_name)
            if shape is not None and shape.pk:
                specs.append(shape.spec())
    return specs


def sync_external_sources(run, profile, client, progress: Callable[..., None]):
    """Sync the custom tables of every registered ODBC data source; returns a SyncOutcome,
    or None when none is registered."""
    sources = sorted(set(CustomTable.objects.exclude(source=SITE)
                         .values_list("source", flat=True)))
    if not sources:
        return None
    from syncengine import odbc_source
    from syncengine.db_sync import SyncOutcome

    outcome = SyncOutcome()
    for source in sources:
        outcome.add(odbc_source.sync_source(run, profile, client, source, progress))
    return outcome
