"""`esync init`: create an instance home, its database and its first administrator."""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from esync_site.database_url import parse_database_url, sqlite_database
from esync_site.instance import (
    CONFIG_FILE,
    SECRET_KEY_FILE,
    InstanceConfig,
    InstanceConfigError,
    parse_config,
    read_or_create_secret_key,
    render_config,
    secure_private_files,
    sqlite_paths,
)
from esync_site.private_files import PRIVATE_FOLDER, make_private_folder, write_private


@dataclass(frozen=True)
class AdminAccount:
    username: str
    password: str
    generated: bool = False

    @classmethod
    def parse(cls, spec: str | None) -> AdminAccount:
        if not spec:
            return cls("admin", secrets.token_urlsafe(12), generated=True)
        username, sep, password = spec.partition(":")
        if not sep or not username.strip() or not password:
            raise InstanceConfigError("--admin takes USER:PASSWORD, e.g. --admin admin:s3cret-pass")
        return cls(username.strip(), password)


def plan_home(
    home: Path, name: str, db_url: str | None, web_port: int | None, sync_port: int | None
) -> InstanceConfig:
    """Validate the init arguments without touching the disk."""
    if (home / CONFIG_FILE).exists():
        raise InstanceConfigError(f"{home} is already an esync home ({CONFIG_FILE} exists).")
    if home.exists() and not home.is_dir():
        raise InstanceConfigError(f"{home} exists and is not a folder.")
    if db_url:
        parse_database_url(db_url)
    raw: dict[str, object] = {"name": name, "time_zone": machine_time_zone()}
    if db_url:
        raw["database_url"] = db_url
    if web_port is not None:
        raw["web_port"] = web_port
    if sync_port is not None:
        raw["sync_port"] = sync_port
    return parse_config(home, raw)


UTC_NAMES = {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu",
             "Zulu", "Etc/GMT", "GMT", "Etc/GMT0", "GMT0", "Etc/Greenwich", "Greenwich"}


def machine_time_zone(environ: dict | None = None, etc: Path = Path("/etc")) -> str:
    """This machine's IANA time zone, for a new instance's schedules and times: the TZ
    variable, else /etc/timezone, else where /etc/localtime points; "UTC" when none names
    a zone this Python knows."""
    from esync_site.instance import _is_time_zone

    environ = os.environ if environ is None else environ
    candidates = [environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError, UnicodeDecodeError):
        candidates.append((etc / "timezone").read_text().strip())
    try:
        target = os.readlink(etc / "localtime")
        candidates.append(target.rpartition("zoneinfo/")[2] if "zoneinfo/" in target else "")
    except OSError:
        pass
    for zone in candidates:
        if zone and not zone.startswith("/") and _is_time_zone(zone):
            return "UTC" if zone in UTC_NAMES else zone
    return "UTC"


def create_home_files(config: InstanceConfig) -> None:
    """Folders, esync.toml, the secret key and an empty SQLite database file, the private
    ones owner-only. The database's tables come after, in Django."""
    from cms.site_root import create_site_root

    home = config.home
    home.mkdir(parents=True, exist_ok=True)
    # The broker's queue is the worker's orders and state/ what a run stages: the owner's.
    for folder in (config.keys_dir, config.state_dir, config.broker_dir):
        make_private_folder(folder)
    for sub in ("queue", "processed", "control"):
        (config.broker_dir / sub).mkdir(exist_ok=True)
    # A backup folder the administrator named elsewhere keeps its own modes.
    config.backup_folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    create_site_root(config.site_root)
    read_or_create_secret_key(home)
    database = (parse_database_url(config.database_url) if config.database_url
                else sqlite_database(config.sqlite_path))
    secure_private_files(config, sqlite_paths([database]))
    # esync.toml may hold a database password.
    write_private(home / CONFIG_FILE, render_config(config).encode("utf-8"))


def remove_home_files(config: InstanceConfig) -> None:
    """Undo a failed init far enough that `esync init` can be run again."""
    for name in (CONFIG_FILE, SECRET_KEY_FILE):
        (config.home / name).unlink(missing_ok=True)
    config.sqlite_path.unlink(missing_ok=True)


def initialize_database(admin: AdminAccount) -> None:
    """Run inside the instance's Django: migrate, identity, roles, first administrator."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.core.management import call_command

    from cms.roles import ADMINISTRATORS, ensure_groups
    from relationships.id_ranges import apply_id_range
    from relationships.server_identity import get_server_info

    user_model = get_user_model()
    try:
        validate_password(admin.password, user_model(username=admin.username))
    except ValidationError as error:
        raise InstanceConfigError("Administrator password: " + " ".join(error.messages)) from error
    call_command("migrate", interactive=False, verbosity=0)
    get_server_info()
    apply_id_range()
    ensure_groups()
    user = user_model.objects.create_superuser(admin.username, email="", password=admin.password)
    user.groups.add(Group.objects.get(name=ADMINISTRATORS))
