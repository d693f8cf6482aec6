"""The initial sync's resource folders on the destination: staged under state/incoming/ as
they arrive (syncengine.resource_stream checks and writes them), then put in place in one swap
after the database copy commits.

One staged upload at a time: receiving one, or holding one while its database copy is applied
and it is put in place, takes a lock beside the incoming folder; a second one meanwhile is
refused with a sentence, and a new one replaces the one staged before it. A staged upload
belongs to its run (only that run puts it in place) and is removed when its database copy
ends, put in place or refused; `remove_stale_incoming` (at the sync service's start) removes
what an abandoned run left.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cms.site_root import RESOURCE_FOLDERS
from esync_site.whole_numbers import whole_number
from syncengine.file_rules import OWN_FILE_PREFIX
from syncengine.file_transfer import incoming_dir, site_root
from syncengine.resource_stream import (  # noqa: F401 - the initial sync's words, in one place
    CONTENT_TYPE,
    HEADER_ALLOWANCE,
    ResourceExport,
    ResourceStreamRejected,
    checked_path,
    export,
    receive_into,
    run_limits,
)

STAGED_PREFIX = "resources-"
LOCK_NAME = "incoming-resources.lock"  # in the state folder, beside incoming/
OWNER_FILE = ".esync-staged.json"  # in the staging folder, beside the four folders

_TOKEN = re.compile(r"^[0-9a-f]{32}$")


class ResourcesBusy(ResourceStreamRejected):
    """Another initial copy's resource folders are being received or put in place here."""


def _root() -> Path:
    return site_root()


def check_token(token: object) -> str:
    if not isinstance(token, str) or not _TOKEN.match(token):
        raise ResourceStreamRejected("the resource folders' token is missing or malformed "
                                     "(32 hexadecimal digits)")
    return token


# -- the destination's half: staging ----------------------------------------------------------

