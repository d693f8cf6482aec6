"""`esync init HOME --name NAME`: a home, a migrated database and an administrator."""

import json
import os
import stat

import pytest

from tests.real_instances import ADMIN_PASSWORD, free_port, run_esync

pytestmark = pytest.mark.slow


def test_init_creates_the_home_the_site_root_and_an_administrator(real_instances):
    staging = real_instances("staging")
    home = staging.home
    for folder in ("workarea", "assets", "privateassets", "uploadedimages", "uploadedfiles",
                   "bin"):
        assert (home / "siteroot" / folder).is_dir(), folder
    assert (home / "siteroot" / "templates" / "page.html").is_file()
    assert stat.S_IMODE(os.stat(home / "secret_key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home / "esync.sqlite3").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home / "keys").st_mode) == 0o700
    admins = json.loads(staging.python(
        "import json; from cms.models import User; "
        "print(json.dumps([[u.username, u.is_superuser, [g.name for g in u.groups.all()]] "
        "for u in User.objects.all()]))"
    ))
    assert admins == [["admin", True, ["Administrators"]]]
    assert staging.python(
        f"from django.contrib.auth import authenticate; "
        f"print(bool(authenticate(username='admin', password='{ADMIN_PASSWORD}')))"
    ).strip() == "True"


def test_info_json_is_right_for_a_fresh_instance(real_instances):
    staging = real_instances("staging")
    info = staging.info()
    assert info["name"] == "staging"
    assert len(info["server_id"]) == 36
    assert info["server_number"] is None
    assert info["max_id"] == 1
    assert info["id_range"] == {"first": 1, "last": 10**12}
    assert info["version"] == "0.1.0"
    assert info["database"] == "sqlite"
    assert info["ports"] == {"web": staging.web_port, "sync": staging.sync_port}
    assert info["sites"] == [{"name": "default", "site_root": str(staging.home / "siteroot"),
                              "default": True}]
    text = staging.esync("info").stdout
    assert "server number  not assigned" in text and info["server_id"] in text


def test_a_home_is_created_once(real_instances):
    staging = real_instances("staging")
    again = run_esync("init", str(staging.home), "--name", "other")
    assert again.returncode == 3
    assert "already an esync home" in again.stderr


@pytest.mark.parametrize("arguments, message", [
    (["--admin", "no-colon"], "--admin takes USER:PASSWORD"),
    (["--admin", "admin:short"], "Administrator password"),
    (["--db", "mssql://sa@host/db"], "not supported"),
    (["--web-port", "0"], "'web_port' must be a port number"),
])
def test_bad_init_arguments_are_refused_and_leave_no_home(tmp_path, arguments, message):
    home = tmp_path / "h"
    result = run_esync("init", str(home), "--name", "x", "--web-port", str(free_port()),
                       *arguments)
    assert result.returncode == 3, result.stderr
    assert message in result.stderr
    assert not (home / "esync.toml").exists()


def test_a_malformed_esync_toml_stops_every_command_naming_the_key(real_instances):
    staging = real_instances("staging")
    config = staging.home / "esync.toml"
    config.write_text("can_initate = false\n" + config.read_text())
    result = staging.esync("info", check=False)
    assert result.returncode == 3
    assert "unknown setting 'can_initate'" in result.stderr


def test_content_sync_needs_a_relationship_and_refuses_an_unknown_one(real_instances):
    staging = real_instances("staging")
    result = staging.esync("content", "sync", "1", check=False)
    assert result.returncode == 2 and "--relationship" in result.stderr
    result = staging.esync("folder", "sync", "1", "--relationship", "9", check=False)
    assert result.returncode == 3 and "esync relationship list" in result.stderr


def test_no_home_given_says_how_to_give_one(tmp_path):
    result = run_esync("info")
    assert result.returncode == 3
    assert "pass --home HOME or set ESYNC_HOME" in result.stderr


def test_a_new_home_takes_this_machines_time_zone(tmp_path):
    import subprocess

    from tests.real_instances import ESYNC, child_environment

    home = tmp_path / "paris"
    result = subprocess.run(
        [*ESYNC, "init", str(home), "--name", "paris", "--web-port", str(free_port()),
         "--sync-port", str(free_port()), "--admin", f"admin:{ADMIN_PASSWORD}"],
        capture_output=True, text=True, env={**child_environment(), "TZ": "Europe/Paris"},
        timeout=180)
    assert result.returncode == 0, result.stderr
    assert "time zone Europe/Paris (this machine's" in result.stdout
    assert 'time_zone = "Europe/Paris"' in (home / "esync.toml").read_text()
