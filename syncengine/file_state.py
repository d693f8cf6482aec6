"""What a site root's synced files are now, and what they were at the last sync.

A *manifest* maps each synced file's relative path (POSIX, as on disk) to its size, mtime (ns)
and content digest (xxh3-128). Folders and links are entries too, told apart by their digest:
`folder` for a folder (its mtime is kept, never compared: what is in it decides), `link:` and
the target for a link (a link is never followed; one leading out of the site root is listed,
and refused when it would be sent). Digests come from a per-site cache and are computed only for
files whose size or mtime differ from the cached ones (rsync's quick check), so a scan of an
unchanged tree reads no file contents.

The *base* of a relationship is the manifest of its files as they were when last synced — the
same on both sides then. A file differs from the base on a side when it changed there since
(Unison's archive). Both are kept as JSON files under the instance's state folder, replaced
atomically; losing a base is harmless (a file that is equal on both sides is simply in step).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISDIR, S_ISLNK, S_ISREG
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

import xxhash
from django.conf import settings

from esync_site.whole_numbers import whole_number
from syncengine.file_rules import (
    OWN_FILE_PREFIX,
    FileFilter,
    is_synced,
    is_synced_folder,
    top_folders,
)

if TYPE_CHECKING:
    from syncengine.file_journal import Changes

HASH_BLOCK = 1024 * 1024


class FileInfo(NamedTuple):
    """A file as a manifest knows it (a tuple: cheap by the hundred thousand)."""

    size: int
    mtime_ns: int
    digest: str

    def as_list(self) -> list:
        return list(self)

    @classmethod
    def from_list(cls, values: list) -> FileInfo:
        size, mtime_ns, digest = values
        return cls(int(size), int(mtime_ns), str(digest))


Manifest = dict[str, FileInfo]

FOLDER = "folder"  # the digest of a folder's entry
LINK = "link:"  # a link's digest: this, then its target


def is_folder(info: FileInfo | None) -> bool:
    return info is not None and info.digest == FOLDER


def is_link(info: FileInfo | None) -> bool:
    return info is not None and info.digest.startswith(LINK)


def is_regular(info: FileInfo | None) -> bool:
    """A file with content (not a folder, not a link)."""
    return info is not None and info.digest != FOLDER and not info.digest.startswith(LINK)


def link_target(info: FileInfo) -> str:
    return info.digest[len(LINK):]


def folder_info(status: os.stat_result) -> FileInfo:
    return FileInfo(0, status.st_mtime_ns, FOLDER)


def link_info(target: str, mtime_ns: int) -> FileInfo:
    return FileInfo(len(os.fsencode(target)), mtime_ns, LINK + target)


def entry_synced(relative: str, info: FileInfo, items: set[str] | list[str],
                 file_filter: FileFilter) -> bool:
    """Whether a profile with these items and filter moves this entry (file, link, folder)."""
    if info.digest == FOLDER:
        return is_synced_folder(relative, items, file_filter)
    return is_synced(relative, items, file_filter)


def open_to_read(path: Path) -> BinaryIO:
    """A site file opened for reading without touching its access time where the system
    allows it (to the file's owner): esync reading a file is not an access by anyone, and on
    a file just written the update is a change of its record that waits behind the disk
    flushes of files landing meanwhile."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOATIME", 0))
    except PermissionError:
        descriptor = os.open(path, os.O_RDONLY)
    try:
        return open(descriptor, "rb")
    except BaseException:  # a folder, say: refused here, the descriptor closed
        os.close(descriptor)
        raise


def digest_of(path: Path) -> str:
    hasher = xxhash.xxh3_128()
    with open_to_read(path) as source:
        while block := source.read(HASH_BLOCK):
            hasher.update(block)
    return hasher.hexdigest()


def walk_files(root: Path, items: Iterable[str], folders: set[str] | None = None,
               ) -> Iterable[tuple[str, os.stat_result]]:
    """(relative path, stat) of every regular file under the items' folders. Links are not
    followed: a link could lead out of the site root. `folders`, if given, receives every
    folder walked ("" for the root)."""
    return _walk([(Path(root), "")], top_folders(set(items)), folders)


