"""Helpers for end-to-end sync tests: pairing real instances and comparing what they hold."""

from __future__ import annotations

import json

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


def trust_both_ways(a: RealInstance, b: RealInstance, scratch) -> None:
    for instance in (a, b):
        instance.esync("certs", "generate")
    a.trust(b, scratch)
    b.trust(a, scratch)


def create_relationship(local: RealInstance, remote: RealInstance, direction: str) -> int:
    local.esync("relationship", "create", "--remote", f"127.0.0.1:{remote.sync_port}",
                "--certificate", remote.name, "--initial-direction", direction)
    listed = json.loads(local.esync("relationship", "list", "--json").stdout)
    return next(r["id"] for r in listed if r["remote_name"] == remote.name)


def seed(instance: RealInstance) -> None:
    instance.esync("manage", "seed_demo", "--password", "sample-pass-1")


CREATE_CONTENT = """
from cms import content
from cms.models import Folder
folder = Folder.objects.order_by("id").first()
c = content.create_content(folder, "Made after pairing", "<p>x</p>", None)
print(c.id)
"""
