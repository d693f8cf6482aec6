"""Copying every synced table from one instance to another: the database half of FullStage.

The source writes a stream of JSON lines: per table a header naming its columns, then one
array per row. The destination replaces all its synced rows with the stream's inside one
transaction, so a broken stream leaves it exactly as it was. Foreign keys are checked at
commit (Django creates them deferrable), so rows may arrive in any order within the stream.
Users' group and permission memberships travel by natural key (group name, app.codename).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress

from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction

from cms.models import User
from relationships.id_ranges import ranged_models
from syncengine.bulk_load import indexes_set_aside
from syncengine.stream_chunks import coalesced

BATCH = 1000
CHUNK = 256 * 1024  # bytes gathered before passing a piece of a COPY-format table on
PROGRESS_BYTES = 4 * 1024 * 1024  # COPY-format bytes applied between progress reports
PGCOPY_END = b"\\.\n"  # COPY's own end-of-data line, after a table's rows in COPY format
USER_GROUPS = "esync:user_groups"
USER_PERMISSIONS = "esync:user_permissions"
# Sessions belong to the destination's users, who are about to be replaced: a session must
# not sign anybody in as whichever source user happens to have the same key.
CLEARED_TABLES = ("django_session",)


class StreamRejected(Exception):
    """The stream names an unknown table or column, or is not well formed."""


class _ExactEncoder(json.JSONEncoder):
    """Like Django's JSON encoder, but times keep their microseconds (Django's rounds them
    to milliseconds, and a copy must be exact)."""

    def default(self, o):
        if isinstance(o, dt.datetime | dt.date | dt.time):
            return o.isoformat()
        if isinstance(o, decimal.Decimal | uuid.UUID):
            return str(o)
        return super().default(o)


def synced_models() -> list[type[models.Model]]:
    return ranged_models()


def _columns(model: type[models.Model]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def count_rows() -> int:
    """The rows an initial sync copies: every synced table's, and the users' group and
    permission memberships that travel with them."""
    return sum(m._base_manager.count() for m in synced_models()) + \
        User.groups.through.objects.count() + User.user_permissions.through.objects.count()


def export_lines(pgcopy: bool = False) -> Iterator[bytes]:
    """The whole synced database as a stream of lines, read in chunks (never all in memory).

    With `pgcopy` (asked for by a PostgreSQL destination) and PostgreSQL here, each table's
    rows travel in COPY's own text format, which the destination feeds to COPY FROM without
    parsing a row; otherwise as JSON arrays. On PostgreSQL the export reads one snapshot.
    """
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield from _export_tables(pgcopy)
    else:
        yield from _export_tables(False)


def _export_tables(pgcopy: bool) -> Iterator[bytes]:
    encoder = _ExactEncoder(separators=(",", ":"))
    quote = connection.ops.quote_name
    for model in synced_models():
        columns = _columns(model)
        header = {"table": model._meta.db_table, "columns": columns}
        if pgcopy:
            yield (encoder.encode({**header, "format": "pgcopy"}) + "\n").encode()
            column_of = {f.attname: f.column for f in model._meta.concrete_fields}
            column_list = ", ".join(quote(column_of[c]) for c in columns)
            query = (f"COPY (SELECT {column_list} FROM {quote(model._meta.db_table)} "
                     f"ORDER BY {quote(model._meta.pk.column)}) TO STDOUT")
            with connection.cursor() as cursor, cursor.cursor.copy(query) as copy:
                # psycopg hands over one row at a time: gathered, what follows (the
                # counting, TLS) handles a few chunks, not every row.
                yield from coalesced((bytes(data) for data in copy), CHUNK)
            yield PGCOPY_END
            continue
        yield (encoder.encode(header) + "\n").encode()
        rows = model._base_manager.order_by("pk").values_list(*columns)
        for row in rows.iterator(chunk_size=BATCH):
            yield (encoder.encode(row) + "\n").encode()
    through = User.groups.through
    yield (json.dumps({"table": USER_GROUPS, "columns": ["user_id", "group"]}) + "\n").encode()
    memberships = through.objects.order_by("user_id", "group__name")
    for user_id, name in memberships.values_list("user_id", "group__name").iterator():
        yield (json.dumps([user_id, name]) + "\n").encode()
    through = User.user_permissions.through
    yield (json.dumps({"table": USER_PERMISSIONS, "columns": ["user_id", "permission"]})
           + "\n").encode()
    for user_id, app, codename in through.objects.order_by("user_id", "permission_id").values_list(
            "user_id", "permission__content_type__app_label", "permission__codename").iterator():
        yield (json.dumps([user_id, f"{app}.{codename}"]) + "\n").encode()


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The non-empty lines of a stream that arrives in chunks of any size."""
    return _StreamReader(chunks).lines()


