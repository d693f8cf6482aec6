"""Moving files between peers safely: checked paths, framed streams, landing, versions, deltas.

- Paths from a peer are untrusted: relative POSIX paths only, no `..`, no control characters,
  no name longer than the file system takes, no link leading out of the site root, and only
  files that one of the request's profile items syncs.
- Folders and links travel as headers without a body: a folder is made (a file or link in its
  place kept in the versions folder first) and gets its mtime; a link is made only if its
  target stays inside the site root, written plainly, and a hard link to a file of the same
  stream is made as a hard link.
- A stream of files is framed: one JSON header line, then exactly `size` bytes, repeated; a
  header `{"end": true}` closes it. A stream that stops early or lies about a size is refused.
- Files are staged under the instance's state folder, checked against their digest, and land by
  rename (a copy into a temp file beside the target first when the state folder is on another
  file system), mtime kept. A replaced or deleted file is first kept in HOME/versions/<stamp>/.
- Deltas (rsync-style, at fixed block offsets): the receiver's block digests go to the sender,
  which sends only the blocks that differ plus the new length. Appends and in-place edits send
  little; an insertion sends everything after it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import xxhash
from django.conf import settings

from cms.site_root import resolve_inside
from esync_site.whole_numbers import whole_number
from syncengine.file_rules import OWN_FILE_PREFIX, folder_item, item_of
from syncengine.file_state import (
    FOLDER,
    HASH_BLOCK,
    FileInfo,
    Manifest,
    cached_digests,
    current_digest,
    digest_of,
    folder_info,
    is_regular,
    link_info,
    open_to_read,
    remember,
)

MAX_HEADER = 64 * 1024
# The folders of HOME/versions/: a run's stamp (yyyymmdd-hhmmss-runN, what a run and a peer
# name) and a restore's on this server (yyyymmdd-hhmmss-restore, then restore2...). Both
# fullmatch: `$` would let a newline end one; the digits are bounded (a run id is below
# 2^63) so a stamp always fits _STAMP_ALLOWANCE.
STAMP = re.compile(r"\d{8}-\d{6}-run\d{1,19}")
RESTORE_STAMP = re.compile(r"\d{8}-\d{6}-restore\d{0,9}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NAME_MAX = 255  # bytes of one name
PATH_MAX = 4096  # bytes of a whole path, the site root's or the versions folder's included
MAX_DEPTH = 64  # names in a path: far deeper than any site, far less than tools choke on
_STAMP_ALLOWANCE = 40  # a run stamp's folder in HOME/versions/ (yyyymmdd-hhmmss-runN)


class FileRefused(ValueError):
    """A path, header or stream from a peer that is not accepted; nothing was written."""


# -- paths ------------------------------------------------------------------------------------

_site_root: tuple[object, Path] = (None, Path())


def site_root() -> Path:
    global _site_root
    configured = settings.SITE_ROOT
    if _site_root[0] is not configured:  # asked for every file: made once while it holds
        _site_root = (configured, Path(configured))
    return _site_root[1]


def name_bytes(relative: str) -> bytes | None:
    """The bytes a name stands for on disk, or None if it stands for none.

    A name that is not UTF-8 on the sender's disk travels as Python writes it: each byte that
    is not part of UTF-8 as a lone surrogate (U+DC80-U+DCFF), which JSON carries as "\\udcXX".
    Only that spelling is accepted: any other lone surrogate is no byte, and a byte that is
    part of UTF-8 spelled as a surrogate would be a second name for a file that has one.
    """
    try:
        encoded = os.fsencode(relative)
    except UnicodeEncodeError:
        return None
    return encoded if os.fsdecode(encoded) == relative else None


def shown_name(relative: str) -> str:
    """A name as logs, screens and databases can hold it: a byte that is not UTF-8 as \\xNN
    (only for showing: such a name is found on disk under its own bytes)."""
    return relative.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") \
        if name_bytes(relative) is not None else relative.encode(
            "utf-8", "backslashreplace").decode("utf-8")


def check_relative(relative: object, items: Iterable[str], folder: bool = False) -> str:
    """The path as given, if a peer may name it for these items (`folder`: the folder
    itself, made or removed); FileRefused otherwise."""
    check_path(relative)
    if (folder_item(relative) if folder else item_of(relative)) not in items:  # type: ignore[arg-type]
        raise FileRefused(f"{relative!r} is not a {'folder' if folder else 'file'} this "
                          "profile synchronizes")
    return relative  # type: ignore[return-value]


def check_path(relative: object) -> str:
    """The path as given, if it is a plain relative path this server can hold."""
    if not isinstance(relative, str) or not relative:
        raise FileRefused("a file path is missing")
    if relative.startswith("/"):
        raise FileRefused(f"{relative!r} is an absolute path; only paths inside the site root "
                          "are accepted")
    if _CONTROL.search(relative) or "\\" in relative:
        raise FileRefused(f"{relative!r} has characters a file name may not have")
    encoded = name_bytes(relative)
    if encoded is None:
        raise FileRefused(f"{relative!r} is not the name of a file: it holds characters no "
                          "file system name can")
    parts = relative.split("/")
    if any(part in ("..", ".", "") for part in parts):
        raise FileRefused(f"{relative!r} leads outside the site root or is not a plain path")
    if len(parts) > MAX_DEPTH:
        raise FileRefused(f"{relative[:200]!r}… has more than {MAX_DEPTH} names (folders "
                          "and file); only shallower paths are accepted")
    if any(len(part) > NAME_MAX // 4 and len(os.fsencode(part)) > NAME_MAX for part in parts):
        raise FileRefused(f"{relative[:200]!r} has a name longer than {NAME_MAX} bytes")
    if _longest_base() + 1 + len(encoded) >= PATH_MAX:
        raise FileRefused(f"{relative[:200]!r}… is a path too long for this server ({PATH_MAX} "
                          "bytes with the site root's or the versions folder's)")
    return relative


def _longest_base() -> int:
    """Bytes of the longer folder a peer's path is put under: the site root, or a run's
    versions folder (a replaced file is kept there under the same path)."""
    return max(len(os.fsencode(site_root())),
               len(os.fsencode(versions_root())) + 1 + _STAMP_ALLOWANCE)


def entry_target(relative: str, items: Iterable[str],
                 folders_checked: dict[str, bool] | None = None, folder: bool = False) -> Path:
    """The entry's place under the site root, whatever is there now (a file, a folder, a
    link, nothing); refuses a path through a link leading out of it. `folders_checked`: as
    for `target_of`. `folder`: the path names a folder itself."""
    check_relative(relative, items, folder)
    root = site_root()
    _check_folder(root, relative.rpartition("/")[0], relative,
                  {} if folders_checked is None else folders_checked)
    return root / relative


def target_of(relative: str, items: Iterable[str],
              folders_checked: dict[str, bool] | None = None) -> Path:
    """The file's place under the site root; refuses links leading out of it or a folder.

    `folders_checked`: folders already looked at within one stream, and whether they were
    there (each folder is looked at once, not once per file in it); this adds the ones it
    looks at. In a folder that was not there, the file is not either: it is not looked for."""
    check_relative(relative, items)
    root = site_root()
    folder = relative.rpartition("/")[0]
    if not _check_folder(root, folder, relative, {} if folders_checked is None
                         else folders_checked):
        return root / relative
    try:
        mode = os.lstat(f"{root}/{relative}").st_mode
    except (FileNotFoundError, NotADirectoryError):
        return root / relative
    if stat.S_ISLNK(mode):
        _refuse_if_outside(root, relative, relative)
        raise FileRefused(f"{relative!r} is a link on this server; it is not replaced")
    if stat.S_ISDIR(mode):
        raise FileRefused(f"{relative!r} is a folder on this server")
    return root / relative


def _check_folder(root: Path, folder: str, relative: str, checked: dict[str, bool]) -> bool:
    """Refuse `relative` if `folder` (or a folder above it) is a link leading out of the
    site root. Folders not made yet are fine: they are made as plain folders. Whether the
    folder is there."""
    if not folder:
        return True
    there = checked.get(folder)
    if there is not None:
        return there
    if not _check_folder(root, folder.rpartition("/")[0], relative, checked):
        checked[folder] = False  # under a folder that is not there
        return False
    try:
        mode = os.lstat(f"{root}/{folder}").st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = 0
    if stat.S_ISLNK(mode):
        _refuse_if_outside(root, folder, relative)
    checked[folder] = there = mode != 0
    return there


def _refuse_if_outside(root: Path, path: str, relative: str) -> None:
    try:
        resolve_inside(root, path)
    except ValueError as error:
        raise FileRefused(f"{relative!r} leads out of the site root through a link") from error
    except (RuntimeError, OSError) as error:  # a loop of links (RuntimeError on Python 3.11)
        raise FileRefused(f"{relative!r} goes through a link that leads nowhere (a loop of "
                          "links) on this server") from error


# -- versions ---------------------------------------------------------------------------------

def versions_root() -> Path:
    return Path(settings.ESYNC.home) / "versions"


def check_stamp(stamp: str) -> str:
    """The stamp as given, if it names a versions folder (a run's or a restore's)."""
    if not isinstance(stamp, str) or not (STAMP.fullmatch(stamp)
                                          or RESTORE_STAMP.fullmatch(stamp)):
        raise FileRefused(f"{str(stamp)[:100]!r} is not a run stamp (yyyymmdd-hhmmss-runN) "
                          "nor a restore's (yyyymmdd-hhmmss-restore)")
    return stamp


def keep_version(target: Path, relative: str, stamp: str) -> Path | None:
    """Copy the file about to be replaced or deleted into the versions folder."""
    kept = versions_root() / check_stamp(stamp) / relative
    for attempt in range(2):
        try:
            os.link(target, kept)  # the old inode survives the rename that replaces the file
            return kept
        except FileNotFoundError:
            if not os.path.exists(target):
                return None  # nothing to keep
            if attempt:
                raise
            kept.parent.mkdir(parents=True, exist_ok=True)  # the run's first in this folder
        except OSError:
            break
    shutil.copy2(target, kept)
    return kept


# -- staging and landing ----------------------------------------------------------------------

def incoming_dir() -> Path:
    folder = Path(settings.ESYNC.state_dir) / "incoming"
    if not os.path.isdir(folder):
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_staging_file() -> Path:
    return incoming_dir() / f"{uuid.uuid4().hex}.part"


LANDED_MODE_BITS = 0o755  # never writable by group or others here, never setuid or sticky


def mode_from(value: object) -> int | None:
    """The permission bits a file lands with, from the sender's mode (a number, or its ASCII
    digits in a query): the sender's bits, never wider, and never group- or other-writable,
    setuid or sticky. None (the file keeps this server's default) if none or not a mode."""
    if isinstance(value, str):
        value = whole_number(value)
    if type(value) is not int or not 0 <= value <= 0o7777:
        return None
    return value & LANDED_MODE_BITS


def mode_of(status: os.stat_result) -> int:
    """What a sender announces of a file's mode: its permission bits."""
    return stat.S_IMODE(status.st_mode)


def land(staged: Path, relative: str, info: FileInfo, items: Iterable[str], stamp: str,
         expected_current: str | None = None,
         folders_checked: dict[str, bool] | None = None,
         digests: Manifest | None = None, mode: int | None = None) -> None:
    """Put a staged, checked file in place; the old one goes to the versions folder.

    `expected_current`: the digest the sender believes the target has ("" for none); if the
    target changed since, the file is refused rather than overwriting an unseen edit.
    `folders_checked`: as for `target_of`. `digests`: as `current_digest`'s `cache`. `mode`:
    permission bits from `mode_from` (None: this server's default for a new file)."""
    target = _replaceable(relative, items, stamp, expected_current, folders_checked, digests)
    if mode is not None:
        os.chmod(staged, mode)
    os.utime(staged, ns=(info.mtime_ns, info.mtime_ns))
    try:
        try:
            os.replace(staged, target)
        except FileNotFoundError:  # a new folder (the staged file is there: it was just set)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        beside = target.with_name(f".esync-{uuid.uuid4().hex}")
        try:
            shutil.copyfile(staged, beside)
            with open(beside, "rb+") as file:
                os.fsync(file.fileno())
            os.utime(beside, ns=(info.mtime_ns, info.mtime_ns))
            os.replace(beside, target)
        finally:
            beside.unlink(missing_ok=True)
            staged.unlink(missing_ok=True)


def _replaceable(relative: str, items: Iterable[str], stamp: str,
                 expected_current: str | None, folders_checked: dict[str, bool] | None,
                 digests: Manifest | None = None, folder: bool = False) -> Path:
    """The place of an entry about to be replaced, cleared: what is there kept in the
    versions folder (a file or link) or removed (an empty folder). Refused, nothing
    changed, if it is not what the sender saw (`expected_current`, "" for nothing, None:
    whatever) or is a folder with entries in it."""
    target = entry_target(relative, items, folders_checked, folder)
    current = current_digest(target, relative, digests)
    if expected_current is not None and current != (expected_current or None):
        raise FileRefused(f"{relative} changed on this server during the sync; it was left "
                          "as it is (the next sync settles it)")
    if current == FOLDER:
        if not folder:
            try:
                target.rmdir()
            except OSError as error:
                raise FileRefused(f"{relative!r} is a folder with files in it on this server; "
                                  "it is not replaced") from error
    elif current is not None:
        keep_version(target, relative, stamp)
        if folder:  # a folder is made in its place
            target.unlink()
    return target


def delete(relative: str, items: Iterable[str], stamp: str, expected_current: str) -> bool:
    """Delete a file or link (kept in the versions folder first) or an empty folder, if it is
    still what the sender saw."""
    is_folder = expected_current == FOLDER
    target = entry_target(relative, items, folder=is_folder)
    current = current_digest(target, relative)
    if current is None:
        return False
    if current != expected_current:
        raise FileRefused(f"{relative} changed on this server during the sync; it was not "
                          "deleted (the next sync settles it)")
    if is_folder:
        try:
            target.rmdir()
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise FileRefused(f"the folder {relative!r} holds files this sync does not "
                                  "remove here (ones the profile does not synchronize, or "
                                  "changed here); it was kept") from error
            raise
        return True
    keep_version(target, relative, stamp)
    target.unlink()
    return True


# -- folders and links ------------------------------------------------------------------------

def check_link_target(relative: str, target: object) -> str:
    """A link's target, if it stays inside the site root written plainly: relative, going up
    (`..`) only at its start and never above the root. Anything else is refused with the
    reason (the link is then not synced, never followed)."""
    if not isinstance(target, str) or not target:
        raise FileRefused(f"{relative!r} is a link without a target")
    encoded = name_bytes(target)
    if encoded is None or "\x00" in target:
        raise FileRefused(f"{relative!r} is a link whose target holds characters no file "
                          "system name can")
    if len(encoded) >= PATH_MAX:
        raise FileRefused(f"{relative!r} is a link whose target is longer than {PATH_MAX} bytes")
    if target.startswith("/"):
        raise FileRefused(f"{relative!r} is a link to an absolute path "
                          f"({shown_name(target)}); only links that stay inside the site "
                          "root are synced")
    depth, going_up = relative.count("/"), True
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            going_up = False
        elif not going_up:
            raise FileRefused(f"{relative!r} is a link whose target goes down and up again "
                              f"({shown_name(target)}); only plainly written targets are "
                              "synced")
        else:
            depth -= 1
            if depth < 0:
                raise FileRefused(f"{relative!r} is a link leading out of the site root (to "
                                  f"{shown_name(target)}); it is not synced")
    return target


def link_refusal(relative: str, target: str) -> str | None:
    """Why the link here at `relative` is not sent, or None: it stays inside the root."""
    try:
        check_link_target(relative, target)
        _refuse_if_outside(site_root(), relative, relative)  # through other links here
    except FileRefused as error:
        return str(error)
    return None


def land_link(relative: str, target: object, mtime_ns: int, items: Iterable[str], stamp: str,
              expected_current: str | None = None,
              folders_checked: dict[str, bool] | None = None) -> FileInfo:
    """Make the link `relative` → `target` (what was there kept in the versions folder)."""
    target = check_link_target(relative, target)
    place = entry_target(relative, items, folders_checked)
    place.parent.mkdir(parents=True, exist_ok=True)
    beside = place.with_name(f"{OWN_FILE_PREFIX}{uuid.uuid4().hex}")
    os.symlink(target, beside)
    try:  # followed here, through this server's own links, it must stay inside too
        _refuse_if_outside(site_root(), str(beside.relative_to(site_root())), relative)
        _replaceable(relative, items, stamp, expected_current, folders_checked)
        os.utime(beside, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
        os.replace(beside, place)
    finally:
        if os.path.lexists(beside):
            beside.unlink()
    return link_info(target, mtime_ns)


FOLDER_MODE_BITS = 0o755  # and always the owner's rwx: this server must write in it


def make_folder(relative: str, mtime_ns: int | None, items: Iterable[str], stamp: str,
                expected_current: str | None = None, mode: int | None = None,
                folders_checked: dict[str, bool] | None = None) -> FileInfo:
    """Make the folder `relative` if it is not there (a file or link in its place kept in the
    versions folder first), with the sender's permission bits (never wider); then its mtime,
    if given."""
    place = entry_target(relative, items, folders_checked, folder=True)
    if current_digest(place, relative) != FOLDER:
        _replaceable(relative, items, stamp, expected_current, folders_checked, folder=True)
        place.mkdir(parents=True, exist_ok=True)
        if folders_checked is not None:
            folders_checked[relative] = True
    if mode is not None:
        os.chmod(place, (mode & FOLDER_MODE_BITS) | 0o700)
    if mtime_ns is not None:
        os.utime(place, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
    return folder_info(place.lstat())


def link_hard(relative: str, leader: object, info: FileInfo, items: Iterable[str], stamp: str,
              expected_current: str | None, landed: Manifest, digests: Manifest,
              folders_checked: dict[str, bool] | None = None) -> None:
    """Make `relative` a hard link of `leader`, a file landed here with the same content."""
    leader = check_relative(leader, items)
    source = entry_target(leader, items, folders_checked)
    known = landed.get(leader)
    if (known.digest if known else current_digest(source, leader, digests)) != info.digest \
            or not os.path.isfile(source) or os.path.islink(source):
        raise FileRefused(f"{relative!r} is a hard link of {leader!r}, which is not here with "
                          "the same content; the next sync sends it whole")
    place = _replaceable(relative, items, stamp, expected_current, folders_checked, digests)
    beside = place.with_name(f"{OWN_FILE_PREFIX}{uuid.uuid4().hex}")
    try:
        os.link(source, beside)
        os.replace(beside, place)
    finally:
        beside.unlink(missing_ok=True)


def write_counted(out, chunks: Iterable[bytes]) -> tuple[int, str]:
    """Write `chunks` to the open file `out`: the bytes written and their digest."""
    hasher, size = xxhash.xxh3_128(), 0
    for chunk in chunks:
        out.write(chunk)
        hasher.update(chunk)
        size += len(chunk)
    return size, hasher.hexdigest()


class FileDamaged(FileRefused):
    """A file's bytes arrived whole but are not the ones its header announced."""


def write_staged(chunks: Iterable[bytes], expected: FileInfo) -> Path:
    """Stage `chunks` as a file; refused unless the size and digest are the expected ones.
    Not yet flushed to disk: the caller flushes its batch (`flush_to_disk`)."""
    staged = new_staging_file()
    try:
        with open(staged, "wb") as out:
            size, digest = write_counted(out, chunks)
        if size != expected.size or digest != expected.digest:
            raise FileDamaged("it changed on the sending server while it was sent, or arrived "
                              "damaged (its size or digest differ); not written, the next "
                              "sync sends it again")
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return staged


# -- framed streams ---------------------------------------------------------------------------

class FrameReader:
    """Reads `header line, body bytes` frames from an iterator of chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self._done = False

    def _fill(self) -> bool:
        if self._done:
            return False
        try:
            self._buffer += next(self._chunks)
        except StopIteration:
            self._done = True
            return False
        return True

    def header(self) -> dict:
        while (end := self._buffer.find(b"\n", 0, MAX_HEADER + 1)) < 0:
            if len(self._buffer) > MAX_HEADER:
                raise FileRefused("a file header is too long")
            if not self._fill():
                raise FileRefused("the file stream ended in the middle (no end marker)")
        # Only the header is copied out; a bytearray drops its front without moving the rest.
        line = bytes(self._buffer[:end])
        del self._buffer[:end + 1]
        try:
            header = json.loads(line)
        except ValueError as error:
            raise FileRefused("a file header is not JSON") from error
        if not isinstance(header, dict):
            raise FileRefused("a file header is not an object")
        return header

    def rest(self) -> Iterator[bytes]:
        """Whatever has not been read yet, as chunks (to hand the stream on)."""
        if self._buffer:
            yield bytes(self._buffer)
            self._buffer.clear()
        while self._fill():
            yield bytes(self._buffer)
            self._buffer.clear()

    def body(self, size: int) -> Iterator[bytes]:
        if not isinstance(size, int) or size < 0:
            raise FileRefused("a file size is not a whole number of bytes")
        remaining = size
        while remaining:
            if not self._buffer and not self._fill():
                raise FileRefused("the file stream ended in the middle of a file")
            piece = bytes(self._buffer[:remaining])
            del self._buffer[:len(piece)]
            remaining -= len(piece)
            yield piece


def frame(header: dict, body: Iterable[bytes] = ()) -> Iterator[bytes]:
    yield json.dumps(header, separators=(",", ":")).encode() + b"\n"
    yield from body


def file_chunks(path: Path, offset: int = 0, length: int | None = None,
                size: int = HASH_BLOCK) -> Iterator[bytes]:
    with open_to_read(path) as source:
        source.seek(offset)
        yield from chunks_of(source, length, size)


def chunks_of(source: BinaryIO, length: int | None = None,
              size: int = HASH_BLOCK) -> Iterator[bytes]:
    """An open file's bytes from where it stands, `length` of them at most."""
    remaining = length
    while remaining is None or remaining > 0:
        chunk = source.read(size if remaining is None else min(size, remaining))
        if not chunk:
            break
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def exactly(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """`size` bytes whatever the file did meanwhile (a shrunk file padded), so that the
    stream's frames hold and the digest tells the receiver."""
    sent = 0
    for chunk in chunks:
        chunk = chunk[:size - sent]
        sent += len(chunk)
        yield chunk
        if sent == size:
            return
    while sent < size:
        pad = min(size - sent, 1024 * 1024)
        sent += pad
        yield bytes(pad)


def info_from(header: dict) -> FileInfo:
    try:
        info = FileInfo(int(header["size"]), mtime_from(header["mtime_ns"]),
                        str(header["digest"]))
    except (KeyError, TypeError, ValueError) as error:
        raise FileRefused("a file header lacks its size, mtime or digest") from error
    if not is_regular(info):
        raise FileRefused("a file header names a digest no file has")
    return info


MTIME_LIMIT = 2 ** 62  # nanoseconds either side of 1970: 146 years; the file systems' limit


def mtime_from(value: object) -> int:
    """An mtime in nanoseconds as a peer sends it; ValueError unless a whole number that
    a file system can hold (a file may well be older than 1970)."""
    if type(value) is not int or not -MTIME_LIMIT < value < MTIME_LIMIT:
        raise ValueError("not an mtime")
    return value


@dataclass
class Received:
    landed: list[str]
    refused: list[dict]
    bytes: int


def flush_to_disk(path: Path) -> None:
    """A staged file reaches the disk before the rename that publishes it. Its own data
    only: a machine-wide sync would also wait for everything any other program has written
    and not yet flushed (seconds, after a big copy)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(descriptor)
    finally:
        os.close(descriptor)


# Staged files are flushed in groups: a task (and a thread woken) per file cost more than the
# flush of a small file itself.
FLUSH_GROUP = 32


def flush_all(paths: list[Path]) -> None:
    for path in paths:
        flush_to_disk(path)


def receive_files(chunks: Iterable[bytes], items: Iterable[str], stamp: str,
                  limits: tuple[int, int] | None = None,
                  replaces: Callable[[str], str] | None = None,
                  admits: Callable[[str], bool] | None = None) -> Received:
    """Stage every file of a framed stream, then land them all. A file this server refuses
    (its name, a link on its way, a folder in its place, a profile that does not write it here,
    a change here meanwhile) is refused alone, its body read past, and reported with the
    reason; so is one the sender marks missing or refused. A broken stream (a header without
    a path or size, a stream cut short) or one over the limits refuses the whole stream before
    anything lands.

    Folders, links and hard links (headers without a body) are made after the files, in the
    stream's order.

    `replaces(path)`: the digest the file here must still have ("" for none); by default the
    sender says so in each header. `admits(path, folder)`: whether the sender may write it
    here."""
    items = list(items)
    check_stamp(stamp)
    reader = FrameReader(chunks)
    staged: list[tuple[Path, str, FileInfo, str | None, int | None]] = []
    others: list[tuple[str, dict, str | None]] = []  # folders, links, hard links
    received = Received([], [], 0)
    folders_checked: dict[str, bool] = {}
    # Staged files are flushed in the background, a group at a time, while the stream goes
    # on; all of them are on disk before the first one lands.
    flushing = ThreadPoolExecutor(max_workers=4, thread_name_prefix="esync-flush")
    flushed, unflushed = [], []
    try:
        while not (header := reader.header()).get("end"):
            relative = header.get("path")
            if not isinstance(relative, str) or not relative:
                raise FileRefused("a file header names no path")
            if header.get("missing") or header.get("refused"):
                received.refused.append({"path": relative, "error": _not_sent(header)})
                continue
            expected = replaces(relative) if replaces else header.get("replaces")
            expected = None if expected is None else str(expected)
            if header.get("folder") is True or "link" in header:
                is_folder = header.get("folder") is True
                if limits and len(staged) + len(others) + 1 > limits[0]:
                    raise FileRefused(f"the stream exceeds this server's limit of {limits[0]} "
                                      "files per run")
                try:
                    entry_target(relative, items, folders_checked, folder=is_folder)
                    if admits is not None and not admits(relative, is_folder):
                        raise FileRefused(f"{relative!r} is not a folder or link a profile of "
                                          "this relationship writes here")
                    others.append(("folder" if is_folder else "link", header, expected))
                except FileRefused as error:
                    received.refused.append({"path": relative, "error": str(error)})
                continue
            info = info_from(header)
            bodiless = "hardlink" in header  # the file it links to is earlier in this stream
            received.bytes += 0 if bodiless else info.size
            if limits and (len(staged) + len(others) + 1 > limits[0] or
                           received.bytes > limits[1]):
                raise FileRefused(f"the stream exceeds this server's limit of {limits[0]} "
                                  f"files or {limits[1]} bytes per run")
            try:
                entry_target(relative, items, folders_checked)
                if admits is not None and not admits(relative):
                    raise FileRefused(f"{relative!r} is not a file a profile of this "
                                      "relationship writes here (its category, its filter or "
                                      "the global exceptions .config, .txt, .sln)")
            except FileRefused as error:
                for _ in reader.body(0 if bodiless else info.size):
                    pass  # read past: the next file's header follows it
                received.refused.append({"path": relative, "error": str(error)})
                continue
            if bodiless:
                others.append(("hardlink", header, expected))
                continue
            try:
                written = write_staged(reader.body(info.size), info)
            except FileDamaged as error:  # read to its end: the stream goes on
                received.refused.append({"path": relative, "error": str(error)})
                continue
            staged.append((written, relative, info, expected, mode_from(header.get("mode"))))
            unflushed.append(staged[-1][0])
            if len(unflushed) >= FLUSH_GROUP:
                flushed.append(flushing.submit(flush_all, unflushed))
                unflushed = []
        if unflushed:
            flushed.append(flushing.submit(flush_all, unflushed))
        for flush in flushed:
            flush.result()
    except BaseException:
        flushing.shutdown(wait=True, cancel_futures=True)
        for path, *_ in staged:
            path.unlink(missing_ok=True)
        raise
    flushing.shutdown()
    if not staged and not others:  # every file refused: nothing here is looked at or touched
        return received
    landed: dict[str, FileInfo] = {}
    landing_checked: dict[str, bool] = {}
    digests = cached_digests()
    for index, (path, relative, info, expected, mode) in enumerate(staged):
        try:
            # Folders are looked at again as files land (one lstat per folder per stream).
            land(path, relative, info, items, stamp, expected, landing_checked, digests, mode)
            received.landed.append(relative)
            landed[relative] = info
        except (FileRefused, OSError) as error:
            path.unlink(missing_ok=True)
            received.refused.append({"path": relative, "error": str(error)})
        except BaseException:
            for rest, *_ in staged[index:]:
                rest.unlink(missing_ok=True)
            remember(landed)
            raise
    for kind, header, expected in others:
        relative = header["path"]
        try:
            if kind == "folder":
                mtime = header.get("mtime_ns")
                make_folder(relative, None if mtime is None else mtime_from(mtime), items, stamp,
                            expected, mode_from(header.get("mode")), landing_checked)
            elif kind == "link":
                land_link(relative, header["link"], mtime_from(header.get("mtime_ns")), items,
                          stamp, expected, landing_checked)
            else:
                info = info_from(header)
                link_hard(relative, header["hardlink"], info, items, stamp, expected, landed,
                          digests, landing_checked)
                landed[relative] = info
            received.landed.append(relative)
        except (FileRefused, OSError, ValueError) as error:
            received.refused.append({"path": relative, "error": _reason(error)})
    remember(landed)
    return received


def _reason(error: Exception) -> str:
    if isinstance(error, ValueError) and not isinstance(error, FileRefused):
        return "its header gives no mtime a file system can hold"
    return str(error)


def _not_sent(header: dict) -> str:
    """Why the sender's stream carries a file's header and no file."""
    if header.get("missing"):
        return "removed on the sending server during the sync"
    return f"the sending server refused it: {str(header['refused'])[:1000]}"


def send_files(paths: Iterable[str], items: Iterable[str]) -> Iterator[bytes]:
    """A framed stream of these files as they are now: a vanished one is marked missing, one
    this server will not send (its name, a link on its way) refused with the reason."""
    items = list(items)
    folders_checked: dict[str, bool] = {}
    inodes: dict[tuple[int, int], str] = {}  # hard links: the first name sent of each file
    for relative in paths:
        try:
            check_path(relative)
            try:
                now = (site_root() / relative).lstat()
            except (FileNotFoundError, NotADirectoryError):
                yield from frame({"path": relative, "missing": True})
                continue
            entry_target(relative, items, folders_checked, folder=stat.S_ISDIR(now.st_mode))
            header = entry_header(relative, now)
        except FileRefused as error:
            yield from frame({"path": relative, "refused": str(error)})
            continue
        if header is not None:
            yield from frame(header)
            continue
        try:
            digest = digest_of(site_root() / relative)
        except (FileNotFoundError, IsADirectoryError):
            yield from frame({"path": relative, "missing": True})
            continue
        file_header = {"path": relative, "size": now.st_size, "mtime_ns": now.st_mtime_ns,
                       "digest": digest, "mode": mode_of(now)}
        leader = inodes.get((now.st_dev, now.st_ino)) if now.st_nlink > 1 else None
        if leader is not None:
            yield from frame({**file_header, "hardlink": leader})
            continue
        if now.st_nlink > 1:
            inodes[(now.st_dev, now.st_ino)] = relative
        yield from frame(file_header, file_chunks(site_root() / relative, length=now.st_size))
    yield from frame({"end": True})


def entry_header(relative: str, now: os.stat_result) -> dict | None:
    """The header that carries a folder or a link (None for a file: it has a body). A link
    leading out of the site root is refused with the reason (FileRefused)."""
    if stat.S_ISDIR(now.st_mode):
        return {"path": relative, "folder": True, "mtime_ns": now.st_mtime_ns,
                "mode": mode_of(now)}
    if stat.S_ISLNK(now.st_mode):
        target = os.readlink(site_root() / relative)
        refusal = link_refusal(relative, target)
        if refusal is not None:
            raise FileRefused(refusal)
        return {"path": relative, "link": target, "mtime_ns": now.st_mtime_ns}
    if not stat.S_ISREG(now.st_mode):
        raise FileRefused(f"{relative!r} is not a file, folder or link (a device or pipe)")
    return None


# -- resumable big files ----------------------------------------------------------------------

def partial_path(relative: str, digest: str) -> Path:
    key = xxhash.xxh3_128_hexdigest(os.fsencode(relative) + f"\0{digest}".encode())
    return incoming_dir() / f"resume-{key}.part"


def append_chunk(relative: str, digest: str, offset: int, chunks: Iterable[bytes]) -> int:
    """Add a chunk to a resumable transfer; the offset must be where the partial file ends."""
    partial = partial_path(relative, digest)
    have = partial.stat().st_size if partial.exists() else 0
    if offset != have:
        raise FileRefused(f"this server holds {have} bytes of {relative}, not {offset}")
    with open(partial, "ab") as out:
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return partial.stat().st_size


def finish_partial(relative: str, info: FileInfo) -> Path:
    """The complete partial file, checked, ready to land."""
    partial = partial_path(relative, info.digest)
    if not partial.exists() or partial.stat().st_size != info.size or \
            digest_of(partial) != info.digest:
        partial.unlink(missing_ok=True)
        raise FileRefused(f"{relative} did not arrive whole; it will be sent again")
    staged = new_staging_file()
    os.replace(partial, staged)
    return staged
