"""The instance home: where it is, what its esync.toml says, and the folders under it.

Every process of an instance (web, sync service, worker, beat, the CLI) reads the same home.
The settings that the manual keeps in web.config live in `HOME/esync.toml` with plain names;
an unknown or malformed key stops start-up with a message naming the key, because a typo in
`can_initiate` silently ignored is how a production server ends up pushing to staging.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from esync_site.private_files import (
    PRIVATE_FILE,
    PRIVATE_FOLDER,
    create_private,
    forbid_others_writing,
    make_private,
)

CONFIG_FILE = "esync.toml"
SECRET_KEY_FILE = "secret_key"
HOME_ENV = "ESYNC_HOME"

BACKUP_MODES = ("none", "initial", "every")
MAX_KEEP_DAYS = 36_500  # a hundred years: any longer is "keep all", which 0 says
MAX_VERSION_BYTES = 2**63 - 1
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class InstanceConfigError(Exception):
    """The instance home or its esync.toml cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class BackupSettings:
    mode: str = "none"
    folder: str = "backups"


@dataclass(frozen=True)
class VersionsSettings:
    """How long the site files a file sync replaced or deleted are kept (0: no limit)."""

    keep_days: int = 0
    max_bytes: int = 0


@dataclass(frozen=True)
class InstanceConfig:
    """What esync.toml holds, validated. Paths are resolved against the home."""

    home: Path
    name: str
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
    sync_host: str = "127.0.0.1"
    sync_port: int = 8732
    database_url: str = ""
    broker_url: str = ""
    time_zone: str = "UTC"
    esync_enabled: bool = True
    force_reinit: bool = False
    can_initiate: bool = True
    is_staging_server: bool = False
    disable_web_alerts: bool = False
    order_processing_disabled: bool = False
    load_balanced: bool = False
    max_files_per_run: int = 500_000
    max_bytes_per_run: int = 100 * 1024**3
    file_journal: bool = True
    backup: BackupSettings = field(default_factory=BackupSettings)
    versions: VersionsSettings = field(default_factory=VersionsSettings)

    @property
    def site_root(self) -> Path:
        return self.home / "siteroot"

    @property
    def backup_folder(self) -> Path:
        folder = Path(self.backup.folder)
        return folder if folder.is_absolute() else self.home / folder

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def broker_dir(self) -> Path:
        return self.home / "broker"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def sqlite_path(self) -> Path:
        return self.home / "esync.sqlite3"

    @property
    def queue_name(self) -> str:
        """A Celery queue name no other home shares, even on a shared Redis."""
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:10]
        return f"esync.{self.name}.{digest}"


# key -> (type, check, description for the error message)
_SCALAR_KEYS: dict[str, tuple[type, object, str]] = {
    "name": (str, lambda v: bool(NAME_PATTERN.match(v)), "a name of letters, digits, _ . -"),
    "web_host": (str, lambda v: bool(v.strip()), "a host name or address"),
    "web_port": (int, lambda v: 1 <= v <= 65535, "a port number (1-65535)"),
    "allowed_hosts": (list, lambda v: all(isinstance(h, str) and h.strip() for h in v),
                      "a list of host names the Workarea answers to"),
    "sync_host": (str, lambda v: bool(v.strip()), "a host name or address"),
    "sync_port": (int, lambda v: 1 <= v <= 65535, "a port number (1-65535)"),
    "database_url": (str, lambda v: True, "a database URL or an empty string"),
    "broker_url": (str, lambda v: True, "a Celery broker URL or an empty string"),
    "time_zone": (str, lambda v: _is_time_zone(v), "an IANA time zone such as Europe/Paris"),
    "esync_enabled": (bool, lambda v: True, "true or false"),
    "force_reinit": (bool, lambda v: True, "true or false"),
    "can_initiate": (bool, lambda v: True, "true or false"),
    "is_staging_server": (bool, lambda v: True, "true or false"),
    "disable_web_alerts": (bool, lambda v: True, "true or false"),
    "order_processing_disabled": (bool, lambda v: True, "true or false"),
    "load_balanced": (bool, lambda v: True, "true or false"),
    "max_files_per_run": (int, lambda v: v > 0, "a positive number of files"),
    "max_bytes_per_run": (int, lambda v: v > 0, "a positive number of bytes"),
    "file_journal": (bool, lambda v: True, "true or false"),
}
_BACKUP_KEYS: dict[str, tuple[type, object, str]] = {
    "mode": (str, lambda v: v in BACKUP_MODES, "one of none, initial, every"),
    "folder": (str, lambda v: bool(v.strip()), "a folder path"),
}
_VERSIONS_KEYS: dict[str, tuple[type, object, str]] = {
    "keep_days": (int, lambda v: 0 <= v <= MAX_KEEP_DAYS,
                  f"a whole number of days from 0 (keep all) to {MAX_KEEP_DAYS}"),
    "max_bytes": (int, lambda v: 0 <= v <= MAX_VERSION_BYTES,
                  "a whole number of bytes from 0 (keep all) to 2^63-1"),
}
# [table] -> its keys, each read and checked like the top-level ones.
_TABLE_KEYS: dict[str, dict[str, tuple[type, object, str]]] = {
    "backup": _BACKUP_KEYS, "versions": _VERSIONS_KEYS,
}


