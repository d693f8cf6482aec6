"""The initial sync's resource folders (assets, privateassets, uploadedimages, uploadedfiles)
as one framed file stream: what the source sends, and how the destination checks and writes it
into a staging folder (syncengine.resource_files keeps the staged uploads and puts them in
place).

The stream is file_transfer's: a JSON header line, then exactly `size` bytes, repeated, and
`{"end": true}`. Two kinds of header, nothing else:

    {"path": "assets/a/b.png", "size": 3, "mtime_ns": 1700000000000000000, "digest": "<xxh3>"}
    {"path": "assets/a/empty", "folder": true}

No tar, no link, no device: a header with any other field is refused. Every path is checked
(relative, UTF-8, no `..`, no control character, inside one of the four folders, not this
program's own `.esync-` names, short enough for this server) and every file against its size
and digest; the total against this server's limits per run. The staging folder is made here,
one plain folder at a time, each file created new (never through a link, never over another),
so it holds nothing but what the stream named and no path can lead out of it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from cms.site_root import RESOURCE_FOLDERS
from syncengine.file_rules import OWN_FILE_PREFIX, item_of
from syncengine.file_state import FileInfo, digest_of
from syncengine.file_transfer import (
    FLUSH_GROUP,
    MAX_DEPTH,
    MAX_HEADER,
    NAME_MAX,
    PATH_MAX,
    FileRefused,
    FrameReader,
    exactly,
    file_chunks,
    flush_all,
    frame,
    site_root,
    write_counted,
)

CONTENT_TYPE = "application/x-esync-files"
MAX_RELATIVE = 3072  # bytes of a path inside the site root
HEADER_ALLOWANCE = 4096  # bytes of header per file, in the bound on the whole stream

_DIGEST = re.compile(r"^[0-9a-f]{32}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FILE_FIELDS = frozenset({"path", "size", "mtime_ns", "digest"})
_FOLDER_FIELDS = frozenset({"path", "folder"})


class ResourceStreamRejected(FileRefused):
    """The resource folders' stream holds something that is not a resource file of a site
    root, or is broken; nothing of it was kept."""


def run_limits() -> tuple[int, int]:
    """This server's limits per run: files, bytes (esync.toml)."""
    return settings.ESYNC.max_files_per_run, settings.ESYNC.max_bytes_per_run


# -- checking what a peer names ---------------------------------------------------------------

def checked_path(relative: object, folder: bool = False) -> str:
    """The path as given, if it names a file (or a folder) inside one of the four resource
    folders; ResourceStreamRejected otherwise."""
    if not isinstance(relative, str) or not relative:
        raise ResourceStreamRejected("a path is missing in the resource folders' stream")
    try:
        encoded = relative.encode("utf-8")
    except UnicodeEncodeError:
        raise ResourceStreamRejected(f"{relative!r} is not a UTF-8 name") from None
    if relative.startswith("/"):
        raise ResourceStreamRejected(f"{relative!r} is an absolute path; only paths inside "
                                     "the resource folders are accepted")
    if _CONTROL.search(relative) or "\\" in relative:
        raise ResourceStreamRejected(f"{relative!r} has characters a file name may not have")
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ResourceStreamRejected(f"{relative!r} leads outside the resource folders or is "
                                     "not a plain path")
    if len(parts) > MAX_DEPTH:
        raise ResourceStreamRejected(f"{relative[:200]!r}… goes down more than {MAX_DEPTH} "
                                     "folders")
    if any(len(part.encode()) > NAME_MAX for part in parts):
        raise ResourceStreamRejected(f"{relative[:200]!r}… has a name longer than {NAME_MAX} "
                                     "bytes")
    if len(encoded) > MAX_RELATIVE or _longest_base() + len(encoded) + 1 >= PATH_MAX:
        raise ResourceStreamRejected(f"{relative[:200]!r}… is a path too long for this "
                                     "server's site root")
    if parts[0] not in RESOURCE_FOLDERS or (not folder and len(parts) < 2):
        raise ResourceStreamRejected(f"{relative!r} is not inside one of the resource folders "
                                     f"({', '.join(RESOURCE_FOLDERS)})")
    if any(part.lower().startswith(OWN_FILE_PREFIX) for part in parts) or \
            (not folder and item_of(relative) != "database"):
        raise ResourceStreamRejected(f"{relative!r} is a name esync keeps for its own files")
    return relative


