"""A profile's files: compare both sides with the base, decide, move, and remember the result.

Small files travel many to a request as one framed stream; a big file that the other side has
in an older version travels as a delta; any other big file in resumable chunks. Each file that
cannot be moved is recorded as skipped with its reason, and the run goes on.

A run goes in this order, so that a file↔folder swap is done in one run: deletions below a
path that becomes a file or link; folders made (a file in their place kept in versions); files
and links; further names of a hard-linked file, as hard links of the one sent; the other
deletions, deepest first (a folder last, once empty); then folder mtimes, as on the side that
won, where they differ or this run changed what is in them.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from syncengine import file_delta, file_state, file_transfer
from syncengine.file_plan import (
    DELETE_LOCAL,
    DELETE_REMOTE,
    FETCH,
    SEND,
    FileAction,
    direction_for,
    plan,
    same,
)
from syncengine.file_rules import FileFilter, folder_item, is_synced, item_of
from syncengine.file_state import (
    FOLDER,
    FileInfo,
    Manifest,
    entry_synced,
    is_folder,
    is_regular,
)
from syncengine.file_transfer import FileRefused
from syncengine.peer_errors import NotAllowedByPeer, PeerError
from syncengine.stream_chunks import coalesced

BATCH_BYTES = 8 * 1024 * 1024
BATCH_FILES = 500
BATCHES_AT_ONCE = 2
BIG_FILE = 16 * 1024 * 1024       # bigger files travel on their own, resumable
DELTA_MIN = 1024 * 1024           # from this size an older version is patched, not replaced
CHUNK = 8 * 1024 * 1024


class FileLimitExceeded(FileRefused):
    pass


@dataclass
class SkippedFile:
    path: str
    stage: str
    error: str
    side: str  # where the file was to land: local | remote


@dataclass
class FilesOutcome:
    sent: int = 0
    fetched: int = 0
    deleted: int = 0
    conflicts: int = 0
    folders: int = 0  # made or removed (not counted as files)
    bytes: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)

    @property
    def applied(self) -> int:
        return self.sent + self.fetched + self.deleted + self.folders

    @property
    def total(self) -> int:
        return self.applied + len(self.skipped)

    def describe(self) -> str:
        parts = [f"{self.sent} files sent, {self.fetched} received, {self.deleted} deleted"]
        if self.folders:
            parts.append(f"{self.folders} folders made or removed")
        if self.conflicts:
            parts.append(f"{self.conflicts} differed on both sides (settled by the policy, "
                         "or by the newer copy on a first sync; the losing copies are in the "
                         "versions folder)")
        if self.skipped:
            parts.append(f"{len(self.skipped)} files skipped")
        return "; ".join(parts)


def run_stamp(run) -> str:
    return f"{timezone.now():%Y%m%d-%H%M%S}-run{run.id}"


def file_items(profile) -> list[str]:
    return [item for item in profile.items if item in ("database", "workarea", "templates",
                                                        "bin")]


class FileMover:
    """Carries out a plan against one peer, recording what landed where."""

    def __init__(self, client, items: list[str], stamp: str, local: Manifest, remote: Manifest,
                 outcome: FilesOutcome, progress: Callable[..., None], total: int) -> None:
        self.client, self.items, self.stamp = client, items, stamp
        self.local, self.remote = local, remote
        self.outcome, self.progress, self.total = outcome, progress, total
        self.now_equal: dict[str, FileInfo | None] = {}  # path → the info both sides now have
        self.followers: dict[str, str] = {}  # a further name of a hard-linked file → the first
        self.done = 0
        self.root = file_transfer.site_root()

    def _query(self, **extra) -> str:
        return urlencode({"items": ",".join(self.items), "stamp": self.stamp, **extra})

    def _mode(self, path: str) -> int:
        return file_transfer.mode_of(os.stat(self.root / path))

    def _tick(self, count: int, phase: str) -> None:
        self.done += count
        self.progress(phase=phase, done=self.done, total=self.total, bytes=self.outcome.bytes)

    def _count(self, info: FileInfo, done: str) -> None:
        if is_folder(info):
            self.outcome.folders += 1
        else:
            setattr(self.outcome, done, getattr(self.outcome, done) + 1)

    def _skip(self, path: str, stage: str, error: object, side: str) -> None:
        self.outcome.skipped.append(SkippedFile(path, stage, str(error), side))

    # -- sending ------------------------------------------------------------------------------

    def send(self, paths: list[str]) -> None:
        """Send these entries; a further name of a file sent here goes last, as a hard link."""
        followers = self._hard_links(paths)
        small = []
        for path in paths:
            info, theirs = self.local[path], self.remote.get(path)
            if path in followers:
                continue
            if not is_regular(info):
                small.append(path)
            elif info.size >= DELTA_MIN and is_regular(theirs):
                self._one(path, "ApplyingUpdates", self._send_delta, "remote")
            elif info.size >= BIG_FILE:
                self._one(path, "ApplyingInserts", self._send_chunked, "remote")
            else:
                small.append(path)
        self._overlapped(batches(small, self.local), self._post_batch, self._sent)
        if followers:
            self.followers.update(followers)
            self._overlapped(batches(sorted(followers), self.local), self._post_batch,
                             self._sent)

    def _hard_links(self, paths: list[str]) -> dict[str, str]:
        """Among the files to send, the further names of a file with several (`rsync -H`),
        each with the first of its names."""
        first: dict[tuple[int, int], str] = {}
        followers: dict[str, str] = {}
        for path in sorted(paths):
            if not is_regular(self.local[path]):
                continue
            try:
                status = os.lstat(self.root / path)
            except OSError:
                continue
            if status.st_nlink > 1:
                leader = first.setdefault((status.st_dev, status.st_ino), path)
                if leader != path and self.local[leader].digest == self.local[path].digest:
                    followers[path] = leader
        return followers

    def _one(self, path: str, stage: str, move: Callable[[str], None], side: str) -> None:
        try:
            move(path)
        except NotAllowedByPeer:  # the whole run is outside what the peer allows
            raise
        except (FileRefused, PeerError, OSError) as error:
            self._skip(path, stage, error, side)
        self._tick(1, f"Moving {path}")

    def _frames_of(self, paths: list[str]) -> Iterable[bytes]:
        for path in paths:
            info, theirs = self.local[path], self.remote.get(path)
            replaces = theirs.digest if theirs else ""
            if not is_regular(info):
                yield from self._entry_frame(path, replaces)
                continue
            leader = self.followers.get(path)
            if leader is not None and self.now_equal.get(leader) == self.local[leader]:
                yield from file_transfer.frame({"path": path, **_header(info), "mode": 0,
                                                "replaces": replaces, "hardlink": leader})
                continue
            try:
                source = file_state.open_to_read(self.root / path)
            except OSError as error:  # gone or unreadable since the scan: this file alone
                yield from file_transfer.frame(
                    {"path": path, "missing": True} if isinstance(error, FileNotFoundError)
                    else {"path": path, "refused": f"it cannot be read there "
                                                   f"({error.strerror or error})"})
                continue
            with source:  # a file that changed since the scan fails its digest there, alone
                mode = file_transfer.mode_of(os.fstat(source.fileno()))
                yield from file_transfer.frame(
                    {"path": path, **_header(info), "replaces": theirs.digest if theirs else "",
                     "mode": mode},
                    file_transfer.exactly(file_transfer.chunks_of(source, info.size),
                                          info.size))
        yield from file_transfer.frame({"end": True})

    def _entry_frame(self, path: str, replaces: str) -> Iterable[bytes]:
        """A folder's or link's header as it is here now (refused if it leads out)."""
        try:
            header = file_transfer.entry_header(path, os.lstat(self.root / path))
        except FileNotFoundError:
            header = {"path": path, "missing": True}
        except (FileRefused, OSError) as error:
            header = {"path": path, "refused": str(error)}
        if header is None:
            header = {"path": path, "refused": "it became a file during the sync"}
        yield from file_transfer.frame({**header, "replaces": replaces})

    def _overlapped(self, work: Iterable[list[str]], transfer: Callable[[list[str]], object],
                    settle: Callable[[list[str], object], None]) -> None:
        """Batches moved two at a time (one lands while the next travels), settled here in
        order: moving happens in threads, recording (and progress) in this one."""
        with ThreadPoolExecutor(max_workers=BATCHES_AT_ONCE) as pool:
            pending = [(batch, pool.submit(transfer, batch)) for batch in work]
            for batch, moved in pending:
                try:
                    outcome = moved.result()
                except NotAllowedByPeer:
                    raise
                except (FileRefused, PeerError, OSError) as error:
                    outcome = error
                settle(batch, outcome)

    def _post_batch(self, paths: list[str]) -> dict:
        return self._post_stream(f"/files/receive?{self._query()}", self._frames_of(paths))

    def _sent(self, paths: list[str], answer: dict | Exception) -> None:
        if isinstance(answer, Exception):
            for path in paths:
                self._skip(path, _stage(self.remote.get(path)), answer, "remote")
            self._tick(len(paths), "Sending files")
            return
        landed, refused = _answered(paths, answer, "landed")
        for path in landed:
            self.now_equal[path] = self.local[path]
            self._count(self.local[path], "sent")
            self.outcome.bytes += self.local[path].size
        for path, error in refused.items():
            self._skip(path, _stage(self.remote.get(path)), error, "remote")
        self._tick(len(paths), f"Sent {len(landed)} files")

    def _send_delta(self, path: str) -> None:
        info, theirs = self.local[path], self.remote[path]
        signature = self.client.get_json(f"/files/signature?{self._query(path=path)}")
        if signature["digest"] != theirs.digest:
            raise FileRefused(f"{path} changed on the remote server during the sync")
        sent = 0

        def frames():
            nonlocal sent
            for piece in file_delta.delta_frames(self.root / path,
                                                 file_delta.Signature.from_json(signature)):
                sent += len(piece)
                yield piece

        query = self._query(path=path, replaces=theirs.digest, mode=self._mode(path),
                            **_header(info))
        self._post_stream(f"/files/patch?{query}", frames())
        self.now_equal[path] = info
        self.outcome.sent += 1
        self.outcome.bytes += sent

    def _send_chunked(self, path: str) -> None:
        info, theirs = self.local[path], self.remote.get(path)
        have = self.client.get_json(
            f"/files/partial?{self._query(path=path, digest=info.digest)}")["have"]
        while have < info.size:
            length = min(CHUNK, info.size - have)
            with open(self.root / path, "rb") as source:
                source.seek(have)
                body = source.read(length)
            have = self.client.post_bytes(
                f"/files/chunk?{self._query(path=path, digest=info.digest, offset=have)}",
                body)["have"]
            self.outcome.bytes += length
            self.progress(phase=f"Sending {path} ({have * 100 // max(info.size, 1)}%)",
                          bytes=self.outcome.bytes)
        query = self._query(path=path, replaces=theirs.digest if theirs else "",
                            mode=self._mode(path), **_header(info))
        self.client.post_json(f"/files/commit?{query}", {})
        self.now_equal[path] = info
        self.outcome.sent += 1

    def _post_stream(self, path: str, frames: Iterable[bytes]) -> dict:
        with self.client.open("POST", path, body=coalesced(frames),
                              headers={"Content-Type": "application/octet-stream"}) as response:
            return json.loads(b"".join(response.body))

    # -- fetching -----------------------------------------------------------------------------

    def fetch(self, paths: list[str]) -> None:
        small = []
        for path in paths:
            info, mine = self.remote[path], self.local.get(path)
            if not is_regular(info):
                small.append(path)
            elif info.size >= DELTA_MIN and is_regular(mine):
                self._one(path, "ApplyingUpdates", self._fetch_delta, "local")
            elif info.size >= BIG_FILE:
                self._one(path, "ApplyingInserts", self._fetch_chunked, "local")
            else:
                small.append(path)
        self._overlapped(batches(small, self.remote), self._fetch_batch, self._received)

    def _fetch_batch(self, paths: list[str]) -> file_transfer.Received:
        def replaces(path: str) -> str:
            mine = self.local.get(path)
            return mine.digest if mine else ""

        with self.client.open("POST", f"/files/send?{self._query()}",
                              body=json.dumps({"paths": paths}).encode(),
                              headers={"Content-Type": "application/json"}) as response:
            return file_transfer.receive_files(response.body, self.items, self.stamp,
                                               replaces=replaces)

    def _received(self, paths: list[str], received: file_transfer.Received | Exception) -> None:
        if isinstance(received, Exception):
            for path in paths:
                self._skip(path, _stage(self.local.get(path)), received, "local")
            self._tick(len(paths), "Receiving files")
            return
        for path in received.landed:
            self.now_equal[path] = self.remote[path]
            self._count(self.remote[path], "fetched")
            self.outcome.bytes += self.remote[path].size
        for refused in received.refused:
            self._skip(refused["path"], _stage(self.local.get(refused["path"])),
                       refused["error"], "local")
        self._tick(len(paths), f"Received {len(received.landed)} files")

    def _fetch_delta(self, path: str) -> None:
        mine = self.local[path]
        signature = file_delta.Signature.of(self.root / path).as_json()
        with self.client.open("POST", f"/files/delta?{self._query(path=path)}",
                              body=json.dumps(signature).encode(),
                              headers={"Content-Type": "application/json"}) as response:
            counted = _Counter(response.body)
            reader = file_transfer.FrameReader(counted)
            header = reader.header()
            info = file_transfer.info_from(header)
            staged = file_delta.apply_delta(self.root / path, reader.rest(), info)
        file_transfer.land(staged, path, info, self.items, self.stamp, mine.digest,
                           mode=file_transfer.mode_from(header.get("mode")))
        file_state.remember({path: info})
        self.now_equal[path] = info
        self.outcome.fetched += 1
        self.outcome.bytes += counted.count

    def _fetch_chunked(self, path: str) -> None:
        info = self.remote[path]
        partial = file_transfer.partial_path(path, info.digest)
        have = partial.stat().st_size if partial.exists() else 0
        with self.client.open("GET", f"/files/content?{self._query(path=path, offset=have)}"
                              ) as response:
            if response.headers.get("X-Esync-Digest") != info.digest:
                raise FileRefused(f"{path} changed on the remote server during the sync")
            mode = file_transfer.mode_from(response.headers.get("X-Esync-Mode"))
            file_transfer.append_chunk(path, info.digest, have,
                                       self._counted_progress(path, response.body, info.size,
                                                              have))
        staged = file_transfer.finish_partial(path, info)
        mine = self.local.get(path)
        file_transfer.land(staged, path, info, self.items, self.stamp,
                           mine.digest if mine else "", mode=mode)
        file_state.remember({path: info})
        self.now_equal[path] = info
        self.outcome.fetched += 1

    def _counted_progress(self, path: str, chunks: Iterable[bytes], size: int, have: int):
        last = time.monotonic()
        for chunk in chunks:
            have += len(chunk)
            self.outcome.bytes += len(chunk)
            if time.monotonic() - last > 0.5:
                last = time.monotonic()
                self.progress(phase=f"Receiving {path} ({have * 100 // max(size, 1)}%)",
                              bytes=self.outcome.bytes)
            yield chunk

    # -- folder mtimes ------------------------------------------------------------------------

    def keep_folder_times(self, folders: set[str], direction: str, items_synced: set[str],
                          touched: set[str]) -> None:
        """Give each folder on both sides the mtime of the side that won (the newer on a
        bidirectional run), where the two differ or this run changed what is in it
        (`touched`: the folders it moved something into or out of)."""
        remote_times: list[bytes] = []
        for folder in sorted(folders):
            mine = self.now_equal.get(folder, self.local.get(folder))
            theirs = self.now_equal.get(folder, self.remote.get(folder))
            if not (is_folder(mine) and is_folder(theirs)) or \
                    (mine.mtime_ns == theirs.mtime_ns and folder not in touched):
                continue
            if folder in self.now_equal:  # made by this run: the maker's own
                wanted = self.now_equal[folder].mtime_ns  # type: ignore[union-attr]
            else:
                way = direction_for(folder, direction, items_synced)
                wanted = {"upload": mine.mtime_ns, "download": theirs.mtime_ns}.get(
                    way, max(mine.mtime_ns, theirs.mtime_ns))
            try:
                file_transfer.make_folder(folder, wanted, self.items, self.stamp, FOLDER)
            except (FileRefused, OSError) as error:
                self._skip(folder, "ApplyingUpdates", error, "local")
                continue
            remote_times.extend(file_transfer.frame(
                {"path": folder, "folder": True, "mtime_ns": wanted, "replaces": FOLDER}))
            self.now_equal[folder] = FileInfo(0, wanted, FOLDER)
        if remote_times:
            remote_times.extend(file_transfer.frame({"end": True}))
            try:
                answer = self._post_stream(f"/files/receive?{self._query()}", remote_times)
            except NotAllowedByPeer:
                raise
            except (FileRefused, PeerError, OSError) as error:
                answer = {"landed": [], "refused": [{"path": "", "error": str(error)}]}
            for entry in answer.get("refused", []) if isinstance(answer, dict) else []:
                if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                    self.now_equal.pop(entry["path"], None)

    # -- deleting -----------------------------------------------------------------------------

    def delete_remote(self, paths: list[str]) -> None:
        for start in range(0, len(paths), BATCH_FILES):
            batch = paths[start:start + BATCH_FILES]
            try:
                answer = self.client.post_json(
                    f"/files/delete?{self._query()}",
                    {"files": {path: self.remote[path].digest for path in batch}})
            except NotAllowedByPeer:
                raise
            except PeerError as error:
                for path in batch:
                    self._skip(path, "ApplyingDeletes", error, "remote")
                continue
            deleted, refused = _answered(batch, answer, "deleted")
            for path in batch:
                if path in refused:
                    self._skip(path, "ApplyingDeletes", refused[path], "remote")
                else:  # deleted, or already gone
                    self.now_equal[path] = None
                    if path in deleted:
                        self._count(self.remote[path], "deleted")
            self._tick(len(batch), "Deleting files on the remote server")

    def delete_local(self, paths: list[str]) -> None:
        for path in paths:
            try:
                if file_transfer.delete(path, self.items, self.stamp, self.local[path].digest):
                    self._count(self.local[path], "deleted")
                self.now_equal[path] = None
            except (FileRefused, OSError) as error:
                self._skip(path, "ApplyingDeletes", error, "local")
            self._tick(1, "Deleting files here")


class _Counter:
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks, self.count = iter(chunks), 0

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        chunk = next(self.chunks)
        self.count += len(chunk)
        return chunk


def _answered(paths: list[str], answer: object, done: str) -> tuple[set[str], dict[str, str]]:
    """The peer's answer for a batch: the paths it reports `done` and the refused ones with
    their reasons, only among those asked about; a path it does not mention is refused, so
    it is never taken for settled."""
    asked = set(paths)
    reported = answer.get(done) if isinstance(answer, dict) else None
    refusals = answer.get("refused") if isinstance(answer, dict) else None
    if not isinstance(reported, list) or not isinstance(refusals, list):
        return set(), dict.fromkeys(paths, "the remote server's answer was not understood")
    refused: dict[str, str] = {}
    for entry in refusals:
        if isinstance(entry, dict) and entry.get("path") in asked:
            refused[entry["path"]] = str(entry.get("error", ""))[:1000] or "refused"
    doneset = {path for path in reported if isinstance(path, str) and path in asked} - \
        set(refused)
    if done == "landed":  # a file sent and not reported landed did not land
        for path in paths:
            if path not in doneset and path not in refused:
                refused[path] = "the remote server did not report it landed"
    return doneset, refused


def _header(info: FileInfo) -> dict:
    return {"size": info.size, "mtime_ns": info.mtime_ns, "digest": info.digest}


def _stage(existing: FileInfo | None) -> str:
    return "ApplyingUpdates" if existing is not None else "ApplyingInserts"


def batches(paths: list[str], manifest: Manifest) -> Iterable[list[str]]:
    batch, size = [], 0
    for path in paths:
        batch.append(path)
        size += manifest[path].size
        if size >= BATCH_BYTES or len(batch) >= BATCH_FILES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


# The peer's manifest as last received, per relationship and scope, with the token to ask
# for what changed since: this process's memory (a restarted worker asks for all of it).
_remote_copies: dict[tuple, tuple[str, Manifest]] = {}
_remote_copies_lock = threading.Lock()


@dataclass
class RemoteFiles:
    """The peer's files (to be read, not changed) and what this answer said changed."""

    files: Manifest
    fresh: set[str]  # paths whose entries are new in this answer
    removed: set[str]
    complete: bool  # the whole list: the peer could not say what changed since `since`
    since: str
    token: str


