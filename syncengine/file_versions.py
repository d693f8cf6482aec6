"""Kept versions of site files: list them, put one back, prune the oldest.

Every site file a file sync replaces or deletes is first kept under
HOME/versions/<stamp>/<relative path> (`file_transfer.keep_version`), the stamp being the run's
(yyyymmdd-hhmmss-runN, UTC). This module reads that folder, and:

- lists every kept file with its stamp, run, time and size;
- restores one into the site root at its own path: the file it replaces is kept first, under a
  restore's own stamp (yyyymmdd-hhmmss-restore), and the version lands whole by a temp file
  beside the target and a rename, with the version's mtime;
- prunes whole stamps, oldest first, past an age or beyond a total size (esync.toml's
  [versions] after each run, or `esync versions prune`).

Nothing here follows a link in the versions folder (esync never keeps a file through one, so a
link there is not its own), and the site root is written only where a sync may write: the same
path checks as a peer's file (`file_transfer.target_of`), no link leading out of the root.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from esync_site.instance import MAX_KEEP_DAYS, MAX_VERSION_BYTES
from esync_site.refusal import Refusal
from syncengine import file_transfer
from syncengine.file_rules import ITEMS, OWN_FILE_PREFIX, item_of
from syncengine.file_state import FileInfo, remember
from syncengine.file_transfer import FileRefused, check_stamp, shown_name, versions_root

log = logging.getLogger("esync.versions")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SHOWN_BYTE = re.compile(r"\\x([0-9a-fA-F]{2})")
_RUN_ID = re.compile(r"-run(\d+)$")
RESTORES_PER_SECOND = 1000  # restore, restore2, ... restore999 within one second


class VersionRefused(Refusal):
    """A restore or prune that does not go ahead; nothing was written or removed."""


@dataclass(frozen=True)
class KeptVersion:
    """One kept file: `path` as on disk (a name that is not UTF-8 holds lone surrogates)."""

    stamp: str
    time: dt.datetime
    path: str
    size: int

    @property
    def run_id(self) -> int | None:
        return run_id_of(self.stamp)

    @property
    def shown_path(self) -> str:
        return shown_path(self.path)

    def as_dict(self) -> dict:
        return {"stamp": self.stamp, "run": self.run_id, "time": self.time.isoformat(),
                "path": self.shown_path, "size": self.size}


@dataclass(frozen=True)
class KeptStamp:
    """One stamp's folder: when, and how many files and bytes it keeps."""

    stamp: str
    time: dt.datetime
    files: int
    bytes: int


@dataclass
class Pruned:
    removed: list[KeptStamp] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (stamp, why)

    def describe(self) -> str:
        if not self.removed and not self.failed:
            return "No kept versions are past the limits; nothing was removed."
        files = sum(s.files for s in self.removed)
        size = sum(s.bytes for s in self.removed)
        said = (f"Removed {len(self.removed)} kept run{'s' * (len(self.removed) != 1)} of "
                f"versions ({files} file{'s' * (files != 1)}, {size} bytes).")
        for stamp, why in self.failed:
            said += f" {stamp} could not be removed: {why}."
        return said


@dataclass(frozen=True)
class Restored:
    version: KeptVersion
    kept_as: str | None  # the restore's stamp, under which the replaced file is kept

    def describe(self) -> str:
        said = f"Restored {self.version.shown_path} as it was kept in {self.version.stamp}"
        if self.kept_as is None:
            return said + "; no file was there to replace."
        return said + f"; the file it replaced is kept in {self.kept_as}."


# -- names ------------------------------------------------------------------------------------

