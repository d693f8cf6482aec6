"""File sync between two real instances over mutual TLS on loopback: Templates, Workarea and bin
profiles, newer-wins, deletions kept in the versions folder, conflicts by policy, the ticked
files of "Synchronize files", deltas for big files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.db_sync_helpers import staged_pair

pytestmark = pytest.mark.slow


def write(instance, relative: str, text: str | bytes, age: float = 0.0) -> None:
    """Write a site root file; `age` seconds in the past (an older edit)."""
    path = instance.home / "siteroot" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    if age:
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))


def read(instance, relative: str) -> str | None:
    path = instance.home / "siteroot" / relative
    return path.read_text() if path.exists() else None


def kept_versions(instance, relative: str) -> list[str]:
    root = instance.home / "versions"
    return sorted(p.read_text(errors="replace") for p in root.glob(f"*/{relative}")) \
        if root.exists() else []


def last_log(instance) -> dict:
    return json.loads(instance.esync("logs", "--json").stdout)[0]


def add_profile(pair, name: str, items: str, direction: str, *extra: str) -> str:
    pair.staging.esync("profile", "add", str(pair.relationship), "--name", name,
                       "--items", items, "--direction", direction, *extra)
    return name


def test_templates_upload_moves_newer_files_deletes_and_keeps_what_it_replaced(
        real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        staging, production = pair.staging, pair.production
        # given a template and a stylesheet edited on staging, and files no profile item covers
        write(staging, "templates/page.html", "<h1>new page</h1>")
        write(staging, "css/site.css", "body { color: navy }")
        write(staging, "web.config", "<configuration/>")
        write(staging, "notes.txt", "not synced by default")
        write(staging, "workarea/custom/menu.js", "workarea is its own item")
        write(staging, "bin/site.dll", "binary")
        # and production has a newer edit of a file staging also has
        write(staging, "css/print.css", "staging print", age=3600)
        write(production, "css/print.css", "production print, edited later")
        profile = add_profile(pair, "Templates up", "templates,bin", "upload")

        # when the administrator runs the Templates profile (its first run is bidirectional)
        pair.sync(profile)

        # then production serves the new files, and the newer production file was kept
        assert read(production, "templates/page.html") == "<h1>new page</h1>"
        assert read(production, "css/site.css") == "body { color: navy }"
        assert read(production, "bin/site.dll") == "binary"
        assert read(production, "css/print.css") == "production print, edited later"
        assert read(staging, "css/print.css") == "production print, edited later"
        for untouched in ("web.config", "notes.txt", "workarea/custom/menu.js"):
            assert read(production, untouched) is None, untouched
        staged_mtime = (staging.home / "siteroot/css/site.css").stat().st_mtime_ns
        assert (production.home / "siteroot/css/site.css").stat().st_mtime_ns == staged_mtime
        log = last_log(staging)
        assert log["status"] == "success", log
        assert log["applied"] >= 4 and "files sent" in log["message"], log

        # when staging edits the stylesheet and deletes the template, and production edits a
        # file later than staging did
        write(staging, "css/site.css", "body { color: teal }")
        (staging.home / "siteroot/templates/page.html").unlink()
        write(staging, "css/print.css", "staging again", age=600)
        pair.sync(profile)

        # then the edit and the deletion travel, the newer production file stays, and the
        # replaced and deleted copies are kept in production's versions folder
        assert read(production, "css/site.css") == "body { color: teal }"
        assert read(production, "templates/page.html") is None
        assert read(production, "css/print.css") == "production print, edited later"
        assert kept_versions(production, "css/site.css") == ["body { color: navy }"]
        # (the first run replaced the starter template, kept too)
        assert "<h1>new page</h1>" in kept_versions(production, "templates/page.html")
        assert not list((production.home / "siteroot").rglob(".esync-*"))

        # and "Synchronize files" sends just the ticked file when it is newer
        write(staging, "css/site.css", "body { color: olive }")
        write(staging, "css/other.css", "not ticked")
        staging.esync("sync", profile, "--files", "css/site.css", "--wait")
        assert read(production, "css/site.css") == "body { color: olive }"
        assert read(production, "css/other.css") is None
        assert last_log(staging)["type"] == "FileSync"


@pytest.mark.parametrize("policy", ["remote-wins", "local-wins"])
def test_bidirectional_workarea_settles_a_file_changed_on_both_sides_by_the_policy(
        real_instances, tmp_path, policy):
    with staged_pair(real_instances, tmp_path) as pair:
        staging, production = pair.staging, pair.production
        write(staging, "workarea/custom/menu.js", "base")
        profile = add_profile(pair, "Workarea both", "workarea", "bidirectional",
                              "--policy", policy)
        pair.sync(profile)
        assert read(production, "workarea/custom/menu.js") == "base"

        # given the same file edited on both servers, and one-sided changes on each
        write(staging, "workarea/custom/menu.js", "staging edit")
        write(production, "workarea/custom/menu.js", "production edit")
        write(staging, "workarea/custom/staging-only.js", "from staging")
        write(production, "workarea/custom/production-only.js", "from production")
        write(production, "workarea/help/manual.html", "an excluded folder")
        pair.sync(profile)

        winner, loser, loser_side = (("production edit", "staging edit", staging)
                                     if policy == "remote-wins" else
                                     ("staging edit", "production edit", production))
        assert read(staging, "workarea/custom/menu.js") == winner
        assert read(production, "workarea/custom/menu.js") == winner
        assert kept_versions(loser_side, "workarea/custom/menu.js") == [loser]
        assert read(production, "workarea/custom/staging-only.js") == "from staging"
        assert read(staging, "workarea/custom/production-only.js") == "from production"
        assert read(staging, "workarea/help/manual.html") is None
        assert "1 differed on both sides" in last_log(staging)["message"]


def test_later_runs_follow_what_changed_on_either_side_and_retry_what_they_left(
        real_instances, tmp_path):
    """Runs after the first look only at what the journals saw change since (and at what the
    last run left unsettled); the outcome is the same as comparing everything."""
    with staged_pair(real_instances, tmp_path) as pair:
        staging, production = pair.staging, pair.production
        for n in range(30):
            write(staging, f"css/theme{n % 3}/file{n}.css", f"staging {n}", age=7200)
        profile = add_profile(pair, "Styles up", "templates", "upload")
        pair.sync(profile)  # the first run: bidirectional, everything compared
        assert read(production, "css/theme2/file29.css") == "staging 29"

        # given nothing changed, a run moves nothing
        pair.sync(profile)
        assert "0 files sent, 0 received, 0 deleted" in last_log(staging)["message"]

        # given production edits a file later than staging (an upload profile leaves it),
        # staging edits another, deletes a third and adds a folder
        write(production, "css/theme0/file0.css", "production, later")
        write(staging, "css/theme1/file1.css", "staging, edited")
        (staging.home / "siteroot/css/theme2/file2.css").unlink()
        write(staging, "css/new/added.css", "new folder")
        pair.sync(profile)
        assert read(production, "css/theme1/file1.css") == "staging, edited"
        assert read(production, "css/theme2/file2.css") is None
        assert read(production, "css/new/added.css") == "new folder"
        assert read(production, "css/theme0/file0.css") == "production, later"
        assert "2 files sent, 0 received, 1 deleted" in last_log(staging)["message"]

        # when staging edits the file production had changed, it is newer now and travels
        # (the last run left it unsettled, and staging's journal saw the edit)
        write(staging, "css/theme0/file0.css", "staging, latest")
        pair.sync(profile)
        assert read(production, "css/theme0/file0.css") == "staging, latest"
        assert "1 files sent, 0 received, 0 deleted" in last_log(staging)["message"]


def test_a_big_file_travels_in_chunks_and_an_append_sends_only_its_blocks(
        real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        staging, production = pair.staging, pair.production
        big = os.urandom(24 * 1024 * 1024)
        write(staging, "uploadedfiles/video.bin", big)
        profile = add_profile(pair, "Resources up", "database", "upload")
        pair.sync(profile)
        assert (production.home / "siteroot/uploadedfiles/video.bin").read_bytes() == big
        assert last_log(staging)["bytes"] >= len(big)

        appended = big + os.urandom(1024 * 1024)
        write(staging, "uploadedfiles/video.bin", appended)
        pair.sync(profile)

        assert (production.home / "siteroot/uploadedfiles/video.bin").read_bytes() == appended
        assert last_log(staging)["bytes"] < 2 * 1024 * 1024
        assert kept_versions(production, "uploadedfiles/video.bin") != []

        # bytes inserted near the start move everything after them: still a small delta
        inserted = appended[:1000] + b"a new title page" * 100 + appended[1000:]
        write(staging, "uploadedfiles/video.bin", inserted)
        pair.sync(profile)
        assert (production.home / "siteroot/uploadedfiles/video.bin").read_bytes() == inserted
        assert last_log(staging)["bytes"] < 512 * 1024
        appended = inserted

        # and the other way: a download brings production's append as a delta, and a new big
        # file in chunks
        edited = appended[:4096] + b"production" + appended[4106:] + os.urandom(512 * 1024)
        new_big = os.urandom(20 * 1024 * 1024)
        write(production, "uploadedfiles/video.bin", edited)
        write(production, "uploadedfiles/new.bin", new_big)
        pair.sync(add_profile(pair, "Resources down", "database", "download"))
        assert (staging.home / "siteroot/uploadedfiles/video.bin").read_bytes() == edited
        assert (staging.home / "siteroot/uploadedfiles/new.bin").read_bytes() == new_big
        assert last_log(staging)["bytes"] < len(new_big) + 2 * 1024 * 1024
        assert kept_versions(staging, "uploadedfiles/video.bin") != []


def test_a_worker_killed_mid_file_leaves_no_partial_file_and_the_next_run_resumes(
        real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        staging, production = pair.staging, pair.production
        big = os.urandom(96 * 1024 * 1024)
        write(staging, "uploadedfiles/big.bin", big)
        profile = add_profile(pair, "Resources up", "database", "upload")

        # given a run that has sent part of a big file when its worker is killed
        staging.esync("sync", profile)
        incoming = production.home / "state" / "incoming"
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size >= 16 * 1024 * 1024
                      for p in incoming.glob("resume-*.part")) if incoming.exists() else True:
            assert time.monotonic() < deadline, "no part of the file arrived"
            time.sleep(0.002)
        worker = subprocess.run(["pgrep", "-f", "--", f"--home {staging.home} worker"],
                                capture_output=True, text=True).stdout.split()
        assert worker, "staging's worker is not running"
        for pid in worker:
            os.kill(int(pid), signal.SIGKILL)

        # then production shows no half file, and the run is closed as interrupted
        target = production.home / "siteroot" / "uploadedfiles" / "big.bin"
        assert not target.exists()
        assert not list((production.home / "siteroot").rglob(".esync-*"))
        deadline = time.monotonic() + 60
        while last_log(staging)["status"] != "failed":
            assert time.monotonic() < deadline, "the interrupted run was not closed"
            time.sleep(0.5)
        assert "Interrupted" in last_log(staging)["message"]

        # when the sync runs again, it carries on from what production already holds
        pair.sync(profile)
        assert target.read_bytes() == big
        assert last_log(staging)["bytes"] <= len(big) - 8 * 1024 * 1024
        assert not list(incoming.glob("resume-*.part"))
