"""Checking a peer's rows before they are applied: every value against the column it is for.

A trusted peer may still send what no column here should hold: `'yes'` in a boolean, a
100,000-character name for a 200-character field, an integer past 64 bits, a key that is
negative or lies in this server's own ID range. Django does not check a row on save, and the
databases differ (SQLite stores almost anything; PostgreSQL refuses, and a driver may raise
before the database is asked), so the rules follow the model's fields and are the same on
both backends. `screen` splits a change set into the changes that may be applied and the
rows refused, each with the reason the sync log shows; the rest of the batch applies.
Registered custom tables are checked against their column types from the catalogue.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import DecimalValidator
from django.db import connection, models
from django.db.backends.base.operations import BaseDatabaseOperations

from syncengine.change_sets import Change
from syncengine.tracked_tables import GROUPS_KEY, PERMISSIONS_KEY, USER_TABLE, TableSpec

INT64 = (-(2**63), 2**63 - 1)
MAX_KEY = 2**63 - 1
MAX_JSON_DEPTH = 64          # nesting of one JSON value (a JSONField, a custom json column)
MAX_MEMBERSHIPS = 1000       # group or permission names carried in one user's row
MAX_KEY_TEXT = 1000          # characters of a text key (custom tables)
SHOWN = 40                   # characters of a refused value quoted in its reason
# PostgreSQL's widths, applied on SQLite too: a row one backend would refuse is refused on
# both, so a mixed pair of servers agrees on what was skipped.
INTEGER_RANGES = BaseDatabaseOperations.integer_field_ranges
AUTO_FIELDS = {"AutoField", "BigAutoField", "SmallAutoField"}
TEXT_FIELDS = (models.CharField, models.TextField, models.FileField, models.FilePathField,
               models.GenericIPAddressField)
CONVERTED = (models.DateTimeField, models.DateField, models.TimeField, models.DurationField,
             models.DecimalField, models.UUIDField, models.BinaryField)


@dataclass(frozen=True)
class RefusedRow:
    """A change left out before applying. `key_sound` says whether its key may be looked up
    here (a key past 64 bits cannot even be asked about)."""

    change: Change
    reason: str
    key_sound: bool


def shown(value: object) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else \
        f"an integer of {len(str(abs(value)))} digits"
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


# -- one value against one model field --------------------------------------------------------

def check_value(field: models.Field, value: object) -> str | None:
    """Why `value` cannot go into `field` (as a change set carries it), or None."""
    if value is None:
        return None if field.null else "is empty, and the column does not allow that"
    if field.is_relation:
        return _check_plain(field.target_field, value, reference=True)
    return _check_plain(field, value)


def _check_plain(field: models.Field, value: object, reference: bool = False) -> str | None:
    kind = field.get_internal_type()
    if isinstance(field, models.BooleanField):
        return None if type(value) is bool else f"{shown(value)} is not true or false"
    if kind in INTEGER_RANGES:
        if type(value) is not int:
            return f"{shown(value)} is not a whole number"
        low, high = INTEGER_RANGES[kind]
        if kind in AUTO_FIELDS or reference and field.primary_key:
            low = 1  # keys are allocated from 1: nothing here has key 0 or below
        if not low <= value <= high:
            return f"{shown(value)} is outside {low:,}..{high:,}"
        return _check_choice(field, value)
    if isinstance(field, models.FloatField):
        if type(value) not in (int, float) or isinstance(value, float) and \
                not math.isfinite(value):
            return f"{shown(value)} is not a finite number"
        return None
    if isinstance(field, models.JSONField):
        return f"nests deeper than {MAX_JSON_DEPTH} levels" if \
            json_deeper_than(value, MAX_JSON_DEPTH) else None
    if isinstance(field, CONVERTED):
        return _check_converted(field, value)
    if isinstance(field, TEXT_FIELDS):
        if not isinstance(value, str):
            return f"{shown(value)} is not text"
        if "\x00" in value:
            return "contains a NUL character"
        if field.max_length is not None and len(value) > field.max_length:
            return f"is {len(value):,} characters long, more than its {field.max_length:,}"
        return _check_choice(field, value)
    return check_scalar(value)


def _check_choice(field: models.Field, value: object) -> str | None:
    if not field.choices or value == "" and field.blank:
        return None
    allowed = [choice for choice, _ in field.flatchoices]
    return None if value in allowed else \
        f"{shown(value)} is not one of {', '.join(repr(c) for c in allowed[:10])}"


def _check_converted(field: models.Field, value: object) -> str | None:
    """Times, decimals, UUIDs travel as text: it must convert as the applier converts it."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return f"{shown(value)} is not a {field.get_internal_type()[:-5].lower()} value"
    if isinstance(field, models.UUIDField) and isinstance(value, str):
        try:
            uuid.UUID(value)
        except ValueError:
            return f"{shown(value)} is not a UUID"
    try:
        python = field.to_python(value)
        if isinstance(field, models.DecimalField):
            if not python.is_finite():
                return f"{shown(value)} is not a finite number"
            DecimalValidator(field.max_digits, field.decimal_places)(python)
        field.get_db_prep_save(python, connection)
    except (ValidationError, ValueError, TypeError, OverflowError, ArithmeticError):
        return f"{shown(value)} is not a valid {field.get_internal_type()[:-5].lower()}"
    return None


