"""Running a profile: "Sync now", `esync sync PROFILE`, and (later) its schedule.

One sync at a time per instance: a request while another run is queued or running is
refused. The worker claims the run, syncs the database changes and the resource folders'
changed files, and ends it "success", or "warning" when rows were skipped (never silently).
"""

from __future__ import annotations

from django.db import transaction

from esync_site.refusal import Refusal
from syncengine import runs
from syncengine.file_transfer import shown_name
from syncengine.models import SyncRun


class ProfileSyncRefused(Refusal):
    pass


def refuse_unless_ready(profile) -> None:
    relationship = profile.relationship
    if not relationship.is_staged:
        raise ProfileSyncRefused(
            f"The relationship with {relationship.remote_name} has not been initialized: run "
            "its initial sync first (Start Initial Sync, or `esync initial-sync`).")
    from django.conf import settings

    if not settings.ESYNC.can_initiate:
        raise ProfileSyncRefused("This instance may not start a sync (can_initiate is false "
                                 "in esync.toml): start it from the other server.")


def start_profile_sync(profile, user=None, files: list[str] | None = None) -> SyncRun:
    """Queue a FullSync run of `profile` for the worker; with `files`, a FileSync run of just
    those site root files (the manual's "Synchronize files": local newer wins)."""
    refuse_unless_ready(profile)
    if files is not None:
        files = checked_selection(profile, files)
    from syncengine.tasks import run_sync

    with runs.exclusive():
        runs.refuse_if_running()
        run = SyncRun.objects.create(
            kind=SyncRun.Kind.FULL_SYNC if files is None else SyncRun.Kind.FILE_SYNC,
            relationship=profile.relationship, profile=profile,
            direction=profile.direction if files is None else "upload",
            selected_paths=files or [],
            user=user if getattr(user, "pk", None) else None,
            user_name=getattr(user, "username", "") or "command line",
            phase="Waiting for the worker")
        transaction.on_commit(lambda: run_sync.delay(run.id))
    return run


def checked_selection(profile, files: list[str]) -> list[str]:
    """The ticked files, refused unless each is a file here the profile synchronizes."""
    from syncengine.file_sync import file_items, site_tree

    if not files:
        raise ProfileSyncRefused("Tick at least one file to synchronize.")
    if not file_items(profile):
        raise ProfileSyncRefused("This profile synchronizes no files.")
    known = set(site_tree(profile))
    unknown = [path for path in files if path not in known]
    if unknown:
        raise ProfileSyncRefused(
            f"Not files this profile synchronizes on this server: {', '.join(unknown[:10])}")
    return sorted(set(files))


def run_profile(run: SyncRun) -> None:
    from syncengine import custom_tables, db_sync, file_sync
    from syncengine.privileged_changes import held_note

    profile = run.profile
    if profile is None:
        raise ProfileSyncRefused("The profile of this run was deleted before it started.")
    refuse_unless_ready(profile)

    def progress(**fields) -> None:
        runs.report(run, **fields)

    client = db_sync.client_for(profile.relationship, run)
    if run.kind == SyncRun.Kind.FILE_SYNC:
        files = file_sync.sync_files(run, profile, progress, client,
                                     only_paths=run.selected_paths)
        record_skipped_files(run, files)
        runs.finish(run, SyncRun.Status.WARNING if files.skipped else SyncRun.Status.SUCCESS,
                    message=files.describe() + ".", applied=files.applied,
                    skipped=len(files.skipped), total=files.total, done=files.total,
                    bytes=files.bytes)
        return
    outcome = db_sync.SyncOutcome() if "database" not in profile.items else \
        db_sync.sync_database(run, profile, progress)
    if "database" in profile.items:
        external = custom_tables.sync_external_sources(run, profile, client, progress)
        if external is not None:
            outcome.add(external)
    files = file_sync.sync_files(run, profile, progress, client)
    record_skipped_files(run, files)
    skipped = outcome.skipped + len(files.skipped)
    status = SyncRun.Status.WARNING if skipped else SyncRun.Status.SUCCESS
    parts = []
    if "database" in profile.items:
        parts.append(f"{outcome.applied} applied, {outcome.skipped} skipped of "
                     f"{outcome.total} changed rows")
    if outcome.conflicts:
        how = (profile.get_policy_display() if profile.direction == "bidirectional"
               else f"the {profile.direction} overwrote them")
        parts.append(f"{outcome.conflicts} rows changed on both sides ({how}; the losing "
                     "versions are kept)")
    if outcome.collisions:
        parts.append(f"{outcome.collisions} name collisions renamed")
    if outcome.held:
        parts.append(held_note(outcome.held))
    if file_sync.file_items(profile):
        parts.append(files.describe())
    runs.finish(run, status, message="; ".join(parts) + ".",
                applied=outcome.applied + files.applied, skipped=skipped,
                total=outcome.total + files.total, done=outcome.total + files.total,
                bytes=files.bytes)


def record_skipped_files(run: SyncRun, files) -> None:
    from syncengine.models import SkippedRow

    SkippedRow.objects.bulk_create(
        SkippedRow(run=run, side=s.side, table_name="(files)", stage=s.stage,
                   error=shown_name(s.error), remote_key=shown_name(s.path),
                   local_key=shown_name(s.path))
        for s in files.skipped)