def shown_path(relative: str) -> str:
    """A kept file's path as a screen or a terminal shows it: a byte that is not UTF-8 and a
    control character as \\xNN (`typed_path` reads it back)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", shown_name(relative))


def typed_path(text: str) -> str:
    """A path as typed or shown: \\xNN stands for that byte (a site file's path never holds
    a backslash, so the spelling is never ambiguous)."""
    if "\\" not in text:
        return text
    pieces = _SHOWN_BYTE.split(text)
    raw = b"".join(bytes.fromhex(piece) if odd else piece.encode("utf-8", "surrogateescape")
                   for odd, piece in ((n % 2, p) for n, p in enumerate(pieces)))
    return os.fsdecode(raw)


def run_id_of(stamp: str) -> int | None:
    match = _RUN_ID.search(stamp)
    return int(match.group(1)) if match else None


def stamp_time(stamp: str) -> dt.datetime | None:
    """When a stamp was made (stamps are written in UTC); None if its digits are no time."""
    try:
        return dt.datetime.strptime(stamp[:15], "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _is_stamp(name: str) -> bool:
    try:
        check_stamp(name)
    except FileRefused:
        return False
    return True


# -- listing ----------------------------------------------------------------------------------

def _stamp_folders() -> Iterator[tuple[str, dt.datetime, Path]]:
    """Every stamp's folder (not a link, not anything else there), with its time."""
    root = versions_root()
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return
    for entry in entries:
        if not _is_stamp(entry.name) or not entry.is_dir(follow_symlinks=False):
            continue
        yield entry.name, _time_of(entry.name), Path(entry.path)


def _time_of(stamp: str) -> dt.datetime:
    """The stamp's time; for one whose digits are no time, its folder's."""
    return stamp_time(stamp) or dt.datetime.fromtimestamp(
        os.lstat(versions_root() / stamp).st_mtime, dt.UTC)


def _files_in(folder: Path) -> Iterator[tuple[str, int]]:
    """The regular files under a folder, (relative path, size); links are not followed."""
    stack = [(folder, "")]
    while stack:
        path, prefix = stack.pop()
        for entry in sorted(os.scandir(path), key=lambda e: e.name, reverse=True):
            if entry.is_dir(follow_symlinks=False):
                stack.append((Path(entry.path), f"{prefix}{entry.name}/"))
            elif entry.is_file(follow_symlinks=False):
                yield f"{prefix}{entry.name}", entry.stat(follow_symlinks=False).st_size


def list_versions(path_contains: str = "") -> list[KeptVersion]:
    """Every kept file, newest stamp first, then by path; with `path_contains`, only those
    whose path (as on disk or as shown) holds it, letter case aside."""
    wanted = path_contains.casefold()
    found = []
    for stamp, when, folder in _stamp_folders():
        for relative, size in _files_in(folder):
            if wanted and wanted not in relative.casefold() and \
                    wanted not in shown_path(relative).casefold():
                continue
            found.append(KeptVersion(stamp, when, relative, size))
    found.sort(key=lambda v: v.path)
    found.sort(key=lambda v: (v.time, v.stamp), reverse=True)
    return found


def list_stamps() -> list[KeptStamp]:
    """Every stamp's folder with its files and bytes, oldest first."""
    stamps = []
    for stamp, when, folder in _stamp_folders():
        files = list(_files_in(folder))
        stamps.append(KeptStamp(stamp, when, len(files), sum(size for _, size in files)))
    return sorted(stamps, key=lambda s: (s.time, s.stamp))


# -- restoring --------------------------------------------------------------------------------

def _checked_stamp(stamp: object) -> str:
    if not isinstance(stamp, str) or not _is_stamp(stamp):
        raise VersionRefused(f"{str(stamp)[:100]!r} is not the stamp of kept versions "
                             "(yyyymmdd-hhmmss-runN or yyyymmdd-hhmmss-restore)")
    try:
        mode = os.lstat(versions_root() / stamp).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = 0
    if stat.S_ISLNK(mode):
        raise VersionRefused(f"{stamp} is a link in the versions folder, not versions esync "
                             "kept; nothing was restored")
    if not stat.S_ISDIR(mode):
        raise VersionRefused(f"no versions are kept under {stamp} (`esync versions list` "
                             "shows the stamps there are)")
    return stamp


