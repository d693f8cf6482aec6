"""What a site root's synced files are now, and what they were at the last sync.

A *manifest* maps each synced file's relative path (POSIX, as on disk) to its size, mtime (ns)
and content digest (xxh3-128). Digests come from a per-site cache and are computed only for
files whose size or mtime differ from the cached ones (rsync's quick check), so a scan of an
unchanged tree reads no file contents.

The *base* of a relationship is the manifest of its files as they were when last synced — the
same on both sides then. A file differs from the base on a side when it changed there since
(Unison's archive). Both are kept as JSON files under the instance's state folder, replaced
atomically; losing a base is harmless (a file that is equal on both sides is simply in step).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import xxhash
from django.conf import settings

from syncengine.file_rules import OWN_FILE_PREFIX, FileFilter, is_synced, top_folders

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


def digest_of(path: Path) -> str:
    hasher = xxhash.xxh3_128()
    with open(path, "rb") as source:
        while block := source.read(HASH_BLOCK):
            hasher.update(block)
    return hasher.hexdigest()


def walk_files(root: Path, items: Iterable[str]) -> Iterable[tuple[str, os.stat_result]]:
    """(relative path, stat) of every regular file under the items' folders. Links are not
    followed and not synced: a link could lead out of the site root."""
    wanted = top_folders(set(items))
    stack: list[tuple[Path, str]] = []
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_symlink() or entry.name.startswith(OWN_FILE_PREFIX):
            continue
        if entry.is_dir():
            if wanted is None or entry.name.lower() in wanted:
                stack.append((Path(entry.path), entry.name))
        elif entry.is_file() and wanted is None:
            yield entry.name, entry.stat()
    while stack:
        folder, relative = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            if entry.is_symlink() or entry.name.startswith(OWN_FILE_PREFIX):
                continue
            child = f"{relative}/{entry.name}"
            if entry.is_dir():
                stack.append((Path(entry.path), child))
            elif entry.is_file():
                yield child, entry.stat()


# -- the digest cache of this instance's site root ------------------------------------------

def _state_file(name: str) -> Path:
    folder = Path(settings.ESYNC.state_dir) / "files"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def _read(path: Path) -> Manifest:
    try:
        raw = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {name: FileInfo(*values) for name, values in raw.items()}


def _write(path: Path, manifest: Manifest) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "w") as out:
        json.dump({name: info.as_list() for name, info in manifest.items()}, out,
                  separators=(",", ":"))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)


def scan(root: Path, items: Iterable[str], file_filter: FileFilter,
         cache_name: str = "digests.json") -> Manifest:
    """The manifest of the synced files under `root` for these items and filter."""
    items = set(items)
    cache_path = _state_file(cache_name)
    cache = _read(cache_path)
    manifest: Manifest = {}
    fresh = 0
    for relative, stat in walk_files(root, items):
        if not is_synced(relative, items, file_filter):
            continue
        known = cache.get(relative)
        if known is not None and known.size == stat.st_size and \
                known.mtime_ns == stat.st_mtime_ns:
            manifest[relative] = known
            continue
        try:
            info = FileInfo(stat.st_size, stat.st_mtime_ns, digest_of(root / relative))
        except (FileNotFoundError, IsADirectoryError):
            continue  # removed while we looked
        manifest[relative] = cache[relative] = info
        fresh += 1
    if fresh:
        _write(cache_path, cache)
    return manifest


def remember(written: Manifest, cache_name: str = "digests.json") -> None:
    """Put files this instance just wrote into the digest cache, so they are not read again."""
    if not written:
        return
    cache_path = _state_file(cache_name)
    cache = _read(cache_path)
    cache.update(written)
    _write(cache_path, cache)


# -- the base of a relationship ---------------------------------------------------------------

@dataclass
class Base:
    files: Manifest
    items_synced: set[str]


def _base_path(relationship_id: int) -> Path:
    return _state_file(f"base-{int(relationship_id)}.json")


def load_base(relationship_id: int) -> Base:
    path = _base_path(relationship_id)
    try:
        raw = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return Base({}, set())
    return Base({name: FileInfo.from_list(v) for name, v in raw.get("files", {}).items()},
                set(raw.get("items_synced", [])))


def save_base(relationship_id: int, base: Base) -> None:
    path = _base_path(relationship_id)
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "w") as out:
        json.dump({"items_synced": sorted(base.items_synced),
                   "files": {n: i.as_list() for n, i in base.files.items()}}, out,
                  separators=(",", ":"))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)


def forget_base(relationship_id: int) -> None:
    _base_path(relationship_id).unlink(missing_ok=True)
