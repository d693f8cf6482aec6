"""Which files and folders of a site root changed, as this process has seen them (watchdog's
inotify observer), so that a scan can look again only there.

The journal numbers what it sees: every event marks its file (or, for a folder made, removed
or moved, the folder and its parent) with the next number. A scan keeps the number it read up to and
next time asks for the folders marked after it. The answer is trusted only because:

- a *barrier* comes first: the journal creates a probe file under the root and waits until
  the probe's own event comes back; the kernel and watchdog deliver events in order, so
  everything that happened before the question has been counted by then;
- losses are owned up to: when the kernel's queue overflows or watchdog reports any trouble,
  or the observer is not running, the journal cannot vouch (`None`) for anything before that
  moment and the caller scans everything, as it does for its first look after a start.

The probe is a file `.esync-probe-*` at the root, removed at once; names beginning with
`.esync-` are this program's own and never synced, and their events mark nothing.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEventHandler

from syncengine.file_rules import OWN_FILE_PREFIX

logger = logging.getLogger(__name__)

PROBE_PREFIX = f"{OWN_FILE_PREFIX}probe-"
BARRIER_SECONDS = 2.0
MOST_ROOTS = 4  # journals kept running at once in a process (each test makes its own root)


@dataclass(frozen=True)
class Changes:
    """What a journal saw: folders to list again, files to look at again."""

    folders: set[str]
    files: set[str]


class FolderJournal:
    """The folders under one root that changed since a given mark, or None if unknown."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()  # events name real paths, not a link's
        self._prefix = str(self.root) + os.sep
        self._lock = threading.Lock()
        # Marks come from one count for the whole process and are never 0 ("no look yet"):
        # a scope that remembers a mark of an earlier journal of the same root finds it
        # older than this journal's start, so nothing before the start is vouched for.
        self._mark = next(_marks)
        # what changed -> the mark it last got: folders whose list of entries changed ("" is
        # the root), and files whose content, times or existence did
        self._folders: dict[str, int] = {}
        self._files: dict[str, int] = {}
        self._made: dict[str, int] = {}  # folders made, by the mark of their making
        self._lost_at = self._mark  # events up to this mark may be missing
        self._unwatched = False  # a folder watchdog could not watch: no journal then
        self._probes: dict[str, threading.Event] = {}
        self._observer = None
        self.identity = _identity(self.root)

    # -- running ------------------------------------------------------------------------------

    def start(self) -> bool:
        """Watch the root; False (and no journal) when this platform or its limits forbid."""
        from watchdog import events

        # What changes a file's content, size, mtime or place; reads (open, close without
        # writing) are left out, or every sync's own reading would mark every folder.
        kinds = [getattr(events, name) for name in (
            "FileCreatedEvent", "DirCreatedEvent", "FileModifiedEvent", "FileMovedEvent",
            "DirMovedEvent", "FileDeletedEvent", "DirDeletedEvent", "FileClosedEvent",
            "FileAttribEvent", "DirAttribEvent") if hasattr(events, name)]
        # utime() is an attribute change: a folder's own mtime is an entry of its own
        from watchdog.observers import Observer

        try:
            observer = Observer()
            observer.schedule(_Handler(self), str(self.root), recursive=True,
                              event_filter=kinds)
            observer.daemon = True
            observer.start()
        except OSError as error:
            logger.warning("No file journal for %s (every sync scans the whole tree): %s",
                           self.root, error)
            return False
        self._observer = observer
        _watching.add(self)
        # watchdog gives up on a folder it cannot watch (the kernel's limit of watches, no
        # permission) without a word; a journal that misses a folder is worse than none.
        answered = self._barrier()
        missing = self._unwatched_among(_folders_under(self.root)) if answered else False
        if not answered or missing:
            logger.warning("No file journal for %s (every sync scans the whole tree): %s",
                           self.root, f"{missing} is not watched (see fs.inotify."
                           "max_user_watches)" if missing else "its watch does not answer")
            self.stop()
            return False
        return True

    def _watched(self) -> set[str] | None:
        """The folders watchdog watches, as far as its version lets us see (None if not)."""
        paths: set[str] = set()
        for emitter in getattr(self._observer, "emitters", ()):
            group = getattr(emitter, "_inotify", None)
            by_path = getattr(group, "_active_callbacks_by_path", None)
            if by_path is None:
                return None
            paths.update(os.fsdecode(path) for path in by_path)
        return paths

    def _unwatched_among(self, folders) -> str | bool:
        """A folder of these (absolute paths) that exists and is not watched, or False."""
        watched = self._watched()
        if watched is None:
            return False
        for folder in folders:
            if folder not in watched and os.path.isdir(folder) and \
                    not os.path.islink(folder):
                return folder
        return False

    def stop(self) -> None:
        _watching.discard(self)
        if self._observer is not None:
            self._observer.stop()
            self._observer = None

    @property
    def running(self) -> bool:
        return self._observer is not None and self._observer.is_alive() and \
            not self._unwatched

    @property
    def stepped_aside(self) -> bool:
        """True once it found a folder watchdog does not watch: it vouches for nothing more.

        watchdog loses a folder's watch when the folder is moved into a folder made just
        before, ahead of watchdog handling that making (`mkdir -p new && mv old new/x`): it
        re-adds the kernel's existing watch under the new name and drops the old one's
        name. The next scan is then a full one, from a fresh journal."""
        return self._unwatched

    def lose_track(self) -> None:
        """Events may have been dropped: nothing before now can be vouched for."""
        with self._lock:
            self._mark = self._lost_at = next(_marks)

    # -- asking ------------------------------------------------------------------------------

    def changes_since(self, mark: int) -> tuple[Changes | None, int]:
        """(what was marked after `mark`, or None when that cannot be known; the mark to ask
        from next time). A caller's first question is `changes_since(0)`: None."""
        if not self.running or not self._barrier():
            return None, 0
        with self._lock:
            now = self._mark
            if mark <= 0 or self._lost_at > mark:
                return None, now
            changes = Changes({folder for folder, at in self._folders.items() if at > mark},
                              {file for file, at in self._files.items() if at > mark})
            # Folders made since: each needs a watch of its own (a moved folder keeps its
            # watch, which follows the folder, not its name).
            made = [str(self.root / folder) for folder, at in self._made.items() if at > mark]
        # watchdog adds a new folder's watch as it handles its event; should one still look
        # missing, give it one more round trip before concluding it never will.
        if self._unwatched_among(made) and (not self._barrier() or self._unwatched_among(made)):
            self._unwatched = True  # journal_for starts another, which checks everything
            return None, 0
        return changes, now

    def _barrier(self) -> bool:
        name = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
        arrived = threading.Event()
        with self._lock:
            self._probes[name] = arrived
        probe = self.root / name
        try:
            probe.touch()
            return arrived.wait(BARRIER_SECONDS)
        except OSError:
            return False
        finally:
            with self._lock:
                self._probes.pop(name, None)
            probe.unlink(missing_ok=True)

    # -- the observer's side ---------------------------------------------------------------

    def _relative(self, path: str) -> str | None:
        if not path.startswith(self._prefix):
            return "" if path == str(self.root) else None
        return path[len(self._prefix):].replace(os.sep, "/")

    def saw(self, paths: tuple[str, ...], is_directory: bool, created: bool) -> None:
        with self._lock:
            for path in paths:
                relative = self._relative(path)
                if relative is None:
                    continue
                if relative.startswith(PROBE_PREFIX):
                    probe = self._probes.get(relative)
                    if probe is not None and created:
                        probe.set()
                    continue
                if any(part.startswith(OWN_FILE_PREFIX) for part in relative.split("/")):
                    continue
                self._mark = next(_marks)
                if is_directory:  # made, removed or moved: it and its parent are listed again
                    self._folders[relative] = self._folders[relative.rpartition("/")[0]] = \
                        self._mark
                    if created:
                        self._made[relative] = self._mark
                else:
                    self._files[relative] = self._mark


