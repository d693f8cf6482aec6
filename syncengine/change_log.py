"""Change tracking in the database itself: triggers that keep, per changed row, the latest
operation, a local monotonically increasing sequence number and the origin instance.

`esync_change` holds one line per (table, key): inserting, updating or deleting a row replaces
its line with a fresh sequence number, so deletes leave tombstones and the log's size follows
the rows, not the edits. Because triggers do it, raw SQL is tracked like the ORM.

Origin: writes applied by a sync are stamped with the peer they came from (`applying_from`),
so they are never sent back to it but are forwarded to other peers. On PostgreSQL the stamp is
a transaction-local setting; on SQLite (no session variables) a one-row table written and
cleared inside the applying transaction, which nobody else can see while it is set.

Sequence numbers and commit order: on SQLite one writer at a time makes them the same. On
PostgreSQL a transaction may take number 10 and commit after one that took 11; a reader that
moved its anchor to 11 would miss 10 for ever. So every tracked write takes a shared advisory
lock before its number, and `high_water_mark` takes the same lock exclusively for a moment:
it waits for writers holding numbers to commit, and any number handed out after it is larger.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction

from syncengine.tracked_tables import USER_TABLE, TableSpec, membership_tables, site_specs

LOCK_KEY = 7305_0001  # the advisory lock that orders tracked writes against readers
TRIGGER_PREFIX = "esync_track_"


@dataclass(frozen=True)
class LoggedChange:
    seq: int
    table: str
    key: tuple
    op: str          # I, U or D: the latest thing that happened to the row
    origin: str      # "" for a change made here, else the server id of the peer it came from


# -- schema -----------------------------------------------------------------------------------

SQLITE_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS esync_change (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        table_name TEXT NOT NULL,
        row_key TEXT NOT NULL,
        op TEXT NOT NULL,
        origin TEXT NOT NULL DEFAULT '',
        changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (table_name, row_key))""",
    """CREATE TABLE IF NOT EXISTS esync_apply_origin (
        id INTEGER PRIMARY KEY CHECK (id = 1), origin TEXT NOT NULL)""",
]

PG_SCHEMA = [
    "CREATE SEQUENCE IF NOT EXISTS esync_change_seq AS bigint",
    """CREATE TABLE IF NOT EXISTS esync_change (
        table_name text NOT NULL,
        row_key text NOT NULL,
        seq bigint NOT NULL,
        op char(1) NOT NULL,
        origin text NOT NULL DEFAULT '',
        changed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (table_name, row_key))""",
    "CREATE INDEX IF NOT EXISTS esync_change_by_seq ON esync_change (seq)",
    f"""CREATE OR REPLACE FUNCTION esync_track() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        logged_table text := TG_ARGV[0];
        key_columns text[] := string_to_array(TG_ARGV[1], ',');
        membership boolean := TG_ARGV[2] = 'membership';
        quiet text[] := string_to_array(coalesce(TG_ARGV[3], ''), ',');
        stamp text := coalesce(current_setting('esync.origin', true), '');
        new_key text;
        old_key text;
    BEGIN
        IF TG_OP = 'UPDATE' AND cardinality(quiet) > 0
           AND (to_jsonb(NEW) - quiet) = (to_jsonb(OLD) - quiet) THEN
            RETURN NULL;  -- only per-server bookkeeping changed (a sign-in's last_login)
        END IF;
        PERFORM pg_advisory_xact_lock_shared({LOCK_KEY});
        IF TG_OP <> 'DELETE' THEN
            SELECT jsonb_agg(to_jsonb(NEW) -> c ORDER BY i)::text INTO new_key
              FROM unnest(key_columns) WITH ORDINALITY AS k(c, i);
        END IF;
        IF TG_OP <> 'INSERT' THEN
            SELECT jsonb_agg(to_jsonb(OLD) -> c ORDER BY i)::text INTO old_key
              FROM unnest(key_columns) WITH ORDINALITY AS k(c, i);
        END IF;
        IF old_key IS NOT NULL AND old_key IS DISTINCT FROM new_key THEN
            INSERT INTO esync_change (table_name, row_key, seq, op, origin)
            VALUES (logged_table, old_key, nextval('esync_change_seq'),
                    CASE WHEN membership THEN 'U' ELSE 'D' END, stamp)
            ON CONFLICT (table_name, row_key) DO UPDATE SET seq = EXCLUDED.seq,
                op = EXCLUDED.op, origin = EXCLUDED.origin, changed_at = now();
        END IF;
        IF new_key IS NOT NULL THEN
            INSERT INTO esync_change (table_name, row_key, seq, op, origin)
            VALUES (logged_table, new_key, nextval('esync_change_seq'),
                    CASE WHEN membership OR TG_OP = 'UPDATE' THEN 'U' ELSE 'I' END, stamp)
            ON CONFLICT (table_name, row_key) DO UPDATE SET seq = EXCLUDED.seq,
                op = EXCLUDED.op, origin = EXCLUDED.origin, changed_at = now();
        END IF;
        RETURN NULL;
    END $$""",
]


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _sqlite_key(prefix: str, columns: Iterable[str]) -> str:
    return "json_array(" + ", ".join(f"{prefix}.{_q(c)}" for c in columns) + ")"


