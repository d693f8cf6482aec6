"""Running a profile: "Sync now", `esync sync PROFILE`, and (later) its schedule.

One sync at a time per instance: a request while another run is queued or running is
refused. The worker claims the run, syncs the database changes and the resource folders'
changed files, and ends it "success", or "warning" when rows were skipped (never silently).
"""

from __future__ import annotations

from django.db import transaction

from esync_site.refusal import Refusal
from syncengine import runs
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
    unsupported = set(profile.items) - {"database"}
    if unsupported:
        names = ", ".join(sorted(unsupported))
        raise ProfileSyncRefused(f"Syncing {names} files is not yet supported; this profile "
                                 "can only run once those items are unticked.")


def start_profile_sync(profile, user=None) -> SyncRun:
    """Queue a FullSync run of `profile` for the worker."""
    refuse_unless_ready(profile)
    from syncengine.tasks import run_sync

    with transaction.atomic():
        runs.refuse_if_running()
        run = SyncRun.objects.create(
            kind=SyncRun.Kind.FULL_SYNC, relationship=profile.relationship, profile=profile,
            direction=profile.direction,
            user=user if getattr(user, "pk", None) else None,
            user_name=getattr(user, "username", "") or "command line",
            phase="Waiting for the worker")
        transaction.on_commit(lambda: run_sync.delay(run.id))
    return run


def run_profile(run: SyncRun) -> None:
    from syncengine import custom_tables, db_sync, resource_sync

    profile = run.profile
    if profile is None:
        raise ProfileSyncRefused("The profile of this run was deleted before it started.")
    refuse_unless_ready(profile)

    def progress(**fields) -> None:
        runs.report(run, **fields)

    outcome = db_sync.sync_database(run, profile, progress)
    external = None
    if "database" in profile.items:
        external = custom_tables.sync_external_sources(run, profile, db_sync.client_for(
            profile.relationship), progress)
    if external is not None:
        outcome.add(external)
    files = resource_sync.sync_resource_files(profile, progress)
    status = SyncRun.Status.WARNING if outcome.skipped else SyncRun.Status.SUCCESS
    parts = [f"{outcome.applied} applied, {outcome.skipped} skipped of {outcome.total} "
             f"changed rows"]
    if outcome.conflicts:
        how = (profile.get_policy_display() if profile.direction == "bidirectional"
               else f"the {profile.direction} overwrote them")
        parts.append(f"{outcome.conflicts} rows changed on both sides ({how}; the losing "
                     "versions are kept)")
    if outcome.collisions:
        parts.append(f"{outcome.collisions} name collisions renamed")
    parts.append(f"{files.copied} resource files copied")
    runs.finish(run, status, message="; ".join(parts) + ".",
                applied=outcome.applied + files.copied, skipped=outcome.skipped,
                total=outcome.total + files.copied, done=outcome.total + files.copied)
