"""Sync logs: the manual's three views of past runs, and a run's detail.

A profile's last run, a relationship's last run, and all runs newest first; each opens a
detail with the rows the run skipped (table, stage, error, remote key, local key, side) and
the conflicts it settled. Plain dicts, the same for the screens and `esync logs / log`.
"""

from __future__ import annotations

from collections.abc import Iterable

from esync_site.refusal import Refusal
from esync_site.whole_numbers import whole_number
from syncengine.models import ConflictRecord, SyncRun


def _when(moment) -> str | None:
    return moment.isoformat() if moment else None


def describe_run(run: SyncRun) -> dict:
    """One line of the Synchronization Logs."""
    return {
        "id": run.id, "type": run.kind, "type_label": run.get_kind_display(),
        "direction": run.direction, "start": _when(run.started_at or run.created_at),
        "end": _when(run.ended_at), "user": run.user_name, "applied": run.applied,
        "skipped": run.skipped, "total": run.total, "bytes": run.bytes, "status": run.status,
        "status_label": run.get_status_display(), "message": run.message,
        "profile": run.profile.name if run.profile else None,
        "relationship": run.relationship_id,
        "remote_name": run.relationship.remote_name if run.relationship else None,
        "scheduled_for": _when(run.scheduled_for), "started_late": late_note(run),
    }


def late_note(run: SyncRun) -> str:
    """"Started late: ..." for a scheduled run that did, else empty."""
    return f"Started late: {run.late_reason}." if run.late_reason else ""


def list_runs(relationship=None) -> list[SyncRun]:
    """All runs, newest first (of one relationship if given)."""
    runs = SyncRun.objects.select_related("profile", "relationship").order_by("-id")
    if relationship is not None:
        runs = runs.filter(relationship=relationship)
    return list(runs)


def last_run_of_profile(profile) -> SyncRun | None:
    return SyncRun.objects.filter(profile=profile).order_by("-id").first()


def last_run_of_relationship(relationship) -> SyncRun | None:
    return SyncRun.objects.filter(relationship=relationship).order_by("-id").first()


def last_runs_by_profile(profiles: Iterable) -> dict[int, SyncRun]:
    """Each profile's most recent run, in one query."""
    last: dict[int, SyncRun] = {}
    for run in SyncRun.objects.filter(profile__in=list(profiles)).order_by("id"):
        last[run.profile_id] = run
    return last


def find_run(run_id: int | str) -> SyncRun:
    run, number = None, whole_number(str(run_id))
    if number is not None:
        run = SyncRun.objects.select_related("profile", "relationship").filter(
            id=number).first()
    if run is None:
        raise Refusal(f"There is no run {run_id}; see `esync logs`.")
    return run


def describe_conflict(record: ConflictRecord) -> dict:
    return {
        "id": record.id, "run": record.run_id, "relationship": record.relationship_id,
        "table": record.table_name, "key": record.row_key, "policy": record.policy,
        "winner": record.winner_side, "when": _when(record.created_at),
        "restored_at": _when(record.restored_at), "restored_by": record.restored_by,
    }


def run_detail(run: SyncRun) -> dict:
    """A run's log with its skipped rows and its conflicts."""
    return {
        **describe_run(run),
        "skipped_rows": [
            {"table": s.table_name, "stage": s.stage, "error": s.error,
             "remote_key": s.remote_key, "local_key": s.local_key, "side": s.side}
            for s in run.skipped_rows.all()],
        "conflicts": [describe_conflict(c) for c in run.conflicts.order_by("id")],
    }
