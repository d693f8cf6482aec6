"""Site files arrive with what surrounds them: links that stay inside the site root as links
(one leading out skipped with its reason), hard links as hard links, empty folders made,
deleted folders removed, folder mtimes kept, and a file and a folder swapping places in one
run — checked with rsync's own dry run between the two site roots."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.db_sync_helpers import staged_pair
from tests.test_file_names import skipped_files
from tests.test_file_sync import add_profile, last_log, write

pytestmark = pytest.mark.slow


def rsync_differences(source, destination) -> list[str]:
    """What `rsync -anciH --delete` would still change, one itemized line per entry."""
    result = subprocess.run(
        ["rsync", "-anciH", "--delete", f"{source}/", f"{destination}/"],
        capture_output=True, text=True, check=True)
    return sorted(line for line in result.stdout.splitlines() if line.strip())


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
def test_links_folders_and_a_swap_arrive_as_they_are(real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        staging, production = pair.staging, pair.production
        site, there = staging.home / "siteroot", production.home / "siteroot"
        # given staging's css folder with a link inside the site root, one leading out, a
        # hard-linked pair, an empty folder, modes, and a name that will become a folder
        write(staging, "css/site.css", "body {}")
        write(staging, "css/swap", "a file now")
        os.symlink("site.css", site / "css/current.css")
        os.symlink("/etc/passwd", site / "css/outside.css")
        os.link(site / "css/site.css", site / "css/same.css")
        (site / "css/empty/deeper").mkdir(parents=True)
        write(staging, "css/gone/old.css", "to be removed with its folder")
        (site / "css/secret.css").write_text("0600")
        os.chmod(site / "css/secret.css", 0o600)
        profile = add_profile(pair, "Styles up", "templates", "upload")

        # when the administrator runs the profile
        pair.sync(profile, check=False)

        # then production has the link as a link, the pair as one file, the empty folders
        assert os.readlink(there / "css/current.css") == "site.css"
        assert os.stat(there / "css/same.css").st_ino == os.stat(there / "css/site.css").st_ino
        assert (there / "css/empty/deeper").is_dir()
        assert os.stat(there / "css/secret.css").st_mode & 0o777 == 0o600
        # and the link leading out is skipped with its reason, never followed
        assert not os.path.lexists(there / "css/outside.css")
        skipped = {row["remote_key"]: row["error"] for row in skipped_files(staging)}
        assert "only links that stay inside the site root" in skipped["css/outside.css"]

        # given staging then swaps a file for a folder, removes a folder, edits a file
        (site / "css/swap").unlink()
        write(staging, "css/swap/inside.css", "a folder now")
        shutil.rmtree(site / "css/gone")
        write(staging, "css/site.css", "body { color: red }")

        # when it runs again
        pair.sync(profile, check=False)

        # then one run did it all, and rsync finds nothing else to do but the link it skips
        assert (there / "css/swap/inside.css").read_text() == "a folder now"
        assert not (there / "css/gone").exists()
        differences = rsync_differences(site / "css", there / "css")
        assert [line for line in differences if not line.endswith("outside.css -> /etc/passwd")
                and not line.endswith(" ./")] == [], differences

        # and a run with nothing changed moves nothing
        pair.sync(profile, check=False)
        assert "0 files sent, 0 received, 0 deleted" in last_log(staging)["message"]
