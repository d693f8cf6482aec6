"""Secrets stay the owner's: esync.toml, the keys, the secret key and the database files are
0600 and key folders 0700 whatever the umask, an instance whose files are too open has them
narrowed when it starts, and a key is written whole or not at all."""

import errno
import json
import os
import stat
import subprocess

import pytest

from certificates.identities import generate_identities, list_identities
from esync_site.private_files import TEMP_PREFIX, write_private
from tests.certificate_helpers import use_home
from tests.real_instances import ADMIN_PASSWORD, ESYNC, child_environment, free_port


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def esync_with_umask(umask: int, *arguments: str) -> subprocess.CompletedProcess:
    result = subprocess.run([*ESYNC, *arguments], capture_output=True, text=True,
                            env=child_environment(), umask=umask, timeout=180)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result


# Inside the instance, with the database open (SQLite's -wal and -shm files exist only while
# a connection does): the mode of every file of the database.
DATABASE_FILE_MODES = """
import glob, json, os, stat
from django.db import connection
from cms.models import User
User.objects.count()
name = connection.settings_dict["NAME"]
print(json.dumps({path[len(name):]: stat.S_IMODE(os.stat(path).st_mode)
                  for path in glob.glob(glob.escape(name) + "*")}))
"""


@pytest.fixture
def open_umask():
    """This test process creating files under umask 0, the widest there is."""
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.mark.slow
@pytest.mark.parametrize("umask, database", [(0o022, "in the home"), (0o000, "elsewhere")])
def test_a_new_instance_keeps_its_secrets_to_its_owner_whatever_the_umask(tmp_path, umask,
                                                                          database):
    home = tmp_path / "staging"
    database_option = []
    if database == "elsewhere":
        (tmp_path / "databases").mkdir()
        database_option = ["--db", f"sqlite:///{tmp_path / 'databases' / 'staging.sqlite3'}"]
    esync_with_umask(umask, "init", str(home), "--name", "staging",
                     "--web-port", str(free_port()), "--sync-port", str(free_port()),
                     "--admin", f"admin:{ADMIN_PASSWORD}", *database_option)
    esync_with_umask(umask, "--home", str(home), "certs", "generate")

    assert mode(home / "esync.toml") == 0o600
    assert mode(home / "secret_key") == 0o600
    assert mode(home / "keys") == mode(home / "keys" / "all") == 0o700
    assert mode(home / "state") == mode(home / "broker") == mode(home / "backups") == 0o700
    keys = sorted((home / "keys" / "all").glob("*.key"))
    assert [k.name for k in keys] == ["client.key", "server.key"]
    assert {mode(k) for k in keys} == {0o600}
    assert not mode(home) & 0o022, "others could replace the files of the home"
    printed = esync_with_umask(umask, "--home", str(home), "manage", "shell", "--no-imports",
                               "-c", DATABASE_FILE_MODES).stdout
    database_files = json.loads(printed.strip().splitlines()[-1])
    assert {"", "-wal", "-shm"} <= set(database_files)
    assert set(database_files.values()) == {0o600}, database_files


@pytest.mark.slow
def test_an_instance_whose_secrets_are_open_has_them_narrowed_when_it_starts(real_instances):
    staging = real_instances("staging")
    staging.esync("certs", "generate")
    home = staging.home
    opened = [home / "esync.toml", home / "secret_key", home / "esync.sqlite3",
              home / "keys" / "all" / "server.key"]
    for path in opened:
        path.chmod(0o644)
    for folder in ("keys", "state", "broker"):
        (home / folder).chmod(0o755)
    home.chmod(0o777)

    result = staging.esync("info")

    assert {path.name: mode(path) for path in opened} == {path.name: 0o600 for path in opened}
    assert mode(home / "keys") == mode(home / "state") == mode(home / "broker") == 0o700
    assert mode(home) == 0o755
    assert f"{home / 'esync.toml'} was open to other users; it is now 0600." in result.stderr
    assert f"{home} could be written by other users; it no longer can." in result.stderr
    assert "was open to other users" not in staging.esync("info").stderr


def test_generated_keys_are_the_owners_alone_even_under_an_open_umask(settings, tmp_path,
                                                                     open_umask):
    home = use_home(settings, tmp_path / "home", "alpha")
    first = generate_identities()
    replaced = generate_identities(discard_existing=True)

    assert {i.fingerprint for i in replaced}.isdisjoint({i.fingerprint for i in first})
    for identity in replaced:
        assert mode(identity.key_path) == 0o600
        assert mode(identity.certificate_path) == 0o644
    assert mode(home.keys_dir) == mode(home.keys_dir / "all") == 0o700


def test_a_key_write_that_fails_leaves_the_old_identity_and_no_temp_file(settings, tmp_path,
                                                                        monkeypatch):
    home = use_home(settings, tmp_path / "home", "alpha")
    generate_identities()
    folder = home.keys_dir / "all"
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    fingerprints = [i.fingerprint for i in list_identities()]

    def disk_gone(source, target):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", disk_gone)
    with pytest.raises(OSError):
        generate_identities(discard_existing=True)
    monkeypatch.undo()

    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    assert [i.fingerprint for i in list_identities()] == fingerprints


def test_a_private_file_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    config = tmp_path / "esync.toml"
    write_private(config, b'name = "old"\n')

    def disk_gone(source, target):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_gone)
    with pytest.raises(OSError):
        write_private(config, b'name = "new"\n')
    monkeypatch.undo()

    assert config.read_bytes() == b'name = "old"\n'
    assert [p.name for p in tmp_path.iterdir()] == ["esync.toml"]
    write_private(config, b'name = "new"\n')
    assert config.read_bytes() == b'name = "new"\n' and mode(config) == 0o600
    assert not list(tmp_path.glob(f"{TEMP_PREFIX}*"))