def remote_manifest(client, items: list[str], file_filter: FileFilter,
                    relationship_id: int = 0) -> RemoteFiles:
    key = (relationship_id, client.expected, *_scope_key(items, file_filter))
    with _remote_copies_lock:
        since, copy = _remote_copies.pop(key, ("", {}))
    query = urlencode({"items": ",".join(items), "filter": file_filter.mode,
                       "extensions": ",".join(file_filter.extensions), "since": since})
    with client.open("GET", f"/files/manifest?{query}") as response:
        answer = json.loads(b"".join(response.body))
    # Shapes are checked here; each path again, fully, before anything is written or deleted.
    try:
        files, removed, token = answer["files"], answer.get("removed", []), answer.get("token", "")
        complete = answer.get("complete", True) is not False or not since
        manifest: Manifest = {} if complete else copy
        for path, (size, mtime_ns, digest) in files.items():
            if (folder_item(path) if digest == FOLDER else item_of(path)) not in items or \
                    type(size) is not int or type(mtime_ns) is not int or \
                    type(digest) is not str:
                raise FileRefused(f"the peer's file list names {path!r} wrongly")
            manifest[path] = FileInfo(size, mtime_ns, digest)
        removed = {path for path in removed if isinstance(path, str)}
        for path in removed:
            manifest.pop(path, None)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise FileRefused("the peer's file list is malformed") from error
    if not isinstance(token, str):
        token = ""
    if token:
        with _remote_copies_lock:
            _remote_copies[key] = (token, manifest)
    return RemoteFiles(manifest, set(files), removed, complete, since, token)


