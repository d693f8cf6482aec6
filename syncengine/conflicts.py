"""The conflict archive: rows changed on both sides, which version won, and bringing the
losing version back.

Restoring writes the losing version here as if an administrator had made the edit (origin
""), so the next run carries it to the peer like any other local change. A record is
restored at most once, and only while its table is still synced.
"""

from __future__ import annotations

from django.db import DatabaseError, transaction
from django.utils import timezone

from esync_site.refusal import Refusal
from esync_site.whole_numbers import whole_number
from syncengine.apply_changes import ApplyResult, apply_changes
from syncengine.change_sets import Change, specs_by_name
from syncengine.models import ConflictRecord


class RestoreRefused(Refusal):
    pass


def list_conflicts(relationship=None) -> list[ConflictRecord]:
    """Conflict records, newest first (of one relationship if given)."""
    records = ConflictRecord.objects.select_related("run").order_by("-id")
    if relationship is not None:
        records = records.filter(relationship=relationship)
    return list(records)


def find_conflict(record_id: int | str) -> ConflictRecord:
    record, number = None, whole_number(str(record_id))
    if number is not None:
        record = ConflictRecord.objects.filter(id=number).first()
    if record is None:
        raise RestoreRefused(f"There is no conflict record {record_id}; see `esync conflicts`.")
    return record


def side_by_side(record: ConflictRecord) -> list[tuple[str, object, object]]:
    """(column, local value, remote value) of both kept versions; "(deleted)" for a deletion."""
    local, remote = record.local_version, record.remote_version
    columns = list(dict.fromkeys([*(local or {}), *(remote or {})]))
    deleted = "(deleted)"
    return [(c, deleted if local is None else local.get(c), deleted if remote is None
             else remote.get(c)) for c in columns]


def restore(record: ConflictRecord, user_name: str) -> ApplyResult:
    """Write the losing version of `record` back here (delete the row if it lost as a
    deletion) as a local change; refuses a second restore or a table no longer synced."""
    if record.restored_at is not None:
        raise RestoreRefused(f"Conflict {record.id} was already restored by "
                             f"{record.restored_by or 'someone'} on "
                             f"{record.restored_at:%Y-%m-%d %H:%M}.")
    specs = specs_by_name()
    spec = specs.get(record.table_name)
    if spec is None:
        raise RestoreRefused(f"The table {record.table_name} is no longer synchronized; its "
                             "conflict cannot be restored.")
    losing = record.losing_version
    winning = record.local_version if record.winner_side == "local" else record.remote_version
    # A deletion lost: the row's key comes from the version that won.
    keyed = losing if losing is not None else winning
    if keyed is None or set(spec.pk) - set(keyed) or (
            losing is not None and set(spec.columns) - set(losing)):
        raise RestoreRefused(f"The kept versions of conflict {record.id} no longer match the "
                             f"columns of {record.table_name}; it cannot be restored.")
    change = Change(record.table_name, spec.key_of(keyed), "D" if losing is None else "U", 0,
                    losing)
    try:
        with transaction.atomic():
            # Claim first: of two restores at once, only one gets the row.
            claimed = ConflictRecord.objects.filter(
                id=record.id, restored_at__isnull=True).update(
                restored_at=timezone.now(), restored_by=user_name)
            if claimed != 1:
                raise RestoreRefused(f"Conflict {record.id} was already restored.")
            result = apply_changes([change], origin="", specs=specs)
            if result.skipped:
                raise RestoreRefused(f"The {record.loser_side} version of {record.table_name} "
                                     f"{record.row_key} could not be written back: "
                                     f"{result.skipped[0].error}")
            if result.collisions:
                from syncengine.db_sync import record_collisions

                record_collisions(result.collisions)
    except DatabaseError as error:
        raise RestoreRefused(f"The {record.loser_side} version of {record.table_name} "
                             f"{record.row_key} could not be written back: {error}") from error
    record.refresh_from_db()
    return result