def _sqlite_log(logged: str, key: str, op: str, when: str = "") -> str:
    origin = "COALESCE((SELECT origin FROM esync_apply_origin WHERE id = 1), '')"
    where = f" WHERE {when}" if when else ""
    return (f"DELETE FROM esync_change WHERE table_name = '{logged}' AND row_key = {key}"
            f"{' AND ' + when if when else ''};\n"
            f"INSERT INTO esync_change (table_name, row_key, op, origin) "
            f"SELECT '{logged}', {key}, '{op}', {origin}{where};\n")


def _sqlite_triggers(table: str, logged: str, key_columns: tuple[str, ...],
                     membership: bool, watched: tuple[str, ...] = ()) -> list[str]:
    when = (" WHEN " + " OR ".join(f"OLD.{_q(c)} IS NOT NEW.{_q(c)}" for c in watched)
            if watched else "")
    new_key, old_key = _sqlite_key("NEW", key_columns), _sqlite_key("OLD", key_columns)
    moved = " OR ".join(f"OLD.{_q(c)} IS NOT NEW.{_q(c)}" for c in key_columns)
    insert_op, update_op, delete_op = ("U", "U", "U") if membership else ("I", "U", "D")
    name = f"{TRIGGER_PREFIX}{table}"
    return [
        f"CREATE TRIGGER {_q(name + '_i')} AFTER INSERT ON {_q(table)} BEGIN\n"
        f"{_sqlite_log(logged, new_key, insert_op)}END",
        f"CREATE TRIGGER {_q(name + '_u')} AFTER UPDATE ON {_q(table)}{when} BEGIN\n"
        f"{_sqlite_log(logged, old_key, delete_op, moved)}"
        f"{_sqlite_log(logged, new_key, update_op)}END",
        f"CREATE TRIGGER {_q(name + '_d')} AFTER DELETE ON {_q(table)} BEGIN\n"
        f"{_sqlite_log(logged, old_key, delete_op)}END",
    ]


def _pg_trigger(table: str, logged: str, key_columns: tuple[str, ...],
                membership: bool, quiet: tuple[str, ...] = ()) -> list[str]:
    args = ", ".join(f"'{a}'" for a in (logged, ",".join(key_columns),
                                        "membership" if membership else "row",
                                        ",".join(quiet)))
    return [f"CREATE TRIGGER {_q(TRIGGER_PREFIX + table)} AFTER INSERT OR UPDATE OR DELETE "
            f"ON {_q(table)} FOR EACH ROW EXECUTE FUNCTION esync_track({args})"]


def _tracked() -> list[tuple[str, str, tuple[str, ...], bool, TableSpec | None]]:
    """(table, table logged as, key columns, is a membership table, spec) per tracked table."""
    existing = set(connection.introspection.table_names())
    tracked = [(s.name, s.name, s.pk, False, s) for s in site_specs() if s.name in existing]
    tracked += [(t, USER_TABLE, (c,), True, None) for t, c in membership_tables()
                if t in existing]
    return tracked


def _existing_triggers(cursor) -> list[tuple[str, str]]:
    """(trigger, table) of every esync trigger in the database."""
    if connection.vendor == "postgresql":
        cursor.execute("SELECT tgname, tgrelid::regclass::text FROM pg_trigger "
                       "WHERE NOT tgisinternal AND tgname LIKE %s", [TRIGGER_PREFIX + "%"])
    else:
        cursor.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' "
                       "AND name LIKE %s", [TRIGGER_PREFIX + "%"])
    return [(name, table.strip('"')) for name, table in cursor.fetchall()]


def install() -> int:
    """Create the change log and (re)create the triggers of every tracked table that exists.

    Run by a migration and after every migrate; `esync tracking refresh` runs it by hand
    after tables are added. Returns how many tables are tracked.
    """
    tracked = _tracked()
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in (PG_SCHEMA if connection.vendor == "postgresql" else SQLITE_SCHEMA):
            cursor.execute(statement)
        _drop_triggers(cursor)
        for table, logged, key_columns, membership, spec in tracked:
            quiet = spec.quiet_columns if spec is not None else ()
            if connection.vendor == "postgresql":
                statements = _pg_trigger(table, logged, key_columns, membership, quiet)
            else:
                watched = tuple(c for c in spec.columns if c not in quiet) \
                    if spec is not None and quiet else ()
                statements = _sqlite_triggers(table, logged, key_columns, membership, watched)
            for statement in statements:
                cursor.execute(statement)
    return len(tracked)