class _Handler(FileSystemEventHandler):
    """watchdog's side: every event to the journal, as plain paths."""

    def __init__(self, journal: FolderJournal) -> None:
        super().__init__()
        self.journal = journal

    def dispatch(self, event) -> None:
        paths = tuple(os.fsdecode(p) for p in (event.src_path, getattr(event, "dest_path", ""))
                      if p)
        self.journal.saw(paths, event.is_directory, event.event_type == "created")


def _folders_under(root: Path) -> list[str]:
    found = [str(root)]
    for folder, subfolders, _files in os.walk(root):
        found.extend(os.path.join(folder, name) for name in subfolders)
    return found


_marks = itertools.count(1)
_watching: set[FolderJournal] = set()
_journals: dict[str, FolderJournal] = {}
_refused: set[tuple[str, tuple[int, int]]] = set()
_journals_lock = threading.Lock()


def journal_for(root: Path) -> FolderJournal | None:
    """This process's journal of `root`, started on first use; None where it cannot run."""
    key = str(root)
    with _journals_lock:
        journal = _journals.pop(key, None)
        identity = _identity(Path(root))
        if journal is not None and journal.running and journal.identity == identity:
            _journals[key] = journal
            return journal
        if journal is not None:  # stopped, or the root was replaced by another folder
            journal.stop()
        if identity is None or (key, identity) in _refused:
            return None
        if len(_journals) >= MOST_ROOTS:
            oldest = next(iter(_journals))
            _journals.pop(oldest).stop()
        journal = FolderJournal(Path(root))
        if not journal.start():
            _refused.add((key, identity))  # not again in this process: full scans it is
            return None
        _journals[key] = journal
        return journal


def _identity(root: Path) -> tuple[int, int] | None:
    try:
        stat = root.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino) if os.path.isdir(root) else None


class _WatchdogTrouble(logging.Handler):
    """watchdog reports a kernel queue overflow (and its other troubles) only in its log:
    any warning from it means events may be missing, for every journal of this process."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        for journal in list(_watching):
            journal.lose_track()


_watchdog_log = logging.getLogger("watchdog.observers")
_watchdog_log.addHandler(_WatchdogTrouble())
if not _watchdog_log.isEnabledFor(logging.WARNING):  # a quieter root must not hide overflows
    _watchdog_log.setLevel(logging.WARNING)
