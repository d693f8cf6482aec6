"""Helpers for end-to-end sync tests: pairing real instances and comparing what they hold."""

from __future__ import annotations

import atexit
import json
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from tests.real_instances import RealInstance

FINGERPRINT = """
import hashlib, json
from pathlib import Path
from django.conf import settings
from cms.models import User
from cms.site_root import RESOURCE_FOLDERS
from syncengine.table_copy import synced_models
tables = {}
for m in synced_models():
    cols = [f.attname for f in m._meta.concrete_fields]
    rows = list(m._base_manager.order_by("pk").values_list(*cols))
    tables[m._meta.db_table] = [len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()]
groups = sorted(User.groups.through.objects.values_list("user__username", "group__name"))
files = {}
for folder in RESOURCE_FOLDERS:
    for p in sorted((Path(settings.SITE_ROOT) / folder).rglob("*")):
        if p.is_file():
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            files[str(p.relative_to(settings.SITE_ROOT))] = digest
print(json.dumps({"tables": tables, "groups": groups, "files": files}))
"""


def contents(instance: RealInstance) -> dict:
    """Every synced table (row count and checksum), group memberships and resource files."""
    return json.loads(instance.python(FINGERPRINT))


GENERATE_IDENTITIES = """
from certificates.identities import generate_or_keep
generate_or_keep("all", discard_existing=False)
"""
EXPORT_IDENTITY = """
from pathlib import Path
from certificates.exchange import export_identity
export_identity(Path({folder!r}))
"""
APPLY_PEER = """
from pathlib import Path
from certificates.exchange import apply_peer_folder
apply_peer_folder(Path({folder!r}))
"""


def trust_both_ways(a: RealInstance, b: RealInstance, scratch) -> None:
    """Each generates its identities, exports them, and applies the other's: what `esync certs
    generate | export | apply` do (their own tests drive the commands), run in each instance's
    Django without starting a command each time."""
    for instance in (a, b):
        instance.python(GENERATE_IDENTITIES)
    for source, target in ((a, b), (b, a)):
        folder = Path(scratch) / f"{source.name}-export-{uuid.uuid4().hex[:8]}"
        source.python(EXPORT_IDENTITY.format(folder=str(folder)))
        target.python(APPLY_PEER.format(folder=str(folder)))


def create_relationship(local: RealInstance, remote: RealInstance, direction: str) -> int:
    local.esync("relationship", "create", "--remote", f"127.0.0.1:{remote.sync_port}",
                "--certificate", remote.name, "--initial-direction", direction)
    listed = json.loads(local.esync("relationship", "list", "--json").stdout)
    return next(r["id"] for r in listed if r["remote_name"] == remote.name)


def seed(instance: RealInstance) -> None:
    """The demo's sample site, as `esync manage seed_demo` makes it. A fresh instance gets a
    copy of what the command made in the first fresh instance of its name and backend (its
    database and site root): the command takes seconds and makes the same site each time."""
    pristine = instance.pristine
    key = (instance.name, _database_of(instance))
    if pristine and key in _SEEDED:
        _restore_seeded(instance, _SEEDED[key])
        instance.pristine = False
        return
    instance.esync("manage", "seed_demo", "--password", "sample-pass-1")
    if pristine:
        _SEEDED[key] = _snapshot_seeded(instance)


_SEEDED: dict[tuple[str, str], dict] = {}


def _database_of(instance: RealInstance) -> str:
    match = re.search(r'(?m)^database_url = "(.*)"$', (instance.home / "esync.toml").read_text())
    return match.group(1) if match else ""


def _snapshot_seeded(instance: RealInstance) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="esync-seeded-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    shutil.copytree(instance.home / "siteroot", folder / "siteroot", symlinks=True)
    database_url = _database_of(instance)
    if not database_url:
        shutil.copy2(instance.home / "esync.sqlite3", folder / "esync.sqlite3")
        return {"folder": folder}
    template = f"esync_seeded_{uuid.uuid4().hex[:12]}"
    _postgres(f'CREATE DATABASE "{template}" TEMPLATE "{database_url.rsplit("/", 1)[1]}"')
    atexit.register(_postgres, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
    return {"folder": folder, "template": template}


def _restore_seeded(instance: RealInstance, snapshot: dict) -> None:
    shutil.rmtree(instance.home / "siteroot")
    shutil.copytree(snapshot["folder"] / "siteroot", instance.home / "siteroot", symlinks=True)
    if "template" not in snapshot:
        shutil.copy2(snapshot["folder"] / "esync.sqlite3", instance.home / "esync.sqlite3")
        return
    database = _database_of(instance).rsplit("/", 1)[1]
    _postgres(f'DROP DATABASE "{database}" WITH (FORCE)')
    _postgres(f'CREATE DATABASE "{database}" TEMPLATE "{snapshot["template"]}"')


def _postgres(statement: str) -> None:
    import psycopg

    from tests.services import POSTGRES_ADMIN_URL

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


CREATE_CONTENT = """
from cms import content
from cms.models import Folder
folder = Folder.objects.order_by("id").first()
c = content.create_content(folder, "Made after pairing", "<p>x</p>", None)
print(c.id)
"""


# A script prelude for tests that call a peer's API directly, as a peer would: it announces
# a relationship (and a run in progress, unless run=None) and gives a client whose requests
# belong to them. Format-safe: it holds no braces for str.format to expand.
ANNOUNCED_CLIENT = '''
from certificates.models import TrustedPeer
from syncengine.peer_client import PeerClient
ALL_ITEMS = ("database", "workarea", "templates", "bin")
def announced_client(port, items=ALL_ITEMS, direction="bidirectional", run=1,
                     initial="upload", kind="FullSync", relationship=1, **profile):
    base = PeerClient.for_peer(TrustedPeer.objects.get(), "127.0.0.1", port)
    base.post_json("/relationship", dict(
        relationship=relationship, initial_direction=initial,
        profiles=[dict(id=1, name="all", items=list(items), direction=direction, **profile)],
        run=dict(id=run, kind=kind) if run else None))
    return PeerClient.for_peer(TrustedPeer.objects.get(), "127.0.0.1", port,
                               relationship_id=relationship, run_id=run)
'''
