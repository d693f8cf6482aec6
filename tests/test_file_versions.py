"""Kept versions (issue 17, "Versions"): every site file a file sync replaced or deleted is kept
under HOME/versions/<stamp>/; an administrator lists them, restores one (the file it replaces
kept in turn) and prunes the oldest, by hand or after each run by esync.toml's [versions]."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
from pathlib import Path

import pytest
from django.urls import reverse

from esync_site.cli import main
from esync_site.instance import InstanceConfigError, VersionsSettings, parse_config
from syncengine import file_state, file_versions, runs
from syncengine.file_versions import VersionRefused
from syncengine.models import SyncRun

STAMP = "20261125-120000-run7"
MTIME_NS = 1_700_000_000 * 10**9
NOW = dt.datetime(2026, 12, 1, 10, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def home(settings, tmp_path) -> Path:
    """Given an instance home of its own: an empty versions folder and a fresh site root."""
    from cms.site_root import create_site_root

    settings.ESYNC = dataclasses.replace(settings.ESYNC, home=tmp_path)
    settings.SITE_ROOT = tmp_path / "siteroot"
    create_site_root(settings.SITE_ROOT)
    return tmp_path


def site(home: Path) -> Path:
    return home / "siteroot"


def kept(home: Path, stamp: str, relative: str, body: bytes = b"old") -> Path:
    """A version as a file sync keeps it: HOME/versions/<stamp>/<path>."""
    path = home / "versions" / stamp / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    os.utime(path, ns=(MTIME_NS, MTIME_NS))
    return path


def site_file(home: Path, relative: str, body: bytes = b"new") -> Path:
    path = site(home) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


def stamps(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "versions").iterdir())


# -- listing and restoring --------------------------------------------------------------------

def test_a_restored_version_is_back_and_the_file_it_replaced_is_kept_in_turn(home):
    # given css/site.css was replaced by run 7, which kept the old one
    kept(home, STAMP, "css/site.css", b"old")
    current = site_file(home, "css/site.css", b"new")

    # when it is listed, then it shows with its run, time and size
    (version,) = file_versions.list_versions()
    assert (version.stamp, version.run_id, version.path, version.size) == (
        STAMP, 7, "css/site.css", 3)
    assert version.time == dt.datetime(2026, 11, 25, 12, 0, 0, tzinfo=dt.UTC)

    # when it is restored
    restored = file_versions.restore(STAMP, "css/site.css", now=NOW)

    # then the site file has the old content and mtime, and the new one is a version itself
    assert current.read_bytes() == b"old"
    assert current.stat().st_mtime_ns == MTIME_NS
    assert restored.kept_as == "20261201-100000-restore"
    assert (home / "versions/20261201-100000-restore/css/site.css").read_bytes() == b"new"
    assert restored.describe() == ("Restored css/site.css as it was kept in "
                                   f"{STAMP}; the file it replaced is kept in "
                                   "20261201-100000-restore.")
    # the version itself is still there, and the digest cache knows the file as it now is
    assert (home / "versions" / STAMP / "css/site.css").read_bytes() == b"old"
    assert file_state.cached_digests()["css/site.css"].digest == file_state.digest_of(current)
    assert not [p for p in current.parent.iterdir() if p.name.startswith(".esync-")]

    # when it is restored again in the same second, then it gets a stamp of its own
    again = file_versions.restore(STAMP, "css/site.css", now=NOW)
    assert again.kept_as == "20261201-100000-restore2"
    assert [v.stamp for v in file_versions.list_versions("SITE.css")] == [
        "20261201-100000-restore2", "20261201-100000-restore", STAMP]


def test_a_deleted_file_is_restored_with_its_folders_and_nothing_to_keep(home):
    # given run 7 deleted workarea/old/page.aspx and its folder is gone too
    kept(home, STAMP, "workarea/old/page.aspx", b"<page>")

    restored = file_versions.restore(STAMP, "workarea/old/page.aspx", now=NOW)

    assert (site(home) / "workarea/old/page.aspx").read_bytes() == b"<page>"
    assert restored.kept_as is None
    assert stamps(home) == [STAMP]


def test_a_name_that_is_not_utf8_is_listed_as_shown_and_restored_by_that_spelling(home):
    name = os.fsdecode(b"css/caf\xe9.css")
    kept(home, STAMP, name, b"old")

    (version,) = file_versions.list_versions("caf")
    assert version.shown_path == "css/caf\\xe9.css"
    assert file_versions.typed_path(version.shown_path) == name

    file_versions.restore(STAMP, file_versions.typed_path("css/caf\\xe9.css"), now=NOW)
    assert (site(home) / name).read_bytes() == b"old"


@pytest.mark.parametrize("stamp, relative, refused", [
    (STAMP, "../esync.toml", "leads outside the site root"),
    (STAMP, "css/../../esync.toml", "leads outside the site root"),
    (STAMP, "/etc/passwd", "is an absolute path"),
    (STAMP, "css/site\x00.css", "characters a file name may not have"),
    (STAMP, "", "a file path is missing"),
    (STAMP, "web.config", "is not a file esync synchronizes"),
    (STAMP, "css/other.css", f"{STAMP} keeps no 'css/other.css'"),
    ("20261125-120000-run8", "css/site.css", "no versions are kept under 20261125-120000-run8"),
    ("../versions", "css/site.css", "is not the stamp of kept versions"),
    (STAMP + "\n", "css/site.css", "is not the stamp of kept versions"),
    (None, "css/site.css", "is not the stamp of kept versions"),
])
def test_a_restore_that_names_no_kept_version_is_refused_and_writes_nothing(
        home, stamp, relative, refused):
    kept(home, STAMP, "css/site.css", b"old")
    current = site_file(home, "css/site.css", b"new")

    with pytest.raises(VersionRefused, match=refused):
        file_versions.restore(stamp, relative, now=NOW)

    assert current.read_bytes() == b"new"
    assert stamps(home) == [STAMP]


def test_a_link_in_the_versions_folder_is_never_followed(home, tmp_path_factory):
    # given someone put a link to a folder outside into a stamp's folder
    outside = tmp_path_factory.mktemp("outside")
    (outside / "site.css").write_bytes(b"secret")
    (home / "versions" / STAMP).mkdir(parents=True)
    (home / "versions" / STAMP / "css").symlink_to(outside)
    (home / "versions" / STAMP / "page.html").symlink_to(outside / "site.css")
    current = site_file(home, "css/site.css", b"new")

    # then it is not listed, and restoring through it is refused with nothing written
    assert file_versions.list_versions() == []
    for relative in ("css/site.css", "page.html"):
        with pytest.raises(VersionRefused, match="goes through a link in the versions folder"):
            file_versions.restore(STAMP, relative, now=NOW)
    assert current.read_bytes() == b"new"
    assert not (site(home) / "page.html").exists()
    assert stamps(home) == [STAMP]


def test_a_link_in_the_site_root_leading_out_or_a_folder_in_the_way_is_refused(
        home, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (site(home) / "css").symlink_to(outside)
    kept(home, STAMP, "css/site.css")
    kept(home, STAMP, "templates/page.html")
    (site(home) / "templates/page.html").unlink()
    (site(home) / "templates/page.html").mkdir()

    with pytest.raises(VersionRefused, match="leads out of the site root through a link"):
        file_versions.restore(STAMP, "css/site.css", now=NOW)
    with pytest.raises(VersionRefused, match="is a folder on this server"):
        file_versions.restore(STAMP, "templates/page.html", now=NOW)
    assert list(outside.iterdir()) == []
    assert stamps(home) == [STAMP]


# -- pruning ----------------------------------------------------------------------------------

def test_prune_by_age_removes_whole_runs_older_than_the_limit(home):
    # given versions kept on November 1st, 20th and 25th
    for stamp in ("20261101-080000-run1", "20261120-080000-run2", STAMP):
        kept(home, stamp, "css/site.css")

    # when pruned on December 1st to 10 days
    pruned = file_versions.prune(10, None, now=NOW)

    # then the two older runs are gone, whole
    assert [s.stamp for s in pruned.removed] == ["20261101-080000-run1",
                                                 "20261120-080000-run2"]
    assert stamps(home) == [STAMP]
    assert pruned.describe() == "Removed 2 kept runs of versions (2 files, 6 bytes)."
    # and again, nothing more is
    assert file_versions.prune(10, None, now=NOW).removed == []


def test_prune_by_size_removes_the_oldest_until_within_the_limit(home):
    kept(home, "20261101-080000-run1", "css/a.css", b"x" * 10)
    kept(home, "20261102-080000-run2", "css/a.css", b"x" * 20)
    kept(home, "20261103-080000-run3", "css/a.css", b"x" * 15)
    kept(home, "20261103-080000-run3", "css/b.css", b"x" * 15)

    pruned = file_versions.prune(None, 45, now=NOW)

    assert [(s.stamp, s.files, s.bytes) for s in pruned.removed] == [
        ("20261101-080000-run1", 1, 10), ("20261102-080000-run2", 1, 20)]
    assert stamps(home) == ["20261103-080000-run3"]
    assert file_versions.prune(0, 0, now=NOW).removed == []  # 0: keep all


@pytest.mark.parametrize("days, size", [(-1, None), (True, None), (36_501, None),
                                        (None, -5), (None, 2**63), (None, "10"), (1.5, None)])
def test_prune_limits_that_are_no_whole_numbers_in_range_are_refused(home, days, size):
    kept(home, "20201101-080000-run1", "css/a.css")
    with pytest.raises(VersionRefused, match="must be a whole number from 0"):
        file_versions.prune(days, size, now=NOW)
    assert stamps(home) == ["20201101-080000-run1"]


@pytest.mark.django_db
def test_each_run_ends_by_pruning_as_configured_and_a_disk_error_never_fails_it(
        home, settings, monkeypatch, caplog):
    # given esync.toml keeps versions 30 days, and versions from last year and from today
    settings.ESYNC = dataclasses.replace(settings.ESYNC, versions=VersionsSettings(30, 0))
    old = f"{dt.datetime.now(dt.UTC) - dt.timedelta(days=400):%Y%m%d-%H%M%S}-run1"
    new = f"{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-run2"
    kept(home, old, "css/a.css")
    kept(home, new, "css/a.css")
    run = SyncRun.objects.create(kind="FileSync", direction="upload", status="running")

    # when a run finishes, then the old versions are gone and the new kept
    runs.finish(run, SyncRun.Status.SUCCESS)
    assert stamps(home) == [new]

    # given the disk refuses to read the versions folder, when a run finishes
    def unreadable():
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(file_versions, "list_stamps", unreadable)
    second = SyncRun.objects.create(kind="FileSync", direction="upload", status="running")
    with caplog.at_level(logging.WARNING, logger="esync.versions"):
        runs.finish(second, SyncRun.Status.SUCCESS)

    # then the run still ends as it did (inside the test's transaction the row is written
    # later), and the log says why nothing was pruned
    assert (second.status, second.ended_at is not None) == ("success", True)
    assert "Kept versions were not pruned: [Errno 13] Permission denied" in caplog.text


# -- esync.toml -------------------------------------------------------------------------------

def test_versions_settings_are_read_from_esync_toml():
    config = parse_config(Path("/srv/esync"), {"name": "a", "versions": {
        "keep_days": 30, "max_bytes": 10 * 1024**3}})
    assert config.versions == VersionsSettings(keep_days=30, max_bytes=10 * 1024**3)
    assert parse_config(Path("/srv/esync"), {"name": "a"}).versions == VersionsSettings(0, 0)


@pytest.mark.parametrize("versions, named", [
    ({"keep_days": -1}, "'versions.keep_days' must be a whole number of days from 0"),
    ({"keep_days": True}, "'versions.keep_days'"),
    ({"keep_days": 10**12}, "'versions.keep_days'"),
    ({"keep_days": "30"}, "'versions.keep_days'"),
    ({"max_bytes": -1}, "'versions.max_bytes' must be a whole number of bytes"),
    ({"max_bytes": 2**63}, "'versions.max_bytes'"),
    ({"max_bytes": 1.5}, "'versions.max_bytes'"),
    ({"keep": 3}, "unknown setting 'versions.keep' \\(known: keep_days, max_bytes\\)"),
    (7, "'versions' must be a \\[versions\\] table"),
])
def test_hostile_versions_settings_stop_start_up_naming_the_key(versions, named):
    with pytest.raises(InstanceConfigError, match=named):
        parse_config(Path("/srv/esync"), {"name": "a", "versions": versions})


def test_a_number_too_long_to_read_in_esync_toml_is_a_sentence(tmp_path):
    from esync_site.instance import load_config

    (tmp_path / "esync.toml").write_text(f'name = "a"\n[versions]\nmax_bytes = {"9" * 5000}\n')
    with pytest.raises(InstanceConfigError, match="a number too long to read"):
        load_config(tmp_path)


# -- the command line -------------------------------------------------------------------------

def esync(capsys, *arguments: str) -> tuple[int, str, str]:
    code = main(list(arguments))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.django_db
def test_the_command_line_lists_restores_and_prunes(home, settings, capsys):
    # given one kept version and nothing else
    kept(home, STAMP, "css/site.css", b"old")
    current = site_file(home, "css/site.css", b"new")

    # when listed as JSON
    code, out, _ = esync(capsys, "versions", "list", "--json")
    assert code == 0
    assert json.loads(out) == [{"stamp": STAMP, "run": 7, "time": "2026-11-25T12:00:00+00:00",
                                "path": "css/site.css", "size": 3}]
    code, out, _ = esync(capsys, "versions", "list", "--path", "nothing-like-it")
    assert (code, out) == (0, "No kept version's path holds 'nothing-like-it'.\n")

    # when restored without --yes and no terminal, then it is refused and nothing written
    code, _, err = esync(capsys, "versions", "restore", STAMP, "css/site.css")
    assert code == 3 and "restoring css/site.css needs --yes" in err
    assert current.read_bytes() == b"new"
    code, _, err = esync(capsys, "versions", "restore", STAMP, "../esync.toml", "--yes")
    assert code == 3 and "leads outside the site root" in err

    # when restored with --yes, then the old file is back
    code, out, _ = esync(capsys, "versions", "restore", STAMP, "css/site.css", "--yes")
    assert code == 0 and out.startswith(f"Restored css/site.css as it was kept in {STAMP}")
    assert current.read_bytes() == b"old"
    assert len(json.loads(esync(capsys, "versions", "list", "--json")[1])) == 2

    # when pruned with no limit anywhere, then everything is kept
    code, out, _ = esync(capsys, "versions", "prune", "--yes")
    assert code == 0 and out.startswith("Every version is kept: no limit is set")
    # when pruned to 1 day (the restore's own version is today's), then only run 7's goes
    code, _, err = esync(capsys, "versions", "prune", "--keep-days", "1")
    assert code == 3 and "pruning versions needs --yes" in err
    code, out, _ = esync(capsys, "versions", "prune", "--keep-days", "1", "--yes")
    assert (code, out) == (0, "Removed 1 kept run of versions (1 file, 3 bytes).\n")
    assert [v["run"] for v in json.loads(esync(capsys, "versions", "list", "--json")[1])] == [
        None]
    # esync.toml's limit is the default
    settings.ESYNC = dataclasses.replace(settings.ESYNC, versions=VersionsSettings(0, 1))
    code, out, _ = esync(capsys, "versions", "prune", "--yes")
    assert code == 0 and out.startswith("Removed 1 kept run")
    assert esync(capsys, "versions", "list")[1] == "No versions are kept.\n"


@pytest.mark.parametrize("typed", ["-1", "²", "٣", "1e3", "36501", "99999999999999999999"])
def test_a_prune_limit_that_is_not_a_whole_number_is_a_usage_error(capsys, typed):
    with pytest.raises(SystemExit) as stopped:
        main(["versions", "prune", "--keep-days", typed, "--yes"])
    assert stopped.value.code == 2
    assert "is not a number of days from 0 (no limit) to 36500" in capsys.readouterr().err


# -- the Versions screen ----------------------------------------------------------------------

@pytest.mark.django_db
def test_a_synchronization_admin_restores_a_version_from_the_versions_screen(
        client, sync_admin, home):
    kept(home, STAMP, "css/site.css", b"old")
    kept(home, STAMP, "css/<b>bold</b>.css", b"x")
    current = site_file(home, "css/site.css", b"new")
    client.force_login(sync_admin)

    # the logs screen leads to it
    assert reverse("sync:versions") in client.get(reverse("sync:logs")).content.decode()
    page = client.get(reverse("sync:versions")).content.decode()
    assert f"<td>{STAMP}</td>" in page and "<td>css/site.css</td>" in page
    assert "css/&lt;b&gt;bold&lt;/b&gt;.css" in page and "<b>bold</b>" not in page
    restore_url = f"{reverse('sync:version_restore')}?stamp={STAMP}&amp;path=css/site.css"
    assert restore_url in page

    # when Restore is clicked, then a confirmation page asks first and nothing is written
    confirm = client.get(reverse("sync:version_restore"),
                         {"stamp": STAMP, "path": "css/site.css"}).content.decode()
    assert "Restore css/site.css?" in confirm and "csrfmiddlewaretoken" in confirm
    assert f'name="stamp" value="{STAMP}"' in confirm
    assert current.read_bytes() == b"new"

    # when confirmed, then the file is back and the screen says so
    answer = client.post(reverse("sync:version_restore"),
                         {"stamp": STAMP, "path": "css/site.css"}, follow=True)
    assert f"Restored css/site.css as it was kept in {STAMP}; the file it replaced is kept " \
           "in " in answer.content.decode()
    assert current.read_bytes() == b"old"

    # a hostile form is answered with a sentence, never a server error
    for form in ({"stamp": STAMP, "path": "../../esync.toml"}, {"stamp": "x\x00", "path": ""},
                 {"stamp": STAMP, "path": "css/" + "a" * 6000}, {}):
        answer = client.post(reverse("sync:version_restore"), form, follow=True)
        assert answer.status_code == 200
        assert 'class="message error"' in answer.content.decode()


@pytest.mark.django_db
def test_the_versions_screen_is_refused_to_an_editor(client, editor, home):
    kept(home, STAMP, "css/site.css", b"old")
    current = site_file(home, "css/site.css", b"new")
    client.force_login(editor)

    assert client.get(reverse("sync:versions")).status_code == 403
    answer = client.post(reverse("sync:version_restore"), {"stamp": STAMP,
                                                          "path": "css/site.css"})
    assert answer.status_code == 403
    assert current.read_bytes() == b"new"
