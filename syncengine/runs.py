"""The run machinery shared by every kind of sync: one at a time, claimed once, progress saved."""

from __future__ import annotations

import json
import os
from contextlib import suppress
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from esync_site.refusal import Refusal
from syncengine.models import SyncRun


class SyncAlreadyRunning(Refusal):
    def __init__(self, run: SyncRun) -> None:
        super().__init__(f"A sync is already running ({run.get_kind_display()} #{run.id}); "
                         "wait for it to finish, then try again.")
        self.run = run


def refuse_if_running() -> None:
    active = SyncRun.objects.filter(status__in=SyncRun.ACTIVE).order_by("id").first()
    if active is not None:
        raise SyncAlreadyRunning(active)


def claim(run_id: int) -> SyncRun | None:
    """Move a queued run to running; None if another worker got it first (or it is done)."""
    claimed = SyncRun.objects.filter(id=run_id, status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.RUNNING, started_at=timezone.now(), phase="Starting")
    return SyncRun.objects.get(id=run_id) if claimed == 1 else None


PROGRESS_FIELDS = ("status", "phase", "done", "total", "bytes", "applied", "skipped", "message")


def _progress_file(run_id: int) -> Path:
    return Path(settings.ESYNC.state_dir) / "runs" / f"{run_id}.json"


def report(run: SyncRun, **fields) -> None:
    """Record progress where the screens see it at once.

    Inside the transaction that applies a copy, the run's row cannot be committed (on SQLite
    the writer holds the only write lock), so progress also goes to a small side file that
    `progress_of` overlays on the row while the run is active.
    """
    for name, value in fields.items():
        setattr(run, name, value)
    snapshot = {name: getattr(run, name) for name in PROGRESS_FIELDS}
    path = _progress_file(run.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(snapshot))
    os.replace(temp, path)
    if not connection.in_atomic_block:
        SyncRun.objects.filter(id=run.id).update(**fields)


def progress_of(run: SyncRun) -> dict:
    """The run as the screens show it: the row, with fresher side-file progress if active."""
    state = {name: getattr(run, name) for name in PROGRESS_FIELDS}
    if not run.finished:
        with suppress(FileNotFoundError, ValueError):
            state.update(json.loads(_progress_file(run.id).read_text()))
    started = run.started_at
    elapsed = (timezone.now() - started).total_seconds() if started else 0.0
    if run.ended_at and started:
        elapsed = (run.ended_at - started).total_seconds()
    remaining = None
    if state["total"] and 0 < state["done"] < state["total"] and elapsed > 0:
        remaining = elapsed * (state["total"] - state["done"]) / state["done"]
    return {**state, "id": run.id, "kind": run.kind, "elapsed_seconds": round(elapsed, 1),
            "remaining_seconds": None if remaining is None else round(remaining, 1),
            "finished": state["status"] not in SyncRun.ACTIVE}


def finish(run: SyncRun, status: str, message: str = "", **fields) -> None:
    report(run, status=status, message=message, ended_at=timezone.now(),
           phase="Synchronization is Complete" if status == SyncRun.Status.SUCCESS
           else run.phase, **fields)
    if not connection.in_atomic_block:  # the row now holds the end state
        _progress_file(run.id).unlink(missing_ok=True)


def close_interrupted() -> int:
    """Mark runs left running by a stopped worker as failed; returns how many."""
    interrupted = list(SyncRun.objects.filter(status=SyncRun.Status.RUNNING))
    for run in interrupted:
        finish(run, SyncRun.Status.FAILED,
               message="Interrupted: the worker stopped while this run was going on; "
                       "start the sync again.")
    return len(interrupted)