def _scope_key(items: list[str], file_filter: FileFilter) -> tuple:
    return tuple(sorted(items)), file_filter.mode, tuple(file_filter.extensions)


def _share_equal_entries(theirs: Manifest, mine: Manifest, paths: Iterable[str]) -> None:
    """Where an entry of `theirs` equals `mine`, hold the very same object: the next runs'
    whole-manifest comparisons then settle those paths by identity, at C speed."""
    for path in paths:
        ours = mine.get(path)
        if ours is not None and theirs.get(path) == ours:
            theirs[path] = ours


def moving_bytes(actions: list[FileAction], local: Manifest, remote: Manifest,
                 whole_only: bool = False) -> int:
    """The size of the files the actions send or fetch. `whole_only`: leave out those that
    will travel as a delta (what they send is known only as they go, often little)."""
    total = 0
    for action in actions:
        if action.kind not in (SEND, FETCH):
            continue
        source, other = (local, remote) if action.kind == SEND else (remote, local)
        size = source[action.path].size
        if not (whole_only and size >= DELTA_MIN and action.path in other):
            total += size
    return total


def check_limits(actions: list[FileAction], local: Manifest, remote: Manifest) -> None:
    limit_files, limit_bytes = settings.ESYNC.max_files_per_run, settings.ESYNC.max_bytes_per_run
    size = moving_bytes(actions, local, remote)
    if len(actions) > limit_files:
        raise FileLimitExceeded(
            f"This sync would move {len(actions)} files; the limit is {limit_files} per run "
            "(max_files_per_run in esync.toml). Raise it, or narrow the profile with a filter.")
    if size > limit_bytes:
        raise FileLimitExceeded(
            f"This sync would move {size} bytes; the limit is {limit_bytes} per run "
            "(max_bytes_per_run in esync.toml). Raise it, or narrow the profile with a filter.")