class _StreamReader:
    """A stream of newline-terminated lines in arbitrary chunks: JSON lines one at a time,
    and a table's rows in COPY format passed on in large pieces without splitting a row.

    Linear in the stream's size, however long a line: chunks are appended to one buffer (the
    consumed front is dropped only once it is at least half of it), and a search for the next
    newline resumes where the last one stopped rather than at the start of the line.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self._at = 0  # what comes before this in the buffer was consumed
        self._scan = 0  # no newline in the buffer between _at and this

    def _more(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                if self._at and 2 * self._at >= len(self._buffer):
                    del self._buffer[:self._at]
                    self._scan = max(self._scan - self._at, 0)
                    self._at = 0
                self._buffer += chunk
                return True
        return False

    def _find(self, pattern: bytes) -> int:
        """Where `pattern` (which starts with a newline) next is after what was consumed, or
        -1. The search starts past the stretch known to hold no newline."""
        return self._buffer.find(pattern, max(self._at, self._scan))

    def lines(self) -> Iterator[bytes]:
        """The next non-empty lines, without their newline; the last may lack one."""
        while True:
            end = self._find(b"\n")
            if end < 0:
                self._scan = len(self._buffer)
                if self._more():
                    continue
                line = bytes(self._buffer[self._at:])
                self._buffer, self._at, self._scan = bytearray(), 0, 0
                if line:
                    yield line
                return
            line, self._at = bytes(self._buffer[self._at:end]), end + 1
            if line:
                yield line

    def copy_block(self, write: Callable[[bytes], None], rows_so_far: Callable[[int], None],
                   ) -> int:
        """Pass COPY-format rows to `write` up to the `\\.` line that ends them (COPY escapes
        every backslash in data, so no row can look like it). Returns the rows passed."""
        rows = unreported = 0
        while True:
            if self._buffer.startswith(PGCOPY_END, self._at):
                self._at += len(PGCOPY_END)
                return rows
            end = self._find(b"\n" + PGCOPY_END)
            # Up to the end line, or else up to the last whole row: the rest could be the
            # start of the end line.
            cut = end + 1 if end >= 0 else \
                self._buffer.rfind(b"\n", max(self._at, self._scan)) + 1
            if end < 0:
                self._scan = len(self._buffer)  # the rows went; what is left has no newline
            if cut > self._at:
                data = bytes(self._buffer[self._at:cut])
                self._at = cut
                write(data)
                rows += data.count(b"\n")
                unreported += len(data)
                if unreported >= PROGRESS_BYTES:
                    rows_so_far(rows)
                    unreported = 0
            if end < 0 and not self._more():
                raise StreamRejected("the stream ended inside a table")


CONVERTED_TYPES = {"DateTimeField", "DateField", "TimeField", "DecimalField", "UUIDField",
                   "JSONField", "BinaryField"}


def _fields_for(model: type[models.Model], columns: object) -> list[models.Field]:
    """The model's fields named by a stream's table header; anything unknown is refused."""
    known = {f.attname: f for f in model._meta.concrete_fields}
    if not isinstance(columns, list) or not columns or set(columns) - set(known):
        raise StreamRejected(f"unknown columns for {model._meta.db_table} in the stream")
    return [known[c] for c in columns]


class _TableWriter:
    """Writes one table's rows as they stream in: COPY on PostgreSQL, batched INSERTs else.

    Values arrive as JSON; only the types JSON cannot carry (times, decimals...) are
    converted, through the field itself, so the database receives what Django would write.
    """

    def __init__(self, model: type[models.Model], columns: list[str]) -> None:
        fields = _fields_for(model, columns)
        self.converters = [
            (lambda v, f=f: None if v is None else f.get_db_prep_save(f.to_python(v), connection))
            if f.get_internal_type() in CONVERTED_TYPES else None
            for f in fields
        ]
        quote = connection.ops.quote_name
        self.table = quote(model._meta.db_table)
        self.column_list = ", ".join(quote(f.column) for f in fields)
        self.batch: list[list] = []
        self._cursor = connection.cursor()
        self._copy = None
        if connection.vendor == "postgresql":
            raw = self._cursor.cursor  # psycopg's own cursor, for COPY
            self._copy_context = raw.copy(f"COPY {self.table} ({self.column_list}) FROM STDIN")
            self._copy = self._copy_context.__enter__()

    def add(self, row: list) -> None:
        try:
            converted = [c(v) if c else v for c, v in zip(self.converters, row, strict=True)]
        except (ValidationError, TypeError, ValueError, ArithmeticError) as error:
            raise StreamRejected(f"a row of {self.table} holds a value its column cannot "
                                 f"take: {error}") from error
        if self._copy is not None:
            self._copy.write_row(converted)
            return
        self.batch.append(converted)
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            marks = ", ".join(["%s"] * len(self.converters))
            self._cursor.executemany(
                f"INSERT INTO {self.table} ({self.column_list}) VALUES ({marks})", self.batch)
            self.batch.clear()

    def abort(self) -> None:
        if self._copy is not None:
            self._copy_context.__exit__(StreamRejected, StreamRejected("aborted"), None)
            self._copy = None
        self._cursor.close()

    def close(self) -> None:
        self.flush()
        if self._copy is not None:
            self._copy_context.__exit__(None, None, None)
            self._copy = None
        self._cursor.close()


class _RawCopy:
    """A table's rows in COPY text format, fed to COPY FROM as they come (PostgreSQL only)."""

    def __init__(self, model: type[models.Model], columns: list[str]) -> None:
        if connection.vendor != "postgresql":
            raise StreamRejected("COPY-format rows can only be applied on PostgreSQL")
        quote = connection.ops.quote_name
        column_list = ", ".join(quote(f.column) for f in _fields_for(model, columns))
        self._cursor = connection.cursor()
        self._context = self._cursor.cursor.copy(
            f"COPY {quote(model._meta.db_table)} ({column_list}) FROM STDIN")
        self.write = self._context.__enter__().write

    def close(self) -> None:
        self._context.__exit__(None, None, None)
        self._cursor.close()

    def abort(self) -> None:
        self._context.__exit__(StreamRejected, StreamRejected("aborted"), None)
        self._cursor.close()


