"""What the change-tracked sync knows about each synced table: keys, columns, references.

A `TableSpec` describes one table plainly enough for the change log (its triggers), the change
sets (reading rows) and the applier (writing them): our own CMS tables come from their Django
models; registered custom tables from the database's own catalogue (see custom_tables).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import connection, models

USER_TABLE = "cms_user"
# Users carry their group and permission memberships by name inside the user's row.
GROUPS_KEY = "esync:groups"
PERMISSIONS_KEY = "esync:permissions"


@dataclass(frozen=True)
class ForeignKey:
    column: str
    target_table: str
    target_column: str
    nullable: bool


@dataclass(frozen=True)
class NaturalName:
    """A name the manual's collision rule applies to: unique within `scope` columns."""

    kind: str                  # user | folder | metadata | message (the review screen's tabs)
    column: str                # the name that gets the id appended
    scope: tuple[str, ...]     # columns that must also match (a folder's parent)
    created_column: str        # which of two clashing rows is the more recent one


@dataclass
class TableSpec:
    name: str
    pk: tuple[str, ...]
    columns: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    natural_name: NaturalName | None = None
    model: type[models.Model] | None = None
    # Value converters per column (JSON value -> database value); absent means as-is.
    converters: dict[str, Callable[[object], object]] = field(default_factory=dict)
    source: str = "site"       # "site" or a custom ODBC data source's name
    # Columns whose change alone is not a change to sync (each server's own bookkeeping).
    quiet_columns: tuple[str, ...] = ()

    def key_of(self, row: dict) -> tuple:
        return tuple(row[c] for c in self.pk)

    @property
    def self_reference(self) -> ForeignKey | None:
        return next((fk for fk in self.foreign_keys if fk.target_table == self.name), None)


NATURAL_NAMES = {
    "cms_user": NaturalName("user", "username", (), "date_joined"),
    "cms_folder": NaturalName("folder", "name", ("parent_id",), "created_at"),
    "cms_metadatadefinition": NaturalName("metadata", "name", (), "created_at"),
    "cms_message": NaturalName("message", "title", (), "created_at"),
}

# A sign-in updates the user's last_login on the server signed in to: syncing that would
# make every user who signs in on both servers a conflict, and could let an old password
# win. The column still travels whenever the user's row changes for a real reason.
QUIET_COLUMNS = {"cms_user": ("last_login",)}

CONVERTED_TYPES = {"DateTimeField", "DateField", "TimeField", "DecimalField", "UUIDField",
                   "JSONField", "BinaryField"}


def _converter(f: models.Field) -> Callable[[object], object]:
    return lambda v: None if v is None else f.get_db_prep_save(f.to_python(v), connection)


def spec_for_model(model: type[models.Model]) -> TableSpec:
    fields = model._meta.concrete_fields
    return TableSpec(
        name=model._meta.db_table,
        pk=(model._meta.pk.column,),
        columns=tuple(f.column for f in fields),
        foreign_keys=tuple(
            ForeignKey(f.column, f.related_model._meta.db_table,
                       f.target_field.column, f.null)
            for f in fields if f.is_relation),
        natural_name=NATURAL_NAMES.get(model._meta.db_table),
        quiet_columns=QUIET_COLUMNS.get(model._meta.db_table, ()),
        model=model,
        converters={f.column: _converter(f) for f in fields
                    if f.get_internal_type() in CONVERTED_TYPES},
    )


def site_specs() -> list[TableSpec]:
    """Every synced table of the site database, ours then the registered custom ones."""
    from relationships.id_ranges import ranged_models
    from syncengine.custom_tables import site_custom_specs

    return [spec_for_model(m) for m in ranged_models()] + site_custom_specs()


def membership_tables() -> list[tuple[str, str]]:
    """(table, user column) of the user membership tables: a change there is a user change."""
    from cms.models import User

    return [(User.groups.through._meta.db_table, "user_id"),
            (User.user_permissions.through._meta.db_table, "user_id")]


def in_dependency_order(specs: Iterable[TableSpec]) -> list[TableSpec]:
    """Parents before children (a table after every table its foreign keys point to)."""
    by_name = {s.name: s for s in specs}
    ordered: list[TableSpec] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(spec: TableSpec) -> None:
        if spec.name in placed or spec.name in visiting:
            return
        visiting.add(spec.name)
        for fk in spec.foreign_keys:
            parent = by_name.get(fk.target_table)
            if parent is not None and parent.name != spec.name:
                place(parent)
        visiting.discard(spec.name)
        placed.add(spec.name)
        ordered.append(spec)

    for spec in sorted(by_name.values(), key=lambda s: s.name):
        place(spec)
    return ordered