def sync_files(run, profile, progress: Callable[..., None], client,
               only_paths: list[str] | None = None) -> FilesOutcome:
    """Sync the profile's files with the peer. `only_paths`: the manual's "Synchronize files"
    — just these, local newer wins, nothing deleted."""
    items = file_items(profile)
    outcome = FilesOutcome()
    if not items:
        return outcome
    file_filter = FileFilter.of(profile.filter_mode, profile.filter_extensions)
    relationship_id = profile.relationship_id
    progress(phase="Comparing files on both servers")
    key = (relationship_id, *_scope_key(items, file_filter))
    last = _settled.pop(key, None)  # put back only by a run that ends
    # The peer scans its side while this one scans here.
    with ThreadPoolExecutor(max_workers=1) as pool:
        asked = pool.submit(remote_manifest, client, items, file_filter, relationship_id)
        local, local_changed, local_token = file_state.scan_with_changes(
            file_transfer.site_root(), items, file_filter, last.local_token if last else "")
        answer = asked.result()
    remote = answer.files
    _share_equal_entries(remote, local, answer.fresh)
    base = file_state.load_base(relationship_id)
    in_scope = _in_scope(relationship_id, base, items, file_filter, local)
    if last is not None and local_changed is not None and not answer.complete and \
            answer.since == last.remote_token and base.version == last.base_version:
        # Elsewhere both sides and the base are as the last run left them: in step.
        candidates = local_changed | answer.fresh | answer.removed | last.unsettled
    else:
        candidates = None
    if only_paths is not None:
        wanted = set(only_paths)
        missing = sorted(wanted - set(local))
        if missing:
            raise FileRefused(f"Not files this profile synchronizes here: {', '.join(missing)}")
        actions = [a for a in plan({p: local[p] for p in wanted},
                                   {p: remote[p] for p in wanted if p in remote},
                                   {}, "upload", profile.policy, set(items))
                   if a.kind == SEND]
    else:
        actions = plan(local, remote, in_scope, profile.direction, profile.policy,
                       base.items_synced, candidates)
    check_limits(actions, local, remote)
    if actions:
        progress(done=0, total=len(actions), bytes=0,
                 bytes_total=moving_bytes(actions, local, remote, whole_only=True))
    outcome.conflicts = sum(1 for a in actions if a.conflict)
    mover = FileMover(client, items, run_stamp(run), local, remote, outcome, progress,
                      len(actions))
    carry_out(mover, actions, "upload" if only_paths is not None else profile.direction,
              base.items_synced, candidates)
    if only_paths is None:
        settled = save_new_base(relationship_id, base, in_scope, local, remote, mover.now_equal,
                                items, candidates)
        if settled:  # the base moved on: so does what this process remembers of it
            for path, info in settled.items():
                if info is None:
                    in_scope.pop(path, None)
                else:
                    in_scope[path] = info
            base = file_state.load_base(relationship_id)
            _in_scope_memo[key] = (base.version, in_scope)
        looked_at = candidates if candidates is not None else \
            {path for path, _ in local.items() ^ remote.items()}
        _settled[key] = _Settled(local_token, answer.token, base.version, {
            path for path in looked_at
            if path not in mover.now_equal and not same(local.get(path), remote.get(path))})
    return outcome


