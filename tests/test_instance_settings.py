"""esync.toml: the manual's web.config settings with plain names, checked at start-up."""

from pathlib import Path

import pytest

from esync_site.database_url import parse_database_url
from esync_site.instance import (
    InstanceConfig,
    InstanceConfigError,
    load_config,
    parse_config,
    render_config,
)

HOME = Path("/srv/esync/staging")


def test_written_settings_read_back_the_same(tmp_path):
    config = InstanceConfig(home=tmp_path, name="staging", web_port=8100, sync_port=8800,
                            can_initiate=False, force_reinit=True,
                            allowed_hosts=("staging.example.com", "127.0.0.1"))
    (tmp_path / "esync.toml").write_text(render_config(config))
    assert load_config(tmp_path) == config


def test_the_manual_settings_have_plain_names():
    config = parse_config(HOME, {
        "name": "production", "esync_enabled": False, "force_reinit": True,
        "can_initiate": False, "is_staging_server": False, "disable_web_alerts": True,
        "order_processing_disabled": True, "load_balanced": True,
        "backup": {"mode": "every", "folder": "/var/backups/esync"},
    })
    assert (config.esync_enabled, config.force_reinit, config.can_initiate) == (False, True, False)
    assert config.backup.mode == "every"
    assert config.backup_folder == Path("/var/backups/esync")


@pytest.mark.parametrize("raw, named", [
    ({"name": "a", "can_initate": False}, "'can_initate'"),
    ({"name": "a", "backup": {"mode": "none", "where": "x"}}, "'backup.where'"),
    ({"name": "a", "web_port": "8000"}, "'web_port'"),
    ({"name": "a", "web_port": True}, "'web_port'"),
    ({"name": "a", "sync_port": 70000}, "'sync_port'"),
    ({"name": "a", "esync_enabled": "yes"}, "'esync_enabled'"),
    ({"name": "a", "backup": {"mode": "sometimes"}}, "'backup.mode'"),
    ({"name": "a", "time_zone": "Mars/Olympus"}, "'time_zone'"),
    ({"name": "a", "allowed_hosts": "example.com"}, "'allowed_hosts'"),
    ({"name": "a", "allowed_hosts": [""]}, "'allowed_hosts'"),
    ({"name": "../etc"}, "'name'"),
    ({"web_port": 8000}, "'name'"),
])
def test_unknown_or_malformed_keys_stop_start_up_naming_the_key(raw, named):
    with pytest.raises(InstanceConfigError, match=named):
        parse_config(HOME, raw)


def test_same_port_for_web_and_sync_is_refused():
    with pytest.raises(InstanceConfigError, match="must differ"):
        parse_config(HOME, {"name": "a", "web_port": 9000, "sync_port": 9000})


def test_broken_toml_says_where(tmp_path):
    (tmp_path / "esync.toml").write_text('name = "a"\nweb_port = \n')
    with pytest.raises(InstanceConfigError, match="not valid TOML.*line 2"):
        load_config(tmp_path)


def test_a_folder_without_esync_toml_is_not_a_home(tmp_path):
    with pytest.raises(InstanceConfigError, match="esync init"):
        load_config(tmp_path)


def test_database_urls():
    pg = parse_database_url("postgres://esync:s%40cret@db.local:5433/staging?sslmode=require")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "staging", "esync", "s@cret", "db.local", "5433")
    assert pg["OPTIONS"] == {"sslmode": "require"}
    lite = parse_database_url("sqlite:////srv/esync/db.sqlite3")
    assert lite["NAME"] == "/srv/esync/db.sqlite3"
    assert lite["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    with pytest.raises(InstanceConfigError, match="not supported"):
        parse_database_url("mssql://sa@server/db")
