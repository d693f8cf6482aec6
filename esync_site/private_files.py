"""Files only the instance's owner may read: esync.toml, private keys, the secret key, databases.

One rule for all of them, whatever the process umask: such a file is created 0600 and a folder
of keys 0700. A file is written whole: under a fresh name beside its target, created 0600 with
O_EXCL, fsynced, then renamed over the target. A crash leaves the old file or the new one,
never half of one, and at no moment can another user open it.

Why not a process umask of 0o077 instead: the same processes land site files (file sync,
library uploads) that a front web server running as another user must read, and a umask would
silently make those unreadable too. Naming the files that are private is narrower, and says
what it protects.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700
PUBLIC_FILE = 0o644  # a certificate: public, but never half-written either
TEMP_PREFIX = ".esync-partial-"
OPEN_TO_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def _stage(path: Path, data: bytes, mode: int) -> Path:
    """`data`, complete and on disk, under a fresh name beside `path`.

    The file is created 0600 and only then given `mode`: the umask can narrow a new file but
    never widen it, and fchmod makes the mode exact whatever the umask took away.
    """
    temp = path.with_name(f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(6)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fchmod(file.fileno(), mode)
            os.fsync(file.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _fsync_folder(folder: Path) -> None:
    """Make the renames into `folder` survive a power cut, not only a crash."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_files(files: Sequence[tuple[Path, bytes, int]]) -> None:
    """Write each (path, data, mode) whole. Every file is staged before any is renamed into
    place, so a failure while writing (a full disk, a refused rename) leaves every old file as
    it was and no temp file behind."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data, mode in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            staged.append((_stage(path, data, mode), path))
        for temp, path in staged:
            os.replace(temp, path)
    finally:
        # After a rename the temp name is gone; this removes only what was not renamed.
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
    for folder in {path.parent for _, path in staged}:
        _fsync_folder(folder)


def write_private(path: Path, data: bytes) -> None:
    """Write (or replace) `path` whole, readable by the owner only."""
    write_files([(path, data, PRIVATE_FILE)])


def create_private(path: Path, data: bytes = b"") -> bool:
    """Create `path` whole and owner-only unless it exists; True if this call made it.

    The complete file is linked into place, which fails if the name is taken: processes that
    start together (web, sync service, worker) all end up reading the one file that won.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _stage(path, data, PRIVATE_FILE)
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    finally:
        temp.unlink(missing_ok=True)
    _fsync_folder(path.parent)
    return True


def make_private(path: Path, mode: int = PRIVATE_FILE) -> bool:
    """Narrow an existing file (or folder, with PRIVATE_FOLDER) to `mode` if group or others
    may use it; True if it was too open. A missing path is left alone; PermissionError if it
    is someone else's file."""
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return False
    if not current & OPEN_TO_OTHERS:
        return False
    os.chmod(path, mode)
    return True


def forbid_others_writing(folder: Path) -> bool:
    """Take group and others' write permission off a folder (the home: whoever may write in
    it may replace esync.toml or the secret key, whatever their own modes); True if they had
    it."""
    current = stat.S_IMODE(os.stat(folder).st_mode)
    if not current & (stat.S_IWGRP | stat.S_IWOTH):
        return False
    os.chmod(folder, current & ~(stat.S_IWGRP | stat.S_IWOTH))
    return True


def make_private_folder(path: Path) -> None:
    """A folder only the owner may list or enter (where keys are kept), made if missing."""
    path.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    if stat.S_IMODE(os.stat(path).st_mode) != PRIVATE_FOLDER:
        os.chmod(path, PRIVATE_FOLDER)
