"""The run machinery shared by every kind of sync: one at a time, claimed once, progress saved.

One sync runs at a time per instance. "Sync now" while a run is queued or running is refused;
a scheduled run that falls due meanwhile is queued and waits. A worker's task starts the oldest
queued run (`claim_next`), and when it ends starts the next one itself, until none waits;
`dispatch_next` hands the queue to a worker when nothing runs (a run queued, a worker started).
Deciding who runs happens under `exclusive()`, so two workers can never both start a run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from esync_site.refusal import Refusal
from syncengine.file_transfer import shown_name
from syncengine.file_versions import prune_as_configured
from syncengine.models import SyncRun


class SyncAlreadyRunning(Refusal):
    def __init__(self, run: SyncRun) -> None:
        super().__init__(f"A sync is already running ({run.get_kind_display()} #{run.id}); "
                         "wait for it to finish, then try again.")
        self.run = run


RUN_LOCK_KEY = 873201  # PostgreSQL advisory lock: "deciding which sync runs"


@contextmanager
def exclusive() -> Iterator[None]:
    """A transaction no other process is inside at the same time: on SQLite every write
    transaction already is (it begins IMMEDIATE, taking the write lock); PostgreSQL takes a
    transaction-level advisory lock."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RUN_LOCK_KEY])
        yield


def refuse_if_running() -> None:
    """Call inside `exclusive()`, then create the run in the same transaction."""
    active = SyncRun.objects.filter(status__in=SyncRun.ACTIVE).order_by("id").first()
    if active is not None:
        raise SyncAlreadyRunning(active)


def claim_next(worker: str = "") -> SyncRun | None:
    """Start the oldest queued run, unless a run is running: then every queued run says it
    waits for that one, and whoever finishes it starts the next. The started run, or None."""
    with exclusive():
        running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).order_by("id").first()
        if running is not None:
            waiting = (f"Waiting for {running.get_kind_display().lower()} #{running.id} to "
                       "finish")
            SyncRun.objects.filter(status=SyncRun.Status.QUEUED).exclude(phase=waiting).update(
                phase=waiting)
            return None
        run = SyncRun.objects.filter(status=SyncRun.Status.QUEUED).order_by("id").first()
        if run is None:
            return None
        now = timezone.now()
        SyncRun.objects.filter(id=run.id).update(
            status=SyncRun.Status.RUNNING, started_at=now, phase="Starting",
            claimed_by=worker, late_reason=run.late_reason or _waited_for(run, now))
    return SyncRun.objects.get(id=run.id)


LATE_AFTER = 60  # seconds after its scheduled start: a run that starts later says why


def _waited_for(run: SyncRun, now) -> str:
    if run.scheduled_for is None or (now - run.scheduled_for).total_seconds() <= LATE_AFTER:
        return ""
    before = SyncRun.objects.filter(ended_at__isnull=False, started_at__isnull=False).exclude(
        id=run.id).order_by("-ended_at").first()
    if before is not None and before.ended_at > run.scheduled_for:
        return waited_for(run.scheduled_for, before)
    return f"{_due(run.scheduled_for)} and waited for the worker"


def _due(moment) -> str:
    return f"it was due at {timezone.localtime(moment):%Y-%m-%d %H:%M}"


def waited_for(due, busy: SyncRun) -> str:
    """A late scheduled run's reason when another run kept it waiting."""
    return f"{_due(due)} and waited for {busy.get_kind_display().lower()} #{busy.id} to finish"


def dispatch_next() -> int | None:
    """Hand the queue to a worker if nothing is running: the oldest queued run's id, or None."""
    if SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists():
        return None
    queued = SyncRun.objects.filter(status=SyncRun.Status.QUEUED).order_by("id").first()
    if queued is None:
        return None
    _send(queued.id)
    return queued.id


def _send(run_id: int) -> None:
    from syncengine.tasks import run_sync

    run_sync.delay(run_id)