def install_after_migrate(sender, using: str = "default", **kwargs) -> None:
    if sender.name == "syncengine" and using == "default":
        with connection.cursor() as cursor:
            present = "esync_change" in connection.introspection.table_names(cursor)
        if present:
            install()


def _drop_triggers(cursor) -> None:
    for name, table in _existing_triggers(cursor):
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS {_q(name)} ON {_q(table)}")
        else:
            cursor.execute(f"DROP TRIGGER IF EXISTS {_q(name)}")


def uninstall() -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        _drop_triggers(cursor)
        cursor.execute("DROP TABLE IF EXISTS esync_change")
        if connection.vendor == "postgresql":
            cursor.execute("DROP SEQUENCE IF EXISTS esync_change_seq")
            cursor.execute("DROP FUNCTION IF EXISTS esync_track()")
        else:
            cursor.execute("DROP TABLE IF EXISTS esync_apply_origin")


@contextmanager
def suspended() -> Iterator[None]:
    """Tracking off for a bulk replacement (the initial sync), inside the caller's
    transaction: the triggers are dropped and put back before it commits."""
    assert connection.in_atomic_block, "suspend tracking only inside a transaction"
    with connection.cursor() as cursor:
        _drop_triggers(cursor)
    yield
    install()


def installed_tables() -> set[str]:
    with connection.cursor() as cursor:
        return {table for _, table in _existing_triggers(cursor)}


# -- origin stamping --------------------------------------------------------------------------

@contextmanager
def applying_from(origin: str) -> Iterator[None]:
    """Inside the caller's transaction: rows written in the block are stamped `origin`."""
    assert connection.in_atomic_block, "stamp an origin only inside a transaction"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config('esync.origin', %s, true)", [origin])
            try:
                yield
            finally:
                if not connection.needs_rollback:
                    cursor.execute("SELECT set_config('esync.origin', '', true)")
        else:
            cursor.execute("INSERT OR REPLACE INTO esync_apply_origin (id, origin) "
                           "VALUES (1, %s)", [origin])
            try:
                yield
            finally:
                if not connection.needs_rollback:
                    cursor.execute("DELETE FROM esync_apply_origin")


def mark_local(table: str, keys: Iterable[tuple]) -> None:
    """Make applied rows count as changed here, to be sent on (a renamed collision)."""
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("UPDATE esync_change SET origin = '' WHERE table_name = %s "
                           "AND row_key = %s", [table, encode_key(key)])


# -- reading ----------------------------------------------------------------------------------

def encode_key(key: tuple) -> str:
    """A key as the triggers write it (only ever compared within one database)."""
    if connection.vendor == "postgresql":
        return json.dumps(list(key), separators=(", ", ": "), ensure_ascii=False)
    return json.dumps(list(key), separators=(",", ":"), ensure_ascii=False)


def high_water_mark() -> int:
    """The highest sequence number such that every change up to it is committed and visible."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
            try:
                cursor.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
                               "FROM esync_change_seq")
                return int(cursor.fetchone()[0])
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = 'esync_change'")
        row = cursor.fetchone()
        return int(row[0]) if row else 0


def changes_between(after: int, upto: int, exclude_origin: str = "",
                    tables: Iterable[str] | None = None) -> list[LoggedChange]:
    """Changes with after < seq <= upto, oldest first, leaving out those from `exclude_origin`."""
    sql = ("SELECT seq, table_name, row_key, op, origin FROM esync_change "
           "WHERE seq > %s AND seq <= %s AND origin <> %s")
    params: list = [after, upto, exclude_origin or "-"]  # origins are "" or server ids
    if tables is not None:  # asked for a few tables: the others are not even read
        wanted = sorted(set(tables))
        if not wanted:
            return []
        sql += f" AND table_name IN ({', '.join(['%s'] * len(wanted))})"
        params += wanted
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY seq", params)
        rows = cursor.fetchall()
    return [LoggedChange(int(seq), table, tuple(json.loads(key)), op.strip(), origin)
            for seq, table, key, op, origin in rows]


def changed_keys_since(after: int, table: str) -> set[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_key FROM esync_change WHERE seq > %s AND table_name = %s",
                       [after, table])
        return {tuple(json.loads(k)) for (k,) in cursor.fetchall()}


def clear() -> None:
    """Forget every recorded change (after an initial sync replaced all rows). The sequence
    goes on from where it was, so numbers still never repeat."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM esync_change")


def tracked_specs() -> list[TableSpec]:
    return site_specs()