def import_stream(chunks: Iterable[bytes], progress: Callable[[int], None] = lambda n: None,
                  ) -> int:
    """Replace every synced row with the stream's (`export_lines`' output, in chunks of any
    size), atomically. Returns the rows applied."""
    by_table = {m._meta.db_table: m for m in synced_models()}
    with transaction.atomic():
        _clear_destination(by_table)
        # COPY writes through psycopg's own cursor: its errors become Django's here.
        with indexes_set_aside(by_table), connection.wrap_database_errors:
            applied = _load(_StreamReader(chunks), by_table, progress)
        _reset_sequences(by_table.values())
        if connection.vendor == "postgresql":
            # Fresh statistics, or the planner takes the just-filled tables for empty ones
            # and scans them whole for the first syncs' key lookups.
            with connection.cursor() as cursor:
                for table in by_table:
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    return applied


def _load(reader: _StreamReader, by_table: dict[str, type[models.Model]],
          progress: Callable[[int], None]) -> int:
    applied = 0
    writer: _TableWriter | None = None
    special: str | None = None
    width = 0
    raw_copy: _RawCopy | None = None
    try:
        for raw in reader.lines():
            try:
                item = json.loads(raw)
            except ValueError as error:
                raise StreamRejected("a line of the stream is not JSON") from error
            if isinstance(item, dict):
                if writer is not None:
                    writer.close()
                    writer = None
                table, columns = item.get("table"), item.get("columns")
                special = table if table in (USER_GROUPS, USER_PERMISSIONS) else None
                if special is None:
                    if table not in by_table:
                        raise StreamRejected(f"unknown table {table!r} in the stream")
                    if item.get("format") == "pgcopy":
                        raw_copy = _RawCopy(by_table[table], columns)
                        done = applied
                        applied += reader.copy_block(
                            raw_copy.write, lambda rows, done=done: progress(done + rows))
                        raw_copy.close()
                        raw_copy = None
                        continue
                    writer = _TableWriter(by_table[table], columns)
                width = len(columns) if isinstance(columns, list) else -1
                continue
            if not isinstance(item, list) or len(item) != width:
                raise StreamRejected("a row does not match its table's columns")
            if special:
                _apply_membership(special, *item)
            elif writer is None:
                raise StreamRejected("a row came before any table header")
            else:
                writer.add(item)
            applied += 1
            if applied % BATCH == 0:
                progress(applied)
    except BaseException:
        if raw_copy is not None:
            with suppress(Exception):
                raw_copy.abort()
        if writer is not None:
            with suppress(Exception):  # the transaction rolls back; keep the first error
                writer.abort()
        raise
    if writer is not None:
        writer.close()
    progress(applied)
    if connection.vendor == "postgresql":
        # Check the deferred foreign keys now: PostgreSQL will not ALTER a table (to
        # re-bound its key sequence or restore its constraints) while checks are pending.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return applied


