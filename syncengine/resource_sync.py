"""The resource folders' changed files for a Database/Resources profile (simple copy).

Each side lists its files in the four resource folders (path, size, mtime). A file missing on
the other side, or newer here, goes across: upload sends, download fetches, bidirectional does
both, the newer file winning. Files land by temp file + fsync + rename with their mtime kept.
Deletions do not travel here, and nothing is sent in blocks: the file-sync work brings that.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

from cms.site_root import RESOURCE_FOLDERS, resolve_inside

MTIME_SLACK = 2.0  # seconds: file systems keep mtimes at different precisions


class ResourcePathRefused(ValueError):
    pass


@dataclass
class FilesOutcome:
    copied: int = 0
    bytes: int = 0


def site_root() -> Path:
    return Path(settings.SITE_ROOT)


def manifest() -> dict[str, dict]:
    """path → {size, mtime} of every file in the four resource folders."""
    root = site_root()
    files: dict[str, dict] = {}
    for name in RESOURCE_FOLDERS:
        folder = root / name
        if not folder.is_dir():
            continue
        for dirpath, _dirs, filenames in os.walk(folder):
            for filename in filenames:
                path = Path(dirpath) / filename
                if path.is_symlink() or filename.startswith(".esync-"):
                    continue
                stat = path.stat()
                files[path.relative_to(root).as_posix()] = {"size": stat.st_size,
                                                            "mtime": stat.st_mtime}
    return files


def checked_path(relative: str) -> Path:
    """A resource file's path from a peer, refused unless it is inside a resource folder."""
    parts = Path(relative).parts
    if not parts or parts[0].lower() not in RESOURCE_FOLDERS or len(parts) < 2:
        raise ResourcePathRefused(f"{relative!r} is not a file in a resource folder")
    try:
        return resolve_inside(site_root(), relative)
    except ValueError as error:
        raise ResourcePathRefused(str(error)) from error


def land(relative: str, chunks: Iterable[bytes], mtime: float) -> int:
    """Write a file by temp + fsync + rename, keeping the source's mtime; returns its size."""
    target = checked_path(relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=".esync-")
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.utime(temp, (mtime, mtime))
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return size


def read_chunks(relative: str, size: int = 256 * 1024):
    with open(checked_path(relative), "rb") as source:
        while chunk := source.read(size):
            yield chunk


def to_move(local: dict[str, dict], remote: dict[str, dict], direction: str,
            ) -> tuple[list[str], list[str]]:
    """(paths to send, paths to fetch): missing on the other side, or newer on this one."""
    send, fetch = [], []
    for path in sorted(set(local) | set(remote)):
        mine, theirs = local.get(path), remote.get(path)
        local_newer = theirs is None or (
            mine is not None and mine["mtime"] > theirs["mtime"] + MTIME_SLACK)
        remote_newer = mine is None or (
            theirs is not None and theirs["mtime"] > mine["mtime"] + MTIME_SLACK)
        if mine is not None and local_newer and direction in ("upload", "bidirectional"):
            send.append(path)
        elif theirs is not None and remote_newer and direction in ("download",
                                                                    "bidirectional"):
            fetch.append(path)
    return send, fetch


def sync_resource_files(profile, progress: Callable[..., None]) -> FilesOutcome:
    from syncengine.db_sync import client_for

    outcome = FilesOutcome()
    if "database" not in profile.items:
        return outcome
    client = client_for(profile.relationship)
    progress(phase="Comparing the resource folders")
    remote = client.get_json("/resources/manifest")["files"]
    local = manifest()
    send, fetch = to_move(local, remote, profile.direction)
    for path in send:
        progress(phase=f"Sending {path}")
        size = local[path]["size"]
        with open(checked_path(path), "rb") as body, client.open(
                "POST", f"/resources/file?path={quote(path)}&mtime={local[path]['mtime']}",
                body=body, headers={"Content-Length": str(size),
                                    "Content-Type": "application/octet-stream"}) as response:
            b"".join(response.body)
        outcome.copied += 1
        outcome.bytes += size
    for path in fetch:
        progress(phase=f"Receiving {path}")
        with client.open("GET", f"/resources/file?path={quote(path)}") as response:
            outcome.bytes += land(path, response.body, remote[path]["mtime"])
        outcome.copied += 1
    return outcome
