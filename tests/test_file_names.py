"""Site files arrive as they are: a name that is not UTF-8 travels as its bytes, a file the
receiving server refuses is skipped with its reason while the rest of its batch lands, and the
log names the receiver's own sentence."""

from __future__ import annotations

import json
import os
import re

import pytest

from tests.db_sync_helpers import staged_pair
from tests.test_file_sync import add_profile, last_log, read, write

pytestmark = pytest.mark.slow

NOT_UTF8 = b"css/caf\xe9.css"


def skipped_files(instance) -> list[dict]:
    run = json.loads(instance.esync("logs", "--json").stdout)[0]
    detail = json.loads(instance.esync("log", str(run["id"]), "--json").stdout)
    return [row for row in detail["skipped_rows"] if row["table"] == "(files)"]


def test_a_name_that_is_not_utf8_travels_as_its_bytes(real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        staging, production = pair.staging, pair.production
        # given a stylesheet whose name a Latin-1 editor wrote, beside ordinary ones
        root = os.fsencode(staging.home / "siteroot")
        os.makedirs(root + b"/css", exist_ok=True)
        with open(root + b"/" + NOT_UTF8, "wb") as file:
            file.write(b"latin-1 body")
        for n in range(5):
            write(staging, f"css/plain{n}.css", f"plain {n}")
        profile = add_profile(pair, "Styles up", "templates", "upload")

        # when the administrator runs the profile
        pair.sync(profile)

        # then production holds it under the same bytes, and every other file
        landed = os.fsencode(production.home / "siteroot") + b"/" + NOT_UTF8
        with open(landed, "rb") as file:
            assert file.read() == b"latin-1 body"
        assert read(production, "css/plain4.css") == "plain 4"
        log = last_log(staging)
        assert "6 files sent" in log["message"], log
        # and a second run moves nothing
        pair.sync(profile)
        assert "0 files sent, 0 received, 0 deleted" in last_log(staging)["message"]


def test_a_file_the_receiver_refuses_is_skipped_alone_with_its_reason(real_instances,
                                                                      tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        staging, production = pair.staging, pair.production
        # given names a Linux site can hold and esync refuses (a newline, a tab, a backslash)
        odd = ["css/new\nline.css", "css/tab\there.css", "css/back\\slash.css"]
        for name in odd:
            write(staging, name, "odd")
        # and a folder that is a link on production, leading out of its site root
        outside = tmp_path / "outside"
        outside.mkdir()
        (production.home / "siteroot" / "css").mkdir(parents=True, exist_ok=True)
        (production.home / "siteroot" / "css" / "linked").symlink_to(outside)
        write(staging, "css/linked/through.css", "must not land outside")
        for n in range(20):
            write(staging, f"css/good{n}.css", f"good {n}")
        profile = add_profile(pair, "Styles up", "templates", "upload")

        # when the administrator runs the profile
        pair.sync(profile, check=False)

        # then every good file landed and nothing went through the link
        assert [read(production, f"css/good{n}.css") for n in range(20)] == \
            [f"good {n}" for n in range(20)]
        assert list(outside.iterdir()) == []
        # and each refused file is in the log with the receiver's reason
        skipped = {row["remote_key"]: row["error"] for row in skipped_files(staging)}
        # (production's link itself is not fetched back by the first, bidirectional run:
        # it leads out of production's site root)
        assert set(skipped) == {*odd, "css/linked/through.css", "css/linked"}, skipped
        assert "only links that stay inside the site root are synced" in \
            skipped["css/linked"]
        assert "characters a file name may not have" in skipped["css/tab\there.css"]
        assert "link" in skipped["css/linked/through.css"]
        assert "refused our certificate" not in json.dumps(skipped)
        assert "20 files sent" in last_log(staging)["message"]


def test_a_stream_the_receiver_stops_reading_is_logged_with_the_receivers_reason(
        real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        staging, production = pair.staging, pair.production
        # given production takes at most 3 files a run, and staging has 12 of 500 KB
        config = production.home / "esync.toml"
        config.write_text(re.sub(r"max_files_per_run = \d+", "max_files_per_run = 3",
                                 config.read_text()))
        pair.production_sync_service.terminate()  # started again below, with the new limit
        pair.production_sync_service.wait()
        for n in range(12):
            write(staging, f"css/big{n}.css", os.urandom(500 * 1024))
        profile = add_profile(pair, "Styles up", "templates", "upload")

        # when staging sends them in one stream, and production stops reading at the fourth
        with production.sync_serving():
            pair.sync(profile, check=False)

        # then staging's log says production's limit, not that it refused the certificate
        errors = {row["error"] for row in skipped_files(staging)}
        assert any("limit of 3 files" in error for error in errors), errors
        assert not any("certificate" in error for error in errors), errors


def mode_of(instance, relative: str) -> int:
    return (instance.home / "siteroot" / relative).stat().st_mode & 0o7777


def test_files_keep_their_permission_bits_never_wider_than_the_senders(real_instances,
                                                                       tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        staging, production = pair.staging, pair.production
        # given a script, a private file, a read-only one and one anyone may write, on staging
        modes = {"css/run.sh": 0o755, "css/private.css": 0o600, "css/frozen.css": 0o444,
                 "css/open.css": 0o777}
        for name, mode in modes.items():
            write(staging, name, name)
            (staging.home / "siteroot" / name).chmod(mode)
        # and, on production, a file only its owner may read or run
        write(production, "css/owner.js", "owner only", age=60)
        (production.home / "siteroot" / "css/owner.js").chmod(0o700)
        profile = add_profile(pair, "Styles both", "templates", "bidirectional")

        # when the administrator runs the profile
        pair.sync(profile)

        # then each landed with its own bits, except that nobody else may write it
        assert {name: mode_of(production, name) for name in modes} == {
            "css/run.sh": 0o755, "css/private.css": 0o600, "css/frozen.css": 0o444,
            "css/open.css": 0o755}
        assert mode_of(staging, "css/owner.js") == 0o700
