"""The digest cache is shared by an instance's processes (the worker lands files the sync
service will scan): what one remembers, another finds, through appends and foldings alike."""

from __future__ import annotations

import json

from syncengine import file_state
from syncengine.file_state import FileInfo, _ManifestFile


def entry(n: int) -> FileInfo:
    return FileInfo(n, 1_700_000_000_000_000_000 + n, f"{n:032x}")


def test_what_one_process_remembers_another_reads(tmp_path):
    worker, sync_service = _ManifestFile(tmp_path / "d.json"), _ManifestFile(tmp_path / "d.json")
    assert sync_service.current() == {}
    worker.update({"css/a.css": entry(1)})
    worker.update({"css/a.css": entry(2), "js/b.js": entry(3)})
    assert sync_service.current() == {"css/a.css": entry(2), "js/b.js": entry(3)}


def test_a_long_log_is_folded_into_the_file_and_nothing_is_lost(tmp_path):
    worker, sync_service = _ManifestFile(tmp_path / "d.json"), _ManifestFile(tmp_path / "d.json")
    expected = {}
    appended = 0
    for n in range(3000):
        expected[f"f{n % 150}.html"] = entry(n)
        worker.update({f"f{n % 150}.html": entry(n)})
        appended += len(json.dumps([f"f{n % 150}.html", *entry(n)])) + 1
        if n % 397 == 0:
            assert sync_service.current() == expected
    assert (tmp_path / "d.json").exists(), "the log was never folded"
    assert (tmp_path / "d.json.log").stat().st_size < appended / 2
    assert sync_service.current() == expected
    assert _ManifestFile(tmp_path / "d.json").current() == expected  # a process started now


def test_a_line_being_written_is_read_once_complete(tmp_path):
    reader = _ManifestFile(tmp_path / "d.json")
    with open(tmp_path / "d.json.log", "wb") as log:
        log.write(b'["a.html",1,2,"x"]\n["b.ht')
    assert reader.current() == {"a.html": FileInfo(1, 2, "x")}
    with open(tmp_path / "d.json.log", "ab") as log:
        log.write(b'ml",3,4,"y"]\n')
    assert reader.current() == {"a.html": FileInfo(1, 2, "x"), "b.html": FileInfo(3, 4, "y")}


def test_remember_goes_through_the_instance_cache(settings):
    file_state.remember({"templates/x.html": entry(5)}, cache_name="remember-test.json")
    fresh = _ManifestFile(file_state._state_file("remember-test.json"))
    assert fresh.current()["templates/x.html"] == entry(5)


def test_removals_travel_too(tmp_path):
    writer, reader = _ManifestFile(tmp_path / "b.json"), _ManifestFile(tmp_path / "b.json")
    writer.update({"a.html": entry(1), "b.html": entry(2)})
    writer.update({}, removed=["a.html"])
    assert reader.current() == {"b.html": entry(2)}


def test_a_saved_base_reads_back_and_is_forgotten(settings):
    base = file_state.Base({"templates/a.html": entry(1), "css/b.css": entry(2)}, {"templates"})
    file_state.save_base(991, base)
    file_state.save_base(991, file_state.Base({"css/b.css": entry(3)}, {"templates", "bin"}))
    for store in list(file_state._manifest_files.values()):
        store.key = ("another process",)  # read from disk as a process starting now would
    again = file_state.load_base(991)
    assert (again.files, again.items_synced) == ({"css/b.css": entry(3)}, {"templates", "bin"})
    file_state.forget_base(991)
    assert file_state.load_base(991).files == {}


def test_reading_site_files_leaves_their_access_time(tmp_path):
    """esync reading a file (its digest, or to send it) is nobody's access to it."""
    import os

    import pytest

    from syncengine.file_transfer import file_chunks

    def just_written(name: str):
        path = tmp_path / name
        path.write_bytes(b"<p>page</p>" * 100)
        mtime = path.stat().st_mtime_ns
        os.utime(path, ns=(mtime - 10**10, mtime))  # read before it was last written
        return path, mtime - 10**10

    control, before = just_written("control.html")
    control.read_bytes()
    if control.stat().st_atime_ns == before:
        pytest.skip("this file system does not record reads (mounted noatime)")
    path, before = just_written("page.html")
    file_state.digest_of(path)
    assert b"".join(file_chunks(path)) == b"<p>page</p>" * 100
    assert path.stat().st_atime_ns == before


def test_the_cache_folder_cleared_while_the_instance_runs_is_made_again(settings, tmp_path):
    import shutil

    from tests.certificate_helpers import use_home

    config = use_home(settings, tmp_path / "home")
    file_state.remember({"css/a.css": entry(1)})
    # when an administrator clears the cache folder while the sync service runs
    shutil.rmtree(config.state_dir / "files")
    # then the next files it lands are remembered all the same
    file_state.remember({"css/b.css": entry(2)})
    assert file_state.cached_digests().get("css/b.css") == entry(2)
    assert (config.state_dir / "files" / "digests.json.log").exists()