def carry_out(mover: FileMover, actions: list[FileAction], direction: str,
              items_synced: set[str], candidates: set[str] | None) -> None:
    """Do the plan in the order that lets a file and a folder swap places in one run (see
    the module's docstring), then keep the folders' mtimes."""
    local, remote = mover.local, mover.remote
    by_kind: dict[str, list[str]] = {SEND: [], FETCH: [], DELETE_REMOTE: [], DELETE_LOCAL: []}
    for action in actions:
        by_kind[action.kind].append(action.path)
    sent_folders = [p for p in by_kind[SEND] if is_folder(local[p])]
    fetched_folders = [p for p in by_kind[FETCH] if is_folder(remote[p])]
    clear_remote = _below(by_kind[DELETE_REMOTE], set(by_kind[SEND]) - set(sent_folders))
    clear_local = _below(by_kind[DELETE_LOCAL], set(by_kind[FETCH]) - set(fetched_folders))
    mover.delete_remote(sorted(clear_remote, reverse=True))
    mover.delete_local(sorted(clear_local, reverse=True))
    mover.send(sorted(sent_folders))
    mover.fetch(sorted(fetched_folders))
    mover.send([p for p in by_kind[SEND] if not is_folder(local[p])])
    mover.fetch([p for p in by_kind[FETCH] if not is_folder(remote[p])])
    # Deepest first: a folder's entries go before it.
    mover.delete_remote(sorted(set(by_kind[DELETE_REMOTE]) - clear_remote, reverse=True))
    mover.delete_local(sorted(set(by_kind[DELETE_LOCAL]) - clear_local, reverse=True))
    touched = {path.rpartition("/")[0] for path in mover.now_equal} - {""}
    looked_at = candidates if candidates is not None else local.keys() | remote.keys()
    folders = {path for path in looked_at
               if is_folder(local.get(path)) or is_folder(remote.get(path))}
    mover.keep_folder_times(folders | touched, direction, items_synced, touched)