def walk_entries(root: Path, items: Iterable[str], folders: set[str] | None = None,
                 ) -> Iterable[tuple[str, os.stat_result]]:
    """As `walk_files`, with the folders below the root and the links as entries too (each
    with its own lstat: a link is never followed)."""
    return _walk([(Path(root), "")], top_folders(set(items)), folders, entries=True)


def _walk(stack: list[tuple[Path, str]], wanted: list[str] | None, folders: set[str] | None,
          entries: bool = False) -> Iterable[tuple[str, os.stat_result]]:
    while stack:
        path, relative = stack.pop()
        listed = _list_folder(path, relative, wanted, entries)
        if listed is None:
            continue
        if folders is not None:
            folders.add(relative)
        files, subfolders = listed
        yield from files
        stack.extend((Path(below), child) for child, below in subfolders.items())


def _list_folder(path: Path, relative: str, wanted: list[str] | None, entries: bool = False,
                 ) -> tuple[list[tuple[str, os.stat_result]], dict[str, str]] | None:
    """One folder's synced candidates: (files with their stat, subfolders by relative path
    to their path), or None if it cannot be listed. At the root only the items' top folders
    count (and its files only for Templates); this program's own files never. `entries`:
    links (not followed) and the subfolders themselves are among the files, with their
    lstat; otherwise links are left out."""
    try:
        listed = list(os.scandir(path))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    files: list[tuple[str, os.stat_result]] = []
    subfolders: dict[str, str] = {}
    for entry in listed:
        if entry.name.startswith(OWN_FILE_PREFIX):
            continue
        child = f"{relative}/{entry.name}" if relative else entry.name
        try:
            if entry.is_symlink():
                if entries and (relative or wanted is None):
                    files.append((child, entry.stat(follow_symlinks=False)))
            elif entry.is_dir():
                if relative or wanted is None or entry.name.lower() in wanted:
                    subfolders[child] = entry.path
                    if entries:
                        files.append((child, entry.stat(follow_symlinks=False)))
            elif entry.is_file() and (relative or wanted is None):
                files.append((child, entry.stat()))
        except FileNotFoundError:  # gone while we looked
            continue
    return files, subfolders


# -- the digest cache of this instance's site root ------------------------------------------

def _state_file(name: str) -> Path:
    folder = os.path.join(settings.ESYNC.state_dir, "files")
    if not os.path.isdir(folder):  # made again if someone cleared it while we run
        os.makedirs(folder, exist_ok=True)
    return Path(folder, name)


def _read(path: Path) -> Manifest:
    try:
        raw = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {name: FileInfo(*values) for name, values in raw.items()}


def _write(path: Path, manifest: Manifest) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(temp, "w") as out:
        json.dump({name: info.as_list() for name, info in manifest.items()}, out,
                  separators=(",", ":"))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)