def _checked_path(relative: object) -> str:
    if not isinstance(relative, str) or not relative:
        raise VersionRefused("a file path is missing")
    try:
        file_transfer.check_relative(relative, (*ITEMS, None))
    except FileRefused as error:
        raise VersionRefused(f"{error}; nothing was restored") from error
    if item_of(relative) is None:
        raise VersionRefused(f"{shown_path(relative)!r} is not a file esync synchronizes; "
                             "nothing was restored")
    return relative


def _open_version(stamp: str, relative: str) -> int:
    """An open descriptor of the kept file, every folder on its way opened in turn without
    following a link (one swapped in between a check and the open is refused too)."""
    parts = [stamp, *relative.split("/")]
    try:
        fd = os.open(versions_root(), os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError as error:
        raise VersionRefused("no versions are kept on this server") from error
    try:
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_NONBLOCK if last else os.O_DIRECTORY)
            try:
                inner = os.open(part, flags, dir_fd=fd)
            except OSError as error:
                raise _not_openable(stamp, relative, parts[:depth + 1], fd, part) from error
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise VersionRefused(f"{stamp} keeps {shown_path(relative)!r} as a folder, not a file; "
                             "only files are restored")
    return fd


def _not_openable(stamp: str, relative: str, walked: list[str], fd: int,
                  part: str) -> VersionRefused:
    try:
        mode = os.lstat(part, dir_fd=fd).st_mode
    except OSError:
        mode = 0
    if stat.S_ISLNK(mode):
        return VersionRefused(f"{shown_path(relative)!r} in {stamp} goes through a link in "
                              f"the versions folder ({shown_path('/'.join(walked))}); links "
                              "there are not followed, nothing was restored")
    if mode:
        return VersionRefused(f"{shown_path(relative)!r} in {stamp} cannot be read here")
    return VersionRefused(f"{stamp} keeps no {shown_path(relative)!r} (`esync versions list "
                          f"--path` finds the versions of a file)")


def find(stamp: object, relative: object) -> KeptVersion:
    """The kept version of `relative` in `stamp`, checked as `restore` checks it."""
    stamp, relative = _checked_stamp(stamp), _checked_path(relative)
    fd = _open_version(stamp, relative)
    try:
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    return KeptVersion(stamp, _time_of(stamp), relative, size)


def _target(relative: str) -> Path:
    try:
        target = file_transfer.target_of(relative, (*ITEMS, None))
    except FileRefused as error:
        raise VersionRefused(f"{error}; nothing was restored") from error
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise VersionRefused(f"a file on this server stands where a folder of "
                             f"{shown_path(relative)!r} must be; nothing was restored") from error
    return target


def _claim_restore_stamp(now: dt.datetime) -> str:
    """A restore stamp of its own: its folder made here, so two restores in one second (or
    at once) never keep their replaced files in the same place."""
    base = f"{now.astimezone(dt.UTC):%Y%m%d-%H%M%S}-restore"
    versions_root().mkdir(parents=True, exist_ok=True)
    for number in range(1, RESTORES_PER_SECOND):
        stamp = base if number == 1 else f"{base}{number}"
        try:
            os.mkdir(versions_root() / stamp)
        except FileExistsError:
            continue
        return stamp
    raise VersionRefused("too many restores this second; try again")


def restore(stamp: object, relative: object, now: dt.datetime | None = None) -> Restored:
    """Put the kept version back at its path in the site root; the file there is kept first
    (under a restore stamp made from `now`). VersionRefused, and nothing written, for a stamp
    or path that is not a kept version, a path a sync could not write, a link on the way."""
    version = find(stamp, relative)
    target = _target(version.path)
    temp = target.with_name(f"{OWN_FILE_PREFIX}{uuid.uuid4().hex}")
    with os.fdopen(_open_version(version.stamp, version.path), "rb") as source:
        kept = os.fstat(source.fileno())
        try:
            with open(temp, "xb") as out:
                size, digest = file_transfer.write_counted(out,
                                                           file_transfer.chunks_of(source))
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, stat.S_IMODE(kept.st_mode) & file_transfer.LANDED_MODE_BITS)
            os.utime(temp, ns=(kept.st_atime_ns, kept.st_mtime_ns))
            kept_as = _keep_replaced(target, version.path, now)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
    remember({version.path: FileInfo(size, kept.st_mtime_ns, digest)})
    return Restored(KeptVersion(version.stamp, version.time, version.path, size), kept_as)


