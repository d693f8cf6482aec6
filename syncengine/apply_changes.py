"""Applying a change set to this database, safely.

Every row is first checked against its column types (syncengine.row_checks): a value no
column here should hold, or a new key in this server's own ID range, leaves that row out with
its reason. Inserts and updates go parents before children (foreign-key order), deletes
children before parents; everything in one transaction with the rows stamped with the peer
they came from. A row that cannot be applied — a foreign key to a row that is not there, a
constraint — is left out and reported (table, stage, error, key) while the rest applies:
references are checked before writing (SQLite only checks deferred foreign keys at commit,
too late to skip one row), and each batch runs under a savepoint, retried row by row if it
fails.

Natural names created on both sides (user names, folder name + path, metadata definition
names, message titles) are collisions: the more recently created row gets its id appended,
and that renamed row counts as changed here, so the rename travels back to the peer.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction
from django.utils.dateparse import parse_datetime

from syncengine import change_log, row_checks
from syncengine.change_sets import Change, permission_ids, specs_by_name
from syncengine.tracked_tables import (
    GROUPS_KEY,
    PERMISSIONS_KEY,
    USER_TABLE,
    TableSpec,
    in_dependency_order,
)

INSERTS, UPDATES, DELETES = "ApplyingInserts", "ApplyingUpdates", "ApplyingDeletes"
WRITE_BATCH = 500


@dataclass
class Skip:
    table: str
    stage: str
    error: str
    key: str

    def as_dict(self) -> dict:
        return {"table": self.table, "stage": self.stage, "error": self.error, "key": self.key}


@dataclass
class CollisionNote:
    kind: str
    table: str
    row_id: int
    original_name: str
    modified_name: str

    def as_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class ApplyResult:
    applied: int = 0
    skipped: list[Skip] = field(default_factory=list)
    collisions: list[CollisionNote] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"applied": self.applied, "skipped": [s.as_dict() for s in self.skipped],
                "collisions": [c.as_dict() for c in self.collisions]}

    @classmethod
    def from_dict(cls, data: dict) -> ApplyResult:
        return cls(int(data.get("applied", 0)),
                   [Skip(**s) for s in data.get("skipped", [])],
                   [CollisionNote(**c) for c in data.get("collisions", [])])

    def add(self, other: ApplyResult) -> None:
        self.applied += other.applied
        self.skipped += other.skipped
        self.collisions += other.collisions


def key_text(key: Iterable) -> str:
    return ",".join(str(v) for v in key)


def apply_changes(changes: list[Change], origin: str,
                  specs: dict[str, TableSpec] | None = None) -> ApplyResult:
    """Apply `changes` (from the peer `origin`) in one transaction; returns what happened."""
    specs = specs_by_name() if specs is None else specs
    result = ApplyResult()
    renamed: list[tuple[str, tuple]] = []
    with transaction.atomic():
        changes, refused = row_checks.screen(changes, specs)
        _report_refused(refused, specs, result)
        by_table: dict[str, list[Change]] = {}
        for change in changes:
            by_table.setdefault(change.table, []).append(change)
        ordered = [s for s in in_dependency_order(specs.values()) if s.name in by_table]
        with change_log.applying_from(origin):
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for spec in ordered:
                upserts = [c for c in by_table[spec.name] if not c.is_delete]
                if upserts:
                    _upsert(spec, upserts, specs, result, renamed)
            for spec in reversed(ordered):
                deletes = [c for c in by_table[spec.name] if c.is_delete]
                if deletes:
                    _delete(spec, deletes, specs, result)
        for table, key in renamed:
            change_log.mark_local(table, [key])
        if connection.vendor == "sqlite":
            _refuse_dangling_references(ordered)
    return result


def _report_refused(refused: list[row_checks.RefusedRow], specs: dict[str, TableSpec],
                    result: ApplyResult) -> None:
    """Rows left out before applying, reported like the rows the database refused."""
    present: dict[str, set[tuple]] = {}
    for table in {r.change.table for r in refused if r.key_sound and not r.change.is_delete}:
        present[table] = _existing_keys(specs[table], [
            r.change.key for r in refused if r.change.table == table and r.key_sound])
    for r in refused:
        if r.change.is_delete:
            stage = DELETES
        else:
            stage = UPDATES if r.change.key in present.get(r.change.table, ()) else INSERTS
        result.skipped.append(Skip(r.change.table, stage,
                                   _error_text(f"refused before applying: {r.reason}"),
                                   key_text(r.change.key)[:200]))


# -- inserts and updates ----------------------------------------------------------------------

def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _existing_keys(spec: TableSpec, keys: list[tuple]) -> set[tuple]:
    found: set[tuple] = set()
    columns = ", ".join(_q(c) for c in spec.pk)
    with connection.cursor() as cursor:
        for start in range(0, len(keys), WRITE_BATCH):
            batch = keys[start:start + WRITE_BATCH]
            if len(spec.pk) == 1:
                marks = ", ".join(["%s"] * len(batch))
                cursor.execute(f"SELECT {columns} FROM {_q(spec.name)} "
                               f"WHERE {_q(spec.pk[0])} IN ({marks})", [k[0] for k in batch])
            else:
                match = " AND ".join(f"{_q(c)} = %s" for c in spec.pk)
                cursor.execute(f"SELECT {columns} FROM {_q(spec.name)} WHERE "
                               + " OR ".join(f"({match})" for _ in batch),
                               [v for k in batch for v in k])
            found.update(tuple(r) for r in cursor.fetchall())
    return found


def _values_present(table: str, column: str, values: set) -> set:
    present: set = set()
    values_list = list(values)
    with connection.cursor() as cursor:
        for start in range(0, len(values_list), WRITE_BATCH):
            batch = values_list[start:start + WRITE_BATCH]
            marks = ", ".join(["%s"] * len(batch))
            cursor.execute(f"SELECT {_q(column)} FROM {_q(table)} WHERE {_q(column)} IN ({marks})",
                           batch)
            present.update(r[0] for r in cursor.fetchall())
    return present


def _parents_first(spec: TableSpec, changes: list[Change]) -> list[Change]:
    link = spec.self_reference
    if link is None:
        return changes
    pending = {c.row[link.target_column]: c for c in changes}
    ordered: list[Change] = []
    placed: set = set()

    def place(change: Change, depth: int = 0) -> None:
        own = change.row[link.target_column]
        if own in placed:
            return
        parent = pending.get(change.row[link.column])
        if parent is not None and parent is not change and depth < len(changes):
            place(parent, depth + 1)
        placed.add(own)
        ordered.append(change)

    for change in changes:
        place(change)
    return ordered


def _check_references(spec: TableSpec, changes: list[Change], existing: set[tuple],
                      result: ApplyResult) -> list[Change]:
    """Leave out (and report) rows pointing at rows that are not here."""
    ok = changes
    for fk in spec.foreign_keys:
        wanted = {c.row[fk.column] for c in ok if c.row[fk.column] is not None}
        if not wanted:
            continue
        present = _values_present(fk.target_table, fk.target_column, wanted)
        if fk.target_table == spec.name:  # rows of this batch count, if they get in
            kept: list[Change] = []
            arriving = set()
            for c in ok:
                value = c.row[fk.column]
                if value is None or value in present or value in arriving:
                    kept.append(c)
                    arriving.add(c.row[fk.target_column])
                else:
                    _skip_missing(spec, c, fk, existing, result)
            ok = kept
            continue
        kept = []
        for c in ok:
            value = c.row[fk.column]
            if value is None or value in present:
                kept.append(c)
            else:
                _skip_missing(spec, c, fk, existing, result)
        ok = kept
    return ok


def _skip_missing(spec, change, fk, existing, result) -> None:
    stage = UPDATES if change.key in existing else INSERTS
    result.skipped.append(Skip(
        spec.name, stage,
        f"FOREIGN KEY: {spec.name}.{fk.column} = {change.row[fk.column]} refers to "
        f"{fk.target_table}.{fk.target_column}, which is not here", key_text(change.key)))


def _upsert_sql(spec: TableSpec) -> str:
    columns = ", ".join(_q(c) for c in spec.columns)
    marks = ", ".join(["%s"] * len(spec.columns))
    others = [c for c in spec.columns if c not in spec.pk]
    conflict = ", ".join(_q(c) for c in spec.pk)
    action = ("DO UPDATE SET " + ", ".join(f"{_q(c)} = EXCLUDED.{_q(c)}" for c in others)
              if others else "DO NOTHING")
    return (f"INSERT INTO {_q(spec.name)} ({columns}) VALUES ({marks}) "
            f"ON CONFLICT ({conflict}) {action}")


def _db_values(spec: TableSpec, row: dict) -> list:
    values = []
    for column in spec.columns:
        value = row[column]
        convert = spec.converters.get(column)
        values.append(convert(value) if convert else value)
    return values


def _upsert(spec: TableSpec, changes: list[Change], specs: dict[str, TableSpec],
            result: ApplyResult, renamed: list[tuple[str, tuple]]) -> None:
    changes = _parents_first(spec, changes)
    existing = _existing_keys(spec, [c.key for c in changes])
    if spec.natural_name is not None:
        _resolve_collisions(spec, changes, result, renamed)
    changes = _check_references(spec, changes, existing, result)
    sql = _upsert_sql(spec)
    applied: list[Change] = []
    for start in range(0, len(changes), WRITE_BATCH):
        batch = changes[start:start + WRITE_BATCH]
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, [_db_values(spec, c.row) for c in batch])
            applied += batch
        except DatabaseError:
            applied += _upsert_one_by_one(spec, sql, batch, existing, result)
    if spec.name == USER_TABLE and applied:
        _apply_memberships(applied)
    result.applied += len(applied)


def _upsert_one_by_one(spec, sql, batch, existing, result) -> list[Change]:
    applied = []
    link = spec.self_reference
    for change in batch:
        if link is not None and change.row[link.column] is not None and not _values_present(
                spec.name, link.target_column, {change.row[link.column]}):
            _skip_missing(spec, change, link, existing, result)
            continue
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, _db_values(spec, change.row))
            applied.append(change)
        except DatabaseError as error:
            result.skipped.append(Skip(spec.name, UPDATES if change.key in existing
                                       else INSERTS, _error_text(error), key_text(change.key)))
    return applied


def _error_text(error: Exception) -> str:
    return " ".join(str(error).split())[:1000] or type(error).__name__


def _apply_memberships(changes: list[Change]) -> None:
    from cms.models import User

    groups_through = User.groups.through
    permissions_through = User.user_permissions.through
    ids = [c.key[0] for c in changes]
    groups_through.objects.filter(user_id__in=ids).delete()
    permissions_through.objects.filter(user_id__in=ids).delete()
    group_ids = dict(Group.objects.values_list("name", "id"))
    groups_through.objects.bulk_create([
        groups_through(user_id=c.key[0], group_id=group_ids[name])
        for c in changes for name in c.row.get(GROUPS_KEY, []) if name in group_ids])
    permissions_through.objects.bulk_create([
        permissions_through(user_id=c.key[0], permission_id=pid)
        for c in changes for pid in permission_ids(c.row.get(PERMISSIONS_KEY, []))])


# -- collisions -------------------------------------------------------------------------------

def _created(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        moment = parse_datetime(str(value)) or dt.datetime.min
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def _resolve_collisions(spec: TableSpec, changes: list[Change], result: ApplyResult,
                        renamed: list[tuple[str, tuple]]) -> None:
    name = spec.natural_name
    pk = spec.pk[0]
    columns = [pk, name.column, name.created_column]
    for change in changes:
        row = change.row
        conditions = [f"{_q(name.column)} = %s", f"{_q(pk)} <> %s"]
        params = [row[name.column], change.key[0]]
        for column in name.scope:
            if row[column] is None:
                conditions.append(f"{_q(column)} IS NULL")
            else:
                conditions.append(f"{_q(column)} = %s")
                params.append(row[column])
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(_q(c) for c in columns)} FROM {_q(spec.name)} "
                           f"WHERE {' AND '.join(conditions)}", params)
            clash = cursor.fetchone()
        if clash is None:
            continue
        local_id, local_name, local_created = clash
        original = row[name.column]
        # Ties go by id, so that both sides, each meeting the other's row, pick the same one.
        if (_created(row[name.created_column]), change.key[0]) > \
                (_created(local_created), local_id):
            row[name.column] = _with_id(spec, original, change.key[0])
            # The same change set applied again (a run cut off and started over) finds the
            # row already renamed here: keep the rename, but it is not a new collision.
            if _name_here(spec, change.key[0]) != row[name.column]:
                result.collisions.append(CollisionNote(name.kind, spec.name, change.key[0],
                                                       original, row[name.column]))
            renamed.append((spec.name, change.key))
        else:
            modified = _with_id(spec, local_name, local_id)
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE {_q(spec.name)} SET {_q(name.column)} = %s "
                               f"WHERE {_q(pk)} = %s", [modified, local_id])
            result.collisions.append(CollisionNote(name.kind, spec.name, local_id,
                                                   local_name, modified))
            renamed.append((spec.name, (local_id,)))


def _with_id(spec: TableSpec, name: str, row_id: int) -> str:
    """The name with the row's id appended, shortened first if the two would not fit the
    column (both sides shorten alike, so they still agree on the name)."""
    suffix = str(row_id)
    longest = None
    if spec.model is not None:
        longest = next((f.max_length for f in spec.model._meta.concrete_fields
                        if f.column == spec.natural_name.column), None)
    if longest is not None and len(name) + len(suffix) > longest:
        name = name[:max(longest - len(suffix), 0)]
    return f"{name}{suffix}"


def _name_here(spec: TableSpec, row_id) -> object:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_q(spec.natural_name.column)} FROM {_q(spec.name)} "
                       f"WHERE {_q(spec.pk[0])} = %s", [row_id])
        found = cursor.fetchone()
    return found[0] if found else None


# -- deletes ----------------------------------------------------------------------------------

def _delete(spec: TableSpec, changes: list[Change], specs: dict[str, TableSpec],
            result: ApplyResult) -> None:
    keys = [c.key for c in changes]
    present = _existing_keys(spec, keys)
    keys = [k for k in keys if k in present]  # deleting what is not here is already done
    if not keys:
        return
    if len(spec.pk) == 1:
        keys = _unreferenced(spec, keys, specs, result)
        if not keys:
            return
        _detach_unsynced(spec, [k[0] for k in keys], specs)
    with connection.cursor() as cursor:
        for start in range(0, len(keys), WRITE_BATCH):
            batch = keys[start:start + WRITE_BATCH]
            match = " AND ".join(f"{_q(c)} = %s" for c in spec.pk)
            try:
                with transaction.atomic():
                    cursor.execute(f"DELETE FROM {_q(spec.name)} WHERE "
                                   + " OR ".join(f"({match})" for _ in batch),
                                   [v for k in batch for v in k])
                result.applied += len(batch)
            except DatabaseError:
                for key in batch:
                    try:
                        with transaction.atomic():
                            cursor.execute(f"DELETE FROM {_q(spec.name)} WHERE {match}",
                                           list(key))
                        result.applied += 1
                    except DatabaseError as row_error:
                        result.skipped.append(Skip(spec.name, DELETES, _error_text(row_error),
                                                   key_text(key)))


def _unreferenced(spec: TableSpec, keys: list[tuple], specs: dict[str, TableSpec],
                  result: ApplyResult) -> list[tuple]:
    """The keys no remaining synced row points at; the others are skipped and reported."""
    ids = {k[0] for k in keys}
    blocked: dict = {}
    for child in specs.values():
        for fk in child.foreign_keys:
            if fk.target_table != spec.name:
                continue
            with connection.cursor() as cursor:
                for start in range(0, len(ids), WRITE_BATCH):
                    batch = list(ids)[start:start + WRITE_BATCH]
                    marks = ", ".join(["%s"] * len(batch))
                    cursor.execute(
                        f"SELECT {_q(fk.column)}, {_q(child.pk[0])} FROM {_q(child.name)} "
                        f"WHERE {_q(fk.column)} IN ({marks})", batch)
                    for target, child_key in cursor.fetchall():
                        if child.name == spec.name and child_key in ids:
                            continue  # a child going in the same delete
                        blocked.setdefault(target, f"{child.name} {child_key}")
    # A row whose child is blocked stays too (its child stays).
    link = spec.self_reference
    if link is not None and blocked:
        parents = dict(_parent_pairs(spec, link, ids))
        changed = True
        while changed:
            changed = False
            for child_key, parent in parents.items():
                if child_key in blocked and parent in ids and parent not in blocked:
                    blocked[parent] = f"{spec.name} {child_key}"
                    changed = True
    for value, by in blocked.items():
        result.skipped.append(Skip(spec.name, DELETES,
                                   f"still referenced by {by} here", str(value)))
    return [k for k in keys if k[0] not in blocked]


def _parent_pairs(spec, link, ids) -> list[tuple]:
    with connection.cursor() as cursor:
        marks = ", ".join(["%s"] * len(ids))
        cursor.execute(f"SELECT {_q(spec.pk[0])}, {_q(link.column)} FROM {_q(spec.name)} "
                       f"WHERE {_q(spec.pk[0])} IN ({marks})", list(ids))
        return cursor.fetchall()


def _detach_unsynced(spec: TableSpec, ids: list, specs: dict[str, TableSpec]) -> None:
    """Unsynced rows pointing at rows going away (run records, memberships, the admin log):
    nullable references are cleared, the others go with them."""
    for model in apps.get_models(include_auto_created=True):
        if model._meta.db_table in specs or not model._meta.managed:
            continue
        for f in model._meta.concrete_fields:
            if not f.is_relation or f.related_model is None or \
                    f.related_model._meta.db_table != spec.name:
                continue
            marks = ", ".join(["%s"] * len(ids))
            table, column = _q(model._meta.db_table), _q(f.column)
            with connection.cursor() as cursor:
                if f.null:
                    cursor.execute(f"UPDATE {table} SET {column} = NULL "
                                   f"WHERE {column} IN ({marks})", ids)
                else:
                    cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", ids)


def _refuse_dangling_references(specs: list[TableSpec]) -> None:
    """SQLite checks deferred foreign keys only at commit: find a dangling one first and say
    which, rather than let the commit fail with a bare "FOREIGN KEY constraint failed"."""
    with connection.cursor() as cursor:
        for spec in specs:
            cursor.execute(f"PRAGMA foreign_key_check({_q(spec.name)})")
            problem = cursor.fetchone()
            if problem is not None:
                raise DatabaseError(
                    f"applying the changes would leave {spec.name} row {problem[1]} pointing "
                    f"at a missing {problem[2]} row: {json.dumps(problem)}")