def _file_key(path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


_lock = threading.RLock()  # scans, caches and scopes of this process, one thread at a time


class _ManifestFile:
    """A manifest kept as a JSON file plus a log of lines appended since (`<name>.log`), so
    that recording a few files costs a few lines, not a rewrite of every entry. Each process
    keeps it in memory and reads only what other processes appended since. When the log has
    grown to about the size of the whole it is folded into the file (for the digest cache, an
    entry lost in a race with another process's append costs one more digest, never a wrong
    one; a relationship's base has a single writer, the initiator's worker)."""

    def __init__(self, path: Path, durable: bool = False) -> None:
        self.path, self.log = path, path.with_name(path.name + ".log")
        self.durable = durable
        self.key: tuple | None = None
        self.offset = 0
        self.entries: Manifest = {}
        self.version = 0  # moves on whenever the entries do

    def current(self) -> Manifest:
        """The entries, live: read them, never change them but through `update`."""
        key = _file_key(self.path)
        try:
            size = self.log.stat().st_size
        except FileNotFoundError:
            size = 0
        if key != self.key or size < self.offset:
            self.entries, self.key, self.offset = _read(self.path), key, 0
            self.version += 1
        if size > self.offset:
            with open(self.log, "rb") as log:
                log.seek(self.offset)
                tail = log.read(size - self.offset)
            complete = tail.rfind(b"\n") + 1  # a line being appended right now waits
            for line in tail[:complete].splitlines():
                with contextlib.suppress(ValueError, TypeError):
                    name, *values = json.loads(line)
                    if values:
                        self.entries[name] = FileInfo(*values)
                    else:
                        self.entries.pop(name, None)
            self.offset += complete
            self.version += 1
        return self.entries

    def update(self, changed: Manifest, removed: Iterable[str] = ()) -> None:
        self.current()
        removed = list(removed)
        lines = [json.dumps([name, *info], separators=(",", ":")) for name, info in
                 changed.items()] + [json.dumps([name]) for name in removed]
        if not lines:
            return
        data = ("\n".join(lines) + "\n").encode()
        with open(self.log, "ab") as log:
            log.write(data)
            if self.durable:
                log.flush()
                os.fsync(log.fileno())
            end = log.tell()
        if end == self.offset + len(data):
            # Nobody else appended meanwhile: take the very objects given (comparisons with
            # them then stop at identity) instead of reading them back.
            self.entries.update(changed)
            for name in removed:
                self.entries.pop(name, None)
            self.offset, self.version = end, self.version + 1
        else:
            self.current()
        if self.offset > 65536 and self.offset > len(self.entries) * 80:
            _write(self.path, self.entries)
            with open(self.log, "wb"):
                pass
            self.key, self.offset = _file_key(self.path), 0

    def forget(self) -> None:
        self.log.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
        self.current()


_manifest_files: dict[Path, _ManifestFile] = {}


def _manifest_file(path: Path, durable: bool = False) -> _ManifestFile:
    store = _manifest_files.get(path)
    if store is None:
        store = _manifest_files[path] = _ManifestFile(path, durable)
    return store


def _digests(cache_name: str) -> _ManifestFile:
    return _manifest_file(_state_file(cache_name))


def remember(written: Manifest, cache_name: str = "digests.json") -> None:
    """Put files this instance just wrote into the digest cache, so they are not read again."""
    if not written:
        return
    with _lock:
        _digests(cache_name).update(written)


def cached_digests() -> Manifest:
    """The digest cache's entries, live (this process's later updates show through; other
    processes' appends only at the next look), to be read, never changed: `current_digest`
    over many files looks it up once instead of once a file. An entry is trusted only while
    the file's size and mtime are its own, so one missing costs a digest, never a wrong one."""
    with _lock:
        return _digests("digests.json").current()


def current_digest(path: Path, relative: str, cache: Manifest | None = None) -> str | None:
    """The digest of the file at `path` (`relative` in the site root) now, None if there is
    none: the digest cache's (or `cache`'s, an earlier `cached_digests()`) while its size and
    mtime are the cached ones, else read."""
    try:
        now = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if S_ISDIR(now.st_mode):
        return FOLDER
    if S_ISLNK(now.st_mode):
        try:
            return LINK + os.readlink(path)
        except FileNotFoundError:
            return None
    if cache is None:
        cache = cached_digests()
    known = cache.get(relative)
    if known is not None and known.size == now.st_size and known.mtime_ns == now.st_mtime_ns:
        return known.digest
    try:
        return digest_of(path)
    except (FileNotFoundError, IsADirectoryError):
        return None


# -- scans ------------------------------------------------------------------------------------

@dataclass
class _Scope:
    """The last scan of one root for one set of items and filter, kept by this process."""

    manifest: Manifest
    files_in: dict[str, set[str]]  # folder -> the synced files directly in it
    folders: set[str]  # every folder walked
    mark: int  # the file journal's mark the manifest is good up to
    generation: str = field(default_factory=lambda: uuid.uuid4().hex)
    version: int = 0
    # (version, the paths whose entries it changed), oldest first; the oldest are forgotten
    changes: list[tuple[int, frozenset[str]]] = field(default_factory=list)
    forgotten: int = 0  # the latest version forgotten: older tokens get the whole manifest

    def changed_since(self, token: str) -> set[str] | None:
        """The paths changed since the scan that handed out `token`, or None if the token
        is not of this scope (another process, or one evicted and scanned afresh)."""
        generation, _, version = token.partition(".")
        since, changed = whole_number(version), set()
        if generation != self.generation or since is None:
            return None
        if since < self.forgotten:
            return None
        for at, paths in reversed(self.changes):
            if at <= since:
                break
            changed |= paths
        return changed


_scopes: dict[tuple, _Scope] = {}
MOST_SCOPES = 16
MOST_VERSIONS = 1000  # scans whose changes a scope remembers for peers' tokens


def scan(root: Path, items: Iterable[str], file_filter: FileFilter,
         cache_name: str = "digests.json") -> Manifest:
    """The manifest of the synced files under `root` for these items and filter."""
    with _lock:
        return dict(_scan(Path(root), set(items), file_filter, cache_name).manifest)


def scan_since(root: Path, items: Iterable[str], file_filter: FileFilter, token: str,
               ) -> tuple[Manifest, list[str], str, bool]:
    """What changed since the scan that handed out `token`: (files new or changed, paths
    gone, the token for next time, complete). `complete` means the token was not this
    process's (or is too old) and the files are the whole manifest instead."""
    with _lock:
        scope = _scan(Path(root), set(items), file_filter, "digests.json")
        changed = scope.changed_since(token)
        if changed is None:
            return dict(scope.manifest), [], _token(scope), True
        files = {path: scope.manifest[path] for path in changed if path in scope.manifest}
        removed = [path for path in changed if path not in scope.manifest]
        return files, removed, _token(scope), False


def scan_with_changes(root: Path, items: Iterable[str], file_filter: FileFilter, token: str,
                      ) -> tuple[Manifest, set[str] | None, str]:
    """The manifest (as `scan`), the paths changed since `token` (None if unknown), and the
    token for next time."""
    with _lock:
        scope = _scan(Path(root), set(items), file_filter, "digests.json")
        return dict(scope.manifest), scope.changed_since(token), _token(scope)


def _token(scope: _Scope) -> str:
    return f"{scope.generation}.{scope.version}"


def _scan(root: Path, items: set[str], file_filter: FileFilter, cache_name: str) -> _Scope:
    from syncengine.file_journal import journal_for

    key = (str(root), frozenset(items), file_filter.mode, tuple(file_filter.extensions),
           cache_name)
    scope = _scopes.get(key)
    journal = journal_for(root) if settings.ESYNC.file_journal else None
    seen, mark = (journal.changes_since(scope.mark if scope else 0) if journal
                  else (None, 0))
    digests = _digests(cache_name)
    cache = digests.current()
    fresh: Manifest = {}
    if scope is None or seen is None:
        new = _full_scan(root, items, file_filter, cache, fresh, mark)
        if scope is not None:
            changed = {path for path, _ in scope.manifest.items() ^ new.manifest.items()}
            new.generation, new.version, new.changes, new.forgotten = (
                scope.generation, scope.version, scope.changes, scope.forgotten)
            _changed(new, changed)
        scope = new
    else:
        _changed(scope, _rescan(root, items, file_filter, cache, fresh, scope, seen))
        scope.mark = mark
    if fresh:
        digests.update(fresh)
    _scopes.pop(key, None)
    _scopes[key] = scope
    while len(_scopes) > MOST_SCOPES:
        _scopes.pop(next(iter(_scopes)))
    return scope


def _changed(scope: _Scope, paths: set[str]) -> None:
    if paths:
        scope.version += 1
        scope.changes.append((scope.version, frozenset(paths)))
        if len(scope.changes) > MOST_VERSIONS:
            scope.forgotten = scope.changes.pop(0)[0]


def _info(root: Path, relative: str, stat: os.stat_result, known: FileInfo | None,
          cache: Manifest, fresh: Manifest) -> FileInfo | None:
    """A file's entry: the digest cache's or the last scan's while its size and mtime hold,
    else read; a folder's or a link's from its lstat. None if it went away meanwhile."""
    if S_ISDIR(stat.st_mode):
        return folder_info(stat)
    if S_ISLNK(stat.st_mode):
        try:
            return link_info(os.readlink(root / relative), stat.st_mtime_ns)
        except (FileNotFoundError, NotADirectoryError, OSError):
            return None
    # The cache first: it has what this instance itself wrote (a file landed with the size
    # and mtime of the one it replaced must not keep the old digest).
    for candidate in (cache.get(relative), known):
        if candidate is not None and candidate.size == stat.st_size and \
                candidate.mtime_ns == stat.st_mtime_ns:
            return candidate
    try:
        info = FileInfo(stat.st_size, stat.st_mtime_ns, digest_of(root / relative))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    fresh[relative] = info
    return info


def _full_scan(root: Path, items: set[str], file_filter: FileFilter, cache: Manifest,
               fresh: Manifest, mark: int) -> _Scope:
    scope = _Scope({}, {}, set(), mark)
    for relative, stat in walk_entries(root, items, scope.folders):
        _add(root, relative, stat, items, file_filter, cache, fresh, scope)
    return scope


def _add(root: Path, relative: str, stat: os.stat_result, items: set[str],
         file_filter: FileFilter, cache: Manifest, fresh: Manifest, scope: _Scope) -> bool:
    """Enter one entry seen on disk into the scope; True if its entry changed."""
    if not (is_synced_folder(relative, items, file_filter) if S_ISDIR(stat.st_mode)
            else is_synced(relative, items, file_filter)):
        return False
    known = scope.manifest.get(relative)
    info = _info(root, relative, stat, known, cache, fresh)
    if info is None:
        return False
    scope.manifest[relative] = info
    scope.files_in.setdefault(relative.rpartition("/")[0], set()).add(relative)
    return info != known


def _rescan(root: Path, items: set[str], file_filter: FileFilter, cache: Manifest,
            fresh: Manifest, scope: _Scope, changes: Changes) -> set[str]:
    """Look again only at the files and folders the journal marked; the paths whose entry
    changed."""
    wanted = top_folders(items)
    changed: set[str] = set()
    below: dict[str, set[str]] = {}  # folder -> its subfolders, as walked last time
    if changes.folders:
        for known in scope.folders:
            if known:
                below.setdefault(known.rpartition("/")[0], set()).add(known)
    for folder in sorted(changes.folders, key=len):  # parents first
        if folder not in scope.folders:
            continue  # not walked: out of the items, or gone with a parent already
        listed = _list_folder(root / folder if folder else root, folder, wanted, entries=True)
        if listed is None:
            changed |= _forget(scope, folder)
            continue
        files, subfolders = listed
        present = {relative for relative, _ in files}
        for gone in scope.files_in.get(folder, set()) - present:
            changed |= _drop(scope, gone)
        for relative, stat in files:
            if _add(root, relative, stat, items, file_filter, cache, fresh, scope):
                changed.add(relative)
        for gone in below.get(folder, set()) - set(subfolders):
            changed |= _forget(scope, gone)
        new = [(Path(path), relative) for relative, path in subfolders.items()
               if relative not in scope.folders]
        for relative, stat in _walk(new, wanted, scope.folders, entries=True):
            if _add(root, relative, stat, items, file_filter, cache, fresh, scope):
                changed.add(relative)
    for relative in changes.files:
        folder = relative.rpartition("/")[0]
        if folder not in scope.folders or not (folder or wanted is None) or \
                folder in changes.folders:
            continue  # out of the items, or listed just now with its folder
        path = root / relative
        try:
            stat = path.lstat()
        except (FileNotFoundError, NotADirectoryError):
            changed |= _drop(scope, relative)
            continue
        if S_ISDIR(stat.st_mode):  # a folder now: the journal lists it and its parent again
            continue
        if not (S_ISREG(stat.st_mode) or S_ISLNK(stat.st_mode)):
            changed |= _drop(scope, relative)
            continue
        if _add(root, relative, stat, items, file_filter, cache, fresh, scope):
            changed.add(relative)
    # A folder's mtime moves when an entry in it comes or goes, or by a utime: its own entry
    # is looked at again wherever something in it, or it, was marked.
    for folder in changes.folders | {relative.rpartition("/")[0] for relative in changes.files}:
        if folder and folder in scope.folders:
            try:
                stat = (root / folder).lstat()
            except (FileNotFoundError, NotADirectoryError):
                continue
            if S_ISDIR(stat.st_mode) and \
                    _add(root, folder, stat, items, file_filter, cache, fresh, scope):
                changed.add(folder)
    return changed


def _drop(scope: _Scope, relative: str) -> set[str]:
    files = scope.files_in.get(relative.rpartition("/")[0])
    if files is not None:
        files.discard(relative)
    return {relative} if scope.manifest.pop(relative, None) is not None else set()


def _forget(scope: _Scope, folder: str) -> set[str]:
    """A folder went away: it and everything below leave the scope."""
    prefix = f"{folder}/"
    gone_folders = {f for f in scope.folders if f == folder or f.startswith(prefix)}
    scope.folders -= gone_folders
    dropped: set[str] = _drop(scope, folder) if folder else set()
    for gone in gone_folders:
        for relative in scope.files_in.pop(gone, set()):
            if scope.manifest.pop(relative, None) is not None:
                dropped.add(relative)
    return dropped


# -- the base of a relationship ---------------------------------------------------------------

@dataclass
class Base:
    files: Manifest
    items_synced: set[str]
    version: tuple = ()  # (store, version) of the stored base it was read from


def _base_store(relationship_id: int) -> _ManifestFile:
    return _manifest_file(_state_file(f"base-{int(relationship_id)}.files.json"), durable=True)


def _items_path(relationship_id: int) -> Path:
    return _state_file(f"base-{int(relationship_id)}.items.json")


def load_base(relationship_id: int) -> Base:
    """The relationship's base (read from disk only where it changed there). Its files are
    live: not to be modified, but replaced with `save_base`."""
    with _lock:
        store = _base_store(relationship_id)
        files = store.current()
        try:
            items = set(json.loads(_items_path(relationship_id).read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            items = set()
        return Base(files, items, (id(store), store.version))


def save_base(relationship_id: int, base: Base) -> None:
    """Store `base` as the relationship's base (only what differs from the stored one)."""
    with _lock:
        current = _base_store(relationship_id).current()
        changes: dict[str, FileInfo | None] = {
            path: info for path, info in base.files.items() if current.get(path) is not info}
        changes.update({path: None for path in current.keys() - base.files.keys()})
        update_base(relationship_id, changes, base.items_synced)


def update_base(relationship_id: int, changes: dict[str, FileInfo | None],
                items_synced: set[str]) -> None:
    """Change these entries of the relationship's base (None: remove it)."""
    with _lock:
        store = _base_store(relationship_id)
        store.update({path: info for path, info in changes.items() if info is not None},
                     [path for path, info in changes.items() if info is None])
        items = _items_path(relationship_id)
        try:
            unchanged = set(json.loads(items.read_text())) == items_synced
        except (FileNotFoundError, ValueError, TypeError):
            unchanged = False
        if not unchanged:
            temp = items.with_name(f".{items.name}.{os.getpid()}.tmp")
            temp.write_text(json.dumps(sorted(items_synced)))
            os.replace(temp, items)


def forget_base(relationship_id: int) -> None:
    with _lock:
        _base_store(relationship_id).forget()
        _items_path(relationship_id).unlink(missing_ok=True)