def _below(paths: list[str], tops: set[str]) -> set[str]:
    """The paths that lie below one of `tops`."""
    found = set()
    for path in paths:
        folder = path.rpartition("/")[0]
        while folder:
            if folder in tops:
                found.add(path)
                break
            folder = folder.rpartition("/")[0]
    return found


@dataclass
class _Settled:
    """After a run of a relationship's profile, as this process saw it: every path not in
    `unsettled` was the same on both sides and in the base. The next run then looks only at
    those and at what changed since the tokens (all of it if a token or the base moved)."""

    local_token: str
    remote_token: str
    base_version: tuple
    unsettled: set[str]


_settled: dict[tuple, _Settled] = {}


_in_scope_memo: dict[tuple, tuple[tuple, Manifest]] = {}


def _in_scope(relationship_id: int, base: file_state.Base, items: list[str],
              file_filter: FileFilter, local: Manifest) -> Manifest:
    """The base's files these items and filter cover; remembered while the stored base stays
    the same (a check per path costs more than the rest of a run with nothing to do), its
    entries shared with `local`'s where equal."""
    key = (relationship_id, *_scope_key(items, file_filter))
    memo = _in_scope_memo.get(key)
    if memo is None or not base.version or memo[0] != base.version:
        in_scope = {p: i for p, i in base.files.items()
                    if entry_synced(p, i, items, file_filter)}
        _share_equal_entries(in_scope, local, list(in_scope))
        memo = _in_scope_memo[key] = base.version, in_scope
    return memo[1]


