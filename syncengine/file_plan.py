"""Deciding what a file sync does with each path: send, fetch, delete on one side, or nothing.

Given the local and remote manifests and the base (both sides as last synced):

- equal on both sides (same content, or absent on both): nothing to do;
- upload: a local file newer than the remote one (or missing there) replaces it — with
  "compare contents", any local file whose content differs, whatever its mtime (rsync -c); a
  folder where the other side has a file (or the other way round) always replaces it; a file
  deleted here since the last sync, and unchanged there, is deleted there; otherwise nothing
  happens;
- download: the same the other way;
- bidirectional: changed on one side since the last sync → that side's version (or deletion)
  goes to the other; changed on both → the policy decides (a conflict); a file new on both sides
  with no base — the first sync — goes to the newer one, as the manual says of templates.

The first sync of Workarea and Templates files is bidirectional whatever the profile says.
Folders and links are entries like files (file_state): a folder is the same on both sides
whatever its mtime (the run keeps folder mtimes afterwards), and a folder is not deleted while
anything is moved into it.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncengine.file_rules import item_of
from syncengine.file_state import FileInfo, Manifest, is_folder, is_regular

SEND, FETCH, DELETE_REMOTE, DELETE_LOCAL = "send", "fetch", "delete-remote", "delete-local"
ALWAYS_BIDIRECTIONAL_AT_FIRST = ("workarea", "templates")


@dataclass(frozen=True)
class FileAction:
    kind: str
    path: str
    conflict: bool = False


def same(a: FileInfo | None, b: FileInfo | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.size == b.size and a.digest == b.digest


def changed(now: FileInfo | None, base: FileInfo | None) -> bool:
    if now is not None and base is not None and now.size == base.size and \
            now.mtime_ns == base.mtime_ns:
        return False
    return not same(now, base)


def direction_for(path: str, direction: str, items_synced: set[str]) -> str:
    item = item_of(path)
    if item in ALWAYS_BIDIRECTIONAL_AT_FIRST and item not in items_synced:
        return "bidirectional"
    return direction


def _one_way(mine: FileInfo | None, theirs: FileInfo | None, base: FileInfo | None,
             copy: str, delete: str, path: str, compare_contents: bool = False,
             ) -> FileAction | None:
    """Upload seen from the sending side: newer replaces (with `compare_contents`, different
    content replaces); a deletion travels if the other side left the file alone since the
    last sync."""
    if mine is not None:
        if theirs is None or mine.mtime_ns > theirs.mtime_ns or \
                is_folder(mine) != is_folder(theirs) or \
                (compare_contents and is_regular(mine) and is_regular(theirs)):
            return FileAction(copy, path)
        return None
    if base is not None and theirs is not None and not changed(theirs, base):
        return FileAction(delete, path)
    return None


def decide(path: str, local: FileInfo | None, remote: FileInfo | None, base: FileInfo | None,
           direction: str, policy: str, compare_contents: bool = False) -> FileAction | None:
    if same(local, remote):
        return None
    if direction == "upload":
        return _one_way(local, remote, base, SEND, DELETE_REMOTE, path, compare_contents)
    if direction == "download":
        return _one_way(remote, local, base, FETCH, DELETE_LOCAL, path, compare_contents)
    local_changed, remote_changed = changed(local, base), changed(remote, base)
    local_side = FileAction(SEND if local is not None else DELETE_REMOTE, path)
    remote_side = FileAction(FETCH if remote is not None else DELETE_LOCAL, path)
    if local_changed and not remote_changed:
        return local_side
    if remote_changed and not local_changed:
        return remote_side
    if base is None and local is not None and remote is not None:
        winner = local_side if local.mtime_ns > remote.mtime_ns else remote_side
        return FileAction(winner.kind, path, conflict=True)
    winner = local_side if policy == "local-wins" else remote_side
    return FileAction(winner.kind, path, conflict=True)


def plan(local: Manifest, remote: Manifest, base: Manifest, direction: str, policy: str,
         items_synced: set[str], candidates: set[str] | None = None,
         compare_contents: bool = False) -> list[FileAction]:
    """What to do, path by path. `candidates`: the only paths that may need anything (the
    caller knows the rest are in step); by default every path whose entries differ.
    `compare_contents`: a one-way profile sends every file whose content differs."""
    actions = []
    # A path whose entries are the same on both sides (or absent from both) needs nothing:
    # only the others are looked at, found by set arithmetic rather than path by path.
    if candidates is None:
        candidates = {path for path, _ in local.items() ^ remote.items()}
    for path in sorted(candidates):
        mine, theirs = local.get(path), remote.get(path)
        if mine is not None and theirs is not None and mine.size == theirs.size and \
                mine.digest == theirs.digest:
            continue  # in step: by far the most common case, decided without a call
        action = decide(path, local.get(path), remote.get(path), base.get(path),
                        direction_for(path, direction, items_synced), policy, compare_contents)
        if action is not None:
            actions.append(action)
    return _keep_folders_filled(actions, local, remote)


def _keep_folders_filled(actions: list[FileAction], local: Manifest, remote: Manifest,
                         ) -> list[FileAction]:
    """Leave out the deletion of a folder that this run moves something into (deleted on one
    side while a file was added to it on the other: the file wins, and its folder with it)."""
    filling = {action.path.rpartition("/")[0] for action in actions
               if action.kind in (SEND, FETCH)}
    filled: set[str] = set()
    for folder in filling:
        while folder and folder not in filled:
            filled.add(folder)
            folder = folder.rpartition("/")[0]
    return [action for action in actions
            if not (action.kind in (DELETE_LOCAL, DELETE_REMOTE) and action.path in filled and
                    is_folder((local if action.kind == DELETE_LOCAL else remote)
                              .get(action.path)))]
