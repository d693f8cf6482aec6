"""The worker's entry for every run: claim it, do the kind of sync it is, record how it ended,
then the next queued one."""

from __future__ import annotations

from esync_site.refusal import Refusal
from relationships import announcements
from syncengine import backup, resource_files, runs, table_copy
from syncengine.change_sets import ChangeSetRejected
from syncengine.file_transfer import FileRefused
from syncengine.models import SyncRun
from syncengine.peer_errors import PeerError

# Failures with a message meant for the administrator; anything else is a bug, said as such.
EXPECTED_FAILURES = (PeerError, Refusal, table_copy.StreamRejected, ChangeSetRejected,
                     resource_files.ResourceStreamRejected, backup.BackupFailed,
                     FileRefused)


def execute(run_id: int, worker: str = "") -> None:
    """A worker's turn: start the oldest queued run (normally `run_id`, unless older ones
    wait) and, as each ends, the next, while nothing else runs. One task drains the queue
    without a trip through the broker between runs."""
    try:
        claimer = runs.worker_identity(worker)
        while (run := runs.claim_next(claimer)) is not None:
            _run(run)
    finally:
        runs.dispatch_next()  # after a bug cut the loop short, the queue is handed on


def _run(run: SyncRun) -> None:
    opened = False
    try:
        if run.relationship is not None:
            # The peer accepts this run's writes only once it knows the run has started.
            announcements.announce(run.relationship, run)
            opened = True
        if run.kind == SyncRun.Kind.FULL_STAGE:
            from relationships.initial_sync import run_initial_sync

            run_initial_sync(run)
        elif run.kind in (SyncRun.Kind.FULL_SYNC, SyncRun.Kind.FILE_SYNC):
            from syncengine.profile_sync import run_profile

            run_profile(run)
        elif run.kind in (SyncRun.Kind.CONTENT_SYNC, SyncRun.Kind.FOLDER_SYNC):
            from syncengine.content_sync import run_content_sync

            run_content_sync(run)
        else:
            raise Refusal(f"{run.get_kind_display()} runs are not yet supported.")
    except EXPECTED_FAILURES as error:
        runs.finish(run, SyncRun.Status.FAILED, message=str(error))
    except Exception as error:  # the run must never stay "running" because of a bug
        runs.finish(run, SyncRun.Status.FAILED,
                    message=f"The {run.get_kind_display().lower()} failed unexpectedly: "
                            f"{error!r}")
        raise
    finally:
        if opened:
            announcements.end_run(run.relationship, run)