@contextmanager
def _exclusive() -> Iterator[None]:
    """The incoming resource folders to ourselves (across processes), or ResourcesBusy."""
    descriptor = os.open(incoming_dir().parent / LOCK_NAME,
                         os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResourcesBusy(
                "another initial copy's resource folders are being received or put in place "
                "on this server; it takes one at a time: try again when that run has ended"
            ) from None
        yield
    finally:
        os.close(descriptor)


def _staging(token: str) -> Path:
    return incoming_dir() / f"{STAGED_PREFIX}{check_token(token)}"


def stage(chunks: Iterable[bytes], owner: str = "",
          limits: tuple[int, int] | None = None) -> str:
    """Receive and check a resource folders' stream into a new staging folder; returns the
    token that puts it in place. It replaces any upload staged before it. `owner` names the
    run it belongs to (only that run may put it in place). Refused: nothing of it is kept."""
    with _exclusive():
        _discard_all()
        token = uuid.uuid4().hex
        staging = _staging(token)
        staging.mkdir()
        try:
            count = receive_into(chunks, staging, limits)
            (staging / OWNER_FILE).write_text(json.dumps({"owner": owner, "files": count}))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return token


# -- the destination's half: putting it in place ----------------------------------------------

@dataclass
class StagedResources:
    """A staged upload, held (no other can be received or put in place meanwhile)."""

    token: str
    path: Path
    files: int

    def install(self) -> int:
        """Swap the staged folders into the site root; how many files arrived. A failure
        part way puts back what was there."""
        root = _root()
        same_disk = os.stat(self.path).st_dev == os.stat(root).st_dev
        # Where the replaced folders go until the swap is done: a rename away, on the site
        # root's disk.
        old_place = (self.path.with_name(self.path.name + ".old") if same_disk
                     else root / f"{OWN_FILE_PREFIX}old-{self.token}")
        ready: dict[str, Path] = {}
        swapped: list[tuple[str, bool]] = []
        try:
            for name in RESOURCE_FOLDERS:
                ready[name] = self._beside_root(name, root, same_disk)
            old_place.mkdir()
            for name in RESOURCE_FOLDERS:
                current, old = root / name, old_place / name
                had = os.path.lexists(current)
                if had:
                    os.rename(current, old)
                try:
                    os.rename(ready[name], current)
                except BaseException:
                    if had:
                        os.rename(old, current)
                    raise
                swapped.append((name, had))
        except BaseException:
            for name, had in reversed(swapped):
                os.rename(root / name, ready[name])
                if had:
                    os.rename(old_place / name, root / name)
            with contextlib.suppress(OSError):
                old_place.rmdir()  # empty again, unless putting back failed too
            raise
        finally:
            if not same_disk:
                for copy in ready.values():
                    shutil.rmtree(copy, ignore_errors=True)
        shutil.rmtree(old_place, ignore_errors=True)
        shutil.rmtree(self.path, ignore_errors=True)
        return self.files

    def _beside_root(self, name: str, root: Path, same_disk: bool) -> Path:
        """The staged folder where a rename puts it in place: itself, or (the site root on
        another disk) a copy beside its place, under a name esync keeps for itself."""
        staged = self.path / name
        if not staged.is_dir():
            staged.mkdir()  # a folder the source does not have arrives empty
        if same_disk:
            return staged
        copy = root / f"{OWN_FILE_PREFIX}new-{self.token}-{name}"
        shutil.rmtree(copy, ignore_errors=True)
        try:
            shutil.copytree(staged, copy, symlinks=True)
        except BaseException:
            shutil.rmtree(copy, ignore_errors=True)
            raise
        return copy


def _read_owner(staging: Path) -> dict | None:
    try:
        said = json.loads((staging / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return said if isinstance(said, dict) else None


@contextmanager
def claimed(token: str, owner: str = "") -> Iterator[StagedResources]:
    """The staged upload `token` of `owner`'s run, held while the block runs (the database
    copy, then `install`); whatever ends the block, the staged folder is removed."""
    staging = _staging(token)
    with _exclusive():
        said = _read_owner(staging) if staging.is_dir() else None
        if said is None:
            raise ResourceStreamRejected(
                "no resource folders are staged here for this token: they were put in place "
                "or removed already, or another upload replaced them")
        if said.get("owner", "") != owner:
            raise ResourceStreamRejected("the resource folders staged for this token belong "
                                         "to another run")
        try:
            yield StagedResources(token, staging, int(said.get("files", 0)))
        finally:
            _remove(staging)


def install(token: str, owner: str = "") -> int:
    """Put a staged upload in place now (no database copy with it)."""
    with claimed(token, owner) as staged:
        return staged.install()


def discard(token: str) -> None:
    """Remove a staged upload (nothing if it is gone). Taken as it is: the caller holds it,
    or knows its run has ended."""
    _remove(_staging(token))


def _remove(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(staging.with_name(staging.name + ".old"), ignore_errors=True)


def _discard_all(owner: str | None = None) -> int:
    removed = 0
    for entry in os.scandir(incoming_dir()):
        if not entry.name.startswith(STAGED_PREFIX):
            continue
        if owner is not None:
            said = _read_owner(Path(entry.path)) or {}
            if said.get("owner") != owner:
                continue
        _remove_entry(entry)
        removed += 1
    return removed


def discard_staged(owner: str | None = None) -> int:
    """Remove the staged uploads of `owner`'s run (of every run if None): its run ended. One
    being received or put in place right now is left to its run. How many were removed."""
    try:
        with _exclusive():
            return _discard_all(owner)
    except ResourcesBusy:
        return 0


def peer_run_owner(incoming_run) -> str:
    """The owner name of an upload that a peer's run (relationships.IncomingRun) sends."""
    return f"peer-run-{incoming_run.pk}" if incoming_run is not None else ""


def local_run_owner(run) -> str:
    """The owner name of a download that this instance's run (SyncRun) receives."""
    return f"run-{run.pk}"


# -- leftovers --------------------------------------------------------------------------------

def remove_stale_incoming(lifetime: dt.timedelta | None = None) -> list[str]:
    """Remove what transfers left under state/incoming/: anything older than a run's lifetime
    (staged files, partial uploads, staged resource folders), and staged resource folders
    whose run has ended. Called when the sync service starts; the names removed."""
    from relationships.peer_grants import RUN_LIFETIME

    lifetime = lifetime or RUN_LIFETIME
    folder = incoming_dir()
    cutoff = time.time() - lifetime.total_seconds()
    removed: list[str] = []
    try:
        with _exclusive():
            removed += _sweep(folder, cutoff, lifetime, staged_too=True)
    except ResourcesBusy:  # an upload is being received: its folders are in use
        removed += _sweep(folder, cutoff, lifetime, staged_too=False)
    return removed


def _sweep(folder: Path, cutoff: float, lifetime: dt.timedelta, staged_too: bool,
           ) -> list[str]:
    removed = []
    for entry in os.scandir(folder):
        staged = entry.name.startswith(STAGED_PREFIX)
        if staged and not staged_too:
            continue
        try:
            age = entry.stat(follow_symlinks=False).st_mtime
            if staged and entry.is_dir(follow_symlinks=False):
                age = max(age, os.stat(Path(entry.path, OWNER_FILE)).st_mtime)
        except FileNotFoundError:
            age = 0
        if age < cutoff or (staged and _run_ended(Path(entry.path), lifetime)):
            _remove_entry(entry)
            removed.append(entry.name)
    return removed


def _run_ended(staging: Path, lifetime: dt.timedelta) -> bool:
    """Whether the run a staged upload belongs to has ended (or is unknown here)."""
    from django.db import DatabaseError
    from django.utils import timezone

    said = _read_owner(staging)
    if said is None:
        return False  # still being received, or damaged: its age decides
    owner = str(said.get("owner", ""))
    number = whole_number(owner.rpartition("-")[2])
    if number is None:
        return False
    try:
        if owner.startswith("peer-run-"):
            from relationships.models import IncomingRun

            return not IncomingRun.objects.filter(
                pk=number, ended_at=None,
                started_at__gt=timezone.now() - lifetime).exists()
        if owner.startswith("run-"):
            from syncengine.models import SyncRun

            return not SyncRun.objects.filter(pk=number,
                                              status__in=SyncRun.ACTIVE).exists()
    except DatabaseError:
        return False
    return False


def _remove_entry(entry: os.DirEntry) -> None:
    try:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)
    except FileNotFoundError:
        pass
    except OSError as error:
        if error.errno not in (errno.ENOENT, errno.EISDIR):
            raise