def _keep_replaced(target: Path, relative: str, now: dt.datetime | None) -> str | None:
    """Keep the file a restore replaces, under a restore stamp of its own; the stamp, or
    None when there is no file to keep."""
    if not os.path.lexists(target):
        return None
    stamp = _claim_restore_stamp(now or dt.datetime.now(dt.UTC))
    try:
        kept = file_transfer.keep_version(target, relative, stamp)
    except BaseException:
        shutil.rmtree(versions_root() / stamp, ignore_errors=True)
        raise
    if kept is None:  # gone meanwhile: nothing was kept
        shutil.rmtree(versions_root() / stamp, ignore_errors=True)
        return None
    return stamp


# -- pruning ----------------------------------------------------------------------------------

def check_limits(max_age_days: object, max_total_bytes: object) -> tuple[int, int]:
    """The limits as whole numbers, 0 for none; VersionRefused for anything else."""
    for value, most, what in ((max_age_days, MAX_KEEP_DAYS, "days to keep versions"),
                              (max_total_bytes, MAX_VERSION_BYTES, "bytes of versions to keep")):
        if value is not None and (type(value) is not int or not 0 <= value <= most):
            raise VersionRefused(f"the {what} must be a whole number from 0 (keep all) to "
                                 f"{most}, not {str(value)[:40]!r}")
    return max_age_days or 0, max_total_bytes or 0  # type: ignore[return-value]


def plan_prune(max_age_days: int | None, max_total_bytes: int | None,
               now: dt.datetime | None = None) -> list[KeptStamp]:
    """The stamps a prune removes, oldest first: every one older than `max_age_days`, then
    the oldest of the rest while all of them together hold more than `max_total_bytes`.
    0 or None: no such limit."""
    days, most = check_limits(max_age_days, max_total_bytes)
    if not days and not most:
        return []
    stamps = list_stamps()
    doomed = []
    if days:
        cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=days)
        doomed = [s for s in stamps if s.time < cutoff]
        stamps = [s for s in stamps if s.time >= cutoff]
    if most:
        total = sum(s.bytes for s in stamps)
        for kept in stamps:
            if total <= most:
                break
            doomed.append(kept)
            total -= kept.bytes
    return doomed


def prune(max_age_days: int | None, max_total_bytes: int | None,
          now: dt.datetime | None = None) -> Pruned:
    """Remove the stamps `plan_prune` names, each whole; one that cannot be removed is
    reported, the others still go."""
    pruned = Pruned()
    for kept in plan_prune(max_age_days, max_total_bytes, now):
        try:
            shutil.rmtree(versions_root() / kept.stamp)
        except OSError as error:
            pruned.failed.append((kept.stamp, error.strerror or str(error)))
        else:
            pruned.removed.append(kept)
    return pruned


def prune_as_configured(now: dt.datetime | None = None) -> Pruned:
    """esync.toml's [versions] limits applied (after a run). Never raises for the disk: a
    folder that cannot be read or removed is logged, and the next run tries again."""
    limits = settings.ESYNC.versions
    try:
        pruned = prune(limits.keep_days, limits.max_bytes, now)
    except OSError as error:
        log.warning("Kept versions were not pruned: %s", error)
        return Pruned(failed=[("the versions folder", error.strerror or str(error))])
    if pruned.removed or pruned.failed:
        log.info("%s", pruned.describe())
    return pruned
