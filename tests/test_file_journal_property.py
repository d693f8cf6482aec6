"""A scan that follows the file journal (looking again only in the folders it marked) reaches
the same answer as a scan from nothing, whatever happened to the tree in between: files
written, rewritten at the same size, touched, deleted; folders made, removed, renamed. And the
changes handed to a peer since its last token rebuild the same manifest."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from unittest import mock

from hypothesis import example, given, settings
from hypothesis import strategies as st

from syncengine import file_journal, file_state
from syncengine.file_rules import FileFilter

FILES = ["a/x.html", "a/b/y.css", "a/b/c/z.js", "d/w.html", "top.html", "uploadedfiles/f.pdf",
         "workarea/custom/menu.js", "workarea/help/skip.html", "notes.txt"]
FOLDERS = ["a", "a/b", "a/b/c", "d", "e", "uploadedfiles", "workarea/custom"]
ITEMS = {"templates", "database", "workarea"}

file_operation = st.tuples(st.sampled_from(["write", "delete", "touch", "same-size"]),
                           st.sampled_from(FILES), st.binary(min_size=0, max_size=30))
folder_operation = st.tuples(st.sampled_from(["mkdir", "rmtree", "rename"]),
                             st.sampled_from(FOLDERS), st.sampled_from(FOLDERS))
operations = st.lists(st.one_of(file_operation, folder_operation), max_size=10)


def apply(root: Path, operation: tuple, clock: list[int]) -> None:
    kind, name, data = operation
    path = root / name
    clock[0] += 1_000_000
    if kind == "mkdir":
        path.mkdir(parents=True, exist_ok=True)
    elif kind == "rmtree":
        shutil.rmtree(path, ignore_errors=True)
    elif kind == "rename":
        target = root / data
        if path.is_dir() and not target.exists() and not str(target).startswith(f"{path}/"):
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)
    elif kind == "delete":
        path.unlink(missing_ok=True)
    else:
        if kind == "write":
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                return
            path.write_bytes(data)
        elif kind == "same-size" and path.is_file():
            size = path.stat().st_size
            path.write_bytes((data * (size + 1))[:size] if data else bytes(size))
        if not path.is_file():
            return
        os.utime(path, ns=(clock[0], clock[0]))


@settings(max_examples=30, deadline=None)
@given(st.lists(operations, min_size=2, max_size=3))
@example([[("write", "a/x.html", b"")], [("touch", "a/x.html", b"")]])  # utime() alone
@example([[("write", "a/b/y.css", b"ab")], [("same-size", "a/b/y.css", b"c")]])
@example([[("write", "a/b/c/z.js", b"")], [("rename", "a/b", "d")],
          [("write", "d/c/z.js", b"moved, then changed")]])
@example([[("write", "a/x.html", b"")], [("rename", "a", "workarea/custom")]])  # into a new
def test_a_journal_scan_agrees_with_a_scan_from_nothing(rounds):
    root = Path(tempfile.mkdtemp())
    cache = f"digests-{uuid.uuid4().hex}.json"
    clock = [1_700_000_000 * 10**9]
    full_scans = mock.patch.object(file_state, "_full_scan", wraps=file_state._full_scan)
    try:
        for operation in rounds[0]:
            apply(root, operation, clock)
        file_state.scan(root, ITEMS, FileFilter(), cache_name=cache)  # the first look: full
        assert file_journal.journal_for(root).running
        stepped_aside = False
        for operations_ in rounds[1:]:
            for operation in operations_:
                apply(root, operation, clock)
            journal = file_journal.journal_for(root)
            with full_scans as counted:
                followed = file_state.scan(root, ITEMS, FileFilter(), cache_name=cache)
            # The one time it may not vouch: watchdog lost a folder's watch, and the journal
            # saw that and stepped aside (see FolderJournal.stepped_aside); the journal that
            # follows it vouches for nothing before its own start, so the next look is full.
            assert counted.call_count == int(journal.stepped_aside or stepped_aside), \
                "the journal could not vouch"
            stepped_aside = journal.stepped_aside
            fresh = file_state.scan(root, ITEMS, FileFilter(), cache_name=f"none-{cache}")
            assert followed == fresh
            assert "notes.txt" not in fresh and "workarea/help/skip.html" not in fresh
    finally:
        shutil.rmtree(root)
        for name in (cache, f"none-{cache}"):
            file_state._state_file(name).unlink(missing_ok=True)


@settings(max_examples=20, deadline=None)
@given(operations, operations)
def test_changes_since_a_token_rebuild_the_peer_manifest(first, second):
    root = Path(tempfile.mkdtemp())
    clock = [1_700_000_000 * 10**9]
    try:
        for operation in first:
            apply(root, operation, clock)
        copy, removed, token, complete = file_state.scan_since(root, ITEMS, FileFilter(), "")
        assert complete and not removed
        for operation in second:
            apply(root, operation, clock)
        files, removed, token, complete = file_state.scan_since(root, ITEMS, FileFilter(), token)
        assert not complete
        for path in removed:
            del copy[path]
        copy.update(files)
        assert copy == file_state.scan(root, ITEMS, FileFilter(), cache_name="none.json")
    finally:
        shutil.rmtree(root)
        file_state._state_file("none.json").unlink(missing_ok=True)


def test_a_token_from_another_process_gets_the_whole_manifest(tmp_path):
    (tmp_path / "page.html").write_text("x")
    files, removed, token, complete = file_state.scan_since(
        tmp_path, ITEMS, FileFilter(), "0123456789abcdef.7")
    assert complete and list(files) == ["page.html"] and not removed
    assert token.partition(".")[0] != "0123456789abcdef"


def test_when_watchdog_reports_trouble_the_next_scan_is_full(tmp_path):
    (tmp_path / "page.html").write_text("x")
    file_state.scan(tmp_path, ITEMS, FileFilter(), cache_name="trouble.json")
    import logging

    logging.getLogger("watchdog.observers.inotify_c").warning(
        "Inotify queue overflowed; filesystem events were lost")
    (tmp_path / "page.html").write_text("changed")
    with mock.patch.object(file_state, "_full_scan", wraps=file_state._full_scan) as counted:
        seen = file_state.scan(tmp_path, ITEMS, FileFilter(), cache_name="trouble.json")
    assert counted.call_count == 1
    assert seen["page.html"].size == len("changed")
    file_state._state_file("trouble.json").unlink(missing_ok=True)


def test_with_the_journal_turned_off_every_scan_walks_the_tree(tmp_path, settings):
    import dataclasses

    settings.ESYNC = dataclasses.replace(settings.ESYNC, file_journal=False)
    (tmp_path / "page.html").write_text("x")
    with mock.patch.object(file_state, "_full_scan", wraps=file_state._full_scan) as counted:
        for _ in range(2):
            file_state.scan(tmp_path, ITEMS, FileFilter(), cache_name="off.json")
    assert counted.call_count == 2
    file_state._state_file("off.json").unlink(missing_ok=True)


def test_a_root_replaced_by_another_folder_is_scanned_afresh(tmp_path):
    root = tmp_path / "siteroot"
    (root / "css").mkdir(parents=True)
    (root / "css" / "old.css").write_text("old")
    assert sorted(file_state.scan(root, ITEMS, FileFilter(), cache_name="swap.json")) == \
        ["css", "css/old.css"]
    root.rename(tmp_path / "siteroot.old")
    (root / "css").mkdir(parents=True)
    (root / "css" / "new.css").write_text("new")
    assert sorted(file_state.scan(root, ITEMS, FileFilter(), cache_name="swap.json")) == \
        ["css", "css/new.css"]
    file_state._state_file("swap.json").unlink(missing_ok=True)


def test_a_folder_watchdog_could_not_watch_makes_the_journal_step_aside(tmp_path):
    (tmp_path / "css").mkdir()
    journal = file_journal.FolderJournal(tmp_path)
    assert journal.start()
    _, mark = journal.changes_since(0)
    unwatched = tmp_path / "css" / "new"
    real = journal._watched
    with mock.patch.object(journal, "_watched",
                           lambda: real() - {str(unwatched.resolve())}):
        unwatched.mkdir()
        assert journal.changes_since(mark) == (None, 0)
        assert not journal.running
    journal.stop()


def test_a_file_landed_with_the_old_size_and_mtime_keeps_the_digest_it_arrived_with(
        tmp_path):
    page = tmp_path / "page.html"
    page.write_bytes(b"aaaa")
    os.utime(page, ns=(1_700_000_000_000_000_000,) * 2)
    before = file_state.scan(tmp_path, ITEMS, FileFilter())["page.html"]
    page.write_bytes(b"bbbb")  # as a landing does: same size, the sender's mtime
    os.utime(page, ns=(before.mtime_ns,) * 2)
    landed = file_state.FileInfo(4, before.mtime_ns, file_state.digest_of(page))
    file_state.remember({"page.html": landed})
    assert file_state.scan(tmp_path, ITEMS, FileFilter())["page.html"] == landed


def test_a_token_older_than_what_a_scope_remembers_gets_the_whole_manifest(tmp_path):
    (tmp_path / "a.html").write_text("1")
    _, _, token, _ = file_state.scan_since(tmp_path, ITEMS, FileFilter(), "")
    with mock.patch.object(file_state, "MOST_VERSIONS", 2):
        for n in range(4):
            (tmp_path / "a.html").write_text(str(n) * (n + 2))
            file_state.scan(tmp_path, ITEMS, FileFilter())
        files, _, _, complete = file_state.scan_since(tmp_path, ITEMS, FileFilter(), token)
    assert complete and list(files) == ["a.html"]