def _longest_base() -> int:
    """The longer of the folders a resource path is put under here: the site root, and the
    staging folder under state/incoming/."""
    staging = len(os.fsencode(settings.ESYNC.state_dir)) + len("/incoming/resources-") + 36
    return max(len(os.fsencode(site_root())), staging)


def _file_info(header: dict, relative: str) -> FileInfo:
    size, mtime_ns, digest = header.get("size"), header.get("mtime_ns"), header.get("digest")
    if type(size) is not int or size < 0:  # too big: the run's limit refuses it
        raise ResourceStreamRejected(f"{relative}: the size is not a whole number of bytes")
    if type(mtime_ns) is not int or not 0 <= mtime_ns < 2**63:
        raise ResourceStreamRejected(f"{relative}: the modification time is not a whole "
                                     "number of nanoseconds from 1970 to 2262")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise ResourceStreamRejected(f"{relative}: the digest is not 32 hexadecimal digits")
    return FileInfo(size, mtime_ns, digest)


# -- the source's half ------------------------------------------------------------------------

@dataclass
class ResourceExport:
    """The four folders of the default site root as they are now: every regular file (links,
    sockets and devices are not sent) and every folder below them."""

    root: Path
    folders: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def chunks(self) -> Iterator[bytes]:
        """The framed stream. A file removed since it was listed is left out; one changed
        while it is read arrives with a digest that no longer matches, and the destination
        refuses the stream (the next initial sync copies it)."""
        for relative in self.folders:
            yield from frame({"path": relative, "folder": True})
        for relative in self.files:
            path = self.root / relative
            try:
                now = os.stat(path, follow_symlinks=False)
                if not stat.S_ISREG(now.st_mode):
                    continue
                digest = digest_of(path)
            except FileNotFoundError:
                continue
            yield from frame({"path": relative, "size": now.st_size,
                              "mtime_ns": now.st_mtime_ns, "digest": digest},
                             exactly(file_chunks(path, length=now.st_size), now.st_size))
        yield from frame({"end": True})


