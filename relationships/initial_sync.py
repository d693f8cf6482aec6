"""The initial sync (FullStage): copy one site's database and resource folders onto the other.

The initiator does the work in its worker. The destination — this instance for a download,
the peer for an upload — replaces all its synced rows inside one transaction and swaps in the
resource folders only after that transaction commits; if the backup setting asks for it, its
database is backed up first and restored should anything fail after the commit. A failed run
leaves the destination as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from certificates.connection_check import check_connection
from cms.sites import list_sites
from esync_site.refusal import Refusal
from profiles.models import Profile
from relationships.models import Relationship
from relationships.server_identity import get_server_info
from syncengine import backup, change_log, db_sync, resource_files, runs, table_copy
from syncengine.models import Anchor, SyncRun
from syncengine.peer_client import PeerClient
from syncengine.stream_chunks import coalesced

DEFAULT_PROFILE_NAME = "Default DB profile"


class InitialSyncRefused(Refusal):
    pass


# -- prerequisites ----------------------------------------------------------------------------

def force_prerequisites_missing(relationship: Relationship,
                                relationship_count: int | None = None) -> list[str]:
    """What stops Force Initial Sync here (the manual's four prerequisites); empty if none.
    A screen listing every relationship passes their count, to ask the database once."""
    missing = []
    if not settings.ESYNC.force_reinit:
        missing.append("force_reinit is not true in esync.toml (set it, then try again)")
    if len(list_sites()) > 1:
        missing.append("this instance is multi-site")
    if relationship_count is None:
        relationship_count = Relationship.objects.count()
    if relationship_count != 1:
        missing.append("this instance has more than one sync server relationship")
    if relationship.initial_direction != Relationship.Direction.DOWNLOAD:
        missing.append("this instance is not the destination (download side) of the "
                       "relationship")
    return missing


def start_initial_sync(relationship: Relationship, user=None, force: bool = False) -> SyncRun:
    """Queue a FullStage run for the worker; refused while any sync runs."""
    if force:
        missing = force_prerequisites_missing(relationship)
        if missing:
            raise InitialSyncRefused("Force Initial Sync is not available: "
                                     + "; ".join(missing) + ".")
    elif relationship.is_staged:
        raise InitialSyncRefused(
            f"The relationship with {relationship.remote_name} is already staged; its initial "
            "sync ran on " + f"{relationship.staged_at:%Y-%m-%d %H:%M}. Use profiles to sync "
            "changes, or Force Initial Sync to re-initialize this destination.")
    from syncengine.tasks import run_sync

    with runs.exclusive():
        runs.refuse_if_running()
        run = SyncRun.objects.create(
            kind=SyncRun.Kind.FULL_STAGE, relationship=relationship,
            direction=relationship.initial_direction, forced=force,
            user=user if getattr(user, "pk", None) else None,
            user_name=getattr(user, "username", "") or "command line",
            phase="Waiting for the worker",
        )
        transaction.on_commit(lambda: run_sync.delay(run.id))
    return run


# -- the destination's half (ours for a download, the peer's for an upload) -------------------

@dataclass
class DestinationStatus:
    staged: bool
    rows: int
    mark: int = 0  # the change log's high-water mark when asked (the source's anchor)

    def as_dict(self) -> dict:
        return {"staged": self.staged, "rows": self.rows, "mark": self.mark}


def destination_status() -> DestinationStatus:
    return DestinationStatus(staged=get_server_info().staged_at is not None,
                             rows=table_copy.count_rows(),
                             mark=change_log.high_water_mark())


def receive_copy(chunks: Iterable[bytes], files_token: str,
                 progress: Callable[[int], None] = lambda n: None, owner: str = "") -> dict:
    """Replace this instance's synced data with the source's; all or nothing. The resource
    folders staged as `files_token` (by `owner`'s run) are held from the start: no other
    upload is received meanwhile, and whatever happens they are no longer staged after."""
    with resource_files.claimed(files_token, owner) as staged:
        backup_file = backup.backup_database() if backup.backup_wanted(initial=True) else None
        with transaction.atomic():
            with change_log.suspended():
                applied = table_copy.import_stream(chunks, progress)
            # Every row was just replaced: what was logged before no longer applies, and
            # the anchors start from here.
            change_log.clear()
            info = get_server_info()
            info.staged_at = timezone.now()
            info.save(update_fields=["staged_at"])
        try:
            files = staged.install()
        except BaseException:
            if backup_file is not None:
                backup.restore_database(backup_file)
            raise
    return {"applied": applied, "files": files, "mark": change_log.high_water_mark(),
            "backup_file": str(backup_file) if backup_file else ""}


# -- the initiator's run ----------------------------------------------------------------------

def run_initial_sync(run: SyncRun) -> None:
    relationship = run.relationship
    client = db_sync.client_for(relationship, run, read_timeout=3600)
    runs.report(run, phase="Checking the remote server")
    report = check_connection(relationship.address, relationship.certificate)
    # Both sides on PostgreSQL: rows travel in COPY format, applied without parsing a row.
    pgcopy = connection.vendor == "postgresql" and any(
        d.get("vendor") == "postgresql" for d in report.databases)
    upload = relationship.initial_direction == Relationship.Direction.UPLOAD
    remote, local = DestinationStatus(**client.get_json("/initial-sync/status")), \
        destination_status()
    source_rows, destination = (local.rows, remote) if upload else (remote.rows, local)
    if not run.forced:
        if destination.staged:
            raise InitialSyncRefused(
                "The destination was already initialized by an initial sync. To replace its "
                "data, use Force Initial Sync on it (see its prerequisites).")
        if destination.rows > source_rows:
            raise InitialSyncRefused(
                f"The destination's database ({destination.rows} rows) is larger than the "
                f"source's ({source_rows}): check the direction. Switch it, or use Force "
                "Initial Sync to overwrite the destination anyway.")
    runs.report(run, total=source_rows)
    # The source's changes up to here are in the copy; the destination's log starts afresh.
    source_mark = change_log.high_water_mark() if upload else remote.mark
    result = (_upload(run, client, source_rows, pgcopy) if upload
              else _download(run, client, pgcopy))
    with transaction.atomic():
        relationship.state = Relationship.State.STAGED
        relationship.staged_at = timezone.now()
        relationship.save(update_fields=["state", "staged_at"])
        local_sent, remote_applied = ((source_mark, result["mark"]) if upload
                                      else (result["mark"], source_mark))
        Anchor.objects.update_or_create(
            relationship=relationship, source="site",
            defaults={"local_sent": local_sent, "remote_applied": remote_applied})
        _ensure_default_profile(relationship)
    # The destination's files were replaced: what the file sync knew of them no longer holds.
    from syncengine.file_state import forget_base

    forget_base(relationship.pk)
    runs.finish(run, SyncRun.Status.SUCCESS,
                message=f"{result['applied']} rows and {result['files']} files copied "
                        f"({'upload' if upload else 'download'}).",
                applied=result["applied"], done=source_rows,
                backup_file=result.get("backup_file", ""))


def _upload(run: SyncRun, client: PeerClient, source_rows: int, pgcopy: bool) -> dict:
    runs.report(run, phase="Sending the resource folders")
    files = _Counter()
    with client.open("POST", "/initial-sync/files",
                     body=files.count(coalesced(resource_files.export().chunks())),
                     headers={"Content-Type": resource_files.CONTENT_TYPE}) as response:
        token = _json(response)["token"]
    runs.report(run, bytes=run.bytes + files.total)
    runs.report(run, phase="Sending the database; the remote applies it as it arrives, in "
                           "one transaction")
    sent = _Counter()
    with client.open("POST", f"/initial-sync/database?files={token}",
                     body=sent.count(coalesced(table_copy.export_lines(pgcopy=pgcopy))),
                     headers={"Content-Type": "application/x-ndjson",
                              "X-Esync-Source-Rows": str(source_rows)}) as response:
        result = _json(response)
    runs.report(run, bytes=run.bytes + sent.total)
    return result


class _Counter:
    def __init__(self) -> None:
        self.total = 0

    def count(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.total += len(chunk)
            yield chunk


def _download(run: SyncRun, client: PeerClient, pgcopy: bool) -> dict:
    runs.report(run, phase="Receiving the resource folders")
    owner = resource_files.local_run_owner(run)
    with client.open("GET", "/initial-sync/files") as response:
        token = resource_files.stage(_counted(run, response.body), owner)
    try:
        runs.report(run, phase="Receiving and applying the database")
        query = "?format=pgcopy" if pgcopy else ""
        with client.open("GET", f"/initial-sync/database{query}") as response:
            return receive_copy(_counted(run, response.body), token,
                                progress=lambda n: runs.report(run, done=n), owner=owner)
    finally:
        resource_files.discard(token)  # already gone unless the database never came


def _counted(run: SyncRun, chunks: Iterable[bytes]) -> Iterable[bytes]:
    sent = run.bytes
    for chunk in chunks:
        sent += len(chunk)
        run.bytes = sent
        yield chunk
    runs.report(run, bytes=sent)


def _json(response) -> dict:
    return json.loads(b"".join(response.body))


def _ensure_default_profile(relationship: Relationship) -> Profile:
    existing = relationship.profiles.filter(name__startswith=DEFAULT_PROFILE_NAME).first()
    if existing:
        return existing
    return Profile.objects.create(
        relationship=relationship, name=f"{DEFAULT_PROFILE_NAME}1",
        items=[Profile.Item.DATABASE], direction=relationship.initial_direction,
    )