def save_new_base(relationship_id: int, base: file_state.Base, in_scope: Manifest,
                  local: Manifest, remote: Manifest, now_equal: dict[str, FileInfo | None],
                  items: list[str], candidates: set[str] | None = None,
                  ) -> dict[str, FileInfo | None]:
    """The base after a run: files equal on both sides (before or by this run) as they are;
    files this run could not settle keep their old base, so they still count as changed.
    Returns the entries that changed (None: gone from the base). `candidates`: the only
    paths that may differ from the base (by default, found by comparing everything)."""
    if candidates is None:
        known = in_scope.items()
        candidates = {path for path, _ in local.items() ^ known} | \
            {path for path, _ in remote.items() ^ known}
    # Elsewhere the file is the same on both sides and as in the base: the base holds.
    moved = set(now_equal) | candidates
    if not moved and base.items_synced >= set(items):
        return {}
    files = base.files
    changes: dict[str, FileInfo | None] = {}
    for path in moved:
        if path in now_equal:
            settled = now_equal[path]
        elif same(local.get(path), remote.get(path)):
            settled = local.get(path)
        else:
            settled = in_scope.get(path)
        if settled is None:
            if path in files:
                changes[path] = None
        elif files.get(path) != settled:
            changes[path] = settled
    if not changes and base.items_synced >= set(items):
        return {}
    file_state.update_base(relationship_id, changes, base.items_synced | set(items))
    return changes


def site_tree(profile) -> list[str]:
    """Every file the profile's items and filter cover here (the "Synchronize files" tree)."""
    items = file_items(profile) or ["templates"]
    file_filter = FileFilter.of(profile.filter_mode, profile.filter_extensions)
    root: Path = file_transfer.site_root()
    return sorted(path for path, _ in file_state.walk_files(root, items)
                  if is_synced(path, items, file_filter))
