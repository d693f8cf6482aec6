"""Change sets: the logged changes of one side with the rows as they are now, ready to travel.

A change is (table, key, op, seq, row): `row` holds the row's current columns for an insert
or update and is None for a delete. A user's row also carries its group and permission
memberships by name. On the wire a change set is JSON lines: a header line (the sender's
high-water mark), then one change per line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.contrib.auth.models import Permission
from django.db import connection

from syncengine import change_log
from syncengine.table_copy import _ExactEncoder
from syncengine.tracked_tables import (
    GROUPS_KEY,
    PERMISSIONS_KEY,
    USER_TABLE,
    TableSpec,
    site_specs,
)

FETCH_BATCH = 500
MAX_SEQUENCE = 2**63 - 1  # marks and sequence numbers are stored as 64-bit integers
_encoder = _ExactEncoder(separators=(",", ":"), ensure_ascii=False)


class ChangeSetRejected(Exception):
    """A change set from a peer names an unknown table or column, or is malformed."""


@dataclass
class Change:
    table: str
    key: tuple
    op: str              # I | U | D
    seq: int
    row: dict | None     # None for a delete

    @property
    def is_delete(self) -> bool:
        return self.row is None

    def as_wire(self) -> dict:
        return {"t": self.table, "k": list(self.key), "op": self.op, "seq": self.seq,
                "row": self.row}

    @classmethod
    def from_wire(cls, item: object, specs: dict[str, TableSpec]) -> Change:
        """The change a wire item describes; its shape is checked here (a table we sync, a
        key of plain values, a row with exactly the table's columns), its values are checked
        by the applier, which skips a row it cannot take (syncengine.row_checks)."""
        if not isinstance(item, dict):
            raise ChangeSetRejected("a change is not an object")
        table, key, op, row = item.get("t"), item.get("k"), item.get("op"), item.get("row")
        if not isinstance(table, str):
            raise ChangeSetRejected("a change does not name its table")
        spec = specs.get(table)
        if spec is None:
            raise ChangeSetRejected(f"unknown table {table[:100]!r} in the change set")
        if not isinstance(key, list) or len(key) != len(spec.pk) or \
                not all(_plain_key(v) for v in key) or not isinstance(op, str) or \
                op not in ("I", "U", "D"):
            raise ChangeSetRejected(f"a malformed change for {table}: its key is "
                                    f"{len(spec.pk)} whole numbers or texts, its op I, U or D")
        if row is not None:
            allowed = set(spec.columns) | ({GROUPS_KEY, PERMISSIONS_KEY}
                                           if table == USER_TABLE else set())
            if not isinstance(row, dict) or set(row) - allowed or \
                    not set(spec.columns) <= set(row):
                raise ChangeSetRejected(f"unknown or missing columns for {table}")
            if tuple(row[c] for c in spec.pk) != tuple(key):
                raise ChangeSetRejected(f"a {table} row does not match its key")
            if op == "D":
                raise ChangeSetRejected(f"a {table} delete that carries a row")
        elif op != "D":
            raise ChangeSetRejected(f"a {table} change without its row")
        seq = item.get("seq", 0)
        if not _sequence_number(seq):
            raise ChangeSetRejected(f"a {table} change whose seq is not a whole number "
                                    f"from 0 to 2^63-1")
        return cls(table, tuple(key), op, seq, row)


def _plain_key(value: object) -> bool:
    """A key value is an integer or a text; whether it fits the column is the applier's
    question (it skips that row with the reason)."""
    return type(value) is int or isinstance(value, str)


def _sequence_number(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_SEQUENCE


def specs_by_name() -> dict[str, TableSpec]:
    return {s.name: s for s in site_specs()}


# -- building ---------------------------------------------------------------------------------

def with_rows(logged: Iterable[change_log.LoggedChange],
              specs: dict[str, TableSpec] | None = None) -> list[Change]:
    """The logged changes with their rows as they are now. A row logged as changed but gone
    since is left out: its delete has a later number and travels next time."""
    specs = specs_by_name() if specs is None else specs
    logged = [c for c in logged if c.table in specs]
    wanted: dict[str, list[tuple]] = {}
    for change in logged:
        if change.op != "D":
            wanted.setdefault(change.table, []).append(change.key)
    rows = {table: fetch_rows(specs[table], keys) for table, keys in wanted.items()}
    changes = []
    for c in logged:
        if c.op == "D":
            changes.append(Change(c.table, c.key, "D", c.seq, None))
        elif (row := rows[c.table].get(c.key)) is not None:
            changes.append(Change(c.table, c.key, c.op, c.seq, row))
    return changes


def fetch_rows(spec: TableSpec, keys: list[tuple]) -> dict[tuple, dict]:
    """Rows by key, as JSON-ready dicts (times keep their microseconds)."""
    found: dict[tuple, dict] = {}
    for start in range(0, len(keys), FETCH_BATCH):
        batch = keys[start:start + FETCH_BATCH]
        for values in _select(spec, batch):
            row = json.loads(_encoder.encode(dict(zip(spec.columns, values, strict=True))))
            found[spec.key_of(row)] = row
    if spec.name == USER_TABLE and found:
        _add_memberships(found)
    return found


def _select(spec: TableSpec, keys: list[tuple]) -> list[tuple]:
    if spec.model is not None:
        attnames = [f.attname for f in spec.model._meta.concrete_fields]
        return list(spec.model._base_manager.filter(pk__in=[k[0] for k in keys])
                    .values_list(*attnames))
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in spec.columns)
    match = " AND ".join(f"{quote(c)} = %s" for c in spec.pk)
    where = " OR ".join(f"({match})" for _ in keys)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {quote(spec.name)} WHERE {where}",
                       [v for key in keys for v in key])
        return cursor.fetchall()


def _add_memberships(users: dict[tuple, dict]) -> None:
    from cms.models import User

    ids = [key[0] for key in users]
    groups: dict[int, list[str]] = {i: [] for i in ids}
    for user_id, name in User.groups.through.objects.filter(user_id__in=ids) \
            .values_list("user_id", "group__name"):
        groups[user_id].append(name)
    permissions: dict[int, list[str]] = {i: [] for i in ids}
    for user_id, app, codename in User.user_permissions.through.objects.filter(
            user_id__in=ids).values_list("user_id", "permission__content_type__app_label",
                                         "permission__codename"):
        permissions[user_id].append(f"{app}.{codename}")
    for key, row in users.items():
        row[GROUPS_KEY] = sorted(groups[key[0]])
        row[PERMISSIONS_KEY] = sorted(permissions[key[0]])


def permission_ids(names: Iterable[str]) -> list[int]:
    wanted = [n.partition(".") for n in names]
    found = []
    for app, _, codename in wanted:
        pid = Permission.objects.filter(content_type__app_label=app, codename=codename) \
            .values_list("id", flat=True).first()
        if pid is not None:
            found.append(pid)
    return found


# -- the wire ---------------------------------------------------------------------------------

def to_lines(mark: int, changes: Iterable[Change]) -> Iterator[bytes]:
    yield (json.dumps({"mark": mark}) + "\n").encode()
    for change in changes:
        yield (_encoder.encode(change.as_wire()) + "\n").encode()


def from_lines(lines: Iterable[bytes], specs: dict[str, TableSpec] | None = None,
               ) -> tuple[int, list[Change]]:
    specs = specs_by_name() if specs is None else specs
    mark: int | None = None
    changes = []
    for raw in lines:
        try:
            item = json.loads(raw)
        except ValueError as error:  # also a text that is not UTF-8, a 5,000-digit number
            raise ChangeSetRejected("a line of the change set is not JSON") from error
        except RecursionError as error:
            raise ChangeSetRejected("a line of the change set nests too deeply to read") \
                from error
        if mark is None:
            if not isinstance(item, dict) or not _sequence_number(item.get("mark")):
                raise ChangeSetRejected("the change set does not start with its mark (a "
                                        "whole number from 0 to 2^63-1)")
            mark = item["mark"]
            continue
        changes.append(Change.from_wire(item, specs))
    if mark is None:
        raise ChangeSetRejected("an empty change set")
    return mark, changes
