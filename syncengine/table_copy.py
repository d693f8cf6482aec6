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

from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.db import connection, models, transaction

from cms.models import User
from relationships.id_ranges import ranged_models

BATCH = 1000
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
    return sum(m._base_manager.count() for m in synced_models())


def export_lines() -> Iterator[bytes]:
    """The whole synced database as JSON lines, read in chunks (never all in memory)."""
    encoder = _ExactEncoder(separators=(",", ":"))
    for model in synced_models():
        columns = _columns(model)
        yield (encoder.encode({"table": model._meta.db_table, "columns": columns}) + "\n").encode()
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
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from (line for line in lines if line)
    if pending:
        yield pending


def import_lines(lines: Iterable[bytes], progress: Callable[[int], None] = lambda n: None,
                 ) -> int:
    """Replace every synced row with the stream's, atomically. Returns the rows applied."""
    by_table = {m._meta.db_table: m for m in synced_models()}
    applied = 0
    with transaction.atomic():
        _clear_destination(by_table)
        model, columns, fields, batch = None, [], [], []
        special: str | None = None

        def flush() -> None:
            nonlocal applied
            if model is not None and batch:
                model._base_manager.bulk_create(batch, batch_size=BATCH)
                applied += len(batch)
                progress(applied)
            batch.clear()

        for raw in lines:
            try:
                item = json.loads(raw)
            except ValueError as error:
                raise StreamRejected("a line of the stream is not JSON") from error
            if isinstance(item, dict):
                flush()
                table, columns = item.get("table"), item.get("columns")
                special = table if table in (USER_GROUPS, USER_PERMISSIONS) else None
                model = None if special else by_table.get(table)
                if special is None and model is None:
                    raise StreamRejected(f"unknown table {table!r} in the stream")
                if model is not None:
                    known = {f.attname: f for f in model._meta.concrete_fields}
                    if not isinstance(columns, list) or set(columns) - set(known):
                        raise StreamRejected(f"unknown columns for {table} in the stream")
                    fields = [known[c] for c in columns]
                continue
            if not isinstance(item, list) or len(item) != len(columns):
                raise StreamRejected("a row does not match its table's columns")
            if special:
                _apply_membership(special, *item)
                applied += 1
                continue
            if model is None:
                raise StreamRejected("a row came before any table header")
            batch.append(model(**{f.attname: f.to_python(v) for f, v in zip(fields, item,
                                                                              strict=True)}))
            if len(batch) >= BATCH:
                flush()
        flush()
        if connection.vendor == "postgresql":
            # Check the deferred foreign keys now: PostgreSQL will not ALTER a table (to
            # re-bound its key sequence) while it has pending constraint checks.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        _reset_sequences(by_table.values())
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