def _detach_unsynced_references(synced: set[type[models.Model]], cursor) -> None:
    """Rows outside the synced set that point into it (run records, the admin log) would
    dangle once the synced rows are replaced: nullable references are cleared, others go."""
    quote = connection.ops.quote_name
    for model in apps.get_models(include_auto_created=True):
        if model in synced:
            continue
        for field in model._meta.concrete_fields:
            if not field.is_relation or field.related_model not in synced:
                continue
            table, column = quote(model._meta.db_table), quote(field.column)
            if field.null:
                cursor.execute(f"UPDATE {table} SET {column} = NULL WHERE {column} IS NOT NULL")
            else:
                cursor.execute(f"DELETE FROM {table}")


def _clear_destination(by_table: dict[str, type[models.Model]]) -> None:
    with connection.cursor() as cursor:
        for table in CLEARED_TABLES:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
        _detach_unsynced_references(set(by_table.values()), cursor)
        for table in reversed(list(by_table)):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")


def _apply_membership(kind: str, user_id: int, name: str) -> None:
    if kind == USER_GROUPS:
        group = Group.objects.filter(name=name).first()
        if group is not None:
            User.groups.through.objects.create(user_id=user_id, group=group)
        return
    app_label, _, codename = name.partition(".")
    permission = Permission.objects.filter(content_type__app_label=app_label,
                                           codename=codename).first()
    if permission is not None:
        User.user_permissions.through.objects.create(user_id=user_id, permission=permission)


def _reset_sequences(models_: Iterable[type[models.Model]]) -> None:
    """Keys of our own range that arrived in the stream are never handed out again."""
    from relationships.id_ranges import apply_id_range

    apply_id_range(models_=list(models_))
