"""An ODBC data source's database, as the sync sees it: tracked, read, and written to.

The same change tracking as the site database's (change_log's PostgreSQL trigger function,
sequence and `esync_change` table, installed in the external database itself), so raw SQL
there is tracked too. Implemented for PostgreSQL behind ODBC; other databases are refused.

Values travel as the database's own JSON form of them (`to_jsonb`), numbers as exact text,
JSON and array columns as their text; on arrival every value is cast back to its column's
type in SQL, so nothing is lost between two databases of the same kind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal

from esync_site.refusal import Refusal
from syncengine.apply_changes import DELETES, INSERTS, UPDATES, ApplyResult, Skip, key_text
from syncengine.change_log import LOCK_KEY, PG_SCHEMA, TRIGGER_PREFIX
from syncengine.change_sets import Change
from syncengine.custom_tables import CustomTableRefused, TableShape, describe, quote
from syncengine.tracked_tables import TableSpec, in_dependency_order

LOGIN_TIMEOUT = 10
FETCH_BATCH = 200


class OdbcSourceUnavailable(Refusal):
    """The data source cannot be reached, or is of a kind we cannot track."""


def _plain(text: str) -> object:
    """JSON as the database wrote it, numbers kept exact (as text, like the wire's)."""
    return json.loads(json.dumps(json.loads(text, parse_float=Decimal), default=str))


def _param(value: object) -> object:
    """A value as the text its column's type is cast from."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


class ExternalDatabase:
    """One open connection to a data source (autocommit, except while applying)."""

    def __init__(self, source: str, conn) -> None:
        self.source = source
        self.conn = conn

    # -- catalogue and tracking ---------------------------------------------------------------

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        cursor = self.conn.cursor()
        cursor.execute(sql.replace("%s", "?"), *params)
        rows = [tuple(r) for r in cursor.fetchall()] if cursor.description else []
        cursor.close()
        return rows

    def describe(self, table: str) -> TableShape | None:
        return describe("postgresql", self.query, table)

    def shapes(self, tables: Sequence[str]) -> dict[str, TableShape]:
        """The registered tables as they are now; one that went missing stops the sync."""
        shapes = {}
        for table in tables:
            shape = self.describe(table)
            if shape is None or not shape.pk:
                raise OdbcSourceUnavailable(
                    f"The custom table {table!r} of {self.source!r} is gone or has lost its "
                    "primary key: restore it, or unregister it.")
            shapes[table] = shape
        return shapes

    def install_tracking(self, shape: TableShape) -> None:
        """The change log and this table's trigger, in the data source's database."""
        for statement in PG_SCHEMA:
            self.query(statement)
        self.drop_tracking(shape.name)
        args = ", ".join(f"'{a}'" for a in (shape.name, ",".join(shape.pk), "row"))
        self.query(f"CREATE TRIGGER {quote(TRIGGER_PREFIX + shape.name)} AFTER INSERT OR "
                   f"UPDATE OR DELETE ON {quote(shape.name)} FOR EACH ROW "
                   f"EXECUTE FUNCTION esync_track({args})")

    def drop_tracking(self, table: str) -> None:
        if self.describe(table) is not None:
            self.query(f"DROP TRIGGER IF EXISTS {quote(TRIGGER_PREFIX + table)} "
                       f"ON {quote(table)}")

    # -- reading ------------------------------------------------------------------------------

    def high_water_mark(self) -> int:
        """As change_log's: wait for writers holding numbers, then read the sequence."""
        self.query("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        try:
            rows = self.query("SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
                              "FROM esync_change_seq")
            return int(rows[0][0])
        finally:
            self.query("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])

    def changes(self, after: int, upto: int, exclude_origin: str,
                shapes: dict[str, TableShape]) -> list[Change]:
        """Changes with after < seq <= upto, with their rows as they are now, leaving out
        those that came from `exclude_origin`. A row gone since travels as its delete."""
        if not shapes:
            return []
        marks = ", ".join(["%s"] * len(shapes))
        logged = self.query(
            "SELECT seq, table_name, row_key, op FROM esync_change WHERE seq > %s AND "
            f"seq <= %s AND origin <> %s AND table_name IN ({marks}) ORDER BY seq",
            [after, upto, exclude_origin or "-", *shapes])
        wanted: dict[str, list[tuple]] = {}
        for _, table, row_key, op in logged:
            if op.strip() != "D":
                wanted.setdefault(table, []).append(tuple(_plain(row_key)))
        rows = {table: self._rows(shapes[table], keys) for table, keys in wanted.items()}
        changes = []
        for seq, table, row_key, op in logged:
            key, op = tuple(_plain(row_key)), op.strip()
            if op == "D":
                changes.append(Change(table, key, "D", int(seq), None))
            elif (row := rows[table].get(key)) is not None:
                changes.append(Change(table, key, op, int(seq), row))
        return changes

    def _rows(self, shape: TableShape, keys: list[tuple]) -> dict[tuple, dict]:
        texts = [c for c in shape.columns if shape.carried_as_text(c)]
        match = " AND ".join(f"t.{quote(c)} = CAST(%s AS {shape.types[c]})" for c in shape.pk)
        found: dict[tuple, dict] = {}
        for start in range(0, len(keys), FETCH_BATCH):
            batch = keys[start:start + FETCH_BATCH]
            selected = self.query(
                "SELECT to_jsonb(t)::text" + "".join(f", t.{quote(c)}::text" for c in texts)
                + f" FROM {quote(shape.name)} t WHERE "
                + " OR ".join(f"({match})" for _ in batch),
                [_param(v) for key in batch for v in key])
            for whole, *as_text in selected:
                values = _plain(whole)
                row = {c: values[c] for c in shape.columns}
                row.update(zip(texts, as_text, strict=True))
                found[tuple(row[c] for c in shape.pk)] = row
        return found

    # -- applying -----------------------------------------------------------------------------

    def apply(self, changes: list[Change], origin: str,
              shapes: dict[str, TableShape]) -> ApplyResult:
        """Apply `changes` from the peer `origin` in one transaction, stamped as theirs.
        Parents' rows go in first and out last; a row that fails its model's checks
        (row_checks) or the database is skipped and reported, the others apply."""
        from syncengine import row_checks

        result = ApplyResult()
        changes, refused = row_checks.screen(
            changes, specs_of(shapes, self.source), vendor="postgresql",
            types={name: shape.types for name, shape in shapes.items()})
        for left_out in refused:
            change = left_out.change
            stage = DELETES if change.is_delete else INSERTS
            if not change.is_delete and left_out.key_sound and self._present(
                    shapes[change.table], change.key):
                stage = UPDATES
            result.skipped.append(Skip(change.table, stage,
                                       f"refused before applying: {left_out.reason}"[:1000],
                                       key_text(change.key)[:200]))
        by_table: dict[str, list[Change]] = {}
        for change in changes:
            by_table.setdefault(change.table, []).append(change)
        ordered = [shapes[s.name] for s in in_dependency_order(
            shapes[t].spec(self.source) for t in by_table)]
        self.conn.autocommit = False
        try:
            self.query("SELECT set_config('esync.origin', %s, true)", [origin])
            for shape in ordered:
                for change in (c for c in by_table[shape.name] if not c.is_delete):
                    self._write(shape, change, result)
            for shape in reversed(ordered):
                for change in (c for c in by_table[shape.name] if c.is_delete):
                    self._write(shape, change, result)
            self.query("SELECT set_config('esync.origin', '', true)")
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        finally:
            self.conn.autocommit = True
        return result

    def _present(self, shape: TableShape, key: tuple) -> bool:
        match = " AND ".join(f"{quote(c)} = CAST(%s AS {shape.types[c]})" for c in shape.pk)
        return bool(self.query(f"SELECT 1 FROM {quote(shape.name)} WHERE {match}",
                               [_param(v) for v in key]))

    def _write(self, shape: TableShape, change: Change, result: ApplyResult) -> None:
        import pyodbc

        table = quote(shape.name)
        match = " AND ".join(f"{quote(c)} = CAST(%s AS {shape.types[c]})" for c in shape.pk)
        key = [_param(v) for v in change.key]
        self.query("SAVEPOINT esync_row")
        try:
            if change.is_delete:
                cursor = self.conn.cursor()
                cursor.execute(f"DELETE FROM {table} WHERE {match}".replace("%s", "?"), *key)
                result.applied += max(cursor.rowcount, 0)
                cursor.close()
            else:
                self.query(self._upsert_sql(shape),
                           [_param(change.row[c]) for c in shape.columns])
                result.applied += 1
            self.query("RELEASE SAVEPOINT esync_row")
        except pyodbc.Error as error:
            self.query("ROLLBACK TO SAVEPOINT esync_row")
            if change.is_delete:
                stage = DELETES
            else:
                stage = UPDATES if self._present(shape, change.key) else INSERTS
            text = " ".join(str(error.args[-1] if error.args else error).split())[:1000]
            result.skipped.append(Skip(shape.name, stage, text, key_text(change.key)))

    @staticmethod
    def _upsert_sql(shape: TableShape) -> str:
        columns = ", ".join(quote(c) for c in shape.columns)
        values = ", ".join(f"CAST(%s AS {shape.types[c]})" for c in shape.columns)
        others = [c for c in shape.columns if c not in shape.pk]
        action = ("DO UPDATE SET " + ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}"
                                               for c in others) if others else "DO NOTHING")
        return (f"INSERT INTO {quote(shape.name)} ({columns}) VALUES ({values}) "
                f"ON CONFLICT ({', '.join(quote(c) for c in shape.pk)}) {action}")


@contextmanager
def connect(connection_string: str, source: str) -> Iterator[ExternalDatabase]:
    """The data source's database, open for the block. Refused when it cannot be reached
    or is not PostgreSQL (the only kind whose changes we can track yet)."""
    try:
        import pyodbc
    except ImportError as error:
        raise OdbcSourceUnavailable("pyodbc is not installed (pip install pyodbc, and the "
                                    "system's unixODBC).") from error
    try:
        conn = pyodbc.connect(connection_string, autocommit=True, timeout=LOGIN_TIMEOUT)
    except pyodbc.Error as error:
        raise OdbcSourceUnavailable(
            f"Cannot connect to the data source {source!r}: {error.args[-1]}") from error
    try:
        kind = str(conn.getinfo(pyodbc.SQL_DBMS_NAME))
        if kind != "PostgreSQL":
            raise OdbcSourceUnavailable(
                f"The data source {source!r} is {kind}: tracking the changes of ODBC tables "
                "is implemented for PostgreSQL only.")
        yield ExternalDatabase(source, conn)
    finally:
        conn.close()


def specs_of(shapes: dict[str, TableShape], source: str) -> dict[str, TableSpec]:
    return {name: shape.spec(source) for name, shape in shapes.items()}


def registered_tables(source: str) -> tuple[str, list[str]]:
    """(connection string, table names) of a source registered here; refused if unknown."""
    from syncengine.custom_table_models import CustomTable

    registrations = list(CustomTable.objects.filter(source=source))
    if not registrations:
        raise CustomTableRefused(f"No custom table of a data source {source!r} is registered "
                                 "here: register the same tables under the same source name "
                                 "on both servers.")
    return registrations[0].connection_string, [r.table_name for r in registrations]


# -- one profile run's part: a data source's tables -------------------------------------------

def sync_source(run, profile, client, source: str, progress):
    """The run's part for one data source: its changes here and the peer's same-named
    source's, settled by the profile's direction and policy, each side's applied in one
    transaction stamped with its origin; the source's anchor moves once they are in."""
    from django.db import transaction

    from syncengine.db_sync import (
        DOWNLOAD,
        OUTGOING_BATCH,
        UPLOAD,
        SyncOutcome,
        SyncPlan,
        anchor_for,
        settle,
    )
    from syncengine.models import Anchor

    relationship = profile.relationship
    peer_id = str(relationship.remote_server_id)
    connection_string, tables = registered_tables(source)
    anchor = anchor_for(relationship, source)
    with connect(connection_string, source) as database:
        shapes = database.shapes(tables)
        progress(phase=f"Reading the changes of the data source {source} on both sides")
        local_mark = database.high_water_mark()
        local = database.changes(anchor.local_sent, local_mark, peer_id, shapes)
        remote_mark, remote = _read_remote(client, source, anchor.remote_applied,
                                           specs_of(shapes, source))
        plan = settle(SyncPlan(profile.direction, profile.policy, local_mark, remote_mark,
                               local, remote))
        outcome = SyncOutcome(total=len(plan.incoming) + len(plan.outgoing),
                              conflicts=len(plan.conflicts))
        progress(phase=f"Applying {len(plan.incoming)} changes of {source} here")
        here = database.apply(plan.incoming, peer_id, shapes) if plan.incoming \
            else ApplyResult()
    with transaction.atomic():
        _keep_losers(run, relationship, plan, source)
        _record_skips(run, here, "local", source)
        if profile.direction != UPLOAD:
            Anchor.objects.filter(id=anchor.id).update(remote_applied=plan.remote_mark)
    there = ApplyResult()
    if profile.direction != DOWNLOAD:
        progress(phase=f"Sending {len(plan.outgoing)} changes of {source}")
        ordered = _ordered(plan.outgoing, shapes, source)
        for start in range(0, len(ordered), OUTGOING_BATCH):
            there.add(_send(client, source, local_mark, ordered[start:start + OUTGOING_BATCH]))
        with transaction.atomic():
            _record_skips(run, there, "remote", source)
            Anchor.objects.filter(id=anchor.id).update(local_sent=plan.local_mark)
    outcome.applied = here.applied + there.applied
    outcome.skipped = len(here.skipped) + len(there.skipped)
    return outcome


def _read_remote(client, source: str, since: int, specs: dict[str, TableSpec]):
    from syncengine.change_sets import from_lines
    from syncengine.table_copy import split_lines

    with client.open("GET", f"/custom/{source}/changes?since={int(since)}") as response:
        return from_lines(split_lines(response.body), specs)


def _ordered(changes: list[Change], shapes: dict[str, TableShape], source: str) -> list[Change]:
    """Parents' rows before their children's, deletes after all, children's first."""
    order = {s.name: i for i, s in enumerate(in_dependency_order(
        specs_of(shapes, source).values()))}
    upserts = sorted((c for c in changes if not c.is_delete), key=lambda c: order[c.table])
    deletes = sorted((c for c in changes if c.is_delete), key=lambda c: -order[c.table])
    return upserts + deletes


def _send(client, source: str, mark: int, batch: list[Change]) -> ApplyResult:
    from syncengine.change_sets import to_lines

    body = b"".join(to_lines(mark, batch))
    with client.open("POST", f"/custom/{source}/changes/apply", body=body,
                     headers={"Content-Type": "application/x-ndjson",
                              "Content-Length": str(len(body))}) as response:
        return ApplyResult.from_dict(json.loads(b"".join(response.body)))


def _record_skips(run, result: ApplyResult, side: str, source: str) -> None:
    from syncengine.models import SkippedRow

    SkippedRow.objects.bulk_create([
        SkippedRow(run=run, side=side, table_name=f"{source}:{s.table}", stage=s.stage,
                   error=s.error, remote_key=s.key if side == "local" else "",
                   local_key=s.key if side == "remote" else "")
        for s in result.skipped])


def _keep_losers(run, relationship, plan, source: str) -> None:
    from syncengine.db_sync import BIDIRECTIONAL
    from syncengine.models import ConflictRecord

    ConflictRecord.objects.bulk_create([
        ConflictRecord(run=run, relationship=relationship,
                       table_name=f"{source}:{c.table}", row_key=key_text(c.key),
                       policy=plan.policy if plan.direction == BIDIRECTIONAL
                       else plan.direction, winner_side=c.winner,
                       local_version=c.local.row, remote_version=c.remote.row)
        for c in plan.conflicts])