PROGRESS_FIELDS = ("status", "phase", "done", "total", "bytes", "bytes_total", "applied",
                   "skipped", "message")
PHASE_LENGTH = SyncRun._meta.get_field("phase").max_length
# An item (a row, a file) costs about as much time as moving this many bytes, besides its own.
ITEM_COST_BYTES = 64 * 1024


def _progress_file(run_id: int) -> Path:
    return Path(settings.ESYNC.state_dir) / "runs" / f"{run_id}.json"


def report(run: SyncRun, **fields) -> None:
    """Record progress where the screens see it at once.

    Inside the transaction that applies a copy, the run's row cannot be committed (on SQLite
    the writer holds the only write lock), so progress also goes to a small side file that
    `progress_of` overlays on the row while the run is active.
    """
    # The phase and message may name a file: any name (a database holds no lone surrogate),
    # any length.
    for name in ("phase", "message"):
        if isinstance(fields.get(name), str):
            fields[name] = shown_name(fields[name])
    if len(fields.get("phase") or "") > PHASE_LENGTH:
        fields["phase"] = fields["phase"][:PHASE_LENGTH - 1] + "…"
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
    done = fraction_done(state)
    if done is not None and elapsed > 0:
        remaining = elapsed * (1 - done) / done
    return {**state, "id": run.id, "kind": run.kind, "elapsed_seconds": round(elapsed, 1),
            "remaining_seconds": None if remaining is None else round(remaining, 1),
            "finished": state["status"] not in SyncRun.ACTIVE}


def fraction_done(state: dict) -> float | None:
    """How much of the run's work is done, between 0 and 1 (None: unknown or not under way).
    By items; where the bytes to move are known too, by both, so that a big file going first
    counts for its size (by items alone, one huge file of 100,000 seemed 0.001% of the work)."""
    total, done = state["total"], state["done"]
    if not total or not 0 < done < total:
        return None
    if state.get("bytes_total"):
        return ((done * ITEM_COST_BYTES + min(state["bytes"], state["bytes_total"]))
                / (total * ITEM_COST_BYTES + state["bytes_total"]))
    return done / total


def finish(run: SyncRun, status: str, message: str = "", **fields) -> None:
    report(run, status=status, message=message, ended_at=timezone.now(),
           phase="Synchronization is Complete" if status == SyncRun.Status.SUCCESS
           else run.phase, **fields)
    if not connection.in_atomic_block:  # the row now holds the end state
        _progress_file(run.id).unlink(missing_ok=True)
    # Once per run, after its end is recorded: the kept versions past esync.toml's [versions]
    # limits go. A disk that refuses is logged there and never fails the run.
    prune_as_configured()


def worker_identity(node: str) -> str:
    """What a run records as its claimer: the Celery node name and this process, so a worker
    that restarts under the same name can tell its dead predecessor's runs from live ones."""
    return f"{node}#{os.getpid()}"


def _claimer_gone(claimed_by: str, host: str) -> bool:
    """Whether the worker process that claimed a run, on `host`, is no longer alive."""
    node, _, pid = claimed_by.rpartition("#")
    if not claimed_by or not pid.isdigit():
        return True  # claimed before claimers were recorded
    if node.rpartition("@")[2] != host:
        return False  # another machine's worker: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def close_interrupted(worker: str | None = None) -> int:
    """Mark runs left running by a stopped worker as failed; returns how many. With `worker`
    (a starting worker's node name, NAME@HOST), only the runs whose worker process on this
    host is gone — whatever its name: a worker that died for good must not hold the queue —
    and never a live worker's."""
    interrupted = list(SyncRun.objects.filter(status=SyncRun.Status.RUNNING))
    if worker is not None:
        host = worker.rpartition("@")[2]
        interrupted = [run for run in interrupted if _claimer_gone(run.claimed_by, host)]
    for run in interrupted:
        finish(run, SyncRun.Status.FAILED,
               message="Interrupted: the worker stopped while this run was going on; "
                       "start the sync again.")
    return len(interrupted)