def check_scalar(value: object) -> str | None:
    """For a column of no known type: a plain value the database driver can take."""
    if type(value) is int and not INT64[0] <= value <= INT64[1]:
        return f"{shown(value)} does not fit in 64 bits"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{shown(value)} is not a finite number"
    if isinstance(value, dict | list) and json_deeper_than(value, MAX_JSON_DEPTH):
        return f"nests deeper than {MAX_JSON_DEPTH} levels"
    return None


def json_deeper_than(value: object, limit: int) -> bool:
    """Whether lists and objects in `value` nest more than `limit` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else \
            item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


# -- a row ------------------------------------------------------------------------------------

def check_row(model: type[models.Model], row: dict) -> list[str]:
    """Why `row` (a change set's row of `model`'s table) cannot be applied; empty if it can."""
    reasons = []
    for field in model._meta.concrete_fields:
        if field.column not in row:
            reasons.append(f"{field.column} is missing")
        elif (reason := check_value(field, row[field.column])) is not None:
            reasons.append(f"{field.column} {reason}")
    if model._meta.db_table == USER_TABLE:
        reasons += _check_memberships(row)
    return reasons


def _check_memberships(row: dict) -> list[str]:
    reasons = []
    for name, longest in ((GROUPS_KEY, 150), (PERMISSIONS_KEY, 255)):
        names = row.get(name, [])
        if not isinstance(names, list) or len(names) > MAX_MEMBERSHIPS or any(
                not isinstance(n, str) or not n or len(n) > longest for n in names):
            reasons.append(f"{name} is not a list of at most {MAX_MEMBERSHIPS} names of up "
                           f"to {longest} characters")
    return reasons


def check_key(spec: TableSpec, key: tuple) -> str | None:
    """Why `key` cannot be a key of `spec`'s table, or None. Our tables' keys are 1..2^63-1."""
    if spec.model is not None:
        reason = _check_plain(spec.model._meta.pk, key[0]) if len(key) == 1 else "is not one value"
        return None if reason is None else f"key {reason}"
    for value in key:
        if isinstance(value, str):
            if len(value) > MAX_KEY_TEXT or "\x00" in value:
                return f"key {shown(value)} is not a usable text key"
        elif type(value) is not int or not INT64[0] <= value <= INT64[1]:
            return f"key {shown(value)} is neither text nor a 64-bit whole number"
    return None


# -- custom tables, by their declared column types ---------------------------------------------

def check_shaped_row(types: dict[str, str], columns: Iterable[str], row: dict,
                     vendor: str) -> list[str]:
    """Why `row` cannot go into a custom table whose columns have the declared `types`
    (the catalogue's words: PostgreSQL's format_type, or SQLite's declared type)."""
    reasons = []
    for column in columns:
        reason = _check_declared(types.get(column, "").strip().lower(), row.get(column), vendor)
        if reason is not None:
            reasons.append(f"{column} {reason}")
    return reasons


PG_INTEGERS = {"smallint": 16, "int2": 16, "integer": 32, "int": 32, "int4": 32,
               "bigint": 64, "int8": 64}


def _check_declared(declared: str, value: object, vendor: str) -> str | None:
    if value is None:
        return None
    if declared in ("boolean", "bool"):
        # SQLite keeps booleans as 0 and 1; PostgreSQL's arrive as true and false.
        if type(value) is bool or vendor == "sqlite" and type(value) is int and value in (0, 1):
            return None
        return f"{shown(value)} is not true or false"
    bits = PG_INTEGERS.get(declared, 0) if vendor == "postgresql" else 0
    if bits and type(value) is not int:
        return f"{shown(value)} is not a whole number"
    if bits and not -(2**(bits - 1)) <= value < 2**(bits - 1):
        return f"{shown(value)} does not fit in {declared}"
    if vendor == "postgresql" and isinstance(value, str):
        limit = _declared_length(declared)
        if limit is not None and len(value) > limit:
            return f"is {len(value):,} characters long, more than its {limit:,}"
    return check_scalar(value)


def _declared_length(declared: str) -> int | None:
    for prefix in ("character varying(", "varchar(", "character(", "char(", "nvarchar(",
                   "nchar("):
        if declared.startswith(prefix) and declared.endswith(")"):
            inside = declared[len(prefix):-1]
            return int(inside) if inside.isdigit() else None
    return None


# -- a change set -----------------------------------------------------------------------------

def screen(changes: list[Change], specs: dict[str, TableSpec], *,
           types: dict[str, dict[str, str]] | None = None, vendor: str | None = None,
           ) -> tuple[list[Change], list[RefusedRow]]:
    """(the changes that may be applied, the rows refused with their reasons).

    Custom tables are checked against their declared column types: those of this site's
    database, or `types` (table -> column -> type) of another `vendor`'s (an ODBC source)."""
    accepted: list[Change] = []
    refused: list[RefusedRow] = []
    custom_types: dict[str, dict[str, str]] = dict(types or {})
    vendor = vendor or connection.vendor
    for change in changes:
        spec = specs.get(change.table)
        if spec is None:  # not synced here: the applier leaves it out
            accepted.append(change)
            continue
        reason = check_key(spec, change.key)
        if reason is not None:
            refused.append(RefusedRow(change, reason, key_sound=False))
            continue
        if not change.is_delete:
            if spec.model is not None:
                reasons = check_row(spec.model, change.row)
            else:
                if spec.name not in custom_types:
                    custom_types[spec.name] = _custom_types(spec)
                reasons = check_shaped_row(custom_types[spec.name], spec.columns, change.row,
                                           vendor)
            if reasons:
                refused.append(RefusedRow(change, "; ".join(reasons), key_sound=True))
                continue
        accepted.append(change)
    outside, foreign = _outside_own_range(accepted, specs)
    return [c for c in accepted if id(c) not in outside], refused + foreign


def _custom_types(spec: TableSpec) -> dict[str, str]:
    from syncengine.custom_tables import describe_site_table

    shape = describe_site_table(spec.name)
    return shape.types if shape is not None else {}


def _outside_own_range(changes: list[Change], specs: dict[str, TableSpec],
                       ) -> tuple[set[int], list[RefusedRow]]:
    """New rows whose keys lie in this server's own ID range beyond what it has handed out.

    Only this server creates rows in its range: a peer's new row there would collide with a
    key this server allocates later (PostgreSQL's sequence does not skip it). A row already
    here may be updated; a new one inside the range but below the last key handed out may be
    one of ours the peer still has (deleted here meanwhile), and is let through.
    """
    from relationships.id_ranges import RangedAutoField, current_multiplier, range_for

    first, last = range_for(current_multiplier())
    candidates: dict[str, list[Change]] = {}
    for change in changes:
        spec = specs.get(change.table)
        if change.is_delete or spec is None or spec.model is None or \
                not isinstance(spec.model._meta.pk, RangedAutoField):
            continue
        if first <= change.key[0] <= last:
            candidates.setdefault(spec.name, []).append(change)
    left_out: set[int] = set()
    refused: list[RefusedRow] = []
    for table, arriving in candidates.items():
        model = specs[table].model
        here = set(model._base_manager.filter(pk__in=[c.key[0] for c in arriving])
                   .values_list("pk", flat=True))
        highest = handed_out(table, first, last)
        for change in arriving:
            if change.key[0] not in here and change.key[0] > highest:
                left_out.add(id(change))
                refused.append(RefusedRow(change, (
                    f"key {change.key[0]:,} lies in this server's own ID range ({first:,}–"
                    f"{last:,}), beyond the last key it has handed out ({highest:,}): only "
                    "this server creates rows there"), key_sound=True))
    return left_out, refused


def handed_out(table: str, first: int, last: int) -> int:
    """The highest key of this server's range [first, last] that `table`'s allocator has
    handed out (first - 1 if none)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(id) FROM {quote(table)} WHERE id >= %s AND id <= %s",
                       [first, last])
        highest = cursor.fetchone()[0] or first - 1
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [quote(table)])
            sequence = cursor.fetchone()[0]
            if sequence:
                cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
                value, called = cursor.fetchone()
                position = value if called else value - 1
                if first - 1 <= position <= last:
                    highest = max(highest, position)
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT last_id FROM relationships_idallocator "
                           "WHERE table_name = %s AND range_start = %s", [table, first - 1])
            found = cursor.fetchone()
            if found is not None:
                highest = max(highest, min(found[0], last))
    return highest