def _is_time_zone(value: str) -> bool:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _check(section: str, key: str, value: object, spec: tuple[type, object, str]) -> object:
    expected, check, description = spec
    where = f"{section}.{key}" if section else key
    # bool is a subclass of int: `web_port = true` must not pass as 1.
    if type(value) is not expected or not check(value):  # type: ignore[operator]
        shown = repr(value)
        raise InstanceConfigError(
            f"esync.toml: '{where}' must be {description}, got "
            f"{shown if len(shown) <= 100 else shown[:100] + '…'}"
        )
    return value


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The home from the argument or ESYNC_HOME, as an absolute path."""
    chosen = home or os.environ.get(HOME_ENV)
    if not chosen:
        raise InstanceConfigError(
            "No instance home: pass --home HOME or set ESYNC_HOME "
            "(create one with `esync init HOME --name NAME`)."
        )
    return Path(chosen).expanduser().resolve()


def load_config(home: Path) -> InstanceConfig:
    """Read and validate HOME/esync.toml."""
    path = home / CONFIG_FILE
    if not path.is_file():
        raise InstanceConfigError(
            f"{path} not found: is {home} an esync home? Create one with "
            f"`esync init {home} --name NAME`."
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise InstanceConfigError(f"esync.toml is not valid TOML: {error}") from error
    except ValueError as error:  # a number of more digits than Python reads (4300)
        raise InstanceConfigError(f"esync.toml holds a number too long to read: "
                                  f"{str(error)[:120]}") from error
    return parse_config(home, raw)


def parse_config(home: Path, raw: dict) -> InstanceConfig:
    values: dict[str, object] = {}
    tables: dict[str, dict[str, object]] = {table: {} for table in _TABLE_KEYS}
    for key, value in raw.items():
        if key in _TABLE_KEYS:
            known = _TABLE_KEYS[key]
            if not isinstance(value, dict):
                raise InstanceConfigError(f"esync.toml: '{key}' must be a [{key}] table")
            for sub_key, sub_value in value.items():
                if sub_key not in known:
                    raise InstanceConfigError(
                        f"esync.toml: unknown setting '{key}.{sub_key}' "
                        f"(known: {', '.join(known)})"
                    )
                tables[key][sub_key] = _check(key, sub_key, sub_value, known[sub_key])
        elif key in _SCALAR_KEYS:
            values[key] = _check("", key, value, _SCALAR_KEYS[key])
            if isinstance(values[key], list):
                values[key] = tuple(values[key])
        else:
            raise InstanceConfigError(
                f"esync.toml: unknown setting '{key}' (known: "
                f"{', '.join([*_SCALAR_KEYS, *_TABLE_KEYS])})"
            )
    if "name" not in values:
        raise InstanceConfigError("esync.toml: 'name' is required")
    if values.get("web_port", 8000) == values.get("sync_port", 8732):
        raise InstanceConfigError("esync.toml: 'web_port' and 'sync_port' must differ")
    backup = BackupSettings(**tables["backup"])  # type: ignore[arg-type]
    versions = VersionsSettings(**tables["versions"])  # type: ignore[arg-type]
    return InstanceConfig(home=home, backup=backup, versions=versions, **values)  # type: ignore[arg-type]


def render_config(config: InstanceConfig) -> str:
    """esync.toml text for a config, with a comment per setting."""

    def toml_value(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, tuple | list):
            return "[" + ", ".join(toml_value(v) for v in value) + "]"
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    c = config
    lines = [
        "# esync instance settings. Unknown or malformed keys stop start-up.",
        f"name = {toml_value(c.name)}",
        f"web_host = {toml_value(c.web_host)}",
        f"web_port = {toml_value(c.web_port)}",
        "# Host names the Workarea answers to (add the public name when it has one).",
        f"allowed_hosts = {toml_value(c.allowed_hosts)}",
        f"sync_host = {toml_value(c.sync_host)}",
        f"sync_port = {toml_value(c.sync_port)}",
        "# Empty: SQLite under this home. The DATABASE_URL environment variable overrides.",
        f"database_url = {toml_value(c.database_url)}",
        "# Empty: an embedded broker under this home. CELERY_BROKER_URL overrides.",
        f"broker_url = {toml_value(c.broker_url)}",
        f"time_zone = {toml_value(c.time_zone)}",
        "# Editors' Synchronize menus for content and folders.",
        f"esync_enabled = {toml_value(c.esync_enabled)}",
        "# Allow Force Initial Sync onto this instance.",
        f"force_reinit = {toml_value(c.force_reinit)}",
        "# false: a server outside the firewall that only answers.",
        f"can_initiate = {toml_value(c.can_initiate)}",
        f"is_staging_server = {toml_value(c.is_staging_server)}",
        f"disable_web_alerts = {toml_value(c.disable_web_alerts)}",
        f"order_processing_disabled = {toml_value(c.order_processing_disabled)}",
        f"load_balanced = {toml_value(c.load_balanced)}",
        "# File sync refuses a run (or a peer's stream) that would move more than this.",
        f"max_files_per_run = {toml_value(c.max_files_per_run)}",
        f"max_bytes_per_run = {toml_value(c.max_bytes_per_run)}",
        "# Watch the site root while running, so a file sync looks again only where files",
        "# changed (a full scan whenever the watch cannot vouch: after a start, an overflow).",
        f"file_journal = {toml_value(c.file_journal)}",
        "",
        "[backup]",
        "# none | initial | every: back up the destination database before a sync.",
        f"mode = {toml_value(c.backup.mode)}",
        f"folder = {toml_value(c.backup.folder)}",
        "",
        "[versions]",
        "# Site files a file sync replaced or deleted are kept under versions/ in this home.",
        "# After each run the oldest runs' are removed: those older than keep_days days, then",
        "# more while all together hold over max_bytes bytes. 0: no such limit (keep all).",
        f"keep_days = {toml_value(c.versions.keep_days)}",
        f"max_bytes = {toml_value(c.versions.max_bytes)}",
        "",
    ]
    return "\n".join(lines)


def read_or_create_secret_key(home: Path) -> str:
    path = home / SECRET_KEY_FILE
    if not path.exists():
        create_private(path, secrets.token_urlsafe(50).encode())
    return path.read_text().strip()


# SQLite keeps a database in up to four files; it creates the others with the database's mode.
SQLITE_FILE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def sqlite_paths(databases: Iterable[dict]) -> list[Path]:
    """The files of the SQLite databases among Django DATABASES entries (not in-memory ones)."""
    names = [str(d.get("NAME") or "") for d in databases
             if str(d.get("ENGINE", "")).endswith("sqlite3")]
    return [Path(n) for n in names if n and n != ":memory:" and not n.startswith("file:")]


def _private_paths(config: InstanceConfig, databases: Iterable[Path]) -> list[tuple[Path, int]]:
    """What in a home only its owner may open, with the mode each must have."""
    private = [(config.home / CONFIG_FILE, PRIVATE_FILE),
               (config.home / SECRET_KEY_FILE, PRIVATE_FILE)]
    private += [(folder, PRIVATE_FOLDER) for folder in (config.state_dir, config.broker_dir)
                if folder.is_dir()]
    if config.keys_dir.is_dir():
        private.append((config.keys_dir, PRIVATE_FOLDER))
        for path in sorted(config.keys_dir.rglob("*")):
            if path.is_dir():
                private.append((path, PRIVATE_FOLDER))
            elif path.suffix == ".key":
                private.append((path, PRIVATE_FILE))
    for database in databases:
        private += [(Path(f"{database}{suffix}"), PRIVATE_FILE)
                    for suffix in SQLITE_FILE_SUFFIXES]
    # A backup is a copy of the database, password hashes included.
    if config.backup_folder.is_dir():
        private += [(path, PRIVATE_FILE)
                    for path in sorted(config.backup_folder.glob("*.esync.bak"))]
    return private


def secure_private_files(config: InstanceConfig, databases: Iterable[Path] = ()) -> list[str]:
    """Make this home's secrets owner-only, as `esync init` makes them; one sentence for each
    that was open to others (now narrowed, or someone else's file this user cannot change).

    A SQLite database not made yet is created 0600 here, before Django opens it: SQLite then
    gives its -wal, -shm and -journal files the same mode. The home itself must not be
    writable by others, who could otherwise replace esync.toml or the secret key.
    """
    databases = list(databases)
    for database in databases:
        if database.parent.is_dir() and not database.exists():
            # In a folder this user cannot write in, Django's own error says so.
            with contextlib.suppress(OSError):
                create_private(database)
    notes = []
    try:
        if forbid_others_writing(config.home):
            notes.append(f"{config.home} could be written by other users; it no longer can.")
    except OSError as error:
        notes.append(f"{config.home} can be written by other users and cannot be narrowed "
                     f"here ({error.strerror}): take their write permission off.")
    for path, mode in _private_paths(config, databases):
        try:
            if make_private(path, mode):
                notes.append(f"{path} was open to other users; it is now {mode:04o}.")
        except OSError as error:
            notes.append(f"{path} is open to other users and cannot be narrowed here "
                         f"({error.strerror}): make it {mode:04o}.")
    return notes