def export() -> ResourceExport:
    """List the four folders now; refused (ResourceStreamRejected, naming it) if one of their
    names cannot travel: the copy is exact or it does not happen."""
    root = site_root()
    listing = ResourceExport(root)
    stack = [name for name in reversed(RESOURCE_FOLDERS)]
    while stack:
        relative = stack.pop()
        try:
            entries = sorted(os.scandir(root / relative), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        subfolders = []
        for entry in entries:
            if entry.name.lower().startswith(OWN_FILE_PREFIX) or entry.is_symlink():
                continue
            child = f"{relative}/{entry.name}"
            is_folder = entry.is_dir(follow_symlinks=False)
            if not is_folder and not entry.is_file(follow_symlinks=False):
                continue
            try:
                checked_path(child, folder=is_folder)
            except ResourceStreamRejected as error:
                raise ResourceStreamRejected(
                    f"the resource folders cannot be sent: {error}. Rename it in the site "
                    "root, then start the initial sync again") from error
            if is_folder:
                listing.folders.append(child)
                subfolders.append(child)
            else:
                listing.files.append(child)
        stack.extend(reversed(subfolders))
    return listing


# -- the destination's half: receiving into a staging folder ---------------------------------

def receive_into(chunks: Iterable[bytes], staging: Path,
                 limits: tuple[int, int] | None = None) -> int:
    """Check the stream and write it into `staging` (an empty folder); how many files. The
    files are on disk before it returns. Refused (ResourceStreamRejected) at the first thing
    wrong, with what was written left for the caller to remove."""
    files_limit, bytes_limit = limits or run_limits()
    bound = bytes_limit + files_limit * HEADER_ALLOWANCE + MAX_HEADER
    try:
        return _receive(FrameReader(_bounded(chunks, bound)), staging,
                        (files_limit, bytes_limit))
    except ResourceStreamRejected:
        raise
    except FileRefused as error:  # the frames themselves (file_transfer's words)
        raise ResourceStreamRejected(f"the resource folders' stream was refused: "
                                     f"{error}") from error


def _bounded(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    read = 0
    for chunk in chunks:
        read += len(chunk)
        if read > limit:
            raise ResourceStreamRejected(f"the resource folders' stream is past the {limit:,} "
                                         "bytes this server accepts for one run")
        yield chunk


def _receive(reader: FrameReader, staging: Path, limits: tuple[int, int]) -> int:
    """Stage every file and folder of the stream; the files are on disk before it returns.
    How many files."""
    seen: dict[str, bool] = {}  # path → is a folder
    files = total = 0
    flushing = ThreadPoolExecutor(max_workers=4, thread_name_prefix="esync-flush")
    flushed, unflushed = [], []
    try:
        while True:
            header = reader.header()
            if "end" in header:
                if header != {"end": True}:
                    raise ResourceStreamRejected("the end marker of the resource folders' "
                                                 "stream has other fields")
                break
            relative = header.get("path")
            if header.get("folder") is True and set(header) == _FOLDER_FIELDS:
                _make_folders(staging, checked_path(relative, folder=True), seen)
                continue
            if set(header) != _FILE_FIELDS:
                raise ResourceStreamRejected(
                    f"{str(relative)[:200]!r}: a header of the resource folders' stream is a "
                    "file {path, size, mtime_ns, digest} or a folder {path, folder}; links and "
                    "anything else are not accepted")
            relative = checked_path(relative)
            info = _file_info(header, relative)
            files, total = files + 1, total + info.size
            if files > limits[0] or total > limits[1]:
                raise ResourceStreamRejected(
                    f"the resource folders exceed this server's limit of {limits[0]:,} files "
                    f"or {limits[1]:,} bytes per run (max_files_per_run, max_bytes_per_run in "
                    "esync.toml)")
            if relative in seen:
                raise ResourceStreamRejected(f"{relative!r} appears twice in the stream")
            folder = relative.rpartition("/")[0]
            _make_folders(staging, folder, seen)
            seen[relative] = False
            target = f"{staging}/{relative}"
            _write_file(target, reader.body(info.size), info, relative)
            unflushed.append(target)
            if len(unflushed) >= FLUSH_GROUP:
                flushed.append(flushing.submit(flush_all, unflushed))
                unflushed = []
        if any(chunk for chunk in reader.rest()):
            raise ResourceStreamRejected("the resource folders' stream goes on after its end "
                                         "marker")
        if unflushed:
            flushed.append(flushing.submit(flush_all, unflushed))
        for flush in flushed:
            flush.result()
    finally:
        flushing.shutdown(wait=True, cancel_futures=True)
    return files


def _write_file(target: str, chunks: Iterable[bytes], info: FileInfo, relative: str) -> None:
    """Write one file of the stream where it is staged (a new file: never through a link,
    never over another), checked against its size and digest, with its mtime."""
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        with open(descriptor, "wb") as out:
            size, digest = write_counted(out, chunks)
        if size != info.size or digest != info.digest:
            raise ResourceStreamRejected(
                f"{relative} arrived damaged (its size or digest differ; it may have changed "
                "on the source while it was sent)")
        os.utime(target, ns=(info.mtime_ns, info.mtime_ns))
    except BaseException:
        os.unlink(target)
        raise


def _make_folders(staging: Path, folder: str, seen: dict[str, bool]) -> None:
    """Make `folder` and those above it in the staging folder, as plain folders."""
    if not folder or seen.get(folder) is True:
        return
    parts = folder.split("/")
    for depth in range(1, len(parts) + 1):
        above = "/".join(parts[:depth])
        made = seen.get(above)
        if made is False:
            raise ResourceStreamRejected(f"{above!r} is both a file and a folder in the "
                                         "stream")
        if made is None:
            os.mkdir(f"{staging}/{above}")
            seen[above] = True
